"""Train an ensemble of randomized CNNs into the warehouse.

    python -m pipeline.ensemble --study demo --runs 200 --epochs 8
    python -m pipeline.ensemble --study mnist-wide --space my_space.toml --datasets mnist --data-dir ~/data

Member i of a study is configuration i of the seeded sampler (pipeline/core/space.py), so re-running
the same command continues where it stopped: `kill -9` loses at most the networks in flight,
and nothing is trained twice. On 2 CPU cores with the defaults expect about 1 network/s
(see BENCHMARKS.md). `--runs` may grow on a later call to extend a study.
For several machines, see pipeline/distributed.py.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import sys
from dataclasses import asdict, dataclass

from tqdm import tqdm

from pipeline.core import cli, limits
from pipeline.core.cli import UsageError, flag
from pipeline.core.space import Space, SpaceError, load_space
from pipeline.training.datasets import BUILTIN, STANDARD, DataFlags, DatasetError, DataSpec, load
from pipeline.training.runner import Runner, resolve_device, run_seed
from pipeline.training.train import check_space
from pipeline.warehouse import store

PROG = "python -m pipeline.ensemble"
# Settings that decide what a study's runs are; a resumed study must match them exactly.
IDENTITY_SETTINGS = ("seed", "epochs", "image_size", "channels", "train_size", "test_size", "data_seed")


@dataclass(frozen=True)
class EnsembleConfig(DataFlags):
    study: str = flag(None, "name of the study; the same name continues an earlier run of it")
    runs: int = flag(100, "number of networks the study should hold when the job ends", bounds=limits.RUNS)
    epochs: int = flag(8, "training epochs per network", bounds=limits.EPOCHS)
    seed: int = flag(0, "sampler seed: the same seed gives the same configurations", bounds=limits.SEED)
    space: str = flag("ensemble", "search space: a TOML file, or a name in pipeline/spaces/")
    datasets: tuple[str, ...] = flag((), "comma-separated datasets replacing the space's dataset choices "
                                         f"(built-in: {', '.join(BUILTIN)}; torchvision: {', '.join(STANDARD)})")
    device: str = flag("auto", "auto, cpu, cuda or cuda:N")
    workers: int = flag(0, "worker processes; 0 = one per CPU core on CPU, 4 per GPU on CUDA", bounds=limits.WORKERS)
    warehouse: str | None = flag(None, f"warehouse file (default: ${store.PATH_ENV_VAR} or {store.DEFAULT_PATH})")
    flush_seconds: float = flag(2.0, "write finished networks to the warehouse at most this often",
                                bounds=limits.FLUSH_SECONDS)

    def validate(self) -> None:
        cli.check_study(self.study)
        self.check_data()
        cli.check_device(self.device)
        unknown = [d for d in self.datasets if d not in BUILTIN + STANDARD]
        if unknown:
            raise UsageError(f"--datasets: unknown dataset(s) {', '.join(map(limits.shown, unknown))}; choose from "
                             f"{', '.join(BUILTIN + STANDARD)}")

    def settings(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k in IDENTITY_SETTINGS}


def load_ensemble_space(config: EnsembleConfig) -> Space:
    space = load_space(config.space)
    if "dataset" not in space.names:
        raise SpaceError(f"space {config.space} has no 'dataset' parameter; an ensemble samples its dataset")
    if config.datasets:
        space = space.with_choices("dataset", list(config.datasets))
    unknown = [d for d in space["dataset"].choices if d not in BUILTIN + STANDARD]
    if unknown:
        raise SpaceError(f"space {config.space} names unknown dataset(s) {', '.join(map(str, unknown))}")
    # every network would fail on a parameter the trainer lacks or cannot use; refused before the study row
    check_space(space, (config.channels, config.image_size, config.image_size), source=config.space, with_fixed=False)
    return space


def open_study(config: EnsembleConfig, space: Space, path) -> tuple[int, set[int]]:
    """Create the study, or check that an existing one matches; returns its id and done trials."""
    with store.write(path) as con:
        study = store.get_study(con, config.study)
        if study is None:
            study_id = store.create_study(
                con, name=config.study, kind="ensemble", search_space=space.to_json(),
                settings=config.settings(), seed=config.seed, param_types=space.param_types())
            return study_id, set()
        if study["kind"] != "ensemble":
            raise UsageError(f"study '{config.study}' is a {study['kind']} study, not an ensemble; pick another --study")
        store.check_same_settings(study, config.settings(), space.to_json())
        done = store.done_trials(con, study["study_id"])
        if study["finished_at"] is None and done.issuperset(range(config.runs)):
            # a job stopped between its last flush and marking the study finished: nothing else would mark it
            store.finish_study(con, study["study_id"])
        return study["study_id"], done


def pending_members(config: EnsembleConfig, space: Space, path) -> tuple[int, set[int], list[int]]:
    """Open (or create) the study; its id, the trials it holds, and those still to train."""
    store.check_writable(path)
    study_id, done = open_study(config, space, path)
    todo = [i for i in range(config.runs) if i not in done]
    if not todo:
        print(f"study '{config.study}' already holds {len(done)} networks; nothing to do", file=sys.stderr)
    return study_id, done, todo


def member_task(config: EnsembleConfig, space: Space, trial: int) -> tuple[dict, int]:
    """Member `trial` of the study: its configuration (dataset included) and its training seed."""
    return space.sample(config.seed, trial), run_seed(config.seed, trial)


def _worker(tasks, results, data_spec: DataSpec, device: str, parent_pid: int) -> None:
    runner = Runner(data_spec, resolve_device(device))
    while True:
        if os.getppid() != parent_pid:  # the job was killed: train no orphaned networks, and exit without
            results.cancel_join_thread()  # waiting to flush results into a pipe nobody reads any more
            return
        try:
            task = tasks.get(timeout=1.0)
        except queue.Empty:
            continue
        if task is None:
            return
        trial, config, seed, epochs = task
        record = runner.run(config, dataset=config["dataset"], epochs=epochs, seed=seed)
        results.put({**record, "trial": trial})


def worker_devices(device: str, workers: int) -> list[str]:
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        import torch

        gpus = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if resolved.index is None else [str(resolved)]
        return [gpus[i % len(gpus)] for i in range(workers or 4 * len(gpus))]
    return ["cpu"] * (workers or os.cpu_count() or 1)


def _stop_workers(procs: list, tasks) -> None:
    """End the workers however the job stops, and let this process exit: tasks nobody will take are
    dropped (the queue's feeder thread would otherwise block interpreter exit, writing them into a
    pipe whose readers are gone)."""
    for p in procs:
        p.terminate()
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
            p.join()
    tasks.cancel_join_thread()


def run(config: EnsembleConfig, space: Space | None = None) -> int:
    """Train the missing members of the study; returns the number of networks written.

    `space` replaces the one named by `config.space` (the benchmark narrows it in code).
    """
    path = store.resolve_path(config.warehouse)
    space = space or load_ensemble_space(config)
    devices = worker_devices(config.device, config.workers)
    for name in space["dataset"].choices:
        if name in STANDARD:  # fail now, not in every worker
            load(name, config.data_spec)
    study_id, done, todo = pending_members(config, space, path)
    if not todo:
        return 0
    ctx = mp.get_context("spawn")  # fork would copy torch's threads and locks
    tasks, results = ctx.Queue(), ctx.Queue()
    for trial in todo:
        tasks.put((trial, *member_task(config, space, trial), config.epochs))
    procs = [ctx.Process(target=_worker, args=(tasks, results, config.data_spec, d, os.getpid()), daemon=True)
             for d in devices]
    for _ in procs:
        tasks.put(None)
    for p in procs:
        p.start()
    writer = store.RunWriter(path, study_id, flush_seconds=config.flush_seconds)
    counts = {"ok": 0, "diverged": 0, "failed": 0}
    bar = tqdm(total=config.runs, initial=len(done), unit="net", desc=config.study, dynamic_ncols=True)
    try:
        with writer.keeping_runs("networks", "run the same command again to continue"):
            received = 0
            while received < len(todo):
                try:
                    record = results.get(timeout=0.5)
                except queue.Empty:
                    if not any(p.is_alive() for p in procs):
                        break
                    writer.flush_if_due()
                    continue
                received += 1
                writer.add(record)
                counts[record["status"]] += 1
                bar.set_postfix(counts, refresh=False)
                bar.update(1)
            if received == len(todo):
                writer.finish_study()
            writer.flush()
    finally:
        bar.close()
        _stop_workers(procs, tasks)
    written = writer.written
    lost = len(todo) - written
    if lost:
        print(f"{lost} networks were lost because a worker process died (see its error above); "
              "run the same command again to train them", file=sys.stderr)
    return written


JOB_ERRORS = (UsageError, SpaceError, DatasetError, store.WarehouseError, ValueError)


def main(argv: list[str] | None = None) -> None:
    cli.main(EnsembleConfig, run, argv, prog=PROG, description=__doc__.split("\n\n")[0], errors=JOB_ERRORS)


if __name__ == "__main__":
    main()
