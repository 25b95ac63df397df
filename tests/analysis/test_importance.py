"""fANOVA and PED-ANOVA (pipeline/analysis/importance.py) against independent computations: a brute-force
integral of the fitted trees on a grid, optuna's own evaluators on the same data, and a function whose important
parameters and interaction are known.

    .venv/bin/python -m pytest tests/analysis/test_importance.py
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor

from pipeline.analysis import importance as imp

optuna = pytest.importorskip("optuna")  # a test-only dependency (pyproject's test extra)


def _study(X: np.ndarray, y: np.ndarray, distributions: dict, values) -> optuna.Study:
    """An optuna study holding the same runs (maximized: larger y is better)."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize")
    for r in range(len(y)):
        params = {name: values[name](X[r, i]) for i, name in enumerate(distributions)}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=float(y[r])))
    return study


def test_fanova_singles_equal_optunas_on_the_same_forest():
    """optuna's FanovaImportanceEvaluator fits sklearn's forest on the raw values; ours on values scaled to [0, 1].
    With the same forest settings and seed the trees split the same runs, so V_i / V must agree to rounding."""
    from optuna.distributions import FloatDistribution
    from optuna.importance import FanovaImportanceEvaluator

    rng = np.random.default_rng(1)
    n, highs = 300, np.array([1.0, 2.0, 3.0, 4.0])
    X = rng.uniform(0, 1, (n, 4)) * highs
    y = 3 * X[:, 0] + 2 * np.sin(X[:, 1]) + X[:, 0] * X[:, 2] + 0.1 * rng.normal(size=n)
    names = [f"x{i}" for i in range(4)]
    distributions = {name: FloatDistribution(0.0, float(high)) for name, high in zip(names, highs)}
    theirs = FanovaImportanceEvaluator(seed=0).evaluate(_study(X, y, distributions, dict.fromkeys(names, float)))

    design = imp.encode([imp.Feature(name, low=0.0, high=float(high)) for name, high in zip(names, highs)],
                        list(X.T))
    ours = imp.fanova(design, y, n_trees=64, max_depth=64, min_samples_leaf=1, seed=0, pair_features=0)
    for name, value, _ in ours.single_table():
        assert value == pytest.approx(float(theirs[name]), abs=1e-6), name


def test_ped_anova_equals_optunas_with_a_category_a_log_scale_and_an_integer():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    from optuna.importance import PedAnovaImportanceEvaluator

    rng = np.random.default_rng(2)
    n = 400
    lr = 10 ** rng.uniform(-4, -1, n)
    width = rng.uniform(0, 10, n)
    option = rng.integers(0, 3, n)
    layers = rng.integers(3, 6, n)
    y = -np.abs(np.log10(lr) + 2.5) + 0.3 * (option == 1) + 0.05 * width - 0.1 * layers + 0.2 * rng.normal(size=n)
    X = np.column_stack([lr, width, option, layers])
    distributions = {"lr": FloatDistribution(1e-4, 1e-1, log=True), "width": FloatDistribution(0.0, 10.0),
                     "option": CategoricalDistribution(["a", "b", "c"]), "layers": IntDistribution(3, 5)}
    values = {"lr": float, "width": float, "option": lambda code: "abc"[int(code)], "layers": int}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = PedAnovaImportanceEvaluator(target_quantile=0.1).evaluate(_study(X, y, distributions, values))
    features = [imp.Feature("lr", low=-4.0, high=-1.0, log=True), imp.Feature("width", low=0.0, high=10.0),
                imp.Feature("option", levels=("a", "b", "c")), imp.Feature("layers", low=3, high=5, integer=True)]
    ours = imp.ped_anova(imp.encode(features, list(X.T)), y, target_quantile=0.1)
    for name in distributions:
        assert ours[name] == pytest.approx(float(theirs[name]), rel=1e-9), name
    assert max(ours, key=ours.get) == "lr"


def _known_function(n: int, seed: int = 3):
    """Six hyperparameters; only a and b matter, through a + b and one interaction a x b. `noise` is a category,
    `child` a conditional number active in half the runs; neither changes the objective."""
    rng = np.random.default_rng(seed)
    a, b, c, d = (rng.uniform(0, 1, n) for _ in range(4))
    noise = rng.integers(0, 4, n).astype(float)
    child = np.where(rng.uniform(size=n) < 0.5, rng.uniform(0, 1, n), np.nan)
    y = 2 * a + np.sin(3 * b) + 4 * (a - 0.5) * (b - 0.5) + 0.05 * rng.normal(size=n)
    features = [imp.Feature(name) for name in "abcd"] + [imp.Feature("noise", levels=("w", "x", "y", "z")),
                                                         imp.Feature("child")]
    return imp.encode(features, [a, b, c, d, noise, child]), y


def test_fanova_recovers_exactly_the_two_parameters_and_their_interaction():
    design, y = _known_function(3000)
    result = imp.fanova(design, y, seed=0)
    singles = result.single_table()
    assert {singles[0][0], singles[1][0]} == {"a", "b"}
    assert all(value < 0.01 for _, value, _ in singles[2:]), singles
    pairs = result.pair_table()
    assert pairs[0][:2] == ("a", "b") and pairs[0][2] > 0.02, pairs[:3]
    assert all(value < 0.01 for *_, value, _ in pairs[1:]), pairs[:4]
    # The variance fractions of a model that is the sum of two effects and one interaction add up to about 1:
    # what is left is the forest's own noise (higher-order terms of noise features).
    explained = result.singles[:, 0].sum() + result.pairs[:, :, 0][np.triu_indices(6, 1)].sum()
    assert 0.9 < explained <= 1.0 + 1e-9
    assert result.fit > 0.9  # the forest predicts the function (out-of-bag R^2)


def _brute_force(tree, features, shares, points):
    """V_i / V of one tree by enumerating a grid: each feature's points with their probability (a number: a fine
    uniform grid on [0, 1]; a category: its codes; the inactive level at -1 with its share), every combination
    predicted by the tree itself. Independent of the cell decomposition under test."""
    grids, weights = [], []
    for feature, share, count in zip(features, shares, points):
        if feature.categorical:
            values = np.arange(len(feature.levels), dtype=float)
        else:
            values = (np.arange(count) + 0.5) / count
        w = np.full(values.size, (1 - share) / values.size)
        if share > 0:
            values, w = np.append(values, imp.INACTIVE), np.append(w, share)
        grids.append(values)
        weights.append(w)
    mesh = np.array(list(itertools.product(*grids)))
    prob = np.prod(np.array(list(itertools.product(*weights))), axis=1)
    f = tree.predict(mesh).reshape([g.size for g in grids])
    prob = prob.reshape(f.shape)
    mean = (f * prob).sum()
    variance = ((f - mean) ** 2 * prob).sum()
    fractions = []
    for i in range(len(features)):
        others = tuple(k for k in range(len(features)) if k != i)
        marginal = (f * prob).sum(axis=others) / prob.sum(axis=others)
        fractions.append(((marginal - mean) ** 2 * weights[i]).sum() / variance)
    return np.array(fractions)


def test_fanova_equals_a_brute_force_integral_of_each_tree_with_categories_and_inactive_values():
    rng = np.random.default_rng(4)
    n = 400
    a = rng.uniform(0, 1, n)
    option = rng.integers(0, 3, n).astype(float)
    child = np.where(option == 2, np.nan, rng.uniform(0, 1, n))  # inactive for one option, as a conditional is
    y = a + 0.5 * (option == 1) + np.nan_to_num(child, nan=0.3) ** 2 + 0.1 * rng.normal(size=n)
    features = [imp.Feature("a"), imp.Feature("option", levels=("p", "q", "r")), imp.Feature("child")]
    design = imp.encode(features, [a, option, child])
    result = imp.fanova(design, y, n_trees=4, max_depth=5, min_samples_leaf=5, pair_features=0, seed=1)
    forest = RandomForestRegressor(n_estimators=4, max_depth=5, min_samples_leaf=5, oob_score=True,
                                   random_state=1).fit(design.X, y)
    shares = design.inactive_shares
    assert shares[2] == pytest.approx(np.isnan(child).mean())
    # On a uniform grid of 500 points per number the integral is exact up to the cells cut by a threshold.
    brute = np.array([_brute_force(tree, features, shares, (500, 0, 500)) for tree in forest.estimators_])
    assert result.singles[:, 0] == pytest.approx(brute.mean(axis=0), abs=5e-3)


def test_marginals_are_the_grid_means_and_name_inactive_as_none():
    design, y = _known_function(1500)
    result = imp.fanova(design, y, seed=0)
    values, mean, std = result.marginal("a")
    assert len(values) == imp.GRID and values[0] == 0.0 and values[-1] == 1.0
    assert mean[-1] - mean[0] > 1.5  # 2 a dominates: the curve rises by about 2
    assert np.all(std >= 0)
    values, mean, _ = result.marginal("child")
    assert values[0] is None and len(values) == imp.GRID + 1  # the inactive level first
    levels, _, _ = result.marginal("noise")
    assert levels == ["w", "x", "y", "z"]
    va, vb, grid = result.pair_marginal("a", "b")
    assert grid.shape == (len(va), len(vb))
    # Averaging the pair's grid over b (uniform) gives a's marginal: the same tree integral taken twice.
    assert grid.mean(axis=1) == pytest.approx(result.marginal("a")[1], abs=0.02)


def test_a_log_feature_reports_its_own_values():
    feature = imp.Feature("lr", low=-4.0, high=-1.0, log=True)
    assert feature.values(np.array([0.0, 1.0])) == pytest.approx([1e-4, 1e-1])
    design = imp.encode([feature], [np.array([1e-4, 1e-2, 1e-1, np.nan])])
    assert design.X[:, 0] == pytest.approx([0.0, 2 / 3, 1.0, imp.INACTIVE])


def test_more_runs_than_the_limit_are_sampled_and_say_so():
    design, y = _known_function(3000)
    result = imp.fanova(design, y, max_runs=1000, seed=0, pair_features=0)
    assert (result.runs, result.total) == (1000, 3000)
    assert {result.single_table()[0][0], result.single_table()[1][0]} == {"a", "b"}


@pytest.mark.parametrize("rows, values, message", [
    (5, 4, "5 rows of hyperparameters but 4 objective values"),
    (1, 1, "at least two runs"),
])
def test_bad_input_is_refused_in_words(rows, values, message):
    design = imp.encode([imp.Feature("a")], [np.linspace(0, 1, rows)])
    with pytest.raises(ValueError, match=message):
        imp.fanova(design, np.zeros(values))


def test_a_constant_objective_has_no_importance():
    design, _ = _known_function(200)
    result = imp.fanova(design, np.ones(200))
    assert np.all(result.singles == 0) and np.all(result.pairs == 0)


def test_pairs_are_decomposed_among_the_most_important_features_only():
    """A pair costs as much as all singles: with many features only the pairs of the strongest few."""
    design, y = _known_function(1000)
    every = imp.fanova(design, y, seed=0)
    few = imp.fanova(design, y, seed=0, pair_features=3)
    strongest = {name for name, _, _ in every.single_table()[:3]}
    assert {few.features[i].name for i in few.paired} == strongest
    assert len(few.pair_table()) == 3 and len(every.pair_table()) == 15
    for a, b, value, _ in few.pair_table():  # the same forest: the same numbers for the pairs it has
        assert value == pytest.approx(next(v for x, z, v, _ in every.pair_table() if (x, z) == (a, b)))
    assert imp.fanova(design, y, seed=0, pair_features=0).pair_table() == []
