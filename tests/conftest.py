"""Shared fixtures: tiny studies trained for real, on data small enough for a few seconds."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parent.parent
# Small and fast: 8x8 images, 1 epoch, 200 training images per procedural dataset.
TINY = ["--epochs", "1", "--image-size", "8", "--train-size", "200", "--test-size", "100", "--flush-seconds", "0.2"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


def sql(path: Path, query: str, params=None) -> list[tuple]:
    """An independent read of the warehouse, straight through duckdb."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(query, params or []).fetchall()
    finally:
        con.close()


def run_cli(*args: str, timeout: float = 180, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="session")
def tiny_warehouse(tmp_path_factory) -> Path:
    """A warehouse with one ensemble study of 24 networks over the three built-in datasets."""
    path = tmp_path_factory.mktemp("wh") / "warehouse.duckdb"
    from pipeline import ensemble

    ensemble.main(["--study", "tiny", "--runs", "24", "--workers", "2", "--warehouse", str(path), *TINY])
    return path


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory) -> Path:
    """The committed demo, restored the way a user restores it."""
    path = tmp_path_factory.mktemp("demo") / "warehouse.duckdb"
    result = run_cli("-m", "pipeline.demo", "restore", "--warehouse", str(path))
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture(scope="session")
def planted_warehouse(tmp_path_factory) -> Path:
    """16,000 networks with planted effects (pipeline/benchmarks/planted_study.py) as study `planted`; read only."""
    from pipeline.benchmarks.planted_study import write_planted_warehouse

    path = tmp_path_factory.mktemp("planted") / "planted.duckdb"
    write_planted_warehouse(16_000, path)
    return path


@pytest.fixture(autouse=True)
def _restore_main_module():
    """AppTest runs the app script as __main__; multiprocessing's spawn would run it again in every
    worker process a later test starts (ensembles, sweeps). Put the real __main__ back after each test."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="session")
def demo_ensemble_warehouse(tmp_path_factory) -> Path:
    """The committed demo's ensemble alone, its sweeps left out (demo.restore's `skipped`): for the browser tests
    whose independent numbers are those of every run in the file."""
    from pipeline import demo

    path = tmp_path_factory.mktemp("demo-ensemble") / "warehouse.duckdb"
    demo.restore(demo.DEMO_DIR, path, skipped=tuple(demo.SWEEPS))
    return path


@pytest.fixture(scope="session")
def demo_with_log(demo_warehouse, tmp_path_factory) -> Path:
    """The demo (an ensemble and three sweeps) with a real BOHB log imported beside it as study `imported`
    (tests/hpbandster_logs.py: 4 iterations, a conditional, failed evaluations); read only."""
    import shutil

    from tests.hpbandster_logs import import_log, run_tiny_bohb

    folder = tmp_path_factory.mktemp("demo-with-log")
    path = folder / "warehouse.duckdb"
    shutil.copy(demo_warehouse, path)
    run_tiny_bohb(folder / "log", iterations=4)
    import_log(folder / "log", path, "imported")
    return path
