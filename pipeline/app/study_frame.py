"""One study, binned and normalized, in an in-memory DuckDB table the app aggregates over.

The warehouse stores hyperparameters long (run_id, name, value), and per study wide
(pipeline/warehouse/wide.py). The app loads a study once per warehouse version into an in-memory database
of the process's DuckDB hub (store.hub()), one row per run:

    run_id, trial, status, dataset, accuracy, <metrics>, accuracy_norm,
    b0, b1, ...   the option code of each parameter: 0.. len(labels) - 1, the position of its value or bin
    h<i>          the raw value of each binned parameter (a bin hides it; an option's code names it)

Parameter 0 is always `dataset` (a column of runs), the others are the study's hyperparameters
in name order. Numbers with at most MAX_OPTIONS distinct values are options as they are; wider
numbers are cut into BINS bins, logarithmic when the space says `log` or the values span two
decades or more. A run where a conditional hyperparameter is inactive gets the option
"(inactive)". Options are in value order, so codes sort as values do. `accuracy_norm` is test
accuracy rescaled per dataset, (x - min) / (max - min) over the study's runs of that dataset (0 is
its worst run, usually a dead one at chance, 1 its best), so datasets with their own levels share
one axis; `accuracy_rank` is the run's percentile within its dataset, (average rank - 0.5) / n over
the dataset's finished runs with an accuracy (ties share the average of their ranks), under which
every dataset is uniform (pipeline/app/selection.py says what each scale means to a person). The rank
is counted per distinct accuracy (a test accuracy is correct / test images: a few thousand values), not
sorted per run: 0.055 s of the load at 1,000,000 runs on 2 cores instead of 0.2 s.

Loading 1,000,000 runs of 13 hyperparameters takes about 0.6 s on 2 cores, 16,000 about 40 ms;
queries on the loaded table then take milliseconds to a few hundred (BENCHMARKS.md). Column
names in generated SQL are only ever h<i> / b<i> built from integers, or hyperparameter names
quoted with limits.sql_ident; values go in as parameters.

The database also holds the macro accuracy_on(scale, run), a run's accuracy on the chosen scale
('raw', 'normalized' or 'rank': `accuracy_on($scale, study)` in the named queries), so that choice is
written once.

A sweep study (its runs have budgets) mixes budgets: a configuration promoted twice is three runs. Its
frame has a parameter `budget` (the run column, as option codes, listed last) and `frame.chosen(TOP)`
or `frame.chosen(9.0)` is the same study narrowed to each configuration's evaluation on the largest
budget it reached, or to the runs on one budget: a table `study` of its own in a schema of the
study's database (study_sql/chosen_runs.sql, made on first use), so every named query sees only the
chosen runs without saying so. A missing dataset is the option NOT_RECORDED, and the study table's
dataset column says so too.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import polars as pl

from pipeline.core import limits
from pipeline.warehouse import store, wide

MAX_OPTIONS = 12  # numbers with more distinct values than this are binned
BINS = 8
INACTIVE = "(inactive)"
NOT_RECORDED = "not recorded"  # the dataset of a run that has none (imported logs often lack it)
TOP = "top"  # the budget choice: each configuration's evaluation on the largest budget it reached
SQL_DIR = Path(__file__).parent / "study_sql"
METRICS = ("loss", "test_loss", "train_accuracy", "epochs", "budget", "bracket", "round", "sampled_as", "config_id",
           "parameter_count", "flops_per_sample", "train_seconds", "inference_ms_per_image")
# `run` is the row as a struct (the table's name used as a column): a macro cannot name columns of
# its caller's table, and DuckDB folds $scale and reads only the column chosen. The scales are
# pipeline/app/selection.py's SCALES; an unknown one is an error, not raw accuracy.
ACCURACY_MACRO = ("create macro {database}.accuracy_on(scale, run) as "
                  "case scale when 'raw' then run.accuracy when 'normalized' then run.accuracy_norm "
                  "when 'rank' then run.accuracy_rank else error('unknown accuracy scale: ' || scale) end")


class StudyError(ValueError):
    """The study cannot answer what was asked; the message says why."""


@dataclass(frozen=True)
class StudyParam:
    """A column of the loaded study: a hyperparameter (or the dataset) as option codes, binned where wide."""
    name: str
    index: int
    labels: tuple[str, ...]  # option labels in display order; code i is labels[i]
    options: tuple = ()  # the values of an unbinned parameter, code i is options[i]
    edges: tuple[float, ...] = ()  # bin edges of a binned one
    log: bool = False
    run_column: bool = False  # a column of runs (budget): tables show it as that column, not as a hyperparameter

    @property
    def binned(self) -> bool:
        return bool(self.edges)

    @property
    def inactive(self) -> int | None:
        """The code of runs where the parameter is inactive, if it has any."""
        return len(self.labels) - 1 if self.labels and self.labels[-1] in (INACTIVE, NOT_RECORDED) else None

    @property
    def value(self) -> str:
        """The raw-value column; the study table has it for binned parameters only (code i is options[i] otherwise)."""
        return f"h{self.index}"

    @property
    def code(self) -> str:
        return f"b{self.index}"


class StudyFrame:
    """A loaded study: its parameters and a table `study`, in an in-memory database of the process's
    DuckDB hub (store.hub()) that is dropped with the frame, to run named queries on."""

    def __init__(self, study: dict, params: list[StudyParam], database: str, budgets: tuple[float, ...] = (), *,
                 budget: str | float | None = None, whole: StudyFrame | None = None):
        self.study = study
        self.params = params
        self.budgets = budgets  # the distinct budgets of the study's runs; empty: not a sweep study
        self.budget = budget  # the budget choice this frame shows (TOP or a budget), None: every run
        self._database = database
        self._whole = whole  # the frame of every run, whose database this one's schema lives in
        if whole is None:
            weakref.finalize(self, store.detach, database)
            self._chosen: dict = {}
            self._chosen_lock = threading.Lock()
        with store.using(database) as cur:
            self.runs = cur.sql("select count(*) from study").fetchall()[0][0]

    @property
    def database(self) -> str:
        """The in-memory database whose `study` table this frame queries (for a hub cursor's `use`)."""
        return self._database

    def chosen(self, budget: str | float | None) -> StudyFrame:
        """The study narrowed to a budget choice: TOP (each configuration on its largest budget) or one
        budget of self.budgets; None, or a study without budgets: every run (this frame)."""
        whole = self._whole or self
        if budget is None or not whole.budgets:
            return whole
        if budget != TOP and budget not in whole.budgets:
            raise StudyError(f"study '{self.study['name']}' has no runs on budget {budget}; it has budgets "
                             f"{', '.join(_short(b) for b in whole.budgets)}")
        with whole._chosen_lock:
            if budget not in whole._chosen:
                schema = "chosen_top" if budget == TOP else f"chosen_b{whole.budgets.index(budget)}"
                location = f"{whole._database}.{schema}"
                text = _scored(_template("chosen_runs").format(source=f"{whole._database}.main.study"))
                with store.using(whole._database) as cur:
                    cur.execute(f"create schema {location}")
                    cur.execute(f"create table {location}.study as {text}",
                                {"top": budget == TOP, "budget": None if budget == TOP else float(budget)})
                    cur.execute(ACCURACY_MACRO.format(database=location))
                # one budget: the budget parameter has one option left, so it is no parameter
                params = [p for p in whole.params if budget == TOP or p.name != "budget" or not p.run_column]
                whole._chosen[budget] = StudyFrame(self.study, params, location, whole.budgets,
                                                   budget=budget, whole=whole)
            return whole._chosen[budget]

    def param(self, name: str) -> StudyParam:
        for p in self.params:
            if p.name == name:
                return p
        raise StudyError(f"study '{self.study['name']}' has no hyperparameter '{name}'; "
                         f"it has {', '.join(p.name for p in self.params)}")

    def query(self, name: str, params: dict | None = None, **fragments: str) -> pl.DataFrame:
        """Run pipeline/app/study_sql/NAME.sql; fragments fill {placeholders} with generated column lists."""
        text = _template(name).format(**fragments)
        # a cursor of its own: sessions run queries in parallel threads
        with store.using(self._database) as cur:
            return cur.sql(text, params=params or {}).pl()


def load(path: Path, study_name: str) -> StudyFrame:
    """Read one study from the warehouse into memory; the file is held (read-only) only for the read."""
    with store.read(path) as con:  # checks the file and waits out a writer's lock
        study = store.get_study(con, study_name)
        if study is None:
            raise StudyError(f"the warehouse has no study '{study_name}'")
        study_id = study["study_id"]
        sources = wide.columns(con, study_id)
        if sources is None:
            raise store.WarehouseError(f"{path} has no wide table for study '{study_name}'; upgrade it: "
                                           f"python -m pipeline.warehouse upgrade --warehouse {path}")
        dataset = limits.sql_ident("dataset")
        columns = [_Column("dataset", False, dataset, "runs", "study_id = $study_id")] + [
            _Column(name, numeric, limits.sql_ident(name), wide.table_name(study_id)) for name, numeric in sources]
        params = _describe(con, columns, space_log_flags(study.get("search_space")), study_id)
        if params[0].inactive is not None:
            params[0] = dataclasses.replace(params[0], labels=(*params[0].labels[:-1], NOT_RECORDED))
        budgets = tuple(b for (b,) in _run(con, _BUDGETS, study_id).fetchall())
        if budgets and len(budgets) <= MAX_OPTIONS and "budget" not in {p.name for p in params}:
            params.append(StudyParam("budget", len(params), tuple(_short(b) for b in budgets), options=budgets,
                                     run_column=True))
        # codes are computed on the wide table before the join, so the join carries bytes, not the values
        # (1,000,000 runs: 0.65 -> 0.45 s); raw values are kept only where a bin hides them
        hyperparameters = [(param, column) for param, column in zip(params, columns) if param.index]
        raw_values = [f"{column.sql} as {param.value}" for param, column in hyperparameters if param.binned]
        codes = [f"{_code_sql(param, column.sql)} as {param.code}" for param, column in hyperparameters]
        text = _template("study_table").format(
            metrics=", ".join(METRICS), wide_table=wide.table_name(study_id),
            wide_columns=_column_list(["run_id", *raw_values, *codes]),
            dataset_code=_code_sql(params[0], f"r.{dataset}"))
        budget_code = [f"{_code_sql(p, 'budget')} as {p.code}" for p in params if p.run_column]
        text = _scored(_RUN_FACTS.format(codes="".join(f",\n    {code}" for code in budget_code), study=text),
                       _SCORED_FACTS)
        database = store.attach("study")
        try:
            con.execute(f"create table {database}.study as {text}",
                        {"study_id": study_id, "not_recorded": NOT_RECORDED, **_code_params(params)})
            con.execute(ACCURACY_MACRO.format(database=database))
        except BaseException:
            store.detach(database)
            raise
    return StudyFrame(study, params, database, budgets)


# the study table with a missing dataset named and the budget's option code (where budget is a parameter)
_RUN_FACTS = """select
    * replace (coalesce(dataset, $not_recorded) as dataset){codes}
from (
{study}
)"""
# what the accuracy scales need of the study's runs, straight from the runs table
_SCORED_FACTS = """select status, coalesce(dataset, $not_recorded) as dataset, test_accuracy as accuracy
from runs
where study_id = $study_id"""
_BUDGETS = """select distinct budget
from runs
where study_id = $study_id and budget is not null
order by 1"""


def _template(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


def _scored(runs_query: str, facts_query: str | None = None) -> str:
    """`runs_query` with its accuracy scales added per dataset over its own runs (accuracy_scales.sql);
    `facts_query` gives the same runs' status, dataset and accuracy alone, where that is cheaper."""
    return _template("accuracy_scales").format(runs=f"(\n{runs_query}\n)",
                                               facts=f"(\n{facts_query or runs_query}\n)")


def _column_list(items: list[str], indent: int = 8) -> str:
    """Select items one per line, at the indent of the column lists in the templates."""
    return (",\n" + " " * indent).join(items)


@dataclass(frozen=True)
class _Column:
    """Where a parameter's values are in the attached warehouse."""
    name: str
    numeric: bool
    sql: str  # the column, quoted
    table: str  # the table holding it, one row per run of the study where `rows` holds
    rows: str = "true"


def parsed_space(search_space) -> dict:
    """A study's search space (JSON text or parsed) as {name: spec}; {} for none, bad JSON or another shape."""
    try:
        space = json.loads(search_space) if isinstance(search_space, str) else (search_space or {})
    except ValueError:
        return {}
    return space if isinstance(space, dict) else {}


def space_log_flags(search_space) -> dict[str, bool]:
    """What a study's search space (JSON text or parsed) says of each number's scale, where it says it: `log`
    true or false. A space that says nothing of a parameter (an imported log's, inferred from its values)
    leaves it out, and so does a space of another shape than ours."""
    space = parsed_space(search_space)
    return {name: bool(spec["log"]) for name, spec in space.items() if isinstance(spec, dict) and "log" in spec}


def _describe(con, columns: list[_Column], logs: dict[str, bool], study_id: int) -> list[StudyParam]:
    """Options of every parameter from its values in the warehouse.

    Whether a number is binned is decided by an approximate distinct count (HyperLogLog, a few
    per cent off, 3x faster than an exact one at 1,000,000 runs); near the threshold the exact
    values decide.
    """
    params = []
    for index, (column, stats) in enumerate(zip(columns, _stats(con, columns, study_id))):
        extra = (INACTIVE,) if stats.nulls else ()
        options = [] if column.numeric and stats.distinct > 2 * MAX_OPTIONS else _values(con, column, study_id)
        if column.numeric and (len(options) > MAX_OPTIONS or (not options and stats.distinct)):
            low, high = stats.low, stats.high
            log = low > 0 and (logs.get(column.name, False) or high / low >= 100)
            edges = _edges(low, high, log)
            ends = _distinct_labels(edges)
            labels = tuple(f"{a}–{b}" for a, b in itertools.pairwise(ends))
            params.append(StudyParam(column.name, index, labels + extra, edges=tuple(edges), log=log))
        else:
            labels = _distinct_labels(options) if column.numeric else tuple(str(v) for v in options)
            params.append(StudyParam(column.name, index, labels + extra, options=tuple(options)))
    return params


def _values(con, column: _Column, study_id: int) -> list:
    """Distinct values, one query per column: 4x faster than list(distinct) for all columns in one."""
    text = _VALUES.format(column=column.sql, table=column.table, rows=column.rows)
    return [v for (v,) in _run(con, text, study_id).fetchall()]


_VALUES = """select distinct {column}
from {table}
where {rows} and {column} is not null
order by 1"""


class _Stats(NamedTuple):
    """What decides how a column is shown."""
    distinct: int  # approximate count of distinct values
    low: object
    high: object
    nulls: int  # runs where it is missing (an inactive hyperparameter)


_STAT_SQL = {"distinct": "approx_count_distinct({column})", "low": "min({column})", "high": "max({column})",
             "nulls": "count(*) - count({column})"}
# one source table's aggregates, named <stat>_<column index>
_STATS_SCAN = """(
    select
        {aggregates}
    from {table}
    where {rows}
)"""


def _stats(con, columns: list[_Column], study_id: int) -> list[_Stats]:
    """_Stats of every column: one query, one scan per source table (the runs and the wide table)."""
    sources: dict[tuple[str, str], dict[int, str]] = {}
    for i, column in enumerate(columns):
        sources.setdefault((column.table, column.rows), {})[i] = column.sql
    scans = [_STATS_SCAN.format(table=table, rows=rows, aggregates=_column_list(
                 [f"{sql.format(column=column)} as {stat}_{i}" for i, column in members.items()
                  for stat, sql in _STAT_SQL.items()]))
             for (table, rows), members in sources.items()]
    result = _run(con, "select *\nfrom " + ",\n".join(scans), study_id)
    row = dict(zip((d[0] for d in result.description), result.fetchone()))
    return [_Stats(*(row[f"{stat}_{i}"] for stat in _Stats._fields)) for i in range(len(columns))]


def _run(con, text: str, study_id: int):
    return con.execute(text, {"study_id": study_id} if "$study_id" in text else {})


def _edges(low: float, high: float, log: bool) -> list[float]:
    if log:
        a, b = math.log(low), math.log(high)
        return [math.exp(a + (b - a) * i / BINS) for i in range(BINS + 1)]
    return [low + (high - low) * i / BINS for i in range(BINS + 1)]


def _short(value: float, digits: int = 2) -> str:
    """A number as a short label: integers as they are, others with `digits` significant digits."""
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.{digits}g}"


def _distinct_labels(values) -> tuple[str, ...]:
    """Short labels of distinct numbers, with as many significant digits as it takes to keep them apart
    (0.5712 and 0.5711 are not both "0.57")."""
    for digits in range(2, 18):
        labels = tuple(_short(v, digits) for v in values)
        if len(set(labels)) == len(labels):
            return labels
    return tuple(repr(float(v)) for v in values)


def _code_sql(p: StudyParam, source: str) -> str:
    """The option code of each run, as SQL over the column `source` with the parameter's options bound as $o<i>."""
    if p.binned:
        x = f"ln({source})" if p.log else source
        code = f"least(greatest(floor(({x} - $lo{p.index}) / $w{p.index}), 0), {BINS - 1})"
    else:
        code = f"list_position($o{p.index}, {source}) - 1"
    if p.inactive is not None:  # explicit: greatest() and least() skip nulls
        code = f"case when {source} is null then {p.inactive} else {code} end"
    return f"({code})::utinyint"


def _code_params(params: list[StudyParam]) -> dict:
    values = {}
    for p in params:
        if p.binned:
            a, b = (math.log(p.edges[0]), math.log(p.edges[-1])) if p.log else (p.edges[0], p.edges[-1])
            values[f"lo{p.index}"], values[f"w{p.index}"] = a, (b - a) / BINS or 1.0
        else:
            values[f"o{p.index}"] = list(p.options)
    return values
