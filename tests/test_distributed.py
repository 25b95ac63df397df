"""The distributed ensemble: a master and two workers started as separate processes on 127.0.0.1."""

import re
import socket
import subprocess
import sys

import pytest

from pipeline.core.space import load_space
from pipeline.jobs import cluster
from pipeline.warehouse import store
from tests import job_processes
from tests.conftest import ROOT, TINY, run_cli, sql


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_master_and_two_remote_workers_train_the_seeded_ensemble(tmp_path):
    path, port = tmp_path / "w.duckdb", _free_port()
    master = subprocess.Popen(
        [sys.executable, "-m", "pipeline.distributed", "--study", "dist", "--runs", "10",
         "--workers", "0", "--min-workers", "2", "--host", "127.0.0.1", "--port", str(port),
         "--warehouse", str(path), *TINY], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    workers = [subprocess.Popen([sys.executable, "-m", "pipeline.worker", "--nameserver", "127.0.0.1",
                                 "--port", str(port), "--run-id", "dist", "--host", "127.0.0.1", "--timeout", "30"],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    try:
        assert master.wait(timeout=200) == 0, master.stderr.read()
    finally:
        for w in workers:
            w.wait(timeout=60)
    assert sql(path, "select count(*), count(distinct trial) from runs") == [(10, 10)]
    assert sql(path, "select count(distinct worker) from runs") == [(2,)]
    # the same members a local job would train: configuration i of the seeded sampler
    space = load_space("ensemble")
    stored = sql(path, "select r.trial, h.name, h.value from runs r join hyperparameters h using (run_id) "
                       "order by 1, 2")
    expected = sorted((t, k, store.value_text(v)) for t in range(10)
                      for k, v in space.sample(0, t).items() if k != "dataset")
    assert stored == expected


def test_a_worker_without_a_master_gives_up_with_a_message():
    result = run_cli("-m", "pipeline.worker", "--nameserver", "127.0.0.1", "--port", str(_free_port()),
                     "--run-id", "nobody", "--wait", "1")
    assert result.returncode == 1
    assert "no nameserver answered at 127.0.0.1" in result.stderr


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_master_whose_local_workers_all_die_stops_keeping_its_runs(tmp_path):
    """Every local worker killed and no remote one: the master waited for workers forever."""
    path = tmp_path / "w.duckdb"
    job = job_processes.start("pipeline.distributed", "--study", "d", "--runs", "2000", "--workers", "2",
                              "--warehouse", str(path), *TINY, env={cluster.WORKERLESS_ENV_VAR: "2"})
    try:
        job_processes.wait_for_runs(path, 3, within=30)
        workers = job_processes.kill_workers(job)
        code = job.wait(timeout=15)
    finally:
        job.kill()
    err = job.stderr.read()
    assert code == 2 and job_processes.all_exit(workers, within=1), err
    assert "every local worker exited and no worker joined within 2 s" in err, err
    written = int(re.search(r"stopped: (\d+) networks written by this job; run the same command again", err).group(1))
    assert written >= 3 and sql(path, "select count(*) from runs") == [(written,)]
