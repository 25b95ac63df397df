"""Group means with confidence intervals, and one-way ANOVA effects per panel, from group aggregates.

Input: one row per group (panel, option, primary[, secondary]) with n, mean and var (sample
variance) of the accuracy, as DuckDB returns them. Intervals are Student-t 95 % intervals of
the mean (mean +- t(0.975, n - 1) * sd / sqrt(n)); a group of one run has none. A panel's
effect within one value of the primary parameter is a one-way ANOVA over its options: eta^2 =
SS_between / SS_total orders the panels (largest first); its F-test's p-values over all panels
and primary values are corrected with Benjamini-Hochberg, and a panel whose tests all have
q >= alpha is "within noise".
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats

INTERVAL_NAME = "Student-t 95 % confidence interval of the mean"
TEST_NAME = "one-way ANOVA F-test per panel and primary value, Benjamini-Hochberg over all of them"


def intervals(groups: pl.DataFrame, *, level: float = 0.95) -> pl.DataFrame:
    """Adds low and high of the confidence interval of each group's mean."""
    n = groups["n"].to_numpy().astype(float)
    sd = np.sqrt(groups["var"].fill_null(np.nan).to_numpy().astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n)
    half = np.where(n > 1, half, np.nan)
    mean = groups["mean"].to_numpy()
    return groups.with_columns(pl.Series("low", mean - half, nan_to_null=True),
                               pl.Series("high", mean + half, nan_to_null=True))


def effects(groups: pl.DataFrame, *, alpha: float = 0.05) -> pl.DataFrame:
    """One row per (panel, primary): eta_squared, f, p, q; groups are summed over any secondary first."""
    cells = (groups.with_columns((pl.col("n") * pl.col("mean")).alias("total"),
                                 ((pl.col("n") - 1) * pl.col("var").fill_null(0)).alias("within"))
             .group_by("panel", "primary", "option")
             .agg(pl.col("n").sum(), pl.col("total").sum(), pl.col("within").sum(),
                  (pl.col("n") * pl.col("mean") ** 2).sum().alias("sq")))
    rows = []
    for (panel, primary), part in cells.group_by("panel", "primary"):
        n, total = part["n"].to_numpy().astype(float), part["total"].to_numpy()
        grand = total.sum() / n.sum()
        means = total / n
        # within-option sum of squares, including the spread between secondary groups merged into an option
        within = part["within"].sum() + float((part["sq"].to_numpy() - n * means ** 2).sum())
        between = float((n * (means - grand) ** 2).sum())
        k, big_n = len(n), n.sum()
        if k > 1 and big_n > k and within > 0:
            f = (between / (k - 1)) / (within / (big_n - k))
            p = float(stats.f.sf(f, k - 1, big_n - k))
        else:
            f, p = None, None
        eta = between / (between + within) if between + within > 0 else 0.0
        rows.append({"panel": panel, "primary": primary, "eta_squared": eta, "f": f, "p": p})
    out = pl.DataFrame(rows, schema={"panel": pl.String, "primary": pl.String, "eta_squared": pl.Float64,
                                     "f": pl.Float64, "p": pl.Float64})
    tested = out["p"].drop_nulls().to_numpy()
    q = stats.false_discovery_control(tested, method="bh") if len(tested) else np.array([])
    qs = iter(q)
    out = out.with_columns(pl.Series("q", [next(qs) if p is not None else None for p in out["p"]], dtype=pl.Float64))
    return out.with_columns((pl.col("q") < alpha).fill_null(False).alias("significant"))


def panel_order(effect: pl.DataFrame) -> pl.DataFrame:
    """One row per panel, strongest first: its largest eta^2 and whether any test was significant."""
    return (effect.group_by("panel")
            .agg(pl.col("eta_squared").max(), pl.col("significant").any(), pl.col("q").min())
            .sort("eta_squared", descending=True))
