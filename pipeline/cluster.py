"""The master side of hpbandster's Pyro4 model: a nameserver and local worker processes.

Used by `pipeline.distributed` (ensembles) and `pipeline.bohb` (sweeps). Workers on other
machines join with the command printed at start (see pipeline/worker.py).
"""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager

from pipeline import hpbandster_compat
from pipeline.worker import publish_settings

hpbandster_compat.install()

from hpbandster.core.nameserver import NameServer  # noqa: E402

DISCOVERY_SECONDS = 10  # how often a master looks for workers that joined late


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
        for proc in procs:
            try:
                proc.wait(timeout=30)  # the master's shutdown(shutdown_workers=True) tells them to go
            except subprocess.TimeoutExpired:
                proc.kill()
