"""A worker of a distributed ensemble or a sweep: trains what the master hands out, on any machine.

    python -m pipeline.worker --nameserver 10.0.0.1 --port 9090 --run-id big --host 10.0.0.2

The master (`python -m pipeline.distributed` or `python -m pipeline.bohb`) prints the exact command
with its address, port and run id. A worker needs torch, numpy, scikit-learn, hpbandster and this package; it never
imports DuckDB, polars or Streamlit, so it runs on a bare GPU machine. It may start before the
master (it waits up to --wait seconds), and leaves --timeout seconds after the master is gone.
"""

from __future__ import annotations

import argparse
import logging
import time

from pipeline.core import cli, limits
from pipeline.training.hpbandster_worker import PipelineWorker

PROG = "python -m pipeline.worker"


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


def main(argv: list[str] | None = None) -> None:
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
    main()
