"""Is a heat-map cell's lift more than sampling noise? Exact test per cell, false discovery rate over all.

Runs were sampled at random, so under "this pair of values has nothing to do with being
selected" the number of selected runs in a cell is hypergeometric: draw `selected_total` runs
without replacement from `runs_total`, of which `cell_runs` are in the cell. The p-value is
two-sided (twice the smaller tail, at most 1; Fisher's exact test on the 2x2 table of
in-cell x selected, with the doubled one-sided p). The p-values of all cells shown together
are corrected with Benjamini-Hochberg; a cell is significant when its q-value is below `alpha`.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats

TEST_NAME = ("two-sided hypergeometric test per cell (Fisher's exact, doubled smaller tail), "
             "Benjamini-Hochberg false discovery rate over all cells shown")


def lift(frame: pl.DataFrame, *, runs_total: int, selected_total: int) -> pl.DataFrame:
    """Adds lift = (selected / selected_total) / (runs / runs_total) to a frame of cell counts."""
    if selected_total == 0:
        return frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("lift"))
    return frame.with_columns(
        ((pl.col("selected") / selected_total) / (pl.col("runs") / runs_total)).alias("lift"))


def evaluate(frame: pl.DataFrame, *, runs_total: int, selected_total: int, alpha: float = 0.05) -> pl.DataFrame:
    """Adds p, q (BH-adjusted) and significant to a frame with columns runs and selected per cell."""
    if frame.is_empty():
        return frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("p"), pl.lit(None, dtype=pl.Float64).alias("q"),
                                  pl.lit(False).alias("significant"))
    cell = frame["runs"].to_numpy()
    selected = frame["selected"].to_numpy()
    p = _hypergeometric_two_sided(selected, runs_total, cell, selected_total)
    q = stats.false_discovery_control(p, method="bh")
    return frame.with_columns(pl.Series("p", p), pl.Series("q", q), pl.Series("significant", q < alpha))


def _hypergeometric_two_sided(k: np.ndarray, total: int, cell: np.ndarray, drawn: int) -> np.ndarray:
    """min(1, 2 * the smaller tail); only the tail on the observed side is computed (it is the smaller one
    but for ties at the mean, where p is 1 either way), which halves scipy's per-cell loop."""
    k, cell = np.asarray(k), np.asarray(cell)
    above = k * total > cell * drawn
    tail = np.empty(len(k))
    tail[above] = stats.hypergeom.sf(k[above] - 1, total, cell[above], drawn)
    tail[~above] = stats.hypergeom.cdf(k[~above], total, cell[~above], drawn)
    return np.minimum(1.0, 2 * tail)
