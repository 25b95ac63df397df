"""A BOHB sweep with planted effects, written as a real sweep is: what the sweep pages show can be checked.

    .venv/bin/python -m pipeline.benchmarks.planted_sweep --evaluations 100000 --warehouse /tmp/sweep.duckdb

writes study `planted-sweep` of kind bohb (min budget 1, max budget 81, eta 3: the demo's sweeps'
shape) over the nine-hyperparameter space pipeline/spaces/bohbvis.toml, through the warehouse's own
writer (store.write, create_study, the sweep_plan rows as pipeline/bohb.py inserts them, insert_runs),
so the study view and wide table are those of a real sweep. 100,000 evaluations take ~10 s on 2 cores.

The bracket structure is hpbandster's exactly (pipeline/core/hyperband.py): brackets cycle s = 4..0,
round r of a bracket evaluates plan's n_r configurations on budget b_r, and the n_{r+1} with the
lowest loss (ties by config id; a failed evaluation is never promoted, as in hpbandster) go on to the
next round as the same config id "(bracket, 0, i)", sampled_as 'promoted'. A first-round
configuration is 'random' with probability 1/3 (BOHB's random_fraction) and 'model_based' otherwise.
Evaluations run bracket after bracket, round after round, in config-id order within a round; the last
bracket stops where the evaluations asked for end (a partial bracket, as an interrupted sweep leaves
one; sweep_plan holds its whole plan, and the study is marked finished only if it is complete).
Runs carry no learning curves (no page reads them; they would be ~9 rows per evaluation).

What is planted (PLANTED below), as the accuracy an evaluation of configuration c on budget b
measures: a per-configuration N(0, 0.015) offset (a good configuration stays good on every budget)
plus a per-evaluation N(0, 0.01), on top of
- a level rising with the budget: 0.90 - 0.30 / sqrt(b) (0.60 at 1 epoch, 0.87 at 81);
- learning rate: best near 10^-3 for adam and rms but 10^-1.5 for sgd (an interaction of
  optimizer and learning rate); 0.08 lost per decade above the best, and per decade below it 0.12 at
  budget 1 shrinking to 0.04 at budget 81 (a small step size has not converged yet on a small budget:
  the ranking of configurations changes with the budget);
- momentum, for sgd only: +0.04 x momentum; activation tanh -0.03; hidden size +0.01 per doubling
  from 16; lr_scheduler on: +0.02 at budget 81, growing with log budget from 0 at budget 1;
- batch size and weight decay: no effect at all (null controls);
- model-based picks draw their learning rate near their optimizer's best (log10 N(best, 0.7), as a
  KDE fitted to good configurations concentrates it): on the same budget they score higher than
  random ones;
- diverged: sgd or rms with learning rate above 10^-1.4 and momentum above 0.8 (~2 % of
  configurations): loss 1, no test accuracy; failed: 0.5 % of evaluations at random (a lost
  worker): no loss, no test accuracy, an error text.
Validation accuracy (loss = 1 - it) and test accuracy are each the evaluation's accuracy plus
N(0, 0.005), counted on 6,000 validation images (the 10 % of MNIST's 60,000 training images a sweep
holds out) and its 10,000 test images: a few thousand distinct values, as measured accuracies have.
The dataset is called mnist; its levels are planted, not measured. Eight workers; times start at
2026-01-01 00:00 UTC, a round is submitted once the previous one has finished.
"""

from __future__ import annotations

import argparse
import heapq
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipeline.core import cli, hyperband, limits
from pipeline.core.space import Space, load_space
from pipeline.warehouse import store

STUDY = "planted-sweep"
SPACE = "bohbvis"
MIN_BUDGET, MAX_BUDGET, ETA = 1.0, 81.0, 3.0
RANDOM_FRACTION = 1 / 3  # BOHB's default: the share of new configurations sampled at random
WORKERS = 8
START = datetime(2026, 1, 1)
DATASET, TRAIN_IMAGES, VALIDATION_IMAGES, TEST_IMAGES = "mnist", 60_000, 6_000, 10_000
PLANTED = {
    "level_top": 0.90,  # level(b) = level_top - level_drop / sqrt(b)
    "level_drop": 0.30,
    "best_log10_lr": {"adam": -3.0, "rms": -3.0, "sgd": -1.5},
    "lr_above_per_decade": 0.08,
    "lr_below_per_decade": (0.12, 0.04),  # at the smallest and the largest budget, linear in log budget
    "sgd_momentum": 0.04,  # x momentum
    "tanh": -0.03,
    "hidden_per_doubling": 0.01,
    "lr_scheduler_on": 0.02,  # at the largest budget, linear in log budget from 0 at the smallest
    "model_based_lr_sd": 0.7,  # decades
    "diverged_above_log10_lr": -1.4,  # with momentum above diverged_momentum, for sgd and rms
    "diverged_momentum": 0.8,
    "failed_share": 0.005,
    "config_sd": 0.015,
    "evaluation_sd": 0.01,
    "measurement_sd": 0.005,
    "chance": 0.10,
}


@dataclass
class Configs:
    """The first-round configurations of every bracket, one array entry each."""
    values: dict[str, np.ndarray]  # hyperparameter -> value per configuration (None where inactive)
    model_based: np.ndarray  # bool
    offset: np.ndarray  # the planted per-configuration offset
    hyperparameters: list[dict]  # per configuration, as a run record carries them

    def accuracy(self, index: np.ndarray, budget: float) -> np.ndarray:
        """The planted accuracy of configurations `index` on `budget`, before evaluation noise."""
        p, v = PLANTED, self.values
        progress = math.log(budget / MIN_BUDGET) / math.log(MAX_BUDGET / MIN_BUDGET)  # 0 .. 1
        optimizer = v["optimizer"][index]
        best = np.select([optimizer == name for name in p["best_log10_lr"]], list(p["best_log10_lr"].values()))
        distance = np.log10(v["learning_rate"][index].astype(float)) - best
        below = p["lr_below_per_decade"][0] + (p["lr_below_per_decade"][1] - p["lr_below_per_decade"][0]) * progress
        momentum = np.where(optimizer == "sgd", _filled(v["momentum"][index]), 0.0)
        return (p["level_top"] - p["level_drop"] / math.sqrt(budget)
                - p["lr_above_per_decade"] * np.maximum(distance, 0) - below * np.maximum(-distance, 0)
                + p["sgd_momentum"] * momentum + p["tanh"] * (v["activation"][index] == "tanh")
                + p["hidden_per_doubling"] * np.log2(v["hidden_size"][index].astype(float) / 16)
                + p["lr_scheduler_on"] * progress * (v["lr_scheduler"][index] == "on")
                + self.offset[index])

    def diverges(self, index: np.ndarray) -> np.ndarray:
        p, v = PLANTED, self.values
        return (np.isin(v["optimizer"][index], ["sgd", "rms"])
                & (np.log10(v["learning_rate"][index].astype(float)) > p["diverged_above_log10_lr"])
                & (_filled(v["momentum"][index]) > p["diverged_momentum"]))


def _filled(values: np.ndarray) -> np.ndarray:
    """An object array with None where inactive, as floats with 0 there."""
    return np.array([0.0 if x is None else x for x in values], dtype=float)


def sample_configs(space: Space, count: int, rng: np.random.Generator) -> Configs:
    """`count` configurations: each hyperparameter drawn as the space says (log-uniform where `log`),
    inactive ones None; model-based picks get their learning rate near their optimizer's best."""
    values: dict[str, np.ndarray] = {}
    for param in space.params:
        if param.is_categorical:
            drawn = np.empty(count, dtype=object)
            drawn[:] = [param.choices[i] for i in rng.integers(len(param.choices), size=count)]
        elif param.log:
            drawn = np.exp(rng.uniform(math.log(param.low), math.log(param.high), count)).astype(object)
        else:
            drawn = rng.uniform(param.low, param.high, count).astype(object)
        active = np.ones(count, dtype=bool)
        for parent, allowed in param.when.items():
            active &= np.isin(values[parent], list(allowed))
        drawn[~active] = None
        values[param.name] = drawn
    model_based = rng.random(count) >= RANDOM_FRACTION
    lr = space["learning_rate"]
    best = np.vectorize(PLANTED["best_log10_lr"].get)(values["optimizer"]).astype(float)
    near = np.clip(rng.normal(best, PLANTED["model_based_lr_sd"]), math.log10(lr.low), math.log10(lr.high))
    values["learning_rate"] = np.where(model_based, 10.0**near, values["learning_rate"]).astype(object)
    names = list(values)
    columns = [[None if x is None else x.item() if isinstance(x, np.generic) else x for x in values[name]]
               for name in names]
    hyperparameters = [{name: value for name, value in zip(names, row) if value is not None}
                       for row in zip(*columns)]
    return Configs(values, model_based, rng.normal(0, PLANTED["config_sd"], count), hyperparameters)


def brackets_for(evaluations: int) -> int:
    """How many brackets `evaluations` reach into (the last one possibly partial)."""
    brackets, total = 0, 0
    while total < evaluations:
        total += sum(r.configs for r in hyperband.bracket_rounds(brackets, MIN_BUDGET, MAX_BUDGET, ETA))
        brackets += 1
    return brackets


def sweep_records(evaluations: int, space: Space, seed: int = 0) -> tuple[list[dict], list[hyperband.Round]]:
    """The run records of `evaluations` evaluations in execution order, and the plan of their brackets."""
    rng = np.random.default_rng(seed)
    plan = hyperband.plan(MIN_BUDGET, MAX_BUDGET, ETA, brackets_for(evaluations))
    rounds = {(r.bracket, r.round): r for r in plan}
    first_rounds = [r for r in plan if r.round == 0]
    configs = sample_configs(space, sum(r.configs for r in first_rounds), rng)
    first_index = dict(zip((r.bracket for r in first_rounds), np.cumsum([0] + [r.configs for r in first_rounds])))
    parts: list[dict[str, np.ndarray]] = []  # per round evaluated, its columns
    done = 0
    alive = np.array([], dtype=int)
    for r in plan:
        if done >= evaluations:
            break
        if r.round == 0:
            alive = first_index[r.bracket] + np.arange(r.configs)  # configuration numbers, in config-id order
        n = min(len(alive), evaluations - done)
        index = alive[:n]
        true = configs.accuracy(index, r.budget) + rng.normal(0, PLANTED["evaluation_sd"], n)
        status = np.where(rng.random(n) < PLANTED["failed_share"], "failed",
                          np.where(configs.diverges(index), "diverged", "ok"))
        measured = np.clip(true[:, None] + rng.normal(0, PLANTED["measurement_sd"], (n, 2)), PLANTED["chance"], 1.0)
        validation = np.round(measured[:, 0] * VALIDATION_IMAGES) / VALIDATION_IMAGES
        loss = np.where(status == "ok", 1.0 - validation, np.where(status == "diverged", 1.0, np.inf))
        parts.append({"config": index, "status": status, "validation": validation, "loss": loss,
                      "test": np.round(measured[:, 1] * TEST_IMAGES) / TEST_IMAGES,
                      "bracket": np.full(n, r.bracket), "bracket_s": np.full(n, r.s), "round": np.full(n, r.round),
                      "round_index": np.arange(n), "budget": np.full(n, r.budget),
                      "index_in_bracket": index - first_index[r.bracket]})
        done += n
        following = rounds.get((r.bracket, r.round + 1))
        if following is not None and n == len(alive):
            # hpbandster compares only the evaluations that returned a loss (a failed one is never promoted)
            ranked = [k for k in np.lexsort((index, loss)) if status[k] != "failed"]  # lowest loss first, ties by id
            alive = np.sort(index[ranked[:following.configs]])
    c = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    return _records(c, configs, seed, rng), plan


def _records(c: dict[str, np.ndarray], configs: Configs, seed: int, rng: np.random.Generator) -> list[dict]:
    """Run records (insert_runs' shape) from the evaluations' columns, with workers and times added."""
    n = len(c["config"])
    ok, failed = c["status"] == "ok", c["status"] == "failed"
    hidden = configs.values["hidden_size"][c["config"]].astype(float)
    batch = configs.values["batch_size"][c["config"]].astype(float)
    train_seconds = c["budget"] * 0.2 * np.sqrt(32 / batch) * rng.lognormal(0, 0.1, n)
    wall = train_seconds + 0.05
    train_accuracy = np.minimum(1.0, c["validation"] + 0.02)
    submitted, worker = _schedule(wall, c["round"], c["bracket"])
    columns = {
        "trial": np.arange(n), "status": c["status"], "dataset": np.full(n, DATASET),
        "error": np.where(ok, None, np.where(failed, "RuntimeError: the worker was lost (planted failure)",
                                             np.char.add("training loss became nan in epoch ",
                                                         np.maximum(1, c["budget"].astype(int) // 2).astype(str)))),
        "test_accuracy": np.where(ok, c["test"], None), "test_loss": np.where(ok, -np.log(c["test"]), None),
        "train_accuracy": np.where(ok, train_accuracy, None), "train_loss": np.where(ok, -np.log(train_accuracy), None),
        "epochs": np.where(ok, c["budget"].astype(int), None), "train_seconds": train_seconds, "wall_seconds": wall,
        "parameter_count": (4_000 + 140 * hidden).astype(int), "flops_per_sample": (150_000 + 280 * hidden).astype(int),
        "inference_ms_per_image": 0.02 + hidden / 6_400, "seed": seed * 1_000_003 + c["config"],
        "device": np.full(n, "cpu"), "worker": np.char.add(np.char.add("planted", worker.astype(str)),
                                                          np.char.add(":", (4_000 + worker).astype(str))),
        "submitted_at": _time(submitted), "started_at": _time(submitted + 0.002),
        "finished_at": _time(submitted + 0.002 + wall),
        "bracket": c["bracket"], "bracket_s": c["bracket_s"], "round": c["round"], "round_index": c["round_index"],
        "budget": c["budget"],
        "config_id": [f"({b}, 0, {i})" for b, i in zip(c["bracket"].tolist(), c["index_in_bracket"].tolist())],
        "sampled_as": np.where(c["round"] > 0, "promoted",
                               np.where(configs.model_based[c["config"]], "model_based", "random")),
        "loss": np.where(failed, None, c["loss"]),
    }
    names = list(columns)
    values = [v if isinstance(v, list) else v.tolist() for v in columns.values()]
    hyperparameters = [configs.hyperparameters[i] for i in c["config"].tolist()]
    return [{**dict(zip(names, row)), "hyperparameters": hp, "curve": []}
            for row, hp in zip(zip(*values), hyperparameters)]


def _time(seconds: np.ndarray) -> np.ndarray:
    """Seconds after START as timestamps (microseconds, as the warehouse stores them)."""
    return np.datetime64(START, "us") + (seconds * 1e6).astype("timedelta64[us]")


def _schedule(wall: np.ndarray, round_: np.ndarray, bracket: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Seconds after START each evaluation is submitted (and started, 2 ms later), and its worker: WORKERS
    workers take evaluations in trial order as they become free; a round is submitted once its bracket's
    previous round has finished."""
    free = [(0.0, w) for w in range(WORKERS)]  # (free again at, worker), a heap
    submitted, worker = np.empty(len(wall)), np.empty(len(wall), dtype=int)
    clock = round_end = 0.0
    previous = (-1, -1)
    for i, (seconds, r, b) in enumerate(zip(wall.tolist(), round_.tolist(), bracket.tolist())):
        if (b, r) != previous:
            if r > 0:
                clock = max(clock, round_end)
            round_end, previous = 0.0, (b, r)
        at, w = heapq.heappop(free)
        submitted[i] = clock = max(clock, at)
        worker[i] = w
        end = clock + 0.002 + seconds
        round_end = max(round_end, end)
        heapq.heappush(free, (end, w))
    return submitted, worker


def write_planted_sweep(evaluations: int, path: Path, *, study: str = STUDY, seed: int = 0) -> int:
    """Write the planted sweep into the warehouse at `path` (created if absent); returns its study id."""
    space = load_space(SPACE)
    records, plan = sweep_records(evaluations, space, seed)
    # the keys a real sweep's settings have (pipeline.bohb's SweepConfig.identity), and where it came from
    settings = {"image_size": 28, "channels": 1, "train_size": TRAIN_IMAGES, "test_size": TEST_IMAGES, "data_seed": 0,
                "seed": seed, "optimizer": "bohb", "dataset": DATASET, "min_budget": MIN_BUDGET,
                "max_budget": MAX_BUDGET, "eta": ETA, "epochs": 4, "planted": "pipeline/benchmarks/planted_sweep.py"}
    complete = len(records) == sum(r.configs for r in plan)
    store.check_writable(path)
    with store.write(path) as con:
        if store.get_study(con, study) is not None:
            raise store.WarehouseError(f"{path} already holds a study '{study}'; pass another --study or warehouse")
        study_id = store.create_study(con, name=study, kind="bohb", search_space=space.to_json(), settings=settings,
                                      seed=seed, param_types=space.param_types())
        # one statement: executemany costs ~0.5 ms a row, and 100,000 evaluations are 13,000 planned rounds
        con.register("planned", pa.table({"bracket": [r.bracket for r in plan], "bracket_s": [r.s for r in plan],
                                          "round": [r.round for r in plan], "configs": [r.configs for r in plan],
                                          "budget": [r.budget for r in plan]}))
        con.execute("insert into sweep_plan (study_id, bracket, bracket_s, round, configs, budget) "
                    "select $study_id, bracket, bracket_s, round, configs, budget from planned", {"study_id": study_id})
        con.unregister("planned")
        store.insert_runs(con, study_id, records)
        if complete:
            store.finish_study(con, study_id)
    return study_id


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.benchmarks.planted_sweep",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--evaluations", type=limits.number(int, limits.RUNS), default=100_000,
                        help="evaluations (runs) of the sweep")
    parser.add_argument("--seed", type=limits.number(int, limits.SEED), default=0, help="generator seed")
    parser.add_argument("--study", default=STUDY, help=f"study name (default {STUDY})")
    parser.add_argument("--warehouse", type=Path, required=True,
                        help="warehouse file to write into (created if absent)")
    args = parser.parse_args(argv)
    try:
        cli.check_study(args.study)
        write_planted_sweep(args.evaluations, args.warehouse, study=args.study, seed=args.seed)
    except (cli.UsageError, store.WarehouseError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")


if __name__ == "__main__":
    main()
