"""The Exploration history page under AppTest on the demo's three sweeps, its ensemble and a real imported hpbandster
log: every point, promotion and best-so-far step the chart carries checked against straight SQL on the warehouse file
(evaluation order by start time, ties by run id) and numpy; the drift toward the final top region recomputed here from
SQL rows, apart from pipeline/analysis/exploration.py; bad input (one run, a hyperparameter with one value).

    .venv/bin/python -m pytest tests/app/test_history_page.py -q
"""

from __future__ import annotations

import io
import json
import math
import re
import shutil

import duckdb
import numpy as np
import polars as pl
import pyarrow.ipc
import pytest

from tests.app.apptest import open_page, run_app
from tests.conftest import sql
from tests.hpbandster_logs import demo_with_log

SWEEPS = ["demo-bohb", "demo-hyperband", "demo-random-search"]
IMPORTED = "imported"
STUDIES = [*SWEEPS, IMPORTED, "demo-ensemble"]
MANY_VALUES = 12  # numbers with more distinct values are ranges on the page (study_frame.MAX_OPTIONS), else options


@pytest.fixture(scope="module")
def warehouse(demo_warehouse, tmp_path_factory):
    """The demo (an ensemble and three sweeps) with a real BOHB log imported beside it."""
    return demo_with_log(demo_warehouse, tmp_path_factory.mktemp("history-page"), IMPORTED, iterations=4)


def _page(monkeypatch, path, study: str, **query):
    return open_page(run_app(monkeypatch, path, study=study, **query), "history")


def _datasets(at) -> dict[str, pl.DataFrame]:
    """The chart's named tables: points, promotions, cells, regions, best."""
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1
    found = {dataset.name: pl.from_arrow(pyarrow.ipc.open_stream(io.BytesIO(dataset.data.data)).read_all())
             for dataset in charts[0].proto.datasets}
    assert set(found) == {"points", "promotions", "cells", "regions", "best"}
    return found


def _panel_titles(at) -> list[str]:
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    return [row["title"]["text"] for row in spec["vconcat"]]


def _evaluations(path, study: str) -> list[tuple]:
    """(evaluation, run_id, config, budget, status, accuracy, sampled_as) in start order, straight from SQL."""
    return sql(path, """
        select row_number() over (order by r.started_at nulls last, r.run_id), r.run_id,
               coalesce(r.config_id, r.run_id::varchar), r.budget, r.status, r.test_accuracy, r.sampled_as
        from runs r join studies s using (study_id) where s.name = ? order by 1""", [study])


def _values(path, study: str) -> dict[str, dict[int, tuple[str, float | None]]]:
    """hyperparameter -> run_id -> (value text, value number), from the long table."""
    values: dict[str, dict] = {}
    for name, run_id, value, number in sql(path, """
            select h.name, h.run_id, h.value, h.value_num from hyperparameters h join runs r using (run_id)
            join studies s using (study_id) where s.name = ?""", [study]):
        values.setdefault(name, {})[run_id] = (value, number)
    return values


def _promotion_pairs(path, study: str) -> set[tuple]:
    """(config, from evaluation, to evaluation, from budget, to budget): each configuration's evaluations in order
    of budget, consecutive pairs with a larger budget."""
    return set(sql(path, """
        with ordered as (
            select coalesce(r.config_id, r.run_id::varchar) as config, r.budget,
                   row_number() over (order by r.started_at nulls last, r.run_id) as evaluation
            from runs r join studies s using (study_id) where s.name = ?),
        paired as (
            select config, evaluation, budget,
                   lead(evaluation) over (partition by config order by budget, evaluation) as next_evaluation,
                   lead(budget) over (partition by config order by budget, evaluation) as next_budget
            from ordered where budget is not null)
        select config, evaluation, next_evaluation, budget, next_budget from paired where next_budget > budget
        """, [study]))


@pytest.mark.parametrize("study", STUDIES)
def test_every_study_draws_sqls_evaluations_promotions_and_best_so_far(monkeypatch, warehouse, study):
    at = _page(monkeypatch, warehouse, study)
    rows = _evaluations(warehouse, study)
    values = _values(warehouse, study)
    data = _datasets(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Evaluations"] == f"{len(rows):,}"
    assert metrics["Configurations"] == f"{len({r[2] for r in rows}):,}"

    # one panel per hyperparameter, titled with its name (the ensemble's three datasets get one too)
    expected = set(values) | ({"dataset"} if study == "demo-ensemble" else set())
    titles = _panel_titles(at)
    assert titles[0] == "best test accuracy so far"
    assert {t.removesuffix(" (log scale)") for t in titles[1:]} == expected
    assert ("learning_rate (log scale)" in titles) == (study != IMPORTED)
    assert ("lr (log scale)" in titles) == (study == IMPORTED)

    # promotions: the dashed segments of every panel are SQL's consecutive-budget pairs
    pairs = _promotion_pairs(warehouse, study)
    budgets = any(r[3] is not None for r in rows)
    assert metrics["Promotions"] == (f"{len(pairs):,}" if budgets else "none")
    drawn = data["promotions"]
    aggregated = not data["cells"].is_empty()
    for name in expected:
        mine = drawn.filter(pl.col("parameter") == name)
        got = {(r["config_id"], r["from_evaluation"], r["to_evaluation"], r["from_budget"], r["to_budget"])
               for r in mine.iter_rows(named=True)}
        if not aggregated:
            assert got == pairs and mine.height == len(pairs), name
        else:
            assert got <= pairs, name
    if study in ("demo-bohb", "demo-hyperband", IMPORTED):
        assert pairs  # these sweeps promote: the check above compared something
    if study == "demo-ensemble":
        assert any("no budgets" in i.value and "no promotions" in i.value for i in at.info)

    # best so far: the running maximum of the finished evaluations' test accuracy, in start order
    accuracy = np.array([r[5] if r[4] == "ok" and r[5] is not None else -np.inf for r in rows])
    running = np.maximum.accumulate(accuracy)
    best = data["best"].sort("evaluation")
    shown = dict(zip(best["evaluation"].to_list(), best["best_accuracy"].to_list()))
    for evaluation, value in shown.items():
        assert value == pytest.approx(running[evaluation - 1]), evaluation
    rises = {i + 1 for i in range(len(running)) if np.isfinite(running[i])
             and (i == 0 or running[i] > running[i - 1])}
    assert rises <= set(shown)  # every step of the line is there
    if not aggregated:
        first = int(np.argmax(np.isfinite(running))) + 1
        assert set(shown) == set(range(first, len(rows) + 1))

    # points: each evaluation at its own value (or inactive), its configuration's largest budget drawn final
    points = data["points"]
    by_evaluation = {r[0]: r for r in rows}
    for name in expected:
        mine = points.filter(pl.col("parameter") == name)
        if not aggregated:
            assert sorted(mine["evaluation"].to_list()) == list(range(1, len(rows) + 1)), name
        for point in mine.iter_rows(named=True):
            run_id = by_evaluation[point["evaluation"]][1]
            if name == "dataset":
                continue
            if run_id not in values[name]:
                assert point["value"] == "(inactive)", (name, point)
                continue
            text, number = values[name][run_id]
            if point["value"] != text:
                assert number is not None and float(point["value"]) == pytest.approx(number, rel=1e-3), (name, point)
        finals = mine.filter(pl.col("final"))
        largest = {}
        for r in rows:
            if r[3] is None or r[2] not in largest or r[3] > largest[r[2]][0]:
                largest[r[2]] = (r[3], r[0])
        assert set(finals["evaluation"].to_list()) <= {e for _, e in largest.values()}
        if not aggregated:
            assert finals.height == len(largest)
    if aggregated:  # heat cells hold every evaluation once per panel
        cells = data["cells"]
        for name in expected:
            assert cells.filter(pl.col("parameter") == name)["n"].sum() == len(rows), name


def test_the_colour_is_the_sidebars_accuracy_scale(monkeypatch, warehouse):
    raw = _datasets(_page(monkeypatch, warehouse, "demo-bohb", scale="raw"))["points"]
    assert raw.filter(pl.col("score").is_not_null()).select((pl.col("score") - pl.col("accuracy")).abs().max()
                                                            ).item() < 1e-12
    ranked = _datasets(_page(monkeypatch, warehouse, "demo-bohb", scale="rank"))["points"]
    scores = ranked["score"].drop_nulls()
    assert scores.min() >= 0 and scores.max() <= 1 and not scores.equals(ranked["accuracy"].drop_nulls())


# ---------------------------------------------------------------- the drift, recomputed from SQL rows


def _drift_by_hand(path, study: str) -> dict:
    """exploration.py's definitions, recomputed here from SQL rows with numpy and plain Python."""
    rows = _evaluations(path, study)
    values = _values(path, study)
    n = len(rows)
    finished = [r for r in rows if r[4] == "ok" and r[5] is not None]
    top_budget = max((r[3] for r in finished if r[3] is not None), default=None)
    pool = [r for r in finished if top_budget is None or r[3] == top_budget]
    pool.sort(key=lambda r: (-r[5], r[0]))
    top = pool[:max(1, math.ceil(0.1 * len(pool)))]
    numeric = {name for name, by_run in values.items()
               if all(num is not None for _, num in by_run.values())
               and len({num for _, num in by_run.values()}) > MANY_VALUES}

    def value(name, run_id):
        found = values[name].get(run_id)
        return None if found is None else (found[1] if name in numeric else found[0])

    def inside(name, run_id) -> bool:
        mine = value(name, run_id)
        tops = [value(name, t[1]) for t in top]
        if mine is None:
            return None in tops
        if name in numeric:
            present = [t for t in tops if t is not None]
            return bool(present) and min(present) <= mine <= max(present)
        return mine in tops

    seen, quarters = set(), {q: [] for q in range(1, 5)}
    for r in rows:
        if r[2] in seen:
            continue
        seen.add(r[2])
        shares = [inside(name, r[1]) for name in values]
        quarters[(r[0] - 1) * 4 // n + 1].append((float(np.mean(shares)), all(shares), r[6] == "model_based"))
    table = {q: {"new": len(v), "values_inside": float(np.mean([s for s, _, _ in v])) if v else None,
                 "inside": sum(a for _, a, _ in v), "model_based": sum(m for _, _, m in v)}
             for q, v in quarters.items()}
    drift = table[4]["values_inside"] - table[1]["values_inside"]
    # normal approximation for a difference of two means, ddof 1, clipped to -1..1
    half = 1.96 * math.sqrt(sum(np.var([s for s, _, _ in quarters[q]], ddof=1) / len(quarters[q]) for q in (1, 4)))
    return {"quarters": table, "drift": drift, "top": len(top),
            "interval": (max(-1.0, drift - half), min(1.0, drift + half))}


def test_the_drift_toward_the_top_region_is_sqls_and_tells_the_three_sweeps_apart(monkeypatch, warehouse):
    drifts = {}
    for study in SWEEPS:
        expected = _drift_by_hand(warehouse, study)
        at = _page(monkeypatch, warehouse, study)
        metric = next(m.value for m in at.metric if m.label == "Drift toward the top region")
        assert metric == f"{expected['drift'] * 100:+.1f} pts", study
        table = next(d.value for d in at.dataframe if "values inside" in d.value.columns)
        for row in table.to_dict("records"):
            want = expected["quarters"][row["quarter"]]
            assert row["new configurations"] == want["new"]
            assert row["model-based picks"] == want["model_based"]
            assert row["configurations inside"] == want["inside"]
            assert row["values inside"] == pytest.approx(want["values_inside"])
        low, high = (round(v * 100, 1) + 0.0 for v in expected["interval"])
        assert any(f"(95 % interval {low:+.1f} to {high:+.1f})" in m.value for m in at.markdown), study
        caption = next(c.value for c in at.caption if c.value.startswith("Final top region"))
        assert f"({expected['top']:,} of" in caption
        drifts[study] = expected["drift"]
        model_based = [expected["quarters"][q]["model_based"] for q in range(1, 5)]
        assert (min(model_based) > 0) if study == "demo-bohb" else (max(model_based) == 0)
    # three different numbers; on the demo (looked at first) BOHB's model moved it toward the final top region
    # more than Hyperband's and random search's random sampling did: +5.6, +1.0 and -0.9 points
    assert len({round(d, 6) for d in drifts.values()}) == 3
    assert drifts["demo-bohb"] > drifts["demo-hyperband"] > drifts["demo-random-search"]
    assert drifts["demo-bohb"] > 0.03 and abs(drifts["demo-random-search"]) < 0.03


# ---------------------------------------------------------------- bad input


def _edited_copy(warehouse, tmp_path, statements: list[tuple[str, list]]):
    path = tmp_path / "edited.duckdb"
    shutil.copy(warehouse, path)
    con = duckdb.connect(str(path))
    try:
        for statement, params in statements:
            con.execute(statement, params)
    finally:
        con.close()
    return path


def test_a_study_with_one_run_says_so(monkeypatch, warehouse, tmp_path):
    study = "demo-random-search"
    keep = sql(warehouse, "select min(run_id) from runs r join studies s using (study_id) where s.name = ?",
               [study])[0][0]
    (study_id,) = sql(warehouse, "select study_id from studies where name = ?", [study])[0]
    path = _edited_copy(warehouse, tmp_path, [
        ("delete from hyperparameters where run_id in (select run_id from runs where study_id = ? and run_id <> ?)",
         [study_id, keep]),
        (f"delete from wide.study_{int(study_id)} where run_id <> ?", [keep]),
        ("delete from runs where study_id = ? and run_id <> ?", [study_id, keep])])
    at = _page(monkeypatch, path, study)
    assert [w.value for w in at.warning] == [
        f"Study '{study}' has 1 evaluation: a history needs at least two. Pick another study in the sidebar, or come "
        "back when its job has written more runs."]
    assert not at.get("vega_lite_chart")


def test_a_hyperparameter_with_one_value_gets_its_one_band(monkeypatch, warehouse, tmp_path):
    study = "demo-hyperband"
    (study_id,) = sql(warehouse, "select study_id from studies where name = ?", [study])[0]
    path = _edited_copy(warehouse, tmp_path, [
        ("update hyperparameters set value = 'on' where name = 'lr_scheduler' and run_id in "
         "(select run_id from runs where study_id = ?)", [study_id]),
        (f"update wide.study_{int(study_id)} set lr_scheduler = 'on'", [])])
    at = _page(monkeypatch, path, study)
    assert any(re.search(r"Took a single value in every evaluation .*: lr_scheduler\.", c.value) for c in at.caption)
    points = _datasets(at)["points"].filter(pl.col("parameter") == "lr_scheduler")
    assert set(points["value"].to_list()) == {"on"} and points.height == len(_evaluations(path, study))
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    panel = next(row for row in spec["vconcat"] if row["title"]["text"] == "lr_scheduler")
    assert panel["layer"][-1]["encoding"]["y"]["axis"]["values"] == [0.0]


def test_an_unfinished_study_has_no_top_region_and_says_so(monkeypatch, warehouse, tmp_path):
    study = "demo-random-search"
    (study_id,) = sql(warehouse, "select study_id from studies where name = ?", [study])[0]
    path = _edited_copy(warehouse, tmp_path, [
        ("update runs set status = 'failed', test_accuracy = null where study_id = ?", [study_id])])
    at = _page(monkeypatch, path, study)
    assert any("no top region" in i.value for i in at.info)
    assert next(m.value for m in at.metric if m.label == "Drift toward the top region") == "n/a"
    assert _datasets(at)["best"].is_empty()


def test_above_the_point_limit_heat_cells_count_every_evaluation_and_the_top_configurations_are_drawn(
        monkeypatch, warehouse, tmp_path):
    """The limit is 5,000 points (100,000 evaluations: a few thousand marks); lowered here so that the demo's BOHB
    sweep (374 evaluations x 8 panels) crosses it, on a copy of the file (a new path: nothing cached)."""
    from pipeline.app import history_views

    path = tmp_path / "copy.duckdb"
    shutil.copy(warehouse, path)
    monkeypatch.setattr(history_views, "MAX_POINTS", 500)
    study = "demo-bohb"
    at = _page(monkeypatch, path, study)
    data = _datasets(at)
    rows = _evaluations(path, study)
    cells, points, drawn = data["cells"], data["points"], data["promotions"]
    for name in _values(path, study):
        mine = cells.filter(pl.col("parameter") == name)
        assert mine["n"].sum() == len(rows), name
        assert mine.height <= history_views.X_BINS * (history_views.Y_BINS + 1)
    configs = set(points["config_id"].to_list())
    assert 0 < len(configs) <= history_views.TOP_CONFIGS
    # the drawn configurations' evaluations all, and their promotions exactly as SQL pairs them
    assert points.height == len(_values(path, study)) * sum(r[2] in configs for r in rows)
    pairs = {p for p in _promotion_pairs(path, study) if p[0] in configs}
    assert {(r["config_id"], r["from_evaluation"], r["to_evaluation"], r["from_budget"], r["to_budget"])
            for r in drawn.iter_rows(named=True)} == pairs and pairs
    marks = sum(frame.height for key, frame in data.items() if key != "regions")
    caption = next(c.value for c in at.caption if c.value.startswith("Drawn:"))
    assert f"{len(rows):,} evaluations × 8 hyperparameter panels" in caption and f"{marks:,} marks in all" in caption


def test_hyperparameters_named_like_run_columns_get_their_panels(monkeypatch, warehouse, tmp_path):
    """Names are data: a hyperparameter called `status` or `budget` is a panel like any other."""
    study = "demo-hyperband"
    (study_id,) = sql(warehouse, "select study_id from studies where name = ?", [study])[0]
    path = _edited_copy(warehouse, tmp_path, [
        ("update hyperparameters set name = 'status' where name = 'lr_scheduler' and run_id in "
         "(select run_id from runs where study_id = ?)", [study_id]),
        ("update hyperparameters set name = 'budget' where name = 'hidden_size' and run_id in "
         "(select run_id from runs where study_id = ?)", [study_id]),
        (f"alter table wide.study_{int(study_id)} rename column lr_scheduler to status", []),
        (f"alter table wide.study_{int(study_id)} rename column hidden_size to budget", [])])
    at = _page(monkeypatch, path, study)
    titles = _panel_titles(at)
    assert {"status", "budget"} <= set(titles)
    points = _datasets(at)["points"]
    assert set(points.filter(pl.col("parameter") == "status")["value"].to_list()) == {"off", "on"}
    caption = next(c.value for c in at.caption if c.value.startswith("Final top region"))
    assert "status: " in caption and "budget: " in caption


def test_runs_without_a_start_time_are_ordered_by_run_id_and_the_page_says_so(monkeypatch, warehouse, tmp_path):
    study = "demo-random-search"
    (study_id,) = sql(warehouse, "select study_id from studies where name = ?", [study])[0]
    untimed = sql(warehouse, "select run_id from runs where study_id = ? order by run_id desc limit 5", [study_id])
    path = _edited_copy(warehouse, tmp_path, [
        ("update runs set started_at = null where run_id in (select unnest(?::bigint[]))", [[r for (r,) in untimed]])])
    at = _page(monkeypatch, path, study)
    assert any(c.value.startswith("5 of the 50 evaluations have no start time recorded") for c in at.caption)
    rows = _evaluations(path, study)  # SQL's own order: started_at nulls last, then run id
    points = _datasets(at)["points"].filter(pl.col("parameter") == "optimizer")
    last = {r[0] for r in rows[-5:]}
    assert {r[1] for r in rows[-5:]} == {r for (r,) in untimed}
    assert set(points.filter(pl.col("evaluation").is_in(list(last)))["config_id"].to_list()) == {
        r[2] for r in rows[-5:]}


# ---------------------------------------------------------------- the aggregated view's SQL paths, against plain SQL


def _aggregated_page(monkeypatch, path, study: str, **query):
    """The page above its point limit, lowered so that the demo's BOHB sweep (374 evaluations x 8 panels) crosses
    it: heat cells, thinned best so far (history_views.py's DuckDB paths for a million networks)."""
    from pipeline.app import history_views

    monkeypatch.setattr(history_views, "MAX_POINTS", 500)
    return _page(monkeypatch, path, study, **query)


def _cells_by_sql(path, study: str, name: str, *, number: bool, log: bool) -> dict[tuple[int, str], tuple]:
    """(x slice, row) -> (n, first evaluation, last evaluation, mean test accuracy) straight from the warehouse:
    40 slices of the start order; the row an option's value, or for a number its slice of 12 of the range of the
    values tried (log10 where log), 'inactive' where the run has no value."""
    value = "ln(h.value_num)" if log else "h.value_num"
    rows = sql(path, f"""
        with ordered as (
            select r.run_id, r.test_accuracy,
                   row_number() over (order by r.started_at nulls last, r.run_id) as evaluation
            from runs r join studies s using (study_id) where s.name = ?),
        valued as (
            select o.*, h.value, {value} as v from ordered o left join hyperparameters h on h.run_id = o.run_id
            and h.name = ?),
        ranged as (select min(v) as low, max(v) as high, (select count(*) from ordered) as n from valued)
        select (evaluation - 1) * 40 // n as x,
               case when value is null then 'inactive' when low is null or high = low then value
                    when {'true' if number else 'false'}
                    then (least(greatest(floor((v - low) / (high - low) * 12), 0), 11) + 1)::integer::varchar
                    else value end as row,
               count(*), min(evaluation), max(evaluation), avg(test_accuracy)
        from valued, ranged group by all""", [study, name])
    return {(x, row): rest for x, row, *rest in rows}


@pytest.mark.parametrize(("study", "name", "number", "log"), [
    ("demo-bohb", "optimizer", False, False), ("demo-bohb", "learning_rate", True, True),
    ("demo-bohb", "momentum", True, False),  # inactive where the optimizer has none: its own row
    ("demo-ensemble", "conv_layers", True, False),  # a range that took three values: options drawn at their values
])
def test_heat_cells_are_sqls_counts_per_slice_and_value(monkeypatch, warehouse, tmp_path, study, name, number, log):
    """Every heat cell of a panel against a GROUP BY on the warehouse file (a number's slice from its raw values,
    an option from the long table), on the raw scale: n, the first and last evaluation and the mean test accuracy
    of each cell, and no cell missing or extra."""
    path = tmp_path / "cells.duckdb"
    shutil.copy(warehouse, path)
    at = _aggregated_page(monkeypatch, path, study, scale="raw")
    cells = _datasets(at)["cells"]
    width = len(_evaluations(path, study)) / 40
    expected = _cells_by_sql(path, study, name, number=number, log=log)
    got = {}
    for cell in cells.filter(pl.col("parameter") == name).iter_rows(named=True):
        x = round((cell["x0"] - 0.5) / width)
        found = re.fullmatch(r"slice (\d+) of 12 of the values tried", cell["value"])
        row = "inactive" if cell["value"] == "(inactive)" else found.group(1) if found else cell["value"]
        got[(x, row)] = (cell["n"], cell["first_evaluation"], cell["last_evaluation"], cell["mean"])
    assert set(got) == set(expected)
    for key, (count, first, last, mean) in expected.items():
        assert got[key][:3] == (count, first, last), key
        assert got[key][3] == pytest.approx(mean, abs=1e-12), key
    assert (name == "momentum") == any(row == "inactive" for _, row in expected)


def test_thinned_best_so_far_is_sqls_running_maximum_across_blocks(monkeypatch, warehouse, tmp_path):
    """history_best.sql looks for rises per block of evaluations; with blocks of 7 the demo's 374 evaluations span
    54 of them, and the thinned line must be exactly the rises of the running maximum plus the last evaluation."""
    from pipeline.app import history_views

    path = tmp_path / "best.duckdb"
    shutil.copy(warehouse, path)
    monkeypatch.setattr(history_views, "BLOCK", 7)
    study = "demo-hyperband"
    rows = _evaluations(path, study)
    best = _datasets(_aggregated_page(monkeypatch, path, study))["best"]
    expected, running = {}, -math.inf
    for evaluation, _, _, _, status, accuracy, _ in rows:
        if status == "ok" and accuracy is not None and accuracy > running:
            running = accuracy
            expected[evaluation] = accuracy
    expected[len(rows)] = running
    assert len(expected) > 3
    assert dict(zip(best["evaluation"].to_list(), best["best_accuracy"].to_list())) == pytest.approx(expected)


def test_ties_at_the_end_of_the_top_set_take_the_earlier_evaluations(monkeypatch, warehouse, tmp_path):
    """history_region.sql finds where the top set ends from the count of each accuracy and ranks only the tied
    evaluations there by evaluation number. Accuracies rounded to 0.05 make large ties, so the end of the top set
    falls inside one; the drift, its quarters and the top set's size must still be SQL's by the definition."""
    study = "demo-random-search"
    (study_id,) = sql(warehouse, "select study_id from studies where name = ?", [study])[0]
    path = _edited_copy(warehouse, tmp_path, [
        ("update runs set test_accuracy = round(test_accuracy * 20) / 20 where study_id = ?", [study_id])])
    expected = _drift_by_hand(path, study)
    finished = sorted(r[5] for r in _evaluations(path, study) if r[4] == "ok" and r[5] is not None)
    cut = sorted(finished, reverse=True)[expected["top"] - 1]
    assert sum(a == cut for a in finished) > 1 and sum(a >= cut for a in finished) > expected["top"]  # a real tie
    at = _page(monkeypatch, path, study)
    metric = next(m.value for m in at.metric if m.label == "Drift toward the top region")
    assert metric == f"{expected['drift'] * 100:+.1f} pts"
    table = next(d.value for d in at.dataframe if "values inside" in d.value.columns)
    for row in table.to_dict("records"):
        want = expected["quarters"][row["quarter"]]
        assert (row["new configurations"], row["configurations inside"]) == (want["new"], want["inside"])
        assert row["values inside"] == pytest.approx(want["values_inside"])
    caption = next(c.value for c in at.caption if c.value.startswith("Final top region"))
    assert f"({expected['top']:,} of" in caption
