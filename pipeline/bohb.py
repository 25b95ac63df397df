"""BOHB, Hyperband and random-search sweeps with hpbandster, written live into the warehouse.

    python -m pipeline.bohb --study sweep1 --dataset digits --min-budget 1 --max-budget 9 --eta 3 --iterations 4
    python -m pipeline.bohb --study hb --optimizer hyperband --space my_space.toml --workers 4
    python -m pipeline.bohb schedule --min-budget 1 --max-budget 81 --eta 3     # the plan, nothing trained

The command starts a Pyro4 nameserver on --host and --workers local worker processes, and
stops them at the end. More workers on other machines join with the command it prints
(`python -m pipeline.worker ...`). Budget = epochs, unless the space declares
`budget = "data_fraction"` (then a budget b trains --epochs epochs on b/max_budget of the data).
The optimizer minimizes 1 - final validation accuracy; the test split is only reported.
Every evaluation is a run of the study as soon as it finishes. Ctrl-C stops cleanly; re-running
the command continues with the next bracket (an interrupted bracket stays partial), with BOHB's
model warm-started from every finished evaluation.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from dataclasses import MISSING, asdict, dataclass
from datetime import datetime
from pathlib import Path

from pipeline.core import cli, hpbandster_compat, hyperband, limits
from pipeline.core.cli import UsageError, flag, reflag
from pipeline.core.host import utc_from_unix
from pipeline.core.protocol import TIME_FIELDS
from pipeline.core.space import Space, load_space
from pipeline.jobs import cluster
from pipeline.jobs.flags import JOB_ERRORS, JobFlags
from pipeline.jobs.study import check_trainable, open_study
from pipeline.jobs.writer import JobWriter, RunsOf, job_writer
from pipeline.training.data_spec import BUILTIN, STANDARD
from pipeline.warehouse import store

hpbandster_compat.install()

from hpbandster.core.result import logged_results_to_HBS_result  # noqa: E402
from hpbandster.optimizers import BOHB, HyperBand, RandomSearch  # noqa: E402

PROG = "python -m pipeline.bohb"
OPTIMIZERS = {"bohb": BOHB, "hyperband": HyperBand, "random_search": RandomSearch}
EVALUATIONS = RunsOf("evaluations", "eval", "the same command continues with the next bracket")


@dataclass(frozen=True)
class SweepConfig(JobFlags):
    identity = ("optimizer", "dataset", "min_budget", "max_budget", "eta", "seed", "epochs",
                "image_size", "channels", "train_size", "test_size", "data_seed")
    help_order = ("study", "optimizer", "space", "dataset", "min_budget", "max_budget", "eta", "iterations", "epochs",
                  "seed", "device", "workers", "min_workers", "host", "port", "warehouse", "flush_seconds")

    study: str = reflag(JobFlags, "study", help="name of the sweep's study; the same name continues it")
    optimizer: str = flag("bohb", "hpbandster optimizer", choices=tuple(OPTIMIZERS))
    space: str = reflag(JobFlags, "space", default="bohbvis")
    dataset: str = flag("digits", f"dataset (built-in: {', '.join(BUILTIN)}; torchvision: {', '.join(STANDARD)})")
    min_budget: float = flag(1.0, "smallest budget (epochs, or data share with budget = data_fraction)",
                             bounds=limits.BUDGET)
    max_budget: float = flag(9.0, "largest budget", bounds=limits.BUDGET)
    eta: float = flag(3.0, "successive-halving factor: 1/eta of a round goes on to the next", bounds=limits.ETA)
    iterations: int = flag(4, "Hyperband iterations (brackets) the sweep should hold when it ends",
                           bounds=limits.ITERATIONS)
    epochs: int = flag(4, "epochs per evaluation when the space's budget is data_fraction", bounds=limits.EPOCHS)
    seed: int = reflag(JobFlags, "seed", help="seed of the optimizer's sampler and of every network's initialization")
    device: str = reflag(JobFlags, "device", help="device of the local workers: auto, cpu, cuda or cuda:N")
    workers: int = reflag(JobFlags, "workers", default=2,
                          help="worker processes started on this machine (0: remote workers only)")
    min_workers: int = flag(0, "wait for this many workers before starting (0: --workers, at least 1)",
                            bounds=limits.MIN_WORKERS)
    host: str = flag("127.0.0.1", "address of this machine that workers can reach")
    port: int = flag(0, "nameserver port (0: any free one, printed at start)", bounds=limits.PORT)
    flush_seconds: float = reflag(JobFlags, "flush_seconds", default=1.0,
                                  help="write finished evaluations at most this often")

    def validate(self) -> None:
        super().validate()
        if self.dataset not in BUILTIN + STANDARD:
            raise UsageError(f"--dataset: unknown dataset {limits.shown(self.dataset)}; choose from "
                             f"{', '.join(BUILTIN + STANDARD)}")
        problem = hyperband.plan_problem(self.min_budget, self.max_budget, self.eta)
        if problem:
            raise UsageError(f"--min-budget/--max-budget/--eta: {problem}")
        cli.check_listen(self.host, self.port)


def load_sweep_space(config: SweepConfig) -> Space:
    space = load_space(config.space)
    if space.budget == "epochs" and not 1 <= config.min_budget <= config.max_budget <= limits.EPOCHS[1]:
        raise UsageError(f"budget = epochs needs budgets from 1 to {limits.EPOCHS[1]:,} epochs, got --min-budget "
                         f"{config.min_budget:g} and --max-budget {config.max_budget:g}")
    space.to_configspace(config.seed)  # what ConfigSpace refuses is refused now, before the study is written
    check_trainable(space, config, with_fixed=True)  # the trainer gets each configuration with [fixed]
    return space


def open_sweep(config: SweepConfig, space: Space, path: Path) -> tuple[int, int, int]:
    """Create or check the study and store its plan; returns (study_id, next bracket, next trial)."""
    rounds = hyperband.plan(config.min_budget, config.max_budget, config.eta, config.iterations,
                            optimizer=config.optimizer)

    def opened(con, study_id: int) -> tuple[int, int]:
        con.executemany(
            "insert or ignore into sweep_plan (study_id, bracket, bracket_s, round, configs, budget) "
            "values (?, ?, ?, ?, ?, ?)", [(study_id, r.bracket, r.s, r.round, r.configs, r.budget) for r in rounds])
        return con.execute("select coalesce(max(bracket) + 1, 0), coalesce(max(trial) + 1, 0) from runs "
                           "where study_id = ?", [study_id]).fetchall()[0]

    def complete(con, study_id: int, held: tuple[int, int]) -> bool:
        # every asked bracket started, and each round holds its planned evaluations: the job stopped between its
        # last flush and marking the sweep finished (an interrupted bracket stays partial, unfinished)
        if held[0] < config.iterations:
            return False
        counts = {(b, r): n for b, r, n in con.execute(
            "select bracket, round, count(*) from runs where study_id = ? group by all", [study_id]).fetchall()}
        return all(counts.get((r.bracket, r.round), 0) >= r.configs for r in rounds)

    study_id, (next_bracket, next_trial) = open_study(
        config, space, path, kind=config.optimizer, opened=opened, complete=complete,
        refusal=lambda kind: f"study '{config.study}' is a {kind} study; it cannot continue as {config.optimizer}. "
                             f"Pick another --study name or --optimizer {kind}")
    return study_id, next_bracket, next_trial


def previous_result(path: Path, study_id: int, space: Space):
    """The study's finished evaluations as an hpbandster Result, to warm-start BOHB's model.

    Written in hpbandster's own log format and read back with its own reader.
    """
    with store.read(path) as con:
        runs = con.execute("""select run_id, config_id, budget, loss, status, error, sampled_as,
                                     epoch(submitted_at), epoch(started_at), epoch(finished_at)
                              from runs where study_id = ? order by trial""", [study_id]).fetchall()
        values = con.execute("""select h.run_id, h.name, h.value, h.value_num from hyperparameters h
                                join runs r using (run_id) where r.study_id = ?""", [study_id]).fetchall()
    if not runs:
        return None
    types = space.param_types()
    configs: dict[int, dict] = {}
    for run_id, name, text, number in values:
        kind = types.get(name, "text")
        configs.setdefault(run_id, {})[name] = (
            text if kind == "text" else bool(number) if kind == "bool" else int(number) if kind == "int" else number)
    with tempfile.TemporaryDirectory() as tmp:
        seen = set()
        with open(Path(tmp) / "configs.json", "w") as cfg, open(Path(tmp) / "results.json", "w") as res:
            for run_id, config_id, budget, loss, status, error, sampled, submitted, started, finished in runs:
                cid = json.loads(config_id.replace("(", "[").replace(")", "]"))
                if tuple(cid) not in seen:
                    seen.add(tuple(cid))
                    info = {"model_based_pick": sampled == "model_based"}
                    cfg.write(json.dumps([cid, configs.get(run_id, {}), info]) + "\n")
                result = None if status == "failed" else {"loss": loss, "info": {}}
                stamps = {"submitted": submitted, "started": started, "finished": finished}
                res.write(json.dumps([cid, budget, stamps, result, error if status == "failed" else None]) + "\n")
        return logged_results_to_HBS_result(tmp)


class SweepLogger:
    """hpbandster result logger (`new_config`, `__call__(job)`) writing runs to the warehouse."""

    def __init__(self, writer: JobWriter, config: SweepConfig, *, first_trial: int, offset: int):
        self.writer, self.config, self.trial, self.offset = writer, config, first_trial, offset
        self.master = None  # set once the optimizer exists: the round of a job is read off its iteration
        self.infos: dict[tuple, dict] = {}
        self.best: float | None = None
        self.done: dict[int, int] = {}

    def new_config(self, config_id, config, config_info):
        self.infos[tuple(config_id)] = hpbandster_compat.plain(config_info or {})

    def _round_index(self, config_id: tuple, budget: float) -> int | None:
        """Position among the configurations of this round, by config-id index, as scheduled."""
        if self.master is None or not 0 <= config_id[0] < len(self.master.iterations):
            return None
        data = self.master.iterations[config_id[0]].data
        in_round = sorted(cid for cid, datum in data.items() if datum.budget >= budget - 1e-9)
        return in_round.index(config_id) if config_id in in_round else None

    def __call__(self, job):
        c = self.config
        config_id, budget = tuple(job.id), float(job.kwargs["budget"])
        bracket = config_id[0] + self.offset
        global_id = (bracket, *config_id[1:])  # as one uninterrupted run would have numbered it
        planned = hyperband.round_in(budget, bracket, c.min_budget, c.max_budget, c.eta, optimizer=c.optimizer)
        if job.result is not None:
            record = dict(job.result["info"])
            for name in TIME_FIELDS:
                record[name] = datetime.fromisoformat(record[name])
            record["loss"] = float(job.result["loss"])
        else:  # the evaluation raised: a failed run with the exception text
            record = {"status": "failed", "error": str(job.exception), "curve": [], "dataset": c.dataset,
                      "hyperparameters": hpbandster_compat.plain(job.kwargs["config"]), "seed": c.seed}
            record["started_at"], record["finished_at"] = (utc_from_unix(job.timestamps.get(k))
                                                           for k in ("started", "finished"))
        record.update(
            trial=self.trial, bracket=bracket, round=planned.round, budget=budget, config_id=str(global_id),
            bracket_s=planned.s, round_index=self._round_index(config_id, budget),
            submitted_at=utc_from_unix(job.timestamps.get("submitted")),
            sampled_as=hyperband.sampled_as(planned.round, self.infos.get(config_id)))
        self.trial += 1
        self.done[bracket] = self.done.get(bracket, 0) + 1
        if record.get("loss") is not None and budget >= c.max_budget - 1e-9:
            self.best = record["loss"] if self.best is None else min(self.best, record["loss"])
        self.writer.add(record, postfix={"bracket": bracket, "done": self.done[bracket],
                                         "best val acc": "-" if self.best is None else f"{1 - self.best:.3f}"})


def _offset_optimizer(cls, offset: int):
    """The optimizer, planning bracket i as bracket i + `offset`: a resumed sweep goes on with the plan.

    hpbandster's config ids keep their local iteration number; the logger adds `offset` back. An error
    while taking in a result (a busy warehouse, ...) stops the sweep (cluster.StopsOnError).
    """

    class Resumed(cluster.StopsOnError, cls):
        def get_next_iteration(self, iteration, iteration_kwargs={}):  # noqa: B006 - hpbandster's signature
            planned = super().get_next_iteration(iteration + offset, iteration_kwargs)
            planned.HPB_iter = iteration  # the master indexes its iterations list by this number
            return planned

    return Resumed


def run(config: SweepConfig):
    """Run the sweep's remaining brackets; returns hpbandster's Result of this call (None if none)."""
    path = store.resolve_path(config.warehouse)
    space = load_sweep_space(config)
    study_id, offset, first_trial = open_sweep(config, space, path)
    remaining = config.iterations - offset
    if remaining <= 0:
        print(f"sweep '{config.study}' already holds {offset} brackets; raise --iterations to run more",
              file=sys.stderr)
        return None
    configspace = space.to_configspace(config.seed)
    warm = previous_result(path, study_id, space) if offset and config.optimizer == "bohb" else None
    planned = sum(r.configs for r in hyperband.plan(config.min_budget, config.max_budget, config.eta, config.iterations,
                                                    optimizer=config.optimizer) if r.bracket >= offset)
    run_id = f"sweep-{config.study}"
    settings = {"dataset": config.dataset, "data_spec": asdict(config.data_spec), "fixed": space.fixed,
                "seed": config.seed, "budget_resource": space.budget, "epochs": config.epochs,
                "max_budget": config.max_budget}
    with cluster.local_cluster(run_id=run_id, host=config.host, port=config.port, workers=config.workers,
                               device=config.device, settings=settings) as local, \
            job_writer(path, study_id, config, EVALUATIONS, total=planned) as writer:
        logger = SweepLogger(writer, config, first_trial=first_trial, offset=offset)
        optimizer = _offset_optimizer(OPTIMIZERS[config.optimizer], offset)(
            configspace=configspace, run_id=run_id, eta=config.eta, min_budget=config.min_budget,
            max_budget=config.max_budget, nameserver=local.host, nameserver_port=local.port, host=config.host,
            result_logger=logger, ping_interval=cluster.DISCOVERY_SECONDS, logger=logging.getLogger("pipeline.bohb"),
            **({"previous_result": warm} if warm is not None else {}))
        logger.master = optimizer
        writer.stop_with(lambda: optimizer.shutdown(shutdown_workers=True))
        with local.watch(optimizer):
            result = optimizer.run(n_iterations=remaining, min_n_workers=config.min_workers or max(1, config.workers))
        writer.finish()
    return result


@dataclass(frozen=True)
class ScheduleConfig:
    min_budget: float = flag(MISSING, "smallest budget", bounds=limits.BUDGET)  # required flags
    max_budget: float = flag(MISSING, "largest budget", bounds=limits.BUDGET)
    eta: float = flag(3.0, "successive-halving factor", bounds=limits.ETA)
    iterations: int | None = flag(None, "brackets (default: one per s)", bounds=limits.ITERATIONS)
    optimizer: str = flag("bohb", "hpbandster optimizer whose plan to print", choices=tuple(OPTIMIZERS))

    def validate(self) -> None:
        problem = hyperband.plan_problem(self.min_budget, self.max_budget, self.eta)
        if problem:
            raise UsageError(f"--min-budget/--max-budget/--eta: {problem}")


def schedule(argv: list[str]) -> None:
    """python -m pipeline.bohb schedule --min-budget 1 --max-budget 81 --eta 3"""
    args = cli.parse(ScheduleConfig, argv, description="Print hpbandster's successive-halving plan.",
                     prog=f"{PROG} schedule")
    print(hyperband.format_plan(hyperband.plan(args.min_budget, args.max_budget, args.eta, args.iterations,
                                               optimizer=args.optimizer)))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["schedule"]:
        schedule(argv[1:])
        return
    cli.main(SweepConfig, run, argv, prog=PROG, description=__doc__.split("\n\n")[0],
             errors=(*JOB_ERRORS, cluster.WorkersLost))


if __name__ == "__main__":
    main()
