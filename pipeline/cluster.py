"""The master side of hpbandster's Pyro4 model: a nameserver and local worker processes.

Used by `pipeline.distributed` (ensembles) and `pipeline.bohb` (sweeps). Workers on other
machines join with the command printed at start (see pipeline/worker.py).
"""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager

from pipeline import hpbandster_compat
from pipeline.worker import publish_settings

hpbandster_compat.install()

from hpbandster.core.nameserver import NameServer  # noqa: E402

DISCOVERY_SECONDS = 10  # how often a master looks for workers that joined late
WORKER_GRACE_SECONDS = 5  # local workers told to shut down get this long to finish, then are terminated


class StopsOnError:
    """Mixin for an hpbandster Master: an exception while taking in a result stops the run.

    hpbandster calls job_callback (our result logger writing to the warehouse, the optimizer's model)
    on a Pyro thread, where an exception only ends that thread, and the master then waits forever for
    a result it already had. Here the first exception is kept, the master's loop sees no active
    iteration and returns, and run() raises it; results that arrive after it are dropped.
    """

    failure: BaseException | None = None

    def job_callback(self, job):
        # taken first and checked under it (an RLock: super() takes it again), so that no result is taken
        # in after a failure; hpbandster's own callback holds it while the logger writes
        with self.thread_cond:
            if self.failure is None:
                try:
                    super().job_callback(job)
                    return
                except BaseException as err:  # noqa: BLE001 - handed to run(), on the main thread
                    self.failure = err
            else:
                self.num_running_jobs -= 1  # hpbandster's count of running jobs, for its queue wait
            self.thread_cond.notify_all()

    def active_iterations(self):
        return [] if self.failure is not None else super().active_iterations()

    def run(self, *args, **kwargs):
        result = super().run(*args, **kwargs)
        if self.failure is not None:
            raise self.failure
        return result


@contextmanager
def local_cluster(*, run_id: str, host: str, port: int, workers: int, device: str, settings: dict | None = None):
    """Start a nameserver and `workers` local worker processes; yields (host, port); stops both."""
    nameserver = NameServer(run_id=run_id, host=host, port=port)
    ns_host, ns_port = nameserver.start()
    procs: list[subprocess.Popen] = []
    try:
        if settings is not None:
            publish_settings(ns_host, ns_port, run_id, settings)
        print(f"nameserver on {ns_host}:{ns_port}; workers on other machines join with:\n  python -m pipeline.worker "
              f"--nameserver {ns_host} --port {ns_port} --run-id {run_id} --host THIS_MACHINE_ADDRESS", file=sys.stderr)
        procs = [subprocess.Popen([sys.executable, "-m", "pipeline.worker", "--nameserver", ns_host, "--port",
                                   str(ns_port), "--run-id", run_id, "--device", device, "--host", host])
                 for _ in range(workers)]
        yield ns_host, ns_port
    finally:
        nameserver.shutdown()
        # the master's shutdown(shutdown_workers=True) tells them to go; one still training after a stop
        # would finish a network nobody takes in
        deadline = time.monotonic() + WORKER_GRACE_SECONDS
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=WORKER_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
