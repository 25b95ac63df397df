"""The per-study wide hyperparameter tables agree with the long table after every kind of write."""

import duckdb
import pytest

from pipeline.warehouse import store, wide
from tests.conftest import run_cli, sha256, sql


def disagreements(path, study_id: int) -> list:
    """Cells of wide.study_<id> that differ from the long hyperparameters table, by a direct join per column."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        table = f"wide.study_{study_id}"
        bad = con.execute(f"""select count(*) from (select run_id from runs where study_id = ?) r
                              full join {table} w on w.run_id = r.run_id
                              where r.run_id is null or w.run_id is null""", [study_id]).fetchall()[0][0]
        found = [("rows not of the study or missing", bad)] if bad else []
        kinds = dict(con.execute("select column_name, data_type from duckdb_columns() where schema_name = 'wide' "
                                 "and table_name = ? and column_name <> 'run_id'", [f"study_{study_id}"]).fetchall())
        long_names = {n for (n,) in con.execute("select distinct name from hyperparameters join runs using (run_id) "
                                                "where study_id = ?", [study_id]).fetchall()}
        if long_names != set(kinds):
            found.append(("columns", sorted(long_names ^ set(kinds))))
        for name, kind in kinds.items():
            source = "value_num" if kind == "DOUBLE" else "value"
            differ = con.execute(f"""
                select count(*) from {table} w
                left join (select run_id, {source} as v from hyperparameters where name = ?) h using (run_id)
                where w."{name}" is distinct from h.v""", [name]).fetchall()[0][0]
            if differ:
                found.append((name, differ))
        return found
    finally:
        con.close()


def record(trial: int, **hyperparameters) -> dict:
    return {"trial": trial, "status": "ok", "dataset": "digits", "test_accuracy": 0.5,
            "hyperparameters": hyperparameters, "curve": []}


def new_study(path, name="s") -> int:
    with store.write(path) as con:
        return store.create_study(con, name=name, kind="ensemble", search_space=None, settings={}, seed=0,
                                      param_types={})


def write(path, study_id: int, records: list[dict]) -> None:
    with store.write(path) as con:
        store.insert_runs(con, study_id, records)


def test_ensemble_study_is_wide_exactly_as_long(tiny_warehouse):
    assert disagreements(tiny_warehouse, 1) == []
    assert sql(tiny_warehouse, "select count(*), count(distinct run_id) from wide.study_1") == [(24, 24)]
    # types follow the values: numbers are double, options text
    kinds = dict(sql(tiny_warehouse, "select column_name, data_type from duckdb_columns() where schema_name = 'wide'"))
    assert kinds["learning_rate"] == "DOUBLE" and kinds["optimizer"] == "VARCHAR" and kinds["batch_norm"] == "VARCHAR"


def test_appends_then_rebuilds_when_a_name_or_text_is_new(tmp_path):
    path = tmp_path / "w.duckdb"
    study_id = new_study(path)
    other = new_study(path, "other")  # runs of another study in between must not leak in
    assert sql(path, f"select count(*) from wide.study_{study_id}") == [(0,)]
    write(path, study_id, [record(0, lr=0.1, act="relu"), record(1, lr=0.01, act="tanh")])
    write(path, other, [record(0, depth=3)])
    write(path, study_id, [record(2, lr=0.5, act="relu"), record(3, act="gelu")])  # appended; lr inactive in 3
    assert sql(path, f'select run_id, lr, act from wide.study_{study_id} order by run_id') == [
        (1, 0.1, "relu"), (2, 0.01, "tanh"), (4, 0.5, "relu"), (5, None, "gelu")]
    assert disagreements(path, study_id) == [] and disagreements(path, other) == []

    write(path, study_id, [record(4, lr=0.2, act="relu", width=64)])  # a new name: rebuilt with the column
    assert sql(path, f"select count(*), count(width) from wide.study_{study_id}") == [(5, 1)]
    write(path, study_id, [record(5, lr="auto", act="relu")])  # text where lr held numbers: lr becomes text
    assert sql(path, "select data_type from duckdb_columns() where schema_name = 'wide' and column_name = 'lr'") == [
        ("VARCHAR",)]
    assert disagreements(path, study_id) == [] and disagreements(path, other) == []


def test_names_that_cannot_be_columns_are_refused_and_nothing_is_written(tmp_path):
    path = tmp_path / "w.duckdb"
    study_id = new_study(path)
    write(path, study_id, [record(0, lr=0.1)])
    before = sha256(path)
    refused = (({"lr": 0.1, "LR": 0.2}, "differ only in case"), ({"run_id": 3}, "taken by the run_id column"))
    for bad, message in refused:
        with pytest.raises(store.WarehouseError, match=f"nothing written, study {study_id}: .*{message}.*; rename it$"):
            write(path, study_id, [record(1, **bad)])
        assert sha256(path) == before
    assert sql(path, "select count(*) from runs") == [(1,)]


def test_an_older_warehouse_is_explained_and_upgraded_in_place(tmp_path):
    path = tmp_path / "w.duckdb"
    study_id = new_study(path)
    write(path, study_id, [record(t, lr=0.1 * t, act="relu") for t in range(5)])
    con = duckdb.connect(str(path))  # what version 1 of this code left: no wide tables
    con.execute("drop schema wide cascade")
    con.execute("update warehouse_meta set value = '1' where key = 'schema_version'")
    con.close()
    before = sha256(path)
    with pytest.raises(store.WarehouseError, match="python -m pipeline.warehouse upgrade"), store.read(path):
        pass
    assert sha256(path) == before

    done = run_cli("-m", "pipeline.warehouse", "upgrade", "--warehouse", str(path))
    assert done.returncode == 0, done.stderr
    assert sql(path, "select value from warehouse_meta where key = 'schema_version'") == [(store.SCHEMA_VERSION,)]
    assert disagreements(path, study_id) == []
    assert sql(path, f"select count(*) from wide.study_{study_id}") == [(5,)]


def test_upgrade_of_a_missing_file_says_so_and_creates_nothing(tmp_path):
    path = tmp_path / "absent.duckdb"
    done = run_cli("-m", "pipeline.warehouse", "upgrade", "--warehouse", str(path))
    assert done.returncode == 2 and "no warehouse at" in done.stderr
    assert not path.exists()


def test_columns_name_a_studys_hyperparameters_and_their_kind(tiny_warehouse):
    with store.read(tiny_warehouse) as con:
        found = wide.columns(con, 1)
        assert wide.columns(con, 99) is None
    names = sql(tiny_warehouse, "select distinct name from hyperparameters order by name")
    assert [name for name, _ in found] == [name for (name,) in names]
    assert ("learning_rate", True) in found and ("optimizer", False) in found
