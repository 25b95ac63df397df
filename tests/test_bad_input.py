"""Bad input to every command: refused with exit code 2 and a message naming the flag or file, no
traceback, nothing written (the warehouse's sha256 and its folder's listing unchanged, no file
where an attack aims). The bulk calls each command's main(argv) in this process; a handful run
the real command line to prove the no-traceback path end to end.

    .venv/bin/python -m pytest tests/test_bad_input.py
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pytest

from pipeline import bohb, demo, distributed, ensemble, importers, worker
from pipeline.benchmarks import app as app_benchmark
from pipeline.benchmarks import browser as browser_benchmark
from pipeline.benchmarks import ensemble as ensemble_benchmark
from pipeline.benchmarks import table_import
from pipeline.core import limits
from pipeline.core.space import SPACES_DIR, SpaceError, load_space
from pipeline.warehouse import __main__ as warehouse_command
from pipeline.warehouse import store
from tests.conftest import ROOT, run_cli, sha256, sql

CONFIG = [[0, 0, 0], {"lr": 0.1, "optimizer": "adam"}, {"model_based_pick": False}]
RESULT = [[0, 0, 0], 1.0, {"submitted": 1.0, "started": 2.0, "finished": 3.0}, {"loss": 0.5, "info": {}}, None]
DEEP = "[" * 100_000 + "]" * 100_000


def edited(text: str, drop=(), swap=(), add="") -> str:
    """A published space file with tables dropped, text swapped and text added."""
    for table in drop:
        text, count = re.subn(rf"^\[{table}\].*\n(?:[^\[\n].*\n|\n)*", "", text, flags=re.M)
        assert count == 1, table
    for old, new in swap:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text + add


# Spaces that parse but that the builder or trainer cannot use: every network would end `failed`.
# case -> (edit of the published space, what the message says); the file is named after the case.
ENSEMBLE_SPACE, SWEEP_SPACE = ((SPACES_DIR / f"{name}.toml").read_text() for name in ("ensemble", "bohbvis"))
UNTRAINABLE_ENSEMBLE = {
    "no learning rate": ({"drop": ["learning_rate"]}, "learning_rate is missing: use a number above 0; search it"),
    "no optimizer": ({"drop": ["optimizer"]}, 'optimizer is missing: use one of "adam"'),
    "no activation": ({"drop": ["activation"]}, 'activation is missing: use one of "relu"'),
    "no convolutions given": ({"drop": ["conv_layers"]}, "conv_layers is missing"),
    "no FC width": ({"drop": ["fc_width"]}, "fc_width is missing"),
    "unknown optimizer": ({"swap": [('"sgd_momentum"]', '"sgd_momentum", "lbfgs"]')]},
                          'optimizer = "lbfgs" cannot be used: use one of "adam", "rmsprop", "sgd_momentum"'),
    "unknown activation": ({"swap": [('"tanh"]', '"tanh", "gelu"]')]}, 'activation = "gelu" cannot be used'),
    "unknown init": ({"swap": [('"glorot_normal"]', '"glorot_normal", "he"]')]}, 'init = "he" cannot be used'),
    "unknown lr scheduler": ({"add": '\n[lr_scheduler]\nchoices = ["cosine", "step"]\n'},
                             'lr_scheduler = "step" cannot be used'),
    "even kernel": ({"swap": [("choices = [3, 5, 7]", "choices = [3, 4]")]},
                    "kernel_size = 4 cannot be used: use an odd whole number from 1 to 31"),
    "kernel beyond the 16-pixel image": ({"swap": [("choices = [3, 5, 7]", "choices = [3, 33]")]},
                                         "kernel_size = 33 cannot be used"),
    "negative conv width": ({"swap": [("choices = [4, 8, 16]", "choices = [-8, 8]")]},
                            "conv_width = -8 cannot be used"),
    "batch size 0": ({"swap": [("choices = [32, 64, 128, 256]", "choices = [0, 32]")]},
                     "batch_size = 0 cannot be used"),
    "negative learning rate": ({"swap": [("low = 1e-4\nhigh = 1e-1\nlog = true", "low = -0.1\nhigh = 0.1")]},
                               "learning_rate = -0.1 cannot be used: use a number above 0"),
    "negative momentum": ({"add": "\n[momentum]\nlow = -0.5\nhigh = 0.5\n"}, "momentum = -0.5 cannot be used"),
    "networks beyond one device": ({"swap": [("choices = [4, 8, 16]", "choices = [65536]")]},
                                   "parameters, more than 1,000,000,000; narrow its widths"),
    "learning rate only in [fixed]": ({"drop": ["learning_rate"], "add": "\n[fixed]\nlearning_rate = 0.01\n"},
                                      "[fixed] is for sweeps"),
}
UNTRAINABLE_SWEEP = {
    "no learning rate": ({"drop": ["learning_rate"]}, "learning_rate is missing: use a number above 0; search it, "
                                                      "or set it in the [fixed] table"),
    "[fixed] without conv_layers": ({"swap": [("conv_layers = 3\n", "")]}, "conv_layers is missing"),
    "[fixed] even kernel": ({"swap": [("kernel_size = 3", "kernel_size = 4")]}, "kernel_size = 4 cannot be used"),
    "[fixed] unknown init": ({"swap": [('init = "glorot_uniform"', 'init = "he"')]}, 'init = "he" cannot be used'),
    "unknown optimizer": ({"swap": [('["adam", "sgd", "rms"]', '["adam", "sgd", "rms", "lbfgs"]')]},
                          'optimizer = "lbfgs" cannot be used: use one of "adam"'),
    "negative hidden size": ({"swap": [("choices = [16, 32, 64]", "choices = [-16, 16]")]},
                             "hidden_size = -16 cannot be used"),
    "negative weight decay": ({"swap": [("low = 0.0\nhigh = 1e-3", "low = -1e-3\nhigh = 1e-3")]},
                              "weight_decay = -0.001 cannot be used"),
}


def untrainable_file(door: str, case: str) -> str:
    return f"{{bad}}/{door}-{case.replace(' ', '_')}.toml"


def write_json_lines(path: Path, *items) -> None:
    path.write_text("".join((item if isinstance(item, str) else json.dumps(item)) + "\n" for item in items))


def write_log(folder: Path, configs=(CONFIG,), results=(RESULT,)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_json_lines(folder / "configs.json", *configs)
    write_json_lines(folder / "results.json", *results)
    return folder


@pytest.fixture(scope="module")
def clean_warehouse(tmp_path_factory) -> Path:
    """A small real warehouse: one imported study."""
    folder = tmp_path_factory.mktemp("source")
    (folder / "t.csv").write_text("lr,optimizer,accuracy\n0.1,adam,0.5\n0.01,sgd,0.7\n")
    path = folder / "w.duckdb"
    importers.main(["table", str(folder / "t.csv"), "--study", "existing", "--warehouse", str(path)])
    return path


@pytest.fixture
def files(tmp_path, clean_warehouse, bad) -> dict[str, Path]:
    """A copy of the warehouse in a folder of its own, and the folder of bad files the cases point at."""
    wh = tmp_path / "wh" / "w.duckdb"
    wh.parent.mkdir()
    shutil.copy(clean_warehouse, wh)
    return {"wh": wh, "bad": bad}


@pytest.fixture(scope="module")
def bad(tmp_path_factory, clean_warehouse) -> Path:
    """Bad files of every kind; the cases only read them."""
    bad = tmp_path_factory.mktemp("bad")
    spaces = {
        "nested": '[dataset]\nchoices = ["digits"]\n[x]\nchoices = [[1, 2], [3]]\n',
        "int_range": '[dataset]\nchoices = ["digits"]\n[x]\nlow = 0.5\nhigh = 0.7\ninteger = true\n',
        "nan": '[dataset]\nchoices = ["digits"]\n[x]\nlow = nan\nhigh = 1.0\n',
        "inf": '[dataset]\nchoices = ["digits"]\n[x]\nlow = 0\nhigh = inf\n',
        "when": '[dataset]\nchoices = ["digits"]\n[x]\nchoices = [1]\nwhen = "x"\n',
        "case": '[dataset]\nchoices = ["digits"]\n[LR]\nchoices = [1]\n[lr]\nchoices = [2]\n',
        "run_id": '[dataset]\nchoices = ["digits"]\n[run_id]\nchoices = [1]\n',
        "quote": '[dataset]\nchoices = ["digits"]\n["a\\"b"]\nchoices = [1]\n',
        "newline": '[dataset]\nchoices = ["digits"]\n["a\\nb"]\nchoices = [1]\n',
        "long": f'[dataset]\nchoices = ["digits"]\n[{"x" * 1000}]\nchoices = [1]\n',
        "log": '[dataset]\nchoices = ["digits"]\n[x]\nlow = 1\nhigh = 2\nlog = "no"\n',
        "date": '[dataset]\nchoices = ["digits"]\n[x]\nchoices = [1979-05-27]\n',
        "deep": "x = " + "[" * 100_000 + "]" * 100_000 + "\n",
        "many": '[dataset]\nchoices = ["digits"]\n' + "".join(f"[p{i}]\nchoices = [1]\n" for i in range(101)),
        "huge": "# " + "x" * 2_000_000 + "\n",
    }
    for name, text in spaces.items():
        (bad / f"{name}.toml").write_text(text)
    (bad / "binary.toml").write_bytes(b"\xff\xfe\x00garbage")
    doors = (("ensemble", ENSEMBLE_SPACE, UNTRAINABLE_ENSEMBLE), ("sweep", SWEEP_SPACE, UNTRAINABLE_SWEEP))
    for door, base, cases in doors:
        for case, (edit, _) in cases.items():
            Path(untrainable_file(door, case).format(bad=bad)).write_text(edited(base, **edit))
    # cut inside its blocks: it opens, then its first read fails (cut in the header, it does not open at all)
    (bad / "truncated.duckdb").write_bytes(clean_warehouse.read_bytes()[:300_000])
    duckdb.connect(str(bad / "other.duckdb")).close()
    (bad / "good.csv").write_text("lr,optimizer,accuracy\n0.1,adam,0.5\n")
    (bad / "lr_lr.csv").write_text("lr,lr,accuracy\n0.1,0.2,0.5\n")
    (bad / "case.csv").write_text("LR,lr,accuracy\n0.1,0.2,0.5\n")
    (bad / "wide.csv").write_text(",".join(f"c{i}" for i in range(1000)) + ",accuracy\n" + "1," * 1000 + "0.5\n")
    (bad / "newline.csv").write_text('"a\nb",accuracy\n1,0.5\n')
    (bad / "empty.csv").write_text("")
    (bad / "truncated.parquet").write_bytes(b"PAR1" + b"\0" * 100)
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_arrays([pa.array([1]), pa.array([2]), pa.array([0.5])], names=["x", "x", "accuracy"]),
                   bad / "repeated.parquet")
    good_log = [CONFIG], [RESULT]
    logs = {
        "deep_results": (good_log[0], [DEEP]),
        "deep_configs": ([DEEP], good_log[1]),
        "good": good_log,
        "eta_near_1": (good_log[0], [RESULT, [[0, 0, 0], 1.0000001, *RESULT[2:]], [[0, 0, 0], 9.0, *RESULT[2:]]]),
        "budget_inf": (good_log[0], ['[[0, 0, 0], Infinity, {}, {"loss": 0.5, "info": {}}, null]']),
        "time_huge": (good_log[0], [[[0, 0, 0], 1.0, {"started": 1e20}, {"loss": 0.5, "info": {}}, None]]),
        "id_huge": ([[[2**40, 0, 0], CONFIG[1], {}]], [[[2**40, 0, 0], *RESULT[1:]]]),
        "loss_huge": (good_log[0], ['[[0, 0, 0], 1.0, {}, {"loss": 1' + "0" * 400 + ', "info": {}}, null]']),
        "case": ([[[0, 0, 0], {"LR": 0.1, "lr": 0.2}, {}]], good_log[1]),
        "run_id": ([[[0, 0, 0], {"run_id": 1}, {}]], good_log[1]),
        "quote": ([[[0, 0, 0], {'a"b': 1}, {}]], good_log[1]),
        "control": ([[[0, 0, 0], {"a\u0000b": 1}, {}]], good_log[1]),
        "many": ([[[0, 0, 0], {f"p{i}": i for i in range(101)}, {}]], good_log[1]),
        "nested_value": ([[[0, 0, 0], {"lr": [[1]]}, {}]], good_log[1]),
        "garbage": (["\x00\x01 not json"], good_log[1]),
    }
    for name, (configs, results) in logs.items():
        write_log(bad / f"log_{name}", configs, results)
    # absurd sizes: a sparse file one byte over the bound (refused unread), a log and a table one line or row over
    for file, size in ((write_log(bad / "log_huge") / "results.json", limits.MAX_LOG_FILE_BYTES + 1),
                       (bad / "huge.csv", limits.MAX_TABLE_FILE_BYTES + 1)):
        with open(file, "wb") as handle:
            handle.truncate(size)
    write_log(bad / "log_long", ["[[0, 0, 0], {}]\n" * limits.MAX_LOG_LINES + "[[0, 0, 0], {}]"], [RESULT])
    (bad / "long.csv").write_text("lr,accuracy\n" + "0.1,0.5\n" * (limits.RUNS[1] + 1))
    # an export whose studies.parquet holds a 100k-deep search space, and one whose runs.parquet is cut short
    for name in ("deep_export", "corrupt_export"):
        shutil.copytree(demo.DEMO_DIR, bad / name)
    with duckdb.connect() as con:
        con.execute(f"copy (select * replace ({limits.sql_string(DEEP)} as search_space) "
                    f"from read_parquet({limits.sql_string(str(demo.DEMO_DIR / 'studies.parquet'))})) "
                    f"to {limits.sql_string(str(bad / 'deep_export' / 'studies.parquet'))} (format parquet)")
    (bad / "corrupt_export" / "runs.parquet").write_bytes((demo.DEMO_DIR / "runs.parquet").read_bytes()[:3000])
    return bad


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def expect_refusal(main, argv: list[str], fragment: str, files: dict, capsys) -> str:
    """main(argv) exits 2 with `fragment` in its message, no traceback, the warehouse and its folder untouched."""
    wh = files["wh"]
    before, names = sha256(wh), listing(wh.parent)
    argv = [a.format(wh=wh, bad=files["bad"]) for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert fragment in err and "Traceback" not in err, err
    assert sha256(wh) == before and listing(wh.parent) == names
    return err


WH = ["--warehouse", "{wh}"]
ENSEMBLE = {
    "runs 1e12": (["--runs", "1000000000000"], "--runs"),
    "runs as a float": (["--runs", "1e12"], "--runs"),
    "runs zero": (["--runs", "0"], "--runs"),
    "runs negative": (["--runs", "-5"], "--runs"),
    "epochs zero": (["--epochs", "0"], "--epochs"),
    "epochs huge": (["--epochs", "100000000"], "--epochs"),
    "seed negative": (["--seed", "-1"], "--seed"),
    "seed huge": (["--seed", str(2**64)], "--seed"),
    "data seed negative": (["--data-seed", "-1"], "--data-seed"),
    "image size huge": (["--image-size", "100000"], "--image-size"),
    "image size zero": (["--image-size", "0"], "--image-size"),
    "train size zero": (["--train-size", "0"], "--train-size"),
    "test size negative": (["--test-size", "-1"], "--test-size"),
    "images beyond memory": (["--train-size", "1000000", "--image-size", "512", "--channels", "3"], "GiB"),
    "channels 2": (["--channels", "2"], "--channels"),
    "workers huge": (["--workers", "100000"], "--workers"),
    "workers negative": (["--workers", "-1"], "--workers"),
    "flush nan": (["--flush-seconds", "nan"], "--flush-seconds"),
    "flush inf": (["--flush-seconds", "inf"], "--flush-seconds"),
    "flush negative": (["--flush-seconds", "-1"], "--flush-seconds"),
    "flush zero": (["--flush-seconds", "0"], "--flush-seconds"),
    "device foo": (["--device", "foo"], "--device"),
    "device absent gpu": (["--device", "cuda:99"], "--device"),
    "unknown dataset": (["--datasets", "imagenet"], "--datasets"),
    "unknown flag": (["--bogus"], "--bogus"),
    "space missing": (["--space", "{bad}/missing.toml"], "missing.toml"),
    "space is a folder": (["--space", "{bad}"], "--space"),
    "space nested choices": (["--space", "{bad}/nested.toml"], "nested.toml"),
    "space integer range 0.5-0.7": (["--space", "{bad}/int_range.toml"], "int_range.toml"),
    "space low nan": (["--space", "{bad}/nan.toml"], "nan.toml"),
    "space high inf": (["--space", "{bad}/inf.toml"], "inf.toml"),
    "space when is text": (["--space", "{bad}/when.toml"], "when.toml"),
    "space names differ in case": (["--space", "{bad}/case.toml"], "differ only in case"),
    "space name run_id": (["--space", "{bad}/run_id.toml"], "run_id"),
    "space name with double quote": (["--space", "{bad}/quote.toml"], "quote.toml"),
    "space name with newline": (["--space", "{bad}/newline.toml"], "newline.toml"),
    "space name of 1,000 chars": (["--space", "{bad}/long.toml"], "long.toml"),
    "space log is text": (["--space", "{bad}/log.toml"], "log.toml"),
    "space date choice": (["--space", "{bad}/date.toml"], "date.toml"),
    "space 100k-deep nesting": (["--space", "{bad}/deep.toml"], "deep.toml"),
    "space of 101 hyperparameters": (["--space", "{bad}/many.toml"], "many.toml"),
    "space of 2 MB": (["--space", "{bad}/huge.toml"], "huge.toml"),
    "space not text": (["--space", "{bad}/binary.toml"], "binary.toml"),
    "study empty": (["--study", ""], "--study"),
    "study newline": (["--study", "a\nb"], "--study"),
    "study 1,000 chars": (["--study", "x" * 1000], "--study"),
    "warehouse truncated": (["--warehouse", "{bad}/truncated.duckdb"], "truncated.duckdb"),
    "warehouse not a warehouse": (["--warehouse", "{bad}/other.duckdb"], "other.duckdb"),
    "warehouse is a folder": (["--warehouse", "{bad}"], "cannot be opened"),
    "warehouse name too long": (["--warehouse", "x" * 5000 + ".duckdb"], "--warehouse"),
    "warehouse in /proc": (["--warehouse", "/proc/w.duckdb"], "/proc"),
}


@pytest.mark.parametrize("case", ENSEMBLE)
def test_ensemble_refuses(case, files, capsys):
    args, fragment = ENSEMBLE[case]
    expect_refusal(ensemble.main, ["--study", "s", "--epochs", "1", *WH, *args], fragment, files, capsys)


SWEEP = {
    "eta near 1": (["--eta", "1.0000001"], "--eta"),
    "eta 1": (["--eta", "1"], "--eta"),
    "eta nan": (["--eta", "nan"], "--eta"),
    "max budget inf": (["--max-budget", "inf"], "--max-budget"),
    "min budget zero": (["--min-budget", "0"], "--min-budget"),
    "budgets reversed": (["--min-budget", "9", "--max-budget", "1"], "--min-budget"),
    "too many stages": (["--min-budget", "0.001", "--max-budget", "1000000", "--eta", "1.5"], "stages"),
    "epochs budget huge": (["--max-budget", "100000"], "--max-budget"),
    "iterations huge": (["--iterations", "1000000000"], "--iterations"),
    "iterations zero": (["--iterations", "0"], "--iterations"),
    "port 70000": (["--port", "70000"], "--port"),
    "port negative": (["--port", "-1"], "--port"),
    "host 999.1.1.1": (["--host", "999.1.1.1"], "--host"),
    "host not of this machine": (["--host", "192.0.2.1"], "--host"),
    "host garbage": (["--host", "a b;c"], "--host"),
    "workers huge": (["--workers", "100000"], "--workers"),
    "min workers negative": (["--min-workers", "-1"], "--min-workers"),
    "device foo": (["--device", "foo"], "--device"),
    "unknown dataset": (["--dataset", "imagenet"], "--dataset"),
    "unknown optimizer": (["--optimizer", "tpe"], "--optimizer"),
    "flush nan": (["--flush-seconds", "nan"], "--flush-seconds"),
    "seed negative": (["--seed", "-1"], "--seed"),
    "data seed negative": (["--data-seed", "-1"], "--data-seed"),
    "image size huge": (["--image-size", "100000"], "--image-size"),
    "space nested choices": (["--space", "{bad}/nested.toml"], "nested.toml"),
    "space names differ in case": (["--space", "{bad}/case.toml"], "differ only in case"),
    "warehouse truncated": (["--warehouse", "{bad}/truncated.duckdb"], "truncated.duckdb"),
    "study empty": (["--study", " "], "--study"),
}


@pytest.mark.parametrize("case", SWEEP)
def test_sweep_refuses(case, files, capsys):
    args, fragment = SWEEP[case]
    expect_refusal(bohb.main, ["--study", "s", "--workers", "0", *WH, *args], fragment, files, capsys)


SCHEDULE = {
    "eta nan": (["--min-budget", "1", "--max-budget", "9", "--eta", "nan"], "--eta"),
    "eta near 1": (["--min-budget", "1", "--max-budget", "9", "--eta", "1.0000001"], "--eta"),
    "max budget inf": (["--min-budget", "1", "--max-budget", "inf"], "--max-budget"),
    "min budget zero": (["--min-budget", "0", "--max-budget", "9"], "--min-budget"),
    "min budget missing": (["--max-budget", "9"], "--min-budget"),
    "iterations zero": (["--min-budget", "1", "--max-budget", "9", "--iterations", "0"], "--iterations"),
    "iterations huge": (["--min-budget", "1", "--max-budget", "9", "--iterations", "1000000000"], "--iterations"),
    "a bracket of 531,441": (["--min-budget", "1", "--max-budget", "531441"], "configurations"),
}


@pytest.mark.parametrize("case", SCHEDULE)
def test_schedule_refuses(case, files, capsys):
    args, fragment = SCHEDULE[case]
    expect_refusal(bohb.main, ["schedule", *args], fragment, files, capsys)


def test_distributed_refuses_a_taken_port_and_bad_flags(files, capsys):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        for args, fragment in ((["--port", port], f"--port {port} is taken"), (["--port", "70000"], "--port"),
                               (["--host", "999.1.1.1"], "--host"), (["--host", "192.0.2.1"], "--host"),
                               (["--run-id", "a\nb"], "--run-id"), (["--min-workers", "-1"], "--min-workers"),
                               (["--workers", "1000"], "--workers"), (["--runs", "1000000000000"], "--runs"),
                               (["--device", "foo"], "--device"), (["--space", "{bad}/case.toml"], "case.toml")):
            expect_refusal(distributed.main, ["--study", "s", *WH, *args], fragment, files, capsys)


@pytest.mark.parametrize("door, case", [*(("ensemble", c) for c in UNTRAINABLE_ENSEMBLE),
                                         *(("sweep", c) for c in UNTRAINABLE_SWEEP),
                                         ("distributed", "no learning rate"), ("distributed", "unknown optimizer")])
def test_a_space_the_trainer_cannot_use_is_refused(door, case, files, capsys):
    """Before the study row: a parameter the builder or trainer needs and the space (with [fixed], for a
    sweep) lacks, or a value they cannot use. Without the check every network of the job ended failed."""
    cases, main, args = {"ensemble": (UNTRAINABLE_ENSEMBLE, ensemble.main, ["--epochs", "1"]),
                         "sweep": (UNTRAINABLE_SWEEP, bohb.main, ["--workers", "0"]),
                         "distributed": (UNTRAINABLE_ENSEMBLE, distributed.main, [])}[door]
    space = untrainable_file("sweep" if door == "sweep" else "ensemble", case)
    err = expect_refusal(main, ["--study", "s", *WH, *args, "--space", space], cases[case][1], files, capsys)
    assert f"--space {space.format(bad=files['bad'])}:" in err


WORKER = {
    "port 70000": (["--port", "70000"], "--port"),
    "port zero": (["--port", "0"], "--port"),
    "nameserver 999.1.1.1": (["--nameserver", "999.1.1.1"], "--nameserver"),
    "wait nan": (["--wait", "nan"], "--wait"),
    "timeout negative": (["--timeout", "-1"], "--timeout"),
    "device foo": (["--device", "foo"], "--device"),
    "host not of this machine": (["--host", "192.0.2.1"], "--host"),
    "run id newline": (["--run-id", "a\nb"], "--run-id"),
}


@pytest.mark.parametrize("case", WORKER)
def test_worker_refuses(case, files, capsys):
    args, fragment = WORKER[case]
    base = {"--nameserver": "127.0.0.1", "--port": "9", "--run-id": "x"}
    base.update(zip(args[::2], args[1::2]))
    expect_refusal(worker.main, [x for pair in base.items() for x in pair], fragment, files, capsys)


HPBANDSTER = {
    "missing folder": (["{bad}/nowhere"], "nowhere"),
    "100k-deep results.json": (["{bad}/log_deep_results"], "results.json: line 1"),
    "100k-deep configs.json": (["{bad}/log_deep_configs"], "configs.json: line 1"),
    "inferred eta near 1": (["{bad}/log_eta_near_1"], "log_eta_near_1"),
    "eta flag near 1": (["{bad}/log_good", "--eta", "1.0000001"], "--eta"),
    "eta nan": (["{bad}/log_good", "--eta", "nan"], "--eta"),
    "max budget inf": (["{bad}/log_good", "--max-budget", "inf"], "--max-budget"),
    "logged budget Infinity": (["{bad}/log_budget_inf"], "results.json: line 1"),
    "timestamp in year 3e12": (["{bad}/log_time_huge"], "results.json: line 1"),
    "config id beyond int32": (["{bad}/log_id_huge"], "configs.json: line 1"),
    "loss of 400 digits": (["{bad}/log_loss_huge"], "results.json: line 1"),
    "names differ in case": (["{bad}/log_case"], "differ only in case"),
    "name run_id": (["{bad}/log_run_id"], "run_id"),
    "name with double quote": (["{bad}/log_quote"], "double quote"),
    "name with NUL": (["{bad}/log_control"], "control"),
    "101 hyperparameters": (["{bad}/log_many"], "more than 100"),
    "nested value": (["{bad}/log_nested_value"], "configs.json: line 1"),
    "garbage": (["{bad}/log_garbage"], "configs.json: line 1"),
    "results.json over 512 MiB": (["{bad}/log_huge"], f"log_huge/results.json is larger than "
                                                       f"{limits.MAX_LOG_FILE_BYTES:,} bytes"),
    "configs.json over 1,000,000 lines": (["{bad}/log_long"], "log_long/configs.json has more than 1,000,000 lines"),
    "study empty": (["{bad}/log_good", "--study", ""], "--study"),
    "warehouse truncated": (["{bad}/log_good", "--warehouse", "{bad}/truncated.duckdb"], "truncated.duckdb"),
}


@pytest.mark.parametrize("case", HPBANDSTER)
def test_hpbandster_import_refuses(case, files, capsys):
    args, fragment = HPBANDSTER[case]
    expect_refusal(importers.main, ["hpbandster", *args[:1], "--study", "new", *WH, *args[1:]], fragment, files, capsys)


TABLE = {
    "repeated header lr,lr": (["{bad}/lr_lr.csv"], "'lr' and 'lr'"),
    "headers LR,lr": (["{bad}/case.csv"], "'LR' and 'lr'"),
    "repeated Parquet column": (["{bad}/repeated.parquet"], "'x' and 'x'"),
    "1,000 columns": (["{bad}/wide.csv"], "--params"),
    "header with newline": (["{bad}/newline.csv"], "control"),
    "empty file": (["{bad}/empty.csv"], "empty.csv"),
    "truncated Parquet": (["{bad}/truncated.parquet"], "truncated.parquet"),
    "a folder": (["{bad}"], "does not exist"),
    "map to run_id": (["{bad}/good.csv", "--params", "lr", "--map", "lr=run_id"], "run_id"),
    "map to a double quote": (["{bad}/good.csv", "--params", "lr", "--map", 'lr=a"b'], "double quote"),
    "map to NUL": (["{bad}/good.csv", "--params", "lr", "--map", "lr=a\x00b"], "control"),
    "map to 1,000 chars": (["{bad}/good.csv", "--params", "lr", "--map", "lr=" + "x" * 1000], "longer than 64"),
    "map to spaces": (["{bad}/good.csv", "--params", "lr", "--map", "lr=   "], "empty"),
    "warehouse truncated": (["{bad}/good.csv", "--warehouse", "{bad}/truncated.duckdb"],
                            "truncated.duckdb"),
    "file over 2 GiB": (["{bad}/huge.csv"], f"huge.csv is larger than {limits.MAX_TABLE_FILE_BYTES:,} bytes"),
    "1,000,001 rows": (["{bad}/long.csv"], "long.csv has 1,000,001 rows"),
}


@pytest.mark.parametrize("case", TABLE)
def test_table_import_refuses(case, files, capsys):
    args, fragment = TABLE[case]
    expect_refusal(importers.main, ["table", *args[:1], "--study", "new", *WH, *args[1:]], fragment, files, capsys)


DEMO = {
    "restore from corrupt Parquet": (["restore", "--folder", "{bad}/corrupt_export", "--warehouse", "{bad}/n.duckdb"],
                                     "runs.parquet"),
    "restore a 100k-deep search space": (["restore", "--folder", "{bad}/deep_export", "--warehouse", "{bad}/n.duckdb"],
                                         "studies.parquet"),
    "restore into /proc": (["restore", "--warehouse", "/proc/x/w.duckdb"], "--warehouse"),
    "export a missing warehouse": (["export", "--warehouse", "{bad}/none.duckdb", "--folder", "{bad}/out"],
                                   "none.duckdb"),
    "export a truncated warehouse": (["export", "--warehouse", "{bad}/truncated.duckdb", "--folder", "{bad}/out"],
                                     "truncated.duckdb"),
    "export into /proc": (["export", "--warehouse", "{wh}", "--folder", "/proc/x"], "--folder"),
    "build into /proc": (["build", "--folder", "/proc/x"], "--folder"),
    "unknown action": (["train"], "invalid choice"),
}


@pytest.mark.parametrize("case", DEMO)
def test_demo_refuses(case, files, capsys):
    args, fragment = DEMO[case]
    expect_refusal(demo.main, args, fragment, files, capsys)
    assert not (files["bad"] / "n.duckdb").exists() and not (files["bad"] / "out").exists()


UPGRADE = {
    "missing file": (["{bad}/none.duckdb"], "none.duckdb"),
    "truncated file": (["{bad}/truncated.duckdb"], "truncated.duckdb"),
    "a folder": (["{bad}"], "cannot be opened"),
    "not a warehouse": (["{bad}/other.duckdb"], "other.duckdb"),
    "in /proc": (["/proc/w.duckdb"], "/proc"),
}


@pytest.mark.parametrize("case", UPGRADE)
def test_upgrade_refuses(case, files, capsys):
    args, fragment = UPGRADE[case]
    expect_refusal(warehouse_command.main, ["upgrade", "--warehouse", *args], fragment, files, capsys)


BENCHMARKS = {
    "networks zero": (ensemble_benchmark.main, ["--networks", "0"], "--networks"),
    "image size huge": (ensemble_benchmark.main, ["--image-size", "100000"], "--image-size"),
    "seed negative": (ensemble_benchmark.main, ["--seed", "-1"], "--seed"),
    "device foo": (ensemble_benchmark.main, ["--device", "foo"], "--device"),
    "naive beyond networks": (ensemble_benchmark.main, ["--networks", "2", "--naive-networks", "5"],
                              "--naive-networks"),
    "app runs zero": (app_benchmark.main, ["--runs", "0"], "--runs"),
    "app repeats nan": (app_benchmark.main, ["--repeats", "nan"], "--repeats"),
    "browser runs zero": (browser_benchmark.main, ["--runs", "0"], "--runs"),
    "browser repeats huge": (browser_benchmark.main, ["--repeats", "1000000"], "--repeats"),
    "import rows negative": (table_import.main, ["--rows", "-1"], "--rows"),
    "import repeats huge": (table_import.main, ["--repeats", "1000000"], "--repeats"),
}


@pytest.mark.parametrize("case", BENCHMARKS)
def test_benchmarks_refuse(case, files, capsys):
    main, args, fragment = BENCHMARKS[case]
    expect_refusal(main, args, fragment, files, capsys)


def test_every_number_flag_of_every_job_is_bounded():
    """A new int or float field without `bounds` would make build_parser fail: every job builds its parser."""
    from pipeline.core import cli

    for config in (ensemble.EnsembleConfig, bohb.SweepConfig, bohb.ScheduleConfig, distributed.MasterConfig,
                   ensemble_benchmark.BenchmarkConfig):
        parser = cli.build_parser(config, "", "prog")
        numbers = [a for a in parser._actions if getattr(a.type, "__name__", "") in ("int", "float")]
        assert numbers and all(a.type not in (int, float) for a in numbers), config


# ---- hostile hyperparameter names: refused before anything is written, or stored and queried verbatim ----

HOSTILE_NAMES = {
    "double quote": 'a"b',
    "quote breaking out of the view DDL": 'x" from runs); copy (select 1) to \'{target}\' (format csv); --',
    "single quote": "it's",
    "quote breaking out of a string": "x') as y from runs; copy (select 1) to '{target}' (format csv); --",
    "semicolon": "a; drop table runs",
    "keyword select": "select",
    "keyword from": "from",
    "run column": "trial",
    "prefixed run column": "hp_trial",
    "unicode": "Lernrate_学习率_é",
    "combining accent": "e\u0301",
    "right-to-left override": "a\u202eb",
    "1,000 chars": "x" * 1000,
    "64 chars": "y" * 64,
    "empty": "",
    "whitespace": "   ",
    "leading space": " lr",
    "NUL": "a\x00b",
    "newline": "a\nb",
    "tab": "a\tb",
    "run_id": "run_id",
    "RUN_ID": "RUN_ID",
    "dataset": "dataset",
}


def _store(door: str, name: str, tmp: Path, wh: Path, capsys) -> int | str:
    """Feed `name` through one door; the exit code (0: stored), or the message of a refusal."""
    if door == "space file":
        path = tmp / "space.toml"
        path.write_text(f"[{json.dumps(name, ensure_ascii=False)}]\nchoices = [1]\n")
        try:
            space = load_space(path)
        except SpaceError as err:
            return str(err)
        with store.write(wh) as con:  # what the ensemble does with the space before training
            study_id = store.create_study(con, name="hostile", kind="ensemble", search_space=space.to_json(),
                                              settings={}, seed=0, param_types=space.param_types())
            store.insert_runs(con, study_id, [{"trial": 0, "status": "ok", "dataset": "digits",
                                                   "hyperparameters": {name: 1}, "curve": []}])
        return 0
    if door == "table import":
        csv = tmp / "t.csv"
        csv.write_text("p,accuracy\n1,0.5\n")
        argv = ["table", str(csv), "--study", "hostile", "--map", f"p={name}", "--warehouse", str(wh)]
    else:
        log = write_log(tmp / "log", [[[0, 0, 0], {name: 1}, {}]], [RESULT])
        argv = ["hpbandster", str(log), "--study", "hostile", "--warehouse", str(wh)]
    try:
        importers.main(argv)
    except SystemExit as exit_info:
        assert exit_info.code == 2
        return capsys.readouterr().err
    return 0


@pytest.mark.parametrize("door", ["space file", "table import", "hpbandster import"])
@pytest.mark.parametrize("case", HOSTILE_NAMES)
def test_hostile_names_are_refused_or_stored_verbatim(case, door, tmp_path, clean_warehouse, capsys):
    target = tmp_path / "pwned.csv"
    name = HOSTILE_NAMES[case].replace("{target}", str(target))
    folder = tmp_path / "wh"
    folder.mkdir()
    wh = folder / "w.duckdb"
    shutil.copy(clean_warehouse, wh)
    before, names = sha256(wh), listing(folder)
    outcome = _store(door, name, tmp_path, wh, capsys)
    assert not target.exists() and all(n.startswith("w.duckdb") for n in listing(folder))
    # a log's config key "dataset" fills runs.dataset (README); a table column is mapped to it with --dataset-column
    expected_refusal = limits.names_problem([name]) or (name == "dataset" and door == "table import")
    if outcome != 0:
        assert expected_refusal, outcome
        assert "hyperparameter" in outcome.lower() and "Traceback" not in outcome, outcome
        assert sha256(wh) == before and listing(folder) == names
        return
    assert not expected_refusal
    if name == "dataset":  # a space's dataset parameter and a log's dataset key are runs.dataset, not columns
        assert "dataset" not in json.loads(sql(wh, "select settings from studies where name = 'hostile'")[0][0]
                                           ).get("param_types", {})
        return
    study_id, view = sql(wh, "select study_id, settings from studies where name = 'hostile'")[0]
    view = json.loads(view).get("view") or store.study_view_name(duckdb.connect(), study_id, "hostile")
    stored = sql(wh, "select name from hyperparameters join runs using (run_id) where study_id = ?", [study_id])
    assert stored == [(name,)]
    column = limits.sql_ident(name)
    assert sql(wh, f"select {column} from wide.study_{study_id}") == [(1.0,)]
    # the view renames a hyperparameter named like a run column (trial -> hp_trial, hp_trial -> hp_hp_trial)
    view_columns = [c for (c,) in sql(wh, "select column_name from duckdb_columns() where table_name = ?", [view])]
    shown = next(c for c in reversed(view_columns) if c.endswith(name))
    assert sql(wh, f"select {limits.sql_ident(shown)} from {view}") == [(1,)]


# ---- the real command lines: no traceback, exit code 2, nothing written ----

@pytest.mark.slow
@pytest.mark.parametrize("command, fragment", [
    (["-m", "pipeline.ensemble", "--study", "s", "--device", "foo", "--warehouse", "{wh}"], "--device"),
    (["-m", "pipeline.bohb", "schedule", "--min-budget", "1", "--max-budget", "9", "--eta", "nan"], "--eta"),
    (["-m", "pipeline.bohb", "--study", "s", "--max-budget", "inf", "--warehouse", "{wh}"], "--max-budget"),
    (["-m", "pipeline.importers", "table", "{bad}/good.csv", "--study", "s", "--warehouse", "{bad}/truncated.duckdb"],
     "truncated.duckdb"),
    (["-m", "pipeline.demo", "restore", "--folder", "{bad}/corrupt_export", "--warehouse", "{bad}/n.duckdb"],
     "runs.parquet"),
    (["-m", "pipeline.warehouse", "upgrade", "--warehouse", "{bad}/none.duckdb"], "none.duckdb"),
])
def test_command_lines_refuse_without_a_traceback(command, fragment, files):
    wh = files["wh"]
    before, names = sha256(wh), listing(wh.parent)
    result = run_cli(*[a.format(wh=wh, bad=files["bad"]) for a in command], timeout=60)
    assert result.returncode == 2 and fragment in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert sha256(wh) == before and listing(wh.parent) == names


@pytest.mark.slow
@pytest.mark.parametrize("command", [
    ["-m", "pipeline.importers", "table", "{folder}/t.csv", "--study", "new"],
    ["-m", "pipeline.ensemble", "--study", "new", "--epochs", "1"],
])
def test_an_existing_warehouse_in_a_read_only_folder_is_refused_before_any_work(command, clean_warehouse):
    # root writes into a chmod 555 folder; the user nobody cannot (setpriv keeps the read access to the venv)
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    if as_nobody and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: no folder here is read-only to this process")
    folder = Path(tempfile.mkdtemp())  # not under pytest's root-only tmp folder: nobody must reach it
    try:
        shutil.copy(clean_warehouse, folder / "w.duckdb")
        (folder / "t.csv").write_text("lr,accuracy\n0.1,0.5\n")
        (folder / "w.duckdb").chmod(0o666)  # the file could be written; its write-ahead log could not
        folder.chmod(0o555)
        before, names = sha256(folder / "w.duckdb"), listing(folder)
        args = [a.format(folder=folder) for a in command] + ["--warehouse", str(folder / "w.duckdb")]
        result = subprocess.run([*as_nobody, sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 2 and "writable folder" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert sha256(folder / "w.duckdb") == before and listing(folder) == names
        assert sql(folder / "w.duckdb", "select count(*) from studies where name = 'new'") == [(0,)]
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)
