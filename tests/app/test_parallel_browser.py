"""The Parallel coordinates page as Chromium drew it, against SQL: the axes' names in the importance order, left
to right; the "n of N runs" line of a link with a filter equal to a straight count on the warehouse file; and a
real brush, dragged with the mouse across one axis, that filters the page and lands in the URL.

    .venv/bin/python -m pytest tests/app/test_parallel_browser.py -q -p no:cacheprovider
"""

from __future__ import annotations

import json
import re
import urllib.parse

import pytest
from playwright.sync_api import Page

from pipeline.app import importance_views, study_frame
from pipeline.benchmarks.browser import CHROMIUM, serving
from tests.app.chart_reader import CHART
from tests.app.test_browser import WAIT_MS, _settled
from tests.conftest import sql

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,  # a server and Chromium: ~30 s
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: install Debian's chromium (.ci/setup)"),
]

STUDY = "demo-ensemble"
COUNT = re.compile(r"([\d,]+) of ([\d,]+) runs pass the filters")

TEXTS_JS = r"""(chart) => [...chart.querySelectorAll('svg text')].map(t => {
    const r = t.getBoundingClientRect();
    return {text: t.textContent, x: r.left + r.width / 2, y: r.top + r.height / 2, top: r.top, bottom: r.bottom};
})"""


@pytest.fixture(scope="module")
def url(demo_warehouse, tmp_path_factory):
    with serving(demo_warehouse, tmp_path_factory.mktemp("streamlit") / "streamlit.log") as served:
        yield served


def _finished(path, where: str = "true", params=()) -> int:
    return sql(path, f"""
        select count(*) from runs c join studies s using (study_id)
        where s.name = ? and c.status = 'ok' and c.test_accuracy is not null and {where}""", [STUDY, *params])[0][0]


def _value(name: str) -> str:
    return f"(select value_num from hyperparameters h where h.run_id = c.run_id and h.name = '{name}')"


def _count(page: Page) -> tuple[int, int]:
    line = page.locator('[data-testid="stMain"] [data-testid="stMarkdownContainer"]').filter(
        has_text="runs pass the filters").first
    line.wait_for(timeout=WAIT_MS)
    match = COUNT.search(line.inner_text())
    assert match, line.inner_text()
    return int(match[1].replace(",", "")), int(match[2].replace(",", ""))


def _texts(page: Page) -> list[dict]:
    chart = page.locator(CHART).filter(visible=True).first
    chart.locator("svg text").first.wait_for(timeout=WAIT_MS)
    page.wait_for_timeout(300)  # vega's last layout pass
    return chart.evaluate(TEXTS_JS)


def _axis_names(texts: list[dict], names: set[str]) -> list[dict]:
    """The axes' names (texts above the axes, every other one a line higher), left to right."""
    top = min(t["y"] for t in texts if t["text"] in names)
    return sorted((t for t in texts if t["text"] in names and t["y"] - top < 30), key=lambda t: t["x"])


def test_axes_are_drawn_in_the_importance_order(page, url, demo_warehouse):
    page.goto(f"{url}/parallel?study={STUDY}")
    _settled(page, "Parallel coordinates", chart=True)
    frame = study_frame.load(demo_warehouse, STUDY)
    ranking = list(importance_views.study_importance(frame, scale="rank").singles["name"])
    texts = _texts(page)
    names = [t["text"] for t in _axis_names(texts, {*ranking, "accuracy"})]
    assert names == [*ranking, "accuracy"]
    assert _count(page) == (_finished(demo_warehouse),) * 2


def test_a_link_with_a_filter_shows_the_sql_count(page, url, demo_warehouse):
    link = json.dumps({"learning_rate": [0.001, 0.01]})
    page.goto(f"{url}/parallel?study={STUDY}&filter={urllib.parse.quote(link)}")
    _settled(page, "Parallel coordinates", chart=True)
    expected = _finished(demo_warehouse, f"{_value('learning_rate')} between 0.001 and 0.01")
    assert _count(page) == (expected, _finished(demo_warehouse))


def test_a_brush_dragged_across_an_axis_filters_the_page_and_the_url(page, url, demo_warehouse):
    page.goto(f"{url}/parallel?study={STUDY}")
    _settled(page, "Parallel coordinates", chart=True)
    texts = _texts(page)
    name = next(t for t in _axis_names(texts, {"learning_rate"}))
    # texts under the axis's name: its tick labels (the top one is its largest value), and lower down the legend
    ticks = [t for t in texts if t["text"] != "learning_rate" and abs(t["x"] - name["x"]) < 40
             and t["y"] > name["bottom"]]
    top = min(t["y"] for t in ticks)
    bottom = max(t["y"] for t in ticks)
    x = name["x"]
    page.mouse.move(x - 12, top - 5)
    page.mouse.down()
    page.mouse.move(x + 12, (top + bottom) / 2, steps=8)  # from above the axis's top to somewhere below it
    page.mouse.up()
    page.wait_for_url(re.compile(r".*filter=.*"), timeout=WAIT_MS)
    _settled(page, "Parallel coordinates", chart=True)
    query = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)
    spec = json.loads(query["filter"][0])
    assert list(spec) == ["learning_rate"]
    lo, hi = spec["learning_rate"][:2]
    assert 1e-4 < lo < hi and hi == pytest.approx(sql(demo_warehouse, """
        select max(value_num) from hyperparameters h join runs r using (run_id) join studies s using (study_id)
        where s.name = ? and h.name = 'learning_rate'""", [STUDY])[0][0])
    page.wait_for_function("() => document.body.innerText.includes('Filters: ')", timeout=WAIT_MS)
    expected = _finished(demo_warehouse, f"{_value('learning_rate')} between ? and ?", (lo, hi))
    assert _count(page) == (expected, _finished(demo_warehouse))
