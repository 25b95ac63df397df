"""The one writer context every job runs in (pipeline/jobs/writer.py): flushes, finishing, stops, the bar."""

from __future__ import annotations

import pytest

from pipeline.benchmarks.lock import fake_run
from pipeline.jobs import writer as job_writer_module
from pipeline.jobs.members import NETWORKS, EnsembleConfig
from pipeline.jobs.writer import job_writer
from pipeline.warehouse import store
from tests import job_processes
from tests.conftest import sql


class FakeBar:
    """Stands in for tqdm: counts what the context does with its bar."""

    def __init__(self, **kwargs):
        self.kwargs, self.updates, self.closes = kwargs, 0, 0

    def update(self, n):
        self.updates += n

    def set_postfix(self, postfix, refresh):
        self.postfix = dict(postfix)

    def close(self):
        self.closes += 1


@pytest.fixture
def study(tmp_path, monkeypatch):
    """A warehouse with an empty study; the bars made, and every write transaction as the set of what it did."""
    path = tmp_path / "w.duckdb"
    with store.write(path) as con:
        study_id = store.create_study(con, name="s", kind="ensemble", search_space=None, settings={}, seed=0,
                                      param_types={f"p{i}": "int" for i in range(6)})
    bars, writes = [], job_processes.record_writes(monkeypatch)
    monkeypatch.setattr(job_writer_module, "tqdm", lambda **kwargs: bars.append(FakeBar(**kwargs)) or bars[-1])
    return path, study_id, bars, writes


CONFIG = EnsembleConfig(study="s", flush_seconds=3600.0)  # nothing is due: only the context flushes


def test_the_last_flush_finishes_the_study_in_one_transaction(study):
    path, study_id, bars, writes = study
    stops = []
    with job_writer(path, study_id, CONFIG, NETWORKS, total=3) as writer:
        writer.stop_with(lambda: stops.append(writes.copy()))
        for trial in range(3):
            writer.add(fake_run(trial), postfix={"ok": trial + 1})
        writer.finish()
    assert writes == [{"runs", "finish"}]  # not a flush, then another write to mark the study finished
    assert writer.written == 3 and sql(path, "select count(*) from runs") == [(3,)]
    assert sql(path, "select finished_at is not null from studies") == [(True,)]
    assert (bars[0].updates, bars[0].closes, bars[0].postfix) == (3, 1, {"ok": 3})
    assert stops == [writes]  # called once, after the last write


def test_a_job_that_does_not_finish_writes_its_runs_and_leaves_the_study_open(study):
    path, study_id, bars, writes = study
    with job_writer(path, study_id, CONFIG, NETWORKS, total=5, done=2) as writer:
        writer.add(fake_run(0))
    assert writes == [{"runs"}]
    assert sql(path, "select finished_at is null from studies") == [(True,)]
    assert bars[0].kwargs["initial"] == 2 and bars[0].closes == 1


def test_ctrl_c_writes_the_buffer_says_so_and_exits_130(study, capsys):
    path, study_id, bars, writes = study
    stops = []
    with pytest.raises(SystemExit) as stopped, job_writer(path, study_id, CONFIG, NETWORKS, total=5) as writer:
        writer.stop_with(lambda: stops.append("stopped"))
        writer.add(fake_run(0))
        writer.add(fake_run(1))
        raise KeyboardInterrupt
    assert stopped.value.code == 130
    assert "stopped: 2 networks written by this job; run the same command again to continue" in capsys.readouterr().err
    assert writes == [{"runs"}] and sql(path, "select count(*) from runs") == [(2,)]
    assert sql(path, "select finished_at is null from studies") == [(True,)]
    assert stops == ["stopped"] and bars[0].closes == 1


def test_a_warehouse_error_comes_out_with_the_count_and_is_not_retried(study):
    path, study_id, bars, writes = study
    stops = []
    with pytest.raises(store.WarehouseError) as failed, job_writer(path, study_id, CONFIG, NETWORKS, total=5) as writer:
        writer.stop_with(lambda: stops.append("stopped"))
        writer.add(fake_run(0))
        raise store.WarehouseError("The warehouse is busy")
    assert str(failed.value) == ("The warehouse is busy\nstopped: 0 networks written by this job, 1 finished but not "
                                 "written; run the same command again to continue")
    assert writes == [] and stops == ["stopped"] and bars[0].closes == 1


def test_any_other_error_writes_the_buffer_then_goes_on_out(study, capsys):
    path, study_id, bars, writes = study
    with pytest.raises(RuntimeError, match="boom"), job_writer(path, study_id, CONFIG, NETWORKS, total=5) as writer:
        writer.add(fake_run(0))
        raise RuntimeError("boom")
    assert "stopped: 1 networks written by this job" in capsys.readouterr().err
    assert writes == [{"runs"}] and bars[0].closes == 1
