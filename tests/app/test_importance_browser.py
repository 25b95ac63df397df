"""The Importance page as Chromium drew it (tests/app/chart_reader.py), against fANOVA on runs read with SQL.

On the demo's ensemble (13 features, categories) and its BOHB sweep (a conditional, budgets): every feature
labelled on the ranked bars, each bar beside its own label, the bars ranked, each drawn share equal to fANOVA on
the design tests/app/test_importance_page.py builds with plain SQL, the marginal and pair charts drawn with
their axes (a long axis title once left the marginal chart empty), nothing off screen, and the n stated equal
to an SQL count.

    .venv/bin/python -m pytest tests/app/test_importance_browser.py -q -p no:cacheprovider
"""

from __future__ import annotations

import pytest

from pipeline.analysis import importance
from pipeline.benchmarks.browser import CHROMIUM, serving
from tests.app import chart_reader as reader
from tests.app.test_browser import _settled
from tests.app.test_importance_page import _design_from_sql

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,  # a server and Chromium: ~40 s
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: install Debian's chromium (.ci/setup)"),
]

STUDIES = {"demo-ensemble": None, "demo-bohb": 9.0}  # study -> the budget shown
SHARE = "fANOVA share of variance"


@pytest.fixture(scope="module")
def drawn(demo_warehouse, browser, tmp_path_factory):
    """Each study's charts and caption as drawn, on one server."""
    seen = {}
    with serving(demo_warehouse, tmp_path_factory.mktemp("streamlit") / "streamlit.log") as url:
        for study, budget in STUDIES.items():
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            query = f"study={study}&scale=raw" + (f"&budget={budget:g}" if budget else "")
            page.goto(f"{url}/importance?{query}")
            _settled(page, "Hyperparameter importance", chart=True)
            page.locator(reader.CHART).nth(3).wait_for(timeout=60_000)  # bars, pairs, marginal, pair heat map
            page.wait_for_timeout(500)  # vega's last layout pass after the marks exist
            caption = page.locator('[data-testid="stMain"] [data-testid="stCaptionContainer"]').first.inner_text()
            seen[study] = (reader.read_charts(page, title=study), caption)
            context.close()
    return seen


@pytest.mark.parametrize("study", STUDIES)
def test_every_bar_beside_its_label_ranked_and_equal_to_fanova_on_sql(drawn, demo_warehouse, study):
    charts, caption = drawn[study]
    design, y = _design_from_sql(demo_warehouse, study, STUDIES[study])
    expected = {name: value for name, value, _ in importance.fanova(design, y, max_runs=None).single_table()}
    assert f"{len(y):,} finished networks" in caption
    bars = [m for m in charts[0].marks if m.type.startswith("rect") or m.type == "bar"]
    bars = [m for m in bars if SHARE in m.fields and m.box.w > 0 and m.fields.get("hyperparameter")]
    fanova_bars = {}
    for bar in bars:  # the fANOVA bars start at x = 0 of the left column; PED-ANOVA's sit right of them
        name = bar.fields["hyperparameter"]
        if name not in fanova_bars or bar.box.x < fanova_bars[name].box.x:
            fanova_bars[name] = bar
    problems = reader.off_screen(charts[0])
    drawn_names = set(fanova_bars)
    if drawn_names != set(expected):
        problems.append(f"bars for {sorted(drawn_names)}, expected {sorted(expected)}")
    y_axis = next(a for a in charts[0].axes if a.label.startswith("Y-axis"))
    labels = dict(y_axis.ticks)
    if set(labels) != set(expected):
        problems.append(f"labels {sorted(labels)}; expected {sorted(expected)}")
    for name, bar in fanova_bars.items():
        middle = bar.box.y + bar.box.h / 2
        if name in labels and not labels[name].y - 2 <= middle <= labels[name].bottom + 2:
            problems.append(f"{name}'s bar at y {middle:.0f} is not beside its label ({labels[name].y:.0f})")
        if abs(float(bar.fields[SHARE]) - expected.get(name, -1)) > 6e-4:  # the tooltip rounds to 3 decimals
            problems.append(f"{name}: drawn {bar.fields[SHARE]}, fANOVA on SQL {expected.get(name)}")
    top_down = [name for name, _ in sorted(fanova_bars.items(), key=lambda item: item[1].box.y)]
    if [expected[name] for name in top_down] != sorted(expected.values(), reverse=True):
        problems.append(f"not ranked: {top_down}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("study", STUDIES)
def test_the_marginal_and_the_pair_heat_map_are_drawn_with_their_axes(drawn, study):
    charts, _ = drawn[study]
    assert len(charts) == 4
    for chart in charts[2:]:
        problems = reader.off_screen(chart)
        if not chart.marks:
            problems.append(f"{study}: a chart without marks")
        for orient in ("X", "Y"):
            ticks = [text for axis in chart.axes if axis.label.startswith(orient) for text, _ in axis.ticks]
            if len(ticks) < 2:
                problems.append(f"{study}: the {orient} axis shows {ticks}")
        assert not problems, problems
