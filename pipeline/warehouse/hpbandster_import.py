"""Import an hpbandster sweep's result log: the work of `python -m pipeline.importers hpbandster LOGDIR`.

It reads the configs.json and results.json that hpbandster's `json_result_logger` wrote and stores
one run per evaluation (line of results.json; trial = its 0-based line number) with the Hyperband
facts derived as hpbandster derives them (pipeline/core/hyperband.py): bracket = iteration of the
config id, bracket_s, round (from the budget), round_index (position among the configurations
evaluated in the same bracket and round, by config id), sampled_as (round 0: model_based when
config_info.model_based_pick, else random; later rounds: promoted), and the study's sweep_plan for
every bracket in the log. Budgets and eta are inferred as
`hpbandster.core.result.logged_results_to_HBS_result` does (sorted distinct budgets, eta = b[1] /
b[0]; 3, hpbandster's default, when there is one budget) unless given; for a sweep that is still
running, give them, since a young log may not show the largest budget yet. status is ok for a
finite loss, diverged for a logged non-finite loss, failed (with the exception text) when the
result is null, and diverged too when the worker said so in its info (`"diverged": true`, or
`"status": "diverged"` as this project's worker reports; such workers log loss 1.0), with no accuracy;
loss is the logged loss, test_accuracy the first of the info keys "test_accuracy", "test accuracy",
"accuracy" that holds a number in 0..1 (else null), and the info keys that name another runs
column (INFO_COLUMNS: test_loss, train_accuracy, parameter_count as "number of parameters" in
hpbandster's example workers, or num_params / n_params, ...) fill it where the value has its type;
wall_seconds = finished - started. Inactive conditional hyperparameters are absent from the log
and so from the hyperparameters table. runs.dataset is --dataset, else a config key "dataset", else
the info's "dataset" (as this project's worker reports it). Re-importing the same (or a grown) log
adds only evaluations not yet stored (same config id and budget); a partly written last line (no
newline yet) is left for the next import.

The log is plain JSON lines, read here without hpbandster (a warehouse module never imports it),
whole and validated before the warehouse is opened for writing.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pipeline.core import cli, hyperband, limits
from pipeline.core.cli import UsageError
from pipeline.core.host import utc_from_unix
from pipeline.warehouse import store
from pipeline.warehouse.imports import ACCURACY_KEYS, check_unchanged, stored_study

# runs column -> the info keys that fill it, first found wins: the column's own name (this project's worker
# reports a whole run record), hpbandster's example workers' names, and common spellings
INFO_COLUMNS = {
    "test_loss": ("test_loss", "test loss"),
    "train_accuracy": ("train_accuracy", "train accuracy"),
    "train_loss": ("train_loss", "train loss"),
    "parameter_count": ("parameter_count", "number of parameters", "num_params", "n_params", "number_of_parameters",
                        "num_parameters", "n_parameters", "params"),
    "epochs": ("epochs", "num_epochs", "n_epochs"),
    "train_seconds": ("train_seconds", "train_time", "training_time"),
    "flops_per_sample": ("flops_per_sample", "flops"),
    "inference_ms_per_image": ("inference_ms_per_image",),
}
FRACTIONS = {"train_accuracy"}  # held in 0..1
INTEGERS = {"parameter_count": 2**63, "epochs": 2**31, "flops_per_sample": 2**63}  # integer columns, below this
DEFAULT_ETA = 3.0  # hpbandster's default, used when a log holds one budget only
MAX_UNIX_SECONDS = 253_402_300_799  # 9999-12-31: the last time a timestamp column holds


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


def _budget_plan(options: HpbandsterImport, evaluations: list[_Evaluation],
                 study: dict | None) -> tuple[float, float, float]:
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


def _info_columns(info) -> dict:
    """Runs columns named by info keys (INFO_COLUMNS), each from the first key whose value fits the column:
    a number (an integer for an integer column, in 0..1 for a fraction); a value that fits none is left out."""
    columns = {}
    if not isinstance(info, dict):
        return columns
    for column, keys in INFO_COLUMNS.items():
        integer = column in INTEGERS
        for key in keys:
            value = info.get(key)
            if isinstance(value, float) and integer and value.is_integer():
                value = int(value)  # an integer count sent as a float (hpbandster's budgets are floats)
            if not _number(value) or not math.isfinite(value) or (integer and not isinstance(value, int)):
                continue
            if (integer and not 0 <= value < INTEGERS[column]) or (column in FRACTIONS and not 0 <= value <= 1):
                continue
            columns[column] = value
            break
    return columns


def _text(info, key: str) -> str | None:
    """A short readable string the worker reported under key (this project's worker reports the dataset)."""
    value = info.get(key) if isinstance(info, dict) else None
    return value if isinstance(value, str) and limits.text_problem(value, key, limits.MAX_VALUE_CHARS) is None else None


def _diverged(info) -> bool:
    """The worker's info says the evaluation diverged."""
    return isinstance(info, dict) and (info.get("diverged") is True or info.get("status") == "diverged")


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
        reported = None if e.result is None else e.result.get("info")  # the worker's info, not config_info
        if e.result is None:
            status, error = "failed", e.exception or "the worker returned no result"
        elif loss is None or not math.isfinite(loss):
            status, error = "diverged", f"the logged loss is {loss}"
        elif _diverged(reported):
            status, error = "diverged", f"the worker's info says it diverged (logged loss {loss})"
        else:
            status, error = "ok", None
        started, finished = e.times.get("started"), e.times.get("finished")
        records.append({
            "trial": e.line - 1, "status": status, "error": error, "loss": loss,
            "dataset": dataset or (None if config.get("dataset") is None else str(config["dataset"])) or _text(
                reported, "dataset"),
            "test_accuracy": _accuracy(reported) if status == "ok" else None,
            **_info_columns(reported),
            "wall_seconds": finished - started if started is not None and finished is not None else None,
            "submitted_at": utc_from_unix(e.times.get("submitted")), "started_at": utc_from_unix(started),
            "finished_at": utc_from_unix(finished),
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
    names = {n: None for config, _ in configs.values() for n in config if n != "dataset"}  # unique, in log order
    limits.check_names(names, str(configs_path),
                       "a log's names cannot be renamed: import the sweep with names that can be columns", UsageError)
    return configs, evaluations, {"configs.json": hashlib.sha256(configs_data).hexdigest(),
                                  "results.json": hashlib.sha256(results_data).hexdigest()}


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


def _views(con) -> set[str]:
    return {row[0] for row in con.execute("select view_name from duckdb_views()").fetchall()}


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
    study, stored = stored_study(path, options.study)
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
        check_unchanged(con, options.study, study, len(stored))
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

