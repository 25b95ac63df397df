"""The SQL page's sandbox: examples answer, attacks are refused and leave every file byte-identical.

Real DuckDB files and real query processes throughout. The warehouse is built here in milliseconds (an
ensemble study and a BOHB study with plan, hyperparameters and curves), and every test that attacks it
gets its own copy. Each wall is also attacked on its own, as if the others had a hole.
"""

import contextlib
import io
import itertools
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from pipeline.app.sql_console import EXAMPLES, MAX_BYTES, SNAPSHOTS, QueryRefused, run_query
from pipeline.app.sql_sandbox import CONNECTION_CONFIG, check_statement
from pipeline.warehouse import store
from tests.conftest import ROOT, sha256, sql

OUTSIDE = Path("/tmp/hpw_sql_console_escape.csv")
ATTACKS = {
    "drop": "drop table runs",
    "copy": f"copy runs to '{OUTSIDE}'",
    "copy into the wal": "copy (select 1) to '{path}.wal'",
    "explain analyze copy": "explain analyze copy (select 1) to '{path}.wal'",
    "pivot copied over the file": "copy (pivot (select 1 as a, 'x' as s) on s) to '{path}' "
                                  "(format csv, use_tmp_file false)",
    "explain analyze pivot copy": "explain analyze copy (pivot (select 1 as a, 'x' as s) on s) to '{path}.wal'",
    "temp table of a pivot": "create temp table t as pivot (select 1 as a, 'x' as s) on s",
    "attach": "attach '/tmp/hpw_sql_console_other.duckdb' as other",
    "install": "install httpfs",
    "load": "load httpfs",
    "update extensions": "update extensions",
    "read a file": "select * from read_csv('/etc/passwd')",
    "read the warehouse as text": "select * from read_text('{path}')",
    "glob": "select * from glob('/etc/*')",
    "a file as a table": "select * from '/etc/passwd'",
    "the warehouse as a table": "from '{path}'",
    "query() hides a statement": "select * from query('select 1')",
    "checkpoint()": "select * from checkpoint()",
    "enable external access": "set enable_external_access = true",
    "unlock": "set lock_configuration = false",
    "pragma": "pragma enable_profiling",
    "checkpoint": "checkpoint",
    "create": "create table t as select 1 as x",
    "temp table": "create temp table t as select 1 as x",
    "insert": "insert into warehouse_meta values ('k', 'v')",
    "update": "update runs set trial = 0",
    "delete": "delete from runs",
    "two statements": "select 1; drop table runs",
    "export": "export database '/tmp/hpw_sql_console_export'",
}
# One statement of every kind DuckDB's parser knows ({path}: the warehouse under attack).
STATEMENTS = {
    "select": "select count(*) as n from runs",
    "from first": "from runs select run_id limit 3",
    "values": "values (1, 'a')",
    "describe": "describe runs",
    "show": "show tables",
    "summarize": "summarize studies",
    "pivot with an in list": "pivot (select dataset, status from runs) on status in ('ok', 'diverged')",
    "unpivot": "unpivot (select 1 as a, 2 as b) on a, b",
    "recursive cte": "with recursive t(n) as (select 1 union all select n + 1 from t where n < 3) select * from t",
    "pivot without an in list": "pivot (select 1 as a, 'x' as s) on s",
    "insert": "insert into warehouse_meta values ('k', 'v')",
    "update": "update runs set trial = 0",
    "delete": "delete from runs",
    "merge": "merge into studies using (select 1 as study_id) as s using (study_id) when matched then delete",
    "create table": "create table t as select 1 as x",
    "create temp table": "create temp table t as select 1 as x",
    "create view": "create view v as select 1 as x",
    "create macro": "create macro m() as 1",
    "create sequence": "create sequence s",
    "create secret": "create secret (type s3, key_id 'k', secret 's')",
    "alter": "alter table runs add column x integer",
    "drop": "drop table runs",
    "truncate": "truncate runs",
    "prepare": "prepare p as select 1",
    "execute": "execute p",
    "begin": "begin transaction",
    "commit": "commit",
    "copy to a file": f"copy runs to '{OUTSIDE}'",
    "copy over the warehouse": "copy (select 1 as a) to '{path}' (format csv, use_tmp_file false)",
    "copy into the wal": "copy (select 1 as a) to '{path}.wal' (format csv, use_tmp_file false)",
    "copy into the wal checkpoint": "copy (select 1 as a) to '{path}.wal.checkpoint' (format csv)",
    "copy into the wal recovery": "copy (select 1 as a) to '{path}.wal.recovery' (format csv)",
    "copy from": "copy runs from '/etc/passwd'",
    "copy database": "copy from database memory to memory",
    "export": "export database '/tmp/hpw_sql_console_export'",
    "import": "import database '/tmp/hpw_sql_console_export'",
    "attach": "attach '/tmp/hpw_sql_console_other.duckdb' as other",
    "detach": "detach memory",
    "use": "use memory",
    "install": "install httpfs",
    "load": "load httpfs",
    "update extensions": "update extensions",
    "set": "set memory_limit = '100GB'",
    "reset": "reset memory_limit",
    "set variable": "set variable x = 1",
    "pragma": "pragma enable_profiling",
    "call": "call pragma_version()",
    "checkpoint": "checkpoint",
    "vacuum": "vacuum",
    "analyze": "analyze",
    "explain": "explain select 1",
    "explain analyze": "explain analyze select 1",
    "read_csv": "select * from read_csv('/etc/passwd')",
    "a file as a table": "select * from '/etc/passwd'",
    "read_text": "select * from read_text('{path}')",
    "read_parquet": "select * from read_parquet('/tmp/*.parquet')",
    "glob": "select * from glob('/etc/*')",
    "query()": "select * from query('select 1')",
    "query_table()": "select * from query_table('runs')",
    "checkpoint()": "select * from checkpoint()",
    "nextval": "select nextval('s')",
    "setseed": "select setseed(0.5)",
    "getenv": "select getenv('HOME')",
}
READS = {"select", "from first", "values", "describe", "show", "summarize", "pivot with an in list", "unpivot",
         "recursive cte", "getenv"}  # getenv: refused by the connection (external access), not the check
WRAPPERS = {
    "alone": "{s}",
    "cte": "with t as ({s}) select * from t",
    "subquery": "select * from ({s}) as t",
    "comments": "/* read only, promise */ {s} -- see?",
    "explain": "explain {s}",
    "explain analyze": "explain analyze {s}",
    "pivot": "pivot ({s}) on 1",
    "copy of it over the warehouse": "copy ({s}) to '{path}' (format csv, use_tmp_file false)",
}
DANGEROUS = ("pivot without an in list", "copy over the warehouse", "create temp table", "update extensions",
             "checkpoint()", "query()", "merge", "select")


def folder_digest(folder: Path) -> dict[str, str]:
    return {p.name: sha256(p) for p in sorted(folder.iterdir())}


def _record(trial: int, **extra) -> dict:
    return {"trial": trial, "status": "ok" if trial % 7 else "diverged", "dataset": ("digits", "shapes")[trial % 2],
            "test_accuracy": None if trial % 7 == 0 else 0.5 + trial / 100, "epochs": 2,
            "hyperparameters": {"optimizer": ("adam", "sgd")[trial % 2], "learning_rate": 0.01 * (trial + 1)},
            "curve": [{"epoch": e, "val_accuracy": 0.3 * e} for e in (1, 2)], **extra}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sql") / "warehouse.duckdb"
    with store.write(path) as con:
        types = {"optimizer": "text", "learning_rate": "float"}
        ensemble = store.create_study(con, name="ens", kind="ensemble", search_space=None, settings={},
                                          seed=1, param_types=types)
        store.insert_runs(con, ensemble, [_record(t) for t in range(20)])
        sweep = store.create_study(con, name="sweep", kind="bohb", search_space=None, settings={}, seed=2,
                                       param_types=types)
        plan = [(1, 1, 0, 3, 1.0), (1, 1, 1, 1, 3.0), (2, 0, 0, 2, 3.0)]  # bracket, s, round, configs, budget
        con.executemany("insert into sweep_plan values (?, ?, ?, ?, ?, ?)", [(sweep, *row) for row in plan])
        evaluations = [(1, 1, 0, 1.0)] * 3 + [(1, 1, 1, 3.0), (2, 0, 0, 3.0), (2, 0, 0, 3.0)]
        store.insert_runs(con, sweep, [
            _record(20 + i, bracket=b, bracket_s=s, round=r, budget=budget, loss=0.5 - i / 100)
            for i, (b, s, r, budget) in enumerate(evaluations)])
    return path


@pytest.fixture
def copy(built, tmp_path) -> Path:
    target = tmp_path / "warehouse.duckdb"
    shutil.copy(built, target)
    return target


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_example_answers(built, name):
    frame, truncated = run_query(built, EXAMPLES[name])
    assert frame.height > 0 and not truncated


def test_examples_agree_with_direct_sql(built):
    frame, _ = run_query(built, EXAMPLES["Networks per study and status"])
    direct = sql(built, "select s.name, r.status, count(*) from runs r join studies s using (study_id) "
                        "group by all order by all")
    assert frame.select("study", "status", "networks").rows() == direct
    frame, _ = run_query(built, EXAMPLES["Hyperband brackets: evaluations per round"])
    planned_vs_run = [(1, 0, 3, 3), (1, 1, 1, 1), (2, 0, 2, 2)]  # bracket, round, planned, evaluated
    assert frame.select("bracket", "round", "planned", "evaluations").rows() == planned_vs_run


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attacks_are_refused_and_change_nothing(copy, attack):
    before = folder_digest(copy.parent)
    with pytest.raises(QueryRefused) as refused:
        run_query(copy, ATTACKS[attack].format(path=copy))
    message = str(refused.value)
    assert "Traceback" not in message and len(message) > 40
    assert any(words in message for words in ("only reads", "one statement", "out of reach", "cannot run here",
                                              "expands into several"))
    assert folder_digest(copy.parent) == before  # the file and its folder: no wal, no tmp, no export
    assert not OUTSIDE.exists()


def test_the_refusal_keeps_duckdbs_reason(copy):
    with pytest.raises(QueryRefused, match=r"(?s)could not parse.*Parser Error"):
        run_query(copy, "selec 1")
    with pytest.raises(QueryRefused, match=r"holds 2 \(SELECT, DROP\)"):
        run_query(copy, "select 1; drop table runs")


@pytest.mark.parametrize("query", ["", "   \n", "-- just a comment", ";"])
def test_empty_query_says_so(built, query):
    with pytest.raises(QueryRefused, match="empty"):
        run_query(built, query)


def test_mistakes_are_explained(built):
    with pytest.raises(QueryRefused, match=r"(?s)could not parse.*Parser Error"):
        run_query(built, "selec 1")
    with pytest.raises(QueryRefused, match=r"(?s)does not exist.*Catalog Error"):
        run_query(built, "from no_such_table")


def test_schema_questions_are_allowed(built):
    assert "test_accuracy" in run_query(built, "describe runs").table["column_name"].to_list()
    assert "run_details" in run_query(built, "show tables").table["name"].to_list()
    pivoted = run_query(built, "pivot (select dataset, status from runs) on status in ('ok', 'diverged')").table
    assert set(pivoted.columns) == {"dataset", "ok", "diverged"}
    with pytest.raises(QueryRefused, match=r"expands into several.*in \('ok'"):  # DuckDB's parser says MULTI
        run_query(built, "pivot (select dataset, status from runs) on status")


def test_results_are_truncated_at_max_rows(built):
    frame, truncated = run_query(built, "select * from range(100)", max_rows=10)
    assert frame["range"].to_list() == list(range(10)) and truncated == "rows"
    frame, truncated = run_query(built, "select * from range(10)", max_rows=10)
    assert frame.height == 10 and truncated is None
    start = time.monotonic()  # the limit is part of the plan: a trillion rows never materialize
    frame, truncated = run_query(built, "select * from range(1000000000000)", max_rows=5)
    assert frame.height == 5 and truncated == "rows" and time.monotonic() - start < 5


def test_results_are_truncated_at_max_bytes_before_they_reach_this_process(built):
    frame, truncated = run_query(built, "select i, repeat('x', 100000) as s from range(20000) t(i)")
    assert truncated == "bytes" and 0 < frame.height < 20000
    assert frame["i"].to_list() == list(range(frame.height))  # the first rows, in order, none dropped between
    assert frame.estimated_size() <= MAX_BYTES
    with pytest.raises(QueryRefused, match="single row of the answer is larger"):
        run_query(built, "select repeat('x', 2000000) as s", max_bytes=1_000_000)


def test_columns_nothing_downstream_can_hold_come_back_as_text(built):
    frame, _ = run_query(built, "select interval 1 day as waited, 2 as n, [1, 2] as l, {'a': 1} as s, 'x'::blob as b, "
                                "'infinity'::timestamp as forever, '-infinity'::date as never, "
                                "'infinity'::timestamp_ns as ns, timestamp '2024-05-01 12:00' as t, 1 as n")
    assert frame.columns == ["waited", "n", "l", "s", "b", "forever", "never", "ns", "t", "n_1"]
    assert frame.row(0)[:8] == ("1 day", 2, "[1, 2]", "{'a': 1}", "x", "infinity", "-infinity", "infinity")
    assert str(frame.row(0)[8]) == "2024-05-01 12:00:00"  # finite timestamps stay timestamps
    assert "infinity" in frame.write_csv()  # the downloads the page offers work on every one of them
    frame.write_parquet(io.BytesIO())


def test_text_made_from_infinite_dates_is_cut_to_the_byte_limit_again(built):
    """Infinite timestamps become text after the byte cap was applied; text is longer, so the answer is cut
    again (it overran the file-size limit and showed an internal error)."""
    columns = ", ".join(f"t as t{i}" for i in range(20))
    frame, truncated = run_query(built, "with x as (select case when range = 0 then 'infinity'::timestamp else "
                                        "timestamp '2020-01-01' + to_seconds(range) end as t from range(10000)) "
                                        f"select {columns} from x", max_bytes=1_000_000)
    assert truncated == "bytes" and 0 < frame.height < 10000 and frame.estimated_size() <= 1_000_000
    assert frame["t0"][0] == "infinity" and frame["t19"][1] == "2020-01-01 00:00:01"


def test_thousands_of_columns_named_alike_are_answered_with_unique_names(built):
    frame, _ = run_query(built, "select " + ", ".join(["1"] * 3000) + ", 2 as \"1_1\"")
    assert frame.width == 3001 and len(set(frame.columns)) == 3001
    assert frame.columns[:3] == ["1", "1_1", "1_2"] and frame.columns[-1] == "1_1_1"


def test_a_long_query_is_stopped_at_the_time_limit(built):
    start = time.monotonic()
    with pytest.raises(QueryRefused, match="time limit of 1 s"):
        run_query(built, "select count(*) from range(1000000000) as a, range(1000000) as b", timeout_s=1)
    assert time.monotonic() - start < 5  # the query itself needs hours


def test_a_long_text_is_refused_before_it_is_parsed(built):
    in_list = "select * from runs where run_id in (" + ",".join(map(str, range(1_000_000))) + ")"
    start = time.monotonic()
    with pytest.raises(QueryRefused, match="at most 100,000"):
        run_query(built, in_list)
    assert time.monotonic() - start < 1  # DuckDB's parser needs ~26 s for it


@pytest.mark.parametrize("hog", ["select unnest(range(1000000000))", "select repeat('x', 900000000)",
                                 "select list(i) as everything from range(400000000) as t(i)"])
def test_a_memory_hog_is_stopped_at_the_memory_limit(built, hog):
    with pytest.raises(QueryRefused, match="more memory than the page allows|more than the page's"):
        run_query(built, hog)


def test_a_writer_holding_the_file_means_busy(copy):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(60)", str(copy)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        with pytest.raises(QueryRefused) as busy:
            run_query(copy, "select 1", lock_wait_s=0.5)
        assert time.monotonic() - start < 3
        assert all(words in str(busy.value) for words in ("busy", "Try again", "Could not set lock"))
    finally:
        holder.kill()
        holder.wait()
    assert run_query(copy, "select count(*) as n from runs").table["n"].to_list() == [26]  # free again


# ---- the walls one by one ------------------------------------------------------------------------


def test_the_statement_check_admits_only_reads_in_every_wrapping():
    """First wall, on its own: every statement kind DuckDB parses, alone and wrapped, is refused unless
    the test's own list says it reads."""
    parser = duckdb.connect()
    admitted = set()
    for (kind, statement), (wrapping, wrapper) in itertools.product(STATEMENTS.items(), WRAPPERS.items()):
        query = wrapper.format(s=statement.format(path="/tmp/hpw/warehouse.duckdb"), path="/tmp/hpw/warehouse.duckdb")
        try:
            check_statement(parser, query)
        except QueryRefused as refused:
            assert len(str(refused)) > 40 and "Traceback" not in str(refused)
        else:
            admitted.add((kind, wrapping))
    for kind, wrapping in admitted - {(kind, wrapping) for kind in READS for wrapping in WRAPPERS}:
        # `select * from (checkpoint) as t` is `from checkpoint`: a read of a table of that name, and no more
        assert wrapping == "subquery", (kind, wrapping)
        query = WRAPPERS[wrapping].format(s=STATEMENTS[kind])
        with pytest.raises(duckdb.CatalogException, match="Table with name .* does not exist"):
            parser.execute(query)
    assert all(wrapping in ("alone", "cte", "subquery", "comments") for _, wrapping in admitted)
    assert ("select", "alone") in admitted and ("pivot with an in list", "cte") in admitted


def test_the_snapshot_wall_holds_without_the_statement_check(copy):
    """Second wall, on its own: the issue's attack run straight on the sandbox's connection, unchecked,
    hits only the private copy; the copy is then thrown away and the next query sees the real data."""
    before = folder_digest(copy.parent)
    snapshot = SNAPSHOTS.take(copy, lock_wait_s=5)
    assert snapshot.parent != copy.parent
    con = duckdb.connect(str(snapshot), read_only=True, config={**CONNECTION_CONFIG, "memory_limit": "1GB"})
    try:
        for target in (copy, Path(f"{copy}.wal"), Path(f"{copy}.wal.checkpoint")):  # the real paths: out of reach
            with pytest.raises(duckdb.PermissionException):
                con.execute(f"copy (select 1 as a) to '{target}' (format csv, use_tmp_file false)")
        for target in (snapshot, Path(f"{snapshot}.wal.recovery")):  # its own paths: DuckDB lets it, as root
            # the copy's read-only permissions stop it (not root)
            with contextlib.suppress(duckdb.Error):
                con.execute(f"copy (select 1 as a) to '{target}' (format csv, use_tmp_file false)")
    finally:
        con.close()
    SNAPSHOTS.give_back(snapshot)
    assert folder_digest(copy.parent) == before
    assert not snapshot.exists()  # the damaged copy is gone
    assert run_query(copy, "select count(*) as n from runs").table["n"].to_list() == [26]
    assert folder_digest(copy.parent) == before


@pytest.mark.parametrize("statement", ["drop table runs", "insert into warehouse_meta values ('k', 'v')",
                                       "set enable_external_access = true", "set memory_limit = '100GB'",
                                       "attach '/tmp/hpw_sql_console_other.duckdb' as other", "install httpfs",
                                       f"copy runs to '{OUTSIDE}'", "select * from read_csv('/etc/passwd')"])
def test_the_connection_refuses_even_without_the_statement_check(copy, statement):
    """Third wall: the sandbox's connection on its own, as if the statement check had a hole."""
    snapshot = SNAPSHOTS.take(copy, lock_wait_s=5)
    before = sha256(snapshot)
    con = duckdb.connect(str(snapshot), read_only=True, config={**CONNECTION_CONFIG, "memory_limit": "1GB"})
    try:
        with pytest.raises(duckdb.Error):
            con.execute(statement)
    finally:
        con.close()
        SNAPSHOTS.give_back(snapshot)
    assert sha256(snapshot) == before and not OUTSIDE.exists()


def test_a_snapshot_is_made_once_per_version_and_old_ones_go_when_unused(copy):
    first = SNAPSHOTS.take(copy, lock_wait_s=5)
    SNAPSHOTS.give_back(first)
    again = SNAPSHOTS.take(copy, lock_wait_s=5)
    assert again == first  # no copy per query
    with store.write(copy) as con:
        con.execute("update studies set name = 'renamed' where name = 'ens'")
    assert "renamed" in run_query(copy, "select name from studies").table["name"].to_list()
    assert first.exists()  # a query still holds it (one queued while writers wrote)
    assert run_query(copy, "select count(*) as n from runs").table["n"].to_list() == [26]
    SNAPSHOTS.give_back(again)
    assert not first.exists()  # unused and old: gone


def test_queries_queued_behind_a_busy_writer_keep_their_snapshots(copy):
    """The red team's race: 4 threads querying while a writer changes the file every 50 ms failed 178 of
    205 queries with "snapshot ... does not exist" (a copy was deleted while a queued query needed it)."""
    stop = threading.Event()

    def write_often() -> None:
        while not stop.is_set():
            with store.write(copy) as con:
                con.execute("update studies set seed = seed + 1 where study_id = 1")
            time.sleep(0.05)

    def query(_) -> str:
        try:
            return str(run_query(copy, "select seed from studies order by study_id limit 1").table.height)
        except QueryRefused as refused:
            return str(refused)

    writer = threading.Thread(target=write_often)
    writer.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            outcomes = list(pool.map(query, range(24)))
    finally:
        stop.set()
        writer.join()
    assert [o for o in outcomes if o != "1" and "busy" not in o] == []


# ---- the corpus: every wall at once --------------------------------------------------------------


@pytest.mark.slow
def test_the_corpus_is_refused_or_answered_within_bounds_and_changes_no_file(copy):
    """Every statement kind alone, and the dangerous ones in every wrapping, through the whole sandbox;
    after each one, every file in the warehouse's folder is byte-identical."""
    digest = folder_digest(copy.parent)
    cases = [(kind, "alone") for kind in STATEMENTS] + \
        [(kind, wrapping) for kind in DANGEROUS for wrapping in WRAPPERS if wrapping != "alone"]
    outcomes = {}
    for kind, wrapping in cases:
        query = WRAPPERS[wrapping].format(s=STATEMENTS[kind].format(path=copy), path=copy)
        try:
            frame, _ = run_query(copy, query, max_rows=100, timeout_s=5)
        except QueryRefused as refused:
            assert "Traceback" not in str(refused)
            outcomes[kind, wrapping] = "refused"
        else:
            assert frame.height <= 100
            outcomes[kind, wrapping] = "answered"
        assert folder_digest(copy.parent) == digest, (kind, wrapping)
        assert not OUTSIDE.exists()
    answered = {kind for (kind, _), outcome in outcomes.items() if outcome == "answered"}
    assert answered <= READS and "select" in answered
    print(f"\nSQL corpus: {len(cases)} tried, {sum(o == 'refused' for o in outcomes.values())} refused, "
          f"{len(answered)} kinds answered, 0 files changed")


@pytest.mark.slow
def test_memory_of_the_app_process_stays_bounded_under_hostile_queries(built):
    """The queries of the issue that took the app to 4-8 GB, from a process that measures its own peak."""
    script = f"""
import resource, time
from pathlib import Path
from pipeline.app.sql_console import run_query, QueryRefused
hostile = ["select repeat('x', 900000000)", "select unnest(range(1000000000))",
           "select repeat('x', 100000) from range(20000)", "select list(i) from range(400000000) t(i)",
           "select * from range(1000000000000)",
           "select 1 from " + ",".join(["t"] * 49000)]  # parsing it cost the app 458 MB when the app parsed
start_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
for query in hostile * 3:
    start = time.monotonic()
    try:
        frame, _ = run_query(Path({str(built)!r}), query)
        assert frame.estimated_size() <= {MAX_BYTES}
    except QueryRefused:
        pass
    assert time.monotonic() - start < 18, query  # the 10 s limit, and a loaded machine
print(start_mb, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    start_mb, peak_mb = map(int, result.stdout.split()[-2:])
    assert peak_mb - start_mb < 150, f"the querying process grew from {start_mb} to {peak_mb} MB"


def _sql_page(monkeypatch, path) -> AppTest:
    monkeypatch.setenv(store.PATH_ENV_VAR, str(path))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    return at.switch_page("app_pages/sql.py").run()


def test_page_shows_an_example_and_refuses_a_drop(monkeypatch, copy):
    before = sha256(copy)
    at = _sql_page(monkeypatch, copy)
    assert not at.exception and not at.error
    assert at.title[0].value == "SQL"
    shown = at.dataframe[0].value
    direct = sql(copy, "select s.name, r.status, count(*) from runs r join studies s using (study_id) "
                       "group by all order by all")
    assert [tuple(row) for row in shown[["study", "status", "networks"]].itertuples(index=False)] == direct

    at.text_area(key="sql.query").set_value("drop table runs")
    at.button[0].click().run()
    assert not at.exception
    assert "DROP statements cannot run here" in at.error[0].value
    assert not at.dataframe
    assert sha256(copy) == before

    at.text_area(key="sql.query").set_value("select count(*) as n from runs where status = 'ok'")
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert at.dataframe[0].value["n"].tolist() == [sql(copy, "select count(*) from runs where status = 'ok'")[0][0]]
    assert "1 row," in " ".join(c.value for c in at.caption)


def test_page_picks_examples_and_says_when_truncated(monkeypatch, copy):
    at = _sql_page(monkeypatch, copy)
    at.selectbox(key="sql.example").set_value("Mean test accuracy per optimizer").run()
    assert not at.exception and not at.error
    assert at.text_area(key="sql.query").value == EXAMPLES["Mean test accuracy per optimizer"]
    assert set(at.dataframe[0].value["optimizer"]) == {"adam", "sgd"}
    at.text_area(key="sql.query").set_value("select * from range(20000)").run()
    assert not at.exception and not at.error
    assert len(at.dataframe[0].value) == 10_000
    assert "first 10,000 rows" in " ".join(c.value for c in at.caption)


def test_page_shows_refusals_and_odd_types_as_words_not_tracebacks(monkeypatch, copy):
    at = _sql_page(monkeypatch, copy)
    for hostile in ("update extensions", "select * from checkpoint()", "explain analyze select 1"):
        at.text_area(key="sql.query").set_value(hostile)
        at.button[0].click().run()
        assert not at.exception and "cannot run here" in at.error[0].value and "Traceback" not in at.error[0].value
    at.text_area(key="sql.query").set_value("select 'infinity'::timestamp as forever, interval 2 day as waited")
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert at.dataframe[0].value.values.tolist() == [["infinity", "2 days"]]


@pytest.mark.slow
def test_app_process_stays_small_and_answers_after_100_hostile_queries(built):
    """The SQL page, in a process of its own (AppTest runs the real page script), takes 100 hostile queries
    in a row and then answers a normal one right; its peak memory is measured from inside."""
    script = f"""
import os, resource
os.environ["HPW_WAREHOUSE"] = {str(built)!r}
from streamlit.testing.v1 import AppTest
hostile = ["select repeat('x', 900000000)", "select repeat('x', 100000) from range(20000)",
           "select unnest(range(1000000000))", "update extensions", "select * from range(1000000000000)",
           "select 'infinity'::timestamp, interval 1 day, [1, 2], 'x'::blob",
           "copy (pivot (select 1 as a, 'x' as s) on s) to '{built}' (format csv, use_tmp_file false)",
           "select * from read_text('/etc/passwd')", "select list(i) from range(400000000) t(i)",
           "select i, repeat(i::varchar, 50000) from range(300) t(i)"]
at = AppTest.from_file({str(ROOT / "app.py")!r}, default_timeout=60).run()
at = at.switch_page("app_pages/sql.py").run()
for i in range(100):
    at.text_area(key="sql.query").set_value(hostile[i % len(hostile)] + f" -- {{i}}")  # no cache hit
    at.button[0].click().run()
    assert not at.exception, (i, at.exception)
at.text_area(key="sql.query").set_value("select count(*) as n from runs where status = 'ok'")
at.button[0].click().run()
assert not at.exception and not at.error
print(at.dataframe[0].value["n"].tolist()[0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    answered, peak_mb = map(int, result.stdout.split()[-2:])
    assert answered == sql(built, "select count(*) from runs where status = 'ok'")[0][0]
    assert peak_mb < 1500, f"the app process peaked at {peak_mb} MB"
    print(f"\napp process after 100 hostile queries: peak {peak_mb} MB")
