"""The Correlations page under AppTest on the demo's BOHB, Hyperband and random-search sweeps, a real imported
hpbandster log and the demo ensemble: the matrix the page sends to the browser checked pair by pair against
scipy on variables read with straight SQL (tests/analysis/test_correlation.py's study_variables), the n it
states against an SQL count, and what it says about the budget choice, conditionals and left-out columns."""

from __future__ import annotations

import io
import json

import numpy as np
import polars as pl
import pyarrow.ipc
import pytest

from pipeline import ensemble
from pipeline.app import correlation_chart
from tests.analysis.test_correlation import check_against_scipy, study_variables
from tests.app.apptest import open_page, run_app
from tests.conftest import TINY, sql

IMPORTED = "imported"
SWEEPS = ["demo-bohb", "demo-hyperband", "demo-random-search", IMPORTED]
LOG_SCALED = {"learning_rate", "lr", "budget"}  # the demo's and the imported log's log-scaled hyperparameters


@pytest.fixture(scope="module")
def warehouse(demo_with_log):
    """The demo with a real BOHB log imported beside it as study `imported` (tests/conftest.py)."""
    return demo_with_log


def _page(monkeypatch, path, study: str, **query):
    return open_page(run_app(monkeypatch, path, study=study, **query), "correlations")


def _matrix(at) -> pl.DataFrame:
    """The page's chart data, each pair once (a before b in the chart's order), significant as a boolean."""
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1
    # the chart's own variable order (its y scale's domain)
    domain = json.loads(charts[0].proto.spec)["layer"][0]["encoding"]["y"]["scale"]["domain"]
    order = {name: i for i, name in enumerate(domain)}
    data = pl.from_arrow(pyarrow.ipc.open_stream(io.BytesIO(charts[0].proto.datasets[0].data.data)).read_all())
    # both triangles are drawn: each pair must be there both ways, with the same numbers
    mirrored = data.rename({"row": "column", "column": "row"}).select(data.columns)
    assert data.sort("row", "column").equals(mirrored.sort("row", "column"))
    once = data.filter(pl.col("row").replace_strict(order) < pl.col("column").replace_strict(order))
    return once.select(pl.col("row").alias("a"), pl.col("column").alias("b"), "r", "n", "p", "q",
                       significant=pl.col("significant") == "yes")


def _text(at) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption])


@pytest.mark.parametrize("study", ["demo-ensemble", *SWEEPS])
def test_every_study_matches_scipy_pair_by_pair(monkeypatch, warehouse, study):
    at = _page(monkeypatch, warehouse, study)
    budget = None if study == "demo-ensemble" else "top"
    variables = study_variables(warehouse, study, budget=budget)
    runs = len(variables["accuracy"])
    text = _text(at)
    assert f"over {runs:,} finished networks" in text
    assert "Spearman's rank correlation (rho)" in text and "rank within dataset" in text
    cells = _matrix(at)
    check_against_scipy(cells, variables, method="spearman")
    assert f"of {cells['p'].is_not_null().sum()} pairs significant" in text
    # the line above the chart names the strongest significant correlations with accuracy, in order
    with_accuracy = cells.filter((pl.col("a") == "accuracy") | (pl.col("b") == "accuracy"), pl.col("significant"))
    strongest = with_accuracy.sort(pl.col("r").abs(), descending=True).head(5)
    named = [f"{row['b'] if row['a'] == 'accuracy' else row['a']} (rho = {row['r']:+.2f})"
             for row in strongest.iter_rows(named=True)]
    if named:
        assert f"Strongest significant correlations with accuracy: {', '.join(named)}" in text
    else:
        assert "No variable's correlation with accuracy is significant." in text
    if budget is None:
        assert "**loss** (no run records it)" in text and "**budget** (no run records it)" in text
        assert "the study has no budgets" in text
    else:
        assert "largest budget it reached" in text
    inactive = {name: int((~np.isnan(v)).sum()) for name, v in variables.items()
                if name in cells["a"].to_list() + cells["b"].to_list() and np.isnan(v).any()}
    for name, count in inactive.items():  # each conditional named with the runs where it is set
        assert f"{name} ({count:,})" in text, name
    assert ("pairwise deletion" in text) == bool(inactive)


@pytest.mark.parametrize("study", ["demo-bohb", IMPORTED])
def test_pearson_uses_log10_of_log_scaled_variables(monkeypatch, warehouse, study):
    at = _page(monkeypatch, warehouse, study)
    at.radio(key="correlations.method").set_value("pearson").run()
    assert not at.exception
    text = _text(at)
    assert "Pearson's correlation (r)" in text
    cells = _matrix(at)
    logged = LOG_SCALED & set(cells["a"].to_list() + cells["b"].to_list())
    assert "budget" in logged and logged - {"budget"}
    said = text.split("Pearson on log10 of the log-scaled variables: ")[1].split(".")[0]
    assert set(said.split(", ")) == logged
    check_against_scipy(cells, study_variables(warehouse, study, budget="top"), method="pearson", log=logged)


def test_one_budget_leaves_the_budget_out_and_ignores_the_selection(monkeypatch, warehouse):
    study = "demo-hyperband"
    largest, = sql(warehouse, "select max(budget) from runs join studies using (study_id) where name = ?", [study])[0]
    at = _page(monkeypatch, warehouse, study, budget=f"{largest:g}", lo="0.5", hi="1", scale="rank")
    variables = study_variables(warehouse, study, budget=largest)
    text = _text(at)
    # the accuracy range is not applied: every finished network on the budget counts
    assert f"over {len(variables['accuracy']):,} finished networks" in text
    assert "selection does not apply" in text
    assert f"**budget** ({largest:g} in every run)" in text
    assert f"evaluations on budget {largest:g} only" in text
    cells = _matrix(at)
    assert "budget" not in cells["a"].to_list() + cells["b"].to_list()
    check_against_scipy(cells, variables, method="spearman")


@pytest.mark.slow
def test_too_few_networks_is_said_in_words(monkeypatch, tmp_path):
    path = tmp_path / "two.duckdb"
    ensemble.main(["--study", "two", "--runs", "2", "--workers", "1", "--warehouse", str(path), *TINY])
    at = _page(monkeypatch, path, "two")
    assert not at.get("vega_lite_chart")
    finished, = sql(path, "select count(*) from runs where status = 'ok' and test_accuracy is not null")[0]
    assert [w.value for w in at.warning] == [
        f"Study 'two' has {finished} finished network(s) at this budget choice: a correlation needs at least 3."]


def test_a_study_above_the_sample_limit_is_correlated_on_a_stated_sample(monkeypatch, warehouse):
    """The limit is 100,000 runs; here lowered to 500 so that the demo ensemble's 1,000 networks cross it."""
    monkeypatch.setattr(correlation_chart, "SAMPLE_LIMIT", 500)
    at = _page(monkeypatch, warehouse, "demo-ensemble")
    text = _text(at)
    assert "over a uniform sample of 500 finished networks" in text
    cells = _matrix(at)
    assert cells["n"].max() == 500 and (cells["n"] == 500).all()  # the ensemble has no conditional
