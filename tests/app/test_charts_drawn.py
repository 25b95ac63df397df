"""What the charts drew, read back from headless Chromium (tests/app/chart_reader.py) and checked against SQL.

One app server per warehouse (module-scoped): the committed demo and a generated 16,000-network planted study
(pipeline/benchmarks/planted_study.py). Expected values come from straight duckdb on the warehouse file and
from scipy / numpy over the raw per-network rows, never from the app's code. Viewport 1280 px wide, as a laptop.

    .venv/bin/python -m pytest tests/app/test_charts_drawn.py -q -p no:cacheprovider
"""

from __future__ import annotations

import math
import re
from collections import defaultdict

import duckdb
import numpy as np
import pytest
from playwright.sync_api import Page
from scipy import stats

from pipeline.benchmarks.browser import CHROMIUM, serving
from tests.app import chart_reader as reader
from tests.app.test_browser import WAIT_MS, _settled

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: install Debian's chromium (.ci/setup)"),
]

PAGES = {"/": "Experiment warehouse", "/distribution": "Accuracy distribution",
         "/combinations": "Parameter combinations", "/trellis": "Trellis"}
ACCURACY_FIELDS = ("mean", "95% CI from", "95% CI to")
MIN_GROUP = 5  # the rule: groups of fewer networks are marked
MIN_ETA = 0.01  # the rule: an effect is significant and eta² >= 0.01
TITLES = {"app": "Overview", "distribution": "Accuracy distribution", "combinations": "Parameter combinations",
          "trellis": "Trellis", "sweep": "Sweep", "history": "Exploration history", "compare": "Compare studies",
          "importance": "Importance", "parallel": "Parallel coordinates", "correlations": "Correlations",
          "embedding": "Embedding", "runs": "Runs table", "sql": "SQL"}


# ---------------------------------------------------------------- servers, one per warehouse


@pytest.fixture(scope="module", params=["demo", "planted16k"])
def served(request, tmp_path_factory):
    """(url, warehouse path): one app server per warehouse for the whole module."""
    warehouse = request.getfixturevalue("demo_ensemble_warehouse" if request.param == "demo" else "planted_warehouse")
    with serving(warehouse, tmp_path_factory.mktemp("streamlit") / "streamlit.log") as url:
        yield url, warehouse


def _open(page: Page, url: str, path: str, *, query: str = "?scale=raw") -> list[reader.Chart]:
    """The page's charts once drawn; raw accuracy unless the query says otherwise (the numbers SQL checks)."""
    page.goto(url + path + query)
    _settled(page, PAGES[path], chart=True)
    page.wait_for_timeout(300)  # vega's last layout pass after the marks exist
    return reader.read_charts(page, title=path)


# ---------------------------------------------------------------- independent numbers


def _sql(path, query: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(query, params or []).fetchall()
    finally:
        con.close()


def _options(path) -> dict[str, int]:
    """Distinct values per hyperparameter; those with at most 12 are shown as they are (wider ones are binned)."""
    return dict(_sql(path, "select name, count(distinct value) from hyperparameters group by name"))


def _per_network(path) -> dict[str, list[tuple]]:
    """Per hyperparameter: (value, value_num, dataset, accuracy) of every finished network."""
    rows = _sql(path, """select h.name, h.value, h.value_num, r.dataset, r.test_accuracy
                         from runs r join hyperparameters h using (run_id)
                         where r.status = 'ok' and r.test_accuracy is not null""")
    out = defaultdict(list)
    for name, value, num, dataset, acc in rows:
        out[name].append((value, num, dataset, acc))
    return out


def _same_option(label: str, value: str, num: float | None) -> bool:
    if label == value:
        return True
    try:
        shown = float(label)
    except ValueError:
        return num is not None and label.lower() in ("true", "false") and float(label.lower() == "true") == num
    return num is not None and math.isclose(shown, num, rel_tol=0.05)  # labels carry 2 significant digits


def _groups(path) -> dict[tuple[str, str, str], np.ndarray]:
    """(parameter, option label as SQL stores it, dataset) -> accuracies, for parameters shown unbinned."""
    shown = {name for name, count in _options(path).items() if count <= 12}
    out = defaultdict(list)
    for name, rows in _per_network(path).items():
        if name in shown:
            for value, num, dataset, acc in rows:
                out[(name, value, num, dataset)].append(acc)
    return {k: np.asarray(v) for k, v in out.items()}


def _eta_and_p(groups: list[np.ndarray]) -> tuple[float, float]:
    values = np.concatenate(groups)
    grand = values.mean()
    between = sum(len(g) * (g.mean() - grand) ** 2 for g in groups)
    total = ((values - grand) ** 2).sum()
    p = stats.f_oneway(*groups).pvalue if len(groups) > 1 and len(values) > len(groups) else 1.0
    return between / total if total else 0.0, float(p)


def _row_name(text: str) -> str:
    """A trellis row header's parameter: the text before its note (' — ...', or the old ' (...)')."""
    return re.split(r" — | \(", text, maxsplit=1)[0]


def _trellis_rows(chart: reader.Chart) -> list[str]:
    return [_row_name(text) for text, _box, _g in sorted(chart.row_headers, key=lambda h: h[1].y)]


# ---------------------------------------------------------------- the trellis


def test_trellis_panels_under_their_own_headers(served, page):
    """Every dot and interval sits in the row of its parameter and the column of its dataset (vega-lite#9882
    put 34 of 36 panels of the demo under other headers); one row per parameter, strongest first."""
    url, warehouse = served
    chart = _open(page, url, "/trellis")[0]
    problems = reader.misplaced_marks(chart, row_field="parameter", column_field="dataset", header_names=_row_name)
    assert not problems, "\n".join(problems)
    names = set(_options(warehouse)) - {"dataset"}
    assert sorted(_trellis_rows(chart)) == sorted(names)
    # the rows' order: by largest eta² over datasets, computed here from the raw networks (unbinned ones)
    groups = _groups(warehouse)
    eta = {}
    for name in names:
        per_dataset = defaultdict(list)
        for (param, _v, _n, dataset), acc in groups.items():
            if param == name:
                per_dataset[dataset].append(acc)
        if per_dataset:
            eta[name] = max(_eta_and_p(g)[0] for g in per_dataset.values())
    # panels whose header says "effect" first, then the others, each group by eta² (computed here)
    effect = {_row_name(t): t.split(" — ", 1)[-1].startswith("effect") for t, _b, _g in chart.row_headers}
    rows = _trellis_rows(chart)
    assert [effect[r] for r in rows] == sorted((effect[r] for r in rows), reverse=True), rows
    drawn = [r for r in rows if r in eta]
    assert drawn == sorted(drawn, key=lambda r: (not effect[r], -eta[r])), {r: round(eta[r], 4) for r in drawn}


def test_trellis_effects_need_significance_and_size(served, page):
    """A header says 'effect' only when a test is significant and eta² >= 0.01 (checked with scipy's F-test:
    an effect needs p < 0.05 and eta² >= 0.01 somewhere; Bonferroni-significant and large must be one). No
    header has doubled brackets."""
    url, warehouse = served
    chart = _open(page, url, "/trellis")[0]
    headers = {_row_name(text): text for text, _b, _g in chart.row_headers}
    assert all("((" not in t and "))" not in t for t in headers.values()), headers
    groups = _groups(warehouse)
    datasets = {d for (_p, _v, _n, d) in groups}
    tests = len(headers) * len(datasets)
    for name, text in headers.items():
        per_dataset = defaultdict(list)
        for (param, _v, _n, dataset), acc in groups.items():
            if param == name:
                per_dataset[dataset].append(acc)
        if not per_dataset:
            continue  # binned: its bins are the app's
        results = [_eta_and_p(g) for g in per_dataset.values()]
        said_effect = "effect:" in text and "no effect" not in text
        if said_effect:
            assert any(e >= MIN_ETA and p < 0.05 for e, p in results), (text, results)
        if any(e >= MIN_ETA and p * tests < 0.05 for e, p in results):
            assert said_effect, (text, results)
        if not any(e >= MIN_ETA for e, _p in results):
            assert not said_effect, (text, results)


def test_trellis_numbers_labels_and_order_match_sql(served, page):
    """Per dot: networks and mean as SQL counts them; its interval the Student-t one (scipy) clipped to 0..1;
    every option of a panel labelled on its axis; numbers listed in value order (kernel_size showed 5, 3, 7)."""
    url, warehouse = served
    chart = _open(page, url, "/trellis")[0]
    groups = _groups(warehouse)
    checked = 0
    problems = []
    for mark in chart.marks:
        f = mark.fields
        if mark.type != "point" or "option" not in f:
            continue
        match = [(k, acc) for k, acc in groups.items()
                 if k[0] == f["parameter"] and k[3] == f["dataset"] and _same_option(f["option"], k[1], k[2])]
        if not match:
            continue
        assert len(match) == 1, (f, [k for k, _ in match])
        acc = match[0][1]
        checked += 1
        if int(mark.number("networks")) != len(acc) or abs(mark.number("mean") - acc.mean()) > 6e-4:
            problems.append(f"{f['parameter']}={f['option']} on {f['dataset']}: drawn n {f['networks']} mean "
                            f"{f['mean']}, SQL n {len(acc)} mean {acc.mean():.4f}")
        if len(acc) > 1:
            half = stats.t.ppf(0.975, len(acc) - 1) * acc.std(ddof=1) / math.sqrt(len(acc))
            low, high = max(0.0, acc.mean() - half), min(1.0, acc.mean() + half)
            if abs(mark.number("95% CI from") - low) > 6e-4 or abs(mark.number("95% CI to") - high) > 6e-4:
                problems.append(f"{f['parameter']}={f['option']}: CI {f['95% CI from']}..{f['95% CI to']}, "
                                f"scipy {low:.4f}..{high:.4f}")
        if (len(acc) < MIN_GROUP) != mark.hollow:
            problems.append(f"{f['parameter']}={f['option']} on {f['dataset']}: n = {len(acc)}, hollow {mark.hollow}")
    assert checked > 20 and not problems, "\n".join(problems[:12])
    labels = reader.missing_axis_labels(chart, orient="Y", field_name="option")
    assert not labels, "\n".join(labels)
    numeric = {name for (name, _v, num, _d) in groups if num is not None}
    for cell in chart.cells:
        marks = reader.cell_marks(cell)
        if not marks or marks[0].fields.get("parameter") not in numeric:
            continue
        ticks = [t for a in reader.axes_of(chart, cell, "Y") for t in a.ticks]
        shown = [float(t.lower() == "true") if t.lower() in ("true", "false") else float(t)
                 for t, _b in sorted(ticks, key=lambda t: t[1].y)]
        assert shown == sorted(shown), (marks[0].fields["parameter"], shown)


def test_trellis_intervals_stay_in_range_and_small_groups_are_marked(served, page):
    """On every accuracy scale no interval or axis runs past 0..1; a narrow selection leaves groups of a few
    networks: hollow, 'n < 5' in their tooltip, no interval drawn."""
    url, _warehouse = served
    for query in ("?scale=raw", "?scale=normalized", "?scale=rank", "?scale=raw&lo=0.9&hi=1"):
        chart = _open(page, url, "/trellis", query=query)[0]
        problems = reader.outside_unit_range(chart, ACCURACY_FIELDS)
        assert not problems, "\n".join(problems)
        hollow = [m for m in chart.marks if m.hollow]
        assert all("n < 5" in m.fields.get("note", "") for m in hollow)
        assert all(int(m.number("networks")) < MIN_GROUP for m in hollow)
        rules = {(m.fields["parameter"], m.fields["option"], m.fields["dataset"])
                 for m in chart.marks if m.type == "rule mark"}
        assert not [m for m in hollow if (m.fields["parameter"], m.fields["option"], m.fields["dataset"]) in rules]
    assert hollow, "the narrow selection was meant to leave groups of fewer than 5 networks"


# ---------------------------------------------------------------- every page


def test_trellis_overview_distribution_fit_the_main_column(served, page):
    url, _warehouse = served
    problems = []
    for path in ("/", "/distribution", "/trellis"):
        for chart in _open(page, url, path):
            problems += reader.off_screen(chart)
    assert not problems, "\n".join(problems)


def test_status_and_dataset_colours_as_drawn(served, page):
    """A status has one colour on every page's drawn marks (and legends); datasets never wear a status colour."""
    url, _warehouse = served
    charts = []
    for path in ("/", "/distribution"):
        charts += _open(page, url, path)
    status = reader.colours_by(charts, "status")
    legend = reader.legend_colours(charts, "status")
    assert status, "no mark carries a status"
    for name in set(status) | set(legend):
        assert len(status.get(name, set()) | legend.get(name, set())) == 1, (name, status, legend)
    datasets = reader.colours_by([c for c in charts if not any("status" in m.fields for m in c.marks)], "dataset")
    used = set().union(*status.values(), *legend.values())
    clash = {d: c & used for d, c in datasets.items() if c & used}
    assert datasets and not clash, f"datasets drawn in a status colour: {clash}"


# ---------------------------------------------------------------- the combinations matrix (its engineer's page)


def test_combinations_matrix_fits_shows_every_label_and_compare_does_not_overlap(served, page):
    url, warehouse = served
    options = _options(warehouse)
    problems = []
    charts = _open(page, url, "/combinations")
    for chart in charts:
        problems += reader.off_screen(chart)

        def expected(marks, side, chart=chart, problems=problems):
            """What the marks use, after checking that an unbinned parameter uses as many options as SQL has."""
            used = {m.fields[f"{side} option"] for m in marks}
            name = marks[0].fields.get(f"{side} parameter")
            if options.get(name, 99) <= 12 and len(used) != options[name]:
                problems.append(f"{chart.title}: {name} has {options[name]} options in SQL, {len(used)} drawn")
            return used

        problems += reader.missing_axis_labels(chart, orient="Y", field_name="row option",
                                               expected=lambda m: expected(m, "row"))
        problems += reader.missing_axis_labels(chart, orient="X", field_name="column option",
                                               expected=lambda m: expected(m, "column"))
    page.get_by_text("the top 5 %").click()
    page.locator(reader.CHART).nth(1).wait_for(timeout=WAIT_MS)
    _settled(page, PAGES["/combinations"], chart=True)
    page.wait_for_timeout(300)
    compared = reader.read_charts(page, title="/combinations compare")
    assert len(compared) >= 2
    problems += reader.overlapping(compared)
    for chart in compared:
        problems += reader.off_screen(chart)
    # a few of each kind: off-screen, overlaps, labels
    kinds = [[p for p in problems if "overlap" in p], [p for p in problems if "legend" in p or "px wide" in p
                                                       or "scroll box" in p], problems]
    assert not problems, "\n".join(dict.fromkeys(p for kind in kinds for p in kind[:6]))


# ---------------------------------------------------------------- a shared link opens the right page


@pytest.mark.parametrize("path", ["/trellis", "/combinations"])
def test_a_shared_link_shows_page_titles_in_the_navigation(demo_warehouse, page, path, tmp_path):
    """A fresh server whose first visitor opens /trellis directly (a shared link): the sidebar never lists the
    file names (app, combinations, ...), only the page titles, and the page itself renders. A MutationObserver
    records every text the navigation showed while the page loaded."""
    page.add_init_script("""
        window.__navTexts = new Set();
        new MutationObserver(() => {
          document.querySelectorAll('[data-testid="stSidebarNav"] a')
            .forEach(a => window.__navTexts.add(a.innerText.trim().split('\\n').pop()));
        }).observe(document, {subtree: true, childList: true, characterData: true});
    """)
    with serving(demo_warehouse, tmp_path / "streamlit.log") as url:
        page.goto(url + path)
        _settled(page, PAGES[path], chart=True)
        seen = set(page.evaluate("() => [...window.__navTexts]"))
        final = page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()
        assert [t.strip().split("\n")[-1] for t in final] == list(TITLES.values())
        files = {name for name in TITLES if name not in {t.lower() for t in TITLES.values()}}
        assert not seen & files, f"the navigation showed file names {sorted(seen & files)} while loading"
        assert page.url.startswith(url + path)
