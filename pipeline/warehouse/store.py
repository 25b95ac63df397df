"""Access to the DuckDB experiment warehouse: open, create, write runs, run named queries.

DuckDB lets one process hold a file read-write, and then no other process may open it, not
even read-only; and a writer cannot open it while any reader has it. So nobody holds it for long:
a job buffers finished runs in memory and opens the file read-write for one short transaction
every couple of seconds; the app opens it read-only for the few queries of one page render.

Readers that overlap would still hold the file without a break and starve a writer, so writers
come first, through a turnstile: the side file `<warehouse>.lock`. A writer takes an exclusive
flock on it (creating it if absent) and holds it while it waits for DuckDB's lock and during its
transaction. A reader passes it before each opening: a shared flock taken and dropped at once,
so readers never wait for each other, but none starts while a writer is waiting or writing.
Bound: a writer gets the file once the reads already running when it took the turnstile end,
plus ~40 ms (polling, DuckDB's opening), however many readers loop: at most the app's longest
single read, loading a 1,000,000-run study (~0.6 s). Measured with 8 readers looping reads of up
to 0.1 s: 95 ms at most (`python -m pipeline.benchmarks.lock`, BENCHMARKS.md). A reader never
creates the side file (the folder may be read-only); without it no writer has come since, and a
reader opens the file directly. Programs that open the file without this module (the duckdb CLI,
a notebook) do not pass the turnstile: a write waits for them up to $HPW_BUSY_SECONDS (120 s),
then the job stops with a message.

A run is written in one transaction with its hyperparameters and curve: a crash loses at most
what was still buffered, never half a run. Every write also brings the per-study wide
hyperparameter tables up to date (pipeline/warehouse/wide.py).

    python -m pipeline.warehouse upgrade --warehouse data/warehouse.duckdb

upgrades a warehouse written by an older version of this code in place (schema version 1 -> 2
adds the wide tables; seconds per million runs, nothing is lost).
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import random
import re
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from pipeline.core import limits
from pipeline.core.host import utcnow
from pipeline.warehouse import wide

DEFAULT_PATH = Path("data/warehouse.duckdb")
PATH_ENV_VAR = "HPW_WAREHOUSE"
BUSY_ENV_VAR = "HPW_BUSY_SECONDS"  # how long a write waits for the file before the job stops
DEFAULT_BUSY_SECONDS = 120.0
SCHEMA_VERSION = "2"
UPGRADABLE = ("1",)  # versions that write() brings to SCHEMA_VERSION (1 -> 2: the wide tables)
SQL_DIR = Path(__file__).parent / "sql"
BUSY_MESSAGES = ("Could not set lock", "different configuration", "Unique file handle conflict")

RUN_COLUMNS = {  # runs table columns written from a run record, with their Arrow types
    "trial": pa.int32(), "status": pa.string(), "error": pa.string(), "dataset": pa.string(),
    "test_accuracy": pa.float64(), "test_loss": pa.float64(), "train_accuracy": pa.float64(),
    "train_loss": pa.float64(), "epochs": pa.int32(), "train_seconds": pa.float64(),
    "wall_seconds": pa.float64(), "parameter_count": pa.int64(), "flops_per_sample": pa.int64(),
    "inference_ms_per_image": pa.float64(), "seed": pa.int64(), "device": pa.string(),
    "worker": pa.string(), "started_at": pa.timestamp("us"), "finished_at": pa.timestamp("us"),
    "bracket": pa.int32(), "bracket_s": pa.int32(), "round": pa.int32(), "round_index": pa.int32(),
    "budget": pa.float64(), "config_id": pa.string(), "sampled_as": pa.string(),
    "submitted_at": pa.timestamp("us"), "loss": pa.float64(),
}
CURVE_COLUMNS = {
    "epoch": pa.int32(), "train_loss": pa.float64(), "train_accuracy": pa.float64(),
    "val_loss": pa.float64(), "val_accuracy": pa.float64(), "learning_rate": pa.float64(),
    "seconds": pa.float64(),
}


class WarehouseError(RuntimeError):
    """The warehouse cannot be used as asked; the message says what to do."""


class WarehouseBusy(WarehouseError):
    """Another process held the file for longer than the caller would wait: worth trying again."""


def resolve_path(flag: str | os.PathLike | None = None) -> Path:
    """--warehouse flag, else $HPW_WAREHOUSE, else data/warehouse.duckdb."""
    return Path(flag or os.environ.get(PATH_ENV_VAR) or DEFAULT_PATH)


def code_version() -> str:
    here = Path(__file__).parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def connect(path: Path, *, read_only: bool, timeout: float, config: dict | None = None) -> duckdb.DuckDBPyConnection:
    """Connect, retrying while another process holds the file's lock (or, inside this process, while a
    connection with another config has it open: DuckDB allows one database instance per file).

    A read-only connection passes the turnstile first (see the module docstring); to write, use
    write(), which holds it."""
    return _retrying(lambda: duckdb.connect(str(path), read_only=read_only, config=config or {}), path, timeout,
                     reader=read_only)


def lock_path(path: Path) -> Path:
    """The writers' turnstile beside the warehouse file (see the module docstring)."""
    return path.with_name(path.name + ".lock")


def busy_seconds() -> float:
    """How long a write waits for the file: $HPW_BUSY_SECONDS, else 120 s."""
    try:
        return limits.env_seconds(BUSY_ENV_VAR, DEFAULT_BUSY_SECONDS)
    except ValueError as err:
        raise WarehouseError(str(err)) from None


def _busy(path: Path, timeout: float, why: str) -> WarehouseBusy:
    return WarehouseBusy(f"The warehouse is busy: {path} {why} for {timeout:g} s. Try again in a moment.")


def _flock(fd: int, mode: int, path: Path, timeout: float, deadline: float, why: str) -> None:
    """flock(fd, mode), polling until `deadline`: a blocking flock could not give up in time."""
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise _busy(path, timeout, why) from None
            time.sleep(0.002)


def _pass_turnstile(path: Path, timeout: float, deadline: float) -> None:
    """A reader waits here while a writer holds the turnstile, and goes on holding nothing."""
    try:  # read-only, never created: a read changes nothing in the folder
        fd = os.open(lock_path(path), os.O_RDONLY)
    except OSError:
        return  # no writer since the file was made (or the side file is not ours to open): nothing to wait for
    try:
        _flock(fd, fcntl.LOCK_SH, path, timeout, deadline, "was being written by a job")
    finally:
        os.close(fd)  # drops the shared lock at once: readers never hold each other up


@contextmanager
def _turnstile(path: Path, timeout: float):
    """Held by a writer while it waits for DuckDB's lock and during its transaction: no new reader starts."""
    try:
        fd = os.open(lock_path(path), os.O_RDONLY | os.O_CREAT, 0o666)
    except OSError as err:
        raise WarehouseError(f"cannot write {path}: its lock file {lock_path(path)} cannot be created "
                             f"({err.strerror}); pass a warehouse in a writable folder") from None
    try:
        _flock(fd, fcntl.LOCK_EX, path, timeout, time.monotonic() + timeout, "was being written by another job")
        yield
    finally:
        os.close(fd)


def _retrying(open_file, path: Path, timeout: float, *, reader: bool, deadline: float | None = None):
    deadline = time.monotonic() + timeout if deadline is None else deadline
    while True:
        if reader:  # before every try: a writer that arrived meanwhile goes first
            _pass_turnstile(path, timeout, deadline)
        try:
            return open_file()
        except duckdb.Error as err:
            if not any(text in str(err) for text in BUSY_MESSAGES):
                if not path.exists():
                    raise WarehouseError(f"cannot create {path} ({err}); pass a path in a writable folder") from None
                raise WarehouseError(f"{path} cannot be opened as a DuckDB database ({err}). "
                                     "Pass the path of a warehouse, or a new path to create one.") from None
            if time.monotonic() > deadline:
                raise _busy(path, timeout, "stayed locked by another process (a job, or a program holding it "
                                           f"open) (DuckDB said: {err})") from None
            time.sleep(random.uniform(0.005, 0.02))


_hub: duckdb.DuckDBPyConnection | None = None
_hub_lock = threading.Lock()
_names = itertools.count(1)


def hub() -> duckdb.DuckDBPyConnection:
    """This process's one in-memory DuckDB instance, which files are attached to for reading and
    which holds the app's loaded studies. A new instance costs ~20 ms (its threads and buffer
    pool), attaching a file ~2 ms, and the app opens the warehouse for nearly every cache miss.
    Use a cursor of it per thread."""
    global _hub
    with _hub_lock:
        if _hub is None:
            _hub = duckdb.connect(":memory:")
        return _hub


def attach(database: str, *, path: Path | None = None, timeout: float = 10.0) -> str:
    """Attach a file read-only (or, without a path, a new in-memory database) to the hub under a name of
    its own starting with `database`; returns the name. Detach it with detach(name)."""
    name = f"{database}_{next(_names)}"
    if path is None:
        _on_hub(f"attach ':memory:' as {name}")
    else:
        _retrying(lambda: _on_hub(f"attach $path as {name} (read_only)", {"path": str(path)}), path, timeout,
                  reader=True)
    return name


def detach(name: str) -> None:
    _on_hub(f"detach database if exists {name}")


def _on_hub(statement: str, params: dict | None = None) -> None:
    # a cursor of its own: the hub's connection object must not be used by two threads at once
    with hub().cursor() as cursor:
        cursor.execute(statement, params or {})


def using(name: str) -> duckdb.DuckDBPyConnection:
    """A new cursor of the hub whose unqualified names resolve in the attached database `name`."""
    cursor = hub().cursor()
    cursor.execute(f"use {name}")
    return cursor


def _check_is_warehouse(con: duckdb.DuckDBPyConnection, path: Path, *, upgradable: bool = False) -> None:
    try:  # asked directly: listing duckdb_tables() costs ~12 ms on every opening
        version = con.execute("select value from warehouse_meta where key = 'schema_version'").fetchall()
    except duckdb.CatalogException:
        raise WarehouseError(f"{path} is a DuckDB database but not an experiment warehouse (no "
                             "warehouse_meta table). Pass another path; a new path creates a warehouse.") from None
    except duckdb.Error as err:  # a truncated or overwritten file opens, then fails on its first read
        raise WarehouseError(f"{path} is damaged and cannot be read ({str(err).splitlines()[0]}). Restore it from "
                             "a copy, or pass another --warehouse (a new path creates one).") from None
    if version and version[0][0] in UPGRADABLE:
        if upgradable:
            return
        raise WarehouseError(f"{path} has warehouse schema version {version[0][0]}, from an older version of this "
                             f"code. Upgrade it in place (nothing is lost): python -m pipeline.warehouse upgrade "
                             f"--warehouse {path}")
    if version != [(SCHEMA_VERSION,)]:
        raise WarehouseError(f"{path} has warehouse schema version {version[0][0] if version else '?'}; "
                             f"this code reads version {SCHEMA_VERSION}.")


@contextmanager
def read(path: Path, *, timeout: float = 10.0, upgradable: bool = False):
    """A read-only connection, held only for the `with` block; `upgradable` also accepts an older
    schema that the next write() upgrades. The file is attached to the process's hub (see hub()),
    so the connection can also reach other databases attached there."""
    if not path.exists():
        raise WarehouseError(f"no warehouse at {path}. Build the demo with `python -m pipeline.demo restore` "
                             "or train one with `python -m pipeline.ensemble --study NAME`.")
    name = attach("warehouse", path=path, timeout=timeout)
    try:
        with using(name) as con:
            _check_is_warehouse(con, path, upgradable=upgradable)
            yield con
    finally:
        detach(name)


def check_writable(path: Path) -> None:
    """Fail before any work if `path` is not a warehouse, or cannot be created; writes nothing."""
    try:
        exists = path.exists()
    except OSError as err:  # a name too long, a loop of links
        raise WarehouseError(f"--warehouse {path}: {err.strerror or err}; pass another path") from None
    if exists:
        with read(path, upgradable=True):
            pass
        if not os.access(path, os.W_OK):
            raise WarehouseError(f"{path} is not writable; pass a warehouse you may write, or a new path")
    _check_creatable(path)


def _check_creatable(path: Path) -> None:
    """The folder takes new files: the warehouse itself, or its write-ahead log beside an existing one.

    Tried, not asked: os.access says yes to root even on a read-only mount. The probe file has no
    name (O_TMPFILE) or is removed at once."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise WarehouseError(f"cannot create {path}: folder {parent} does not exist")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as err:
        raise WarehouseError(f"cannot {'write' if path.exists() else 'create'} {path}: folder {parent} does not "
                             f"take new files ({err.strerror}); pass a path in a writable folder") from None


@contextmanager
def write(path: Path, *, timeout: float | None = None):
    """A read-write connection inside one transaction, committed at the end of the block.

    Creates the warehouse when the file does not exist, upgrades an older schema, and brings the
    wide tables up to date before committing. Any exception rolls everything back. Waits up to
    `timeout` seconds (default busy_seconds()) for the turnstile and the file together.
    """
    timeout = busy_seconds() if timeout is None else timeout
    deadline = time.monotonic() + timeout
    if not path.exists():
        _check_creatable(path)
    with _turnstile(path, timeout):
        new = not path.exists()  # asked again in the turnstile: another job may have just created it
        # one opening per write: jobs flush every few seconds, and each opening locks readers out
        con = _retrying(lambda: duckdb.connect(str(path)), path, timeout, reader=False, deadline=deadline)
        with _transaction(con, path, new) as con:
            yield con


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection, path: Path, new: bool):
    """write()'s transaction on `con`, which it closes; a new file that never committed is removed."""
    committed = False
    try:
        if new:
            _create_schema(con)
        else:
            _check_is_warehouse(con, path, upgradable=True)
        con.execute("begin transaction")
        try:
            yield con
            wide.refresh(con)
            con.execute("update warehouse_meta set value = ? where key = 'schema_version' and value <> ?",
                        [SCHEMA_VERSION, SCHEMA_VERSION])
        except BaseException as err:
            con.execute("rollback")
            if isinstance(err, wide.WideTableError):
                raise WarehouseError(f"{path}: nothing written, {err}") from None
            raise
        con.execute("commit")
        committed = True
    finally:
        con.close()
        if new and not committed:  # a warehouse that never got its first write is not left behind
            for leftover in (path, path.with_name(path.name + ".wal"), lock_path(path)):
                leftover.unlink(missing_ok=True)


def _create_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute((SQL_DIR / "schema.sql").read_text())
    con.executemany(
        "insert or replace into warehouse_meta values (?, ?)",
        [("schema_version", SCHEMA_VERSION), ("created_at", utcnow().isoformat()), ("created_by", code_version())],
    )


def query_text(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


def query(con: duckdb.DuckDBPyConnection, name: str, params: dict | None = None):
    """Run the named query pipeline/warehouse/sql/NAME.sql with parameters; returns a polars frame."""
    return con.sql(query_text(name), params=params or None).pl()


# ---- studies -------------------------------------------------------------------------------


def get_study(con: duckdb.DuckDBPyConnection, name: str) -> dict | None:
    rows = con.execute(
        "select study_id, name, kind, search_space, settings, seed, finished_at from studies where name = ?",
        [name],
    ).fetchall()
    if not rows:
        return None
    study_id, name, kind, space, settings, seed, finished_at = rows[0]
    return {"study_id": study_id, "name": name, "kind": kind, "search_space": space,
            "settings": json.loads(settings), "seed": seed, "finished_at": finished_at}


def create_study(con, *, name: str, kind: str, search_space: str | None, settings: dict, seed: int | None,
                 param_types: dict[str, str]) -> int:
    """Insert a study and its wide view; `param_types` maps hyperparameter -> bool|int|float|text."""
    study_id = con.execute(
        "insert into studies (name, kind, search_space, settings, seed, code_version, created_at) "
        "values (?, ?, ?, ?, ?, ?, ?) returning study_id",
        [name, kind, search_space, json.dumps(settings), seed, code_version(), utcnow()],
    ).fetchall()[0][0]
    create_study_view(con, study_id, name, param_types)
    return study_id


def check_same_settings(study: dict, settings: dict, search_space: str | None) -> None:
    """Refuse to continue a study with settings that would change what its runs are."""
    differences = [f"{k}: {study['settings'].get(k)!r} there, {v!r} now"
                   for k, v in settings.items() if study["settings"].get(k) != v]
    if study["search_space"] != search_space:
        differences.append("search space differs")
    if differences:
        raise WarehouseError(f"study '{study['name']}' exists with other settings ({'; '.join(differences)}). "
                             "Re-run with its original flags to continue it, or choose a new --study name.")


def study_view_name(con, study_id: int, name: str) -> str:
    slug = "study_" + (re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or str(study_id))
    taken = con.execute("select 1 from duckdb_views() where view_name = ?", [slug]).fetchall()
    return f"{slug}_{study_id}" if taken else slug


def create_study_view(con, study_id: int, name: str, param_types: dict[str, str]) -> None:
    """A view with one typed column per hyperparameter, for people who write SQL."""
    run_cols = ["trial", "status", "dataset", *[c for c in RUN_COLUMNS if c not in ("trial", "status", "dataset")]]
    cast = {"bool": "boolean", "int": "bigint", "float": "double"}
    # the importers and space files refuse these first; this is the last wall before DDL
    limits.check_names(param_types, f"study '{name}'", "rename it", WarehouseError)
    taken = {c.lower() for c in ("run_id", *run_cols)}  # SQL column names ignore case
    hp_cols = []
    for param, kind in param_types.items():
        column = param
        while column.lower() in taken:  # a hyperparameter named like a run column: hp_trial (hp_hp_trial ...)
            column = f"hp_{column}"
        taken.add(column.lower())
        source = "value_num" if kind in cast else "value"
        hp_cols.append(f"max(h.{source}) filter (where h.name = {limits.sql_string(param)})"
                       f'::{cast.get(kind, "varchar")} as {limits.sql_ident(column)}')
    view = study_view_name(con, study_id, name)
    select_hp = (",\n        " + ",\n        ".join(hp_cols)) if hp_cols else ""
    con.execute(f"""
        create or replace view {view} as
        select
            r.run_id,
            {", ".join(f"r.{c}" for c in run_cols)}{select_hp}
        from runs as r
        left join hyperparameters as h using (run_id)
        where r.study_id = {int(study_id)}
        group by all
        order by r.run_id
    """)
    comment = f'Runs of study "{name}" with one column per hyperparameter (null where inactive).'
    con.execute(f"comment on view {view} is {limits.sql_string(comment)}")


def finish_study(con, study_id: int) -> None:
    con.execute("update studies set finished_at = ? where study_id = ?", [utcnow(), study_id])


def done_trials(con, study_id: int) -> set[int]:
    return {row[0] for row in con.execute("select trial from runs where study_id = ?", [study_id]).fetchall()}


# ---- runs ----------------------------------------------------------------------------------


def value_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else repr(value)


def value_number(value) -> float | None:
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, int | float) else None


def insert_runs(con, study_id: int, records: list[dict]) -> list[int]:
    """Insert finished runs, each a dict of runs columns plus `hyperparameters` and `curve`.

    Call inside `write()`: everything lands in that one transaction or nothing does.
    """
    if not records:
        return []
    first_id = con.execute("select coalesce(max(run_id), 0) + 1 from runs").fetchall()[0][0]
    run_ids = list(range(first_id, first_id + len(records)))
    runs = {col: [r.get(col) for r in records] for col in RUN_COLUMNS}
    runs_table = pa.table({"run_id": pa.array(run_ids, pa.int64()),
                           "study_id": pa.array([study_id] * len(records), pa.int32()),
                           **{c: pa.array(v, RUN_COLUMNS[c]) for c, v in runs.items()}})
    hp_rows = [(rid, name, value_text(v), value_number(v))
               for rid, r in zip(run_ids, records) for name, v in r["hyperparameters"].items()]
    hp_table = pa.table({k: pa.array(v, t) for (k, t), v in zip(
        {"run_id": pa.int64(), "name": pa.string(), "value": pa.string(), "value_num": pa.float64()}.items(),
        zip(*hp_rows) if hp_rows else [[]] * 4)})
    curve_rows = [(rid, *[point.get(c) for c in CURVE_COLUMNS])
                  for rid, r in zip(run_ids, records) for point in r["curve"]]
    curve_types = {"run_id": pa.int64(), **CURVE_COLUMNS}
    curve_table = pa.table({k: pa.array(v, t) for (k, t), v in zip(
        curve_types.items(), zip(*curve_rows) if curve_rows else [[]] * len(curve_types))})
    for table_name, arrow in (("runs", runs_table), ("hyperparameters", hp_table), ("curves", curve_table)):
        con.register("incoming", arrow)
        columns = ", ".join(f'"{c}"' for c in arrow.column_names)
        con.execute(f"insert into {table_name} ({columns}) select {columns} from incoming")
        con.unregister("incoming")
    return run_ids


class RunWriter:
    """Buffers finished runs and writes them in one short transaction every `flush_seconds`.

    The file is held read-write only during a flush, so readers get in between. Whatever is
    still buffered when the process is killed is lost, and is trained again on resume.
    """

    def __init__(self, path: Path, study_id: int, *, flush_seconds: float = 2.0):
        self.path, self.study_id, self.flush_seconds = path, study_id, flush_seconds
        self.buffer: list[dict] = []
        self.written = 0
        self._last_flush = time.monotonic()

    def add(self, record: dict) -> None:
        self.buffer.append(record)
        self.flush_if_due()

    def flush_if_due(self) -> None:
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def flush(self, *, finish: bool = False) -> None:
        """Write the buffer; with `finish`, mark the study finished in the same transaction."""
        if self.buffer or finish:
            with write(self.path) as con:
                insert_runs(con, self.study_id, self.buffer)
                if finish:
                    finish_study(con, self.study_id)
            self.written += len(self.buffer)
        self.buffer, self._last_flush = [], time.monotonic()


def upgrade(path: Path) -> None:
    """Bring a warehouse to SCHEMA_VERSION in place (a write that adds nothing)."""
    if not path.exists():
        raise WarehouseError(f"no warehouse at {path}; pass the path of one with --warehouse")
    with write(path):
        pass
