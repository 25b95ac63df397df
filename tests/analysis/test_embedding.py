"""PCA and t-SNE of configurations (pipeline/analysis/embedding.py) against scikit-learn on features built here.

The reference reads the finished runs and their hyperparameters with straight SQL (the long `hyperparameters`
table, not the wide one the app reads), builds the features with scikit-learn's own StandardScaler and
OneHotEncoder under the rules the page states, and fits sklearn's PCA with a full SVD (the app uses the
covariance solver). Studies: the demo ensemble, the demo's BOHB sweep (each configuration on its largest
budget) and Hyperband sweep (budget 9 alone), and a real hpbandster BOHB log imported beside them (a
log-scaled learning rate, a categorical optimizer and a conditional momentum).
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from pipeline.analysis import embedding
from pipeline.app import study_frame, study_views
from tests.conftest import sql
from tests.hpbandster_logs import demo_with_log

IMPORTED = "imported"
# each configuration's evaluation on the largest budget it reached ('top'), one budget, or every run (None)
CHOSEN = """
    with chosen as (
        select r.* from runs r join studies s using (study_id)
        where s.name = $study and ($top or $budget is null or r.budget = $budget)
        qualify not $top or row_number() over (
            partition by coalesce(config_id, run_id::varchar) order by budget desc, run_id desc) = 1)
    select run_id, test_accuracy from chosen where status = 'ok' and test_accuracy is not null order by run_id"""


@pytest.fixture(scope="module")
def warehouse(demo_warehouse, tmp_path_factory):
    """The demo with a real tiny BOHB log imported as `imported` (budgets 1, 3, 9; momentum only for sgd)."""
    return demo_with_log(demo_warehouse, tmp_path_factory.mktemp("embedding"), IMPORTED, iterations=4)


def reference(path, study: str, *, budget: str | float | None = None) -> dict:
    """run ids, raw accuracy, the feature matrix and its column names, from SQL and scikit-learn alone."""
    top = budget == "top"
    runs = sql(path, CHOSEN, {"study": study, "top": top, "budget": None if top else budget})
    ids = np.array([r[0] for r in runs])
    position = {run_id: i for i, run_id in enumerate(ids)}
    space = json.loads(sql(path, "select search_space from studies where name = ?", [study])[0][0] or "{}")
    long = sql(path, "select run_id, name, value, value_num from hyperparameters where run_id in (select unnest(?))",
               [ids.tolist()])
    names = sorted({name for _, name, _, _ in long})
    blocks, columns = [], []
    for name in names:
        rows = [(position[r], value, num) for r, n, value, num in long if n == name]
        active = np.zeros(len(ids), dtype=bool)
        active[[i for i, _, _ in rows]] = True
        numeric = all(num is not None and value not in ("true", "false") for _, value, num in rows)
        if numeric:
            x = np.full(len(ids), np.nan)
            for i, _, num in rows:
                x[i] = num
            seen = x[active]
            said = space.get(name, {}).get("log") if isinstance(space.get(name), dict) else None
            logged = bool((seen > 0).all()) and (said if said is not None else seen.max() / seen.min() >= 100)
            if logged:
                x = np.log10(x)
            block = np.zeros((len(ids), 1))
            block[active] = StandardScaler().fit_transform(x[active][:, None])
            kept = [f"{name} (log10)" if logged else name]
            if np.ptp(x[active]) == 0:
                block, kept = np.zeros((len(ids), 0)), []
        else:
            text = np.array([value for _, value, _ in sorted(rows)], dtype=object)[:, None]
            encoder = OneHotEncoder(sparse_output=False).fit(text)
            block = np.zeros((len(ids), len(encoder.categories_[0])))
            block[active] = encoder.transform(text)
            kept = [f"{name} = {c}" for c in encoder.categories_[0]]
            if len(kept) < 2:  # a single option is no feature (where it is set is the `active` column's)
                block, kept = np.zeros((len(ids), 0)), []
        if not active.all():
            block = np.column_stack([block, active.astype(float)])
            kept.append(f"{name} active")
        if not kept:
            continue
        blocks.append(block)
        columns += kept
    return {"ids": ids, "accuracy": np.array([r[1] for r in runs]), "matrix": np.column_stack(blocks),
            "columns": columns}


def sklearn_pca(ref: dict) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    model = PCA(n_components=2, svd_solver="full").fit(ref["matrix"])
    loadings = dict(zip(ref["columns"], model.components_.T))
    return model.transform(ref["matrix"]), model.explained_variance_ratio_, loadings


def same_up_to_sign(ours: np.ndarray, theirs: np.ndarray, atol: float = 1e-6) -> bool:
    """Each axis of a PCA is defined up to its sign."""
    return all(min(np.abs(ours[:, k] - s * theirs[:, k]).max() for s in (1, -1)) < atol for k in range(2))


def _values(path, study: str, budget=None) -> tuple[pl.DataFrame, list[str], dict[str, bool]]:
    """What the page embeds: run_values of the study at the budget choice, its hyperparameter columns, what
    the space says about each number's scale (`log`, where written)."""
    frame = study_frame.load(path, study).chosen(budget)
    values = study_views.run_values(frame, scale="raw")
    space = json.loads(sql(path, "select search_space from studies where name = ?", [study])[0][0] or "{}")
    return values, values.columns[5:], {n: spec["log"] for n, spec in space.items() if "log" in spec}


@pytest.mark.parametrize("study,budget", [("demo-ensemble", None), ("demo-bohb", "top"), ("demo-hyperband", 9.0),
                                          (IMPORTED, None), (IMPORTED, "top")])
def test_pca_matches_scikit_learn_on_features_built_from_sql(warehouse, study, budget):
    values, hyperparameters, log = _values(warehouse, study, budget)
    ref = reference(warehouse, study, budget=budget)
    result = embedding.embed(values, hyperparameters, method="PCA", log=log, draw=10**9)
    points = result.points.sort("run_id")
    assert points["run_id"].to_list() == ref["ids"].tolist() and result.runs == len(ref["ids"]) > 10
    assert np.allclose(points["accuracy"].to_numpy(), ref["accuracy"])
    assert sorted(result.features.columns) == sorted(c for c in ref["columns"])
    coords, ratio, loadings = sklearn_pca(ref)
    assert np.allclose(result.explained, ratio, atol=1e-9), (result.explained, ratio)
    assert same_up_to_sign(points.select("x", "y").to_numpy(), coords)
    for row in result.loadings.iter_rows(named=True):
        theirs = loadings[row["feature"]]
        assert min(abs(row["pc1"] - s * theirs[0]) for s in (1, -1)) < 1e-6, row
        assert min(abs(row["pc2"] - s * theirs[1]) for s in (1, -1)) < 1e-6, row
    # the axis make-up sums each hyperparameter's squared loadings: shares of an axis add up to 1
    shares = embedding.axis_makeup(result.loadings, "pc1", top=100)
    assert abs(sum(s for _, s in shares) - 1) < 1e-9
    if study == IMPORTED:  # momentum is set for sgd only: an `active` column; lr spans two decades
        assert "momentum" in result.features.conditional and "momentum active" in result.features.columns
        assert "lr" in result.features.logged
    if study.startswith("demo-"):  # the space's word: momentum and weight decay are uniform, learning rate log
        assert "momentum" not in result.features.logged and "weight_decay" not in result.features.logged
        assert "learning_rate" in result.features.logged


def test_feature_rules_on_a_small_frame():
    """Inactive -> 0 after scaling plus an `active` column; two decades -> log10; no variation -> no column
    (a conditional one keeps its `active` column)."""
    values = pl.DataFrame({"lr": [1e-4, 1e-3, 1e-2, 1e-1], "momentum": [0.5, None, 0.9, None],
                           "width": [8.0, 8.0, 8.0, 8.0], "opt": ["sgd", "adam", "sgd", "adam"],
                           "act": ["relu", None, "relu", None]})
    feats = embedding.features(values, values.columns)
    cols = dict(zip(feats.columns, feats.matrix.T))
    assert np.allclose(cols["lr (log10)"], StandardScaler().fit_transform(np.log10(values["lr"].to_numpy())[:, None])
                       .ravel())
    assert np.allclose(cols["momentum"], [-1, 0, 1, 0]) and np.allclose(cols["momentum active"], [1, 0, 1, 0])
    assert np.allclose(cols["opt = adam"], [0, 1, 0, 1]) and np.allclose(cols["opt = sgd"], [1, 0, 1, 0])
    # one value where active: no one-hot column (it would repeat `act active`), the `active` column stays
    assert "act = relu" not in cols and np.allclose(cols["act active"], [1, 0, 1, 0])
    assert feats.dropped == ("width",) and feats.logged == ("lr",) and feats.conditional == ("momentum", "act")


def test_too_few_runs_or_features_are_refused_in_words():
    two = pl.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    with pytest.raises(embedding.EmbeddingError, match="at least 3 finished networks; this choice has 2"):
        embedding.embed(two, ["a", "b"])
    flat = pl.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": ["x", "x", "x", "x"]})
    with pytest.raises(embedding.EmbeddingError, match="at least two feature columns"):
        embedding.embed(flat, ["a", "b"])
    few = pl.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": ["x", "y", "x", "z"]})
    with pytest.raises(embedding.EmbeddingError, match="t-SNE needs at least 10"):
        embedding.embed(few, ["a", "b"], method="t-SNE")


def test_tsne_keeps_neighbours_and_draws_a_stated_sample(warehouse):
    """t-SNE on the imported log's runs: its 2-d map keeps each run's nearest neighbours in feature space
    (sklearn's trustworthiness, 1 = perfectly, against a random placement of the same points); with `draw`
    below the runs, exactly that many of them are kept, each with its own coordinates."""
    values, hyperparameters, log = _values(warehouse, IMPORTED)
    ref = reference(warehouse, IMPORTED)
    result = embedding.embed(values, hyperparameters, method="t-SNE", log=log, draw=10**9)
    n = result.runs
    assert result.perplexity == min(embedding.TSNE_PERPLEXITY, (n - 1) / 3) and result.seconds > 0
    coords = result.points.sort("run_id").select("x", "y").to_numpy()
    k = 3
    ours = trustworthiness(ref["matrix"], coords, n_neighbors=k)
    rng = np.random.default_rng(0)
    chance = trustworthiness(ref["matrix"], rng.normal(size=coords.shape), n_neighbors=k)
    assert ours > 0.8 and ours > chance + 0.2, (ours, chance)  # measured: 0.87 against 0.47
    pca = embedding.embed(values, hyperparameters, log=log, draw=10)
    everything = embedding.embed(values, hyperparameters, log=log, draw=10**9)
    assert pca.points.height == 10 and pca.runs == n
    assert pca.points.join(everything.points, on="run_id").filter(
        (pl.col("x") != pl.col("x_right")) | (pl.col("y") != pl.col("y_right"))).is_empty()
