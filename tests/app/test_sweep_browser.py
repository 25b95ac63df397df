"""The Sweep page's charts as Chromium drew them (tests/app/chart_reader.py), checked against SQL on the warehouse
file: the bracket lines' dots, their budget axis and colours, the scatter's points and sampling colours; a click on
a bracket and a brush on the scatter round-trip to Python and narrow what the page shows.

    .venv/bin/python -m pytest tests/app/test_sweep_browser.py -q -p no:cacheprovider
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, sync_playwright

from pipeline.app.sweep_charts import SAMPLING_COLORS
from pipeline.app.sweep_views import SAMPLING_NAMES
from pipeline.benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, serving
from tests.app import chart_reader as reader
from tests.app.test_browser import WAIT_MS, _settled
from tests.conftest import sql
from tests.hpbandster_logs import demo_with_log

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: install Debian's chromium (.ci/setup)"),
]

STUDY = "imported"
VIEWPORT = {"width": 1280, "height": 900}
DATA_CAPTION = re.compile(r"([\d,]+) finished evaluations: (.*?); best first")


@pytest.fixture(scope="module")
def served(demo_warehouse, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep-browser")
    path = demo_with_log(demo_warehouse, folder, STUDY)
    with serving(path, folder / "streamlit.log") as url:
        yield url, path


def _charts(page: Page) -> list[reader.Chart]:
    _settled(page, "Sweep", chart=True)
    page.wait_for_timeout(300)  # vega's last layout pass after the marks exist
    return reader.read_charts(page, title="sweep")


def _data_caption(page: Page, has_text: str) -> re.Match:
    caption = page.locator('[data-testid="stCaptionContainer"]').filter(has_text=has_text)
    caption.first.wait_for(timeout=WAIT_MS)
    match = DATA_CAPTION.search(caption.first.inner_text())
    assert match, caption.first.inner_text()
    return match


def _on_largest(path, condition: str = "true", params=()) -> list[tuple]:
    """(bracket, sampled_as) of each configuration's finished evaluation (with a loss) on its largest budget."""
    return sql(path, f"""
        select r.bracket, r.sampled_as from runs r join studies s using (study_id)
        where s.name = ? and r.status = 'ok' and r.test_accuracy is not null and r.loss is not null and {condition}
          and r.budget = (select max(budget) from runs q where q.study_id = r.study_id and q.config_id = r.config_id)
        """, [STUDY, *params])


@pytest.mark.timeout(300)
def test_sweep_charts_drawn_match_sql_and_their_selections_round_trip(served):
    url, path = served
    expected = {(b, r): (n, mean) for b, r, n, mean in sql(path, """
        select bracket, round, count(test_accuracy), avg(test_accuracy) from runs r join studies s using (study_id)
        where s.name = ? and test_accuracy is not null group by all""", [STUDY])}
    budgets = {f"{b:g}" for (b,) in sql(path, "select distinct budget from runs r join studies s using (study_id) "
                                              "where s.name = ?", [STUDY])}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_context(viewport=VIEWPORT).new_page()
        page.goto(f"{url}/sweep?study={STUDY}")
        lines, scatter = _charts(page)[:2]

        # the bracket chart: one dot per bracket and round, at SQL's n and mean; the x axis names the budgets
        dots = [m for m in lines.marks if m.type != "line mark" and "round" in m.fields]
        drawn = {(int(m.fields["bracket"]), int(m.fields["round"])): m for m in dots}
        assert drawn.keys() == expected.keys()
        for key, (n, mean) in expected.items():
            assert drawn[key].number("n (finished evaluations)") == n, key
            assert drawn[key].number("mean test accuracy") == pytest.approx(mean, abs=1e-6), key
        x_axis = next(a for a in lines.axes if a.orient == "X")
        assert set(x_axis.texts) == budgets, x_axis.texts
        brackets = reader.legend_colours([lines], "bracket")
        assert set(brackets) == {str(b) for b, _ in expected} and all(len(c) == 1 for c in brackets.values())

        # the scatter: one point per configuration on its largest budget; sampling kinds in their own colours
        points = [m for m in scatter.marks if "sampled as" in m.fields]
        assert len(points) == len(_on_largest(path))
        legend = reader.legend_colours([scatter], "sampled as")
        assert legend == {SAMPLING_NAMES[k]: {c} for k, c in SAMPLING_COLORS.items() if SAMPLING_NAMES[k] in legend}
        assert reader.colours_by([scatter], "sampled as") == legend
        assert not reader.off_screen(lines) and not reader.off_screen(scatter)

        # a click on bracket 3's first dot selects its configurations: the scatter and the data panel follow
        dot = page.locator('[data-testid="stVegaLiteChart"]').first.locator(
            'path[aria-roledescription="point"][aria-label*="bracket: 3;"][aria-label*="round: 0;"]')
        dot.first.scroll_into_view_if_needed()
        dot.first.click(force=True)
        caption = _data_caption(page, "finished evaluations: bracket 3,")
        bracket_3 = _on_largest(path, "r.bracket = ?", [3])
        assert int(caption.group(1).replace(",", "")) == len(bracket_3)
        scatter = _charts(page)[1]
        assert {m.fields["bracket"] for m in scatter.marks if "sampled as" in m.fields} == {"3"}

        # a brush over the scatter's left half shows the shares chart; its counts add up to the data panel's
        frame = page.locator('[data-testid="stVegaLiteChart"]').nth(1).locator(
            "g.role-frame.root > g > path.background").first
        frame.scroll_into_view_if_needed()
        box = frame.bounding_box()
        page.mouse.move(box["x"] + 2, box["y"] + 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] - 2, steps=12)
        page.mouse.up()
        caption = _data_caption(page, "inside the brush")
        shares = [m for m in _charts(page)[2].marks if m.fields.get("evaluations") == "in the brush"]
        assert sum(m.number("n") for m in shares) == int(caption.group(1).replace(",", "")) > 0
        browser.close()
