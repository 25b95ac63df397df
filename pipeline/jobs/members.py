"""An ensemble study's members, shared by the local job (pipeline.ensemble) and the master of
several machines (pipeline.distributed): the flags, the space, the members still to train.

Member i of a study is configuration i of the seeded sampler (pipeline/core/space.py) with its own
training seed, whichever job or machine trains it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.core import limits
from pipeline.core.cli import UsageError, flag
from pipeline.core.space import Space, SpaceError, load_space
from pipeline.jobs.flags import JobFlags
from pipeline.jobs.study import check_trainable, open_study
from pipeline.jobs.writer import RunsOf
from pipeline.training.data_spec import BUILTIN, STANDARD
from pipeline.warehouse import store

NETWORKS = RunsOf("networks", "net", "run the same command again to continue")


@dataclass(frozen=True)
class EnsembleConfig(JobFlags):
    identity = ("seed", "epochs", "image_size", "channels", "train_size", "test_size", "data_seed")
    help_order = ("study", "runs", "epochs", "seed", "space", "datasets", "device", "workers", "warehouse",
                  "flush_seconds")

    runs: int = flag(100, "number of networks the study should hold when the job ends", bounds=limits.RUNS)
    epochs: int = flag(8, "training epochs per network", bounds=limits.EPOCHS)
    datasets: tuple[str, ...] = flag((), "comma-separated datasets replacing the space's dataset choices "
                                         f"(built-in: {', '.join(BUILTIN)}; torchvision: {', '.join(STANDARD)})")

    def validate(self) -> None:
        super().validate()
        unknown = [d for d in self.datasets if d not in BUILTIN + STANDARD]
        if unknown:
            raise UsageError(f"--datasets: unknown dataset(s) {', '.join(map(limits.shown, unknown))}; choose from "
                             f"{', '.join(BUILTIN + STANDARD)}")


def load_ensemble_space(config: EnsembleConfig) -> Space:
    space = load_space(config.space)
    if "dataset" not in space.names:
        raise SpaceError(f"space {config.space} has no 'dataset' parameter; an ensemble samples its dataset")
    if config.datasets:
        space = space.with_choices("dataset", list(config.datasets))
    unknown = [d for d in space["dataset"].choices if d not in BUILTIN + STANDARD]
    if unknown:
        raise SpaceError(f"space {config.space} names unknown dataset(s) {', '.join(map(str, unknown))}")
    check_trainable(space, config, with_fixed=False)  # an ensemble samples everything: [fixed] is for sweeps
    return space


def pending_members(config: EnsembleConfig, space: Space, path: Path) -> tuple[int, set[int], list[int]]:
    """Open (or create) the study; its id, the trials it holds, and those still to train."""
    study_id, done = open_study(
        config, space, path, kind="ensemble",
        refusal=lambda kind: f"study '{config.study}' is a {kind} study, not an ensemble; pick another --study",
        opened=store.done_trials, complete=lambda con, study_id, done: done.issuperset(range(config.runs)))
    todo = [i for i in range(config.runs) if i not in done]
    if not todo:
        print(f"study '{config.study}' already holds {len(done)} networks; nothing to do", file=sys.stderr)
    return study_id, done, todo


def run_seed(study_seed: int, trial: int) -> int:
    """Seed of weight init, batch order and augmentation for one run; stable across machines."""
    return int(np.random.SeedSequence([study_seed, trial, 1]).generate_state(1)[0])


def member_task(config: EnsembleConfig, space: Space, trial: int) -> tuple[dict, int]:
    """Member `trial` of the study: its configuration (dataset included) and its training seed."""
    return space.sample(config.seed, trial), run_seed(config.seed, trial)
