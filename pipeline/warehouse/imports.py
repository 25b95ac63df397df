"""What the two importers share (pipeline/warehouse/hpbandster_import.py and table_import.py):
where accuracy is found, the study as the warehouse holds it before an import, and the check
inside the write that nobody changed it meanwhile.

An import reads and checks everything first (reading the warehouse read-only, so a running sweep
or the app keeps going) and opens the warehouse for writing only at the end; `check_unchanged`
is what makes that safe when another process writes the same study in between.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.warehouse import store

ACCURACY_KEYS = ("test_accuracy", "test accuracy", "accuracy")  # info keys / columns, first found wins


def stored_study(path: Path, name: str) -> tuple[dict | None, dict]:
    """The study as the warehouse holds it now (read-only) and its runs by (config_id, budget)."""
    if not path.exists():
        store.check_writable(path)
        return None, {}
    with store.read(path) as con:
        study = store.get_study(con, name)
        if study is None:
            return None, {}
        rows = con.execute("select config_id, budget, trial, round_index from runs where study_id = ?",
                           [study["study_id"]]).fetchall()
    return study, {(config_id, budget): (trial, index) for config_id, budget, trial, index in rows}


def check_unchanged(con, name: str, study: dict | None, stored_runs: int) -> None:
    """Inside the write: refuse if another process changed the study since it was read."""
    now = store.get_study(con, name)
    count = con.execute("select count(*) from runs where study_id = ?",
                        [now["study_id"]]).fetchall()[0][0] if now else 0
    if (now is None) != (study is None) or count != stored_runs:
        raise store.WarehouseError(f"study '{name}' changed while importing (another job writes to it); "
                                   "run the command again")
