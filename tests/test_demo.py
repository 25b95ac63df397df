"""The committed demo warehouse, restored as a user restores it."""

from pipeline import demo
from tests.conftest import run_cli, sha256, sql


def test_demo_holds_a_real_ensemble(demo_warehouse):
    runs, datasets = sql(demo_warehouse, "select count(*), count(distinct dataset) from runs")[0]
    assert runs >= 1000 and datasets >= 3
    for table in demo.TABLES:
        parquet = sql(demo_warehouse, f"select count(*) from read_parquet('{demo.DEMO_DIR / table}.parquet')")
        assert sql(demo_warehouse, f"select count(*) from {table}") == parquet
    assert sql(demo_warehouse, "select count(*) from runs r anti join hyperparameters h using (run_id)") == [(0,)]
    assert sql(demo_warehouse, "select count(*) from study_demo_ensemble") == [(runs,)]


def test_restore_never_overwrites(demo_warehouse):
    before = sha256(demo_warehouse)
    result = run_cli("-m", "pipeline.demo", "restore", "--warehouse", str(demo_warehouse))
    assert result.returncode == 0 and "exists already" in result.stderr
    assert sha256(demo_warehouse) == before


def test_restore_from_an_incomplete_export_fails_cleanly(tmp_path):
    target = tmp_path / "w.duckdb"
    result = run_cli("-m", "pipeline.demo", "restore", "--folder", str(tmp_path), "--warehouse", str(target))
    assert result.returncode == 2 and "lacks studies, runs, hyperparameters, curves" in result.stderr
    assert not target.exists()


def test_export_and_restore_through_paths_with_a_quote_and_a_space(tiny_warehouse, tmp_path):
    """The export's target path goes to DuckDB's `copy ... to` as a parameter, not spliced into the SQL."""
    folder = tmp_path / "it's an export"
    folder.mkdir()
    demo.export(tiny_warehouse, folder)
    target = tmp_path / "o'clock dir" / "w 'x.duckdb"
    target.parent.mkdir()
    demo.restore(folder, target)
    for table in demo.TABLES:
        assert sql(target, f"select count(*) from {table}") == sql(tiny_warehouse, f"select count(*) from {table}")
