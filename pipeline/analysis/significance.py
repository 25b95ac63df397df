"""Is a heat-map cell's lift more than sampling noise? Exact test per cell, false discovery rate over all.

Two lifts, two nulls.

Against the whole study (`lift`, `evaluate`): runs were sampled at random, so under "this pair of
values has nothing to do with being selected" the number of selected runs in a cell is
hypergeometric: draw `selected_total` runs without replacement from `runs_total`, of which
`cell_runs` are in the cell. The p-value is two-sided (twice the smaller tail, at most 1; Fisher's
exact test on the 2x2 table of in-cell x selected, with the doubled one-sided p). The p-values of
all cells shown together are corrected with Benjamini-Hochberg; a cell is significant when its q-value is below `alpha`.
This lift answers "is this value pair over-represented among the selected networks?", and a strong
main effect makes it true for every cell of that parameter's good value.

Against independence (`independence_lift`, `evaluate_independence`): what the two parameters'
separate effects predict. Inside the selection, a cell's expected count is row total x column total
/ selection total (the pair's margins in the selection); lift = observed / expected. Under "the two
parameters are independent in the selection" and given the margins, the cell's count is
hypergeometric: draw `column total` networks from `selection total`, of which `row total` are in the
row (Fisher's exact test on the 2x2 table row option or not x column option or not). Same two-sided
p, Benjamini-Hochberg over all cells shown. A main effect moves a whole row or column and so its
margin, not this lift: what is left is the interaction of the two parameters.

Both require an effect size too: a cell is significant when q < alpha and |log2 lift| >= MIN_LOG2_LIFT
(lift at least 2 or at most 0.5: twice or half what the baseline predicts). With thousands of networks
tiny departures are "significant". And selecting networks by an additive accuracy (main effects only)
itself couples two parameters with strong effects (Berkson's bias: a network with a bad learning rate
needs batch norm more to be selected), most near the middle of the distribution. Measured on the
16,000-network planted study (rank scale; pipeline/benchmarks/planted_study.py): the top 5 % ring the
planted sigmoid x constant cell only (the whole-study lift rings 363 cells); the top 20 % and top 50 %
ring it and 3 more each, extreme learning-rate bins with batch norm off or conv depth 5 (lift 0.31 -
0.38: bad on two counts is rarely in); with |log2 lift| >= 0.5 instead they would ring 9 and 7.
Runs in which a parameter does not apply (its `(inactive)` option, e.g. momentum without SGD) are
left out of the independence comparison: they are dependent on the other parameter by design.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import special, stats

TEST_NAME = ("two-sided hypergeometric test per cell (Fisher's exact, doubled smaller tail), "
             "Benjamini-Hochberg false discovery rate over all cells shown")
INDEPENDENCE_TEST_NAME = ("two-sided hypergeometric test per cell on the pair's margins in the selection (Fisher's "
                          "exact on row option x column option, doubled smaller tail), Benjamini-Hochberg false "
                          "discovery rate over all cells shown")
MIN_LOG2_LIFT = 1.0  # the effect size a significant cell needs as well: lift >= 2 or <= 0.5


def lift(cells: pl.DataFrame, *, runs_total: int, selected_total: int) -> pl.DataFrame:
    """Adds expected = runs * selected_total / runs_total (the cell's share of the study, in the selection) and
    lift = selected / expected = (selected / selected_total) / (runs / runs_total) to cell counts (columns runs
    and selected)."""
    if selected_total == 0:
        return cells.with_columns(pl.lit(None, dtype=pl.Float64).alias("expected"),
                                  pl.lit(None, dtype=pl.Float64).alias("lift"))
    return cells.with_columns((pl.col("runs") * selected_total / runs_total).alias("expected"),
                              ((pl.col("selected") / selected_total) / (pl.col("runs") / runs_total)).alias("lift"))


def evaluate(cells: pl.DataFrame, *, runs_total: int, selected_total: int, alpha: float = 0.05,
             min_log2_lift: float = MIN_LOG2_LIFT) -> pl.DataFrame:
    """Adds p, q (BH-adjusted) and significant (q < alpha and |log2 lift| >= min_log2_lift) to cell counts
    (columns runs, selected and lift)."""
    if cells.is_empty():
        return _untested(cells)
    cell = cells["runs"].to_numpy()
    selected = cells["selected"].to_numpy()
    p = _hypergeometric_two_sided(selected, runs_total, cell, selected_total)
    return _marked(cells, p, alpha=alpha, min_log2_lift=min_log2_lift)


def independence_lift(cells: pl.DataFrame, *, pair: tuple[str, ...] = ("a", "b"), row: str = "option_a",
                      column: str = "option_b", count: str = "selected", skip: str | None = None) -> pl.DataFrame:
    """Adds row_total, column_total, pair_total (the pair's margins of `count`), expected = row_total *
    column_total / pair_total and lift = count / expected, per pair of parameters (`pair` columns).

    skip: a boolean column; those cells (a parameter inactive) are left out of the margins and get no lift.
    """
    kept = pl.col(skip).not_() if skip else pl.lit(True)
    n = pl.when(kept).then(pl.col(count))
    totals = cells.with_columns(
        n.sum().over(*pair, row).alias("row_total"),
        n.sum().over(*pair, column).alias("column_total"),
        n.sum().over(*pair).alias("pair_total"))
    expected = pl.col("row_total") * pl.col("column_total") / pl.col("pair_total")
    return totals.with_columns(
        pl.when(kept & (pl.col("pair_total") > 0)).then(expected).alias("expected")
    ).with_columns(
        pl.when(pl.col("expected") > 0).then(pl.col(count) / pl.col("expected")).alias("lift"))


def evaluate_independence(cells: pl.DataFrame, *, count: str = "selected", alpha: float = 0.05,
                          min_log2_lift: float = MIN_LOG2_LIFT) -> pl.DataFrame:
    """Adds p, q (BH over the cells that have a lift) and significant to what independence_lift gave."""
    tested = cells["lift"].is_not_null().to_numpy()
    if not tested.any():
        return _untested(cells)
    part = cells.filter(pl.col("lift").is_not_null())
    p = np.full(cells.height, np.nan)
    p[tested] = _hypergeometric_two_sided(part[count].to_numpy(), part["pair_total"].to_numpy(),
                                          part["row_total"].to_numpy(), part["column_total"].to_numpy())
    return _marked(cells, p, alpha=alpha, min_log2_lift=min_log2_lift)


def _marked(cells: pl.DataFrame, p: np.ndarray, *, alpha: float, min_log2_lift: float) -> pl.DataFrame:
    """p, q (BH over the finite p) and significant: q < alpha and the lift at least that far from 1."""
    q = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        q[finite] = stats.false_discovery_control(p[finite], method="bh")
    lift = cells["lift"].cast(pl.Float64).fill_null(1.0).to_numpy()
    with np.errstate(divide="ignore"):
        big = np.abs(np.log2(lift)) >= min_log2_lift  # lift 0 (nothing where something was expected) is big
    significant = finite & (np.nan_to_num(q, nan=1.0) < alpha) & big
    return cells.with_columns(pl.Series("p", p, nan_to_null=True), pl.Series("q", q, nan_to_null=True),
                              pl.Series("significant", significant))


def _untested(cells: pl.DataFrame) -> pl.DataFrame:
    return cells.with_columns(pl.lit(None, dtype=pl.Float64).alias("p"), pl.lit(None, dtype=pl.Float64).alias("q"),
                              pl.lit(False).alias("significant"))


def _hypergeometric_two_sided(k, total, cell, drawn) -> np.ndarray:
    """min(1, 2 * the tail on the observed side), which is the smaller tail but for ties at the mean,
    where p is 1 either way."""
    return np.minimum(1.0, 2 * hypergeometric_tail(k, total, cell, drawn))


def hypergeometric_tail(k, total, cell, drawn) -> np.ndarray:
    """The tail on k's side of the mean, P(X >= k) above it and P(X <= k) otherwise, for X ~
    hypergeometric(total, cell, drawn), exactly up to rounding (relative error about 1e-9 at a
    million runs). Any argument may be an array (they broadcast).

    scipy's hypergeom.sf/cdf (Boost) takes ~35 us per cell on the small populations of a 16,000-run
    study, 50 ms for a heat-map matrix. Here: pmf(k) from log-gamma, then the tail as pmf(k) times
    the sum of running products of the pmf's step ratio away from the mean, for all cells at once,
    in blocks of terms until every term is below 1e-17 of its sum (away from the mean the terms fall off geometrically;
    towards it they would grow, which is why the side is not a choice).
    """
    k, total, cell, drawn = (a.astype(np.float64) for a in np.broadcast_arrays(
        np.asarray(k, dtype=np.float64), np.asarray(total, dtype=np.float64), np.asarray(cell, dtype=np.float64),
        np.asarray(drawn, dtype=np.float64)))
    upper = k * total > cell * drawn
    rest = total - cell
    end = np.where(upper, np.minimum(cell, drawn), np.maximum(0.0, drawn - rest))  # the support's end on that side
    inside = (k >= np.maximum(0.0, drawn - rest)) & (k <= np.minimum(cell, drawn))
    log_pmf = _log_choose(cell, k) + _log_choose(rest, drawn - k) - _log_choose(total, drawn)
    term, acc, j = np.ones_like(k), np.ones_like(k), k.copy()
    step = np.where(upper, 1.0, -1.0)
    active = inside & (j != end)
    ahead = np.arange(_TAIL_BLOCK, dtype=np.float64)
    while active.any():
        i = np.flatnonzero(active)
        # the next _TAIL_BLOCK terms of each cell at once (a Python step per term took 0.13 s for the
        # 1,464 cells of a 1,000,000-run matrix, whose tails run thousands of terms)
        ji = j[i, None] + step[i, None] * ahead
        ci, ri, di, ui = cell[i, None], rest[i, None], drawn[i, None], upper[i, None]
        with np.errstate(divide="ignore", invalid="ignore"):  # past the support's end, zeroed below
            ratio = np.where(ui, (ci - ji) * (di - ji) / ((ji + 1) * (ri - di + ji + 1)),
                             ji * (ri - di + ji) / ((ci - ji + 1) * (di - ji + 1)))
        ratio = np.where(np.where(ui, ji < end[i, None], ji > end[i, None]), ratio, 0.0)
        terms = term[i, None] * np.cumprod(ratio, axis=1)
        term[i] = terms[:, -1]
        acc[i] += terms.sum(axis=1)
        j[i] += step[i] * _TAIL_BLOCK
        active[i] = (term[i] > 1e-17 * acc[i])
    with np.errstate(invalid="ignore"):  # log_pmf is nan outside the support, where the tail is not taken
        tail = np.exp(log_pmf) * acc
    # outside the support the tail is everything (k before its start on the way) or nothing
    beyond = np.where(upper, k < np.maximum(0.0, drawn - rest), k > np.minimum(cell, drawn))
    return np.where(inside, np.minimum(tail, 1.0), np.where(beyond, 1.0, 0.0))


_TAIL_BLOCK = 64


def _log_choose(n, r):
    return special.gammaln(n + 1) - special.gammaln(r + 1) - special.gammaln(n - r + 1)
