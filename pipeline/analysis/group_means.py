"""Group means with confidence intervals, and one-way ANOVA effects per panel, from group aggregates.

Input: one row per group (panel, option, primary[, secondary]) with n, mean and var (sample
variance) of the accuracy, as DuckDB returns them. Intervals are Student-t 95 % intervals of
the mean (mean +- t(0.975, n - 1) * sd / sqrt(n)), clipped to the accuracy's range 0..1 (raw and
normalized accuracy both live there); a group of one run has none, and a group of fewer than
MIN_GROUP networks is flagged `few` (the page draws it hollow, without its interval). A panel's
effect within one value of the primary parameter is a one-way ANOVA over its options: eta^2 =
SS_between / SS_total orders the panels (largest first); its F-test's p-values over all panels
and primary values are corrected with Benjamini-Hochberg. A test is an *effect* only when it is
significant (q < alpha) AND large enough (eta^2 >= MIN_ETA_SQUARED): with 16,000 networks an
eta^2 of 0.004 is significant but explains nothing worth a look. A panel with significant tests
but none that large is "significant but small"; one without significant tests is "within noise".
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats

INTERVAL_NAME = "Student-t 95 % confidence interval of the mean"
TEST_NAME = "one-way ANOVA F-test per panel and primary value, Benjamini-Hochberg over all of them"
MIN_ETA_SQUARED = 0.01  # an effect explains at least 1 % of the accuracy's variance (Cohen's "small")
MIN_GROUP = 5  # groups with fewer networks are marked: their mean and interval are too loose to compare
BOUNDS = (0.0, 1.0)  # accuracy, raw or normalized
EFFECT_RULE = f"an effect is a test with q < 0.05 and eta² ≥ {MIN_ETA_SQUARED:g}"


def intervals(groups: pl.DataFrame, *, level: float = 0.95, bounds: tuple[float, float] = BOUNDS) -> pl.DataFrame:
    """Adds low and high of the confidence interval of each group's mean, clipped to bounds, and `few`
    (fewer than MIN_GROUP networks)."""
    n = groups["n"].to_numpy().astype(float)
    sd = np.sqrt(groups["var"].fill_null(np.nan).to_numpy().astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n)
    half = np.where(n > 1, half, np.nan)
    mean = groups["mean"].to_numpy().astype(float)
    return groups.with_columns(pl.Series("low", np.clip(mean - half, *bounds), nan_to_null=True),
                               pl.Series("high", np.clip(mean + half, *bounds), nan_to_null=True),
                               pl.Series("few", n < MIN_GROUP))


def effects(groups: pl.DataFrame, *, alpha: float = 0.05) -> pl.DataFrame:
    """One row per (panel, primary): eta_squared, f, p, q, significant (q < alpha) and effect (significant and
    eta_squared >= MIN_ETA_SQUARED); groups are summed over any secondary first."""
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
    out = out.with_columns((pl.col("q") < alpha).fill_null(False).alias("significant"))
    return out.with_columns((pl.col("significant") & (pl.col("eta_squared") >= MIN_ETA_SQUARED)).alias("effect"))


def panel_order(effect: pl.DataFrame) -> pl.DataFrame:
    """One row per panel, panels with an effect first, each group by its largest eta^2 (name breaks ties): that
    eta^2, whether any test was significant, whether any was an effect, the smallest q, and the largest eta^2
    among its effects. (By eta^2 alone a small selection's noise panel can outrank a real effect.)"""
    return (effect.group_by("panel")
            .agg(pl.col("eta_squared").max(), pl.col("significant").any(), pl.col("effect").any(), pl.col("q").min(),
                 pl.col("eta_squared").filter(pl.col("effect")).max().alias("effect_eta_squared"))
            .sort(["effect", "eta_squared", "panel"], descending=[True, True, False]))


def verdict(row: dict) -> str:
    """A panel's row of panel_order in words, without brackets (it goes into a header)."""
    q = row.get("q")
    if row["effect"]:
        return f"effect: eta² {row['effect_eta_squared']:.2f}, q = {q:.2g}"
    if row["significant"]:
        return f"significant but small: eta² {row['eta_squared']:.3f} < {MIN_ETA_SQUARED:g}, q = {q:.2g}"
    return "within noise" + (f": q = {q:.2g}" if q is not None else "")
