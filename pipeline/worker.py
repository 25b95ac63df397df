"""A worker of a distributed ensemble or a sweep: trains what the master hands out, on any machine.

    python -m pipeline.worker --nameserver 10.0.0.1 --port 9090 --run-id big --host 10.0.0.2

The master (`python -m pipeline.distributed` or `python -m pipeline.bohb`) prints the exact command with its address, port
and run id. A worker needs torch, numpy, scikit-learn, hpbandster and this package; it never
imports DuckDB, polars or Streamlit, so it runs on a bare GPU machine. It may start before the
master (it waits up to --wait seconds), and leaves --timeout seconds after the master is gone.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import numpy as np

from pipeline import cli, hpbandster_compat, limits
from pipeline.datasets import DataSpec
from pipeline.runner import Runner, resolve_device

hpbandster_compat.install()

from hpbandster.core.worker import Worker  # noqa: E402

PROG = "python -m pipeline.worker"
TIME_FIELDS = ("started_at", "finished_at")  # datetimes travel as ISO strings (serpent: built-ins only)


def settings_name(run_id: str) -> str:
    return f"pipeline.run_{run_id}.settings"


def publish_settings(nameserver_host: str, nameserver_port: int, run_id: str, settings: dict) -> None:
    """Put a sweep's settings on the nameserver (as metadata of a name) for every worker to read.

    hpbandster hands a worker only (config, budget); the dataset, data shape and seed of a sweep
    reach remote workers this way, through the engine already running, not a side channel.
    """
    import Pyro4

    with Pyro4.locateNS(host=nameserver_host, port=nameserver_port) as ns:
        ns.register(settings_name(run_id), "PYRO:settings@localhost:1", metadata={json.dumps(settings)})


class PipelineWorker(Worker):
    """Trains what the master hands out: ensemble members, or sweep evaluations."""

    def __init__(self, *args, device: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        self.device = resolve_device(device)
        self.runners: dict[str, Runner] = {}
        self._sweep: dict | None = None

    def runner(self, data_spec: dict) -> Runner:
        key = json.dumps(data_spec, sort_keys=True)
        if key not in self.runners:  # one per data shape, each keeping its datasets on the device
            self.runners[key] = Runner(DataSpec(**data_spec), self.device)
        return self.runners[key]

    def sweep_settings(self) -> dict:
        if self._sweep is None:
            import Pyro4

            with Pyro4.locateNS(host=self.nameserver, port=self.nameserver_port) as ns:
                _, metadata = ns.lookup(settings_name(self.run_id), return_metadata=True)
            self._sweep = json.loads(next(iter(metadata)))
        return self._sweep

    def compute(self, config_id, config, budget, working_directory):
        if "data_spec" in config:  # an ensemble member: everything travels in the config
            record = self.runner(config["data_spec"]).run(
                config["hyperparameters"], dataset=config["dataset"], epochs=int(budget), seed=config["seed"])
            loss = 1.0 - record["test_accuracy"] if record["status"] == "ok" else 1.0
        else:  # a sweep evaluation: hpbandster's config, the sweep's settings from the nameserver
            sweep = self.sweep_settings()
            by_epochs = sweep["budget_resource"] == "epochs"
            record = self.runner(sweep["data_spec"]).run(
                hpbandster_compat.plain(config), dataset=sweep["dataset"], fixed=sweep["fixed"],
                epochs=max(1, round(budget)) if by_epochs else sweep["epochs"],
                train_fraction=1.0 if by_epochs else budget / sweep["max_budget"],
                seed=int(np.random.SeedSequence([sweep["seed"], *config_id]).generate_state(1)[0]))
            if record["status"] == "failed":  # let hpbandster see it crash: its KDE must not learn from it
                raise RuntimeError(record["error"])
            # the optimizer sees validation accuracy only; the test split stays unseen until reported
            loss = 1.0 - record["curve"][-1]["val_accuracy"] if record["status"] == "ok" else 1.0
        for name in TIME_FIELDS:
            record[name] = record[name].isoformat()
        return {"loss": float(loss), "info": hpbandster_compat.plain(record)}


def wait_for_nameserver(host: str, port: int, seconds: float) -> bool:
    """Workers may start before the master: hpbandster's own worker gives up at once."""
    import Pyro4
    import Pyro4.errors

    deadline = time.monotonic() + seconds
    while True:
        try:
            with Pyro4.locateNS(host=host, port=port):
                return True
        except Pyro4.errors.NamingError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)


def run_worker(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(prog=PROG, description="Join a distributed ensemble as a worker.")
    parser.add_argument("--nameserver", required=True, help="address of the master's nameserver")
    parser.add_argument("--port", type=limits.number(int, limits.WORKER_PORT), required=True,
                        help="port of the master's nameserver")
    parser.add_argument("--run-id", required=True, help="run id the master printed (default there: the study name)")
    parser.add_argument("--host", default=None, help="address of this machine that the master can reach")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    seconds = limits.number(float, limits.WAIT_SECONDS)
    parser.add_argument("--timeout", type=seconds, default=60.0,
                        help="seconds to wait for new work before leaving once the master is gone")
    parser.add_argument("--wait", type=seconds, default=300.0,
                        help="seconds to wait for the master's nameserver to come up")
    args = parser.parse_args(argv)
    try:
        cli.check_host(args.nameserver, "--nameserver")
        cli.check_study(args.run_id, "--run-id")
        cli.check_device(args.device)
        if args.host is not None:
            cli.check_listen(args.host, 0)  # the worker's own Pyro daemon listens there
    except cli.UsageError as err:
        parser.exit(2, f"{PROG}: error: {err}\n")
    if not wait_for_nameserver(args.nameserver, args.port, args.wait):
        parser.exit(1, f"{PROG}: error: no nameserver answered at {args.nameserver}:{args.port} within "
                       f"{args.wait:.0f} s; start the master first and pass the address and port it printed\n")
    try:
        quiet = logging.getLogger("pipeline.worker")  # hpbandster's default logs every job at INFO
        quiet.setLevel(logging.WARNING)
        worker = PipelineWorker(run_id=args.run_id, nameserver=args.nameserver, nameserver_port=args.port,
                                host=args.host, device=args.device, timeout=args.timeout, logger=quiet)
    except ValueError as err:
        parser.exit(2, f"{PROG}: error: {err}\n")
    worker.run(background=False)


if __name__ == "__main__":
    run_worker(None)
