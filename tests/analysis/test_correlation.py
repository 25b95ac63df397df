"""Correlations (pipeline/analysis/correlation.py, the page's pipeline/app/correlation_chart.py) against scipy.

Every r, p and n is recomputed with scipy.stats.spearmanr / pearsonr on variables read straight from the
warehouse file with duckdb (hyperparameters from the long table, accuracy ranked with scipy), every q with
scipy.stats.false_discovery_control over those p-values: on the demo ensemble (categories, ordinals, a
log-scaled number) and on an imported hpbandster log (a conditional hyperparameter, budgets, loss).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy import stats

from pipeline.analysis import correlation
from pipeline.app import correlation_chart, study_frame
from tests.conftest import sql
from tests.hpbandster_logs import import_log, run_tiny_bohb


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """A real BOHB sweep's log (momentum only for sgd, lr on a log scale, budgets 1..9), imported."""
    folder = tmp_path_factory.mktemp("correlation_import")
    run_tiny_bohb(folder / "log", iterations=4)
    import_log(folder / "log", folder / "warehouse.duckdb", "theirs")
    return folder / "warehouse.duckdb"


def study_variables(path, study: str, *, budget: str | float | None) -> dict[str, np.ndarray]:
    """Every variable of the study's finished runs as the page should see it, from SQL and scipy only:
    accuracy as the rank within dataset, loss, budget, numeric hyperparameters as numbers and each option
    of a text one as 0/1 (nan where the hyperparameter is not set in a run). budget: 'top' (each configuration's
    evaluation on its largest budget), one budget, or None (every run)."""
    top = budget == "top"
    runs = sql(path, """
        with chosen as (
            select r.* from runs r join studies s using (study_id)
            where s.name = ? and (? or ? is null or r.budget = ?)
            qualify not ? or row_number() over (
                partition by coalesce(config_id, run_id::varchar) order by budget desc, run_id desc) = 1)
        select run_id, coalesce(dataset, '?'), test_accuracy, loss, budget from chosen
        where status = 'ok' and test_accuracy is not null order by run_id""",
               [study, top, None if top else budget, None if top else budget, top])
    ids = [row[0] for row in runs]
    datasets = np.array([row[1] for row in runs])
    accuracy = np.array([row[2] for row in runs], dtype=float)
    rank = np.empty(len(runs))
    for name in set(datasets):
        mine = datasets == name
        rank[mine] = (stats.rankdata(accuracy[mine]) - 0.5) / mine.sum()
    out = {"accuracy": rank,
           "loss": np.array([np.nan if row[3] is None else row[3] for row in runs], dtype=float),
           "budget": np.array([np.nan if row[4] is None else row[4] for row in runs], dtype=float)}
    for name in sorted(set(datasets)):
        out[f"dataset = {name}"] = (datasets == name).astype(float)
    position = {run_id: i for i, run_id in enumerate(ids)}
    long = sql(path, "select run_id, name, value, value_num from hyperparameters where run_id in (select unnest(?))",
               [ids])
    # booleans are stored with a value_num too, but they are categories of two options ("name = true")
    text = {name for _, name, value, num in long if num is None or value in ("true", "false")}
    numeric = {name for _, name, _, num in long if num is not None} - text
    for name in numeric | text:
        values = np.full(len(ids), np.nan) if name in numeric else np.full(len(ids), None, dtype=object)
        for run_id, n, value, num in long:
            if n == name:
                values[position[run_id]] = num if name in numeric else value
        if name in numeric:
            out[name] = values
            continue
        for option in {v for v in values if v is not None}:
            out[f"{name} = {option}"] = np.array([np.nan if v is None else float(v == option) for v in values])
    return out


def shown_variables(variables: dict[str, np.ndarray]) -> set[str]:
    """The variables the matrix should have: those with two distinct values, a category of two options as
    one column (its second option in sorted order)."""
    varying = {name for name, v in variables.items() if np.unique(v[~np.isnan(v)]).size > 1}
    options: dict[str, list[str]] = {}
    for name in varying:
        if " = " in name:
            options.setdefault(name.split(" = ")[0], []).append(name)
    return varying - {min(names) for names in options.values() if len(names) == 2}


def check_against_scipy(cells: pl.DataFrame, variables: dict[str, np.ndarray], *, method: str,
                        log: set[str] = frozenset()) -> None:
    """Each pair's n, r and p against scipy on the rows where both variables are set (log10 of the log-scaled
    ones for Pearson), q against scipy's Benjamini-Hochberg over those p, significant as q < 0.05."""
    test = stats.spearmanr if method == "spearman" else stats.pearsonr
    ps, qs = [], []
    for row in cells.iter_rows(named=True):
        a, b = variables[row["a"]], variables[row["b"]]
        if method == "pearson":
            a = np.log10(a) if row["a"] in log else a
            b = np.log10(b) if row["b"] in log else b
        both = ~np.isnan(a) & ~np.isnan(b)
        assert row["n"] == both.sum(), row
        if np.ptp(a[both]) == 0 or np.ptp(b[both]) == 0:
            assert row["r"] is None and row["p"] is None and not row["significant"], row
            continue
        expected = test(a[both], b[both])
        assert row["r"] == pytest.approx(expected.statistic, abs=1e-9), row
        assert row["p"] == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300), row
        ps.append(expected.pvalue)
        qs.append(row["q"])
    assert ps, "no pair was tested"
    assert np.allclose(qs, stats.false_discovery_control(ps, method="bh"), rtol=1e-6, atol=1e-300)
    assert (cells["significant"] == (cells["q"].fill_null(1.0) < 0.05)).all()


@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_demo_ensemble_matches_scipy_cell_by_cell(demo_warehouse, method):
    frame = study_frame.load(demo_warehouse, "demo-ensemble")
    result = correlation_chart.study_correlations(frame, method=method, scale="rank")
    variables = study_variables(demo_warehouse, "demo-ensemble", budget=None)
    # every variable that varies is in the matrix, named as the page names it, accuracy first
    assert result.variables[0] == "accuracy"
    assert set(result.variables) == shown_variables(variables)
    assert set(result.left_out) == {"loss", "budget"}  # an ensemble records neither
    # no pair of options of the same category: one option excludes the others
    same = result.cells.filter(pl.col("a").str.split(" = ").list.first() == pl.col("b").str.split(" = ").list.first())
    assert same.is_empty(), same
    k = len(result.variables)
    categories = {name.split(" = ")[0] for name in result.variables if " = " in name}
    pairs_within = sum(math.comb(sum(v.startswith(p + " = ") for v in result.variables), 2) for p in categories)
    assert result.cells.height == math.comb(k, 2) - pairs_within
    assert result.runs == len(variables["accuracy"])
    check_against_scipy(result.cells, variables, method=method, log={"learning_rate"})
    assert result.logged == (("learning_rate",) if method == "pearson" else ())


@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_imported_sweep_conditional_pairwise_and_log(imported, method):
    """momentum is set only for sgd: its pairs are over those runs; lr and the budget are log-scaled (Pearson on
    log10). The top budget choice: each configuration on the largest budget it reached."""
    frame = study_frame.load(imported, "theirs").chosen(study_frame.TOP)
    result = correlation_chart.study_correlations(frame, method=method, scale="rank")
    variables = study_variables(imported, "theirs", budget="top")
    sgd = int(np.nansum(variables["optimizer = sgd"]))
    assert result.conditional == {"momentum": sgd}
    assert 3 <= sgd < result.runs
    momentum = result.cells.filter((pl.col("a") == "momentum") | (pl.col("b") == "momentum"))
    assert (momentum["n"] == sgd).all() and momentum.height == len(result.variables) - 1
    others = result.cells.filter((pl.col("a") != "momentum") & (pl.col("b") != "momentum"))
    assert (others["n"] == result.runs).all()  # complete pairs keep every run, not only the sgd ones
    assert "optimizer = sgd" in result.variables and "optimizer = adam" not in result.variables  # two options
    assert {"loss", "budget", "lr", "layers"} <= set(result.variables)
    assert "dataset" in result.left_out  # an imported log without datasets: one value
    assert result.runs == len(variables["accuracy"])
    check_against_scipy(result.cells, variables, method=method, log={"lr", "budget"})
    assert set(result.logged) == ({"lr", "budget"} if method == "pearson" else set())


def test_design_leaves_out_what_does_not_vary_and_keeps_nulls():
    values = pl.DataFrame({
        "accuracy": [0.1, 0.5, 0.9, 0.3, 0.7],
        "loss": [None] * 5,
        "budget": [9.0] * 5,
        "optimizer": ["adam", "sgd", "rms", "sgd", None],
        "bn": ["false", "true", "true", "false", "true"],
    }, schema_overrides={"loss": pl.Float64})
    data = correlation.design(values)
    assert data.left_out == {"loss": "no run records it", "budget": "9 in every run"}
    assert data.values.columns == ["accuracy", "optimizer = adam", "optimizer = rms", "optimizer = sgd", "bn = true"]
    assert data.values["optimizer = sgd"].to_list() == [0.0, 1.0, 0.0, 1.0, None]  # inactive: unknown, not 0
    logged = correlation.design(pl.DataFrame({"lr": [0.001, 0.1, 0.01], "b": [0.0, 1.0, 3.0]}), log={"lr", "b"},
                                use_log=True)
    assert logged.logged == ("lr",)  # b has a 0: no log10, and not said to be logged
    assert logged.values["lr"].to_list() == pytest.approx([-3.0, -1.0, -2.0])
    assert logged.values["b"].to_list() == [0.0, 1.0, 3.0]


def test_a_pair_constant_on_its_runs_is_undefined_and_not_counted_in_the_correction():
    # c is set only where b is 1: on those runs b is constant, so (b, c) has no correlation
    values = pl.DataFrame({"a": [1.0, 2, 3, 4, 5, 6], "b": [0.0, 1, 1, 1, 0, 0],
                           "c": [None, 3.0, 1.0, 2.0, None, None]})
    cells = correlation.evaluate(correlation.design(values))
    pair = cells.filter((pl.col("a") == "b") & (pl.col("b") == "c")).row(0, named=True)
    assert pair["n"] == 3 and pair["r"] is None and pair["q"] is None and not pair["significant"]
    tested = cells.filter(pl.col("p").is_not_null())
    assert tested.height == 2
    assert tested["q"].to_list() == pytest.approx(list(stats.false_discovery_control(tested["p"].to_numpy())))
    with pytest.raises(ValueError, match="method"):
        correlation.evaluate(correlation.design(values), method="kendall")


@pytest.mark.slow
def test_100000_runs_of_43_columns_are_exact():
    """The page's size: 100,000 runs of 43 columns with a conditional, exact against scipy on a few pairs (its
    time is the page benchmark's: pipeline/benchmarks/app.py, BENCHMARKS.md)."""
    rng = np.random.default_rng(0)
    n = 100_000
    optimizer = rng.choice(["adam", "sgd", "rms"], n)
    frame = pl.DataFrame({
        "accuracy": rng.random(n), "budget": rng.choice([1.0, 3, 9, 27, 81], n), "optimizer": optimizer,
        "momentum": np.where(optimizer == "sgd", rng.random(n), np.nan), "lr": 10 ** rng.uniform(-4, -1, n),
        **{f"c{k}": rng.choice(["a", "b", "c", "d"], n) for k in range(7)},
        **{f"x{k}": rng.choice([1.0, 2, 4, 8], n) for k in range(8)}}).with_columns(pl.col("momentum").fill_nan(None))
    data = correlation.design(frame)
    assert data.values.width == 43
    cells = correlation.evaluate(data)
    for a, b in [("accuracy", "momentum"), ("lr", "x3"), ("momentum", "c2 = b"), ("budget", "accuracy")]:
        row = cells.filter(((pl.col("a") == a) & (pl.col("b") == b)) | ((pl.col("a") == b) & (pl.col("b") == a)))
        x, y = data.values[a].to_numpy(), data.values[b].to_numpy()
        both = ~np.isnan(x) & ~np.isnan(y)
        expected = stats.spearmanr(x[both], y[both])
        assert row["r"][0] == pytest.approx(expected.statistic, abs=1e-9)
        assert row["p"][0] == pytest.approx(expected.pvalue, rel=1e-6)

