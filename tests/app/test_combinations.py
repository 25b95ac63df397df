"""The combinations page's statistics: lift against independence rings planted interactions, not main effects.

Small planted tables are built here (parameters, accuracy with known effects, the top networks selected), then
the same analysis runs on the 16,000-network planted study (pipeline/benchmarks/planted_study.py). Numbers are
checked against scipy (expected counts of chi2_contingency, hypergeom tails) and statsmodels' BH.
"""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from pipeline.analysis import significance
from pipeline.app import study_frame, study_views
from pipeline.app.selection import Selection


def _planted(rows: int, *, interaction: bool, seed: int = 1) -> pl.DataFrame:
    """Networks with three parameters: strong main effects of lr (3 options) and bn (2), none of act (4);
    with interaction, act = 'sigmoid' and init = 'constant' together train to chance."""
    rng = np.random.default_rng(seed)
    lr = rng.integers(0, 3, rows)
    bn = rng.integers(0, 2, rows)
    act = rng.integers(0, 4, rows)
    init = rng.integers(0, 3, rows)
    accuracy = 0.6 - 0.15 * (lr != 1) + 0.1 * bn + rng.normal(0, 0.05, rows)
    if interaction:
        accuracy = np.where((act == 2) & (init == 0), 0.1, accuracy)
    return pl.DataFrame({"lr": [["1e-4", "1e-3", "1e-2"][i] for i in lr], "bn": [["off", "on"][i] for i in bn],
                         "act": [["elu", "relu", "sigmoid", "tanh"][i] for i in act],
                         "init": [["constant", "normal", "uniform"][i] for i in init], "accuracy": accuracy})


def _cells(networks: pl.DataFrame, top: float) -> pl.DataFrame:
    """A pair matrix as study_views.pair_matrix shapes it (a, b, option_a, option_b, runs, selected) for the
    networks in the top share, counted directly here."""
    chosen = networks.with_columns((pl.col("accuracy") >= pl.col("accuracy").quantile(1 - top)).alias("chosen"))
    names = [c for c in networks.columns if c != "accuracy"]
    parts = []
    for a, b in itertools.combinations(names, 2):
        parts.append(chosen.group_by(pl.col(a).alias("option_a"), pl.col(b).alias("option_b")).agg(
            pl.len().alias("runs"), pl.col("chosen").sum().cast(pl.Int64).alias("selected"))
            .with_columns(pl.lit(a).alias("a"), pl.lit(b).alias("b")))
    return pl.concat(parts, how="vertical_relaxed").select("a", "b", "option_a", "option_b", "runs", "selected")


def _both_lifts(cells: pl.DataFrame, runs_total: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    chosen = int(cells.filter((pl.col("a") == cells["a"][0]) & (pl.col("b") == cells["b"][0]))["selected"].sum())
    study = significance.evaluate(significance.lift(cells, runs_total=runs_total, selected_total=chosen),
                                  runs_total=runs_total, selected_total=chosen)
    independence = significance.evaluate_independence(significance.independence_lift(cells))
    return study, independence


def _ringed(cells: pl.DataFrame) -> set[tuple[str, str, str, str]]:
    return set(cells.filter("significant").select("a", "b", "option_a", "option_b").iter_rows())


@pytest.mark.parametrize("top", [0.05, 0.1])
def test_main_effects_alone_ring_nothing_against_independence_but_much_against_the_study(top):
    networks = _planted(20_000, interaction=False)
    study, independence = _both_lifts(_cells(networks, top), networks.height)
    assert _ringed(independence) == set()
    # the old lift rings every cell of the good learning rate and of batch norm on (or off), in every pair
    assert len(_ringed(study)) >= 20
    assert {r[:2] for r in _ringed(study)} >= {("lr", "bn"), ("lr", "act"), ("bn", "act"), ("lr", "init")}


def test_a_broad_range_couples_two_strong_main_effects_and_no_other_pair():
    """Berkson's bias, what the independence lift cannot tell from an interaction: in the top 20 %, a network
    bad on both learning rate and batch norm is rarer than each alone predicts. Only that pair rings, and only
    cells bad on both counts, under-represented."""
    networks = _planted(20_000, interaction=False)
    _, independence = _both_lifts(_cells(networks, 0.2), networks.height)
    ringed = independence.filter("significant")
    assert set(ringed.select("a", "b").iter_rows()) <= {("lr", "bn")}
    assert set(ringed["option_b"]) <= {"off"} and "1e-3" not in set(ringed["option_a"])
    assert (ringed["lift"] <= 0.5).all()
    with_interaction = _planted(20_000, interaction=True)
    _, independence = _both_lifts(_cells(with_interaction, 0.2), with_interaction.height)
    assert ("act", "init", "sigmoid", "constant") in _ringed(independence)
    assert {r[:2] for r in _ringed(independence)} <= {("act", "init"), ("lr", "bn")}


@pytest.mark.parametrize("top", [0.05, 0.1])
def test_a_planted_interaction_rings_its_cell_only_against_independence(top):
    networks = _planted(20_000, interaction=True)
    study, independence = _both_lifts(_cells(networks, top), networks.height)
    assert _ringed(independence) == {("act", "init", "sigmoid", "constant")}
    assert independence.filter((pl.col("option_a") == "sigmoid") & (pl.col("option_b") == "constant"))[
        "lift"][0] == 0
    assert len(_ringed(study)) > 20


def test_independence_lift_and_its_test_equal_scipys():
    """Expected counts as chi2_contingency computes them, the doubled smaller hypergeometric tail from
    scipy.stats.hypergeom on each cell's 2x2 table, q as statsmodels' Benjamini-Hochberg."""
    networks = _planted(3_000, interaction=True, seed=7)
    cells = significance.evaluate_independence(significance.independence_lift(_cells(networks, 0.1)),
                                               min_log2_lift=0)
    for (a, b), pair in cells.group_by("a", "b"):
        table = pair.pivot(on="option_b", index="option_a", values="selected").fill_null(0)
        options_b = table.columns[1:]
        # what chi2_contingency computes as its expected frequencies (it refuses tables with an empty row)
        expected = stats.contingency.expected_freq(table.select(options_b).to_numpy())
        for i, option_a in enumerate(table["option_a"]):
            for j, option_b in enumerate(options_b):
                row = pair.filter((pl.col("option_a") == option_a) & (pl.col("option_b") == option_b))
                if row.is_empty():
                    continue
                r = row.row(0, named=True)
                assert r["expected"] == pytest.approx(expected[i, j]), (a, b, option_a, option_b)
                if expected[i, j] == 0:  # an empty row or column of the range: nothing to compare, no test
                    assert r["lift"] is None and r["p"] is None and not r["significant"]
                    continue
                assert r["lift"] == pytest.approx(r["selected"] / expected[i, j])
                n, rows, columns = r["pair_total"], r["row_total"], r["column_total"]
                k = r["selected"]
                theirs = min(1.0, 2 * min(stats.hypergeom.cdf(k, n, rows, columns),
                                          stats.hypergeom.sf(k - 1, n, rows, columns)))
                assert r["p"] == pytest.approx(theirs, rel=1e-6, abs=1e-300), (a, b, option_a, option_b)
                assert (r["row_total"], r["column_total"]) == (int(table.filter(pl.col("option_a") == option_a)
                                                                    .select(options_b).sum_horizontal()[0]),
                                                                int(table[option_b].sum()))
    tested = cells.filter(pl.col("p").is_not_null())
    assert tested.height > cells.height / 2
    reject, q, *_ = multipletests(tested["p"].to_numpy(), alpha=0.05, method="fdr_bh")
    assert tested["q"].to_numpy() == pytest.approx(q)
    assert list(tested["significant"]) == list(reject)


def test_the_effect_size_is_required_too():
    """Lift 1.3 on big counts is significant at any alpha, but not an effect worth a ring."""
    cells = pl.DataFrame({"a": ["x"] * 4, "b": ["y"] * 4, "option_a": ["0", "0", "1", "1"],
                          "option_b": ["0", "1", "0", "1"], "selected": [6500, 3500, 3500, 6500]})
    marked = significance.evaluate_independence(significance.independence_lift(cells))
    assert marked["lift"].to_list() == pytest.approx([1.3, 0.7, 0.7, 1.3])
    assert (marked["q"] < 1e-6).all()
    assert not marked["significant"].any()
    assert significance.evaluate_independence(significance.independence_lift(cells),
                                              min_log2_lift=0.3)["significant"].all()


@pytest.fixture(scope="module")
def planted_16k(planted_warehouse):
    return planted_warehouse, study_frame.load(planted_warehouse, "planted")


def test_the_16k_planted_study_rings_its_interaction_only_against_independence(planted_16k):
    """Top 5 % within each dataset: against independence, the planted sigmoid x constant cell alone (its
    networks train to chance, so none is in the top); against the whole study, hundreds of main-effect cells.
    The compared range (also the top 5 %) gives the same."""
    _, frame = planted_16k
    top = Selection(0.95, 1.0, "rank")
    cells = study_views.pair_matrix(frame, top, top)
    interaction = {("activation", "initialization", "sigmoid", "constant")}
    for suffix in ("", "_b"):
        ringed = set(cells.filter(f"significant_indep{suffix}").select("a", "b", "option_a", "option_b").iter_rows())
        assert ringed == interaction
        assert cells[f"significant{suffix}"].sum() > 300
    cell = cells.filter((pl.col("option_a") == "sigmoid") & (pl.col("option_b") == "constant")).row(0, named=True)
    assert cell["selected"] == 0 and cell["expected_indep"] > 20
    # what the old lift rings is main effects: learning rate, batch norm, conv depth among them
    main = {"learning rate", "batch norm", "conv depth"}
    old = cells.filter("significant")
    assert main <= set(old["a"]) | set(old["b"])


def test_inactive_runs_are_left_out_of_the_independence_lift(planted_16k):
    """Momentum applies to SGD only: its (inactive) option is the other optimizers by design, so those cells
    get no lift, and among SGD runs momentum and optimizer are trivially independent (one column)."""
    _, frame = planted_16k
    cells = study_views.pair_matrix(frame, Selection(0.8, 1.0, "rank"))
    pair = cells.filter((pl.col("a") == "momentum") & (pl.col("b") == "optimizer"))
    inactive = pair.filter(pl.col("option_a") == study_frame.INACTIVE)
    assert inactive.height == 2 and inactive["lift_indep"].is_null().all()
    assert not inactive["significant_indep"].any()
    sgd = pair.filter(pl.col("option_a") != study_frame.INACTIVE)
    assert set(sgd["option_b"]) == {"sgd"}
    assert sgd["lift_indep"].to_list() == pytest.approx([1.0] * sgd.height)
    # with another parameter, momentum's margins are SGD runs only
    other = cells.filter((pl.col("a") == "dataset") & (pl.col("b") == "momentum")
                         & (pl.col("option_b") != study_frame.INACTIVE))
    assert other["pair_total" if "pair_total" in other.columns else "selected"].sum() == int(
        cells.filter((pl.col("a") == "momentum") & (pl.col("b") == "optimizer") & (pl.col("option_b") == "sgd"))[
            "selected"].sum())
