"""The real app in a real browser: every page renders, and a brush on the histogram reaches the other pages.

Starts `streamlit run app.py` on the demo warehouse and drives Debian's Chromium (/usr/bin/chromium,
installed by .ci/setup) with Playwright. Screenshots of every page land in the test's tmp_path.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, sync_playwright

from pipeline.benchmarks.browser import CHART_DRAWN, CHROMIUM, CHROMIUM_ARGS, TABLE_DRAWN, serving

WAIT_MS = 30_000  # any single wait in the browser; a page normally settles in one or two seconds

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"{CHROMIUM} is absent: install Debian's chromium (bash .ci/setup)"),
]

CHART = '[data-testid="stVegaLiteChart"]'
EXCEPTION = '[data-testid="stException"]'
# "**test accuracy 0.400 – 0.900** · 204 networks · 120 significant cells of 921"; each scale names its range
# (pipeline/app/selection.py: raw "test accuracy", "normalized test accuracy", "rank within dataset")
RANGE_NAME = r"(?:normalized test accuracy|test accuracy|rank within dataset)"
MATRIX_LINE = re.compile(rf"(?P<label>{RANGE_NAME} (?P<lo>[\d.]+) – (?P<hi>[\d.]+)) · (?P<n>[\d,]+) networks · "
                         r"(?P<significant>\d+) significant cells of (?P<cells>\d+)")


@pytest.fixture(scope="module")
def app_url(demo_ensemble_warehouse, tmp_path_factory):
    """The app served on a free local port, on the demo's ensemble; the whole process group is ended after."""
    with serving(demo_ensemble_warehouse, tmp_path_factory.mktemp("streamlit") / "streamlit.log") as url:
        yield url


def _settled(page: Page, title: str, *, chart: bool = False, dataframe: bool = False) -> None:
    """Waits for the page's own title (and chart or table), then for the script run to end; no exception shown."""
    page.locator('[data-testid="stMain"] h1').filter(has_text=title).first.wait_for(timeout=WAIT_MS)
    # visible ones only: `.first` of all would lock onto an element of the previous run that is on its way out
    if chart:
        page.locator(CHART_DRAWN).filter(visible=True).first.wait_for(timeout=WAIT_MS)
    if dataframe:
        page.locator(TABLE_DRAWN).filter(visible=True).first.wait_for(timeout=WAIT_MS)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=WAIT_MS)
    exceptions = page.locator(EXCEPTION)
    assert exceptions.count() == 0, (f"{title}: the app shows an exception:\n"
                                     + "\n---\n".join(exceptions.all_inner_texts()))


def _matrix_line(page: Page, label: str | None = None) -> re.Match:
    """The line above the heat-map matrix, once it shows `label` (any label when None)."""
    line = page.locator('[data-testid="stMain"] [data-testid="stMarkdownContainer"]').filter(
        has_text="significant cells of")
    if label is not None:
        line = line.filter(has_text=label)
    line.first.wait_for(timeout=WAIT_MS)
    text = line.first.inner_text()
    match = MATRIX_LINE.search(text)
    assert match, f"unexpected line above the heat maps: {text!r}"
    return match


def _networks_in_range(page: Page) -> list[int]:
    """Per cell of the first matrix, the tooltip's 'networks in range' (vega writes tooltips into aria-label)."""
    return page.locator(f"{CHART} .mark-rect path[aria-label]").evaluate_all(
        "els => els.map(e => (e.getAttribute('aria-label').match(/networks in range: ([\\d,]+)/) || [])[1])"
        "          .filter(v => v !== undefined).map(v => Number(v.replace(/,/g, '')))")


def _integer_count_axes(page: Page) -> None:
    """Every axis that counts networks shows whole numbers only, as drawn (no 0.5 networks)."""
    axes = page.locator(f"{CHART} g.role-axis").evaluate_all(
        "els => els.map(a => ({label: a.getAttribute('aria-label') || '',"
        "                      texts: [...a.querySelectorAll('g.role-axis-label text')].map(t => t.textContent)}))")
    counting = [a for a in axes if "titled 'networks'" in a["label"]]
    assert counting, [a["label"] for a in axes]
    for axis in counting:
        assert axis["texts"] and all(re.fullmatch(r"[\d,]+", t) for t in axis["texts"]), axis


def _brush(page: Page, start: float, end: float) -> None:
    """Drags across the histogram's plot area, from start to end (fractions of its width), at mid height."""
    plot = page.locator(CHART).first.locator("g.role-frame.root > g > path.background").first
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()
    assert box and box["width"] > 100, f"the histogram's plot area is not laid out: {box}"
    y = box["y"] + box["height"] * 0.5
    page.mouse.move(box["x"] + box["width"] * start, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * end, y, steps=12)
    page.mouse.up()


@pytest.mark.timeout(240)
def test_pages_render_and_brush_reaches_combinations(app_url, tmp_path):
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()

            # the navigation lists every page under the URL path derived from its file name
            page.goto(app_url + "/")
            _settled(page, "Experiment warehouse", chart=True, dataframe=True)
            links = page.locator('[data-testid="stSidebarNav"] a[data-testid="stSidebarNavLink"]')
            hrefs = [urlsplit(h).path for h in links.evaluate_all("els => els.map(e => e.getAttribute('href'))")]
            assert hrefs == ["/", "/distribution", "/combinations", "/trellis", "/sweep", "/history", "/compare",
                             "/importance", "/parallel", "/correlations", "/embedding", "/runs", "/sql"]
            assert links.filter(visible=True).count() == len(hrefs)  # none folded under "View more"
            page.screenshot(path=tmp_path / "overview.png", full_page=True)

            for path, title, chart, dataframe in [("/trellis", "Trellis", True, False),
                                                  ("/runs", "Runs table", False, True),
                                                  ("/sql", "SQL", False, True)]:
                page.goto(app_url + path)
                _settled(page, title, chart=chart, dataframe=dataframe)
                page.screenshot(path=tmp_path / f"{path.strip('/')}.png", full_page=True)

            # the matrix before any selection: every finished network
            page.goto(app_url + "/combinations")
            _settled(page, "Parameter combinations", chart=True)
            before = _matrix_line(page, "test accuracy 0.000 – 1.000")
            before_cells = _networks_in_range(page)
            assert before_cells and sum(before_cells) > 0
            page.screenshot(path=tmp_path / "combinations_before.png", full_page=True)

            # brush 40 % .. 90 % of the histogram's width, on the default scale: rank within dataset
            page.goto(app_url + "/distribution")
            _settled(page, "Accuracy distribution", chart=True)
            assert "Selection: all finished runs" in page.locator('[data-testid="stSidebar"]').inner_text()
            _integer_count_axes(page)
            _brush(page, 0.4, 0.9)
            selection = page.locator('[data-testid="stSidebar"] [data-testid="stAlert"]').filter(
                has_text="Selection: rank within dataset")
            selection.wait_for(timeout=WAIT_MS)
            assert "Per dataset" in selection.inner_text(), selection.inner_text()
            brushed = re.search(r"rank within dataset (\d\.\d{3}) – (\d\.\d{3})", selection.inner_text())
            assert brushed, selection.inner_text()
            label = brushed.group(0)
            lo, hi = float(brushed.group(1)), float(brushed.group(2))
            assert 0.3 < lo < 0.5 and 0.8 < hi < 1.0, label
            page.wait_for_url(re.compile(r"[?&]hi="), timeout=WAIT_MS)
            query = parse_qs(urlsplit(page.url).query)
            assert abs(float(query["lo"][0]) - lo) < 5e-4 and abs(float(query["hi"][0]) - hi) < 5e-4, page.url
            assert query["scale"] == ["rank"], page.url
            success = page.locator('[data-testid="stMain"] [data-testid="stAlert"]').filter(has_text="Selected:")
            success.filter(has_text=label).wait_for(timeout=WAIT_MS)
            selected = int(re.search(r"Selected: ([\d,]+)", success.inner_text()).group(1).replace(",", ""))
            _settled(page, "Accuracy distribution", chart=True)
            page.screenshot(path=tmp_path / "distribution_brushed.png", full_page=True)

            # same session, through the sidebar: the matrix now counts only the brushed networks
            page.locator('[data-testid="stSidebarNavLink"][href$="/combinations"]').click()
            after = _matrix_line(page, label)
            _settled(page, "Parameter combinations", chart=True)
            assert "lo=" in page.url and "hi=" in page.url, page.url
            assert (after["lo"], after["hi"]) != (before["lo"], before["hi"])
            assert int(after["n"].replace(",", "")) == selected < int(before["n"].replace(",", ""))
            page.wait_for_function(
                """([sel, before]) => {
                    const cells = [...document.querySelectorAll(sel)]
                        .map(e => (e.getAttribute('aria-label').match(/networks in range: ([\\d,]+)/) || [])[1])
                        .filter(v => v !== undefined).map(v => Number(v.replace(/,/g, '')));
                    return cells.length > 0 && cells.reduce((a, b) => a + b, 0) !== before;
                }""",
                arg=[f"{CHART} .mark-rect path[aria-label]", sum(before_cells)], timeout=WAIT_MS)
            after_cells = _networks_in_range(page)
            assert sum(after_cells) < sum(before_cells)
            page.screenshot(path=tmp_path / "combinations_after.png", full_page=True)

            # a new session opened from the shared link adopts the selection from the URL
            shared = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            shared.goto(page.url)
            linked = _matrix_line(shared, label)
            _settled(shared, "Parameter combinations", chart=True)
            assert linked.group(0) == after.group(0)
            assert "Selection: " + label in shared.locator('[data-testid="stSidebar"]').inner_text()
            shared.screenshot(path=tmp_path / "combinations_from_link.png", full_page=True)
        finally:
            browser.close()


def _run_sql(page: Page, query: str) -> None:
    editor = page.locator('[data-testid="stTextArea"] textarea').first
    editor.fill(query)
    editor.press("Control+Enter")  # commits the text; the Run button then reruns with it
    page.get_by_role("button", name="Run").click()
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=WAIT_MS)


@pytest.mark.timeout(180)
def test_sql_page_refuses_in_words_and_downloads_what_it_shows(app_url, demo_ensemble_warehouse, tmp_path):
    """What the issue saw in the browser: `update extensions` showed a traceback with file paths, and an
    infinite timestamp broke the CSV download and left the page on "Running"."""
    before = {p.name: p.read_bytes() for p in demo_ensemble_warehouse.parent.iterdir()}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True).new_page()
            page.goto(app_url + "/sql")
            _settled(page, "SQL", dataframe=True)

            for hostile, words in [("update extensions", "cannot run here"),
                                   (f"copy (pivot (select 1 as a, 'x' as s) on s) to '{demo_ensemble_warehouse}' "
                                    "(format csv, use_tmp_file false)", "expands into several"),
                                   ("select * from read_text('/etc/passwd')", "cannot run here")]:
                _run_sql(page, hostile)
                error = page.locator('[data-testid="stMain"] [data-testid="stAlert"]').filter(has_text=words)
                error.first.wait_for(timeout=WAIT_MS)
                assert "Traceback" not in error.first.inner_text()
                _settled(page, "SQL")

            _run_sql(page, "select 'infinity'::timestamp as forever, timestamp '2024-05-01 12:00' as then, 7 as n")
            # the answer's own line, waited for: the table of the query before can still be the visible one
            page.locator('[data-testid="stMain"]').get_by_text("1 row, 3 columns").first.wait_for(timeout=WAIT_MS)
            _settled(page, "SQL", dataframe=True)
            with page.expect_download(timeout=WAIT_MS) as download:
                page.get_by_role("button", name="Download CSV").click()
            csv = Path(download.value.path()).read_text()
            assert csv.splitlines() == ["forever,then,n", "infinity,2024-05-01T12:00:00.000000,7"]
            _settled(page, "SQL", dataframe=True)
            page.screenshot(path=tmp_path / "sql_after_attacks.png", full_page=True)
        finally:
            browser.close()
    assert {p.name: p.read_bytes() for p in demo_ensemble_warehouse.parent.iterdir()} == before
