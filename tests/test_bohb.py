"""Real hpbandster sweeps (two worker processes on 127.0.0.1) checked against hpbandster's Result."""

import re
from pathlib import Path

import pytest

from pipeline import bohb
from pipeline.core import hyperband
from pipeline.jobs import cluster
from pipeline.warehouse import store
from tests import job_processes
from tests.conftest import run_cli, sha256, sql

TINY_SWEEP = ["--dataset", "digits", "--image-size", "8", "--min-budget", "1", "--max-budget", "9", "--eta", "3",
              "--workers", "2", "--flush-seconds", "0.2"]


def test_schedule_prints_hpbandsters_plan():
    result = run_cli("-m", "pipeline.bohb", "schedule", "--min-budget", "1", "--max-budget", "81", "--eta", "3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "s=4: 81@1, 27@3, 9@9, 3@27, 1@81",
        "s=3: 27@3, 9@9, 3@27, 1@81",
        "s=2: 9@9, 3@27, 1@81",
        "s=1: 6@27, 2@81",
        "s=0: 5@81",
    ]


@pytest.mark.parametrize("optimizer", ["hyperband", "bohb", "random_search"])
@pytest.mark.parametrize("budgets", [(1, 81, 3), (1, 9, 3), (2, 50, 2.5)])
def test_plan_is_what_hpbandsters_optimizer_runs(optimizer, budgets, monkeypatch):
    """Our plan, bracket by bracket, against the successive-halving iterations hpbandster's own optimizer makes
    (its master's nameserver and dispatcher are left out: only the plan is asked for)."""
    import ConfigSpace as CS
    from hpbandster.core.master import Master

    def plan_only(self, config_generator=None, **kwargs):
        self.config, self.config_generator = {}, config_generator

    monkeypatch.setattr(Master, "__init__", plan_only)
    low, high, eta = budgets
    space = CS.ConfigurationSpace(seed=0)
    space.add(CS.UniformFloatHyperparameter("x", 0.0, 1.0))
    master = bohb.OPTIMIZERS[optimizer](configspace=space, eta=eta, min_budget=low, max_budget=high)
    planned = hyperband.plan(low, high, eta, 7, optimizer=optimizer)
    for bracket in range(7):
        iteration = master.get_next_iteration(bracket)
        rounds = [r for r in planned if r.bracket == bracket]
        assert [int(n) for n in iteration.num_configs] == [r.configs for r in rounds]
        assert [float(b) for b in iteration.budgets] == pytest.approx([r.budget for r in rounds])
    if optimizer == "random_search":  # no halving: one round on the max budget, s = 0
        assert {(r.s, r.round, r.budget) for r in planned} == {(0, 0, float(high))}


def test_schedule_refuses_nonsense():
    result = run_cli("-m", "pipeline.bohb", "schedule", "--min-budget", "9", "--max-budget", "1")
    assert result.returncode == 2 and "min-budget" in result.stderr


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "w.duckdb"
    config = bohb.cli.parse(bohb.SweepConfig, ["--study", "s1", "--iterations", "2", "--warehouse", str(path),
                                               *TINY_SWEEP], description="", prog="test")
    return path, bohb.run(config)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_sweep_rows_match_hpbandsters_result(sweep):
    path, result = sweep
    runs = result.get_all_runs()
    assert sql(path, "select count(*) from runs") == [(len(runs),)]
    per_budget = {}
    for r in runs:
        per_budget[r.budget] = per_budget.get(r.budget, 0) + 1
    assert dict(sql(path, "select budget, count(*) from runs group by budget")) == per_budget
    # the incumbent: lowest loss on the largest budget
    incumbent = result.get_incumbent_id()
    assert sql(path, """select config_id from runs where budget = (select max(budget) from runs)
                        order by loss limit 1""") == [(str(incumbent),)]
    # how each config was sampled, against hpbandster's own config_info
    mapping = result.get_id2config_mapping()
    for config_id, round_, sampled in sql(path, "select config_id, round, sampled_as from runs"):
        cid = tuple(int(x) for x in config_id.strip("()").split(","))
        if round_ > 0:
            assert sampled == "promoted"
        else:
            assert (sampled == "model_based") == bool(mapping[cid]["config_info"].get("model_based_pick"))


@pytest.mark.slow
def test_sweep_follows_its_stored_plan(sweep):
    path, _ = sweep
    planned = sql(path, "select bracket, round, configs, budget from sweep_plan order by 1, 2")
    assert planned == [(r.bracket, r.round, r.configs, r.budget) for r in hyperband.plan(1, 9, 3, 2)]
    done = sql(path, "select bracket, round, count(*), any_value(budget) from runs group by 1, 2 order by 1, 2")
    assert done == planned
    # round_index numbers each round's configurations 0..n-1
    assert sql(path, """select count(*) from (select bracket, round, list_sort(list(round_index)) l, count(*) n
                        from runs group by 1, 2) where l != range(n)""") == [(0,)]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_random_search_is_stored_as_one_round_per_bracket_on_the_max_budget(tmp_path):
    """hpbandster's RandomSearch halves nothing: no run of it is 'promoted' or in a later round."""
    path = tmp_path / "w.duckdb"
    config = bohb.cli.parse(bohb.SweepConfig, ["--study", "rs", "--optimizer", "random_search", "--iterations", "2",
                                               "--warehouse", str(path), *TINY_SWEEP], description="", prog="test")
    bohb.run(config)
    planned = sql(path, "select bracket, bracket_s, round, configs, budget from sweep_plan order by 1, 3")
    assert planned == [(b, 0, 0, 3, 9.0) for b in range(2)]
    assert sql(path, "select bracket, bracket_s, round, count(*), any_value(budget) from runs group by all "
                     "order by 1") == planned
    assert sql(path, "select distinct sampled_as from runs") == [("random",)]


@pytest.mark.slow
def test_sweep_stores_configs_curves_and_conditionals(sweep):
    path, result = sweep
    mapping = result.get_id2config_mapping()
    stored = sql(path, "select r.config_id, h.name, h.value_num, h.value from runs r "
                       "join hyperparameters h using (run_id)")
    for config_id, name, number, text in stored:
        cid = tuple(int(x) for x in config_id.strip("()").split(","))
        expected = mapping[cid]["config"][name]
        assert (text == expected) if isinstance(expected, str) else number == pytest.approx(expected)
    # momentum only where the optimizer uses it
    assert sql(path, """select count(*) from study_s1 where (optimizer = 'adam') = (momentum is not null)""") == [(0,)]
    # every ok evaluation has its curve, one point per epoch = budget
    assert sql(path, """select count(*) from runs r where status = 'ok' and
                        (select count(*) from curves c where c.run_id = r.run_id) != budget""") == [(0,)]
    assert sql(path, "select count(*) from runs "
                     "where loss is null or submitted_at is null or started_at is null") == [(0,)]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_resume_adds_the_next_bracket_only(sweep, capsys):
    path, _ = sweep
    before = sql(path, "select count(*), max(trial) from runs")[0]
    args = ["--study", "s1", "--warehouse", str(path), *TINY_SWEEP]
    bohb.main([*args, "--iterations", "2"])
    assert "already holds 2 brackets" in capsys.readouterr().err
    bohb.main([*args, "--iterations", "3"])
    planned_third = sum(r.configs for r in hyperband.bracket_rounds(2, 1, 9, 3))
    assert sql(path, "select count(*), count(distinct trial), max(trial) from runs") == [
        (before[0] + planned_third, before[0] + planned_third, before[1] + planned_third)]
    assert sql(path, "select count(*) from runs where bracket = 2") == [(planned_third,)]
    assert sql(path, "select distinct bracket_s from runs where bracket = 2") == [(hyperband.bracket_s(2, 3),)]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_an_evaluation_that_raises_is_a_failed_run(tmp_path, monkeypatch):
    # the sweep refuses such a space before it starts (tests/test_bad_input.py); without that check, the
    # workers' exception must still become a failed run
    monkeypatch.setattr(bohb, "check_trainable", lambda *args, **kwargs: None)
    space = tmp_path / "space.toml"
    space.write_text((Path(bohb.__file__).parent / "spaces" / "bohbvis.toml").read_text()
                     .replace('choices = ["adam", "sgd", "rms"]', 'choices = ["adam", "no_such_optimizer"]')
                     .replace('optimizer = ["sgd", "rms"]', 'optimizer = ["no_such_optimizer"]'))
    path = tmp_path / "w.duckdb"
    bohb.main(["--study", "f", "--space", str(space), "--optimizer", "hyperband", "--iterations", "1",
               "--warehouse", str(path), *TINY_SWEEP])
    failed = sql(path, """select count(*),
                                 count(*) filter (where error like '%optimizer = "no_such_optimizer" cannot be used%')
                          from runs r join hyperparameters h using (run_id)
                          where h.name = 'optimizer' and h.value = 'no_such_optimizer'""")
    assert failed[0][0] > 0 and failed[0][0] == failed[0][1]
    assert sql(path, "select count(*) from runs where status = 'failed'") == [(failed[0][0],)]


@pytest.mark.parametrize("extra, message", [
    (["--eta", "1"], "argument --eta: 1 is out of range"),
    (["--min-budget", "10"], "need 0 < min budget <= max budget"),
    (["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    (["--optimizer", "grid"], "argument --optimizer: invalid choice"),
    (["--iterations", "0"], "argument --iterations: 0 is out of range"),
    (["--space", "missing.toml"], "space file missing.toml does not exist"),
])
def test_bad_sweep_input_is_refused_and_writes_nothing(tmp_path, capsys, extra, message):
    path = tmp_path / "w.duckdb"
    with pytest.raises(SystemExit) as exit_info:
        bohb.main(["--study", "x", "--warehouse", str(path), *TINY_SWEEP, *extra])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not path.exists()


@pytest.mark.slow
def test_a_sweep_cannot_continue_with_other_settings(sweep, capsys):
    path, _ = sweep
    before = sha256(path)
    with pytest.raises(SystemExit):
        bohb.main(["--study", "s1", "--warehouse", str(path), *TINY_SWEEP, "--eta", "2", "--iterations", "5"])
    assert "exists with other settings (eta: 3.0 there, 2.0 now)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bohb.main(["--study", "s1", "--warehouse", str(path), *TINY_SWEEP, "--optimizer", "hyperband"])
    assert "cannot continue as hyperband" in capsys.readouterr().err
    assert sha256(path) == before


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_ctrl_c_keeps_finished_evaluations_and_the_sweep_continues(tmp_path):
    import signal

    path = tmp_path / "w.duckdb"
    args = ["--study", "c", "--iterations", "2", "--warehouse", str(path), *TINY_SWEEP]
    job = job_processes.start("pipeline.bohb", *args)
    job_processes.wait_for_runs(path, 3, within=120)
    job.send_signal(signal.SIGINT)
    # 25 s alone; a fresh-clone run sharing 2 cores with three other jobs went past 60 s once
    assert job.wait(timeout=150) == 130
    assert "stopped:" in job.stderr.read()
    kept = sql(path, "select count(*) from runs")[0][0]
    assert kept >= 3
    result = run_cli("-m", "pipeline.bohb", *args)
    assert result.returncode == 0, result.stderr
    (total, trials, brackets), = sql(path, "select count(*), count(distinct trial), count(distinct bracket) from runs")
    assert total == trials > kept and brackets == 2


@pytest.mark.slow
def test_a_resume_that_finds_every_bracket_done_finishes_the_sweep(sweep, capsys):
    """A kill between the last flush and marking the sweep finished left it unfinished for good."""
    path, _ = sweep
    with store.write(path) as con:  # what the kill in that window leaves: every evaluation, no finished_at
        con.execute("update studies set finished_at = null where name = 's1'")
    bohb.main(["--study", "s1", "--warehouse", str(path), *TINY_SWEEP, "--iterations", "2"])
    assert "already holds" in capsys.readouterr().err
    assert sql(path, "select finished_at is not null from studies where name = 's1'") == [(True,)]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_sweep_stopped_by_a_busy_warehouse_exits_with_its_workers_and_nameserver(tmp_path):
    """The result logger raised on hpbandster's Pyro thread, and the master waited forever for that result."""
    path = tmp_path / "w.duckdb"
    job = job_processes.start("pipeline.bohb", "--study", "b", "--iterations", "8", "--warehouse", str(path),
                              *TINY_SWEEP, env={store.BUSY_ENV_VAR: "2"})
    job_processes.wait_for_runs(path, 3, within=120)
    workers = job_processes.children(job.pid)
    held = job_processes.hold_open(path)
    try:
        code = job.wait(timeout=60)
        count = held.execute("select count(*) from runs").fetchall()[0][0]
    finally:
        held.close()
        job.kill()
    err = job.stderr.read()
    assert code == 2, err
    assert len(workers) == 2 and job_processes.all_exit(workers, within=5), "the stopped sweep's workers kept running"
    assert "The warehouse is busy" in err and "the same command continues with the next bracket" in err, err
    assert f"stopped: {count} evaluations written by this job" in err
    assert job_processes.nameserver_stopped(err)


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_sweep_whose_local_workers_all_die_stops_keeping_its_runs(tmp_path):
    """Every local worker killed (OOM, kill -9) and no remote one: the master waited for workers forever."""
    path = tmp_path / "w.duckdb"
    job = job_processes.start("pipeline.bohb", "--study", "d", "--iterations", "8", "--warehouse", str(path),
                              *TINY_SWEEP, env={cluster.WORKERLESS_ENV_VAR: "2"})
    try:
        job_processes.wait_for_runs(path, 3, within=30)
        workers = job_processes.kill_workers(job)
        code = job.wait(timeout=15)  # the 2 s grace, and the dispatcher noticing the deaths
    finally:
        job.kill()
    err = job.stderr.read()
    assert code == 2, err
    assert job_processes.all_exit(workers, within=1)
    for pid in workers:
        assert f"worker {pid}: killed by SIGKILL" in err, err
    assert "every local worker exited and no worker joined within 2 s" in err, err
    note = re.search(r"stopped: (\d+) evaluations written by this job; the same command continues", err)
    written = int(note.group(1))
    assert "finished but not written" not in err and sql(path, "select count(*) from runs") == [(written,)]
    assert written >= 3
    assert job_processes.nameserver_stopped(err)
