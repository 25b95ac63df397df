"""Run one query typed by a person against the warehouse, in a sandbox (the app's SQL page).

    from pipeline.sql_console import run_query
    frame, truncated = run_query(Path("data/warehouse.duckdb"), "from run_details limit 5")

A query from a text box is untrusted input, so three walls stand between it and anything that
is not a read of the warehouse's own tables:

1. The statement itself: exactly one, of a read-only kind (SELECT, WITH, FROM, VALUES, DESCRIBE,
   SHOW, SUMMARIZE, PIVOT), checked with DuckDB's own parser before anything runs. This is not
   only politeness: DuckDB keeps the warehouse's write-ahead-log paths readable and writable even
   with external access off, so `COPY (...) TO 'warehouse.duckdb.wal'` (or EXPLAIN ANALYZE of
   it) would write next to the file and be replayed by the next writer. Only a statement check
   stops that.
2. The connection: the file opened `read_only=True` with `enable_external_access = false`
   (no other file, no network, no extension install or load) and `lock_configuration = true`,
   both in the connect config so the query cannot `SET` them back; bounded memory and threads,
   and no temp directory, so a big sort fails instead of spilling files beside the warehouse.
3. Bounds on the answer: at most `max_rows + 1` rows are produced (a LIMIT on the relation, so
   a huge result never materializes), and a timer interrupts the query after `timeout_s`.

A writer (a running job) holds the file exclusively for short moments (see pipeline/warehouse.py):
the connect retries for a few seconds, then says the warehouse is busy. Inside one process
DuckDB shares one database instance per file, and refuses a second connection with a different
config while another is open: that is treated as busy too.
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import polars as pl

from pipeline import warehouse

MAX_ROWS = 10_000
TIMEOUT_S = 10.0
LOCK_WAIT_S = 5.0
SANDBOX_CONFIG = {
    "enable_external_access": False,  # no file but the warehouse, no network, no extensions
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "memory_limit": "1GB",
    "threads": 2,
    "temp_directory": "",  # never spill to disk: a query over the memory limit fails instead
    "lock_configuration": True,  # nothing above can be SET back by the query
}
# DuckDB's parser reports a PIVOT without an explicit IN list as MULTI (it expands into a few
# statements that read the distinct values first); it stays read-only.
ALLOWED_TYPES = {"SELECT", "MULTI"}
ALLOWED = ("one read-only query over the warehouse's tables and views: SELECT, WITH ... SELECT, FROM ..., "
           "VALUES, DESCRIBE, SHOW, SUMMARIZE or PIVOT")

EXAMPLES = {
    "Networks per study and status": """\
-- How many networks each study trained, and how they ended (ok, diverged, failed).
with networks_per_status as (
    select
        study_id,
        status,
        count(*) as networks,
        max(test_accuracy) as best_test_accuracy
    from runs
    group by study_id, status
),

final as (
    select
        s.name as study,
        s.kind,
        n.status,
        n.networks,
        n.best_test_accuracy
    from networks_per_status as n
    join studies as s using (study_id)
)

select * from final order by study, status
""",
    "Best 10 networks with their hyperparameters": """\
-- The ten best networks on their test split, with every hyperparameter they were built with.
with best as (
    select
        run_id,
        study,
        dataset,
        test_accuracy,
        parameter_count
    from run_details
    where status = 'ok'
    order by test_accuracy desc, run_id
    limit 10
),

their_hyperparameters as (
    select
        run_id,
        string_agg(name || ' = ' || value, ', ' order by name) as hyperparameters
    from hyperparameters
    where run_id in (select run_id from best)
    group by run_id
),

final as (
    select
        b.study,
        b.run_id,
        b.dataset,
        b.test_accuracy,
        b.parameter_count,
        h.hyperparameters
    from best as b
    left join their_hyperparameters as h using (run_id)
)

select * from final order by test_accuracy desc, run_id
""",
    "Mean test accuracy per optimizer": """\
-- Which optimizer works best on which dataset (mean over the networks that finished).
with optimizer_runs as (
    select
        r.run_id,
        r.dataset,
        r.status,
        r.test_accuracy,
        h.value as optimizer
    from runs as r
    join hyperparameters as h on h.run_id = r.run_id and h.name = 'optimizer'
),

final as (
    select
        dataset,
        optimizer,
        count(*) as networks,
        count(*) filter (where status = 'ok') as ok,
        avg(test_accuracy) as mean_test_accuracy,
        max(test_accuracy) as best_test_accuracy
    from optimizer_runs
    group by dataset, optimizer
)

select * from final order by dataset, mean_test_accuracy desc
""",
    "Hyperband brackets: evaluations per round": """\
-- Sweeps only: per bracket and successive-halving round, the budget, how many
-- configurations were planned and how many were evaluated, and the best loss.
with sweep_runs as (
    select
        study_id,
        bracket,
        bracket_s,
        round,
        budget,
        status,
        loss
    from runs
    where bracket is not null
),

per_round as (
    select
        study_id,
        bracket,
        bracket_s,
        round,
        budget,
        count(*) as evaluations,
        count(*) filter (where status = 'ok') as ok,
        min(loss) as best_loss
    from sweep_runs
    group by study_id, bracket, bracket_s, round, budget
),

final as (
    select
        s.name as study,
        r.bracket,
        r.bracket_s,
        r.round,
        r.budget,
        p.configs as planned,
        r.evaluations,
        r.ok,
        r.best_loss
    from per_round as r
    join studies as s using (study_id)
    left join sweep_plan as p using (study_id, bracket, round)
)

select * from final order by study, bracket, round, budget
""",
    "Learning curves: mean validation accuracy per epoch": """\
-- How networks learn, epoch by epoch, per dataset (finished networks only).
with curve_points as (
    select
        r.dataset,
        c.epoch,
        c.val_accuracy
    from curves as c
    join runs as r using (run_id)
    where r.status = 'ok'
),

final as (
    select
        dataset,
        epoch,
        count(*) as networks,
        avg(val_accuracy) as mean_val_accuracy
    from curve_points
    group by dataset, epoch
)

select * from final order by dataset, epoch
""",
    "What each table and column means": """\
-- The warehouse documents itself: every table, view and column with its comment.
with relations as (
    select table_name as relation, 'table' as kind, comment as relation_comment
    from duckdb_tables()
    where database_name = current_database()
    union all
    select view_name as relation, 'view' as kind, comment as relation_comment
    from duckdb_views()
    where database_name = current_database() and not internal
),

relation_columns as (
    select
        table_name as relation,
        column_index,
        column_name,
        data_type,
        comment as column_comment
    from duckdb_columns()
    where database_name = current_database()
),

final as (
    select
        r.kind,
        r.relation,
        c.column_index,
        c.column_name,
        c.data_type,
        c.column_comment,
        r.relation_comment
    from relations as r
    join relation_columns as c using (relation)
)

select * from final order by kind, relation, column_index
""",
}


class QueryRefused(Exception):
    """The query did not run, or did not finish; the message says why and what is allowed."""


def run_query(path: Path, query: str, *, max_rows: int = MAX_ROWS, timeout_s: float = TIMEOUT_S,
              lock_wait_s: float = LOCK_WAIT_S) -> tuple[pl.DataFrame, bool]:
    """Run one read-only query; returns (at most `max_rows` rows, whether there were more)."""
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    if not query or not query.strip():
        raise QueryRefused(f"The query is empty. Write {ALLOWED}, e.g. `from run_details limit 10`.")
    con = _connect(Path(path), lock_wait_s)
    try:
        _check_statement(con, query)
        return _fetch(con, query, max_rows, timeout_s)
    finally:
        con.close()


def _connect(path: Path, lock_wait_s: float) -> duckdb.DuckDBPyConnection:
    """Open the sandboxed connection, retrying while a writer (or another config) holds the file."""
    if not path.is_file():
        raise QueryRefused(f"No warehouse at {path}.")
    try:
        return warehouse.connect(path, read_only=True, timeout=lock_wait_s, config=SANDBOX_CONFIG)
    except warehouse.WarehouseError as err:
        raise QueryRefused(str(err)) from None


def _check_statement(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """Exactly one statement, of a read-only kind, by DuckDB's own parser."""
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as err:
        raise QueryRefused(_explain(err)) from None
    if not statements:
        raise QueryRefused(f"The query is empty (only comments or ';'). Write {ALLOWED}.")
    if len(statements) > 1:
        kinds = ", ".join(s.type.name for s in statements)
        raise QueryRefused(f"Only one statement at a time: this text holds {len(statements)} ({kinds}), "
                           f"separated by ';'. Keep one: {ALLOWED}.")
    kind = statements[0].type.name
    if kind not in ALLOWED_TYPES:
        raise QueryRefused(f"{kind} statements cannot run here: this console only reads. Allowed is {ALLOWED}; "
                           "not CREATE, INSERT, UPDATE, DELETE, DROP, COPY, EXPORT, ATTACH, INSTALL, LOAD, SET, "
                           "PRAGMA, CALL or EXPLAIN. To look at the schema: `describe runs`, `show tables`, "
                           "`select * from duckdb_columns()`.")


def _fetch(con, query: str, max_rows: int, timeout_s: float) -> tuple[pl.DataFrame, bool]:
    done, fired = threading.Event(), threading.Event()

    def interrupt() -> None:  # repeated, in case the first lands between two steps of the query
        fired.set()
        while not done.is_set():
            con.interrupt()
            done.wait(0.05)

    timer = threading.Timer(timeout_s, interrupt)
    timer.daemon = True
    timer.start()
    try:
        limited = con.sql(query).limit(max_rows + 1)
        try:
            frame = limited.pl()
        except duckdb.Error:
            raise
        except Exception:  # a column type polars cannot hold (INTERVAL, ...): show every column as text
            frame = limited.project("columns(*)::varchar").pl()
    except duckdb.Error as err:
        if fired.is_set() or isinstance(err, duckdb.InterruptException):
            raise QueryRefused(f"The query ran longer than the time limit of {timeout_s:g} s and was stopped. "
                               "Narrow it down (a where clause, a limit, fewer joins) and run it again.") from None
        raise QueryRefused(_explain(err)) from None
    finally:
        done.set()
        timer.cancel()
    truncated = frame.height > max_rows
    return (frame.head(max_rows) if truncated else frame), truncated


def _explain(err: duckdb.Error) -> str:
    """DuckDB's error in words for the person who typed the query, with DuckDB's own text kept."""
    text = str(err)
    if isinstance(err, duckdb.PermissionException) or "disabled by configuration" in text \
            or "disabled through configuration" in text:
        human = ("Files, the network and extensions are out of reach here: the SQL page reads only the "
                 f"warehouse's own tables. Allowed is {ALLOWED}.")
    elif "read-only mode" in text:
        human = f"The warehouse is open read-only here: nothing can be changed. Allowed is {ALLOWED}."
    elif "configuration has been locked" in text:
        human = "Settings cannot be changed here: the sandbox's configuration is locked."
    elif isinstance(err, duckdb.OutOfMemoryException):
        human = (f"The query needs more than the memory limit of {SANDBOX_CONFIG['memory_limit']}. "
                 "Aggregate in SQL (group by) or add a where clause, rather than returning everything.")
        text = text.splitlines()[0]  # DuckDB goes on to suggest settings that are locked here
    elif isinstance(err, duckdb.ParserException):
        human = "DuckDB could not parse the query: check the syntax near the place it names."
    elif isinstance(err, duckdb.CatalogException | duckdb.BinderException):
        human = ("The query names something that does not exist or does not fit. `show tables` lists the "
                 "tables and views, `describe runs` the columns of one.")
    else:
        human = "DuckDB could not run the query."
    return f"{human}\n\nDuckDB said: {text}"
