"""A job's runs on their way into the warehouse: one context owns the buffer, the progress bar, the
flushes, finishing the study, and the end of the job however it ends.

    with job_writer(path, study_id, config, NETWORKS, total=config.runs, done=len(done)) as writer:
        writer.stop_with(stop_workers)  # runs last, however the job ends
        for record in results:
            writer.add(record)
        writer.finish()  # the study holds every run asked for: the last flush marks it finished

The last flush and marking the study finished are one transaction. Whatever stops the job, the runs
written stay and a note says how many, what was lost, and how to continue: Ctrl-C writes what is
buffered and exits with 130; a warehouse error (busy, ...) comes out with the note added, the buffer
not written again (that would only wait out the same lock); any other error writes the buffer first,
then goes on out. Then the bar closes and the job's stop functions run, in the order given.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from pipeline.jobs.flags import JobFlags
from pipeline.warehouse import store


@dataclass(frozen=True)
class RunsOf:
    """What a job's runs are called, on its progress bar and in the note it leaves when stopped."""

    plural: str  # "networks"
    unit: str  # the progress bar's unit: "net"
    resume: str  # what continues the job after a stop


class JobWriter:
    """The handle a job's loop gets from `job_writer`."""

    def __init__(self, runs: store.RunWriter, bar: tqdm):
        self._runs, self._bar = runs, bar
        self._finish = False
        self._stops: list[Callable[[], object]] = []

    @property
    def written(self) -> int:
        """Runs this job has written to the warehouse so far."""
        return self._runs.written

    def add(self, record: dict, postfix: dict | None = None) -> None:
        """Take a finished run (written with the next flush that is due) and count it on the bar."""
        self._runs.add(record)
        if postfix is not None:
            self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(1)

    def flush_if_due(self) -> None:
        self._runs.flush_if_due()

    def finish(self) -> None:
        """The study holds every run asked for: the last flush marks it finished."""
        self._finish = True

    def stop_with(self, stop: Callable[[], object]) -> None:
        """Call `stop` once the job ends, however it ends, after the note and the bar (ends workers, a master)."""
        self._stops.append(stop)


@contextmanager
def job_writer(path: Path, study_id: int, config: JobFlags, runs: RunsOf, *, total: int,
               done: int = 0) -> Iterator[JobWriter]:
    """Around a job's main loop: runs buffered and flushed every `config.flush_seconds`, a bar from `done` to
    `total`, the last flush on the way out (see the module's docstring for a stop)."""
    buffered = store.RunWriter(path, study_id, flush_seconds=config.flush_seconds)
    bar = tqdm(total=total, initial=done, unit=runs.unit, desc=config.study, dynamic_ncols=True)
    writer = JobWriter(buffered, bar)
    try:
        try:
            yield writer
            buffered.flush(finish=writer._finish)
        except BaseException as err:
            stop = err
            if not isinstance(err, store.WarehouseError):
                try:
                    buffered.flush()  # keep every run that finished before the stop
                except store.WarehouseError as failed:
                    stop = failed
            lost = f", {len(buffered.buffer)} finished but not written" if buffered.buffer else ""
            note = f"stopped: {buffered.written} {runs.plural} written by this job{lost}; {runs.resume}"
            if isinstance(stop, store.WarehouseError):
                raise store.WarehouseError(f"{stop}\n{note}") from None
            print(f"\n{note}", file=sys.stderr)
            if isinstance(stop, KeyboardInterrupt):
                raise SystemExit(130) from None
            raise
    finally:
        bar.close()
        for stop_job in writer._stops:
            stop_job()
