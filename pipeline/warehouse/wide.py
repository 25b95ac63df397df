"""Per-study wide hyperparameter tables `wide.study_<study_id>`, kept in step by every write.

The warehouse stores hyperparameters long (run_id, name, value): any search space fits, but
every wide read is then a pivot of the whole study, 1.1-1.7 s at 1,000,000 runs of 14
hyperparameters on 2 cores. So each write transaction (`warehouse.write`) ends with `refresh`:
the pivot of the runs added since a table's last run_id is appended to it, and a table is
rebuilt from the long rows only when the study gets a hyperparameter it did not have or text
where a column held numbers. Reading a study wide is then a scan (0.4 s at 1,000,000 runs).

A table has run_id and one column per hyperparameter, named as it is: double when every value
of it is a number (booleans are text: they are options), varchar otherwise, null where a
conditional hyperparameter was inactive. Every run of the study has a row. The long table stays
the record; the tests check that both agree.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.core import limits

SCHEMA = "wide"
SQL_DIR = Path(__file__).parent / "sql"


class WideTableError(ValueError):
    """The study's hyperparameter names cannot be columns; the message says which and why."""


def table_name(study_id: int) -> str:
    return f"{SCHEMA}.study_{int(study_id)}"


def columns(con: duckdb.DuckDBPyConnection, study_id: int) -> list[tuple[str, bool]] | None:
    """(hyperparameter, numeric) of the study's wide table in column order; None when it has none."""
    try:  # the relation's schema, not duckdb_columns(), which binds every view of the file (25 ms)
        relation = con.table(table_name(study_id))
    except duckdb.CatalogException:
        return None
    return [(column, str(kind) == "DOUBLE") for column, kind in zip(relation.columns, relation.types)
            if column != "run_id"]


def refresh(con: duckdb.DuckDBPyConnection) -> None:
    """Bring every study's wide table up to date with the long table, inside the caller's transaction."""
    con.execute(f"create schema if not exists {SCHEMA}")
    for (study_id,) in con.execute("select study_id from studies order by study_id").fetchall():
        _refresh_study(con, study_id)


def _refresh_study(con, study_id: int) -> None:
    have = columns(con, study_id)
    last = 0 if have is None else con.execute(
        f"select coalesce(max(run_id), 0) from {table_name(study_id)}").fetchall()[0][0]
    newest = con.execute("select coalesce(max(run_id), 0) from runs where study_id = ?", [study_id]).fetchall()[0][0]
    if have is not None and newest <= last:
        return
    if have is not None:
        kinds = dict(have)
        # appending fits unless a name is new or a number column would get text
        if all(name in kinds and (numeric or not kinds[name]) for name, numeric in _names(con, study_id, last)):
            con.execute(f"insert into {table_name(study_id)} {_pivot(have)}", _params(study_id, last, have))
            return
    names = _names(con, study_id, 0)
    # the last wall: every door (space files, importers) refuses these names before anything is written
    limits.check_names([name for name, _ in names], f"study {study_id}", "rename it", WideTableError)
    con.execute(f"create or replace table {table_name(study_id)} as {_pivot(names)}", _params(study_id, 0, names))
    con.execute(f"comment on table {table_name(study_id)} is 'Hyperparameters of study {int(study_id)}, one row "
                "per run, one column per hyperparameter (null where inactive); "
                "kept in step with table hyperparameters.'")


def _names(con, study_id: int, after: int) -> list[tuple[str, bool]]:
    text = (SQL_DIR / "hyperparameter_names.sql").read_text()
    return con.execute(text, {"study_id": study_id, "after": after}).fetchall()


def _pivot(names: list[tuple[str, bool]]) -> str:
    """The pivot of the study's runs after $after; the value of hyperparameter i is bound as $n<i>."""
    pivot = "".join(f',\n        first(h.{"value_num" if numeric else "value"}) filter (where h.name = $n{i}) as '
                    f"{limits.sql_ident(name)}" for i, (name, numeric) in enumerate(names))
    return (SQL_DIR / "wide_pivot.sql").read_text().format(pivot=pivot)


def _params(study_id: int, after: int, names: list[tuple[str, bool]]) -> dict:
    return {"study_id": study_id, "after": after, **{f"n{i}": name for i, (name, _) in enumerate(names)}}
