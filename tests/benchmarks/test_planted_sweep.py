"""The planted sweep (pipeline/benchmarks/planted_sweep.py) against hpbandster's own plan and direct SQL.

One sweep of 3,000 evaluations (80 brackets, the last one partial) is written once; every check reads the
file straight through duckdb (tests.conftest.sql) or hpbandster, never through the generator's own numbers.
"""

from __future__ import annotations

import re
import time

import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from pipeline.app import study_frame, study_views
from pipeline.benchmarks import planted_sweep
from pipeline.warehouse import store
from tests.conftest import sha256, sql

EVALUATIONS = 3_000
STUDY = planted_sweep.STUDY


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    path = tmp_path_factory.mktemp("planted_sweep") / "sweep.duckdb"
    planted_sweep.main(["--evaluations", str(EVALUATIONS), "--warehouse", str(path)])
    return path


@pytest.fixture(scope="module")
def hpbandster_bohb():
    """hpbandster's BOHB optimizer for the sweep's budgets, built without its master's nameserver and dispatcher
    (as tests/test_bohb.py asks it for its plan)."""
    from hpbandster.core.master import Master
    from hpbandster.optimizers import BOHB

    from pipeline.core.space import load_space

    original = Master.__init__

    def plan_only(self, config_generator=None, **kwargs):
        self.config, self.config_generator = {}, config_generator

    Master.__init__ = plan_only
    try:
        return BOHB(configspace=load_space("bohbvis").to_configspace(0), eta=3, min_budget=1, max_budget=81)
    finally:
        Master.__init__ = original


def test_study_is_a_bohb_sweep_with_its_settings_and_space(sweep):
    [(kind, settings, space)] = sql(sweep, "select kind, settings, search_space from studies where name = ?", [STUDY])
    assert kind == "bohb"
    assert all(f'"{key}": {value}' in settings for key, value in
               (("min_budget", "1.0"), ("max_budget", "81.0"), ("eta", "3.0"), ("optimizer", '"bohb"')))
    columns = {c for (c,) in sql(sweep, "select column_name from duckdb_columns() "
                                        "where table_name = 'study_planted_sweep'")}
    assert {"optimizer", "learning_rate", "momentum", "batch_size", "hidden_size", "weight_decay"} <= columns
    assert '"learning_rate": {"low": 0.0001, "high": 0.1, "log": true' in space
    assert sql(sweep, "select count(*) from runs") == [(EVALUATIONS,)]


def test_plan_is_hpbandsters_and_complete_brackets_hold_it(sweep, hpbandster_bohb):
    plan = sql(sweep, "select bracket, bracket_s, round, configs, budget from sweep_plan order by bracket, round")
    brackets = sorted({row[0] for row in plan})
    assert brackets == list(range(len(brackets)))
    for bracket in brackets:
        iteration = hpbandster_bohb.get_next_iteration(bracket)
        rounds = [row for row in plan if row[0] == bracket]
        assert [row[3] for row in rounds] == [int(n) for n in iteration.num_configs]
        assert [row[4] for row in rounds] == pytest.approx([float(b) for b in iteration.budgets])
        assert {row[1] for row in rounds} == {len(iteration.budgets) - 1}
    ran = {(b, r): n for b, r, n in sql(sweep, "select bracket, round, count(*) from runs group by all")}
    last = brackets[-1]
    for bracket, _, round_, configs, _ in plan:
        if bracket < last:
            assert ran[(bracket, round_)] == configs, (bracket, round_)
    # the last bracket is the partial one: evaluations stop mid-way, as an interrupted sweep's do
    assert sum(n for (b, _), n in ran.items() if b == last) < sum(row[3] for row in plan if row[0] == last)
    assert sql(sweep, "select finished_at is null from studies") == [(True,)]


def test_each_run_is_on_its_rounds_budget_with_hpbandster_ids(sweep):
    mismatched = sql(sweep, """select count(*) from runs r join sweep_plan p using (study_id, bracket, round)
                               where r.budget <> p.budget or r.bracket_s <> p.bracket_s""")
    assert mismatched == [(0,)]
    ids = sql(sweep, "select bracket, round, round_index, config_id from runs order by trial")
    assert all(re.fullmatch(rf"\({b}, 0, \d+\)", cid) for b, _, _, cid in ids)
    # round_index: position among the round's configurations by config-id index, from 0
    by_round: dict = {}
    for bracket, round_, index, cid in ids:
        by_round.setdefault((bracket, round_), []).append((int(cid.strip("()").split(", ")[2]), index))
    for members in by_round.values():
        assert [index for _, index in sorted(members)] == list(range(len(members)))


def test_promoted_configurations_were_among_the_previous_rounds_best(sweep):
    """Every promoted run's configuration ran in the previous round of its bracket, did not fail there, and its
    loss there ranks within the next round's planned count (hpbandster's successive halving: lowest loss on)."""
    rows = sql(sweep, """
        with ranked as (
            select bracket, round, config_id, status, loss,
                   rank() over (partition by bracket, round order by loss) as loss_rank
            from runs
            where status <> 'failed'
        ),
        promoted as (
            select r.bracket, r.round, r.config_id, p.configs
            from runs r join sweep_plan p using (study_id, bracket, round)
            where r.round > 0
        )
        select promoted.*, ranked.loss_rank, ranked.status
        from promoted left join ranked
            on ranked.bracket = promoted.bracket and ranked.round = promoted.round - 1
            and ranked.config_id = promoted.config_id""")
    assert len(rows) == sql(sweep, "select count(*) from runs where round > 0")[0][0] > 100
    assert all(loss_rank is not None and loss_rank <= configs for _, _, _, configs, loss_rank, _ in rows), rows[:5]
    assert sql(sweep, "select count(*) from runs where (round > 0) <> (sampled_as = 'promoted')") == [(0,)]
    # a promoted configuration keeps its hyperparameters
    changed = sql(sweep, """
        select count(*) from (
            select config_id, h.name, count(distinct h.value) as values
            from runs r join hyperparameters h using (run_id) group by all having values > 1)""")
    assert changed == [(0,)]


def test_new_configurations_are_a_third_random(sweep, hpbandster_bohb):
    [(random, model_based)] = sql(sweep, """select count(*) filter (where sampled_as = 'random'),
                                                   count(*) filter (where sampled_as = 'model_based')
                                            from runs where round = 0""")
    share = hpbandster_bohb.config_generator.random_fraction
    assert share == pytest.approx(1 / 3)
    interval = stats.binomtest(random, random + model_based, share).proportion_ci(0.999)  # Clopper-Pearson
    assert interval.low < share < interval.high and interval.high - interval.low < 0.1, (random, model_based)


def test_planted_effects_show_against_scipy(sweep):
    """Three planted effects, each a test on like with like (the same budget), corrected together (BH):
    model-based picks beat random ones (Mann-Whitney U, budget 1, first round); the larger budget scores higher
    (Spearman of budget against accuracy over promoted configurations' own evaluations); batch size has no
    effect (Kruskal-Wallis at budget 1, the planted null, must NOT be significant)."""
    first = sql(sweep, "select sampled_as, test_accuracy from runs where status = 'ok' and round = 0 and budget = 1")
    model = [a for s, a in first if s == "model_based"]
    random = [a for s, a in first if s == "random"]
    mann_whitney = stats.mannwhitneyu(model, random, alternative="greater")
    effect = mann_whitney.statistic / (len(model) * len(random))  # common-language effect size, P(model > random)
    curve = sql(sweep, "select budget, test_accuracy from runs where status = 'ok' and bracket_s = 4")
    spearman = stats.spearmanr([b for b, _ in curve], [a for _, a in curve])
    by_batch = sql(sweep, """select batch_size, list(test_accuracy) from study_planted_sweep
                             where status = 'ok' and round = 0 and budget = 1 and sampled_as = 'random'
                             group by all""")
    kruskal = stats.kruskal(*[values for _, values in by_batch])
    reject, _, _, _ = multipletests([mann_whitney.pvalue, spearman.pvalue, kruskal.pvalue], alpha=0.01,
                                    method="fdr_bh")
    assert len(model) > 500 and len(random) > 250 and len(curve) > 1_000
    assert reject[0] and effect > 0.55, (mann_whitney, effect)
    assert reject[1] and spearman.statistic > 0.5, spearman
    assert not reject[2] and len(by_batch) == 3, kruskal


def test_statuses_workers_and_times(sweep):
    [(ok, diverged, failed)] = sql(sweep, """select count(*) filter (where status = 'ok'),
                                                    count(*) filter (where status = 'diverged'),
                                                    count(*) filter (where status = 'failed') from runs""")
    assert ok > 0.95 * EVALUATIONS and 0 < diverged < 0.05 * EVALUATIONS and 0 < failed < 0.02 * EVALUATIONS
    assert sql(sweep, """select count(*) from runs where (status = 'ok') <> (test_accuracy is not null)
                         or (status = 'failed') <> (loss is null) or (status = 'ok') = (error is not null)
                         or (status = 'ok' and abs(loss - (1 - test_accuracy)) > 0.05)""") == [(0,)]
    assert sql(sweep, "select count(*) from runs where status = 'diverged' and loss <> 1") == [(0,)]
    assert sql(sweep, "select count(distinct worker) from runs") == [(planted_sweep.WORKERS,)]
    out_of_order = sql(sweep, """
        select count(*) from (
            select submitted_at, started_at, finished_at,
                   lag(submitted_at) over (order by trial) as before
            from runs)
        where submitted_at < before or started_at < submitted_at or finished_at <= started_at""")
    assert out_of_order == [(0,)]
    # a round is submitted only once the previous round of its bracket has finished
    assert sql(sweep, """
        with rounds as (select bracket, round, min(submitted_at) as first, max(finished_at) as last
                        from runs group by all)
        select count(*) from rounds a join rounds b on a.bracket = b.bracket and a.round = b.round + 1
        where a.first < b.last""") == [(0,)]


def test_it_loads_in_the_app_and_the_budget_choice_sees_each_configuration_once(sweep):
    frame = study_frame.load(sweep, STUDY)
    assert frame.runs == EVALUATIONS
    assert frame.budgets == (1.0, 3.0, 9.0, 27.0, 81.0)
    top = frame.chosen(study_frame.TOP)
    assert top.runs == sql(sweep, "select count(distinct config_id) from runs")[0][0]
    expected = {run_id for (run_id,) in sql(sweep, """
        with top as (select run_id, status from runs qualify budget = max(budget) over (partition by config_id))
        select run_id from top where status = 'ok'""")}
    shown = study_views.run_values(top)
    assert set(shown["run_id"]) == expected and shown["run_id"].n_unique() == shown.height
    on_81 = frame.chosen(81.0)
    assert on_81.runs == sql(sweep, "select count(*) from runs where budget = 81")[0][0]


def test_refusals_leave_the_warehouse_as_it_was(sweep, tmp_path, capsys):
    before = sha256(sweep)
    for args, fragment in ((["--evaluations", "0", "--warehouse", str(tmp_path / "a.duckdb")], "--evaluations"),
                           (["--evaluations", "nan", "--warehouse", str(tmp_path / "a.duckdb")], "--evaluations"),
                           (["--warehouse", str(sweep)], f"already holds a study '{STUDY}'"),
                           (["--study", "", "--warehouse", str(tmp_path / "a.duckdb")], "--study"),
                           (["--warehouse", str(tmp_path / "no" / "such" / "a.duckdb")], "does not exist")):
        with pytest.raises(SystemExit) as stop:
            planted_sweep.main(["--evaluations", "10", *args])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and fragment in err and "Traceback" not in err, err
    assert sha256(sweep) == before and not (tmp_path / "a.duckdb").exists()
    with pytest.raises(store.WarehouseError):
        planted_sweep.write_planted_sweep(10, sweep)


@pytest.mark.slow
def test_100000_evaluations_build_in_well_under_a_minute(tmp_path):
    path = tmp_path / "sweep.duckdb"
    start = time.perf_counter()
    planted_sweep.write_planted_sweep(100_000, path)
    seconds = time.perf_counter() - start
    assert sql(path, "select count(*), count(distinct config_id) from runs")[0][0] == 100_000
    assert seconds < 40, f"{seconds:.1f} s"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_same_shape_as_a_real_bohb_sweep(tmp_path):
    """A real BOHB sweep by pipeline.bohb (4 evaluations, budgets 1 and 3) and the planted one in one warehouse:
    the same run columns filled for finished runs, the same study-view and wide-table columns, and the planted
    settings hold every key of the real ones."""
    from pipeline import bohb

    path = tmp_path / "both.duckdb"
    planted_sweep.write_planted_sweep(200, path)
    bohb.main(["--study", "real", "--iterations", "1", "--min-budget", "1", "--max-budget", "3", "--dataset", "digits",
               "--image-size", "8", "--train-size", "200", "--test-size", "100", "--workers", "1",
               "--flush-seconds", "0.2", "--warehouse", str(path)])
    columns = [c for (c,) in sql(path, "select column_name from duckdb_columns() where table_name = 'runs'")]

    def filled(study: str) -> set[str]:
        counts = sql(path, "select count(*), " + ", ".join(f'count(r."{c}")' for c in columns) +
                     " from runs r join studies s using (study_id) where s.name = ? and r.status = 'ok'", [study])[0]
        assert counts[0] > 0
        return {c for c, n in zip(columns, counts[1:]) if n == counts[0]}

    assert filled(STUDY) == filled("real")

    def typed(table: str) -> list[tuple]:
        return sql(path, "select column_name, data_type from duckdb_columns() where table_name = ? "
                         "and schema_name = ? order by column_index", table.split(".")[::-1])

    assert typed("main.study_planted_sweep") == typed("main.study_real")
    ids = dict(sql(path, "select name, study_id from studies"))
    assert typed(f"wide.study_{ids[STUDY]}") == typed(f"wide.study_{ids['real']}")
    settings = dict(sql(path, "select name, settings from studies"))
    real_keys = set(re.findall(r'"(\w+)":', settings["real"]))
    assert real_keys and real_keys <= set(re.findall(r'"(\w+)":', settings[STUDY]))
