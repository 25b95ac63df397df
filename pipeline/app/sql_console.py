"""Run one query typed by a person against the warehouse, in a sandbox (the app's SQL page).

    from pipeline.app.sql_console import run_query
    table, truncated = run_query(Path("data/warehouse.duckdb"), "from run_details limit 5")

A query from a text box is untrusted input. Four walls stand between it and the warehouse, each
enough on its own to keep the file safe, because each of the others has had a hole:

1. **A snapshot, never the file.** The query runs on a private copy of the warehouse, made once per
   file version into a folder of this process's own (copied while holding a read lock, so never
   half a write). DuckDB lets a connection write its own database file and WAL paths even with
   external access off and the file opened read-only (a COPY ... TO the warehouse's own path once
   turned it into 8 bytes of CSV); here those paths are the copy's. A copy that changed or grew a
   neighbour after a query is thrown away and made anew.
2. **A process of its own** (pipeline/app/sql_sandbox.py) with its own limits: address space, the size
   of any file it writes, CPU time; killed at the wall-clock limit, parsing included. A query that
   needs gigabytes, or hours, costs that process and nothing else: the app's memory stays its own.
   At most SLOTS such processes run at once; other queries wait their turn for a few seconds.
3. **The statement check** in that process: DuckDB's parser must show one SELECT, serialize it
   (only SELECTs serialize), and every node and table function in it must be on a list of what
   reads; anything it cannot classify (a PIVOT that expands into several statements, EXPLAIN, an
   unknown node) is refused with a message.
4. **The connection**: the snapshot opened read-only with external access disabled (no other
   file, no network, no extensions) and the configuration locked, so the query cannot SET it back.
The answer is capped in rows and in bytes while it streams out of DuckDB, before it reaches this
process or the browser, and columns that polars, CSV or the browser cannot hold come back as text.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

import polars as pl
import pyarrow as pa

from pipeline.app.sql_sandbox import ALLOWED, QueryRefused
from pipeline.warehouse import store

MAX_ROWS = 10_000
MAX_BYTES = 16 * 2**20  # of the answer as Arrow: what the browser gets, and what one cached result costs
MAX_QUERY_CHARS = 100_000  # DuckDB parses a 1-million-value IN list for ~26 s; no real question is this long
TIMEOUT_S = 10.0
MEMORY_MB = 2048  # address space of the query's process; DuckDB's own memory limit is half of it
LOCK_WAIT_S = 5.0
SLOTS = 2  # query processes at once: each may use MEMORY_MB
SLOT_WAIT_S = 10.0

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


class Answer(NamedTuple):
    table: pl.DataFrame
    truncated: str | None  # None, or what cut the answer short: "rows" (max_rows) or "bytes" (max_bytes)


class QueryBusy(QueryRefused):
    """Refused for now, not for what it is: the warehouse or the page was busy. Worth running again."""


_slots = threading.BoundedSemaphore(SLOTS)


def run_query(path: Path, query: str, *, max_rows: int = MAX_ROWS, max_bytes: int = MAX_BYTES,
              timeout_s: float = TIMEOUT_S, memory_mb: int = MEMORY_MB, lock_wait_s: float = LOCK_WAIT_S) -> Answer:
    """Run one read-only query on a snapshot of the warehouse at `path`, in a process of its own.

    Only what costs nothing is checked here: parsing even a 100,000-character query can take this
    process hundreds of megabytes and seconds, so the statement check runs in the query's process."""
    if max_rows < 1 or max_bytes < 1:
        raise ValueError(f"max_rows and max_bytes must be at least 1, got {max_rows} and {max_bytes}")
    if not query or not query.strip():
        raise QueryRefused(f"The query is empty. Write {ALLOWED}, e.g. `from run_details limit 10`.")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryRefused(f"The query is {len(query):,} characters long; the page takes at most {MAX_QUERY_CHARS:,}. "
                           "A long IN list is better written as a join or a range (`where trial between 10 and 500`).")
    if not _slots.acquire(timeout=SLOT_WAIT_S):
        raise QueryBusy(f"The SQL page is busy with {SLOTS} other queries. Try again in a few seconds.")
    try:
        snapshot = SNAPSHOTS.take(Path(path), lock_wait_s)
        try:
            return _in_sandbox(snapshot, query, max_rows, max_bytes, timeout_s, memory_mb)
        finally:
            SNAPSHOTS.give_back(snapshot)
    finally:
        _slots.release()


def _in_sandbox(snapshot: Path, query: str, max_rows: int, max_bytes: int, timeout_s: float,
                memory_mb: int) -> Answer:
    request = {"query": query, "snapshot": str(snapshot), "max_rows": max_rows, "max_bytes": max_bytes,
               "memory_mb": memory_mb, "cpu_seconds": int(timeout_s) + 5}
    child, workdir = SPARES.take()
    try:
        try:
            child.communicate(json.dumps(request).encode(), timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill(child)
            raise QueryRefused(f"The query ran longer than the time limit of {timeout_s:g} s and was stopped. "
                               "Narrow it down (a where clause, a limit, fewer joins) and run it again.") from None
        return _read_answer(workdir, child.returncode, max_bytes, memory_mb)
    finally:
        _kill(child)
        shutil.rmtree(workdir, ignore_errors=True)
        SPARES.refill()  # after, not during: on two cores its imports would slow this query down


class Spares:
    """One query process started ahead, its imports done (~0.35 s), waiting for its query on stdin.

    Every query still gets a process of its own: the next spare starts when a query is done."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spare: tuple[subprocess.Popen, Path] | None = None

    def take(self) -> tuple[subprocess.Popen, Path]:
        with self._lock:
            spare, self._spare = self._spare, None
            if spare is None or spare[0].poll() is not None:
                if spare is not None:
                    _remove_tree(spare[1])
                spare = _start()
            return spare

    def refill(self) -> None:
        with self._lock:
            if self._spare is None:
                self._spare = _start()

    def stop(self) -> None:
        with self._lock:
            if self._spare is not None:
                _kill(self._spare[0])
                self._spare = None


def _start() -> tuple[subprocess.Popen, Path]:
    workdir = Path(tempfile.mkdtemp(prefix="query-", dir=SNAPSHOTS.root()))
    child = subprocess.Popen([sys.executable, "-m", "pipeline.app.sql_sandbox"], cwd=workdir, stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_child_env(workdir),
                             start_new_session=True)
    return child, workdir


def _child_env(workdir: Path) -> dict:
    # the package, found the way this process found it, and nothing of the app's environment
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir),
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "LANG": "C.UTF-8"}


def _kill(child: subprocess.Popen) -> None:
    """The query's process and anything it started; a no-op once it has exited and been reaped."""
    if child.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()


def _read_answer(workdir: Path, returncode: int, max_bytes: int, memory_mb: int) -> Answer:
    status_file, result_file = workdir / "status.json", workdir / "result.arrow"
    if returncode != 0 or not status_file.is_file():
        # killed by its memory or CPU limit (or a crash inside DuckDB): the limits did their job
        raise QueryRefused(f"The query stopped without an answer (exit code {returncode}): it needed more than the "
                           f"page's {memory_mb:,} MB of memory or its CPU time. Aggregate in SQL (group by) or add "
                           "a where clause, rather than returning everything.")
    status = json.loads(status_file.read_text())
    if not status["ok"]:
        raise QueryRefused(status["message"])
    if result_file.stat().st_size > max_bytes + 2**20:  # the sandbox bounds it; never trust one wall
        raise QueryRefused(f"The answer is larger than the page's limit of {max_bytes / 2**20:g} MB.")
    with pa.OSFile(str(result_file)) as source:
        table = pa.ipc.open_stream(source).read_all()
    return Answer(pl.from_arrow(table), status["truncated"])


class Snapshots:
    """Private read-only copies of warehouses, one per file version, for the query processes.

    A copy is in use from take() to give_back(); an old version's copy goes once nobody uses it."""

    def __init__(self) -> None:
        self._root: Path | None = None
        self._lock = threading.Lock()
        self._copies: dict[tuple, _Copy] = {}  # file version -> its copy

    def root(self) -> Path:
        with self._lock:
            return self._ensure_root()

    def _ensure_root(self) -> Path:
        if self._root is None:
            _remove_stale_roots()
            self._root = Path(tempfile.mkdtemp(prefix=f"hpw-sql-{os.getpid()}-"))
            atexit.register(_remove_tree, self._root)
        return self._root

    def take(self, path: Path, lock_wait_s: float) -> Path:
        """The copy of the warehouse's current version, made now if there is none (or it was touched)."""
        if not path.is_file():
            raise QueryRefused(f"No warehouse at {path}.")
        with self._lock:
            try:
                # the read lock keeps writers out while the bytes are copied: never half a transaction
                with store.read(path, timeout=lock_wait_s):
                    version = _version(path)
                    copy = self._copies.get(version)
                    if copy is None or not copy.intact():
                        copy = self._copies[version] = self._copy(path)
            except store.WarehouseBusy as err:
                raise QueryBusy(str(err)) from None
            except store.WarehouseError as err:
                raise QueryRefused(str(err)) from None
            except OSError as err:
                raise QueryRefused(f"No room for a private copy of the warehouse to query ({err.strerror}): "
                                   f"free space in {tempfile.gettempdir()} or set TMPDIR elsewhere.") from None
            copy.users += 1
            self._prune()
            return copy.file

    def give_back(self, file: Path) -> None:
        """Done with a copy: it goes if a query changed it or wrote beside it, or if it is old and unused."""
        with self._lock:
            for _version, copy in list(self._copies.items()):
                if copy.file == file:
                    copy.users -= 1
                    if not copy.intact():
                        copy.broken = True
            self._prune()

    def _prune(self) -> None:
        """Unused copies go, except each warehouse's newest (the next query most likely wants it)."""
        newest = {}
        for version, copy in self._copies.items():
            if version[0] not in newest or copy.made > self._copies[newest[version[0]]].made:
                newest[version[0]] = version
        for version, copy in list(self._copies.items()):
            if copy.users == 0 and (copy.broken or newest[version[0]] != version):
                del self._copies[version]
                _remove_tree(copy.file.parent)

    def _copy(self, path: Path) -> _Copy:
        folder = Path(tempfile.mkdtemp(prefix="snapshot-", dir=self._ensure_root()))
        file = folder / "warehouse.duckdb"
        shutil.copyfile(path, file)
        wal = path.with_name(path.name + ".wal")
        if wal.is_file():  # committed but not yet checkpointed by a writer that died: part of the data
            shutil.copyfile(wal, folder / "warehouse.duckdb.wal")
        for made in folder.iterdir():
            made.chmod(0o444)
        folder.chmod(0o555)  # where permissions count, nothing new can appear beside the copy either
        return _Copy(file)


class _Copy:
    def __init__(self, file: Path) -> None:
        self.file, self.stat, self.made = file, _stat(file), time.monotonic()
        self.users, self.broken = 0, False

    def intact(self) -> bool:
        """Unchanged, and nothing written beside it (a query that got past every other wall)."""
        return not self.broken and _stat(self.file) == self.stat and \
            {p.name for p in self.file.parent.iterdir()} <= {self.file.name, self.file.name + ".wal"}


def _version(path: Path) -> tuple:
    wal = path.with_name(path.name + ".wal")
    return (str(path.resolve()), _stat(path), _stat(wal) if wal.exists() else None)


def _stat(path: Path) -> tuple:
    try:
        st = path.stat()
    except FileNotFoundError:
        return ()
    return st.st_ino, st.st_size, st.st_mtime_ns


def _remove_tree(folder: Path) -> None:
    if not folder.exists():
        return
    for directory, _, _ in os.walk(folder):
        os.chmod(directory, 0o755)
    shutil.rmtree(folder, ignore_errors=True)


def _remove_stale_roots() -> None:
    """Copies left by app processes that were killed (their pid is gone)."""
    for folder in Path(tempfile.gettempdir()).glob("hpw-sql-*-*"):
        match = re.fullmatch(r"hpw-sql-(\d+)-.*", folder.name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            _remove_tree(folder)


SNAPSHOTS = Snapshots()
SPARES = Spares()
atexit.register(SPARES.stop)
