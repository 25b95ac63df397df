"""The Parameter combinations page as a person sees it at 1280 px: read back from the SVG that Vega drew.

For the demo warehouse and the 16,000-network planted study (pipeline/benchmarks/planted_study.py), with the
top 5 % of each dataset selected, coloured by lift: every option of every parameter is labelled on its axis
(each label checked against the cells drawn at its place and the set of labels against the warehouse's own
distinct values, by SQL), the matrix and its legend lie inside the main column (or a box that scrolls on
purpose), rings are dark with a white halo, and in compare mode the two matrices do not overlap. On the
planted study the independence lift rings the planted sigmoid x constant cell alone and the whole-study lift
hundreds. Reads the SVG with tests/app/chart_reader.py; screenshots land in the test's tmp_path.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from pipeline.app.study_frame import INACTIVE, MAX_OPTIONS
from pipeline.benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, serving
from tests.app import chart_reader
from tests.conftest import sql

WAIT_MS = 30_000
WIDTH, HEIGHT = 1280, 900
LINE = re.compile(r"(?P<n>[\d,]+) networks · (?P<significant>\d+) significant cells of (?P<cells>\d+)")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"{CHROMIUM} is absent: install Debian's chromium (bash .ci/setup)"),
]


@pytest.fixture(scope="module", params=["demo", "planted"])
def served(request, tmp_path_factory):
    """(app url, warehouse, study) for the demo and for the 16,000-network planted study."""
    folder = tmp_path_factory.mktemp(request.param)
    if request.param == "demo":
        warehouse, study = request.getfixturevalue("demo_warehouse"), "demo-ensemble"
    else:
        warehouse, study = request.getfixturevalue("planted_warehouse"), "planted"
    with serving(warehouse, folder / "streamlit.log") as url:
        yield url, warehouse, study


def _settled(page: Page, charts: int) -> None:
    page.locator('[data-testid="stMain"] h1').filter(has_text="Parameter combinations").first.wait_for(
        timeout=WAIT_MS)
    page.wait_for_function(
        """n => [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
                   .filter(c => c.querySelector('svg .mark-rect path')).length === n
               && ![...document.querySelectorAll('[data-testid="stStatusWidget"]')]
                       .some(e => /Running/.test(e.innerText))
               && document.querySelectorAll('[data-stale="true"]').length === 0""", arg=charts, timeout=WAIT_MS)
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]').all_inner_texts()


def _choose(page: Page, group: str, option: str, charts: int) -> None:
    page.locator('[data-testid="stRadio"]').filter(has_text=group).get_by_text(option, exact=True).click()
    page.wait_for_timeout(300)
    _settled(page, charts)


def _lines(page: Page) -> list[re.Match]:
    texts = page.locator('[data-testid="stMain"] [data-testid="stMarkdownContainer"]').filter(
        has_text="significant cells of").all_inner_texts()
    return [LINE.search(t) for t in texts]


def _expected_options(warehouse: Path, study: str) -> dict[str, set[str] | None]:
    """Per parameter, its distinct values by SQL (plus (inactive) where a run lacks it); None for a number with
    more than MAX_OPTIONS values, which the app bins (checked as a chain of ranges instead)."""
    total = sql(warehouse, "select count(*) from runs r join studies s using (study_id) where s.name = ?",
                [study])[0][0]
    options = {"dataset": {v for (v,) in sql(warehouse, "select distinct r.dataset from runs r join studies s "
                                                         "using (study_id) where s.name = ?", [study])}}
    rows = sql(warehouse, """select h.name, count(distinct h.value), count(*), list(distinct h.value)
                             from hyperparameters h join runs r using (run_id) join studies s using (study_id)
                             where s.name = ? group by h.name""", [study])
    for name, distinct, present, values in rows:
        if distinct > MAX_OPTIONS:
            options[name] = None
        else:
            options[name] = set(values) | ({INACTIVE} if present < total else set())
    return options


def _same_option(label: str, value: str) -> bool:
    if label == value:
        return True
    try:
        return float(label) == pytest.approx(float(value))
    except ValueError:
        return False


def _binned_problems(name: str, labels: list[str], warehouse: Path, study: str) -> list[str]:
    """A binned parameter's labels are ranges 'lo-hi' (an en dash) that chain and span the values' min..max by SQL."""
    low, high, nulls = sql(warehouse, """select min(h.value_num), max(h.value_num),
        (select count(*) from runs r2 join studies s2 using (study_id) where s2.name = $1)
         - count(*) from hyperparameters h join runs r using (run_id) join studies s using (study_id)
        where s.name = $1 and h.name = $2""", [study, name])[0]
    ranges = [label for label in labels if label != INACTIVE]
    problems = []
    if (INACTIVE in labels) != (nulls > 0):
        problems.append(f"{name}: '(inactive)' shown {INACTIVE in labels}, runs without it {nulls}")
    try:
        bounds = [tuple(float(x) for x in label.split("–")) for label in ranges]
    except ValueError:
        return [f"{name}: labels that are not ranges: {ranges}"]
    if any(a[1] != b[0] for a, b in itertools.pairwise(bounds)):
        problems.append(f"{name}: ranges do not chain: {ranges}")
    if bounds and not (bounds[0][0] == pytest.approx(low, rel=0.05)
                       and bounds[-1][1] == pytest.approx(high, rel=0.05)):
        problems.append(f"{name}: ranges {ranges[0]} ... {ranges[-1]} do not span {low:.3g} ... {high:.3g}")
    return problems


def _label_problems(chart: chart_reader.Chart, expected: dict, warehouse: Path, study: str) -> list[str]:
    """Every axis label sits at the cells of its own option, and each parameter's labels are its SQL values."""
    rects = [m for m in chart.marks if "row option" in m.fields and m.type.startswith("rect")]
    if not rects:
        return [f"{chart.title}: no heat-map cells read"]
    problems = []
    shown: dict[str, list[str]] = {}
    for orient, side in (("X", "column"), ("Y", "row")):
        axes = [a for a in chart.axes if a.orient == orient]
        if len(axes) != 1:
            problems.append(f"{chart.title}: {len(axes)} {orient} axes")
            continue
        for text, box in axes[0].ticks:
            at = box.center[0] if orient == "X" else box.center[1]
            under = {(m.fields[f"{side} parameter"], m.fields[f"{side} option"]) for m in rects
                     if abs((m.box.center[0] if orient == "X" else m.box.center[1]) - at) < m.box.w / 2}
            if len(under) != 1 or next(iter(under))[1] != text:
                problems.append(f"{chart.title}: {orient} label {text!r} stands at cells of {sorted(under)[:3]}")
                continue
            shown.setdefault(next(iter(under))[0], []).append(text)
        # and every option a cell uses has its label
        used = Counter((m.fields[f"{side} parameter"], m.fields[f"{side} option"]) for m in rects)
        labelled = {(p, t) for p, texts in shown.items() for t in texts}
        missing = [key for key in used if key not in labelled]
        if missing:
            problems.append(f"{chart.title}: {len(missing)} options drawn without a {orient} label: {missing[:5]}")
    for name, want in expected.items():
        labels = list(dict.fromkeys(shown.get(name, [])))
        if want is None:
            problems += _binned_problems(name, labels, warehouse, study)
        elif not (len(labels) == len(want) and all(any(_same_option(t, v) for v in want) for t in labels)):
            problems.append(f"{chart.title}: {name} labelled {sorted(labels)}, SQL has {sorted(want)}")
    return problems


def _inside(chart: chart_reader.Chart) -> list[str]:
    """chart_reader.off_screen, and every mark and label between the main column's edges (or the scroll box's)."""
    problems = chart_reader.off_screen(chart)
    area = chart.scroll or chart.main
    things = [(f"mark {m.fields.get('row option')}/{m.fields.get('column option')}", m.box) for m in chart.marks]
    things += [(f"label {t}", b) for a in chart.axes for t, b in a.ticks]
    things += [(f"legend {g.title}", g.box) for g in chart.legends]
    outside = [name for name, box in things if box.x < area.x - 1 or box.right > area.right + 1]
    if outside:
        problems.append(f"{chart.title}: {len(outside)} things drawn outside x = {area.x:.0f}..{area.right:.0f}: "
                        f"{outside[:4]}")
    if chart.svg and chart.svg.right > WIDTH and chart.scroll is None:
        problems.append(f"{chart.title}: ends at x = {chart.svg.right:.0f}, past the window ({WIDTH} px)")
    if not chart.legends:
        problems.append(f"{chart.title}: no legend drawn")
    return problems


RING_JS = """c => [...c.querySelectorAll('g.mark-symbol path')].map(p => [p.getAttribute('stroke'),
                   p.getAttribute('stroke-width'), p.getAttribute('transform')])"""


def _ring_problems(page: Page) -> list[str]:
    """Each ring is dark, with a white halo under it at the same place (visible on pale and dark cells)."""
    problems = []
    for i, strokes in enumerate(page.locator(chart_reader.CHART).evaluate_all(f"cs => cs.map({RING_JS})")):
        dark = {t for s, w, t in strokes if s and s.lower() not in ("white", "#ffffff", "#fff")}
        white = {t for s, w, t in strokes if s and s.lower() in ("white", "#ffffff", "#fff")}
        if dark != white:
            problems.append(f"chart {i + 1}: {len(dark)} rings, {len(white)} halos, not at the same places")
        if any(float(w) < 1 for s, w, _ in strokes):
            problems.append(f"chart {i + 1}: a ring thinner than 1 px")
    return problems


@pytest.mark.timeout(300)
def test_combinations_matrix_shows_every_option_fits_at_1280_px_and_compares_without_overlap(served, tmp_path):
    url, warehouse, study = served
    expected = _expected_options(warehouse, study)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            page.goto(f"{url}/combinations?study={study}&scale=rank&lo=0.95&hi=1")
            _settled(page, 1)
            _choose(page, "Color by", "lift", 1)
            problems = []
            [chart] = chart_reader.read_charts(page, title=f"{study} combinations")
            problems += _label_problems(chart, expected, warehouse, study)
            problems += _inside(chart)
            problems += _ring_problems(page)
            assert any(g.title == "log2 lift against independence" for g in chart.legends), \
                [g.title for g in chart.legends]
            page.screenshot(path=tmp_path / f"{study}-combinations.png", full_page=True)
            page.locator(chart_reader.CHART).first.screenshot(path=tmp_path / f"{study}-matrix.png")
            [line] = _lines(page)
            rings = [m for m in chart.marks if m.hollow and "row option" in m.fields]
            assert len(rings) == int(line["significant"]), (len(rings), line.group(0))
            if study == "planted":  # the planted interaction alone, and the old lift's many main-effect cells
                assert {(m.fields["row option"], m.fields["column option"]) for m in rings} == {
                    ("sigmoid", "constant")}
                _choose(page, "Lift and rings against", "the whole study", 1)
                [line] = _lines(page)
                assert int(line["significant"]) > 300, line.group(0)
                _choose(page, "Lift and rings against", "what the two parameters predict separately", 1)

            _choose(page, "Compare with", "the top 5 %", 2)
            charts = chart_reader.read_charts(page, title=f"{study} compare")
            assert len(charts) == 2
            problems += chart_reader.overlapping(charts)
            for chart in charts:
                problems += _label_problems(chart, expected, warehouse, study)
                problems += _inside(chart)
            problems += _ring_problems(page)
            page.screenshot(path=tmp_path / f"{study}-combinations-compare.png", full_page=True)
            for i, element in enumerate(page.locator(chart_reader.CHART).all()):
                element.screenshot(path=tmp_path / f"{study}-compare-matrix-{i + 1}.png")
            page.set_viewport_size({"width": WIDTH, "height": 2600})  # the whole page in one picture
            page.wait_for_timeout(500)
            page.screenshot(path=tmp_path / f"{study}-combinations-compare-tall.png")

            # a window too narrow for the matrix: each scrolls sideways in its own box, nothing else moves
            page.set_viewport_size({"width": 900, "height": HEIGHT})
            page.wait_for_timeout(800)
            narrow = chart_reader.read_charts(page, title=f"{study} at 900 px")
            problems += chart_reader.overlapping(narrow)
            for chart in narrow:
                problems += chart_reader.off_screen(chart)
                if chart.scroll is None:
                    problems.append(f"{chart.title}: {chart.svg.w:.0f} px in a {chart.main.w:.0f} px column "
                                    "and no box scrolls it")
            page.screenshot(path=tmp_path / f"{study}-combinations-900px.png")
            assert not problems, "\n".join(problems)
        finally:
            browser.close()
