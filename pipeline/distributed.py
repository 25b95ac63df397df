"""Train one ensemble on several machines through hpbandster's Pyro4 master/worker model.

An ensemble is a random search with a fixed budget: the master hands out members (configuration
i of the seeded sampler, exactly as `pipeline.ensemble` would train them), workers train them
and send back the result, and the master writes every result to its warehouse. Nothing but
the master touches the warehouse.

On the master machine (starts a Pyro4 nameserver and, optionally, local workers):

    python -m pipeline.distributed --study big --runs 10000 --host 10.0.0.1 --port 9090 --workers 2

On each other machine (as many as you like, joining or leaving at any time; see pipeline/worker.py):

    python -m pipeline.worker --nameserver 10.0.0.1 --port 9090 --run-id big --host 10.0.0.2

Every ensemble flag works on the master. Re-running the master command continues the study.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from pipeline.core import cli, hpbandster_compat, limits
from pipeline.core.cli import flag, reflag
from pipeline.core.protocol import TIME_FIELDS
from pipeline.jobs import cluster
from pipeline.jobs.flags import JOB_ERRORS
from pipeline.jobs.members import NETWORKS, EnsembleConfig, load_ensemble_space, member_task, pending_members
from pipeline.jobs.writer import JobWriter, job_writer
from pipeline.warehouse import store

hpbandster_compat.install()

from hpbandster.core.base_config_generator import base_config_generator  # noqa: E402
from hpbandster.core.master import Master  # noqa: E402
from hpbandster.optimizers.iterations import SuccessiveHalving  # noqa: E402

PROG = "python -m pipeline.distributed"


@dataclass(frozen=True)
class MasterConfig(EnsembleConfig):
    help_order = ("workers", "host", "port", "run_id", "min_workers", *EnsembleConfig.help_order)

    workers: int = reflag(EnsembleConfig, "workers",
                          help="worker processes the master starts on this machine (0: remote workers only)")
    host: str = flag("127.0.0.1", "address of this machine that the workers can reach")
    port: int = flag(0, "nameserver port (0: any free one, printed at start)", bounds=limits.PORT)
    run_id: str | None = flag(None, "hpbandster run id that workers join (default: the study name)")
    min_workers: int = flag(0, "wait for this many workers before handing out networks (0: --workers, at least 1)",
                            bounds=limits.MIN_WORKERS)

    def validate(self) -> None:
        super().validate()
        if self.run_id is not None:
            cli.check_study(self.run_id, "--run-id")
        cli.check_listen(self.host, self.port)


class MemberSampler(base_config_generator):
    """hands out the study's missing members in order, as plain JSON-like dicts."""

    def __init__(self, jobs: list[dict]):
        super().__init__()
        self.jobs = iter(jobs)

    def get_config(self, budget):
        job = next(self.jobs)
        return job, {"trial": job["trial"]}


class EnsembleMaster(cluster.StopsOnError, Master):
    def __init__(self, jobs: list[dict], epochs: int, **kwargs):
        super().__init__(config_generator=MemberSampler(jobs), **kwargs)
        self.n_jobs, self.epochs = len(jobs), epochs

    def get_next_iteration(self, iteration, iteration_kwargs={}):  # noqa: B006 - hpbandster's signature
        return SuccessiveHalving(HPB_iter=iteration, num_configs=[self.n_jobs], budgets=[self.epochs],
                                 config_sampler=self.config_generator.get_config, **iteration_kwargs)


class WarehouseLogger:
    """hpbandster result logger (`new_config`, `__call__(job)`) that writes to the warehouse."""

    def __init__(self, writer: JobWriter):
        self.writer = writer

    def new_config(self, config_id, config, config_info):
        pass  # a member's configuration is known from the study's seed; only results are stored

    def __call__(self, job):
        job_config = job.kwargs["config"]
        if job.result is not None:
            record = dict(job.result["info"])
            for name in TIME_FIELDS:
                record[name] = datetime.fromisoformat(record[name])
        else:  # the worker raised outside the runner (lost data, killed process): keep it as failed
            record = {"status": "failed", "error": str(job.exception), "curve": [], "dataset": job_config["dataset"],
                      "hyperparameters": job_config["hyperparameters"], "seed": job_config["seed"]}
        record["trial"] = job_config["trial"]
        self.writer.add(record)


def run_master(config: MasterConfig) -> int:
    path = store.resolve_path(config.warehouse)
    space = load_ensemble_space(config)
    study_id, done, todo = pending_members(config, space, path)
    if not todo:
        return 0
    jobs = []
    for trial in todo:
        hyperparameters, seed = member_task(config, space, trial)
        jobs.append({"trial": trial, "dataset": hyperparameters.pop("dataset"), "seed": seed,
                     "hyperparameters": hyperparameters, "data_spec": asdict(config.data_spec)})
    run_id = config.run_id or config.study
    with cluster.local_cluster(run_id=run_id, host=config.host, port=config.port, workers=config.workers,
                               device=config.device) as local, \
            job_writer(path, study_id, config, NETWORKS, total=config.runs, done=len(done)) as writer:
        master = EnsembleMaster(jobs, config.epochs, run_id=run_id, nameserver=local.host, nameserver_port=local.port,
                                host=config.host, ping_interval=cluster.DISCOVERY_SECONDS,
                                result_logger=WarehouseLogger(writer), logger=logging.getLogger("pipeline.distributed"))
        writer.stop_with(lambda: master.shutdown(shutdown_workers=True))
        with local.watch(master):
            master.run(n_iterations=1, min_n_workers=config.min_workers or max(1, config.workers))
        writer.finish()
    return writer.written


def main(argv: list[str] | None = None) -> None:
    cli.main(MasterConfig, run_master, argv, prog=PROG, description=__doc__.split("\n\n")[0],
             errors=(*JOB_ERRORS, cluster.WorkersLost))


if __name__ == "__main__":
    main()
