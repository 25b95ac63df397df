"""Import other people's runs: hpbandster result logs and per-network tables (CSV or Parquet).

    python -m pipeline.importers hpbandster path/to/logdir --study their-bohb
    python -m pipeline.importers hpbandster path/to/logdir --study live --min-budget 1 --max-budget 81 --eta 3
    python -m pipeline.importers table networks.csv --study nws --accuracy "test accuracy" \\
        --map "learning rate=learning_rate" --map "batch size=batch_size"

`hpbandster LOGDIR` reads the configs.json and results.json that hpbandster's
`json_result_logger` wrote and stores one run per evaluation (line of results.json; trial = its
0-based line number) with the Hyperband facts derived as hpbandster derives them
(pipeline/core/hyperband.py): bracket = iteration of the config id, bracket_s, round (from the
budget), round_index (position among the configurations evaluated in the same bracket and round,
by config id), sampled_as (round 0: model_based when config_info.model_based_pick, else random;
later rounds: promoted), and the study's sweep_plan for every bracket in the log. Budgets and
eta are inferred as `hpbandster.core.result.logged_results_to_HBS_result` does (sorted distinct
budgets, eta = b[1] / b[0]; 3, hpbandster's default, when there is one budget) unless given; for
a sweep that is still running, give them, since a young log may not show the largest budget
yet. status is ok for a finite loss, diverged for a logged non-finite loss, failed (with the
exception text) when the result is null; loss is the logged loss, test_accuracy the first of the
info keys "test_accuracy", "test accuracy", "accuracy" that holds a number in 0..1 (else null),
wall_seconds = finished - started. Inactive conditional hyperparameters are absent from the
log and so from the hyperparameters table. A config key "dataset" goes to runs.dataset, as does
--dataset. Re-importing the same (or a grown) log adds only evaluations not yet stored (same
config id and budget); a partly written last line (no newline yet) is left for the next import.

`table FILE` imports an ensemble trained elsewhere, one row per network (trial = row number,
from 0): the accuracy column (--accuracy, default the first of "test_accuracy", "test
accuracy", "accuracy") becomes runs.test_accuracy (0..1; an empty one makes the run failed), the
dataset column (--dataset-column, default "dataset" when there is one) runs.dataset, and the
other columns (or --params) hyperparameters, renamed by --map COLUMN=NAME; an empty cell (or
NaN) is an inactive hyperparameter. The work happens in DuckDB SQL (read, UNPIVOT into the long
hyperparameters table, insert): 200,000 rows of 14 hyperparameters take about 1.2 s on 2 cores
(`python -m pipeline.benchmarks.table_import`, BENCHMARKS.md). Importing the same file (same sha256) into the same
study again does nothing; another file into it is refused.

Either way the study has kind 'import', its search_space is the range of values observed
(imports do not know the space sampled from), and its settings record the source path, sha256
of the files and, for logs, min/max budget and eta. A table's study is finished when imported; a
log's stays unfinished (finished_at empty), since its sweep may still run. Everything is checked
before the warehouse is opened for writing, and written in one transaction: bad input ends with
a message naming the file and line (or the column and the columns there are), exit code 2, and
the warehouse as it was.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipeline.core import cli, hyperband, limits
from pipeline.core.cli import UsageError
from pipeline.core.host import utc_from_unix
from pipeline.warehouse import store

PROG = "python -m pipeline.importers"
ACCURACY_KEYS = ("test_accuracy", "test accuracy", "accuracy")  # info keys / columns, first found wins
DEFAULT_ETA = 3.0  # hpbandster's default, used when a log holds one budget only
MAX_UNIX_SECONDS = 253_402_300_799  # 9999-12-31: the last time a timestamp column holds
PARQUET_SUFFIXES = {".parquet", ".pq"}  # anything else is read as CSV (DuckDB sniffs the dialect)
INT_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
             "UBIGINT", "UHUGEINT"}


@dataclass(frozen=True)
class HpbandsterImport:
    logdir: Path  # folder holding configs.json and results.json
    study: str  # study to create, or to add the log's new evaluations to
    warehouse: str | None = None  # default: $HPW_WAREHOUSE or data/warehouse.duckdb
    min_budget: float | None = None  # None: the smallest budget in the log
    max_budget: float | None = None  # None: the largest budget in the log
    eta: float | None = None  # None: ratio of the two smallest budgets in the log
    dataset: str | None = None  # runs.dataset of every evaluation

    def validate(self) -> None:
        cli.check_study(self.study)
        if None not in (self.min_budget, self.max_budget, self.eta):
            problem = hyperband.plan_problem(self.min_budget, self.max_budget, self.eta)
            if problem:
                raise UsageError(f"--min-budget/--max-budget/--eta: {problem}")


@dataclass(frozen=True)
class TableImport:
    file: Path  # CSV or Parquet, one row per network
    study: str  # a new study; the same file again is a no-op
    warehouse: str | None = None
    map: tuple[tuple[str, str], ...] = ()  # (column, hyperparameter name) renames
    accuracy: str | None = None  # None: the first of ACCURACY_KEYS among the columns
    dataset_column: str | None = None  # None: "dataset" when the file has it
    params: tuple[str, ...] = ()  # hyperparameter columns; empty: all but accuracy and dataset

    def validate(self) -> None:
        cli.check_study(self.study)
        mapped = [column for column, _ in self.map]
        twice = sorted({c for c in mapped if mapped.count(c) > 1})
        if twice:
            raise UsageError(f"--map names column(s) {', '.join(twice)} more than once")


# ---- shared --------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _stored_study(path: Path, name: str) -> tuple[dict | None, dict]:
    """The study as the warehouse holds it now (read-only) and its runs by (config_id, budget)."""
    if not path.exists():
        store.check_writable(path)
        return None, {}
    with store.read(path) as con:
        study = store.get_study(con, name)
        if study is None:
            return None, {}
        rows = con.execute("select config_id, budget, trial, round_index from runs where study_id = ?",
                           [study["study_id"]]).fetchall()
    return study, {(config_id, budget): (trial, index) for config_id, budget, trial, index in rows}


def _check_unchanged(con, name: str, study: dict | None, stored_runs: int) -> None:
    """Inside the write: refuse if another process changed the study since it was read."""
    now = store.get_study(con, name)
    count = con.execute("select count(*) from runs where study_id = ?", [now["study_id"]]).fetchall()[0][0] if now else 0
    if (now is None) != (study is None) or count != stored_runs:
        raise store.WarehouseError(f"study '{name}' changed while importing (another job writes to it); "
                                       "run the command again")


def _check_names(names, source: str, advice: str) -> None:
    """Names that can be columns of the study's view and wide table (pipeline/core/limits.py)."""
    names = list(names)
    if "dataset" in names:
        raise UsageError(f"{source}: 'dataset' is stored as runs.dataset, not as a hyperparameter")
    problem = limits.names_problem(names)
    if problem:
        raise UsageError(f"{source}: {problem}; {advice}")


def _views(con) -> set[str]:
    return {row[0] for row in con.execute("select view_name from duckdb_views()").fetchall()}


# ---- hpbandster logs -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Evaluation:
    """One line of results.json."""

    line: int  # 1-based; trial = line - 1
    config_id: tuple[int, int, int]
    budget: float
    times: dict  # submitted/started/finished, unix seconds
    result: dict | None  # {"loss", "info"}; None when the worker raised
    exception: str | None


def _json_lines(path: Path, data: bytes):
    """(line number, parsed value) per line; a last line without newline that does not parse yet is
    one the logger is still writing, so it is skipped (the next import takes it)."""
    lines = data.decode("utf-8", errors="replace").split("\n")
    complete = lines[:-1] if data.endswith(b"\n") else lines
    for number, text in enumerate(complete, start=1):
        try:
            yield number, json.loads(text)
        except RecursionError:
            raise UsageError(f"{path}: line {number} nests lists or objects too deeply") from None
        except json.JSONDecodeError as err:
            if number == len(complete) and not data.endswith(b"\n"):
                print(f"{path}: line {number} is still being written (no newline); left for the next import",
                      file=sys.stderr)
                return
            raise UsageError(f"{path}: line {number} is not valid JSON ({err.msg} at column {err.colno})") from None


def _bad(path: Path, line: int, what: str) -> UsageError:
    return UsageError(f"{path}: line {line}: {what}")


def _config_id(path: Path, line: int, value) -> tuple[int, int, int]:
    if not (isinstance(value, list) and len(value) == 3  # runs.bracket is an integer column
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**31 for v in value)):
        raise _bad(path, line, f"config id {json.dumps(value)} is not [iteration, stage, index]")
    return tuple(value)


def _number(value) -> bool:
    """A JSON number a double holds (NaN and infinities included: a loss may be one)."""
    return isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool)
                                        and abs(value) <= limits.MAX_ABS_VALUE)


def _finite(value, low: float, high: float) -> bool:
    return _number(value) and math.isfinite(value) and low <= value <= high


def _read_configs(path: Path, data: bytes) -> dict[tuple, tuple[dict, dict]]:
    configs: dict[tuple, tuple[dict, dict]] = {}
    for line, item in _json_lines(path, data):
        if not (isinstance(item, list) and len(item) in (2, 3)):  # hpbandster also reads [id, config]
            raise _bad(path, line, "expected [config_id, config, config_info]")
        config_id = _config_id(path, line, item[0])
        config, info = item[1], (item[2] if len(item) == 3 else None) or {}
        if not isinstance(config, dict) or not isinstance(info, dict):
            raise _bad(path, line, "config and config_info must be JSON objects")
        for name, value in config.items():
            if not (value is None or isinstance(value, str | bool) or _number(value)):
                raise _bad(path, line, f"value of {name!r} is {json.dumps(value)}, not a string, number or boolean")
        if config_id in configs and configs[config_id][0] != config:
            raise _bad(path, line, f"config id {list(config_id)} appears again with another configuration")
        configs[config_id] = (config, info)
    return configs


def _read_results(path: Path, data: bytes, configs: dict, configs_path: Path) -> list[_Evaluation]:
    evaluations, seen = [], {}
    for line, item in _json_lines(path, data):
        if not (isinstance(item, list) and len(item) == 5):
            raise _bad(path, line, "expected [config_id, budget, timestamps, result, exception]")
        raw_id, budget, times, result, exception = item
        config_id = _config_id(path, line, raw_id)
        if config_id not in configs:
            raise _bad(path, line, f"config id {list(config_id)} is not in {configs_path}")
        if not _finite(budget, *limits.BUDGET):
            raise _bad(path, line, f"budget {json.dumps(budget)} is not a number from {limits.BUDGET[0]:g} to "
                                   f"{limits.BUDGET[1]:,}")
        if not (isinstance(times, dict) and all(_finite(v, 0, MAX_UNIX_SECONDS) for v in times.values())):
            raise _bad(path, line, "timestamps must be an object of unix times in seconds (submitted, started, "
                                   "finished)")
        if result is not None and not (isinstance(result, dict) and "loss" in result
                                       and (result["loss"] is None or _number(result["loss"]))):
            raise _bad(path, line, "result must be null or an object with a numeric 'loss'")
        if (config_id, budget) in seen:
            raise _bad(path, line, f"config {list(config_id)} on budget {budget} was already logged "
                                   f"at line {seen[config_id, budget]}")
        seen[config_id, budget] = line
        evaluations.append(_Evaluation(line, config_id, float(budget), times, result,
                                       None if exception is None else str(exception)))
    return evaluations


def _budget_plan(options: HpbandsterImport, evaluations: list[_Evaluation], study: dict | None) -> tuple[float, float, float]:
    """(min_budget, max_budget, eta): the study's own for a re-import, else given or inferred."""
    given = {"min_budget": options.min_budget, "max_budget": options.max_budget, "eta": options.eta}
    if study is not None:
        stored = {k: study["settings"][k] for k in given}
        for key, value in given.items():
            if value is not None and not math.isclose(value, stored[key], rel_tol=1e-9):
                raise UsageError(f"study '{options.study}' was imported with --{key.replace('_', '-')} "
                                 f"{stored[key]:g}, not {value:g}; leave the flag out or choose a new --study")
        return stored["min_budget"], stored["max_budget"], stored["eta"]
    seen = sorted({e.budget for e in evaluations})  # as logged_results_to_HBS_result infers them
    low = seen[0] if options.min_budget is None else options.min_budget
    high = seen[-1] if options.max_budget is None else options.max_budget
    eta = options.eta or (seen[1] / seen[0] if len(seen) > 1 else DEFAULT_ETA)
    problem = hyperband.plan_problem(low, high, eta)
    if problem:
        raise UsageError(f"{options.logdir}: {problem} (pass the sweep's --min-budget, --max-budget and --eta)")
    return low, high, eta


def _accuracy(info) -> float | None:
    if isinstance(info, dict):
        for key in ACCURACY_KEYS:
            value = info.get(key)
            if _number(value) and 0 <= value <= 1:
                return float(value)
    return None



def _round_indices(evaluations: list[_Evaluation], rounds: dict[int, int]) -> dict[int, int]:
    """Line -> position of its config among the configs evaluated in its (bracket, round)."""
    members = defaultdict(set)
    for e in evaluations:
        members[e.config_id[0], rounds[e.line]].add(e.config_id)
    order = {key: {cid: i for i, cid in enumerate(sorted(ids))} for key, ids in members.items()}
    return {e.line: order[e.config_id[0], rounds[e.line]][e.config_id] for e in evaluations}


def _log_records(evaluations, configs, plan, dataset: str | None, results_path: Path) -> list[dict]:
    """One warehouse record per evaluation of the log, in line order."""
    low, high, eta = plan
    n = hyperband.max_sh_iter(low, high, eta)
    rounds = {}
    for e in evaluations:
        try:
            rounds[e.line] = hyperband.round_of(e.budget, e.config_id[0], low, high, eta)
        except ValueError as err:
            raise _bad(results_path, e.line, f"{err}; pass the sweep's --min-budget, --max-budget and --eta") from None
    indices = _round_indices(evaluations, rounds)
    records = []
    for e in evaluations:
        config, info = configs[e.config_id]
        loss = None if e.result is None else e.result["loss"]
        if e.result is None:
            status, error = "failed", e.exception or "the worker returned no result"
        elif loss is None or not math.isfinite(loss):
            status, error = "diverged", f"the logged loss is {loss}"
        else:
            status, error = "ok", None
        started, finished = e.times.get("started"), e.times.get("finished")
        records.append({
            "trial": e.line - 1, "status": status, "error": error, "loss": loss,
            "dataset": dataset or (None if config.get("dataset") is None else str(config["dataset"])),
            "test_accuracy": _accuracy(e.result.get("info")) if status == "ok" else None,
            "wall_seconds": finished - started if started is not None and finished is not None else None,
            "submitted_at": utc_from_unix(e.times.get("submitted")), "started_at": utc_from_unix(started), "finished_at": utc_from_unix(finished),
            "bracket": e.config_id[0], "bracket_s": hyperband.bracket_s(e.config_id[0], n), "round": rounds[e.line],
            "round_index": indices[e.line], "budget": e.budget, "config_id": str(e.config_id),
            "sampled_as": hyperband.sampled_as(rounds[e.line], info),
            "hyperparameters": {k: v for k, v in config.items() if v is not None and k != "dataset"},
            "curve": [],
        })
    return records


def _observed_space(configs: dict) -> dict:
    """{name: {choices} or {low, high, integer}} over every logged configuration."""
    values = defaultdict(list)
    for config, _ in configs.values():
        for name, value in config.items():
            if value is not None and name != "dataset":
                values[name].append(value)
    space = {}
    for name, seen in values.items():
        if all(_number(v) for v in seen):
            integer = all(isinstance(v, int) for v in seen)
            space[name] = {"low": min(seen), "high": max(seen), "integer": integer}
        else:
            space[name] = {"choices": sorted(set(seen), key=str)}
    return space


def _param_types(space: dict) -> dict[str, str]:
    """bool | int | float | text per hyperparameter of an observed space, for the study's typed view."""
    return {name: ("int" if spec["integer"] else "float") if "low" in spec
            else "bool" if all(isinstance(v, bool) for v in spec["choices"]) else "text"
            for name, spec in space.items()}


def _plan_rows(con, study_id: int, records: list[dict], plan) -> list[tuple]:
    """sweep_plan rows of the brackets in the log that the study's plan does not hold yet."""
    planned = {row[0] for row in con.execute("select distinct bracket from sweep_plan where study_id = ?",
                                             [study_id]).fetchall()}
    brackets = sorted({r["bracket"] for r in records} - planned)
    return [(study_id, r.bracket, r.s, r.round, r.configs, r.budget)
            for b in brackets for r in hyperband.bracket_rounds(b, *plan)]


def _log_bytes(file: Path) -> bytes:
    """The file whole, refused unread above limits.MAX_LOG_FILE_BYTES and unparsed above MAX_LOG_LINES lines."""
    advice = ("far beyond a real sweep's log (hundreds of bytes an evaluation); check that it is what hpbandster's "
              "json_result_logger wrote, or import a copy of the folder that keeps the first lines")
    too_big = UsageError(f"{file} is larger than {limits.MAX_LOG_FILE_BYTES:,} bytes, {advice}")
    if file.stat().st_size > limits.MAX_LOG_FILE_BYTES:
        raise too_big
    with open(file, "rb") as handle:
        data = handle.read(limits.MAX_LOG_FILE_BYTES + 1)  # the sweep may still be writing it
    if len(data) > limits.MAX_LOG_FILE_BYTES:
        raise too_big
    if data.count(b"\n") > limits.MAX_LOG_LINES:
        raise UsageError(f"{file} has more than {limits.MAX_LOG_LINES:,} lines (a study holds at most "
                         f"{limits.RUNS[1]:,} runs), {advice}")
    return data


def _read_log(logdir: Path) -> tuple[dict, list[_Evaluation], dict[str, str]]:
    """The configurations, evaluations and file sha256s of a json_result_logger folder, validated."""
    if not logdir.is_dir():
        raise UsageError(f"{logdir} is not a folder; pass the directory that hpbandster's json_result_logger "
                         "wrote (with configs.json and results.json)")
    configs_path, results_path = logdir / "configs.json", logdir / "results.json"
    for file in (configs_path, results_path):
        if not file.is_file():
            raise UsageError(f"{file} does not exist; is {logdir} a json_result_logger directory?")
    # results first: a config is logged before its result, so every result read has its config
    results_data = _log_bytes(results_path)
    configs_data = _log_bytes(configs_path)
    configs = _read_configs(configs_path, configs_data)
    evaluations = _read_results(results_path, results_data, configs, configs_path)
    _check_names({n: None for config, _ in configs.values() for n in config if n != "dataset"}, str(configs_path),
                 "a log's names cannot be renamed: import the sweep with names that can be columns")
    return configs, evaluations, {"configs.json": _sha256(configs_data), "results.json": _sha256(results_data)}


def _changes(records: list[dict], stored: dict, study: dict | None, results_path: Path) -> tuple[list, list]:
    """Records the study lacks, and (round_index, config_id, budget) of stored runs whose position moved."""
    taken = {trial: key for key, (trial, _) in stored.items()}
    new = [r for r in records if (r["config_id"], r["budget"]) not in stored]
    for r in new:
        if r["trial"] in taken:
            config_id, budget = taken[r["trial"]]
            raise _bad(results_path, r["trial"] + 1, f"study '{study['name']}' holds config {config_id} on budget "
                       f"{budget:g} as trial {r['trial']}, so this log does not continue the one imported before "
                       f"(from {study['settings']['path']}); import it as a new --study")
    moved = [(r["round_index"], r["config_id"], r["budget"]) for r in records
             if (r["config_id"], r["budget"]) in stored and stored[r["config_id"], r["budget"]][1] != r["round_index"]]
    return new, moved


def _save_log_study(con, name: str, study: dict | None, space: dict, settings: dict) -> int:
    """Create the study, or bring its settings, observed space and view up to date; returns its id."""
    param_types = settings["param_types"]
    if study is None:
        before = _views(con)
        study_id = store.create_study(con, name=name, kind="import", search_space=json.dumps(space),
                                          settings=settings, seed=None, param_types=param_types)
        view = (_views(con) - before).pop()  # remembered, to refresh the view when a re-import needs it
    else:
        study_id, view = study["study_id"], study["settings"]["view"]
        if param_types != study["settings"]["param_types"]:  # a hyperparameter new to the log, or widened
            con.execute(f'drop view "{view}"')
            before = _views(con)
            store.create_study_view(con, study_id, name, param_types)
            view = (_views(con) - before).pop()
    con.execute("update studies set settings = ?, search_space = ? where study_id = ?",
                [json.dumps({**settings, "view": view}), json.dumps(space), study_id])
    return study_id


def import_hpbandster(options: HpbandsterImport) -> int:
    """Import the log's evaluations that the study does not hold yet; returns how many."""
    logdir, path = options.logdir, store.resolve_path(options.warehouse)
    configs, evaluations, sha256s = _read_log(logdir)
    if not evaluations:
        print(f"{logdir / 'results.json'} holds no evaluations yet; nothing imported", file=sys.stderr)
        return 0
    study, stored = _stored_study(path, options.study)
    if study is not None and (study["kind"] != "import" or study["settings"].get("source") != "hpbandster"):
        raise UsageError(f"study '{options.study}' exists and is not an hpbandster import; choose another --study")
    plan = _budget_plan(options, evaluations, study)
    records = _log_records(evaluations, configs, plan, options.dataset, logdir / "results.json")
    new, moved = _changes(records, stored, study, logdir / "results.json")
    space = _observed_space(configs)
    inferred = None in (options.min_budget, options.max_budget, options.eta)
    settings = {"source": "hpbandster", "path": str(logdir.resolve()), "sha256": sha256s,
                "min_budget": plan[0], "max_budget": plan[1], "eta": plan[2],
                "budgets_inferred": study["settings"]["budgets_inferred"] if study else inferred,
                "param_types": _param_types(space)}
    if study is not None and not new and not moved and study["settings"]["sha256"] == sha256s:
        print(f"study '{options.study}' already holds every evaluation of {logdir}; nothing to do", file=sys.stderr)
        return 0

    with store.write(path) as con:
        _check_unchanged(con, options.study, study, len(stored))
        study_id = _save_log_study(con, options.study, study, space, settings)
        store.insert_runs(con, study_id, new)
        if moved:  # with parallel workers a round's results arrive out of order: positions shift
            con.executemany("update runs set round_index = ? where study_id = ? and config_id = ? and budget = ?",
                            [(index, study_id, config_id, budget) for index, config_id, budget in moved])
        plan_rows = _plan_rows(con, study_id, records, plan)
        if plan_rows:
            con.executemany("insert into sweep_plan (study_id, bracket, bracket_s, round, configs, budget) "
                            "values (?, ?, ?, ?, ?, ?)", plan_rows)
    failed = sum(r["status"] == "failed" for r in new)
    print(f"imported {len(new)} evaluations ({failed} failed) of {logdir} into study '{options.study}' in {path}"
          + (f"; {len(stored)} were there already" if stored else ""), file=sys.stderr)
    return len(new)


# ---- per-network tables --------------------------------------------------------------------


def _kind(duck_type: str) -> str:
    if duck_type == "BOOLEAN":
        return "bool"
    if duck_type in INT_TYPES:
        return "int"
    if duck_type in ("FLOAT", "DOUBLE") or duck_type.startswith("DECIMAL"):
        return "float"
    return "text"


def _load_table(con, file: Path) -> dict[str, str]:
    """Read FILE into table `source`; returns its columns and DuckDB types, in file order."""
    if not file.is_file():
        raise UsageError(f"{file} does not exist (expected a CSV or Parquet file, one row per network)")
    if file.stat().st_size > limits.MAX_TABLE_FILE_BYTES:
        raise UsageError(f"{file} is larger than {limits.MAX_TABLE_FILE_BYTES:,} bytes, far beyond a table of "
                         f"{limits.RUNS[1]:,} networks (the most a study holds); import the rows and columns you "
                         "need from a smaller file (or Parquet, which is compressed)")
    reader = "read_parquet" if file.suffix.lower() in PARQUET_SUFFIXES else "read_csv"
    kind = "Parquet" if reader == "read_parquet" else "CSV"
    try:
        header = _raw_header(con, file, reader)
        first = {}  # lowercased name -> index of its first column
        twice = next(((header[first[h.lower()]], h) for i, h in enumerate(header)
                      if first.setdefault(h.lower(), i) != i), None)
        if twice:  # DuckDB would silently rename the second one (lr, lr_1)
            raise UsageError(f"{file}: the header names columns {limits.shown(twice[0])} and {limits.shown(twice[1])}, "
                             "the same name to SQL (which ignores case); give every column its own name")
        con.execute(f"create table source as select * from {reader}(?)", [str(file)])
    except (duckdb.Error, OSError, ValueError) as err:
        if isinstance(err, UsageError):
            raise
        raise UsageError(f"cannot read {file} as {kind}: {str(err).splitlines()[0]}") from None
    rows = con.execute("select count(*) from source").fetchall()[0][0]
    if rows > limits.RUNS[1]:
        raise UsageError(f"{file} has {rows:,} rows, more than the {limits.RUNS[1]:,} networks a study holds; "
                         "split it into several files, each imported as its own --study")
    return dict(con.execute("select column_name, data_type from duckdb_columns() "
                            "where table_name = 'source' order by column_index").fetchall())


def _raw_header(con, file: Path, reader: str) -> list[str]:
    """The column names as the file writes them: DuckDB renames repeated ones (lr, lr_1) when it reads."""
    if reader == "read_parquet":
        import pyarrow.parquet as pq

        return pq.read_schema(file).names
    if not con.execute("select HasHeader from sniff_csv(?)", [str(file)]).fetchall()[0][0]:
        return []  # no header: DuckDB names the columns column0, column1, ...
    first = con.execute("select * from read_csv(?, header = false, all_varchar = true) limit 1", [str(file)])
    return [h for h in (first.fetchall() or [()])[0] if h is not None]


def _column(file: Path, columns: dict, name: str, flag: str) -> str:
    if name not in columns:
        raise UsageError(f"{file} has no column {name!r} ({flag}); its columns are: {', '.join(map(repr, columns))}")
    return name


def _table_layout(options: TableImport, columns: dict) -> tuple[str, str | None, dict[str, str]]:
    """(accuracy column, dataset column or None, {hyperparameter column: name})."""
    file = options.file
    if options.accuracy is not None:
        accuracy = _column(file, columns, options.accuracy, "--accuracy")
    else:
        accuracy = next((c for c in ACCURACY_KEYS if c in columns), None)
        if accuracy is None:
            raise UsageError(f"{file} has none of the columns {', '.join(ACCURACY_KEYS)}; name the accuracy column "
                             f"with --accuracy COLUMN (its columns are: {', '.join(map(repr, columns))})")
    if _kind(columns[accuracy]) not in ("int", "float"):
        raise UsageError(f"{file}: accuracy column {accuracy!r} holds {columns[accuracy]}, not numbers")
    if options.dataset_column is not None:
        dataset = _column(file, columns, options.dataset_column, "--dataset-column")
    else:
        dataset = "dataset" if "dataset" in columns else None
    params = [_column(file, columns, c, "--params") for c in options.params] or \
        [c for c in columns if c not in (accuracy, dataset)]
    for column in (accuracy, dataset):
        if column in params:
            raise UsageError(f"{file}: column {column!r} is the accuracy or dataset column, not a hyperparameter")
    renames = dict(options.map)
    for column in renames:
        _column(file, columns, column, "--map")
        if column not in params:
            raise UsageError(f"--map {column}=...: column {column!r} is not a hyperparameter column "
                             f"(those are: {', '.join(map(repr, params))})")
    if not params:
        raise UsageError(f"{file} has no hyperparameter columns besides accuracy and dataset")
    if len(params) > limits.MAX_HYPERPARAMETERS:
        raise UsageError(f"{file} has {len(params):,} hyperparameter columns, more than the "
                         f"{limits.MAX_HYPERPARAMETERS} a study may have; name the ones to import with --params")
    names = {c: renames.get(c, c) for c in params}
    _check_names(names.values(), str(file), "rename it with --map COLUMN=NAME, or leave the column out with --params")
    twice = sorted({n for n in names.values() if list(names.values()).count(n) > 1})
    if twice:
        raise UsageError(f"{file}: hyperparameter name(s) {', '.join(twice)} given to more than one column")
    return accuracy, dataset, names


def _check_accuracy(con, file: Path, accuracy: str) -> None:
    low, high = con.execute(f"select min(a), max(a) from (select {limits.sql_ident(accuracy)}::double as a from source) "
                            "where not isnan(a)").fetchall()[0]
    if low is not None and (low < 0 or high > 1):
        raise UsageError(f"{file}: accuracy column {accuracy!r} runs from {low:g} to {high:g}; the warehouse "
                         "stores accuracy as 0..1 (divide percentages by 100 first)")


def _hyperparameter_struct(column: str, kind: str) -> str:
    """value (text as store.value_text writes it) and value_num (numbers, booleans 1/0)."""
    ident = limits.sql_ident(column)
    text = f"{ident}::double::varchar" if kind == "float" else f"{ident}::varchar"
    number = "null::double" if kind == "text" else f"{ident}::double"
    return f"struct_pack(value := {text}, value_num := {number})"


def _table_space(con, names: dict[str, str], kinds: dict[str, str]) -> dict:
    """{name: {choices} or {low, high, integer}} observed in the table, one aggregate query."""
    aggregates = []
    for column in names:
        ident = limits.sql_ident(column)
        if kinds[column] in ("int", "float"):
            number, finite = f"{ident}::double", f"filter (where not isnan({ident}::double))"
            aggregates.append(f"[min({number}) {finite}, max({number}) {finite}]")
        else:
            aggregates.append(f"list(distinct {ident}::varchar order by {ident}::varchar) filter (where {ident} is not null)")
    row = con.execute(f"select {', '.join(aggregates)} from source").fetchall()[0]
    space = {}
    for (column, name), observed in zip(names.items(), row):
        kind = kinds[column]
        if kind in ("int", "float") and observed[0] is not None:
            cast = int if kind == "int" else float
            space[name] = {"low": cast(observed[0]), "high": cast(observed[1]), "integer": kind == "int"}
        elif kind == "bool" and observed:
            space[name] = {"choices": [v == "true" for v in observed]}
        elif kind == "text" and observed:
            space[name] = {"choices": observed}
    return space


def _stage_table(con, accuracy: str, dataset: str | None, names: dict[str, str], kinds: dict[str, str]):
    """The validated table as Arrow: trial, test_accuracy, dataset and one struct p<i> per hyperparameter."""
    structs = [f"{_hyperparameter_struct(c, kinds[c])} as p{i}" for i, c in enumerate(names)]
    dataset_sql = f"{limits.sql_ident(dataset)}::varchar" if dataset else "null::varchar"
    return con.sql(f"select rowid as trial, {limits.sql_ident(accuracy)}::double as test_accuracy, {dataset_sql} as dataset, "
                   f"{', '.join(structs)} from source order by rowid").to_arrow_table()


def _insert_table(con, study_id: int, staged, names: list[str]) -> None:
    first_id = con.execute("select coalesce(max(run_id), 0) + 1 from runs").fetchall()[0][0]
    con.register("staged", staged)
    try:
        con.execute("""
            insert into runs (run_id, study_id, trial, status, error, dataset, test_accuracy)
            select trial + $first, $study, trial,
                   case when coalesce(isnan(test_accuracy), true) then 'failed' else 'ok' end,
                   case when coalesce(isnan(test_accuracy), true) then 'no accuracy in the imported row' end,
                   dataset,
                   case when not isnan(test_accuracy) then test_accuracy end
            from staged
        """, {"first": first_id, "study": study_id})
        slots = ", ".join(f"p{i}" for i in range(len(names)))
        con.execute(f"""
            insert into hyperparameters (run_id, name, value, value_num)
            select trial + $first, list_extract($names, cast(substr(slot, 2) as integer) + 1), v.value, v.value_num
            from (unpivot (select trial, {slots} from staged) on {slots} into name slot value v)
            where v.value is not null and not coalesce(isnan(v.value_num), false)
        """, {"first": first_id, "names": names})
    finally:
        con.unregister("staged")


def import_table(options: TableImport) -> int:
    """Import every row of the file as a run of a new study; returns the number of rows."""
    file, path = options.file, store.resolve_path(options.warehouse)
    with duckdb.connect() as con:  # in memory: everything is checked before the warehouse is opened
        columns = _load_table(con, file)
        accuracy, dataset, names = _table_layout(options, columns)
        _check_accuracy(con, file, accuracy)
        kinds = {c: _kind(columns[c]) for c in names}
        staged = _stage_table(con, accuracy, dataset, names, kinds)
        space = _table_space(con, names, kinds)
    with open(file, "rb") as handle:  # in chunks: the file may be gigabytes
        sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
    study, _ = _stored_study(path, options.study)
    if study is not None:
        if study["settings"].get("sha256") == sha256:
            print(f"study '{options.study}' already holds {file} (same sha256); nothing to do", file=sys.stderr)
            return 0
        origin = study["settings"].get("path", f"a {study['kind']} job")
        raise UsageError(f"study '{options.study}' exists already (from {origin}); a table is imported into a new "
                         "study: choose another --study")
    settings = {"source": "table", "path": str(file.resolve()), "sha256": sha256,
                "format": "parquet" if file.suffix.lower() in PARQUET_SUFFIXES else "csv", "rows": staged.num_rows,
                "accuracy_column": accuracy, "dataset_column": dataset, "columns": names}
    with store.write(path) as con:
        con.execute("set preserve_insertion_order = false")  # faster bulk inserts; row order carries no meaning
        _check_unchanged(con, options.study, None, 0)
        study_id = store.create_study(con, name=options.study, kind="import", search_space=json.dumps(space),
                                          settings=settings, seed=None,
                                          param_types={names[c]: kinds[c] for c in names})
        _insert_table(con, study_id, staged, list(names.values()))
        store.finish_study(con, study_id)  # a table is complete; a log may still grow, so it is not
    print(f"imported {staged.num_rows} networks of {file} into study '{options.study}' in {path}", file=sys.stderr)
    return staged.num_rows


# ---- command line --------------------------------------------------------------------------


def _mapping(text: str) -> tuple[str, str]:
    column, sep, name = text.partition("=")
    if not sep or not column or not name:
        raise argparse.ArgumentTypeError(f"expected COLUMN=HYPERPARAMETER, got {text!r}")
    return column, name


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="\n\n".join(__doc__.split("\n\n")[:2]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{hpbandster,table}")
    default_wh = f"warehouse file (default: ${store.PATH_ENV_VAR} or {store.DEFAULT_PATH})"

    log = commands.add_parser("hpbandster", help="an hpbandster json_result_logger directory")
    log.add_argument("logdir", type=Path, help="folder with configs.json and results.json")
    log.add_argument("--study", required=True, help="study to create, or to add the log's new evaluations to")
    log.add_argument("--warehouse", help=default_wh)
    budget = limits.number(float, limits.BUDGET)
    log.add_argument("--min-budget", type=budget, help="smallest budget of the sweep (default: inferred from the log)")
    log.add_argument("--max-budget", type=budget, help="largest budget of the sweep (default: inferred from the log)")
    log.add_argument("--eta", type=limits.number(float, limits.ETA),
                     help="halving rate of the sweep (default: inferred from the log)")
    log.add_argument("--dataset", help="dataset every evaluation trained on (runs.dataset)")

    table = commands.add_parser("table", help="a CSV or Parquet file, one row per trained network")
    table.add_argument("file", type=Path, help="CSV or Parquet file (.parquet or .pq; anything else is read as CSV)")
    table.add_argument("--study", required=True, help="name of the new study")
    table.add_argument("--warehouse", help=default_wh)
    table.add_argument("--map", type=_mapping, action="append", default=[], metavar="COLUMN=NAME",
                       help="store column COLUMN as hyperparameter NAME (repeat the flag for several)")
    table.add_argument("--accuracy", help=f"column of test accuracy, 0..1 (default: first of {', '.join(ACCURACY_KEYS)})")
    table.add_argument("--dataset-column", help="column naming the dataset (default: 'dataset' when present)")
    table.add_argument("--params", type=lambda text: tuple(c for c in text.split(",") if c), default=(),
                       metavar="COL1,COL2,...", help="hyperparameter columns (default: all but accuracy and dataset)")
    return parser


COMMANDS = {"hpbandster": (HpbandsterImport, import_hpbandster), "table": (TableImport, import_table)}


def main(argv: list[str] | None = None) -> None:
    args = vars(_parser().parse_args(argv))
    command = args.pop("command")
    config_cls, job = COMMANDS[command]
    if command == "table":
        args["map"] = tuple(args["map"])
    try:
        config = config_cls(**args)
        config.validate()
        job(config)
    except (UsageError, store.WarehouseError) as err:
        cli.fail(f"{PROG} {command}", str(err))
    except OSError as err:  # a file that vanished or cannot be read while importing
        cli.fail(f"{PROG} {command}", f"{err}; check the path and its permissions")


if __name__ == "__main__":
    main()
