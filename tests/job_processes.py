"""Jobs run as real processes in tests: start one, watch its runs land, find and kill its workers.

    from tests import job_processes
    job = job_processes.start("pipeline.ensemble", "--study", "s", "--warehouse", str(path), *TINY)
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from pipeline.warehouse import store
from tests.conftest import ROOT, sql


def start(module: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    """`python -m module args` in the repository, its stderr kept for the test to read."""
    return subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def wait_for_runs(path: Path, runs: int, *, within: float) -> None:
    deadline = time.monotonic() + within
    while run_count(path) < runs and time.monotonic() < deadline:
        time.sleep(0.05)


def run_count(path) -> int:
    try:
        return sql(path, "select count(*) from runs")[0][0]
    except Exception:
        return -1


def _state(pid: int) -> tuple[int, str] | None:
    """(parent pid, state letter) of a live process, None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), fields[0]


def children(pid: int) -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir()
            if p.name.isdigit() and (_state(int(p.name)) or (0,))[0] == pid]


def all_exit(pids: list[int], *, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all((_state(pid) or (0, "Z"))[1] == "Z" for pid in pids):  # a zombie has exited, only unreaped
            return True
        time.sleep(0.2)
    return False


def hold_open(path) -> duckdb.DuckDBPyConnection:
    """Open the file read-only the way another program does (the duckdb CLI, a notebook): no turnstile."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return duckdb.connect(str(path), read_only=True)
        except duckdb.IOException:  # the job is writing this instant
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def kill_workers(job: subprocess.Popen) -> list[int]:
    """SIGKILL every worker process the job started (its two children); returns their pids."""
    workers = children(job.pid)
    assert len(workers) == 2, workers
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    return workers


def nameserver_stopped(err: str) -> bool:
    """The Pyro4 nameserver the job announced on stderr no longer listens."""
    port = int(re.search(r"nameserver on 127\.0\.0\.1:(\d+)", err).group(1))
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def record_writes(monkeypatch) -> list[set[str]]:
    """Every write transaction from now on, in this process, as the set of what it did ("runs", "finish")."""
    writes: list[set[str]] = []
    real_write, real_insert, real_finish = store.write, store.insert_runs, store.finish_study

    def write(*args, **kwargs):
        writes.append(set())
        return real_write(*args, **kwargs)

    def insert_runs(con, study_id, records):
        if records:
            writes[-1].add("runs")
        return real_insert(con, study_id, records)

    def finish_study(con, study_id):
        writes[-1].add("finish")
        return real_finish(con, study_id)

    monkeypatch.setattr(store, "write", write)
    monkeypatch.setattr(store, "insert_runs", insert_runs)
    monkeypatch.setattr(store, "finish_study", finish_study)
    return writes
