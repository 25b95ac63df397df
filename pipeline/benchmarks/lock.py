"""How long a job's flush waits for the warehouse while readers loop queries on it.

    .venv/bin/python -m pipeline.benchmarks.lock                   # 0 and 8 readers, 20 flushes each
    .venv/bin/python -m pipeline.benchmarks.lock --no-turnstile    # the same, readers as before the turnstile

builds a scratch warehouse of 20,000 runs, starts reader processes that loop what a page render
does (open the file through `store.read`, group runs by hyperparameter value, ~10 ms) without
pause, and flushes 10 runs through `store.RunWriter` every 0.2 s from this process. It prints,
per number of readers, the writer's wait for the file (from the flush's call until its transaction
starts) and the whole flush, median and max, and what the readers did meanwhile (reads/s and the
longest read). With the turnstile the longest wait stays near the longest read (~0.1 s on 2
cores); with `--no-turnstile` (readers open the file directly, as every read did before) the
readers overlap, hold the file without a break, and the writer waits seconds or gives up
(`--give-up`, 30 s).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import duckdb

from pipeline.warehouse import store

READ = """
    select h.name, h.value, count(*) as runs, avg(r.test_accuracy) as accuracy
    from runs as r join hyperparameters as h using (run_id)
    group by all
"""


def scratch_warehouse(path: Path, runs: int, seed: int = 0) -> int:
    """A warehouse of `runs` runs with six hyperparameters each; returns the study id."""
    with store.write(path) as con:
        study_id = store.create_study(con, name="bench", kind="ensemble", search_space=None, settings={},
                                          seed=seed, param_types={f"p{i}": "int" for i in range(6)})
    writer = store.RunWriter(path, study_id)
    writer.buffer = [fake_run(trial, seed) for trial in range(runs)]
    writer.flush()
    return study_id


def fake_run(trial: int, seed: int = 0) -> dict:
    rng = random.Random(seed * 1_000_003 + trial)
    now = datetime(2026, 1, 1)
    return {"trial": trial, "status": "ok", "dataset": rng.choice(["digits", "shapes", "textures"]),
            "test_accuracy": rng.random(), "epochs": 1, "started_at": now, "finished_at": now,
            "hyperparameters": {f"p{i}": rng.randrange(8) for i in range(6)},
            "curve": [{"epoch": 1, "val_accuracy": rng.random()}]}


def read_loop(path: str, stop, results, turnstile: bool = True, looping=None) -> None:
    """Loop reads until `stop` is set, as fast as they go; put (reads, longest hold of the file in s) on
    `results` (a hold: from the file attached to its detach, waits for the lock not counted). Releases
    the semaphore `looping`, if given, after the first read."""
    holds = []
    while not stop.is_set():
        if len(holds) == 1 and looping is not None:
            looping.release()
        if turnstile:
            with store.read(Path(path), timeout=60) as con:
                start = time.perf_counter()
                con.execute(READ).fetchall()
            holds.append(time.perf_counter() - start)
        else:
            holds.append(_read_past_the_turnstile(path))
    results.put((len(holds), max(holds, default=0.0)))


def _read_past_the_turnstile(path: str) -> float:
    """One read as every read was before the turnstile (DuckDB's own lock only, retried while busy);
    returns how long it held the file."""
    with store.hub().cursor() as con:
        while True:
            try:
                con.execute("attach $path as plain (read_only)", {"path": path})
                break
            except duckdb.Error:
                time.sleep(random.uniform(0.005, 0.02))
        start = time.perf_counter()
        try:
            con.execute(f"use plain; {READ}").fetchall()
        finally:
            con.execute("use memory; detach plain")
        return time.perf_counter() - start


def measure(path: Path, study_id: int, *, readers: int, flushes: int, turnstile: bool, give_up: float,
            first_trial: int) -> dict:
    """Flush 10 runs (trials from `first_trial` on) every 0.2 s while `readers` processes loop reads; the
    writer's waits and the readers' figures."""
    ctx = mp.get_context("spawn")
    stop, results, looping = ctx.Event(), ctx.Queue(), ctx.Semaphore(0)
    procs = [ctx.Process(target=read_loop, args=(str(path), stop, results, turnstile, looping), daemon=True)
             for _ in range(readers)]
    for p in procs:
        p.start()
    for _ in procs:  # every reader started and looping
        looping.acquire(timeout=120)
    waits, totals, gave_up = [], [], 0
    started = time.perf_counter()
    for n in range(flushes):
        time.sleep(0.2)
        records = [fake_run(first_trial + 10 * n + i) for i in range(10)]
        start = time.perf_counter()
        try:
            with store.write(path, timeout=give_up) as con:
                waits.append(time.perf_counter() - start)
                store.insert_runs(con, study_id, records)
            totals.append(time.perf_counter() - start)
        except store.WarehouseError:
            gave_up += 1
    elapsed = time.perf_counter() - started
    stop.set()
    stats = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    reads = sum(n for n, _ in stats)
    return {"readers": readers, "turnstile": turnstile, "flushes": flushes, "gave_up": gave_up,
            "wait_median": statistics.median(waits) if waits else None, "wait_max": max(waits, default=None),
            "flush_median": statistics.median(totals) if totals else None, "flush_max": max(totals, default=None),
            "reads_per_s": reads / elapsed, "longest_read": max((m for _, m in stats), default=None)}


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.0f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.benchmarks.lock", description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, nargs="+", default=[0, 8], choices=range(65), metavar="N",
                        help="numbers of looping reader processes to measure with (0 to 64)")
    parser.add_argument("--flushes", type=int, default=20, choices=range(1, 1001), metavar="N",
                        help="flushes measured per number of readers (1 to 1000)")
    parser.add_argument("--runs", type=int, default=20_000, choices=range(1, 1_000_001), metavar="N",
                        help="runs in the scratch warehouse (1 to 1,000,000): the readers' work grows with it")
    parser.add_argument("--no-turnstile", action="store_true",
                        help="readers open the file directly, as before the turnstile (the writer still takes it)")
    parser.add_argument("--give-up", type=float, default=30.0, help="seconds a flush waits before it gives up")
    args = parser.parse_args(argv)
    if not 0 < args.give_up <= 3600:
        parser.error("--give-up must be from 0 to 3600 seconds")
    print(f"{'readers':>7}  {'turnstile':>9}  {'wait median':>11}  {'wait max':>8}  {'flush median':>12}  "
          f"{'flush max':>9}  {'gave up':>7}  {'reads/s':>7}  {'longest read':>12}   (ms)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        study_id = scratch_warehouse(path, args.runs)
        for index, readers in enumerate(args.readers):
            r = measure(path, study_id, readers=readers, flushes=args.flushes, turnstile=not args.no_turnstile,
                        give_up=args.give_up, first_trial=args.runs + index * args.flushes * 10)
            print(f"{readers:>7}  {'yes' if r['turnstile'] else 'no':>9}  {_ms(r['wait_median']):>11}  "
                  f"{_ms(r['wait_max']):>8}  {_ms(r['flush_median']):>12}  {_ms(r['flush_max']):>9}  "
                  f"{r['gave_up']:>4}/{r['flushes']:<2}  {r['reads_per_s']:>7,.0f}  {_ms(r['longest_read']):>12}",
                  flush=True)


if __name__ == "__main__":
    main()
