"""Runs table: the selected networks with every hyperparameter and metric, to sort, filter and download.

Hyperparameters lead; columns that no run of the study fills (bracket and round of an ensemble) are left out.
"""

import functools
import io

import streamlit as st

from pipeline.app import study_views
from pipeline.app.state import current_selection, sidebar, study_or_stop


def _export(frame, selection, filters, order, descending, fmt: str) -> bytes:
    """The whole filtered selection as CSV or Parquet, made only when the person clicks download."""
    table = study_views.selected_runs(frame, selection, filters=filters, order=order, descending=descending, limit=None)
    table = study_views.runs_table(frame, table)
    buffer = io.BytesIO()
    table.write_csv(buffer) if fmt == "csv" else table.write_parquet(buffer)
    return buffer.getvalue()


def render() -> None:
    path = sidebar()
    st.title("Runs table")
    st.write("The selected networks, one row each, with every hyperparameter and metric.")
    frame = study_or_stop(path)
    selection = current_selection()
    columns = ["accuracy", "accuracy_norm", "accuracy_rank", "trial", *[p.name for p in frame.params]]
    cols = st.columns([2, 1])
    order = cols[0].selectbox("Sort by", columns, key="runs.order")
    descending = cols[1].toggle("Descending", value=True, key="runs.descending")
    filters = {}
    with st.expander("Filter by hyperparameter"):
        for param in frame.params:
            chosen = st.multiselect(param.name, param.labels, key=f"runs.filter.{param.name}")
            if chosen:
                filters[param.name] = chosen
    table = study_views.runs_table(frame, study_views.selected_runs(frame, selection, filters=filters, order=order,
                                                                     descending=descending))
    total = study_views.selected_runs_count(frame, selection, filters=filters)
    if total == 0:
        st.warning("No finished network matches the selection and filters.")
        return
    shown = f"the first {table.height:,}" if table.height < total else "all"
    st.caption(f"{total:,} networks ({selection.label if selection else 'all finished networks'}); showing {shown}. "
               "Downloads hold all of them.")
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "accuracy": st.column_config.NumberColumn("test accuracy", format="%.4f"),
        "accuracy_norm": st.column_config.NumberColumn("normalized accuracy", format="%.4f"),
        "accuracy_rank": st.column_config.NumberColumn("rank within dataset", format="%.4f",
                                                       help="percentile of test accuracy within the run's dataset"),
    })
    args = (frame, selection, filters, order, descending)
    name = f"{frame.study['name']}-selection"
    left, right = st.columns(2)
    left.download_button("Download CSV", functools.partial(_export, *args, "csv"), file_name=f"{name}.csv",
                         mime="text/csv", on_click="ignore", key="runs.download_csv")
    right.download_button("Download Parquet", functools.partial(_export, *args, "parquet"), file_name=f"{name}.parquet",
                          mime="application/vnd.apache.parquet", on_click="ignore", key="runs.download_parquet")


render()
