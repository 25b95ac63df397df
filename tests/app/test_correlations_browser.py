"""The correlation heat map as Chromium drew it (tests/app/chart_reader.py), against SQL and scipy.

On the demo's ensemble (many one-hot options) and its BOHB sweep (a conditional hyperparameter, budgets): every
variable labelled on both axes, no two labels on top of each other, every cell under its own row and column
label, the chart inside the main column at 1280 px (or in a box of its own that scrolls), red for a positive
and blue for a negative correlation, a cross on exactly the cells that are not significant, and every cell's
r and n as scipy computes them on the variables read with straight SQL.

    .venv/bin/python -m pytest tests/app/test_correlations_browser.py -q -p no:cacheprovider
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from playwright.sync_api import sync_playwright
from scipy import stats

from pipeline.benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, serving
from tests.analysis.test_correlation import shown_variables, study_variables
from tests.app import chart_reader as reader
from tests.app.test_browser import _settled

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,  # a server and Chromium: ~40 s
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: install Debian's chromium (.ci/setup)"),
]

VIEWPORT = {"width": 1280, "height": 900}
STUDIES = {"demo-ensemble": None, "demo-bohb": "top"}  # study -> its default budget choice


@pytest.fixture(scope="module")
def drawn(demo_warehouse, tmp_path_factory):
    """Each study's correlation chart as drawn, read once per study on one server."""
    charts = {}
    with serving(demo_warehouse, tmp_path_factory.mktemp("streamlit") / "streamlit.log") as url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for study in STUDIES:
            context = browser.new_context(viewport=VIEWPORT)
            page = context.new_page()
            page.goto(f"{url}/correlations?study={study}")
            _settled(page, "Correlations", chart=True)
            page.wait_for_timeout(300)  # vega's last layout pass after the marks exist
            charts[study] = reader.read_charts(page, title=study)
            context.close()
        browser.close()
    return charts


def _number(text: str) -> float:
    return float(text.replace("−", "-").replace(",", ""))


def _rgb(colour: str) -> tuple[int, ...]:
    if colour.startswith("#"):
        return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return tuple(int(v) for v in re.findall(r"\d+", colour)[:3])


@pytest.mark.parametrize("study", STUDIES)
def test_every_label_drawn_apart_and_every_cell_under_its_labels(drawn, demo_warehouse, study):
    charts = drawn[study]
    assert len(charts) == 1
    chart = charts[0]
    expected = shown_variables(study_variables(demo_warehouse, study, budget=STUDIES[study]))
    problems = reader.off_screen(chart)
    axes = {axis.orient: axis for axis in chart.axes}
    for orient, (lo, hi) in (("X", (lambda b: b.x, lambda b: b.right)), ("Y", (lambda b: b.y, lambda b: b.bottom))):
        axis = axes[orient]
        if set(axis.texts) != expected:
            problems.append(f"{study}: {orient} axis shows {len(set(axis.texts) & expected)} of {len(expected)} "
                            f"variables; missing {sorted(expected - set(axis.texts))[:5]}, "
                            f"unknown {sorted(set(axis.texts) - expected)[:5]}")
        ticks = sorted(axis.ticks, key=lambda tick: lo(tick[1]))
        for (a, box_a), (b, box_b) in itertools.pairwise(ticks):
            if hi(box_a) > lo(box_b) + 0.5:
                problems.append(f"{study}: {orient} labels {a!r} and {b!r} overlap")
    rects = [m for m in chart.marks if m.type == "rect mark"]
    assert rects, "no cell drawn"
    y_at = {text: box.center[1] for text, box in axes["Y"].ticks}
    x_at = {text: box.center[0] for text, box in axes["X"].ticks}
    for mark in rects:
        cx, cy = mark.box.center
        row_y, column_x = y_at.get(mark.fields["row"]), x_at.get(mark.fields["column"])
        if row_y is None or column_x is None:
            continue  # a label not drawn: said above
        if not (abs(row_y - cy) < mark.box.h / 2 and abs(column_x - cx) < mark.box.w / 2):
            problems.append(f"{study}: the cell {mark.fields['row']} x {mark.fields['column']} is not under its labels")
    assert problems == [], "\n".join(problems[:20])


@pytest.mark.parametrize("study", STUDIES)
def test_cells_show_scipys_r_and_n_in_their_colour_and_crosses_mark_the_non_significant(drawn, demo_warehouse,
                                                                                        study):
    chart = drawn[study][0]
    variables = study_variables(demo_warehouse, study, budget=STUDIES[study])
    rects = [m for m in chart.marks if m.type == "rect mark"]
    crosses = {(m.fields["row"], m.fields["column"]): m for m in chart.marks if m.type == "point"}
    symbol = "rho"
    problems = []
    for mark in rects:
        row, column = mark.fields["row"], mark.fields["column"]
        a, b = variables[row], variables[column]
        both = ~np.isnan(a) & ~np.isnan(b)
        if int(mark.fields["n"].replace(",", "")) != both.sum():
            problems.append(f"{row} x {column}: n {mark.fields['n']}, SQL {both.sum()}")
        if np.ptp(a[both]) == 0 or np.ptp(b[both]) == 0:
            continue
        r = stats.spearmanr(a[both], b[both]).statistic
        if abs(_number(mark.fields[symbol]) - r) > 6e-4:
            problems.append(f"{row} x {column}: rho {mark.fields[symbol]}, scipy {r:.4f}")
        red, _, blue = _rgb(mark.fill)
        if (r > 0.15 and not red > blue + 15) or (r < -0.15 and not blue > red + 15):
            problems.append(f"{row} x {column}: rho {r:.2f} drawn in {mark.fill}")
        cross = crosses.get((row, column))
        if (cross is not None) != (mark.fields["significant"] == "no"):
            problems.append(f"{row} x {column}: significant {mark.fields['significant']}, cross drawn: "
                            f"{cross is not None}")
        elif cross is not None and not (mark.box.x < cross.box.center[0] < mark.box.right
                                         and mark.box.y < cross.box.center[1] < mark.box.bottom):
            problems.append(f"{row} x {column}: its cross is drawn outside the cell")
    assert len(crosses) == sum(m.fields["significant"] == "no" for m in rects)
    assert any(m.fields["significant"] == "yes" for m in rects) and crosses  # both kinds are there to check
    assert problems == [], "\n".join(problems[:20])
