"""Overview: what the warehouse holds (studies, runs per dataset and status, best accuracy)."""

import polars as pl
import streamlit as st

from pipeline.app import charts
from pipeline.app.state import cached_query, sidebar
from pipeline.app.study_frame import NOT_RECORDED

STATUSES = tuple(charts.STATUS_COLORS)


def render() -> None:
    path = sidebar(study_controls=False)  # this page shows every study
    st.title("Experiment warehouse")
    st.write("What has been trained so far: every study, and how its networks ended up.")
    studies = cached_query(path, "home_overview")
    by_dataset = cached_query(path, "runs_by_dataset_status")
    recorded = by_dataset["dataset"].drop_nulls().n_unique()
    by_dataset = by_dataset.with_columns(pl.col("dataset").fill_null(NOT_RECORDED))  # imported logs often lack it
    if studies.is_empty():
        st.info(f"{path} holds no study yet. Train one: `python -m pipeline.ensemble --study NAME --runs 100`")
        return
    cols = st.columns(4)
    cols[0].metric("Studies", studies.height)
    cols[1].metric("Networks", f"{int(studies['runs'].sum()):,}")
    cols[2].metric("Datasets", recorded)
    best = studies["best_test_accuracy"].max()
    cols[3].metric("Best test accuracy", "-" if best is None else f"{best:.3f}")

    st.subheader("Studies")
    # short labels, the creation's date and minutes-only times: every column fits the main column at 1280 px
    when = {column: st.column_config.DatetimeColumn(label, format=shown, help=f"{label} (UTC)")
            for column, label, shown in (("created_at", "created", "YYYY-MM-DD"),
                                         ("finished_at", "finished", "YYYY-MM-DD HH:mm"),
                                         ("last_run_at", "last run", "YYYY-MM-DD HH:mm"))}
    st.dataframe(studies, hide_index=True, width="stretch", column_config={
        "best_test_accuracy": st.column_config.NumberColumn("best", format="%.3f", help="best test accuracy"),
        **when,
    })

    st.subheader("Networks per dataset and status")
    table = (by_dataset.pivot(on="status", index="dataset", values="runs")
             .join(by_dataset.group_by("dataset").agg(pl.col("best_test_accuracy").max()), on="dataset")
             .with_columns(pl.lit(0, dtype=pl.Int64).alias(s) for s in STATUSES if s not in by_dataset["status"])
             .select("dataset", *STATUSES, "best_test_accuracy").fill_null(0).sort("dataset"))
    # the table gets the main column's width (beside the chart, a third of it cut off its last column at 1280 px)
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "best_test_accuracy": st.column_config.NumberColumn("best test accuracy", format="%.3f"),
    })
    st.altair_chart(charts.runs_by_status(by_dataset), width="stretch")
    st.caption(f"Warehouse: `{path}`. Query it directly from any DuckDB client, e.g. "
               f"`duckdb -readonly {path} \"from run_details limit 5\"`. Schema: README.md.")


render()
