"""The master side of hpbandster's Pyro4 model: a nameserver and local worker processes.

Used by `pipeline.distributed` (ensembles) and `pipeline.bohb` (sweeps). Workers on other
machines join with the command printed at start (see pipeline/worker.py).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from pipeline.core import hpbandster_compat, limits
from pipeline.core.protocol import publish_settings

hpbandster_compat.install()

import Pyro4  # noqa: E402
import Pyro4.errors  # noqa: E402
from hpbandster.core import dispatcher  # noqa: E402
from hpbandster.core.nameserver import NameServer  # noqa: E402

DISCOVERY_SECONDS = 10  # how often a master looks for workers that joined late
WORKER_GRACE_SECONDS = 5  # local workers told to shut down get this long to finish, then are terminated
# Once every local worker has exited, a job stops after this long without any live worker. Not at once: a
# remote worker may be joining (one waiting for the nameserver registers within a second of its start, one
# restarted by hand or by a supervisor takes longer), and the dispatcher drops a dead one only when it next
# looks. Not much longer: the finished runs are already written, re-running continues, and a job that waits
# for nobody holds the terminal, the port and the study's lock for nothing.
WORKERLESS_SECONDS = 30.0
WORKERLESS_ENV_VAR = "HPW_WORKERLESS_SECONDS"  # overrides it (tests, clusters whose workers start slowly)


class WorkersLost(Exception):
    """Every local worker of a job exited and no worker joined in time: the job stops, keeping its runs."""


class _WorkerProxy(Pyro4.Proxy):
    """The dispatcher's handle on a worker: handing a job to a worker that died while idle does not hang the master.

    hpbandster's job runner calls start_computation holding the dispatcher's lock; on a worker killed between
    jobs the call raised, the thread ended with the lock held, and the master hung for good. Here the call is
    dropped: the job stays on that worker, and the dispatcher's next look for workers finds it dead and records
    the job as failed ('Worker died unexpectedly.'), as for a worker that dies mid-job.
    """

    def start_computation(self, *args, **kwargs):
        with suppress(Pyro4.errors.CommunicationError):
            Pyro4.Proxy.__getattr__(self, "start_computation")(*args, **kwargs)


class _DispatchedWorker(dispatcher.Worker):
    def __init__(self, name, uri):
        super().__init__(name, uri)
        self.proxy = _WorkerProxy(uri)


dispatcher.Worker = _DispatchedWorker  # the class the dispatcher builds its handles from


class StopsOnError:
    """Mixin for an hpbandster Master: an exception while taking in a result stops the run.

    hpbandster calls job_callback (our result logger writing to the warehouse, the optimizer's model)
    on a Pyro thread, where an exception only ends that thread, and the master then waits forever for
    a result it already had. Here the first exception is kept, the master's loop sees no active
    iteration and returns, and run() raises it; results that arrive after it are dropped. `stop(err)` stops it
    the same way from any thread (the worker watchdog).
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
                except BaseException as err:
                    self.failure = err
            self.thread_cond.notify_all()

    def stop(self, err: BaseException) -> None:
        with self.thread_cond:
            if self.failure is None:
                self.failure = err
            self.thread_cond.notify_all()

    def active_iterations(self):
        return [] if self.failure is not None else super().active_iterations()

    def wait_for_workers(self, min_n_workers=1):
        # hpbandster's loop, leaving on a failure: the workers it waits for may all have died before registering
        with self.thread_cond:
            while self.failure is None and self.dispatcher.number_of_workers() < min_n_workers:
                self.thread_cond.wait(1)
                self.dispatcher.trigger_discover_worker()

    def _queue_wait(self):
        # hpbandster's loop, leaving on a failure: jobs still queued in the dispatcher, or lost with their worker's
        # process, never come back to lower the count it waits on
        if self.num_running_jobs >= self.job_queue_sizes[1]:
            while self.failure is None and self.num_running_jobs > self.job_queue_sizes[0]:
                self.thread_cond.wait()

    def run(self, *args, **kwargs):
        result = super().run(*args, **kwargs)
        if self.failure is not None:
            raise self.failure
        return result


def workerless_seconds() -> float:
    """How long a job whose local workers all exited waits for any worker: $HPW_WORKERLESS_SECONDS, else 30 s."""
    return limits.env_seconds(WORKERLESS_ENV_VAR, WORKERLESS_SECONDS)


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class LocalCluster:
    host: str  # of the nameserver
    port: int
    workers: list[subprocess.Popen]  # the local ones
    workerless_seconds: float

    @contextmanager
    def watch(self, master: StopsOnError):
        """Around master.run(): stop the job (`master.stop`) once every local worker has exited and the
        dispatcher has held no worker, local or remote, for `workerless_seconds`.

        hpbandster waits for workers forever, so a job whose workers were all killed (OOM, kill -9) hung.
        A job without local workers (--workers 0) is not watched: it runs on remote workers, which may join
        at any time. Remote workers in the dispatcher's pool count as live, so a job that planned on them
        (--min-workers above --workers) goes on with them; it stops only once no worker at all is left, since
        its own machine's workers dying says something is wrong there. A worker dying while others live: the
        dispatcher records its job as failed ('Worker died unexpectedly.') when it next looks for workers; it is
        told to look at once.
        """
        if not self.workers:
            yield
            return
        done = threading.Event()
        thread = threading.Thread(target=self._watch, args=(master, done), name="worker watchdog",
                                  daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def _watch(self, master: StopsOnError, done: threading.Event) -> None:
        reported: set[int] = set()
        workerless_since = None
        while not done.wait(0.5):  # a look costs a poll per worker and one lock
            exited = [proc for proc in self.workers if proc.poll() is not None]
            for proc in exited:
                if proc.pid not in reported:
                    reported.add(proc.pid)
                    print(f"\nlocal worker {proc.pid}: {_exit_text(proc.returncode)}; "
                          f"{len(self.workers) - len(exited)} of {len(self.workers)} left", file=sys.stderr)
                    master.dispatcher.trigger_discover_worker()
            if len(exited) < len(self.workers) or master.dispatcher.number_of_workers():
                workerless_since = None
            elif workerless_since is None:
                workerless_since = time.monotonic()
            elif time.monotonic() - workerless_since >= self.workerless_seconds:
                deaths = "; ".join(f"worker {proc.pid}: {_exit_text(proc.returncode)}" for proc in self.workers)
                master.stop(WorkersLost(f"every local worker exited and no worker joined within "
                                        f"{self.workerless_seconds:g} s ({deaths})"))
                return


@contextmanager
def local_cluster(*, run_id: str, host: str, port: int, workers: int, device: str, settings: dict | None = None):
    """Start a nameserver and `workers` local worker processes; yields the LocalCluster; stops both."""
    grace = workerless_seconds()
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
        yield LocalCluster(ns_host, ns_port, procs, grace)
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
