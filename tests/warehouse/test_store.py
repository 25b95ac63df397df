"""Warehouse invariants as SQL, atomic writes, documentation inside the database."""

import duckdb
import pytest

from pipeline.warehouse import store
from tests.conftest import ROOT, sha256, sql


def test_ids_are_unique_and_every_run_is_complete(tiny_warehouse):
    assert sql(tiny_warehouse, "select count(*), count(distinct run_id) from runs") == [(24, 24)]
    assert sql(tiny_warehouse, """select count(*) from (select study_id, trial from runs
                                  group by all having count(*) > 1)""") == [(0,)]
    assert sql(tiny_warehouse, """select count(*) from (select run_id, name from hyperparameters
                                  group by all having count(*) > 1)""") == [(0,)]
    # no run without its hyperparameters, no orphan hyperparameter or curve point
    assert sql(tiny_warehouse, "select count(*) from runs r anti join hyperparameters h using (run_id)") == [(0,)]
    assert sql(tiny_warehouse, "select count(*) from hyperparameters h anti join runs r using (run_id)") == [(0,)]
    assert sql(tiny_warehouse, "select count(*) from curves c anti join runs r using (run_id)") == [(0,)]
    # every ok run has one curve point per completed epoch
    assert sql(tiny_warehouse, """
        select count(*) from runs r left join (select run_id, count(*) n from curves group by run_id) c using (run_id)
        where r.status = 'ok' and coalesce(c.n, 0) != r.epochs""") == [(0,)]


def test_accepted_values_and_not_nulls(tiny_warehouse):
    assert sql(tiny_warehouse, "select count(*) from runs where status not in ('ok', 'diverged', 'failed')") == [(0,)]
    assert sql(tiny_warehouse, """select count(*) from runs where status = 'ok' and (test_accuracy is null
        or test_accuracy not between 0 and 1 or parameter_count is null or flops_per_sample is null
        or inference_ms_per_image is null or wall_seconds is null or seed is null or device is null)""") == [(0,)]
    assert sql(tiny_warehouse, "select count(*) from runs where status = 'failed' and error is null") == [(0,)]
    assert sql(tiny_warehouse, "select distinct dataset from runs order by 1") == [
        ("digits",), ("gratings",), ("shapes",)]
    # 12 hyperparameters per run (the space's 13 less dataset, which is a column of runs)
    assert sql(tiny_warehouse, "select distinct count(*) from hyperparameters group by run_id") == [(12,)]


def test_hyperparameters_are_queryable_as_numbers_and_text(tiny_warehouse):
    by_num = sql(tiny_warehouse, "select count(*) from hyperparameters where name = 'batch_size' and value_num >= 128")
    by_text = sql(tiny_warehouse, "select count(*) from hyperparameters "
                                  "where name = 'batch_size' and value in ('128', '256')")
    assert by_num == by_text
    assert sql(tiny_warehouse, "select count(*) from hyperparameters "
                               "where name = 'optimizer' and value_num is not null") == [(0,)]


def test_study_view_pivots_wide_with_types(tiny_warehouse):
    rows = sql(tiny_warehouse, "select count(*), count(learning_rate), count(batch_norm) from study_tiny")
    assert rows == [(24, 24, 24)]
    types = dict(sql(tiny_warehouse, "select column_name, data_type from duckdb_columns() "
                                     "where table_name = 'study_tiny'"))
    assert types["learning_rate"] == "DOUBLE" and types["batch_size"] == "BIGINT"
    assert types["batch_norm"] == "BOOLEAN" and types["optimizer"] == "VARCHAR"
    direct = sql(tiny_warehouse, """select r.run_id, h.value_num from runs r join hyperparameters h using (run_id)
                                    where h.name = 'learning_rate' order by 1""")
    assert sql(tiny_warehouse, "select run_id, learning_rate from study_tiny order by 1") == direct


def test_schema_is_documented_inside_the_database(tiny_warehouse):
    tables = dict(sql(tiny_warehouse, "select table_name, comment from duckdb_tables()"))
    assert all(tables[t] for t in ("studies", "runs", "hyperparameters", "curves"))
    undocumented = sql(tiny_warehouse, """select table_name, column_name from duckdb_columns()
        where table_name in ('studies', 'runs', 'hyperparameters', 'curves', 'sweep_plan') and comment is null""")
    assert undocumented == []


def test_readme_documents_every_column(tiny_warehouse):
    readme = (ROOT / "README.md").read_text()
    columns = sql(tiny_warehouse, """select table_name, column_name from duckdb_columns()
        where table_name in ('studies', 'runs', 'hyperparameters', 'curves', 'sweep_plan')""")
    assert [c for c in columns if f"| `{c[1]}` |" not in readme] == []


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    path = tmp_path / "w.duckdb"
    with store.write(path) as con:
        study_id = store.create_study(con, name="s", kind="ensemble", search_space=None, settings={},
                                          seed=0, param_types={})
    before = sha256(path)
    good = {"trial": 0, "status": "ok", "hyperparameters": {"a": 1}, "curve": [{"epoch": 1}]}
    with pytest.raises(duckdb.ConstraintException), store.write(path) as con:
        store.insert_runs(con, study_id, [good])
        store.insert_runs(con, study_id, [good])  # same trial again: unique (study_id, trial)
    assert sql(path, "select count(*) from runs") == [(0,)]
    assert sql(path, "select count(*) from hyperparameters") == [(0,)]
    assert sha256(path) == before


def test_not_a_warehouse_is_refused_and_left_alone(tmp_path):
    text = tmp_path / "notes.duckdb"
    text.write_text("not a database")
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).execute("create table t (x int)").close()
    for path, message in ((text, "cannot be opened as a DuckDB database"), (other, "not an experiment warehouse")):
        before = sha256(path)
        with pytest.raises(store.WarehouseError, match=message), store.write(path):
            pass
        assert sha256(path) == before
