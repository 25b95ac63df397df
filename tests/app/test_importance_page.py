"""The Importance page under AppTest on the demo's ensemble and sweeps and a real imported hpbandster log: the
shares it sends to the browser equal fANOVA on a design built here with plain SQL from the warehouse file and
the study's search space (so the page's reading of the runs is checked, not only the algorithm, which
tests/analysis/test_importance.py checks against optuna), the n it states equals an SQL count, the selection
narrows the runs, the forest is fitted once per study version, and too few runs are refused in words.

    .venv/bin/python -m pytest tests/app/test_importance_page.py
"""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import polars as pl
import pyarrow.ipc
import pytest

from pipeline.analysis import importance
from tests.app.apptest import open_page, run_app
from tests.conftest import sql

IMPORTED = "imported"


@pytest.fixture(scope="module")
def warehouse(demo_with_log):
    """The demo with a real BOHB log imported beside it as study `imported` (tests/conftest.py)."""
    return demo_with_log


def _page(monkeypatch, path, study: str, **query):
    return open_page(run_app(monkeypatch, path, study=study, scale="raw", **query), "importance")


def _singles(at) -> pl.DataFrame:
    """The ranked bars' data as the browser receives it."""
    chart = at.get("vega_lite_chart")[0]
    data = [pl.from_arrow(pyarrow.ipc.open_stream(io.BytesIO(d.data.data)).read_all()) for d in chart.proto.datasets]
    return next(d for d in data if "ped_share" in d.columns)


def _label(choice) -> str:
    return json.dumps(choice) if isinstance(choice, bool) else str(choice)


def _design_from_sql(path, study: str, budget: float | None):
    """The study's finished runs (of one budget) as a Design, read with plain SQL: a category's code is its
    option's position among the space's choices (the dataset's too), a number is scaled by the space's range
    (log10 where the space says log); what does not vary is left out; dataset first where there are several,
    then the hyperparameters by name (the page's column order)."""
    space = json.loads(sql(path, "select search_space from studies where name = ?", [study])[0][0])
    where = "s.name = ? and r.status = 'ok' and r.test_accuracy is not null" + (
        " and r.budget = ?" if budget is not None else "")
    params = [study] + ([budget] if budget is not None else [])
    runs = sql(path, f"select r.run_id, r.test_accuracy, r.dataset from runs r join studies s using (study_id) "
                     f"where {where} order by r.run_id", params)
    ids = {run_id: k for k, (run_id, _, _) in enumerate(runs)}
    y = np.array([acc for _, acc, _ in runs])
    long = sql(path, f"select h.run_id, h.name, h.value, h.value_num from hyperparameters h join runs r using (run_id) "
                     f"join studies s using (study_id) where {where}", params)
    names = sorted({name for _, name, _, _ in long})
    features, columns = [], []
    seen = {d for *_, d in runs}
    datasets = [d for d in space.get("dataset", {}).get("choices", []) if d in seen] + sorted(
        seen - set(space.get("dataset", {}).get("choices", [])))
    if len(datasets) > 1:
        features.append(importance.Feature("dataset", levels=tuple(datasets)))
        columns.append(np.array([datasets.index(d) for *_, d in runs], dtype=float))
    for name in names:
        column = np.full(len(runs), np.nan)
        spec = space.get(name, {})
        rows = [(ids[r], value, num) for r, n, value, num in long if n == name]
        if "choices" in spec:
            labels = [_label(c) for c in spec["choices"]]
            for k, value, num in rows:
                column[k] = labels.index(value) if value in labels else [float(c) for c in spec["choices"]].index(num)
            feature = importance.Feature(name, levels=tuple(labels))
        else:
            for k, _, num in rows:
                column[k] = num
            low, high = spec["low"], spec["high"]
            feature = importance.Feature(name, low=np.log10(low), high=np.log10(high), log=True) if spec.get("log") \
                else importance.Feature(name, low=low, high=high, integer=bool(spec.get("integer")))
        seen = column[~np.isnan(column)]
        if len(np.unique(seen)) < 2 and not np.isnan(column).any():
            continue
        features.append(feature)
        columns.append(column)
    return importance.encode(features, columns), y


@pytest.mark.parametrize("study, budget", [("demo-ensemble", None), ("demo-hyperband", 9.0), ("demo-bohb", 3.0)])
def test_the_shares_drawn_equal_fanova_on_the_runs_read_with_sql(monkeypatch, warehouse, study, budget):
    query = {"budget": f"{budget:g}"} if budget else {}
    at = _page(monkeypatch, warehouse, study, **query)
    drawn = _singles(at)
    design, y = _design_from_sql(warehouse, study, budget)
    expected = {name: value for name, value, _ in importance.fanova(design, y, max_runs=None).single_table()}
    assert set(drawn["name"]) == set(expected)
    for row in drawn.iter_rows(named=True):
        assert row["importance"] == pytest.approx(expected[row["name"]], abs=1e-9), row["name"]
    assert drawn["importance"].to_list() == sorted(drawn["importance"], reverse=True)  # ranked
    ped = importance.ped_anova(design, y, target_quantile=0.1)
    shares = {name: value / sum(ped.values()) for name, value in ped.items()}
    for row in drawn.iter_rows(named=True):
        assert row["ped_share"] == pytest.approx(shares[row["name"]], abs=1e-9)
    assert f"{len(y):,} finished networks" in at.caption[0].value


def test_an_imported_log_and_every_demo_sweep_render_with_their_n(monkeypatch, warehouse):
    for study in ("demo-bohb", "demo-hyperband", "demo-random-search", IMPORTED):
        at = _page(monkeypatch, warehouse, study)
        # the default budget choice: each configuration on its largest budget, one run per configuration
        expected = sql(warehouse, "select count(distinct r.config_id) from runs r join studies s using (study_id) "
                                  "where s.name = ? and r.status = 'ok' and r.test_accuracy is not null and r.budget "
                                  "= (select max(budget) from runs q where q.study_id = r.study_id and q.config_id = "
                                  "r.config_id and q.status = 'ok')", [study])[0][0]
        assert f"{expected:,} finished networks" in at.caption[0].value, (study, at.caption[0].value)
        assert len(at.get("vega_lite_chart")) == 4  # ranked bars, pairs, a marginal, a pair's heat map
        budgets = sql(warehouse, "select distinct r.budget from runs r join studies s using (study_id) "
                                 "where s.name = ? order by 1", [study])
        words = ("each configuration on the largest budget it reached (so budget is a feature)" if len(budgets) > 1
                 else f"every configuration, all on budget {budgets[0][0]:g}")
        assert words in at.caption[0].value, (study, at.caption[0].value)


def test_conditionals_are_named_with_their_inactive_share(monkeypatch, warehouse):
    at = _page(monkeypatch, warehouse, "demo-hyperband", budget="9")
    active, total = sql(warehouse, "select count(h.run_id), count(*) from runs r join studies s using (study_id) "
                                   "left join hyperparameters h on h.run_id = r.run_id and h.name = 'momentum' "
                                   "where s.name = 'demo-hyperband' and r.budget = 9 and r.status = 'ok' "
                                   "and r.test_accuracy is not null")[0]
    notes = " ".join(m.value for m in at.markdown)
    assert f"momentum {1 - active / total:.0%}" in notes


def test_the_selection_narrows_the_runs(monkeypatch, warehouse):
    at = _page(monkeypatch, warehouse, "demo-ensemble", lo="0.5", hi="1")
    at.toggle(key="importance.selection").set_value(True).run()
    assert not at.exception
    inside = sql(warehouse, "select count(*) from runs r join studies s using (study_id) where s.name = "
                            "'demo-ensemble' and r.status = 'ok' and r.test_accuracy between 0.5 and 1")[0][0]
    assert f"{inside:,} finished networks" in at.caption[0].value and "in the selection" in at.caption[0].value


def test_the_forest_is_fitted_once_per_study_version_for_both_pages(monkeypatch, warehouse, tmp_path):
    path = tmp_path / "warehouse.duckdb"  # a file of its own: a cache entry of its own
    shutil.copy(warehouse, path)
    calls = []
    real = importance.fanova

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(importance, "fanova", counted)
    at = _page(monkeypatch, path, "demo-ensemble")
    names = at.selectbox(key="importance.marginal").options
    at.selectbox(key="importance.marginal").set_value(names[-1]).run()
    at.selectbox(key="importance.pair").set_value(3).run()
    assert not at.exception and len(calls) == 1
    at.switch_page("app_pages/parallel.py").run()  # its axis order is the same ranking: no second fit
    assert not at.exception and len(calls) == 1


def test_too_few_runs_are_refused_in_words(monkeypatch, warehouse):
    budget_runs = sql(warehouse, "select count(*) from runs r join studies s using (study_id) where s.name = ? "
                                 "and r.budget = 9 and r.status = 'ok'", [IMPORTED])[0][0]
    assert budget_runs < 10
    at = _page(monkeypatch, warehouse, IMPORTED, budget="9")
    assert f"{budget_runs} finished run(s) here: importance needs at least 10" in at.warning[0].value
    assert not at.get("vega_lite_chart")


@pytest.mark.slow
def test_the_planted_effects_are_found(planted_warehouse):
    """pipeline/benchmarks/planted_study.py plants main effects of learning rate, batch norm and conv depth (and a
    small one of filter size) and one interaction, sigmoid activation with constant initialization; the other
    hyperparameters do nothing. On the rank scale (per dataset) the dataset's level drops out."""
    from pipeline.app import importance_views, study_frame

    frame = study_frame.load(planted_warehouse, "planted")
    result = importance_views.study_importance(frame, scale="rank")
    assert result.runs == sql(planted_warehouse, "select count(*) from runs where status = 'ok' "
                                                 "and test_accuracy is not null")[0][0]
    shares = dict(zip(result.singles["name"], result.singles["importance"]))
    assert set(result.singles["name"].head(3)) == {"learning rate", "batch norm", "conv depth"}
    top_pair = result.pairs.row(0, named=True)
    assert {top_pair["a"], top_pair["b"]} == {"activation", "initialization"}
    inert = ["batch size", "augmentation", "optimizer", "momentum", "fc depth", "fc width", "conv width", "dataset"]
    assert all(shares[name] < 0.01 for name in inert if name in shares), {n: shares.get(n) for n in inert}
    assert shares["conv depth"] > 10 * max(shares[name] for name in inert if name in shares)


HOSTILE = ["lr'; drop table runs; --", "a.b[0]", "'quoted'", "datum.x", "<b>bold</b>", "ünïcode λ"]


@pytest.fixture(scope="module")
def wide_warehouse(tmp_path_factory):
    """An imported table of 400 networks with 40 number hyperparameters, six of them named to break code that
    builds identifiers or expressions from names, and an accuracy that only two of them move."""
    from pipeline import importers

    folder = tmp_path_factory.mktemp("importance-wide")
    rng = np.random.default_rng(7)
    names = HOSTILE + [f"h{i:02d}" for i in range(40 - len(HOSTILE))]
    table = pl.DataFrame({name: rng.uniform(0, 1, 400) for name in names})
    accuracy = 0.5 + 0.3 * table[HOSTILE[0]] - 0.2 * table[HOSTILE[1]] + rng.normal(0, 0.02, 400)
    table = table.with_columns(pl.Series("test accuracy", np.round(np.clip(accuracy, 0, 1), 4)))
    table.write_parquet(folder / "wide.parquet")
    path = folder / "warehouse.duckdb"
    importers.main(["table", str(folder / "wide.parquet"), "--study", "wide", "--warehouse", str(path)])
    return path


def test_forty_hyperparameters_with_hostile_names(monkeypatch, wide_warehouse):
    """Every name is drawn as it is, the two that matter come first, pairs are limited to the 20 strongest and
    the page says so, and the warehouse file and its neighbours are byte-identical afterwards."""
    from tests.conftest import sha256

    before = {p.name: sha256(p) for p in wide_warehouse.parent.iterdir() if p.is_file()}
    at = _page(monkeypatch, wide_warehouse, "wide")
    drawn = _singles(at)
    assert set(drawn["name"]) >= set(HOSTILE) and drawn.height == 40
    assert set(drawn["name"].head(2)) == set(HOSTILE[:2])
    notes = " ".join(m.value for m in at.markdown)
    assert "Pairs among the 20 most important of the 40 hyperparameters only" in notes
    for name in HOSTILE[2:]:
        at.selectbox(key="importance.marginal").set_value(name).run()
        assert not at.exception, name
    assert {p.name: sha256(p) for p in wide_warehouse.parent.iterdir() if p.is_file()} == before
