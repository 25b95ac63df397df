"""SQL: any question the warehouse's tables can answer, in DuckDB SQL, in a read-only sandbox."""

from functools import partial
from io import BytesIO
from pathlib import Path

import polars as pl
import streamlit as st

from pipeline.app.sql_console import (
    EXAMPLES,
    MAX_BYTES,
    MAX_ROWS,
    MEMORY_MB,
    TIMEOUT_S,
    Answer,
    QueryBusy,
    QueryRefused,
    run_query,
)
from pipeline.app.state import file_version, sidebar

# Few entries: an answer may be up to MAX_BYTES, and the page must stay small whatever people type.
CACHED_ANSWERS = 8
QUERY_KEY = "sql.query"
EXAMPLE_KEY = "sql.example"


@st.cache_data(show_spinner=False, max_entries=CACHED_ANSWERS)
def _cached_run(path: str, version: tuple, query: str) -> Answer | str:
    """The answer, or why it was refused: a refusal is kept too, so a rerun does not run the query again
    (a busy warehouse or page is not kept: the next try may get through)."""
    try:
        return run_query(Path(path), query)
    except QueryBusy:
        raise
    except QueryRefused as err:
        return str(err)


def _load_example() -> None:
    st.session_state[QUERY_KEY] = EXAMPLES[st.session_state[EXAMPLE_KEY]]


def _csv(table: pl.DataFrame) -> bytes:
    return table.write_csv().encode()


def _parquet(table: pl.DataFrame) -> bytes:
    buffer = BytesIO()
    table.write_parquet(buffer)
    return buffer.getvalue()


def render() -> None:
    path = sidebar()
    st.title("SQL")
    st.write("Ask the warehouse what no page shows: write DuckDB SQL over its tables, see the answer, "
             "download it.")
    st.session_state.setdefault(QUERY_KEY, next(iter(EXAMPLES.values())))
    st.selectbox("Start from an example", list(EXAMPLES), key=EXAMPLE_KEY, on_change=_load_example)
    query = st.text_area("Query", key=QUERY_KEY, height=320)
    st.button("Run", type="primary", icon=":material/play_arrow:")
    st.caption(f"Read-only sandbox: one query (SELECT, WITH, FROM, DESCRIBE, SHOW, SUMMARIZE, PIVOT ... IN) over a "
               f"private copy of `{path}`, in a process of its own; no other files, no network, no extensions, "
               f"no settings; at most {MAX_ROWS:,} rows and {MAX_BYTES / 2**20:g} MB of answer, {TIMEOUT_S:g} s and "
               f"{MEMORY_MB / 1024:g} GB of memory per query. Tables: `runs`, `hyperparameters`, `curves`, "
               "`studies`, `sweep_plan`, views `run_details` and `study_<name>`.")
    if not query or not query.strip():
        st.info("Write a query above, or pick an example.")
        return
    try:
        with st.spinner("Running the query..."):
            answer = _cached_run(str(path), file_version(path), query)
    except QueryBusy as err:
        st.warning(str(err))
        return
    if isinstance(answer, str):
        st.error(answer)
        return
    table, truncated = answer

    st.dataframe(table, hide_index=True, width="stretch")
    if truncated == "rows":
        st.caption(f"Showing the first {MAX_ROWS:,} rows: the result has more (the downloads hold these "
                   "rows too). Aggregate or add a `limit` to see the rest in pieces.")
    elif truncated == "bytes":
        st.caption(f"Showing the first {table.height:,} rows, {MAX_BYTES / 2**20:g} MB: the result has more (the "
                   "downloads hold these rows too). Select fewer or shorter columns to see more rows.")
    else:
        st.caption(f"{table.height:,} row{'' if table.height == 1 else 's'}, {table.width} columns.")
    left, right = st.columns(2)
    # made only when clicked: the answer's bytes are not held twice more for every rerun
    left.download_button("Download CSV", partial(_csv, table), file_name="query.csv", mime="text/csv",
                         on_click="ignore", icon=":material/download:")
    right.download_button("Download Parquet", partial(_parquet, table), file_name="query.parquet",
                          mime="application/vnd.apache.parquet", on_click="ignore", icon=":material/download:")


render()
