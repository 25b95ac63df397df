"""pipeline/analysis/sweeps.py against scipy and statsmodels computed here, on a generated successive-halving
sweep (known effects) and on the real sweeps of the demo warehouse, read with straight SQL."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from pipeline.analysis import sweeps
from tests.conftest import sql

BUDGETS = (1.0, 3.0, 9.0)


def halving_sweep(*, brackets: int = 8, model_edge: float = 0.05, seed: int = 0) -> pl.DataFrame:
    """Successive halving with eta 3 over BUDGETS: 27 configurations per bracket on budget 1, the best third
    promoted each round; half the configurations model-based with a quality `model_edge` higher."""
    rng = np.random.default_rng(seed)
    rows = []
    for bracket in range(brackets):
        quality = rng.normal(0.7, 0.08, 27)
        origin = np.where(np.arange(27) % 2 == 0, "model_based", "random")
        quality = quality + np.where(origin == "model_based", model_edge, 0.0)
        alive = np.arange(27)
        for budget in BUDGETS:
            accuracy = np.clip(quality[alive] + 0.05 * np.log(budget) + rng.normal(0, 0.02, len(alive)), 0, 1)
            rows += [{"config_id": f"({bracket}, 0, {i})", "budget": budget, "origin": origin[i],
                      "accuracy": float(a)} for i, a in zip(alive, accuracy)]
            alive = alive[np.argsort(-accuracy)[: max(len(alive) // 3, 1)]]
    return pl.DataFrame(rows)


def test_mann_whitney_per_budget_matches_scipy_with_bh_from_statsmodels():
    sweep = halving_sweep(model_edge=0.1)
    result = sweeps.sampling_tests(sweep)
    expected_p = []
    for budget in BUDGETS:
        part = sweep.filter(pl.col("budget") == budget)
        model = part.filter(pl.col("origin") == "model_based")["accuracy"].to_numpy()
        random = part.filter(pl.col("origin") == "random")["accuracy"].to_numpy()
        row = result.filter(pl.col("budget") == budget).row(0, named=True)
        assert (row["n_model_based"], row["n_random"]) == (len(model), len(random))
        if min(len(model), len(random)) < sweeps.MIN_GROUP:
            assert not row["tested"] and row["p"] is None
            continue
        u, p = stats.mannwhitneyu(model, random, alternative="two-sided")
        assert row["u"] == pytest.approx(u) and row["p"] == pytest.approx(p)
        # common-language effect size counted pair by pair
        wins = (model[:, None] > random[None, :]).mean() + 0.5 * (model[:, None] == random[None, :]).mean()
        assert row["effect"] == pytest.approx(wins)
        assert row["rank_biserial"] == pytest.approx(2 * wins - 1)
        assert row["median_model_based"] == pytest.approx(np.median(model))
        expected_p.append(p)
    assert len(expected_p) >= 2
    q = multipletests(expected_p, method="fdr_bh")[1]
    assert result.filter(pl.col("tested")).sort("budget")["q"].to_list() == pytest.approx(list(q))
    # budget 1 holds 8 x 27 configurations and a planted edge of 0.1 (1.25 sd): found, and called better
    first = result.filter(pl.col("budget") == 1.0).row(0, named=True)
    assert first["significant"] and first["better"] and first["effect"] > 0.6


def test_no_difference_is_not_called_better_and_small_groups_are_not_tested():
    same = sweeps.sampling_tests(halving_sweep(model_edge=0.0, seed=3))
    assert not same["better"].any()
    few = halving_sweep(brackets=1)  # budget 9: one configuration left, budget 3: 9 of both kinds together
    result = sweeps.sampling_tests(few)
    tested = dict(zip(result["budget"].to_list(), result["tested"].to_list()))
    counts = few.group_by("budget", "origin").len()
    for budget in BUDGETS:
        n = dict(counts.filter(pl.col("budget") == budget).select("origin", "len").iter_rows())
        assert tested[budget] == (min(n.get("model_based", 0), n.get("random", 0)) >= sweeps.MIN_GROUP)
    assert result.filter(~pl.col("tested"))["q"].null_count() == result.filter(~pl.col("tested")).height


def test_spearman_between_consecutive_budgets_matches_scipy_over_the_same_configurations():
    sweep = halving_sweep()
    result = sweeps.budget_correlations(sweep)
    assert result.select("lower", "higher").rows() == [(1.0, 3.0), (3.0, 9.0)]
    expected_p = []
    for lower, higher in [(1.0, 3.0), (3.0, 9.0)]:
        low = dict(sweep.filter(pl.col("budget") == lower).select("config_id", "accuracy").iter_rows())
        high = dict(sweep.filter(pl.col("budget") == higher).select("config_id", "accuracy").iter_rows())
        both = sorted(set(low) & set(high))
        rho, p = stats.spearmanr([low[c] for c in both], [high[c] for c in both])
        row = result.filter(pl.col("lower") == lower).row(0, named=True)
        assert row["n"] == len(both)
        assert row["rho"] == pytest.approx(rho) and row["p"] == pytest.approx(p)
        expected_p.append(p)
    assert result["q"].to_list() == pytest.approx(list(multipletests(expected_p, method="fdr_bh")[1]))
    assert result["rho"][0] > 0.5  # the same quality drives both budgets


def test_largest_against_next_budget_is_paired_over_the_same_configurations():
    sweep = halving_sweep()
    paired = sweeps.largest_vs_next(sweep)
    low = dict(sweep.filter(pl.col("budget") == 3.0).select("config_id", "accuracy").iter_rows())
    high = dict(sweep.filter(pl.col("budget") == 9.0).select("config_id", "accuracy").iter_rows())
    both = sorted(set(low) & set(high))
    difference = np.array([high[c] - low[c] for c in both])
    assert (paired["largest"], paired["next"], paired["n"]) == (9.0, 3.0, len(both))
    assert paired["mean_difference"] == pytest.approx(difference.mean())
    assert paired["median_difference"] == pytest.approx(np.median(difference))
    assert paired["improved"] == pytest.approx((difference > 0).mean())
    interval = stats.t.interval(0.95, len(both) - 1, loc=difference.mean(), scale=stats.sem(difference))
    assert (paired["low"], paired["high"]) == pytest.approx(interval)
    assert paired["p"] == pytest.approx(stats.wilcoxon(difference).pvalue)
    # matched-pairs rank-biserial: (sum of ranks of gains - sum of ranks of losses) / all ranks, over the
    # non-zero differences as the Wilcoxon test ranks them (zero_method "wilcox"; clipped accuracies tie at 1)
    nonzero = difference[difference != 0]
    ranks = stats.rankdata(np.abs(nonzero))
    assert paired["rank_biserial"] == pytest.approx((ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum())
                                                    / ranks.sum())
    assert paired["mean_difference"] > 0  # the generated sweep gains 0.05 log(3) from 3 to 9


def test_one_budget_has_nothing_to_compare():
    one = halving_sweep().filter(pl.col("budget") == 9.0)
    assert sweeps.largest_vs_next(one) is None
    assert sweeps.budget_correlations(one).is_empty()


def _demo_evaluations(path, study: str) -> pl.DataFrame:
    """Finished evaluations of a demo sweep with each configuration's origin, straight from the runs table."""
    rows = sql(path, """
        select r.config_id, r.budget, r.test_accuracy,
               (select r0.sampled_as from runs r0 where r0.study_id = r.study_id and r0.config_id = r.config_id
                order by r0.budget limit 1)
        from runs r join studies s using (study_id)
        where s.name = ? and r.status = 'ok' and r.test_accuracy is not null""", [study])
    return pl.DataFrame(rows, schema=["config_id", "budget", "accuracy", "origin"], orient="row")


@pytest.mark.parametrize("study", ["demo-bohb", "demo-hyperband"])
def test_demo_sweeps_statistics_match_scipy(demo_warehouse, study):
    evaluations = _demo_evaluations(demo_warehouse, study)
    assert evaluations.height > 100
    correlations = sweeps.budget_correlations(evaluations)
    budgets = sorted(set(evaluations["budget"]))
    assert correlations.height == len(budgets) - 1
    for row in correlations.filter(pl.col("tested")).iter_rows(named=True):
        pairs = sql(demo_warehouse, """
            select a.test_accuracy, b.test_accuracy from runs a join runs b using (study_id, config_id)
            join studies s using (study_id)
            where s.name = ? and a.budget = ? and b.budget = ? and a.status = 'ok' and b.status = 'ok'
              and a.test_accuracy is not null and b.test_accuracy is not null""",
                    [study, row["lower"], row["higher"]])
        assert row["n"] == len(pairs)
        assert row["rho"] == pytest.approx(stats.spearmanr(*zip(*pairs)).statistic)
    tests = sweeps.sampling_tests(evaluations)
    if study == "demo-hyperband":
        assert tests["n_model_based"].sum() == 0 and not tests["tested"].any()
