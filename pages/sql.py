"""SQL: any question the warehouse's tables can answer, in DuckDB SQL, in a read-only sandbox."""

from io import BytesIO
from pathlib import Path

import polars as pl
import streamlit as st

from pipeline.app_data import file_version, sidebar
from pipeline.sql_console import EXAMPLES, MAX_ROWS, SANDBOX_CONFIG, TIMEOUT_S, QueryRefused, run_query


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_run(path: str, version: tuple, query: str) -> tuple[pl.DataFrame, bool]:
    return run_query(Path(path), query)


def _load_example() -> None:
    st.session_state["sql_query"] = EXAMPLES[st.session_state["sql_example"]]


def render() -> None:
    path = sidebar()
    st.title("SQL")
    st.write("Ask the warehouse what no page shows: write DuckDB SQL over its tables, see the answer, "
             "download it.")
    st.session_state.setdefault("sql_query", next(iter(EXAMPLES.values())))
    st.selectbox("Start from an example", list(EXAMPLES), key="sql_example", on_change=_load_example)
    query = st.text_area("Query", key="sql_query", height=320)
    st.button("Run", type="primary", icon=":material/play_arrow:")
    st.caption(f"Read-only sandbox: one query (SELECT, WITH, FROM, DESCRIBE, SHOW, SUMMARIZE, PIVOT) over "
               f"`{path}`; no other files, no network, no extensions, no settings; at most {MAX_ROWS:,} rows, "
               f"{TIMEOUT_S:g} s and {SANDBOX_CONFIG['memory_limit']} of memory per query. Tables: `runs`, "
               "`hyperparameters`, `curves`, `studies`, `sweep_plan`, views `run_details` and `study_<name>`.")
    if not query or not query.strip():
        st.info("Write a query above, or pick an example.")
        return
    try:
        with st.spinner("Running the query..."):
            frame, truncated = _cached_run(str(path), file_version(path), query)
    except QueryRefused as err:
        st.error(str(err))
        return

    st.dataframe(frame, hide_index=True, width="stretch")
    if truncated:
        st.caption(f"Showing the first {MAX_ROWS:,} rows: the result has more (the downloads hold these "
                   "rows too). Aggregate or add a `limit` to see the rest in pieces.")
    else:
        st.caption(f"{frame.height:,} row{'' if frame.height == 1 else 's'}, {frame.width} columns.")
    left, right = st.columns(2)
    try:
        csv = frame.write_csv()
    except pl.exceptions.ComputeError:  # list and struct columns have no CSV form
        left.caption("CSV cannot hold this result's list or struct columns: download Parquet.")
    else:
        left.download_button("Download CSV", csv, file_name="query.csv", mime="text/csv",
                             on_click="ignore", icon=":material/download:")
    parquet = BytesIO()
    frame.write_parquet(parquet)
    right.download_button("Download Parquet", parquet.getvalue(), file_name="query.parquet",
                          mime="application/vnd.apache.parquet", on_click="ignore", icon=":material/download:")


render()
