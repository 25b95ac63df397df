"""The Sweep page under AppTest on the demo's BOHB, Hyperband and random-search sweeps, a real imported hpbandster
log and the demo ensemble; every number it shows checked against straight SQL on the warehouse file (and
scipy for the test). Selections are simulated as AppTest allows: the chart's event put into session state."""

from __future__ import annotations

import io
import math
import shutil

import duckdb
import polars as pl
import pyarrow.ipc
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from tests.app.apptest import open_page, run_app
from tests.conftest import sql
from tests.hpbandster_logs import demo_with_log

SWEEPS = ["demo-bohb", "demo-hyperband", "demo-random-search", "imported"]
IMPORTED = "imported"


@pytest.fixture(scope="module")
def sweep_warehouse(demo_warehouse, tmp_path_factory):
    """The demo with a real BOHB log imported beside it (6 brackets, failures on purpose, model-based picks)."""
    return demo_with_log(demo_warehouse, tmp_path_factory.mktemp("sweep-page"), IMPORTED)


def _sweep(monkeypatch, path, study: str):
    return open_page(run_app(monkeypatch, path, study=study), "sweep")


def _chart_data(chart) -> pl.DataFrame:
    """The rows a vega_lite_chart element carries (its first dataset), as Streamlit sent them."""
    table = pyarrow.ipc.open_stream(io.BytesIO(chart.proto.datasets[0].data.data)).read_all()
    return pl.from_arrow(table)


def _study_where(alias: str = "r") -> str:
    return f"{alias}.study_id = (select study_id from studies where name = ?)"


@pytest.mark.parametrize("study", SWEEPS)
def test_every_sweep_shows_its_counts_schedule_and_bracket_statistics(monkeypatch, sweep_warehouse, study):
    at = _sweep(monkeypatch, sweep_warehouse, study)
    metrics = {m.label: m.value for m in at.metric}
    configs, evaluations, ok, diverged, failed, best = sql(sweep_warehouse, f"""
        select count(distinct config_id), count(*), count(*) filter (where status = 'ok'),
               count(*) filter (where status = 'diverged'), count(*) filter (where status = 'failed'),
               max(test_accuracy) from runs r where {_study_where()}""", [study])[0]
    assert metrics["Configurations"] == f"{configs:,}"
    assert metrics["Evaluations"] == f"{evaluations:,}"
    assert (metrics["Finished (ok)"], metrics["Diverged"], metrics["Failed"]) == (
        f"{ok:,}", f"{diverged:,}", f"{failed:,}")
    assert metrics["Best test accuracy"] == f"{best:.3f}"
    _check_schedule(at, sweep_warehouse, study)
    _check_brackets(at, sweep_warehouse, study)


def _check_schedule(at, path, study: str) -> None:
    """Each 'done / planned' cell against sweep_plan and a count of runs, per bracket and budget."""
    table = next(d.value for d in at.dataframe if "state" in d.value.columns)
    done = {(b, budget): n for b, budget, n in sql(path, f"""
        select bracket, budget, count(*) from runs r where {_study_where()} group by all""", [study])}
    if study == "demo-random-search":
        # hpbandster's RandomSearch: budget_per_iteration // max_budget configurations per iteration, all on the
        # max budget, where budget_per_iteration = sum(b_i * eta**i) over the budgets from the largest down
        low, high, eta = sql(path, "select settings->>'min_budget', settings->>'max_budget', settings->>'eta' "
                                   "from studies where name = ?", [study])[0]
        low, high, eta = float(low), float(high), float(eta)
        ladder = [high / eta**k for k in range(round(math.log(high / low, eta)) + 1)]  # largest first
        per_bracket = int(sum(b * eta**i for i, b in enumerate(ladder)) // high)
        planned = {(b, high): per_bracket for b, _ in done}
    else:
        planned = {(b, budget): n for b, budget, n in sql(path, f"""
            select bracket, budget, configs from sweep_plan r where {_study_where()}""", [study])}
    cells = 0
    for row in table.to_dict("records"):
        for (bracket, budget), n in planned.items():
            if bracket == row["bracket"]:
                assert row[f"budget {budget:.4g}"] == f"{done.get((bracket, budget), 0)} / {n}", (study, row)
                cells += 1
    assert cells == len(planned) and cells > 0, study
    partial = {b for (b, budget), n in planned.items() if done.get((b, budget), 0) < n}
    assert {r["bracket"] for r in table.to_dict("records") if r["state"] != "complete"} == partial, study


def _check_brackets(at, path, study: str) -> None:
    """The bracket chart's mean, then (after the toggle) max test accuracy per bracket and round, against SQL."""
    expected = {(b, r): (n, mean, best) for b, r, n, mean, best in sql(path, f"""
        select bracket, round, count(test_accuracy), avg(test_accuracy), max(test_accuracy)
        from runs r where {_study_where()} and test_accuracy is not null group by all""", [study])}
    if study == "demo-random-search":  # one round per bracket, whatever round the warehouse stored
        expected = {(b, 0): v for (b, _), v in expected.items()}
    for statistic, column in (("mean", 1), ("max", 2)):
        if statistic == "max":
            at.radio(key="sweep.statistic").set_value("max").run()
            assert not at.exception
        drawn = _chart_data(_sweep_charts(at)[0])
        got = {(row["bracket"], row["round"]): (row["n"], row["value"]) for row in drawn.iter_rows(named=True)}
        assert got.keys() == expected.keys(), study
        for key, values in expected.items():
            assert got[key][0] == values[0] and got[key][1] == pytest.approx(values[column]), (study, key)


def _sweep_charts(at) -> list:
    """The sweep's own charts in page order (brackets, scatter, shares), without the comparison of sweeps of the
    same problem that the demo's sweeps show above them (tests/app/test_sweeps_compared.py)."""
    return [c for c in at.get("vega_lite_chart") if "incumbent's test accuracy" not in c.proto.spec]


def test_the_ensemble_says_it_is_no_sweep(monkeypatch, sweep_warehouse):
    at = _sweep(monkeypatch, sweep_warehouse, "demo-ensemble")
    assert "is an ensemble" in " ".join(i.value for i in at.info)
    assert not at.get("vega_lite_chart") and not at.metric


def test_hyperband_and_random_search_say_which_views_do_not_apply(monkeypatch, sweep_warehouse):
    at = _sweep(monkeypatch, sweep_warehouse, "demo-hyperband")
    assert "Hyperband samples every configuration at random" in " ".join(i.value for i in at.info)
    at = _sweep(monkeypatch, sweep_warehouse, "demo-random-search")
    infos = " ".join(i.value for i in at.info)
    assert "random search samples every configuration at random" in infos
    assert "no lower budget" in infos  # every evaluation on the largest budget: no budget check


def _largest_finished(path, study: str, condition: str = "true", params=()) -> list[tuple]:
    """(sampled_as, loss, test_accuracy) of each configuration's evaluation on its largest budget, finished."""
    return sql(path, f"""
        select r.sampled_as, r.loss, r.test_accuracy from runs r
        where {_study_where()} and r.status = 'ok' and r.test_accuracy is not null and {condition}
          and r.budget = (select max(budget) from runs q where q.study_id = r.study_id and q.config_id = r.config_id)
        """, [study, *params])


def test_a_bracket_click_selects_its_configurations_for_the_data_panel(monkeypatch, sweep_warehouse):
    at = run_app(monkeypatch, sweep_warehouse, study=IMPORTED)
    at.session_state["sweep.brackets"] = {"selection": {"bracket": [{"bracket": 3}]}}
    open_page(at, "sweep")
    expected = _largest_finished(sweep_warehouse, IMPORTED, "r.bracket = ?", [3])
    panel = at.dataframe[-1].value
    assert len(panel) == len(expected) > 0 and set(panel["bracket"]) == {3}
    assert sorted(panel["test_accuracy"]) == pytest.approx(sorted(a for _, _, a in expected))
    assert {"lr", "layers", "optimizer", "budget", "sampled_as", "loss"} <= set(panel.columns)
    # each evaluation's hyperparameters as stored (long table: a number as value_num, text as value, absent: null)
    stored = {(run_id, name): number if number is not None else text for run_id, name, text, number in sql(
        sweep_warehouse, "select run_id, name, value, value_num from hyperparameters")}
    for row in panel.to_dict("records"):
        for name in ("lr", "layers", "optimizer", "momentum"):
            shown = row[name]
            shown = None if isinstance(shown, float) and math.isnan(shown) else shown
            assert shown == stored.get((row["run_id"], name)), (row["run_id"], name)
    scatter = _chart_data(_sweep_charts(at)[1])
    assert set(scatter["bracket"]) == {3} and scatter.height == len(expected)


def test_a_brush_shows_each_sampling_kinds_share_against_all_shown(monkeypatch, sweep_warehouse):
    loss, accuracy = [0.0, 0.9], [0.6, 1.0]
    at = run_app(monkeypatch, sweep_warehouse, study=IMPORTED)
    at.session_state["sweep.scatter"] = {"selection": {"brush": {"loss": loss, "accuracy": accuracy}}}
    open_page(at, "sweep")
    everything = _largest_finished(sweep_warehouse, IMPORTED, "r.loss is not null")
    brushed = [(kind, lo, a) for kind, lo, a in everything
               if loss[0] <= lo <= loss[1] and accuracy[0] <= a <= accuracy[1]]
    assert 0 < len(brushed) < len(everything)
    shares = _chart_data(_sweep_charts(at)[2])
    for subset, rows in (("in the brush", brushed), ("all shown", everything)):
        drawn = {r["sampled_as"]: (r["n"], r["share"])
                 for r in shares.filter(pl.col("set") == subset).iter_rows(named=True)}
        kinds = {kind for kind, _, _ in everything}
        for kind in kinds:
            n = sum(1 for k, _, _ in rows if k == kind)
            assert drawn[kind][0] == n and drawn[kind][1] == pytest.approx(n / len(rows)), (subset, kind)
    assert len(at.dataframe[-1].value) == len(brushed)  # the data panel holds the brushed evaluations


@pytest.mark.parametrize("study", ["demo-bohb", IMPORTED])
def test_model_based_against_random_is_scipys_mann_whitney_at_the_same_budget(monkeypatch, sweep_warehouse, study):
    """Every budget's counts, and where both kinds have 5 evaluations p and the effect, as scipy has them.
    The demo's BOHB (committed, ten brackets) must have a tested budget; the tiny import's picks vary by run."""
    at = _sweep(monkeypatch, sweep_warehouse, study)
    table = next(d.value for d in at.dataframe if "P(model-based > random)" in d.value.columns)
    rows = sql(sweep_warehouse, f"""
        select r.budget, r.test_accuracy,
               (select q.sampled_as from runs q where q.study_id = r.study_id and q.config_id = r.config_id
                order by q.budget limit 1) as origin
        from runs r where {_study_where()} and r.status = 'ok' and r.test_accuracy is not null""", [study])
    tested, p_values, effects = 0, [], []
    for record in table.to_dict("records"):
        model = [a for b, a, o in rows if b == record["budget"] and o == "model_based"]
        random = [a for b, a, o in rows if b == record["budget"] and o == "random"]
        assert (record["n model-based"], record["n random"]) == (len(model), len(random))
        if min(len(model), len(random)) >= 5:
            u, p = stats.mannwhitneyu(model, random, alternative="two-sided")
            assert record["p"] == f"{p:.2g}"  # shown to 2 significant digits
            assert record["P(model-based > random)"] == f"{u / (len(model) * len(random)):.2f}"
            tested += 1
            p_values.append(p)
            effects.append((record["budget"], u / (len(model) * len(random))))
        else:
            assert record["p"] == "not tested"
    assert tested >= 1 or study == IMPORTED
    assert "Mann-Whitney" in " ".join(c.value for c in at.caption)
    # the verdict: budgets with BH q < 0.05 (statsmodels) and P >= 0.56 are named as better, none: no difference
    verdict = " ".join(m.value for m in at.markdown)
    if tested:
        q = multipletests(p_values, method="fdr_bh")[1]
        better = [b for (b, e), qq in zip(effects, q) if qq < 0.05 and e >= 0.56]
        if better:
            assert "Model-based picks beat random ones** at " + f"budget {better[0]:g} " in verdict
        elif not any(qq < 0.05 and e <= 0.44 for (_, e), qq in zip(effects, q)):
            assert f"at none of the {tested} budgets tested" in verdict


@pytest.fixture(scope="module")
def long_sweep(tmp_path_factory):
    """A planted BOHB-like sweep of 5,000 evaluations (pipeline/benchmarks/planted_sweep.py): ~135 brackets, more
    than the bracket chart draws one line each for, the last one partial."""
    from pipeline.benchmarks.planted_sweep import STUDY, write_planted_sweep

    path = tmp_path_factory.mktemp("long-sweep") / "warehouse.duckdb"
    write_planted_sweep(5_000, path)
    return path, STUDY


def test_a_long_sweep_pools_its_brackets_per_s_and_a_click_selects_them_all(monkeypatch, long_sweep):
    path, study = long_sweep
    at = _sweep(monkeypatch, path, study)
    expected = {(s, r): (n, mean, best, brackets) for s, r, n, mean, best, brackets in sql(path, f"""
        select bracket_s, round, count(test_accuracy), avg(test_accuracy), max(test_accuracy),
               count(distinct bracket) filter (where test_accuracy is not null)
        from runs r where {_study_where()} group by all having count(test_accuracy) > 0""", [study])}
    assert sum(1 for _ in sql(path, f"select distinct bracket from runs r where {_study_where()}", [study])) > 60
    drawn = _chart_data(_sweep_charts(at)[0])
    got = {(row["bracket_s"], row["round"]): row for row in drawn.iter_rows(named=True)}
    assert got.keys() == expected.keys()
    for key, (n, mean, _, brackets) in expected.items():
        assert (got[key]["n"], got[key]["brackets"]) == (n, brackets) and got[key]["value"] == pytest.approx(mean)
    at.radio(key="sweep.statistic").set_value("max").run()
    drawn = _chart_data(_sweep_charts(at)[0])
    assert {(r["bracket_s"], r["round"]): pytest.approx(r["value"]) for r in drawn.iter_rows(named=True)} == {
        key: best for key, (_, _, best, _) in expected.items()}
    # the planted sweep's last bracket stops early: the schedule says so
    table = next(d.value for d in at.dataframe if "state" in d.value.columns)
    assert (table["state"] == "partial").sum() == 1
    at.session_state["sweep.brackets"] = {"selection": {"bracket": [{"bracket_s": 4}]}}
    at.run()
    assert not at.exception
    on_largest = _largest_finished(path, study, "r.bracket_s = ?", [4])
    assert len(at.dataframe[-1].value) == min(len(on_largest), 1000)
    assert set(at.dataframe[-1].value["bracket"]) <= {b for (b,) in sql(
        path, f"select distinct bracket from runs r where {_study_where()} and bracket_s = 4", [study])}
    assert f"{len(on_largest):,} finished evaluations: the " in " ".join(c.value for c in at.caption)


@pytest.mark.parametrize("kind,settings,space", [
    ("import", '{"eta": "abc", "min_budget": "x", "max_budget": null}', '{"lr": 5, "fixed": [1]}'),
    ("random_search", '{"eta": 1, "min_budget": 1, "max_budget": 9}', '{"lr": "not a spec"}'),
    ("random_search", '{"eta": 3, "min_budget": 9, "max_budget": 1e300}', '{"lr": {"low": "a", "when": {}}}'),
    ("bohb", "{}", None),
])
def test_odd_settings_and_spaces_in_the_warehouse_still_render(monkeypatch, sweep_warehouse, tmp_path, kind, settings,
                                                               space):
    """Settings and spaces are JSON a person or another tool may have written: the page shows what it can."""
    path = tmp_path / "odd.duckdb"
    shutil.copy(sweep_warehouse, path)
    con = duckdb.connect(str(path))
    con.execute("update studies set kind = ?, settings = ?, search_space = ? where name = ?",
                [kind, settings, space, IMPORTED])
    con.close()
    at = _sweep(monkeypatch, path, IMPORTED)
    evaluations = sql(path, f"select count(*) from runs r where {_study_where()}", [IMPORTED])[0][0]
    assert {m.label: m.value for m in at.metric}["Evaluations"] == f"{evaluations:,}"
