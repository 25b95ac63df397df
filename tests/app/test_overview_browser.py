"""The Overview at 1280 px in a real browser: both tables show every column, none scrolled out of view.

Uses tests/app/test_browser.py's server (the demo warehouse) and Debian's Chromium.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from pipeline.benchmarks.browser import CHROMIUM, CHROMIUM_ARGS
from tests.app.test_browser import WAIT_MS, _settled, app_url  # noqa: F401 (a fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: install chromium (bash .ci/setup)"),
]

# per table: its width on screen, and how wide its columns are (glide's scroller holds them all)
WIDTHS_JS = """() => [...document.querySelectorAll('[data-testid="stDataFrame"]')].map(frame => {
  const scroller = frame.querySelector('.dvn-scroller');
  return {shown: scroller.clientWidth, columns: scroller.scrollWidth};
})"""


@pytest.mark.timeout(120)
def test_overview_tables_show_every_column_at_1280_px(app_url, tmp_path):  # noqa: F811
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.goto(app_url, timeout=WAIT_MS)
            _settled(page, "Experiment warehouse", chart=True, dataframe=True)
            page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stDataFrame\"] .dvn-scroller')"
                                   ".length === 2", timeout=WAIT_MS)
            page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
            widths = page.evaluate(WIDTHS_JS)
        finally:
            browser.close()
    assert len(widths) == 2  # the studies, the networks per dataset and status
    for table in widths:
        assert table["columns"] <= table["shown"], f"a column is cut off: {widths}"
