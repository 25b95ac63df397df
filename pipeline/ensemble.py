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

from pipeline.core import cli
from pipeline.core.space import Space
from pipeline.jobs.flags import JOB_ERRORS
from pipeline.jobs.members import NETWORKS, EnsembleConfig, load_ensemble_space, member_task, pending_members
from pipeline.jobs.writer import job_writer
from pipeline.training.datasets import STANDARD, DataSpec, load
from pipeline.training.runner import Runner, resolve_device
from pipeline.warehouse import store

PROG = "python -m pipeline.ensemble"


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
    counts = {"ok": 0, "diverged": 0, "failed": 0}
    with job_writer(path, study_id, config, NETWORKS, total=config.runs, done=len(done)) as writer:
        writer.stop_with(lambda: _stop_workers(procs, tasks))
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
            counts[record["status"]] += 1
            writer.add(record, postfix=counts)
        if received == len(todo):
            writer.finish()
    lost = len(todo) - writer.written
    if lost:
        print(f"{lost} networks were lost because a worker process died (see its error above); "
              "run the same command again to train them", file=sys.stderr)
    return writer.written


def main(argv: list[str] | None = None) -> None:
    cli.main(EnsembleConfig, run, argv, prog=PROG, description=__doc__.split("\n\n")[0], errors=JOB_ERRORS)


if __name__ == "__main__":
    main()
