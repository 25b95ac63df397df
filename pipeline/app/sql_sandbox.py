"""One query typed on the app's SQL page, run in a process of its own: the sandbox's inside.

    echo '{"query": "from runs limit 5", "snapshot": "/tmp/.../warehouse.duckdb", "max_rows": 10000,
           "max_bytes": 16777216, "memory_mb": 2048}' | python -m pipeline.app.sql_sandbox

The app (pipeline/app/sql_console.py) starts this with the working folder set to a fresh, private output
folder and kills it at its wall-clock limit; it never runs the query in its own process. This side:

1. caps itself before DuckDB is even imported: address space (`memory_mb`), the size of any file it
   writes (`max_bytes` plus room for Arrow's framing), CPU seconds, no core dumps;
2. opens the *snapshot* it is given (a private copy of the warehouse, never the warehouse itself)
   read-only, with external access off and the configuration locked;
3. checks the statement with DuckDB's own parser and admits only what it can prove read-only
   (`check_statement`);
4. streams the answer in Arrow batches and stops at `max_rows` rows or `max_bytes` bytes, whichever
   comes first, so a huge answer never materializes; columns that polars, CSV or the browser cannot
   hold (intervals, lists, blobs, infinite timestamps, ...) come back as text;
5. writes `result.arrow` (an Arrow IPC stream) and `status.json` into its working folder:
   {"ok": true, "truncated": null | "rows" | "bytes"} or {"ok": false, "message": "..."}.
It imports only duckdb and pyarrow (about 0.3 s to start).
"""

from __future__ import annotations

import json
import os
import resource
import sys

# Only what a read can produce. Anything else in the parsed tree (a node type this list does not
# know, for example from a newer DuckDB) is refused rather than guessed at.
KNOWN_NODE_TYPES = {
    "SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE", "BOUND_SUBQUERY",
    "BASE_TABLE", "JOIN", "SUBQUERY", "TABLE_FUNCTION", "EXPRESSION_LIST", "EMPTY", "EMPTY_FROM", "PIVOT",
    "SHOW_REF", "COLUMN_DATA",
    "ORDER_MODIFIER", "LIMIT_MODIFIER", "LIMIT_PERCENT_MODIFIER", "DISTINCT_MODIFIER",
    "COLUMN_REF", "CONSTANT", "VALUE_CONSTANT", "VALUE_PARAMETER", "PARAMETER", "FUNCTION", "AGGREGATE", "STAR",
    "CAST", "OPERATOR_CAST", "TRY_CAST", "OPERATOR_TRY", "COLLATE", "CASE", "CASE_EXPR", "BETWEEN",
    "COMPARE_BETWEEN", "COMPARE_NOT_BETWEEN", "COMPARISON", "CONJUNCTION", "OPERATOR", "LAMBDA", "LAMBDA_REF",
    "POSITIONAL_REFERENCE", "WINDOW", "TYPE", "DEFAULT", "VALUE_DEFAULT", "GROUPING_FUNCTION",
    "ORDER_DEFAULT", "ASCENDING", "DESCENDING",
}
KNOWN_NODE_PREFIXES = ("COMPARE_", "CONJUNCTION_", "OPERATOR_", "WINDOW_", "ARRAY_", "STRUCT_", "VALUE_")
# Table functions that only read the database itself or make values. Every other one is refused:
# table functions are where DuckDB keeps its side effects (checkpoint), reads of other files
# (read_csv, glob, ...) and statements hidden in a string (query, query_table), which no check of
# the parsed tree can see into.
READING_TABLE_FUNCTIONS = {
    "range", "generate_series", "unnest", "repeat", "repeat_row", "json_each", "json_tree",
    "pragma_table_info", "pragma_show", "pragma_version", "pragma_database_size", "pragma_storage_info",
    "pragma_metadata_info", "pragma_platform", "pragma_user_agent", "pragma_functions", "pragma_collations",
    "duckdb_columns", "duckdb_constraints", "duckdb_databases", "duckdb_dependencies", "duckdb_functions",
    "duckdb_indexes", "duckdb_keywords", "duckdb_schemas", "duckdb_sequences", "duckdb_settings",
    "duckdb_tables", "duckdb_types", "duckdb_views", "duckdb_approx_database_count", "test_all_types",
}
# Functions that change state (a sequence, the random seed, a checkpoint) or run text as SQL.
WRITING_FUNCTIONS = {"nextval", "setseed", "checkpoint", "force_checkpoint", "query", "query_table"}
ALLOWED = ("one read-only query over the warehouse's tables and views: SELECT, WITH ... SELECT, FROM ..., "
           "VALUES, DESCRIBE, SHOW, SUMMARIZE, or PIVOT with an IN list")
CONNECTION_CONFIG = {
    "enable_external_access": False,  # no file but the snapshot, no network, no extensions
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "threads": 2,
    "temp_directory": "",  # never spill to disk: a query over the memory limit fails instead
    "lock_configuration": True,  # nothing above can be SET back by the query
}
# Types polars, CSV and the browser hold for every value; everything else comes back as text.
PLAIN_TYPES = {"BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER",
               "UBIGINT", "FLOAT", "DOUBLE", "VARCHAR", "UUID", "DATE", "TIME", "TIMESTAMP",
               "TIMESTAMP WITH TIME ZONE"}
# DuckDB's infinite (and far) dates and times have no Arrow or polars value: such columns become text.
FINITE_RANGE = {"date": (-719_162, 2_932_896),  # days since 1970 of 0001-01-01 .. 9999-12-31
                "timestamp": (-62_135_596_800_000_000, 253_402_300_799_999_999)}  # the same in microseconds
BATCH_ROWS = 1024


class QueryRefused(Exception):
    """The query is not run; the message says why and what is allowed."""


def check_statement(con, query: str) -> None:
    """Admit exactly one statement that DuckDB's parser shows to be a plain read; refuse the rest."""
    import duckdb

    try:
        statements = con.extract_statements(query)
    except duckdb.Error as err:
        raise QueryRefused(explain(err)) from None
    except Exception as err:  # e.g. `update extensions`, which the 2.0 parser rejects with a ValueError
        raise QueryRefused(f"DuckDB could not read this as a statement it may run here ({type(err).__name__}). "
                      f"Allowed is {ALLOWED}.") from None
    if not statements:
        raise QueryRefused(f"The query is empty (only comments or ';'). Write {ALLOWED}.")
    kinds = [_statement_type(s) for s in statements]
    if len(statements) > 1:
        kinds = ", ".join(kinds)
        raise QueryRefused(f"Only one statement at a time: this text holds {len(statements)} ({kinds}), "
                      f"separated by ';'. Keep one: {ALLOWED}.")
    kind = kinds[0]
    if kind == "MULTI":  # DuckDB expands it into several statements that it runs itself
        raise QueryRefused("This statement expands into several (a PIVOT without an IN list does), which this page "
                      "cannot check, so it only reads. Name the values: `pivot runs on status in ('ok', 'diverged', "
                      f"'failed') using count(*)`. Allowed is {ALLOWED}.")
    if kind != "SELECT":
        what = "Statements of this kind" if kind == "UNKNOWN" else f"{kind} statements"
        raise QueryRefused(f"{what} cannot run here: this console only reads. Allowed is {ALLOWED}; "
                      "not CREATE, INSERT, UPDATE, DELETE, DROP, COPY, EXPORT, ATTACH, INSTALL, LOAD, SET, "
                      "PRAGMA, CALL, CHECKPOINT or EXPLAIN. To look at the schema: `describe runs`, `show tables`, "
                      "`select * from duckdb_columns()`.")
    serialized = con.execute("select json_serialize_sql(?::varchar)", [query]).fetchall()[0][0]
    try:
        tree = json.loads(serialized)
    except RecursionError:
        raise QueryRefused("The query is nested too deeply to check. Write it flatter (a CTE per step).") from None
    if tree.get("error"):  # only a SELECT serializes: anything else is not proven to be one
        raise QueryRefused(f"This statement cannot be shown to only read ({tree.get('error_message')}). "
                      f"Allowed is {ALLOWED}.")
    _check_tree(tree["statements"])


def _statement_type(statement) -> str:
    try:
        return statement.type.name
    except ValueError:  # a type DuckDB's Python API cannot name (`update extensions` in 2.0)
        return "UNKNOWN"


def _check_tree(root) -> None:
    """Every node of the parsed tree is a known kind of read and every function reads (iterative: trees are deep)."""
    stack = [(root, False)]  # (node, whether a function name here names a table function)
    while stack:
        node, table_function = stack.pop()
        if isinstance(node, list):
            stack.extend((item, table_function) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        for key in ("type", "class"):
            kind = node.get(key)
            if isinstance(kind, str) and kind not in KNOWN_NODE_TYPES and not kind.startswith(KNOWN_NODE_PREFIXES):
                raise QueryRefused(f"This query holds a construct this page does not know ({kind}), so it cannot show "
                              f"that it only reads. Allowed is {ALLOWED}.")
        if node.get("type") == "BASE_TABLE" and any(c in str(node.get("table_name")) for c in "/\\:."):
            # `from 'runs.csv'` reads a file through DuckDB's replacement scan; no table here has such a name
            raise QueryRefused(f"`{node['table_name']}` names a file, and files are out of reach here: the SQL page "
                               f"reads only the warehouse's own tables. Allowed is {ALLOWED}.")
        name = node.get("function_name")
        if isinstance(name, str):
            name = name.lower()
            if name in WRITING_FUNCTIONS:
                raise QueryRefused(f"`{name}()` changes state or runs text as SQL, so it cannot run here. "
                              f"Allowed is {ALLOWED}.")
            if table_function and name not in READING_TABLE_FUNCTIONS:
                raise QueryRefused(f"The table function `{name}()` cannot run here: this page reads only the "
                                   "warehouse's own tables (no files, no network, no extensions). Table functions "
                                   f"allowed: {', '.join(sorted(READING_TABLE_FUNCTIONS))}.")
        for key, value in node.items():
            # the function expression of a TABLE_FUNCTION reference is the table function; its arguments are not
            stack.append((value, node.get("type") == "TABLE_FUNCTION" and key == "function"))


def explain(err: Exception) -> str:
    """DuckDB's error in words for the person who typed the query, with DuckDB's own text kept."""
    import duckdb

    text = str(err)
    if isinstance(err, duckdb.PermissionException) or "disabled by configuration" in text \
            or "disabled through configuration" in text:
        human = ("Files, the network and extensions are out of reach here: the SQL page reads only the "
                 f"warehouse's own tables. Allowed is {ALLOWED}.")
    elif "read-only mode" in text:
        human = f"The warehouse is open read-only here: nothing can be changed. Allowed is {ALLOWED}."
    elif "configuration has been locked" in text:
        human = "Settings cannot be changed here: the sandbox's configuration is locked."
    elif isinstance(err, duckdb.OutOfMemoryException | MemoryError) or "Out of Memory" in text:
        human = ("The query needs more memory than the page allows. Aggregate in SQL (group by) or add a where "
                 "clause, rather than returning everything.")
        text = text.splitlines()[0] if text else "out of memory"  # DuckDB goes on to suggest locked settings
    elif isinstance(err, duckdb.ParserException):
        human = "DuckDB could not parse the query: check the syntax near the place it names."
    elif isinstance(err, duckdb.CatalogException | duckdb.BinderException):
        human = ("The query names something that does not exist or does not fit. `show tables` lists the "
                 "tables and views, `describe runs` the columns of one.")
    else:
        human = "DuckDB could not run the query."
    return f"{human}\n\nDuckDB said: {text}"


def _limit_self(memory_mb: int, max_bytes: int, cpu_seconds: int) -> None:
    memory = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    files = max_bytes + 2**20  # the result file and its Arrow framing; any other write is cut short too
    resource.setrlimit(resource.RLIMIT_FSIZE, (files, files))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _plain_columns(rel):
    """The relation with unique column names and every column in a type every consumer can hold."""
    names, taken, next_suffix = [], set(), {}
    for name in rel.columns:  # linear: an answer may have thousands of columns named alike
        unique = name
        while unique.lower() in taken:
            next_suffix[name.lower()] = next_suffix.get(name.lower(), 0) + 1
            unique = f"{name}_{next_suffix[name.lower()]}"
        taken.add(unique.lower())
        names.append(unique)
    exprs = []
    for i, (name, duck_type) in enumerate(zip(names, rel.types), start=1):
        alias = '"' + name.replace('"', '""') + '"'
        text = str(duck_type)
        if text in PLAIN_TYPES:
            exprs.append(f"#{i} as {alias}")
        elif text in ("TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"):  # their Arrow forms wrap infinity silently
            exprs.append(f"#{i}::timestamp as {alias}")
        else:
            exprs.append(f"#{i}::varchar as {alias}")
    return rel.project(", ".join(exprs))


def _fetch(rel, max_rows: int, max_bytes: int):
    """At most max_rows rows and max_bytes bytes of the answer, and what cut it short."""
    import pyarrow as pa

    reader = rel.limit(max_rows + 1).to_arrow_reader(BATCH_ROWS)
    batches, rows, size, truncated = [], 0, 0, None
    for batch in reader:
        if rows + batch.num_rows > max_rows:
            batch, truncated = batch.slice(0, max_rows - rows), "rows"
        if size + batch.nbytes > max_bytes:
            keep = _rows_that_fit(batch, max_bytes - size)
            batch, truncated = batch.slice(0, keep), "bytes"
        batches.append(batch)
        rows, size = rows + batch.num_rows, size + batch.nbytes
        if truncated:
            break
    if truncated == "bytes" and rows == 0:
        raise QueryRefused(f"A single row of the answer is larger than the page's limit of {max_bytes / 2**20:g} MB. "
                      "Select fewer or shorter columns (left(text, 1000), length(text)).")
    return pa.Table.from_batches(batches, schema=reader.schema), truncated


def _rows_that_fit(rows, budget: int) -> int:
    """The length of the longest prefix of `rows` (a record batch or table) whose bytes fit in `budget`."""
    low, high = 0, rows.num_rows
    while low < high:
        middle = (low + high + 1) // 2
        if rows.slice(0, middle).nbytes <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def _finite_dates(table, max_bytes: int):
    """Date and time columns holding DuckDB's infinities (or years past 9999) become text, in one pass;
    text is longer, so the rows are cut to max_bytes again. Returns the table and whether it was cut."""
    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc

    infinite = []
    for index, field in enumerate(table.schema):
        column = table.column(index)
        if pa.types.is_timestamp(field.type):  # microseconds: the projection made every timestamp so
            low, high, width = *FINITE_RANGE["timestamp"], "int64"
        elif pa.types.is_date32(field.type):
            low, high, width = *FINITE_RANGE["date"], "int32"
        else:
            continue
        if column.null_count == len(column):
            continue
        extremes = pc.min_max(column.cast(width))
        if not low <= extremes["min"].as_py() <= extremes["max"].as_py() <= high:
            infinite.append(index)
    if not infinite:
        return table, False
    con = duckdb.connect(config={"enable_external_access": False})
    try:
        con.register("dates", table.select(infinite))
        texts = con.sql(", ".join(f"#{i + 1}::varchar" for i in range(len(infinite)))
                        .join(("select ", " from dates"))).to_arrow_table()
    finally:
        con.close()
    for position, index in enumerate(infinite):
        table = table.set_column(index, table.schema.field(index).name, texts.column(position))
    if table.nbytes <= max_bytes:
        return table, False
    return table.slice(0, _rows_that_fit(table, max_bytes)), True


def answer(request: dict) -> dict:
    """Run the request's query on its snapshot; write result.arrow here and return the status."""
    import duckdb
    import pyarrow as pa

    try:
        con = duckdb.connect(request["snapshot"], read_only=True,
                             config={**CONNECTION_CONFIG, "memory_limit": f"{request['memory_mb'] // 2}MB"})
    except duckdb.Error as err:
        return {"ok": False, "message": f"The warehouse snapshot could not be opened ({err})."}
    try:
        check_statement(con, request["query"])
        table, truncated = _fetch(_plain_columns(con.sql(request["query"])), request["max_rows"],
                                  request["max_bytes"])
        table, cut = _finite_dates(table, request["max_bytes"])
        truncated = "bytes" if cut else truncated
    except QueryRefused as err:
        return {"ok": False, "message": str(err)}
    except (duckdb.Error, MemoryError) as err:
        return {"ok": False, "message": explain(err)}
    finally:
        con.close()
    try:
        with pa.OSFile("result.arrow", "wb") as sink, pa.ipc.new_stream(sink, table.schema) as stream:
            stream.write_table(table)
    except OSError:  # the file-size limit (EFBIG): counted bytes and written bytes never differ by this much
        return {"ok": False, "message": f"The answer is larger than the page's limit of "
                                        f"{request['max_bytes'] / 2**20:g} MB. Select fewer or shorter columns."}
    return {"ok": True, "truncated": truncated}


def main() -> None:
    import duckdb  # noqa: F401 - imported while the process waits as the app's spare (see sql_console.Spares)
    import pyarrow  # noqa: F401

    text = sys.stdin.read()
    if not text:  # the app stopped without giving this spare a query
        return
    request = json.loads(text)
    _limit_self(request["memory_mb"], request["max_bytes"], request["cpu_seconds"])
    try:
        status = answer(request)
    except MemoryError:
        status = {"ok": False, "message": explain(MemoryError("Out of Memory"))}
    except Exception as err:  # never a traceback: the page shows this text
        status = {"ok": False, "message": f"The query could not be answered ({type(err).__name__}: {err})."}
    with open("status.json", "w") as out:
        json.dump(status, out)
    # everything is on disk; tearing down DuckDB and Arrow would add ~100 ms to every query's wait
    os._exit(0)


if __name__ == "__main__":
    main()
