"""A job writing and a reader (the app's way of reading) at the same time, as two processes."""

import subprocess
import sys
import time

import pytest
from streamlit.testing.v1 import AppTest

from pipeline import warehouse
from tests.conftest import ROOT, TINY, sql


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_reading_while_a_job_writes(tmp_path, monkeypatch):
    path = tmp_path / "w.duckdb"
    job = subprocess.Popen([sys.executable, "-m", "pipeline.ensemble", "--study", "live", "--runs", "30",
                            "--workers", "2", "--warehouse", str(path), *TINY],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    monkeypatch.setenv(warehouse.PATH_ENV_VAR, str(path))
    counts, renders = [], 0
    while job.poll() is None:
        if path.exists():
            with warehouse.read(path, timeout=30) as con:  # raises if the job kept us out for 30 s
                counts.append(con.execute("select count(*) from runs").fetchall()[0][0])
            if renders < 3:  # the app page too, while the job runs
                at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
                assert not at.exception
                renders += 1
        time.sleep(0.05)
    assert job.returncode == 0, job.stderr.read()
    assert counts == sorted(counts), "a reader saw runs disappear"
    assert any(0 < c < 30 for c in counts), f"never saw the job half done: {counts[:5]}..."
    assert sql(path, "select count(*) from runs") == [(30,)]
