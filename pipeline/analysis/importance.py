"""Which hyperparameters, and which pairs, explain the objective: functional ANOVA over a random forest, and
PED-ANOVA's importance for reaching the top quantile.

fANOVA (Hutter, Hoos & Leyton-Brown, ICML 2014): a scikit-learn random forest predicts the objective from the
hyperparameters; each tree is a piecewise-constant function over boxes, so its mean over every other
hyperparameter is exact and cheap. A hyperparameter's importance is the variance of that marginal over the
tree's total variance; a pair's is the variance of the pair's joint marginal less both singles (the interaction
alone). Both are averaged over the trees, with their standard deviation as the spread. The decomposition is
vectorized here: per tree and hyperparameter, one prefix sum over the split cells; per pair, one 2-D prefix
sum, so all singles and all pairs of 14 hyperparameters cost a few hundred NumPy calls per tree.

The measure integrated over is what a search space's own sampler draws: uniform on a number's range (on a log10
scale where the space is log-scaled), each option of a category equally likely. A conditional hyperparameter
that is inactive in a share s of the runs gets a level of its own beside its range, weighted s, and the rest
weighs 1 - s (the imputation the original fANOVA asks for: an inactive value is a value outside the range that
the forest can split on). Its marginal is therefore over "inactive or a value", as the runs sampled it; the
forest never saw an inactive child with an active parent, so the predictions in such boxes are extrapolations.

PED-ANOVA (Watanabe et al., IJCAI 2023; optuna's default evaluator) asks another question: how much the
density of a hyperparameter among the top `target_quantile` of the runs differs from its density among all
runs (a Pearson divergence of Parzen estimates on a 50-step grid). A parameter can matter for the variance
and not for the top, and the reverse.

`fanova(design, y)` and `ped_anova(design, y)` take a `Design` (the hyperparameters as numbers, see `encode`);
larger y is better for PED-ANOVA (accuracy, not loss).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr
from sklearn.ensemble import RandomForestRegressor

INACTIVE = -1.0  # where an inactive value sits in the encoded space: outside every range ([0, 1], 0..k-1)
N_TREES = 32  # trees of the forest; the spread over trees is the std the page shows
MIN_SAMPLES_LEAF = 3  # runs per leaf at least: no leaf fits a single noisy run, and pairs stay cheap
# Runs the forest is fitted on at most: a uniform sample above it. A pair costs its two features' cell counts
# multiplied, and the cells grow with the runs: 50,000 runs took 12x the time of 20,000 for shares equal to
# +-0.003 (python -m pipeline.benchmarks.importance measures the sample's effect at 1,000,000 runs).
MAX_RUNS = 20_000
GRID = 48  # points a number's marginal curve is evaluated at
MAX_PAIR_FEATURES = 20  # pairs among at most this many features, the most important singles (190 pairs)
MIN_OOB_RUNS = 20  # fewer runs leave some without an out-of-bag prediction: no R^2 then
PED_STEPS = 50  # PED-ANOVA's grid over a number's range (optuna's n_steps)


@dataclass(frozen=True)
class Feature:
    """A hyperparameter as the analysis sees it."""
    name: str
    levels: tuple = ()  # a category's options in order (code i is levels[i]); empty for a number
    low: float = 0.0  # a number's range, on the analysis scale (log10 of the value where log)
    high: float = 1.0
    log: bool = False  # the value is 10 ** (analysis scale)
    integer: bool = False  # a number that takes whole values only (PED-ANOVA's grid then has one step per value)

    @property
    def categorical(self) -> bool:
        return bool(self.levels)

    def values(self, points: np.ndarray) -> np.ndarray:
        """The hyperparameter's own values at encoded points in [0, 1] (numbers only)."""
        scaled = self.low + points * (self.high - self.low)
        return 10.0 ** scaled if self.log else scaled


@dataclass(frozen=True)
class Design:
    """The runs' hyperparameters, encoded: a number as (value - low) / (high - low) on its analysis scale, a
    category as its option's code, INACTIVE where the hyperparameter is not set in the run."""
    features: tuple[Feature, ...]
    X: np.ndarray  # runs x features

    @property
    def inactive_shares(self) -> np.ndarray:
        return (self.X == INACTIVE).mean(axis=0) if len(self.X) else np.zeros(len(self.features))


def encode(features: list[Feature], columns: list[np.ndarray]) -> Design:
    """A Design from one column per feature: numbers on their own scale (NaN where inactive), categories as
    option codes (NaN or negative where inactive). Numbers outside [low, high] are clipped to it."""
    encoded = []
    for feature, column in zip(features, columns):
        column = np.asarray(column, dtype=float)
        missing = np.isnan(column) | (column < 0 if feature.categorical else False)
        if feature.categorical:
            coded = column
        else:
            scaled = np.log10(np.where(missing | (column <= 0), 1.0, column)) if feature.log else column
            span = feature.high - feature.low
            coded = np.clip((scaled - feature.low) / span, 0.0, 1.0) if span > 0 else np.zeros_like(scaled)
        encoded.append(np.where(missing, INACTIVE, coded))
    X = np.column_stack(encoded) if encoded else np.empty((0, 0))
    return Design(tuple(features), X)


# ---------------------------------------------------------------------------------------------------- fANOVA

@dataclass
class _TreeCells:
    """One tree as boxes over per-feature cells: feature i's split thresholds cut its axis into cells; a leaf
    covers cells start[l, i] .. stop[l, i] - 1 of each feature."""
    thresholds: list[np.ndarray]  # per feature, its sorted distinct thresholds (cells = len + 1)
    weights: list[np.ndarray]  # per feature, each cell's probability under the feature's measure
    start: np.ndarray  # leaves x features
    stop: np.ndarray
    value: np.ndarray  # each leaf's prediction
    share: np.ndarray  # leaves x features: each leaf's probability along each feature
    mean: float
    variance: float

    def contribution(self, *excluded: int) -> np.ndarray:
        """Each leaf's value times its probability along every feature but the excluded ones."""
        product = np.prod(np.delete(self.share, excluded, axis=1), axis=1) if self.share.shape[1] else 1.0
        return self.value * product

    def marginal(self, i: int) -> np.ndarray:
        """The tree's mean prediction on each cell of feature i, every other feature integrated out."""
        cells = len(self.thresholds[i]) + 1
        c = self.contribution(i)
        steps = (np.bincount(self.start[:, i], c, cells + 1) - np.bincount(self.stop[:, i], c, cells + 1))
        return np.cumsum(steps)[:cells]

    def pair_marginal(self, i: int, j: int) -> np.ndarray:
        """The tree's mean prediction on each cell of features i x j (a cells_i x cells_j grid)."""
        ci, cj = len(self.thresholds[i]) + 1, len(self.thresholds[j]) + 1
        c = self.contribution(i, j)
        a0, a1, b0, b1 = self.start[:, i], self.stop[:, i], self.start[:, j], self.stop[:, j]
        width = cj + 1
        corners = np.concatenate([a0 * width + b0, a0 * width + b1, a1 * width + b0, a1 * width + b1])
        steps = np.bincount(corners, np.concatenate([c, -c, -c, c]), (ci + 1) * width).reshape(ci + 1, width)
        return steps.cumsum(axis=0).cumsum(axis=1)[:ci, :cj]

    def cell_of(self, i: int, points: np.ndarray) -> np.ndarray:
        """The cell of feature i holding each point (a point equal to a threshold goes left, as in sklearn)."""
        return np.searchsorted(self.thresholds[i], points, side="left")


def _feature_weights(thresholds: np.ndarray, feature: Feature, inactive_share: float) -> np.ndarray:
    """Each cell's probability: uniform mass 1 - s on [0, 1] (a number) or on the options (a category), and the
    inactive share s at INACTIVE. Cell k is (edge k, edge k + 1] with edges -inf, thresholds..., +inf."""
    edges = np.concatenate([[-np.inf], thresholds, [np.inf]])
    if feature.categorical:
        codes = np.arange(len(feature.levels), dtype=float)
        counts = np.diff(np.searchsorted(codes, edges, side="right"))
        active = counts / len(codes)
    else:
        active = np.diff(np.clip(edges, 0.0, 1.0))
    inactive = np.diff((edges >= INACTIVE).astype(float))  # 1 in the cell (edge k, edge k + 1] holding INACTIVE
    return (1.0 - inactive_share) * active + inactive_share * inactive


def _leaf_boxes(tree) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The leaves of a fitted sklearn tree as boxes (lower, upper threshold per feature; +-inf where unbounded)
    with their values, one NumPy step per depth level."""
    nodes, features = tree.node_count, tree.n_features
    lower = np.full((nodes, features), -np.inf)
    upper = np.full((nodes, features), np.inf)
    left, right, feature, threshold = tree.children_left, tree.children_right, tree.feature, tree.threshold
    level = np.array([0])
    while level.size:
        inner = level[left[level] >= 0]
        f, t = feature[inner], threshold[inner]
        for child in (left[inner], right[inner]):
            lower[child], upper[child] = lower[inner], upper[inner]
        upper[left[inner], f] = t
        lower[right[inner], f] = t
        level = np.concatenate([left[inner], right[inner]])
    leaves = left < 0
    return lower[leaves], upper[leaves], tree.value[leaves, 0, 0]


def _tree_cells(tree, features: tuple[Feature, ...], inactive_shares: np.ndarray) -> _TreeCells:
    lower, upper, value = _leaf_boxes(tree)
    thresholds, weights, starts, stops, shares = [], [], [], [], []
    for i, feature in enumerate(features):
        cuts = np.unique(tree.threshold[tree.feature == i])
        edges = np.concatenate([[-np.inf], cuts, [np.inf]])
        w = _feature_weights(cuts, feature, inactive_shares[i])
        start, stop = np.searchsorted(edges, lower[:, i]), np.searchsorted(edges, upper[:, i])
        cumulative = np.concatenate([[0.0], np.cumsum(w)])
        thresholds.append(cuts)
        weights.append(w)
        starts.append(start)
        stops.append(stop)
        shares.append(cumulative[stop] - cumulative[start])
    share = np.column_stack(shares)
    # A leaf of probability 0 along some feature adds nothing to any marginal's variance: it only touches
    # cells of weight 0 of that feature, and is multiplied by 0 everywhere else.
    kept = np.all(share > 0, axis=1)
    share, value = share[kept], value[kept]
    start, stop = np.column_stack(starts)[kept], np.column_stack(stops)[kept]
    probability = np.prod(share, axis=1)
    mean = float(value @ probability)
    variance = max(float((value ** 2) @ probability) - mean ** 2, 0.0)
    return _TreeCells(thresholds, weights, start, stop, value, share, mean, variance)


def _points(feature: Feature, inactive_share: float) -> tuple[np.ndarray, list]:
    """Encoded points a marginal is evaluated at, and their labels: the options of a category, GRID points across
    a number's range (its own values); the inactive level (label None) first where the feature has one."""
    if feature.categorical:
        points, labels = np.arange(len(feature.levels), dtype=float), list(feature.levels)
    else:
        points = np.linspace(0.0, 1.0, GRID)
        labels = [float(v) for v in feature.values(points)]
    if inactive_share > 0:
        points, labels = np.concatenate([[INACTIVE], points]), [None, *labels]
    return points, labels


@dataclass(frozen=True)
class Fanova:
    """fANOVA of one fitted forest: importances (mean and std over trees) and the marginals evaluated on each
    feature's points (see _points), averaged over the trees. The trees themselves are not kept: a result is
    cached per study version, and 32 trees of 20,000 runs pickle to 40 MB."""
    features: tuple[Feature, ...]
    singles: np.ndarray  # features x 2: mean and std over trees of V_i / V
    pairs: np.ndarray  # features x features x 2: the same for the pure interaction V_ij / V (symmetric)
    paired: tuple[int, ...]  # the features whose pairs were decomposed (pairs of the others are 0, not computed)
    inactive: np.ndarray  # per feature, the share of the fitted runs where it is inactive
    fit: float  # the forest's out-of-bag R^2: how much of the objective's variance the model predicts at all
    runs: int  # runs the forest was fitted on
    total: int  # runs given (more than `runs` when sampled)
    curves: tuple[tuple[np.ndarray, np.ndarray], ...] = field(repr=False)  # per feature: mean, std over trees
    grids: dict[tuple[int, int], np.ndarray] = field(repr=False)  # per decomposed pair i < j: mean over trees

    def single_table(self) -> list[tuple[str, float, float]]:
        """(name, importance, std), most important first."""
        order = np.argsort(-self.singles[:, 0], kind="stable")
        return [(self.features[i].name, float(self.singles[i, 0]), float(self.singles[i, 1])) for i in order]

    def pair_table(self) -> list[tuple[str, str, float, float]]:
        """(name a, name b, importance, std) of every pair decomposed, a before b in feature order, most important
        first."""
        rows = [(self.features[i].name, self.features[j].name, float(self.pairs[i, j, 0]), float(self.pairs[i, j, 1]))
                for i, j in itertools.combinations(sorted(self.paired), 2)]
        return sorted(rows, key=lambda row: -row[2])

    def _index(self, name: str) -> int:
        return [f.name for f in self.features].index(name)

    def marginal(self, name: str) -> tuple[list, np.ndarray, np.ndarray]:
        """A feature's marginal predicted objective: (values, mean over trees, std over trees); the value None
        stands for "inactive"."""
        i = self._index(name)
        return _points(self.features[i], self.inactive[i])[1], *self.curves[i]

    def pair_marginal(self, a: str, b: str) -> tuple[list, list, np.ndarray]:
        """Two features' joint marginal predicted objective: (values of a, values of b, mean over trees as an
        a x b grid). Only for a decomposed pair (pair_table's)."""
        i, j = self._index(a), self._index(b)
        grid = self.grids[(i, j)] if i < j else self.grids[(j, i)].T
        return _points(self.features[i], self.inactive[i])[1], _points(self.features[j], self.inactive[j])[1], grid


def fanova(design: Design, y: np.ndarray, *, n_trees: int = N_TREES, min_samples_leaf: int = MIN_SAMPLES_LEAF,
           max_depth: int | None = None, max_runs: int | None = MAX_RUNS,
           pair_features: int | None = MAX_PAIR_FEATURES, seed: int = 0, n_jobs: int | None = -1) -> Fanova:
    """fANOVA of y over the design's features (see the module). With more than `max_runs` runs the forest is
    fitted on a uniform sample of that many (seeded). Pairs are decomposed among the `pair_features` features
    with the largest single shares (None: all; 0: no pairs): a pair costs as much as all singles together."""
    X, y = design.X, np.asarray(y, dtype=float)
    d = len(design.features)
    if len(X) != len(y):
        raise ValueError(f"{len(X)} rows of hyperparameters but {len(y)} objective values")
    if len(y) < 2 or d == 0:
        raise ValueError("fANOVA needs at least two runs and one hyperparameter")
    total = len(y)
    if max_runs is not None and total > max_runs:
        rows = np.sort(np.random.default_rng(seed).choice(total, max_runs, replace=False))
        X, y = X[rows], y[rows]
    shares = (X == INACTIVE).mean(axis=0)
    forest = RandomForestRegressor(n_estimators=n_trees, max_depth=max_depth, min_samples_leaf=min_samples_leaf,
                                   oob_score=len(y) >= MIN_OOB_RUNS, random_state=seed, n_jobs=n_jobs).fit(X, y)
    fit = float(forest.oob_score_) if len(y) >= MIN_OOB_RUNS else math.nan
    trees = [_tree_cells(e.tree_, design.features, shares) for e in forest.estimators_]
    varied = [t for t in trees if t.variance > 0] or trees[:1]  # a constant forest: its one tree's flat marginals
    points = [_points(feature, share)[0] for feature, share in zip(design.features, shares)]
    # per tree and feature: the marginal on each cell, and the cell of each point the page evaluates it at
    marginals = [[tree.marginal(i) for i in range(d)] for tree in varied]
    cells = [[tree.cell_of(i, points[i]) for i in range(d)] for tree in varied]
    single = np.array([[tree.weights[i] @ (m[i] - tree.mean) ** 2 / max(tree.variance, 1e-300) for i in range(d)]
                       for tree, m in zip(varied, marginals)]).reshape(len(varied), d)
    curves = [[m[i][c[i]] for i in range(d)] for m, c in zip(marginals, cells)]  # trees x features: arrays
    count = d if pair_features is None else min(pair_features, d)
    paired = tuple(sorted(np.argsort(-single.mean(axis=0), kind="stable")[:count].tolist()))
    pair = np.zeros((len(varied), d, d))
    grids = {(i, j): np.zeros((points[i].size, points[j].size)) for i, j in itertools.combinations(paired, 2)}
    for k, tree in enumerate(varied):
        for i, j in itertools.combinations(paired, 2):
            joint = tree.pair_marginal(i, j)
            grids[(i, j)] += joint[np.ix_(cells[k][i], cells[k][j])] / len(varied)
            if tree.variance > 0 and len(tree.thresholds[i]) and len(tree.thresholds[j]):
                joint_variance = tree.weights[i] @ (joint - tree.mean) ** 2 @ tree.weights[j] / tree.variance
                pair[k, i, j] = pair[k, j, i] = joint_variance - single[k, i] - single[k, j]
            # (a tree that never splits on one of the two has no interaction of them: 0)
    pair = np.clip(pair, 0.0, None)  # rounding can leave -1e-17 where a pair has no interaction
    per_feature = tuple((np.mean([c[i] for c in curves], axis=0), np.std([c[i] for c in curves], axis=0))
                        for i in range(d))
    return Fanova(design.features, np.stack([single.mean(0), single.std(0)], axis=-1),
                  np.stack([pair.mean(0), pair.std(0)], axis=-1), paired, shares, fit, len(y), total, per_feature,
                  grids)


# ------------------------------------------------------------------------------------------------ PED-ANOVA

def _top(y: np.ndarray, quantile: float) -> np.ndarray:
    """The runs at or above the quantile's cut, larger y better (ties at the cut all kept, as optuna does)."""
    cut = math.ceil(quantile * y.size) - 1
    return -y <= np.partition(-y, cut)[cut]


def _discrete_truncnorm(mu: np.ndarray, sigma: np.ndarray, steps: int) -> np.ndarray:
    """kernels x steps: each Gaussian kernel's mass on the integers 0..steps-1, truncated to [-0.5, steps - 0.5]."""
    grid = np.arange(steps + 1) - 0.5
    cdf = ndtr((grid[None, :] - mu[:, None]) / sigma[:, None])
    mass = np.diff(cdf, axis=1)
    return mass / mass.sum(axis=1, keepdims=True)


def _parzen(counts: np.ndarray, categorical: bool, prior_weight: float = 1.0) -> np.ndarray:
    """The Scott-rule Parzen estimate on the grid, from counts per grid point (optuna's ScottParzenEstimator:
    one kernel per occupied grid point weighted by its count, plus a wide prior kernel of weight 1)."""
    steps = counts.size
    observed = np.flatnonzero(counts).astype(float)
    weights = counts[counts > 0].astype(float)
    if observed.size == 0:
        return np.full(steps, 1.0 / steps)
    mixture = np.append(weights, prior_weight)
    mixture /= mixture.sum()
    if categorical:
        kernels = np.full((observed.size + 1, steps), prior_weight / (observed.size + 1))
        kernels[np.arange(observed.size), observed.astype(int)] += 1
        kernels /= kernels.sum(axis=1, keepdims=True)
    else:
        total = weights.sum()
        mean = observed @ weights / total
        sd = math.sqrt(((observed - mean) ** 2) @ weights / max(1.0, total - 1))
        cumulative = np.cumsum(weights)
        q1 = np.searchsorted(cumulative, total // 4, side="left")
        q3 = np.searchsorted(cumulative, total * 3 // 4, side="right")
        iqr = observed[min(observed.size - 1, q3)] - observed[q1]
        sigma = max(1.059 * min(iqr / 1.34, sd) * total ** -0.2, 0.5 / 1.64)
        kernels = _discrete_truncnorm(np.append(observed, (steps - 1) / 2.0),
                                      np.append(np.full(observed.size, sigma), float(steps)), steps)
    return mixture @ kernels


def _grid_counts(column: np.ndarray, feature: Feature) -> np.ndarray:
    """Runs per grid point: a category's options; PED_STEPS points across a number's range, or one per whole
    value of an integer with fewer (optuna's grid for an IntDistribution)."""
    if feature.categorical:
        return np.bincount(column.astype(int), minlength=len(feature.levels))
    steps = PED_STEPS
    if feature.integer and not feature.log:
        steps = min(round(feature.high - feature.low) + 1, PED_STEPS)
    if steps < 2:
        return np.array([column.size])
    index = np.clip(np.ceil(column * (steps - 1) - 0.5).astype(int), 0, steps - 1)
    return np.bincount(index, minlength=steps)


def _pearson_divergence(top: np.ndarray, region: np.ndarray, feature: Feature) -> float:
    p_top = _parzen(_grid_counts(top, feature), feature.categorical) + 1e-12
    p_region = _parzen(_grid_counts(region, feature), feature.categorical) + 1e-12
    return float(p_region @ ((p_top / p_region - 1) ** 2))


def ped_anova(design: Design, y: np.ndarray, *, target_quantile: float = 0.1, region_quantile: float = 1.0
              ) -> dict[str, float]:
    """PED-ANOVA importance of each feature for reaching the top `target_quantile` of y (larger is better)
    within the top `region_quantile`: optuna's PedAnovaImportanceEvaluator (evaluate_on_local), with a
    conditional's active runs as its one regime (inactive runs carry no distribution)."""
    if not 0 < target_quantile < region_quantile <= 1:
        raise ValueError("need 0 < target_quantile < region_quantile <= 1")
    y = np.asarray(y, dtype=float)
    region = _top(y, region_quantile)
    target = _top(y, target_quantile) & region
    n_target, n_region = int(target.sum()), int(region.sum())
    result = {}
    for i, feature in enumerate(design.features):
        column = design.X[:, i]
        active = column != INACTIVE
        in_region, in_target = region & active, target & active
        if in_region.sum() < 2 or not in_target.any():
            result[feature.name] = 0.0
            continue
        alpha, beta = in_target.sum() / n_target, in_region.sum() / n_region
        result[feature.name] = (alpha ** 2 / beta * _pearson_divergence(column[in_target], column[in_region], feature)
                                * (n_target / n_region) ** 2)
    return result
