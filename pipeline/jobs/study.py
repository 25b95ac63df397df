"""A job's study, before anything trains: a space the trainer can use, the study created or checked.

Shared by the ensemble (pipeline/jobs/members.py) and the sweep (pipeline/bohb.py); what differs
between them (the study's kind, what it holds, when it is complete) is passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb

from pipeline.core.cli import UsageError
from pipeline.core.space import Space
from pipeline.jobs.flags import JobFlags
from pipeline.warehouse import store

Held = TypeVar("Held")


def check_trainable(space: Space, config: JobFlags, *, with_fixed: bool) -> None:
    """Refuse a space every network of which would fail, before the study row (train.check_space)."""
    # imported here: the check builds networks with torch, which a master needs only once it runs a job
    from pipeline.training.train import check_space

    check_space(space, config.in_shape, source=config.space, with_fixed=with_fixed)


def open_study(config: JobFlags, space: Space, path: Path, *, kind: str, refusal: Callable[[str], str],
               opened: Callable[[duckdb.DuckDBPyConnection, int], Held],
               complete: Callable[[duckdb.DuckDBPyConnection, int, Held], bool]) -> tuple[int, Held]:
    """Create the study, or check that the existing one is a `kind` study with the same settings.

    In the same transaction, `opened(con, study_id)` adds what the job keeps beside the study and returns what
    the study holds, and a study that was never marked finished although `complete(con, study_id, held)`
    is marked finished: its job stopped between its last flush and marking it, and nothing else would.
    Returns the study's id and what it holds. `refusal(found_kind)`: the message for a study of another kind.
    """
    store.check_writable(path)
    with store.write(path) as con:
        study = store.get_study(con, config.study)
        if study is None:
            study_id = store.create_study(
                con, name=config.study, kind=kind, search_space=space.to_json(),
                settings=config.settings(), seed=config.seed, param_types=space.param_types())
        else:
            if study["kind"] != kind:
                raise UsageError(refusal(study["kind"]))
            store.check_same_settings(study, config.settings(), space.to_json())
            study_id = study["study_id"]
        held = opened(con, study_id)
        if study is not None and study["finished_at"] is None and complete(con, study_id, held):
            store.finish_study(con, study_id)
    return study_id, held
