"""Configurations as points in two dimensions: the feature matrix, PCA and t-SNE (scikit-learn).

Input: one row per run with each hyperparameter's own value (numbers as numbers, categories as text,
null where a conditional hyperparameter was inactive), as study_views.run_values gives it. Features:

- a number: log10 first where the search space says `log = true`; where the space says nothing about its
  scale (an imported log's space is inferred from the values), where its values span two decades or more
  (all positive), as the study frame bins it. A space's `log = false` is kept: momentum in 0..1 sampled
  uniformly spans three decades too, and its log would make the few runs near 0 outliers. Then
  standardized over the runs where it is active, (x - mean) / sd, and set to 0 (the active runs' mean)
  where it is inactive;
- a category: one 0/1 column per value (one-hot), all 0 where it is inactive; a category with k
  equally common values carries a variance of 1 - 1/k, a standardized number 1, so neither kind
  swamps the other;
- a hyperparameter that is inactive in some runs gets an 0/1 column `<name> active` as well, so that
  "inactive" is a place of its own rather than a pretended value;
- a column that does not vary (one value where active, or never active) is left out: it cannot place a
  point (a conditional one keeps its `active` column).

PCA (sklearn.decomposition.PCA on the features' covariance matrix: 25 ms at 100,000 runs where a full SVD
takes 2 s) gives axes whose meaning is their loadings: each axis is a
unit vector over the feature columns. t-SNE (sklearn.manifold.TSNE, PCA initialisation, seeded) only
keeps neighbours near; its axes mean nothing, and it costs ~70 s at 10,000 points on 2 cores, so callers
run it on a sample and keep the result.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

LOG_SPAN = 100.0  # values spanning two decades (max / min) are taken on a log10 scale where the space is silent
# points drawn at most, a uniform sample beyond: Streamlit draws up to 2,000 points as SVG (and the browser tests
# read them back), more on a canvas; measured on a loaded 2-core machine, a click to the page drawn took 2.0 s
# with 2,000 SVG points, 2.4-3.5 s with 5,000 on a canvas and 4.5-5.3 s with 5,000 as SVG
DRAW_LIMIT = 2_000
MIN_RUNS = 3  # fewer points have no second axis to show
TSNE_PERPLEXITY = 30.0  # sklearn's default; smaller samples get (n - 1) / 3 (it must stay below n)
TSNE_MIN_RUNS = 10
INACTIVE_RULE = ("where a conditional hyperparameter is inactive, its value is set to the active runs' mean "
                 "(0 after scaling) and an extra 0/1 column '<name> active' says so")
FEATURE_RULE = ("numbers log10 first where the search space says log (where it says nothing, as in an imported "
                "log, where they span two decades), then standardized "
                "(mean 0, sd 1 over the runs where active); categories one-hot (0/1 per value)")


class EmbeddingError(ValueError):
    """The runs cannot be embedded (too few, nothing that varies); the message says why."""


@dataclass(frozen=True)
class Features:
    """The runs as a matrix: one row per run, one column per feature."""
    matrix: np.ndarray
    columns: tuple[str, ...]  # a feature's name: "lr (log10)", "optimizer = adam", "momentum active"
    sources: tuple[str, ...]  # the hyperparameter each column comes from
    logged: tuple[str, ...]  # numbers taken on a log10 scale
    conditional: tuple[str, ...]  # hyperparameters inactive in some runs (they have an `active` column)
    dropped: tuple[str, ...]  # hyperparameters without a column: they did not vary over these runs


@dataclass(frozen=True)
class Pca:
    coords: np.ndarray  # runs x 2
    explained: tuple[float, float]  # share of the features' total variance on each axis
    loadings: pl.DataFrame  # feature, hyperparameter, pc1, pc2: each axis' unit vector over the features


def features(values: pl.DataFrame, hyperparameters: Mapping[str, str] | Sequence[str], *,
             log: Mapping[str, bool] | None = None) -> Features:
    """The feature matrix of `values` (one row per run) over the hyperparameters' columns: a mapping column ->
    hyperparameter name, or names that are the columns. Numeric columns are numbers, others categories.
    `log`: what the search space says about a number's scale, by hyperparameter name (True: log, False:
    linear); a name it does not hold is log10 where its values span two decades."""
    if not isinstance(hyperparameters, Mapping):
        hyperparameters = {name: name for name in hyperparameters}
    blocks: list[np.ndarray] = []
    columns: list[str] = []
    sources: list[str] = []
    logged, conditional, dropped = [], [], []
    for column, name in hyperparameters.items():
        series = values[column]
        active = series.is_not_null().to_numpy()
        if series.dtype.is_numeric():
            block, names, took_log = _number(series.cast(pl.Float64).to_numpy(), active, name, (log or {}).get(name))
            logged += [name] if took_log and names else []
        else:
            block, names = _category(series, name)
        if active.any() and not active.all():  # where it is set is a feature even when its value is not
            block = np.column_stack([block, active.astype(float)])
            names = [*names, f"{name} active"]
            conditional.append(name)
        if not names:
            dropped.append(name)
            continue
        blocks.append(block)
        columns += names
        sources += [name] * len(names)
    matrix = np.column_stack(blocks) if blocks else np.empty((values.height, 0))
    return Features(matrix, tuple(columns), tuple(sources), tuple(logged), tuple(conditional), tuple(dropped))


def _number(x: np.ndarray, active: np.ndarray, name: str, space_log: bool | None
            ) -> tuple[np.ndarray, list[str], bool]:
    """One standardized column (0 where inactive), or none when the active values do not vary."""
    seen = x[active]
    if seen.size == 0:
        return np.empty((len(x), 0)), [], False
    positive = bool((seen > 0).all())
    took_log = positive and (space_log if space_log is not None else seen.max() / seen.min() >= LOG_SPAN)
    if took_log:
        x = np.where(active, np.log10(np.where(active, x, 1.0)), np.nan)
        seen = x[active]
    sd = seen.std()
    if not sd > 1e-12 * max(1.0, abs(seen.mean())):
        return np.empty((len(x), 0)), [], False
    column = np.where(active, (x - seen.mean()) / sd, 0.0)
    return column[:, None], [f"{name} (log10)" if took_log else name], took_log


def _category(series: pl.Series, name: str) -> tuple[np.ndarray, list[str]]:
    """One 0/1 column per value (sorted as text), all 0 where inactive; none when only one value occurs
    (its column would be all ones, or the same as the `active` column)."""
    text = series.cast(pl.String)
    options = sorted(text.drop_nulls().unique().to_list())
    if len(options) < 2:
        return np.empty((len(series), 0)), []
    codes = text.to_numpy()
    return np.column_stack([(codes == option).astype(float) for option in options]), \
        [f"{name} = {option}" for option in options]


@dataclass(frozen=True)
class Embedding:
    """Runs placed in two dimensions by one method, with what the page says about it."""
    method: str  # "PCA" or "t-SNE"
    points: pl.DataFrame  # the drawn runs: x, y, then every column of the input, in its order
    runs: int  # runs embedded (every one drawn when there are at most `draw`)
    features: Features  # without its matrix
    explained: tuple[float, float] | None = None  # PCA: share of the variance on each axis
    loadings: pl.DataFrame | None = None  # PCA: pca().loadings
    perplexity: float | None = None  # t-SNE
    seconds: float = 0.0  # of the method itself


def embed(values: pl.DataFrame, hyperparameters: Mapping[str, str] | Sequence[str], *, method: str = "PCA",
          log: Mapping[str, bool] | None = None, draw: int = DRAW_LIMIT, seed: int = 0) -> Embedding:
    """Every run of `values` embedded by `method` ("PCA" or "t-SNE") over its features() (same arguments);
    at most `draw` of them kept as points, a uniform sample (seeded), in the input's order."""
    feats = features(values, hyperparameters, log=log)
    start = time.perf_counter()
    extra: dict = {}
    if method == "PCA":
        result = pca(feats)
        coords, extra = result.coords, {"explained": result.explained, "loadings": result.loadings}
    elif method == "t-SNE":
        coords, perplexity = tsne(feats, seed=seed)
        extra = {"perplexity": perplexity}
    else:
        raise EmbeddingError(f"unknown embedding method {method!r}: PCA or t-SNE")
    seconds = time.perf_counter() - start
    points = values.with_columns(pl.Series("x", coords[:, 0]), pl.Series("y", coords[:, 1]))
    if points.height > draw:
        keep = np.sort(np.random.default_rng(seed).choice(points.height, size=draw, replace=False))
        points = points[keep]
    points = points.select("x", "y", *values.columns)
    # the matrix stays out: the result is kept (pickled) per study version, the points are what is drawn
    return Embedding(method, points, values.height, dataclasses.replace(feats, matrix=np.empty((0, 0))),
                     seconds=seconds, **extra)


def pca(feats: Features) -> Pca:
    """The first two principal axes of the features (sklearn PCA on the centred matrix)."""
    from sklearn.decomposition import PCA

    n, width = feats.matrix.shape
    _check(n, width)
    model = PCA(n_components=2, svd_solver="covariance_eigh").fit(feats.matrix)
    coords = model.transform(feats.matrix)
    loadings = pl.DataFrame({"feature": list(feats.columns), "hyperparameter": list(feats.sources),
                             "pc1": model.components_[0], "pc2": model.components_[1]})
    ratio = model.explained_variance_ratio_
    return Pca(coords, (float(ratio[0]), float(ratio[1])), loadings)


def axis_shares(loadings: pl.DataFrame) -> pl.DataFrame:
    """Each hyperparameter's share of each PCA axis: its columns' squared loadings summed (an axis is a unit
    vector, so the shares of all add up to 1). Columns hyperparameter, pc1, pc2; the largest share first."""
    return (loadings.group_by("hyperparameter").agg((pl.col(axis) ** 2).sum() for axis in ("pc1", "pc2"))
            .sort(pl.max_horizontal("pc1", "pc2"), "hyperparameter", descending=[True, False]))


def axis_makeup(loadings: pl.DataFrame, axis: str, *, top: int = 2) -> list[tuple[str, float]]:
    """The hyperparameters an axis ("pc1" / "pc2") is mostly made of, with their axis_shares(), largest first."""
    shares = axis_shares(loadings).sort(axis, "hyperparameter", descending=[True, False])
    return [(row["hyperparameter"], float(row[axis])) for row in shares.head(top).iter_rows(named=True)]


def tsne(feats: Features, *, seed: int = 0) -> tuple[np.ndarray, float]:
    """2-d t-SNE coordinates of the runs and the perplexity used."""
    from sklearn.manifold import TSNE

    n, width = feats.matrix.shape
    _check(n, width, least=TSNE_MIN_RUNS, method="t-SNE")
    perplexity = min(TSNE_PERPLEXITY, (n - 1) / 3)
    coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(feats.matrix)
    return coords, perplexity


def _check(n: int, width: int, *, least: int = MIN_RUNS, method: str = "PCA") -> None:
    if n < least:
        raise EmbeddingError(f"{method} needs at least {least} finished networks; this choice has {n}")
    if width < 2:
        raise EmbeddingError(f"{method} needs at least two feature columns that vary over the finished networks; "
                             f"these have {width}")
