"""The SQL page's sandbox: examples answer, attacks are refused and leave the file byte-identical.

Real DuckDB files throughout. The warehouse is built here in milliseconds (an ensemble study and a
BOHB study with plan, hyperparameters and curves), and every test that attacks it gets its own copy.
"""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from pipeline import sql_console, warehouse
from pipeline.sql_console import EXAMPLES, QueryRefused, run_query
from tests.conftest import ROOT, sha256, sql

OUTSIDE = Path("/tmp/hpw_sql_console_escape.csv")
ATTACKS = {
    "drop": "drop table runs",
    "copy": f"copy runs to '{OUTSIDE}'",
    "copy into the wal": "copy (select 1) to '{path}.wal'",
    "explain analyze copy": "explain analyze copy (select 1) to '{path}.wal'",
    "attach": "attach '/tmp/hpw_sql_console_other.duckdb' as other",
    "install": "install httpfs",
    "load": "load httpfs",
    "read a file": "select * from read_csv('/etc/passwd')",
    "glob": "select * from glob('/etc/*')",
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


def _record(trial: int, **extra) -> dict:
    return {"trial": trial, "status": "ok" if trial % 7 else "diverged", "dataset": ("digits", "shapes")[trial % 2],
            "test_accuracy": None if trial % 7 == 0 else 0.5 + trial / 100, "epochs": 2,
            "hyperparameters": {"optimizer": ("adam", "sgd")[trial % 2], "learning_rate": 0.01 * (trial + 1)},
            "curve": [{"epoch": e, "val_accuracy": 0.3 * e} for e in (1, 2)], **extra}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sql") / "warehouse.duckdb"
    with warehouse.write(path) as con:
        types = {"optimizer": "text", "learning_rate": "float"}
        ensemble = warehouse.create_study(con, name="ens", kind="ensemble", search_space=None, settings={},
                                          seed=1, param_types=types)
        warehouse.insert_runs(con, ensemble, [_record(t) for t in range(20)])
        sweep = warehouse.create_study(con, name="sweep", kind="bohb", search_space=None, settings={}, seed=2,
                                       param_types=types)
        plan = [(1, 1, 0, 3, 1.0), (1, 1, 1, 1, 3.0), (2, 0, 0, 2, 3.0)]  # bracket, s, round, configs, budget
        con.executemany("insert into sweep_plan values (?, ?, ?, ?, ?, ?)", [(sweep, *row) for row in plan])
        evaluations = [(1, 1, 0, 1.0)] * 3 + [(1, 1, 1, 3.0), (2, 0, 0, 3.0), (2, 0, 0, 3.0)]
        warehouse.insert_runs(con, sweep, [
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
    before = sha256(copy)
    with pytest.raises(QueryRefused) as refused:
        run_query(copy, ATTACKS[attack].format(path=copy))
    message = str(refused.value)
    assert "Traceback" not in message and len(message) > 40
    assert any(words in message for words in ("only reads", "one statement", "out of reach"))
    assert sha256(copy) == before
    assert sorted(p.name for p in copy.parent.iterdir()) == ["warehouse.duckdb"]  # no wal, no tmp, no export
    assert not OUTSIDE.exists()


def test_the_refusal_keeps_duckdbs_reason(copy):
    with pytest.raises(QueryRefused, match=r"(?s)out of reach.*DuckDB said: Permission Error.*/etc/passwd"):
        run_query(copy, "select * from read_csv('/etc/passwd')")
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
    assert "test_accuracy" in run_query(built, "describe runs")[0]["column_name"].to_list()
    assert "run_details" in run_query(built, "show tables")[0]["name"].to_list()
    pivoted, _ = run_query(built, "pivot (select dataset, status from runs) on status")
    assert set(pivoted.columns) == {"dataset", "ok", "diverged"}


def test_results_are_truncated_at_max_rows(built):
    frame, truncated = run_query(built, "select * from range(100)", max_rows=10)
    assert frame["range"].to_list() == list(range(10)) and truncated
    frame, truncated = run_query(built, "select * from range(10)", max_rows=10)
    assert frame.height == 10 and not truncated
    start = time.monotonic()  # the limit is part of the plan: a trillion rows never materialize
    frame, truncated = run_query(built, "select * from range(1000000000000)", max_rows=5)
    assert frame.height == 5 and truncated and time.monotonic() - start < 5


def test_types_polars_cannot_hold_come_back_as_text(built):
    frame, _ = run_query(built, "select interval 1 day as waited, 2 as n")
    assert frame.rows() == [("1 day", "2")]


def test_a_long_query_is_stopped_at_the_time_limit(built):
    start = time.monotonic()
    with pytest.raises(QueryRefused, match="time limit of 0.5 s"):
        run_query(built, "select count(*) from range(1000000000) as a, range(1000000) as b", timeout_s=0.5)
    assert time.monotonic() - start < 5  # the query itself needs hours


def test_a_memory_hog_is_stopped_at_the_memory_limit(built):
    with pytest.raises(QueryRefused, match=r"(?s)memory limit of 1GB.*Out of Memory"):
        run_query(built, "select list(i) as everything from range(400000000) as t(i)")


def test_a_writer_holding_the_file_means_busy(copy):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(60)", str(copy)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        with pytest.raises(QueryRefused, match=r"(?s)busy.*Try again.*Could not set lock"):
            run_query(copy, "select 1", lock_wait_s=0.5)
        assert time.monotonic() - start < 3
    finally:
        holder.kill()
        holder.wait()
    assert run_query(copy, "select count(*) as n from runs")[0]["n"].to_list() == [26]  # free again


def _sql_page(monkeypatch, path) -> AppTest:
    monkeypatch.setenv(warehouse.PATH_ENV_VAR, str(path))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    return at.switch_page("pages/sql.py").run()


def test_page_shows_an_example_and_refuses_a_drop(monkeypatch, copy):
    before = sha256(copy)
    at = _sql_page(monkeypatch, copy)
    assert not at.exception and not at.error
    assert at.title[0].value == "SQL"
    shown = at.dataframe[0].value
    direct = sql(copy, "select s.name, r.status, count(*) from runs r join studies s using (study_id) "
                       "group by all order by all")
    assert [tuple(row) for row in shown[["study", "status", "networks"]].itertuples(index=False)] == direct

    at.text_area(key="sql_query").set_value("drop table runs")
    at.button[0].click().run()
    assert not at.exception
    assert "DROP statements cannot run here" in at.error[0].value
    assert not at.dataframe
    assert sha256(copy) == before

    at.text_area(key="sql_query").set_value("select count(*) as n from runs where status = 'ok'")
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert at.dataframe[0].value["n"].tolist() == [sql(copy, "select count(*) from runs where status = 'ok'")[0][0]]
    assert "1 row," in " ".join(c.value for c in at.caption)


def test_page_picks_examples_and_says_when_truncated(monkeypatch, copy):
    at = _sql_page(monkeypatch, copy)
    at.selectbox(key="sql_example").set_value("Mean test accuracy per optimizer").run()
    assert not at.exception and not at.error
    assert at.text_area(key="sql_query").value == EXAMPLES["Mean test accuracy per optimizer"]
    assert set(at.dataframe[0].value["optimizer"]) == {"adam", "sgd"}
    at.text_area(key="sql_query").set_value("select * from range(20000)").run()
    assert not at.exception and not at.error
    assert len(at.dataframe[0].value) == 10_000
    assert "first 10,000 rows" in " ".join(c.value for c in at.caption)


@pytest.mark.parametrize("statement", ["drop table runs", "insert into warehouse_meta values ('k', 'v')",
                                       "set enable_external_access = true", "set memory_limit = '100GB'",
                                       "attach '/tmp/hpw_sql_console_other.duckdb' as other", "install httpfs",
                                       f"copy runs to '{OUTSIDE}'", "select * from read_csv('/etc/passwd')"])
def test_the_connection_refuses_even_without_the_statement_check(copy, statement):
    """Second wall: the sandboxed connection on its own, as if the statement check had a hole."""
    before = sha256(copy)
    con = sql_console._connect(copy, lock_wait_s=1)
    try:
        with pytest.raises(duckdb.Error):
            con.execute(statement)
    finally:
        con.close()
    assert sha256(copy) == before and not OUTSIDE.exists()
