"""Statistics of a Hyperband / BOHB sweep over its evaluations: are the model-based picks better, and can a low
budget's ranking be trusted?

Input: one row per evaluation with config_id, budget, origin (how its configuration was first sampled:
random or model_based) and accuracy, finished evaluations only (a failed run has no accuracy).

- sampling_tests: per budget, the model-based picks' accuracies against the random picks' at that same budget
  (like with like: a longer budget raises every accuracy), two-sided Mann-Whitney U test, effect size the
  common-language effect size P(model-based > random) + P(tie) / 2 = U / (n_model * n_random) (0.5: no
  difference) with its rank-biserial form 2 P - 1, Benjamini-Hochberg over the budgets tested. A budget is
  tested when both kinds have at least MIN_GROUP evaluations. At budgets above the smallest, both kinds hold
  promoted configurations, chosen by the same rule, so the comparison stays fair between the two kinds.
- budget_correlations: for each pair of consecutive budgets, Spearman's rank correlation of the accuracies of
  the configurations evaluated on both (promotions), with its two-sided p and BH over the pairs; high rho: the
  lower budget ranks configurations as the higher one does, so stopping early loses little.
- largest_vs_next: the configurations evaluated on both the largest budget and the one below, paired: mean
  difference (largest - next) with its Student-t 95 % interval, median difference, share that improved,
  Wilcoxon signed-rank test (two-sided) and its matched-pairs rank-biserial effect size.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
from scipy import stats

MIN_GROUP = 5  # evaluations per kind (or pairs) below which a test is not run: its p would mean little
MIN_PAIRS = 5
MIN_EFFECT = 0.56  # common-language effect size that counts as a difference (Vargha & Delaney's "small")
SAMPLING_TEST_NAME = ("two-sided Mann-Whitney U test of test accuracy, model-based against random picks at the "
                      "same budget, Benjamini-Hochberg over the budgets")
CORRELATION_TEST_NAME = ("Spearman rank correlation of test accuracy between consecutive budgets, over the "
                         "configurations evaluated on both, Benjamini-Hochberg over the pairs")
PAIRED_TEST_NAME = "Wilcoxon signed-rank test (two-sided) on the paired accuracies of the same configurations"


def _bh(p: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values; NaN where nothing was tested."""
    values = np.asarray(p, dtype=float)
    tested = ~np.isnan(values)
    q = np.full(values.shape, np.nan)
    if tested.any():
        q[tested] = stats.false_discovery_control(values[tested], method="bh")
    return q.tolist()


def _finished(evaluations: pl.DataFrame) -> pl.DataFrame:
    return evaluations.filter(pl.col("accuracy").is_not_null() & pl.col("accuracy").is_finite())


def sampling_tests(evaluations: pl.DataFrame, *, alpha: float = 0.05) -> pl.DataFrame:
    """One row per budget: n and median accuracy of each kind, U, p, q, effect (P(model-based > random)),
    rank_biserial, tested (both kinds have MIN_GROUP evaluations), significant (q < alpha) and
    better (significant, effect >= MIN_EFFECT), worse (significant, effect <= 1 - MIN_EFFECT)."""
    finished = _finished(evaluations).filter(pl.col("origin").is_in(["random", "model_based"]))
    rows = []
    for (budget,), part in sorted(finished.group_by("budget"), key=lambda item: item[0][0]):
        model = part.filter(pl.col("origin") == "model_based")["accuracy"].to_numpy()
        random = part.filter(pl.col("origin") == "random")["accuracy"].to_numpy()
        row = {"budget": float(budget), "n_model_based": len(model), "n_random": len(random),
               "median_model_based": float(np.median(model)) if len(model) else None,
               "median_random": float(np.median(random)) if len(random) else None,
               "u": None, "p": math.nan, "effect": None, "rank_biserial": None}
        if len(model) >= MIN_GROUP and len(random) >= MIN_GROUP:
            u, p = stats.mannwhitneyu(model, random, alternative="two-sided")
            effect = float(u) / (len(model) * len(random))
            row.update(u=float(u), p=float(p), effect=effect, rank_biserial=2 * effect - 1)
        rows.append(row)
    schema = {"budget": pl.Float64, "n_model_based": pl.Int64, "n_random": pl.Int64,
              "median_model_based": pl.Float64, "median_random": pl.Float64, "u": pl.Float64, "p": pl.Float64,
              "effect": pl.Float64, "rank_biserial": pl.Float64}
    out = pl.DataFrame(rows, schema=schema).with_columns(q=pl.Series(_bh([r["p"] for r in rows]), dtype=pl.Float64))
    out = out.with_columns(pl.col("p", "q").fill_nan(None))
    significant = pl.col("q").fill_null(1.0) < alpha
    return out.with_columns(tested=pl.col("p").is_not_null(), significant=significant,
                            better=significant & (pl.col("effect") >= MIN_EFFECT),
                            worse=significant & (pl.col("effect") <= 1 - MIN_EFFECT))


def _by_config(finished: pl.DataFrame, budget: float) -> pl.DataFrame:
    # one evaluation per configuration and budget; a log that repeated one keeps the mean
    return (finished.filter(pl.col("budget") == budget)
            .group_by("config_id").agg(pl.col("accuracy").mean()))


def budget_correlations(evaluations: pl.DataFrame, *, alpha: float = 0.05) -> pl.DataFrame:
    """One row per pair of consecutive budgets (lower, higher): n configurations on both, Spearman rho, p, q,
    tested (at least MIN_PAIRS configurations and neither side constant), significant (q < alpha)."""
    finished = _finished(evaluations)
    budgets = sorted(set(finished["budget"].to_list()))
    rows = []
    for lower, higher in itertools.pairwise(budgets):
        pairs = _by_config(finished, lower).join(_by_config(finished, higher), on="config_id", suffix="_higher")
        a, b = pairs["accuracy"].to_numpy(), pairs["accuracy_higher"].to_numpy()
        rho, p = math.nan, math.nan
        if len(pairs) >= MIN_PAIRS and np.ptp(a) > 0 and np.ptp(b) > 0:
            result = stats.spearmanr(a, b)
            rho, p = float(result.statistic), float(result.pvalue)
        rows.append({"lower": float(lower), "higher": float(higher), "n": len(pairs), "rho": rho, "p": p})
    schema = {"lower": pl.Float64, "higher": pl.Float64, "n": pl.Int64, "rho": pl.Float64, "p": pl.Float64}
    out = pl.DataFrame(rows, schema=schema).with_columns(q=pl.Series(_bh([r["p"] for r in rows]), dtype=pl.Float64))
    out = out.with_columns(pl.col("rho", "p", "q").fill_nan(None))
    return out.with_columns(tested=pl.col("p").is_not_null(), significant=pl.col("q").fill_null(1.0) < alpha)


def largest_vs_next(evaluations: pl.DataFrame) -> dict | None:
    """The paired comparison of the largest budget with the one below it, over the configurations evaluated on
    both; None when the sweep has fewer than two budgets with finished evaluations. Keys: largest, next, n,
    mean_difference, low, high (95 % interval of the mean difference; None below 2 pairs), median_difference,
    improved (share of configurations more accurate on the largest budget), p and rank_biserial (None below
    MIN_PAIRS pairs or when every difference is 0)."""
    finished = _finished(evaluations)
    budgets = sorted(set(finished["budget"].to_list()))
    if len(budgets) < 2:
        return None
    largest, below = budgets[-1], budgets[-2]
    pairs = _by_config(finished, below).join(_by_config(finished, largest), on="config_id", suffix="_largest")
    difference = pairs["accuracy_largest"].to_numpy() - pairs["accuracy"].to_numpy()
    n = len(difference)
    out = {"largest": float(largest), "next": float(below), "n": n, "mean_difference": None, "low": None,
           "high": None, "median_difference": None, "improved": None, "p": None, "rank_biserial": None}
    if n == 0:
        return out
    mean = float(difference.mean())
    out.update(mean_difference=mean, median_difference=float(np.median(difference)),
               improved=float((difference > 0).mean()))
    if n >= 2:
        half = float(stats.t.ppf(0.975, n - 1) * difference.std(ddof=1) / math.sqrt(n))
        out.update(low=mean - half, high=mean + half)
    nonzero = difference[difference != 0]
    if n >= MIN_PAIRS and len(nonzero):
        out["p"] = float(stats.wilcoxon(difference, zero_method="wilcox").pvalue)
        ranks = stats.rankdata(np.abs(nonzero))
        out["rank_biserial"] = float((ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum()) / ranks.sum())
    return out
