"""The analysis pages' numbers, checked against SQL on the warehouse file and independent statistics."""

import itertools
import math

import numpy as np
import polars as pl
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from pipeline.analysis import significance
from pipeline.app import study_frame, study_views
from pipeline.app.selection import Selection
from pipeline.app.study_frame import StudyError
from tests.conftest import sql

STUDIES = [("demo_warehouse", "demo-ensemble"), ("tiny_warehouse", "tiny")]


@pytest.fixture(params=STUDIES, ids=[s for _, s in STUDIES])
def loaded(request):
    fixture, name = request.param
    path = request.getfixturevalue(fixture)
    return path, study_frame.load(path, name)


def _ok_accuracies(path, where: str = "", params=()) -> list[tuple]:
    return sql(path, f"""select r.dataset, r.test_accuracy from runs r join studies s using (study_id)
                         where s.name = ? and r.status = 'ok' and r.test_accuracy is not null {where}""", params)


def _hp_value(path, name: str) -> str:
    return f"(select h.value from hyperparameters h where h.run_id = r.run_id and h.name = '{name}')"


def test_normalized_histogram_bins_sum_to_each_datasets_runs(loaded):
    path, frame = loaded
    bins = study_views.histogram(frame, normalized=True)
    direct = dict(sql(path, """select dataset, count(*) from runs join studies using (study_id)
                               where name = ? and status = 'ok' and test_accuracy is not null group by 1""",
                      [frame.study["name"]]))
    assert dict(bins.group_by("dataset").agg(pl.col("networks").sum()).iter_rows()) == direct
    # every dataset spans the whole normalized axis: its worst run in bin 0, its best in the last bin
    for dataset in direct:
        part = bins.filter(pl.col("dataset") == dataset)
        assert part["bin"].min() == 0 and part["bin"].max() == study_views.HISTOGRAM_BINS - 1


def test_raw_histogram_matches_hand_binning(loaded):
    path, frame = loaded
    bins = study_views.histogram(frame, normalized=False, bins=10)
    expected = {}
    for dataset, accuracy in _ok_accuracies(path, "and s.name = ?", [frame.study["name"]] * 2):
        key = (dataset, min(int(accuracy * 10), 9))
        expected[key] = expected.get(key, 0) + 1
    assert {(d, b): n for d, b, n in bins.select("dataset", "bin", "networks").iter_rows()} == expected


def test_a_heatmap_cell_equals_a_direct_count(loaded):
    path, frame = loaded
    median = sql(path, "select median(test_accuracy) from runs r join studies s using (study_id) where s.name = ?",
                 [frame.study["name"]])[0][0]
    selection = Selection(median, 1.0)
    cells = study_views.pair_matrix(frame, selection)
    optimizer, activation = _hp_value(path, "optimizer"), _hp_value(path, "activation")
    direct = sql(path, f"""select {optimizer} as o, {activation} as a, count(*),
                                  count(*) filter (where r.status = 'ok' and r.test_accuracy between ? and 1.0)
                           from runs r join studies s using (study_id) where s.name = ? group by 1, 2""",
                 [median, frame.study["name"]])
    pair = cells.filter((pl.col("a") == "activation") & (pl.col("b") == "optimizer"))
    shown = {(o, a): (n, k) for a, o, n, k in pair.select("option_a", "option_b", "runs", "selected").iter_rows()}
    assert shown == {(o, a): (n, k) for o, a, n, k in direct}
    # lift from the direct counts, and the FDR marks from statsmodels' Benjamini-Hochberg
    total = sql(path, "select count(*) from runs r join studies s using (study_id) where s.name = ?",
                [frame.study["name"]])[0][0]
    chosen = sum(k for *_, k in direct)
    o, a, n, k = direct[0]
    row = pair.filter((pl.col("option_a") == a) & (pl.col("option_b") == o)).row(0, named=True)
    assert row["lift"] == pytest.approx((k / chosen) / (n / total))
    reject, q, *_ = multipletests(cells["p"].to_numpy(), alpha=0.05, method="fdr_bh")
    assert cells["q"].to_numpy() == pytest.approx(q)
    big = np.abs(np.log2(cells["lift"].fill_null(1.0).to_numpy())) >= significance.MIN_LOG2_LIFT
    assert list(cells["significant"]) == list(reject & big)


def test_a_strong_effect_is_significant_and_noise_is_not(tiny_warehouse):
    """Hand-made counts: a cell 3x over-represented in 300 of 1,000 runs is significant, a flat one is not,
    and a significant lift of 0.75 is below the effect size required (|log2 lift| >= 1)."""
    cells = pl.DataFrame({"runs": [100, 100, 800], "selected": [90, 30, 180]})
    marked = significance.evaluate(significance.lift(cells, runs_total=1000, selected_total=300),
                                   runs_total=1000, selected_total=300)
    assert marked["lift"].to_list() == pytest.approx([3.0, 1.0, 0.75])
    assert marked["q"][2] < 0.05
    assert marked["significant"].to_list() == [True, False, False]
    no_size = significance.evaluate(significance.lift(cells, runs_total=1000, selected_total=300),
                                    runs_total=1000, selected_total=300, min_log2_lift=0)
    assert no_size["significant"].to_list() == [True, False, True]
    # the doubled smaller tail of the hypergeometric, as scipy's own distribution gives it
    assert marked["p"][1] == pytest.approx(min(1, 2 * min(stats.hypergeom.cdf(30, 1000, 100, 300),
                                                         stats.hypergeom.sf(29, 1000, 100, 300))))


@pytest.mark.parametrize("total", [20, 1000, 16_000, 1_000_000])
def test_hypergeometric_tails_equal_scipys(total):
    """The observed side's tail for random cells and at the support's edges, against scipy's hypergeom (Boost)."""
    rng = np.random.default_rng(total)
    drawn = [0, 1, total // 3, total - 1, total]
    cell = rng.integers(0, total + 1, 300)
    for n in drawn:
        k = np.concatenate([rng.integers(0, np.minimum(cell, n) + 1), np.zeros(1, int), [min(n, total)]])
        c = np.concatenate([cell, [total // 2], [total]])
        upper = k * total > c * n
        theirs = np.where(upper, stats.hypergeom.sf(k - 1, total, c, n), stats.hypergeom.cdf(k, total, c, n))
        assert significance.hypergeometric_tail(k, total, c, n) == pytest.approx(theirs, rel=1e-7, abs=1e-300), n


def test_binned_learning_rate_cells_follow_log_bins(demo_warehouse):
    frame = study_frame.load(demo_warehouse, "demo-ensemble")
    rate = frame.param("learning_rate")
    assert rate.binned and rate.log and len(rate.labels) == study_frame.BINS
    rates = """select value_num from hyperparameters join runs using (run_id) join studies using (study_id)
               where studies.name = 'demo-ensemble' and hyperparameters.name = 'learning_rate'"""
    low, high = sql(demo_warehouse, f"select min(value_num), max(value_num) from ({rates})")[0]
    counts = {}
    for (value,) in sql(demo_warehouse, rates):
        b = min(int((math.log(value) - math.log(low)) / ((math.log(high) - math.log(low)) / 8)), 7)
        counts[b] = counts.get(b, 0) + 1
    cells = study_views.pair_matrix(frame, None).filter((pl.col("a") == "dataset") & (pl.col("b") == "learning_rate"))
    shown = cells.group_by("code_b").agg(pl.col("runs").sum())
    assert dict(shown.iter_rows()) == counts


def test_every_pair_of_unbinned_parameters_counts_as_a_direct_group_by(loaded):
    """Pairs are summed from counts of four parameters at a time: each pair against its own count."""
    path, frame = loaded
    selection = Selection(0.3, 1.0)
    names = [p.name for p in frame.params[1:] if not p.binned]
    values = pl.DataFrame(sql(path, """select r.run_id, r.dataset,
                                              r.status = 'ok' and r.test_accuracy between 0.3 and 1.0, h.name, h.value
                                       from runs r join studies s using (study_id) join hyperparameters h using (run_id)
                                       where s.name = ?""", [frame.study["name"]]),
                          schema=["run_id", "dataset", "selected", "name", "value"], orient="row")
    wide = values.pivot("name", index=["run_id", "dataset", "selected"], values="value")
    cells = study_views.pair_matrix(frame, selection)
    assert cells.select("a", "b").unique().height == len(frame.params) * (len(frame.params) - 1) // 2
    for a, b in itertools.combinations(["dataset", *names], 2):
        direct = wide.group_by(a, b).agg(pl.len().alias("runs"), pl.col("selected").sum())
        shown = cells.filter((pl.col("a") == a) & (pl.col("b") == b))
        shown_counts = shown.select("option_a", "option_b", "runs", "selected").iter_rows()
        assert {(x, y): (n, k) for x, y, n, k in direct.iter_rows()} == {
            (x, y): (n, k) for x, y, n, k in shown_counts}, (a, b)


def test_trellis_means_intervals_and_anova_match_direct_statistics(loaded):
    path, frame = loaded
    selection = Selection(0.2, 1.0)
    groups, effects = study_views.option_means(frame, selection, primary="dataset", secondary=None, normalized=False)
    values = sql(path, f"""select r.dataset, {_hp_value(path, 'optimizer')}, r.test_accuracy from runs r
                           join studies s using (study_id) where s.name = ? and r.status = 'ok'
                           and r.test_accuracy between 0.2 and 1.0""", [frame.study["name"]])
    by_group = {}
    for dataset, optimizer, accuracy in values:
        by_group.setdefault((dataset, optimizer), []).append(accuracy)
    shown = groups.filter(pl.col("panel") == "optimizer")
    assert shown.height == len(by_group)
    for row in shown.iter_rows(named=True):
        xs = np.array(by_group[(row["primary"], row["option"])])
        assert row["n"] == len(xs) and row["mean"] == pytest.approx(xs.mean())
        if len(xs) > 1 and xs.std() > 0:
            low, high = stats.t.interval(0.95, len(xs) - 1, loc=xs.mean(), scale=stats.sem(xs))
            assert (row["low"], row["high"]) == pytest.approx((max(low, 0.0), min(high, 1.0)))  # accuracy's range
        assert row["few"] == (len(xs) < 5)
    for row in effects.filter(pl.col("panel") == "optimizer").iter_rows(named=True):
        samples = [np.array(v) for (d, _), v in by_group.items() if d == row["primary"]]
        if row["p"] is not None:
            assert row["p"] == pytest.approx(stats.f_oneway(*samples).pvalue)


def test_trellis_lists_numbers_and_booleans_in_value_order_and_other_options_by_mean(demo_warehouse):
    """kernel_size showed 5, 3, 7 (by mean): numbers go in value order, categories best first."""
    frame = study_frame.load(demo_warehouse, "demo-ensemble")
    groups, _ = study_views.option_means(frame, None, primary="dataset", secondary=None, normalized=False)
    order = study_views.option_order(groups, frame)
    assert order["kernel_size"] == ["3", "5", "7"] and order["batch_size"] == ["32", "64", "128", "256"]
    assert order["batch_norm"] == ["false", "true"] and order["learning_rate"][0].startswith("0.0001")
    means = sql(demo_warehouse, """select h.value, avg(r.test_accuracy) from runs r join hyperparameters h
                                   using (run_id) where r.status = 'ok' and h.name = 'init' group by 1""")
    assert order["init"] == [v for v, _ in sorted(means, key=lambda r: -r[1])]


def test_trellis_with_a_secondary_parameter_keeps_the_anova_of_the_panel(demo_warehouse):
    frame = study_frame.load(demo_warehouse, "demo-ensemble")
    plain = study_views.option_means(frame, None, primary="dataset", secondary=None, normalized=True)[1]
    split = study_views.option_means(frame, None, primary="dataset", secondary="batch_norm", normalized=True)[1]
    joined = plain.join(split, on=["panel", "primary"], suffix="_split")
    assert joined.height == split.height > 0
    assert joined["p"].to_numpy() == pytest.approx(joined["p_split"].to_numpy())


def test_runs_table_is_the_filtered_selection_sorted(loaded):
    path, frame = loaded
    selection = Selection(0.3, 0.9)
    table = study_views.selected_runs(frame, selection, filters={"optimizer": ["adam", "rmsprop"]},
                                      order="accuracy", descending=False, limit=None)
    direct = sql(path, f"""select r.run_id from runs r join studies s using (study_id) where s.name = ?
                           and r.status = 'ok' and r.test_accuracy between 0.3 and 0.9
                           and {_hp_value(path, 'optimizer')} in ('adam', 'rmsprop')
                           order by r.test_accuracy, r.run_id""",
                 [frame.study["name"]])
    assert list(table["run_id"]) == [r for (r,) in direct]
    assert study_views.selected_runs_count(frame, selection, filters={"optimizer": ["adam", "rmsprop"]}) == len(direct)
    assert {"learning_rate", "optimizer", "accuracy", "accuracy_norm"} <= set(table.columns)
    assert not any(c.startswith("b") and c[1:].isdigit() for c in table.columns)


def test_what_a_study_lacks_is_named(demo_warehouse):
    frame = study_frame.load(demo_warehouse, "demo-ensemble")
    with pytest.raises(StudyError, match="no hyperparameter 'momentum'; it has dataset, activation"):
        study_views.option_means(frame, None, primary="momentum", secondary=None, normalized=False)
    with pytest.raises(StudyError, match="'optimizer' has no option 'lion'"):
        study_views.selected_runs(frame, None, filters={"optimizer": ["lion"]})
    with pytest.raises(StudyError, match="no study 'absent'"):
        study_frame.load(demo_warehouse, "absent")
    empty = study_views.option_means(frame, Selection(0.0, 0.0), primary="dataset", secondary=None, normalized=False)[0]
    assert empty.is_empty()


def test_an_imported_study_with_inactive_hyperparameters_loads(tmp_path):
    """A table import (conditional momentum: empty for non-SGD rows) has an '(inactive)' option."""
    from pipeline import importers
    from pipeline.benchmarks import planted_study

    source = tmp_path / "networks.parquet"
    planted_study.network_table(300, seed=3).write_parquet(source)
    path = tmp_path / "w.duckdb"
    importers.main(["table", str(source), "--study", "nws", "--warehouse", str(path)])
    frame = study_frame.load(path, "nws")
    momentum = frame.param("momentum")
    assert momentum.binned and momentum.labels[-1] == study_frame.INACTIVE
    inactive = sql(path, "select count(*) from runs r where not exists (select 1 from hyperparameters h "
                         "where h.run_id = r.run_id and h.name = 'momentum')")[0][0]
    cells = study_views.pair_matrix(frame, None).filter((pl.col("a") == "dataset") & (pl.col("b") == "momentum"))
    assert cells.filter(pl.col("option_b") == study_frame.INACTIVE)["runs"].sum() == inactive > 0


def test_runs_table_shows_each_runs_own_values_and_inactive_ones_empty_and_last(tmp_path):
    """The loaded study keeps option codes, not values, for unbinned parameters: the table must turn them back."""
    from pipeline import importers
    from pipeline.benchmarks import planted_study

    sgd = pl.col("optimizer") == "sgd"
    source = tmp_path / "networks.parquet"
    planted_study.network_table(300, seed=5).with_columns(
        variant=pl.when(sgd & pl.col("augmentation")).then(pl.lit("nesterov")).when(sgd).then(pl.lit("plain")),
    ).write_parquet(source)
    path = tmp_path / "w.duckdb"
    importers.main(["table", str(source), "--study", "nws", "--warehouse", str(path)])
    frame = study_frame.load(path, "nws")
    assert not frame.param("variant").binned and frame.param("variant").inactive is not None
    table = study_views.selected_runs(frame, None, order="run_id", descending=False, limit=None)
    stored = {(run_id, name): (number, text) for run_id, name, text, number in sql(
        path, "select run_id, name, value, value_num from hyperparameters")}
    names = [p.name for p in frame.params[1:]]
    assert set(names) <= set(table.columns)
    assert table.height == sql(path, "select count(*) from runs where status = 'ok'")[0][0]
    for row in table.iter_rows(named=True):
        for name in names:
            number, text = stored.get((row["run_id"], name), (None, None))
            assert row[name] == (number if table.schema[name] == pl.Float64 else text), (row["run_id"], name)
    for descending in (False, True):
        ordered = study_views.selected_runs(frame, None, order="variant", descending=descending, limit=None)
        variants = list(ordered["variant"])
        active = [v for v in variants if v is not None]
        assert variants == active + [None] * (len(variants) - len(active))
        assert active == sorted(active, reverse=descending) and {"nesterov", "plain"} == set(active)


def test_a_name_with_a_double_quote_from_an_older_warehouse_loads_as_it_is(tmp_path):
    """Today's writers refuse a '"' in a name, but a warehouse written by other tools may hold one; the
    study load quotes it instead of pasting it into SQL."""
    import duckdb

    from pipeline.warehouse import store

    path = tmp_path / "warehouse.duckdb"
    with store.write(path) as con:
        study_id = store.create_study(con, name="q", kind="ensemble", search_space=None, settings={}, seed=0,
                                          param_types={"ab": "text"})
        store.insert_runs(con, study_id, [{"trial": i, "status": "ok", "dataset": "d", "test_accuracy": 0.5,
                                               "epochs": 1, "hyperparameters": {"ab": "xy"[i % 2]}, "curve": []}
                                              for i in range(4)])
    con = duckdb.connect(str(path))
    con.execute("update hyperparameters set name = 'a\"b' where name = 'ab'")
    con.execute(f'alter table wide.study_{study_id} rename column ab to "a""b"')
    con.close()
    frame = study_frame.load(path, "q")
    assert [(p.name, p.labels) for p in frame.params[1:]] == [('a"b', ("x", "y"))]


def test_labels_never_merge_distinct_values():
    """Two momentum values 0.5712 and 0.5711 both showed "0.57": labels take the digits that keep them apart."""
    from pipeline.app.study_frame import _distinct_labels

    assert _distinct_labels([0.5711, 0.5712, 0.9]) == ("0.5711", "0.5712", "0.9")
    assert _distinct_labels([0.1, 0.25, 3]) == ("0.1", "0.25", "3")
    assert _distinct_labels([1e-4, 1.0001e-4]) == ("0.0001", "0.00010001")
    values = [0.5 + i * 1e-9 for i in range(12)]
    assert len(set(_distinct_labels(values))) == 12


@pytest.mark.parametrize("scale", ["raw", "rank"])
def test_run_values_are_each_runs_stored_values(loaded, scale):
    """What correlations and embeddings read: every finished run once, each hyperparameter's stored value
    (a number as value_num, a category as its text, absent as null), the accuracy on the scale asked."""
    path, frame = loaded
    values = study_views.run_values(frame, scale=scale)
    name = frame.study["name"]
    finished = sql(path, "select r.run_id, r.dataset, r.test_accuracy from runs r join studies s using (study_id) "
                         "where s.name = ? and r.status = 'ok' and r.test_accuracy is not null order by 1", [name])
    assert list(values["run_id"]) == [r for r, _, _ in finished]
    assert list(values["dataset"]) == [d for _, d, _ in finished]
    if scale == "raw":
        assert list(values["accuracy"]) == [a for _, _, a in finished]
    else:  # scipy's average rank within the dataset, (rank - 0.5) / n
        frame_ = pl.DataFrame(finished, schema=["run_id", "dataset", "accuracy"], orient="row")
        for (dataset,), part in frame_.group_by("dataset"):
            expected = (stats.rankdata(part["accuracy"]) - 0.5) / part.height
            got = values.filter(pl.col("dataset") == dataset).sort("run_id")["accuracy"].to_numpy()
            np.testing.assert_allclose(got, expected[np.argsort(part["run_id"].to_numpy())], rtol=0, atol=1e-12)
    stored = {(run_id, hp): (number, text) for run_id, hp, text, number in sql(
        path, "select run_id, name, value, value_num from hyperparameters")}
    names = [p.name for p in frame.params[1:] if not p.run_column]
    for row in values.iter_rows(named=True):
        for hp in names:
            number, text = stored.get((row["run_id"], hp), (None, None))
            assert row[hp] == (number if values.schema[hp] == pl.Float64 else text), (row["run_id"], hp)
    sample = study_views.run_values(frame, scale=scale, sample=10, seed=3)
    assert sample.height == 10 and set(sample["run_id"]) <= set(values["run_id"])
    assert sample.equals(study_views.run_values(frame, scale=scale, sample=10, seed=3))  # the same for a seed


@pytest.mark.parametrize("space", ['[1, 2]', '"text"', '{"lr": [1, 2]}', '{"lr": {"low": 1}}'])
def test_a_search_space_of_another_shape_still_loads(tiny_warehouse, tmp_path, space):
    """A space another tool wrote (a list, a string, specs that are not tables): no log flags, no error."""
    import shutil

    import duckdb

    path = tmp_path / "w.duckdb"
    shutil.copy(tiny_warehouse, path)
    with duckdb.connect(str(path)) as con:
        con.execute("update studies set search_space = ?", [space])
    frame = study_frame.load(path, "tiny")
    assert frame.runs == sql(path, "select count(*) from runs")[0][0]
