"""The committed demo warehouse, restored as a user restores it."""

import pytest

from pipeline import demo
from tests.conftest import run_cli, sha256, sql


def test_demo_holds_a_real_ensemble(demo_warehouse):
    runs, datasets = sql(demo_warehouse, "select count(*), count(distinct dataset) from runs join studies "
                                         "using (study_id) where name = 'demo-ensemble'")[0]
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


def test_demo_holds_three_real_sweeps_on_one_problem(demo_warehouse):
    """BOHB, Hyperband and random search on the same space, dataset and budgets (min 1, max 81, eta 3), each two
    full Hyperband iterations (ten brackets) as hpbandster plans them, every planned evaluation run."""
    from pipeline.core import hyperband

    studies = sql(demo_warehouse, "select name, kind, search_space, settings->>'dataset', settings->>'min_budget', "
                                  "settings->>'max_budget', settings->>'eta' from studies where kind <> 'ensemble' "
                                  "order by name")
    assert [(name, kind) for name, kind, *_ in studies] == [
        ("demo-bohb", "bohb"), ("demo-hyperband", "hyperband"), ("demo-random-search", "random_search")]
    assert len({tuple(problem) for _, _, *problem in studies}) == 1  # one space, dataset and budgets
    for name, kind, *_ in studies:
        plan = hyperband.plan(1, 81, 3, 10, optimizer=kind)
        planned = sql(demo_warehouse, "select bracket, bracket_s, round, configs, budget from sweep_plan "
                                      "join studies using (study_id) where name = ? order by 1, 3", [name])
        assert planned == [(r.bracket, r.s, r.round, r.configs, r.budget) for r in plan]
        done = sql(demo_warehouse, "select bracket, bracket_s, round, count(*), any_value(budget) from runs "
                                   "join studies using (study_id) where name = ? group by all order by 1, 3", [name])
        assert done == planned
    sampled = dict(sql(demo_warehouse, "select name, list(distinct sampled_as order by sampled_as) from runs "
                                       "join studies using (study_id) where kind <> 'ensemble' group by name"))
    assert sampled == {"demo-bohb": ["model_based", "promoted", "random"], "demo-hyperband": ["promoted", "random"],
                       "demo-random-search": ["random"]}


@pytest.mark.parametrize("args,words", [
    (["-m", "pipeline.demo", "restore", "--only", "sweeps"], "--only goes with build"),
    (["-m", "pipeline.demo", "export", "--only", "ensemble"], "--only goes with build"),
    (["-m", "pipeline.demo", "build", "--only", "everything"], "invalid choice: 'everything'"),
    (["-m", "pipeline.bohb", "schedule", "--min-budget", "1", "--max-budget", "9", "--optimizer", "nope"],
     "invalid choice: 'nope'"),
])
def test_bad_flags_are_refused_in_words_and_write_nothing(demo_warehouse, tmp_path, args, words):
    before = {p.name: sha256(p) for p in demo_warehouse.parent.iterdir()}
    result = run_cli(*args, "--warehouse", str(demo_warehouse)) if "demo" in args[1] else run_cli(*args)
    assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr
    assert {p.name: sha256(p) for p in demo_warehouse.parent.iterdir()} == before
