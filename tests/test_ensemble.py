"""The ensemble job end to end: resume after kill -9, same seed same configs, bad input."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline import ensemble
from pipeline.core.space import load_space
from pipeline.warehouse import store
from tests import job_processes
from tests.conftest import ROOT, TINY, run_cli, sha256, sql


def test_members_are_the_seeded_samples(tiny_warehouse):
    space = load_space("ensemble")
    stored = sql(tiny_warehouse, "select r.trial, r.dataset, h.name, h.value from runs r "
                                 "join hyperparameters h using (run_id)")
    by_trial: dict[int, dict] = {}
    for trial, dataset, name, value in stored:
        by_trial.setdefault(trial, {"dataset": dataset})[name] = value
    assert sorted(by_trial) == list(range(24))
    for trial, values in by_trial.items():
        expected = {k: store.value_text(v) for k, v in space.sample(0, trial).items()}
        assert values == expected | {"dataset": space.sample(0, trial)["dataset"]}


def test_rerun_of_a_finished_study_adds_nothing(tiny_warehouse, capsys):
    before = sha256(tiny_warehouse)
    ensemble.main(["--study", "tiny", "--runs", "24", "--workers", "2", "--warehouse", str(tiny_warehouse), *TINY])
    assert "nothing to do" in capsys.readouterr().err
    assert sha256(tiny_warehouse) == before


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_kill_9_then_resume_gives_exactly_the_runs_asked_for(tmp_path):
    path = tmp_path / "w.duckdb"
    runs = 80  # tiny networks train in ~50 ms: far more than two kills' worth, so no job finishes before its kill
    args = [sys.executable, "-m", "pipeline.ensemble", "--study", "k", "--runs", str(runs), "--workers", "2",
            "--warehouse", str(path), *TINY]
    for more in (3, 10):  # two kills at different moments, each after this job has written some runs
        before = max(job_processes.run_count(path), 0)
        job = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while job_processes.run_count(path) < before + more and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = job_processes.children(job.pid)
        os.kill(job.pid, signal.SIGKILL)
        job.wait()
        assert before + more <= job_processes.run_count(path) < runs
        assert len(workers) >= 2 and job_processes.all_exit(workers, within=30), "the killed job's workers kept running"
    result = run_cli(*args[1:])
    assert result.returncode == 0, result.stderr
    assert sql(path, "select count(*), count(distinct trial), min(trial), max(trial) from runs") == [
        (runs, runs, 0, runs - 1)]
    assert sql(path, "select count(*) from runs r anti join hyperparameters h using (run_id)") == [(0,)]
    assert sql(path, "select finished_at is not null from studies") == [(True,)]


def test_a_worker_whose_job_is_gone_takes_no_task_and_exits():
    """After kill -9 of the job, its workers must not train the queued networks for nobody (and then hang
    flushing results into a pipe nobody reads)."""
    import multiprocessing as mp

    from pipeline.training.datasets import DataSpec

    ctx = mp.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    tasks.put((0, {"dataset": "digits"}, 0, 1))
    ensemble._worker(tasks, results, DataSpec(image_size=8, train_size=200, test_size=100), "cpu", parent_pid=-1)
    assert tasks.get(timeout=5) == (0, {"dataset": "digits"}, 0, 1)  # still queued: not taken
    assert results.empty()


def _not_a_warehouse(tmp_path):
    path = tmp_path / "text.duckdb"
    path.write_text("hello")
    return path


@pytest.mark.parametrize("extra, message", [
    (["--datasets", "digits,imagenet"], "unknown dataset(s) 'imagenet'"),
    (["--bogus-flag", "1"], "unrecognized arguments: --bogus-flag"),
    (["--runs", "-5"], "argument --runs: -5 is out of range"),
    (["--epochs", "many"], "argument --epochs: 'many' is not a whole number"),
    (["--workers", "-1"], "argument --workers: -1 is out of range"),
    (["--channels", "2"], "argument --channels: invalid choice"),
    (["--space", "no/such/space.toml"], "space file no/such/space.toml does not exist"),
    (["--device", "cuda"], "no CUDA device"),
])
def test_bad_input_exits_non_zero_with_its_message_and_writes_nothing(tmp_path, capsys, extra, message):
    if extra == ["--device", "cuda"]:
        import torch

        if torch.cuda.is_available():
            pytest.skip("a CUDA device is present")
    path = tmp_path / "w.duckdb"
    with store.write(path):
        pass  # an existing, empty warehouse
    before = sha256(path)
    with pytest.raises(SystemExit) as exit_info:
        ensemble.main(["--study", "x", "--warehouse", str(path), *TINY, *extra])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert sha256(path) == before


@pytest.mark.parametrize("make_path, message", [
    (lambda tmp: tmp / "missing-folder" / "w.duckdb", "folder"),
    (lambda tmp: Path("/proc/warehouse.duckdb"), "cannot create /proc/warehouse.duckdb"),
    (_not_a_warehouse, "cannot be opened as a DuckDB database"),
])
def test_unusable_warehouse_paths_are_refused(tmp_path, capsys, make_path, message):
    path = make_path(tmp_path)
    before = sha256(path)
    with pytest.raises(SystemExit) as exit_info:
        ensemble.main(["--study", "x", "--warehouse", str(path), *TINY])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert sha256(path) == before
    assert not (tmp_path / "missing-folder").exists()


def test_continuing_a_study_with_other_settings_is_refused(tiny_warehouse, capsys):
    before = sha256(tiny_warehouse)
    with pytest.raises(SystemExit):
        ensemble.main(["--study", "tiny", "--runs", "30", "--warehouse", str(tiny_warehouse), *TINY, "--seed", "9"])
    err = capsys.readouterr().err
    assert "exists with other settings" in err and "seed: 0 there, 9 now" in err
    assert sha256(tiny_warehouse) == before


def test_the_command_line_exits_non_zero_for_bad_input(tmp_path):
    result = run_cli("-m", "pipeline.ensemble", "--study", "x", "--runs", "0",
                     "--warehouse", str(tmp_path / "w.duckdb"))
    assert result.returncode == 2
    assert "argument --runs: 0 is out of range" in result.stderr
    assert not (tmp_path / "w.duckdb").exists()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_job_stopped_by_a_busy_warehouse_exits_with_its_workers_and_keeps_what_it_wrote(tmp_path):
    """The job gave up on a busy warehouse and then never exited (its task queue's feeder thread still
    writing into a pipe whose readers were gone). It must exit, workers too, keeping every run it wrote."""
    path = tmp_path / "w.duckdb"
    job = job_processes.start("pipeline.ensemble", "--study", "b", "--runs", "400", "--workers", "2",
                              "--warehouse", str(path), *TINY, env={store.BUSY_ENV_VAR: "2"})
    job_processes.wait_for_runs(path, 5, within=120)
    workers = job_processes.children(job.pid)
    held = job_processes.hold_open(path)
    try:
        start = time.monotonic()
        code = job.wait(timeout=60)
        took = time.monotonic() - start
        count = held.execute("select count(*) from runs").fetchall()[0][0]
    finally:
        held.close()
        job.kill()
    err = job.stderr.read()
    assert code == 2, err
    assert took < 20, f"{took:.1f} s to exit after the warehouse got busy: {err}"
    assert len(workers) >= 2 and job_processes.all_exit(workers, within=5), "the stopped job's workers kept running"
    assert "The warehouse is busy" in err and "run the same command again to continue" in err, err
    assert f"stopped: {count} networks written by this job" in err
    assert 5 <= count < 400
    assert sql(path, "select count(*) from runs r anti join hyperparameters h using (run_id)") == [(0,)]
    assert sql(path, "select finished_at is null from studies") == [(True,)]


def test_a_resume_that_finds_every_run_done_finishes_the_study(tmp_path, capsys):
    """A kill between the last flush and marking the study finished left it unfinished for good: every resume
    said "nothing to do". The resume marks it finished."""
    path = tmp_path / "w.duckdb"
    args = ["--study", "w", "--runs", "4", "--workers", "2", "--warehouse", str(path), *TINY]
    ensemble.main(args)
    with store.write(path) as con:  # what the kill in that window leaves: every run, no finished_at
        con.execute("update studies set finished_at = null")
    capsys.readouterr()
    ensemble.main(args)
    assert "nothing to do" in capsys.readouterr().err
    assert sql(path, "select finished_at is not null from studies") == [(True,)]
    assert sql(path, "select count(*) from runs") == [(4,)]


def test_the_last_flush_of_a_job_marks_its_study_finished(tmp_path, monkeypatch):
    """The job flushed, marked the study finished in a second write, and flushed once more: its last runs and
    the study's finish are one transaction, and nothing is written after it."""
    writes = job_processes.record_writes(monkeypatch)
    path = tmp_path / "w.duckdb"
    ensemble.main(["--study", "f", "--runs", "4", "--workers", "2", "--warehouse", str(path), *TINY,
                   "--flush-seconds", "3600"])
    assert writes[-1] == {"runs", "finish"} and sum("finish" in w for w in writes) == 1, writes
    assert sql(path, "select count(*) from runs") == [(4,)]
    assert sql(path, "select finished_at is not null from studies") == [(True,)]
