"""The Compare studies chart as Chromium drew it (tests/app/chart_reader.py), checked against a replay of the
warehouse rows: one legend entry per study, its line in its colour, a dot at each change of the incumbent, the
axis titles saying what x and y are; switching x to wall time redraws with its own title.

    .venv/bin/python -m pytest tests/app/test_compare_browser.py -q -p no:cacheprovider
"""

from __future__ import annotations

import pytest

from pipeline.benchmarks.browser import CHROMIUM, serving
from tests.app import chart_reader as reader
from tests.app.test_browser import _settled
from tests.app.test_compare_page import SWEEPS, replay

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: install Debian's chromium (.ci/setup)"),
]


@pytest.fixture(scope="module")
def served(demo_warehouse, tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare-browser")
    with serving(demo_warehouse, folder / "streamlit.log") as url:
        yield url


def _chart(page) -> reader.Chart:
    _settled(page, "Compare studies", chart=True)
    page.wait_for_timeout(300)  # vega's last layout pass after the marks exist
    (chart,) = reader.read_charts(page, title="compare")
    return chart


def _axis_title(chart: reader.Chart, orient: str) -> str:
    return next(a.label for a in chart.axes if a.orient == orient)


@pytest.mark.timeout(300)
def test_the_drawn_series_and_axes_are_the_studies_and_their_replay(served, page, demo_warehouse):
    page.goto(f"{served}/compare?study=demo-bohb")
    chart = _chart(page)
    (legend,) = chart.legends
    assert legend.title == "study" and legend.labels == SWEEPS
    assert "epochs spent (all evaluations so far) (log scale)" in _axis_title(chart, "X")
    assert "log" in _axis_title(chart, "X") and "incumbent's test accuracy" in _axis_title(chart, "Y")
    colours = dict(zip(legend.labels, legend.symbols, strict=True))
    assert len(set(colours.values())) == len(SWEEPS)
    lines = [m for m in chart.marks if m.type == "line mark"]
    dots = [m for m in chart.marks if m.type != "line mark"]
    # one line per study in its legend colour
    assert sorted((m.fields["study"], m.stroke) for m in lines) == sorted(colours.items())
    for study in SWEEPS:
        expected = replay(demo_warehouse, study, "incumbent")["changes"]
        drawn = sorted((int(m.number("evaluations done")), m.number("incumbent's test accuracy"))
                       for m in dots if m.fields["study"] == study)
        assert drawn == [(c["evaluation"], pytest.approx(c["accuracy"], abs=5e-5)) for c in expected], study
        assert {m.fill for m in dots if m.fields["study"] == study} == {colours[study]}

    page.locator('[data-testid="stRadio"]').get_by_text("wall time", exact=True).click()
    page.locator('[data-testid="stVegaLiteChart"] svg text').filter(
        has_text="seconds since").first.wait_for(timeout=30_000)
    chart = _chart(page)
    assert "seconds since the study's first run started (log scale)" in _axis_title(chart, "X")
    assert chart.legends[0].labels == SWEEPS
