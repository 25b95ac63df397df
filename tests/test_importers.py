"""The importers: a real hpbandster sweep's log and generated per-network tables, checked by SQL."""

import json
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from pipeline import importers
from pipeline.benchmarks.planted_study import network_table
from pipeline.benchmarks.table_import import write_network_table
from tests.conftest import run_cli, sha256, sql
from tests.hpbandster_logs import import_log, run_tiny_bohb, tiny_result


@pytest.fixture(scope="module")
def bohb_log(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("bohb-log")
    run_tiny_bohb(directory)
    return directory


def lines(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines()]


def parse_id(text: str) -> tuple:
    return tuple(int(x) for x in text.strip("()").split(","))


def test_log_import_matches_hpbandsters_own_reading(bohb_log, tmp_path):
    from hpbandster.core.result import logged_results_to_HBS_result

    wh = tmp_path / "w.duckdb"
    import_log(bohb_log, wh)
    result = logged_results_to_HBS_result(str(bohb_log))
    runs = result.get_all_runs()
    assert sql(wh, "select count(*) from runs") == [(len(runs),)] == [(20,)]
    assert dict(sql(wh, "select budget, count(*) from runs group by budget")) == Counter(r.budget for r in runs)
    failed = {(str(r.config_id), r.budget) for r in runs if r.loss is None}
    assert set(sql(wh, "select config_id, budget from runs where status = 'failed'")) == failed and len(failed) == 3
    assert sql(wh, "select count(*) from runs where status = 'failed' "
                   "and error not like '%failing on purpose%'") == [(0,)]
    assert sql(wh, """select config_id from runs where budget = (select max(budget) from runs) and status = 'ok'
                      order by loss limit 1""") == [(str(result.get_incumbent_id()),)]
    # the loss and the accuracy from info["test accuracy"], as logged
    losses = {(str(r.config_id), r.budget): r.loss for r in runs if r.loss is not None}
    for config_id, budget, loss, accuracy in sql(wh, "select config_id, budget, loss, test_accuracy from runs "
                                                     "where status = 'ok'"):
        assert loss == losses[config_id, budget] and accuracy == pytest.approx(1 / (1 + loss))
    # trial = line of results.json; timestamps are naive UTC
    logged = lines(bohb_log / "results.json")
    assert sql(wh, "select trial, config_id, budget from runs order by trial") == [
        (i, str(tuple(line[0])), line[1]) for i, line in enumerate(logged)]
    first_submitted = datetime.fromtimestamp(logged[0][2]["submitted"], UTC).replace(tzinfo=None)
    assert sql(wh, "select submitted_at from runs where trial = 0") == [(first_submitted,)]


def test_log_import_derives_hyperband_facts_and_keeps_inactive_parameters_absent(bohb_log, tmp_path):
    from hpbandster.core.result import logged_results_to_HBS_result

    wh = tmp_path / "w.duckdb"
    import_log(bohb_log, wh)
    mapping = logged_results_to_HBS_result(str(bohb_log)).get_id2config_mapping()
    budgets = [1.0, 3.0, 9.0]
    rows = sql(wh, "select config_id, bracket, bracket_s, round, round_index, budget, sampled_as from runs")
    for config_id, bracket, s, round_, index, budget, sampled in rows:
        cid = parse_id(config_id)
        assert bracket == cid[0] and s == 2 - bracket % 3
        assert budget == budgets[3 - 1 - s + round_]
        if round_ == 0:
            assert index == cid[2]  # every sampled configuration runs in round 0
            assert sampled == ("model_based" if mapping[cid]["config_info"]["model_based_pick"] else "random")
        else:
            assert sampled == "promoted"
    # every round holds the plan's number of configurations, at positions 0..n-1
    assert sql(wh, "select bracket, bracket_s, round, configs, budget from sweep_plan order by 1, 3") == [
        (0, 2, 0, 9, 1.0), (0, 2, 1, 3, 3.0), (0, 2, 2, 1, 9.0),
        (1, 1, 0, 3, 3.0), (1, 1, 1, 1, 9.0),
        (2, 0, 0, 3, 9.0)]
    assert sql(wh, """select count(*) from (select bracket, round, count(*) as n, count(distinct round_index) as d,
                          max(round_index) as m from runs group by all) as r
                      join sweep_plan as p using (bracket, round) where r.n <> p.configs or r.d <> r.n or r.m <> r.n - 1
                   """) == [(0,)]
    # momentum exists exactly where optimizer is sgd; adam runs have no momentum row (not a zero)
    with_momentum = {str(cid) for cid, v in mapping.items() if "momentum" in v["config"]}
    assert {row[0] for row in sql(wh, """select r.config_id from runs as r join hyperparameters as h using (run_id)
                                         where h.name = 'momentum'""")} == {c for (c, *_) in rows if c in with_momentum}
    assert sql(wh, "select count(*) from study_theirs where optimizer = 'adam' and momentum is not null") == [(0,)]
    assert sql(wh, "select count(*) > 0 from study_theirs where optimizer = 'adam'") == [(True,)]
    types = dict(sql(wh, "select column_name, data_type from duckdb_columns() where table_name = 'study_theirs'"))
    assert (types["lr"], types["layers"], types["optimizer"], types["momentum"]) == (
        "DOUBLE", "BIGINT", "VARCHAR", "DOUBLE")
    kind, settings = sql(wh, "select kind, settings from studies")[0]
    settings = json.loads(settings)
    assert kind == "import" and (settings["min_budget"], settings["max_budget"], settings["eta"]) == (1, 9, 3)
    assert settings["sha256"]["results.json"] == sha256(bohb_log / "results.json")


def test_reimport_adds_only_new_evaluations_of_a_growing_log(bohb_log, tmp_path, capsys):
    live, wh = tmp_path / "live", tmp_path / "w.duckdb"
    live.mkdir()
    shutil.copy(bohb_log / "configs.json", live)
    text = (bohb_log / "results.json").read_text()
    head, last = text[: text.rstrip("\n").rfind("\n") + 1], text[text.rstrip("\n").rfind("\n") + 1:]
    (live / "results.json").write_text(head + last[:20])  # the logger is halfway through the last line
    import_log(live, wh)
    assert "still being written" in capsys.readouterr().err
    assert sql(wh, "select count(*) from runs") == [(19,)]
    (live / "results.json").write_text(text)
    import_log(live, wh)
    assert sql(wh, "select count(*), count(distinct (config_id, budget)), max(trial) from runs") == [(20, 20, 19)]
    before = sha256(wh)
    import_log(bohb_log, wh)  # the same log from elsewhere: nothing new, nothing written
    assert "nothing to do" in capsys.readouterr().err
    assert sha256(wh) == before


def test_reimport_refreshes_round_positions_and_the_study_view(tmp_path):
    """Hand-written live log: a round's results arrive out of order (parallel workers), and the
    conditional momentum is first sampled after the first import."""
    log, wh = tmp_path / "log", tmp_path / "w.duckdb"
    log.mkdir()
    times = {"submitted": 1.7e9, "started": 1.7e9 + 1, "finished": 1.7e9 + 5}
    configs = [[[0, 0, 0], {"optimizer": "adam"}, {"model_based_pick": False}],
               [[0, 0, 1], {"optimizer": "adam"}, {"model_based_pick": False}],
               [[0, 0, 2], {"optimizer": "sgd", "momentum": 0.9}, {"model_based_pick": True}]]
    results = [[[0, 0, 1], 1.0, times, {"loss": 0.25, "info": {"accuracy": 0.75}}, None],
               [[0, 0, 0], 1.0, times, {"loss": 0.5, "info": {}}, None],
               [[0, 0, 2], 1.0, times, {"loss": 0.125, "info": {}}, None]]

    def write_log(n_configs: int, n_results: int) -> None:
        (log / "configs.json").write_text("".join(json.dumps(c) + "\n" for c in configs[:n_configs]))
        (log / "results.json").write_text("".join(json.dumps(r) + "\n" for r in results[:n_results]))

    write_log(2, 1)
    import_log(log, wh, "hand", "--min-budget", "1", "--max-budget", "9", "--eta", "3")
    assert sql(wh, "select config_id, round_index, sampled_as, test_accuracy, wall_seconds from runs") == [
        ("(0, 0, 1)", 0, "random", 0.75, 4.0)]
    write_log(3, 3)
    import_log(log, wh, "hand")
    assert sql(wh, "select config_id, trial, round_index, sampled_as from runs order by trial") == [
        ("(0, 0, 1)", 0, 1, "random"), ("(0, 0, 0)", 1, 0, "random"), ("(0, 0, 2)", 2, 2, "model_based")]
    assert sql(wh, "select optimizer, momentum from study_hand order by trial") == [
        ("adam", None), ("adam", None), ("sgd", 0.9)]
    assert sql(wh, "select count(*) from duckdb_views() where view_name like 'study_hand%'") == [(1,)]


def reporting_result(config, budget, config_id) -> dict:
    """A worker that reports what real workers put in info: a diverged evaluation as loss 1.0 with
    info.diverged (every sgd run with lr above 0.01), and test loss, train accuracy and parameter count
    under the names hpbandster's example workers and others use."""
    if config["optimizer"] == "sgd" and config["lr"] > 0.01:
        return {"loss": 1.0, "info": {"diverged": True, "test accuracy": None, "n_params": 100 * config["layers"]}}
    good = tiny_result(config, budget, config_id)
    accuracy = good["info"]["test accuracy"]
    count = {1: "number of parameters", 2: "num_params", 3: "n_params", 4: "parameter_count"}[config["layers"]]
    return {"loss": good["loss"], "info": {"test accuracy": accuracy, "test_loss": 2 * good["loss"],
                                           "train accuracy": accuracy / 2, count: 1000 * config["layers"],
                                           "epochs": float(budget), "dataset": "digits"}}


def test_log_import_stores_diverged_evaluations_and_the_info_columns(tmp_path):
    log, wh = tmp_path / "log", tmp_path / "w.duckdb"
    log.mkdir()
    run_tiny_bohb(log, iterations=4, result=reporting_result)
    import_log(log, wh)
    logged = lines(log / "results.json")
    configs = {tuple(c[0]): c[1] for c in lines(log / "configs.json")}
    diverged = {(str(tuple(r[0])), r[1]) for r in logged if r[3] and r[3]["info"].get("diverged")}
    assert diverged, "the sweep sampled no diverging configuration; change the seed or the rule"
    assert set(sql(wh, "select config_id, budget from runs where status = 'diverged'")) == diverged
    assert sql(wh, "select count(*) from runs where status = 'diverged' and (test_accuracy is not null "
                   "or loss <> 1.0 or error not like '%diverged%')") == [(0,)]
    ok = {(str(tuple(r[0])), r[1]): r for r in logged if r[3] and not r[3]["info"].get("diverged")}
    assert sql(wh, "select count(*) from runs where status = 'ok'") == [(len(ok),)]
    for config_id, budget, test_loss, train_accuracy, parameters, epochs in sql(
            wh, "select config_id, budget, test_loss, train_accuracy, parameter_count, epochs from runs "
                "where status = 'ok'"):
        info = ok[config_id, budget][3]["info"]
        assert test_loss == info["test_loss"] and train_accuracy == info["train accuracy"]
        assert parameters == 1000 * configs[parse_id(config_id)]["layers"] and epochs == budget
    assert sql(wh, "select status, dataset, count(*) from runs where status <> 'failed' group by all order by 1") == [
        ("diverged", None, len(diverged)), ("ok", "digits", len(ok))]  # the dataset as the worker reported it
    # a diverged run keeps its parameter count; a failed one has none of these
    assert sql(wh, "select count(*) from runs where status = 'diverged' and parameter_count is null") == [(0,)]
    assert sql(wh, "select count(*) from runs where status = 'failed' and coalesce(test_loss, parameter_count, "
                   "train_accuracy, epochs) is not null") == [(0,)]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_table_import_stores_every_network(tmp_path, suffix, capsys):
    csv, parquet = write_network_table(2000, tmp_path, seed=3)
    source, wh = {"csv": csv, "parquet": parquet}[suffix], tmp_path / "w.duckdb"
    frame = network_table(2000, seed=3)
    args = ["table", str(source), "--study", "nws", "--warehouse", str(wh),
            "--map", "learning rate=learning_rate", "--map", "batch size=batch_size"]
    importers.main(args)
    assert sql(wh, "select count(*), count(*) filter (where status = 'ok') from runs") == [(2000, 2000)]
    assert sql(wh, "select kind, finished_at is not null from studies") == [("import", True)]
    assert sql(wh, "select count(*) from hyperparameters where name = 'optimizer' and value = 'adam'") == [
        (frame.filter(pl.col("optimizer") == "adam").height,)]
    assert sql(wh, "select count(*) from hyperparameters where name = 'momentum'") == [(frame["momentum"].count(),)]
    by_dataset = dict(frame["dataset"].value_counts().rows())
    assert dict(sql(wh, "select dataset, count(*) from runs group by 1")) == by_dataset
    assert sql(wh, "select sum(test_accuracy) from runs")[0][0] == pytest.approx(frame["test accuracy"].sum())
    assert sql(wh, "select count(distinct name) from hyperparameters") == [(13,)]  # 15 columns - accuracy - dataset
    # values by trial = row number, text and number as the warehouse writes them
    row = frame.row(7, named=True)
    assert sql(wh, """select learning_rate, batch_size, "batch norm", optimizer, "conv depth" from study_nws
                      where trial = 7""") == [
        (pytest.approx(row["learning rate"]), row["batch size"], row["batch norm"], row["optimizer"],
         row["conv depth"])]
    assert sql(wh, """select value, value_num from hyperparameters join runs using (run_id)
                      where trial = 7 and name in ('batch_size', 'batch norm') order by name""") == [
        (str(row["batch norm"]).lower(), float(row["batch norm"])), (str(row["batch size"]), row["batch size"])]
    types = dict(sql(wh, "select column_name, data_type from duckdb_columns() where table_name = 'study_nws'"))
    assert (types["learning_rate"], types["batch_size"], types["batch norm"], types["optimizer"]) == (
        "DOUBLE", "BIGINT", "BOOLEAN", "VARCHAR")
    # the same file again: a no-op that writes nothing; another file into the study: refused
    before = sha256(wh)
    importers.main(args)
    assert "nothing to do" in capsys.readouterr().err
    other = tmp_path / f"other.{suffix}"
    getattr(frame.head(10), f"write_{suffix}")(other)
    with pytest.raises(SystemExit) as exit_info:
        importers.main(["table", str(other), "--study", "nws", "--warehouse", str(wh)])
    assert exit_info.value.code == 2 and "exists already" in capsys.readouterr().err
    assert sha256(wh) == before


@pytest.fixture
def existing_warehouse(tmp_path) -> Path:
    """A warehouse that already holds a study, to check that refused imports leave it byte for byte."""
    wh = tmp_path / "existing.duckdb"
    small = tmp_path / "small.csv"
    network_table(20).write_csv(small)
    importers.main(["table", str(small), "--study", "small", "--warehouse", str(wh)])
    return wh


def broken_log(bohb_log: Path, tmp_path: Path, edit) -> Path:
    copy = tmp_path / "broken"
    shutil.copytree(bohb_log, copy)
    edit(copy)
    return copy


def _corrupt_line_3(copy: Path) -> None:
    text = (copy / "results.json").read_text().splitlines(keepends=True)
    text[2] = text[2][:40] + "\n"
    (copy / "results.json").write_text("".join(text))


def _drop_first_config(copy: Path) -> None:
    text = (copy / "configs.json").read_text().splitlines(keepends=True)
    (copy / "configs.json").write_text("".join(text[1:]))


BAD_LOGS = {
    "missing folder": (lambda log, tmp: tmp / "nowhere", ["is not a folder"]),
    "no results.json": (lambda log, tmp: broken_log(log, tmp, lambda c: (c / "results.json").unlink()),
                        ["results.json does not exist"]),
    "malformed line": (lambda log, tmp: broken_log(log, tmp, _corrupt_line_3),
                       ["results.json: line 3", "not valid JSON"]),
    "unknown config id": (lambda log, tmp: broken_log(log, tmp, _drop_first_config),
                          ["results.json: line 1", "config id [0, 0, 0] is not in", "configs.json"]),
}


@pytest.mark.parametrize("case", BAD_LOGS)
def test_bad_logs_are_refused_and_the_warehouse_is_untouched(case, bohb_log, tmp_path, existing_warehouse, capsys):
    make, expected = BAD_LOGS[case]
    logdir = make(bohb_log, tmp_path)
    for wh in (existing_warehouse, tmp_path / "new.duckdb"):
        before = sha256(wh)
        with pytest.raises(SystemExit) as exit_info:
            import_log(logdir, wh)
        message = capsys.readouterr().err
        assert exit_info.value.code == 2 and all(text in message for text in expected), message
        assert sha256(wh) == before  # unchanged, or still absent


def test_a_log_that_does_not_continue_the_study_is_refused(bohb_log, tmp_path, existing_warehouse, capsys):
    import_log(bohb_log, existing_warehouse)

    def other_first_evaluation(copy: Path) -> None:
        with (copy / "configs.json").open("a") as fh:
            fh.write(json.dumps([[0, 0, 99], {"optimizer": "adam", "lr": 0.01, "layers": 2}, {}]) + "\n")
        results = (copy / "results.json").read_text().splitlines(keepends=True)
        (copy / "results.json").write_text(results[0].replace("[[0, 0, 0],", "[[0, 0, 99],", 1) + "".join(results[1:]))

    other = broken_log(bohb_log, tmp_path, other_first_evaluation)
    before = sha256(existing_warehouse)
    for study, expected in (("theirs", "results.json: line 1: study 'theirs' holds config (0, 0, 0) on budget 1 "
                                       "as trial 0, so this log does not continue"),
                            ("small", "study 'small' exists and is not an hpbandster import")):
        with pytest.raises(SystemExit) as exit_info:
            import_log(other, existing_warehouse, study)
        message = capsys.readouterr().err
        assert exit_info.value.code == 2 and expected in message, message
    assert sha256(existing_warehouse) == before


BAD_TABLE_FLAGS = {
    "missing file": (["nowhere.csv"], ["nowhere.csv does not exist"]),
    "map to a missing column": (["{csv}", "--map", "lr=learning_rate"],
                                ["no column 'lr' (--map)", "its columns are: 'dataset', 'learning rate'"]),
    "missing accuracy column": (["{csv}", "--accuracy", "acc"], ["no column 'acc' (--accuracy)", "'test accuracy'"]),
    "missing params column": (["{csv}", "--params", "optimizer,depth"], ["no column 'depth' (--params)"]),
    "accuracy in percent": (["{percent}"], ["runs from", "divide percentages by 100"]),
    "malformed mapping": (["{csv}", "--map", "learning rate"], ["expected COLUMN=HYPERPARAMETER"]),
    "unknown flag": (["{csv}", "--bogus"], ["unrecognized arguments: --bogus"]),
    "names differing only in case": (["{csv}", "--map", "learning rate=OPTIMIZER"],
                                     ["'OPTIMIZER' and 'optimizer' differ only in case", "rename it with --map"]),
    "name of the run key": (["{csv}", "--map", "learning rate=run_id"], ["'run_id' is taken", "rename it"]),
}


@pytest.mark.parametrize("case", BAD_TABLE_FLAGS)
def test_bad_tables_and_flags_are_refused_and_the_warehouse_is_untouched(case, tmp_path, existing_warehouse, capsys):
    csv, _ = write_network_table(50, tmp_path)
    percent = tmp_path / "percent.csv"
    network_table(50).with_columns(pl.col("test accuracy") * 100).write_csv(percent)
    args, expected = BAD_TABLE_FLAGS[case]
    args = [a.format(csv=csv, percent=percent) if a.startswith("{") else a for a in args]
    if args[0] == "nowhere.csv":
        args[0] = str(tmp_path / "nowhere.csv")
    before = sha256(existing_warehouse)
    with pytest.raises(SystemExit) as exit_info:
        importers.main(["table", *args, "--study", "new", "--warehouse", str(existing_warehouse)])
    message = capsys.readouterr().err
    assert exit_info.value.code == 2 and all(text in message for text in expected), message
    assert sha256(existing_warehouse) == before


def test_command_line_refuses_unknown_subcommands_and_changed_budgets(bohb_log, tmp_path):
    wh = tmp_path / "w.duckdb"
    result = run_cli("-m", "pipeline.importers", "mlflow", str(bohb_log), "--study", "x", "--warehouse", str(wh))
    assert result.returncode == 2 and "invalid choice: 'mlflow'" in result.stderr and not wh.exists()
    result = run_cli("-m", "pipeline.importers", "hpbandster", str(bohb_log), "--study", "x", "--warehouse", str(wh))
    assert result.returncode == 0, result.stderr
    before = sha256(wh)
    result = run_cli("-m", "pipeline.importers", "hpbandster", str(bohb_log), "--study", "x", "--warehouse", str(wh),
                     "--eta", "2")
    assert result.returncode == 2 and "was imported with --eta 3, not 2" in result.stderr
    assert sha256(wh) == before


@pytest.mark.timeout(90)
def test_compat_fix_lets_bohb_finish_with_categoricals_and_float_budgets(tmp_path):
    """Guards pipeline.core.hpbandster_compat: without install() this sweep hangs forever (serpent cannot
    send ConfigSpace 1.x's numpy.str_ categorical values, and writes numpy 2 float budgets as
    'np.float64(...)', which the worker cannot parse), so the subprocess would hit the timeout."""
    script = ("from pathlib import Path; from tests.hpbandster_logs import run_tiny_bohb; "
              f"run_tiny_bohb(Path({str(tmp_path)!r}), iterations=2, min_budget=0.5, max_budget=4.5, eta=3)")
    result = run_cli("-c", script, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    budgets = sorted({line[1] for line in lines(tmp_path / "results.json")})
    assert budgets == pytest.approx([0.5, 1.5, 4.5])


def test_import_benchmark_prints_rows_per_second_for_both_formats(capsys):
    from pipeline.benchmarks import table_import

    table_import.main(["--rows", "500", "--repeats", "1"])
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in printed] == ["csv", "parquet"]
    assert all("rows/s median of 1" in line and "x the 100,000 rows/s target" in line for line in printed)
