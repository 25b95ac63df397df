"""Accuracy distribution: how good are the study's networks, per dataset, and which ones to look at?"""

import polars as pl
import streamlit as st

from pipeline.app import charts, study_views
from pipeline.app.selection import Selection
from pipeline.app.state import current_selection, set_selection, sidebar, study_or_stop


def _brushed(event, normalized: bool) -> Selection | None:
    """The range brushed on the chart, or None when nothing (new) was brushed."""
    brush = (event or {}).get("selection", {}).get(charts.BRUSH) or {}
    values = brush.get("x0")
    if not values:
        return None
    lo, hi = sorted(float(v) for v in values)
    return Selection(max(lo, 0.0), min(hi, 1.0), normalized)


def render() -> None:
    path = sidebar()
    st.title("Accuracy distribution")
    st.write("How the study's networks are spread over test accuracy, per dataset. "
             "Drag across the histogram to select a range: the other pages then show that selection.")
    frame = study_or_stop(path)
    selection = current_selection()
    left, right = st.columns([3, 1])
    normalized = left.toggle("Normalize per dataset", key="distribution.normalized",
                             value=bool(selection and selection.normalized),
                             help="x' = (x - min) / (max - min), with min and max of each dataset in this study, "
                                  "so datasets with their own modes share one axis.")
    show_unfinished = right.toggle("Show diverged and failed", key="distribution.show_unfinished", value=True)

    counts = study_views.status_counts(frame, selection)
    totals = counts.group_by("status").agg(pl.col("runs").sum())
    by_status = dict(zip(totals["status"], totals["runs"]))
    cols = st.columns(4)
    cols[0].metric("Networks", f"{frame.runs:,}")
    cols[1].metric("Finished (ok)", f"{by_status.get('ok', 0):,}")
    cols[2].metric("Diverged", f"{by_status.get('diverged', 0):,}")
    cols[3].metric("Failed", f"{by_status.get('failed', 0):,}")

    bins = study_views.histogram(frame, normalized=normalized)
    if bins.is_empty():
        st.warning("No finished run has a test accuracy yet, so there is nothing to plot.")
        return
    shown = (selection.lo, selection.hi) if selection and selection.normalized == normalized else None
    event = st.altair_chart(charts.histogram(bins, normalized=normalized, selected=shown),
                            on_select="rerun", key="distribution.histogram", width="stretch")
    brushed = _brushed(event, normalized)
    if brushed is not None and brushed != st.session_state.get("distribution.last_brush"):
        st.session_state["distribution.last_brush"] = brushed
        set_selection(brushed)
        st.rerun()  # the sidebar was drawn before the brush arrived

    if selection is not None:
        if selection.normalized != normalized:
            st.caption(f"The selection was made on the {'normalized' if selection.normalized else 'raw'} scale; "
                       "switch the toggle to see its range on the chart.")
        st.success(f"Selected: **{int(counts['selected'].sum()):,}** finished networks with {selection.label}.")
    if show_unfinished:
        failed = counts.filter(pl.col("status") != "ok")
        if failed.is_empty():
            st.caption("No network diverged or failed in this study.")
        else:
            st.subheader("Diverged and failed")
            st.caption("These runs have no test accuracy (diverged: the loss became NaN or infinite; "
                       "failed: the run raised an error), so they are counted here and never selected.")
            st.altair_chart(charts.unfinished(failed), width="stretch")


render()
