"""The Embedding page's scatter as Chromium drew it at 1280 px, read back with tests/app/chart_reader.py.

Two servers: the demo with a real hpbandster log imported beside it (study `imported`, every finished network
drawn), and a planted BOHB sweep of 5,000 evaluations (pipeline/benchmarks/planted_sweep.py: more finished
configurations than the page draws, so it draws a sample). Checked against straight SQL: one point per network
sent, each a finished network of the study, its tooltip accuracy the warehouse's; its colour viridis at that
accuracy on 0..1 (viridis from its published colour table, not from Vega); every point inside the plot, the
chart and its legend inside the main column, the axis titles whole.

    .venv/bin/python -m pytest tests/app/test_embedding_browser.py -q -p no:cacheprovider
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from playwright.sync_api import Page

from pipeline.analysis.embedding import DRAW_LIMIT
from pipeline.benchmarks.browser import CHROMIUM, serving
from pipeline.benchmarks.planted_sweep import STUDY as PLANTED
from pipeline.benchmarks.planted_sweep import write_planted_sweep
from tests.app import chart_reader as reader
from tests.app.test_browser import WAIT_MS, _settled
from tests.conftest import sql
from tests.hpbandster_logs import demo_with_log

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: install Debian's chromium (.ci/setup)"),
]

IMPORTED = "imported"
# viridis at 0, 1/8, ..., 1 (matplotlib's table, as R's viridisLite::viridis(9) prints it)
VIRIDIS = ["#440154", "#472D7B", "#3B528B", "#2C728E", "#21908C", "#27AD81", "#5DC863", "#AADC32", "#FDE725"]
# a drawn colour is read back as the value whose viridis colour is nearest (straight lines between the nine
# stops, which stay within ~15 per channel of the curve): within this much of the point's accuracy
COLOUR_TOLERANCE = 0.02
GRID = np.linspace(0, 1, 1001)
PLOT = "svg g.mark-group.role-frame.root > g > path.background"  # the plot area (the first frame's background)
# each configuration's evaluation on the largest budget it reached, finished: what the page draws
TOP_FINISHED = """
    select run_id, test_accuracy from runs r join studies s using (study_id)
    where s.name = ? and r.status = 'ok' and r.test_accuracy is not null
      and r.budget = (select max(budget) from runs o where o.study_id = r.study_id and o.config_id = r.config_id)"""


@pytest.fixture(scope="module", params=["imported", "planted"])
def served(request, tmp_path_factory):
    """(url, warehouse, study): the demo with an imported log, or a planted sweep of 5,000 evaluations."""
    folder = tmp_path_factory.mktemp(f"embedding-{request.param}")
    if request.param == "imported":
        warehouse, study = demo_with_log(request.getfixturevalue("demo_warehouse"), folder, IMPORTED), IMPORTED
    else:
        warehouse, study = folder / "sweep.duckdb", PLANTED
        write_planted_sweep(5_000, warehouse)
    with serving(warehouse, folder / "streamlit.log") as url:
        yield url, warehouse, study


def _chart(page: Page, title: str) -> tuple[reader.Chart, reader.Box, list[str]]:
    """The page's one chart once drawn, its plot area and its axis titles as drawn."""
    _settled(page, "Embedding", chart=True)
    page.wait_for_timeout(300)  # vega's last layout pass after the marks exist
    charts = reader.read_charts(page, title=title)
    assert len(charts) == 1 and not charts[0].canvas, "the scatter must be SVG (Streamlit's choice up to 2,000)"
    plot = page.locator(reader.CHART).locator(PLOT).first.evaluate(
        "e => { const r = e.getBoundingClientRect(); return {x: r.left + scrollX, y: r.top + scrollY, "
        "w: r.width, h: r.height}; }")
    titles = page.locator(f"{reader.CHART} svg g.role-axis-title text").all_text_contents()
    return charts[0], reader.Box(**plot), titles


def _rgb(colour: str) -> np.ndarray:
    if colour.startswith("#"):
        return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
    return np.array([float(v) for v in re.findall(r"[\d.]+", colour)[:3]])


def _viridis(values: np.ndarray) -> np.ndarray:
    stops = np.array([_rgb(c) for c in VIRIDIS])
    position = np.linspace(0, 1, len(VIRIDIS))
    return np.column_stack([np.interp(values, position, stops[:, k]) for k in range(3)])


def _value_of(colour: str) -> float:
    """The value in 0..1 that viridis paints nearest to this colour."""
    return float(GRID[np.argmin(((_viridis(GRID) - _rgb(colour)) ** 2).sum(axis=1))])


def _problems(chart: reader.Chart, plot: reader.Box, titles: list[str], finished: dict[int, float]) -> list[str]:
    """Everything wrong with the drawn scatter, in words (empty: fine); `finished`: run id -> test accuracy."""
    problems = reader.off_screen(chart)
    points = [m for m in chart.marks if "run id" in m.fields]
    ids = [int(m.number("run id")) for m in points]
    if len(points) != min(len(finished), DRAW_LIMIT) or len(set(ids)) != len(ids):
        problems.append(f"{len(points)} points drawn ({len(set(ids))} networks), SQL has {len(finished)} finished "
                        f"networks, the page draws at most {DRAW_LIMIT}")
    if set(ids) - set(finished):
        problems.append(f"points of networks SQL does not have as finished: {sorted(set(ids) - set(finished))[:5]}")
    for mark, run_id in zip(points, ids):
        accuracy = mark.number("test accuracy")
        if run_id in finished and abs(accuracy - finished[run_id]) > 6e-4:  # shown with three decimals
            problems.append(f"run {run_id}: test accuracy {accuracy} drawn, {finished[run_id]:.4f} in SQL")
        if abs(_value_of(mark.fill) - accuracy) > COLOUR_TOLERANCE:
            problems.append(f"run {run_id}: accuracy {accuracy} drawn in {mark.fill}, the viridis colour of "
                            f"{_value_of(mark.fill):.3f}")
        x, y = mark.box.center
        if not (plot.x - 0.5 <= x <= plot.right + 0.5 and plot.y - 0.5 <= y <= plot.bottom + 0.5):
            problems.append(f"run {run_id}: drawn at ({x:.0f}, {y:.0f}), outside the plot {plot}")
    legends = [legend for legend in chart.legends if legend.title]
    if [legend.title for legend in legends] != ["test accuracy (fraction correct)"] or \
            legends[0].labels != ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]:
        problems.append(f"colour legend: {[(g.title, g.labels) for g in legends]}")
    if len(titles) != 2 or any(t.endswith("…") for t in titles):
        problems.append(f"axis titles cut or missing: {titles}")
    return problems[:12]


def test_every_point_sent_is_drawn_in_its_colour_inside_the_plot(served, page):
    url, warehouse, study = served
    finished = dict(sql(warehouse, TOP_FINISHED, [study]))
    page.goto(f"{url}/embedding?study={study}&scale=raw")
    chart, plot, titles = _chart(page, "/embedding PCA")
    problems = _problems(chart, plot, titles, finished)
    assert not problems, "\n".join(problems)
    assert titles[0].startswith("PC1 · ") and titles[1].startswith("PC2 · ")
    if study == IMPORTED:  # the same checks on the t-SNE map, asked for with the radio
        page.get_by_text("t-SNE (on request)").click()
        page.get_by_text("finished networks: took").first.wait_for(timeout=WAIT_MS)
        chart, plot, titles = _chart(page, "/embedding t-SNE")
        problems = _problems(chart, plot, titles, finished)
        assert not problems, "\n".join(problems)
        assert titles[0].startswith("t-SNE 1")
