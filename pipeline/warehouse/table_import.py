"""Import a per-network table (CSV or Parquet): the work of `python -m pipeline.importers table FILE`.

It imports an ensemble trained elsewhere, one row per network (trial = row number, from 0): the
accuracy column (--accuracy, default the first of "test_accuracy", "test accuracy", "accuracy")
becomes runs.test_accuracy (0..1; an empty one makes the run failed), the dataset column
(--dataset-column, default "dataset" when there is one) runs.dataset, and the other columns (or
--params) hyperparameters, renamed by --map COLUMN=NAME; an empty cell (or NaN) is an inactive
hyperparameter. The work happens in DuckDB SQL (read, UNPIVOT into the long hyperparameters
table, insert): 200,000 rows of 14 hyperparameters take about 1.2 s on 2 cores
(`python -m pipeline.benchmarks.table_import`, BENCHMARKS.md). Importing the same file (same
sha256) into the same study again does nothing; another file into it is refused.

The file is read and checked in an in-memory DuckDB database; the warehouse is opened for
writing only once everything passed.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipeline.core import cli, limits
from pipeline.core.cli import UsageError
from pipeline.warehouse import store
from pipeline.warehouse.imports import ACCURACY_KEYS, check_unchanged, stored_study

PARQUET_SUFFIXES = {".parquet", ".pq"}  # anything else is read as CSV (DuckDB sniffs the dialect)
INT_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
             "UBIGINT", "UHUGEINT"}


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
    if "dataset" in names.values():
        raise UsageError(f"{file}: 'dataset' is stored as runs.dataset, not as a hyperparameter")
    limits.check_names(names.values(), str(file),
                       "rename it with --map COLUMN=NAME, or leave the column out with --params", UsageError)
    twice = sorted({n for n in names.values() if list(names.values()).count(n) > 1})
    if twice:
        raise UsageError(f"{file}: hyperparameter name(s) {', '.join(twice)} given to more than one column")
    return accuracy, dataset, names


def _check_accuracy(con, file: Path, accuracy: str) -> None:
    low, high = con.execute(f"select min(a), max(a) from (select {limits.sql_ident(accuracy)}::double as a "
                            "from source) where not isnan(a)").fetchall()[0]
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
            aggregates.append(f"list(distinct {ident}::varchar order by {ident}::varchar) "
                              f"filter (where {ident} is not null)")
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
    return con.sql(f"select rowid as trial, {limits.sql_ident(accuracy)}::double as test_accuracy, "
                   f"{dataset_sql} as dataset, {', '.join(structs)} from source order by rowid").to_arrow_table()


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
    study, _ = stored_study(path, options.study)
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
        check_unchanged(con, options.study, None, 0)
        study_id = store.create_study(con, name=options.study, kind="import", search_space=json.dumps(space),
                                      settings=settings, seed=None,
                                      param_types={names[c]: kinds[c] for c in names})
        _insert_table(con, study_id, staged, list(names.values()))
        store.finish_study(con, study_id)  # a table is complete; a log may still grow, so it is not
    print(f"imported {staged.num_rows} networks of {file} into study '{options.study}' in {path}", file=sys.stderr)
    return staged.num_rows

