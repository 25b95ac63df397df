"""Accuracy distribution: how good are the study's networks, per dataset, and which ones to look at?"""

import polars as pl
import streamlit as st

from pipeline.app import charts, study_views
from pipeline.app.selection import SCALE_HELP, SCALE_NAMES, Selection
from pipeline.app.state import current_scale, current_selection, set_selection, sidebar, study_or_stop

TOP_SHARE = 5.0  # per cent: the default of "select the top k %"
RULES = {"per dataset": True, "pooled": False}
SCALE_NOTES = {
    "raw": "A range on this scale is **pooled**: one accuracy range for all datasets, so an easy dataset fills "
           "the top of it (every dataset has its own level).",
    "normalized": "A range on this scale is **per dataset**: 0 is each dataset's worst run (in practice its dead "
                  "networks at chance), 1 its single best run, so modes need not line up between datasets.",
    "rank": "A range on this scale is **per dataset**: each run's percentile within its dataset, so every dataset "
            "is flat here by construction and 0.9 – 1 is each dataset's own top 10 %. Runs with the same accuracy "
            "share the average of their ranks, so a large tie (dead networks at exactly chance) stands as one "
            "tall bar and a range can take a little more or less than its width. Hover a bar for the raw "
            "accuracy it spans.",
}


def _brushed(event, scale: str) -> Selection | None:
    """The range brushed on the chart, or None when nothing (new) was brushed."""
    brush = (event or {}).get("selection", {}).get(charts.BRUSH) or {}
    values = brush.get("x0")
    if not values:
        return None
    lo, hi = sorted(float(v) for v in values)
    return Selection(max(lo, 0.0), min(hi, 1.0), scale)


def _select_top(frame) -> None:
    """The "select the top k %" button: per dataset (rank scale) or pooled (raw accuracy over all datasets)."""
    share = st.session_state["distribution.top_share"] / 100
    top = study_views.top_share(frame, share, per_dataset=RULES[st.session_state["distribution.top_rule"]])
    if top is not None:
        set_selection(top)


def _per_dataset(counts: pl.DataFrame) -> pl.DataFrame:
    """The selection per dataset: finished networks, selected, their share and the raw accuracy they span."""
    return (counts.filter(pl.col("status") == "ok")
            .select(pl.col("dataset"), pl.col("runs").alias("finished"), pl.col("selected"),
                    (100 * pl.col("selected") / pl.col("runs")).alias("share"),
                    pl.col("selected_from"), pl.col("selected_to")))


def render() -> None:
    path = sidebar()
    st.title("Accuracy distribution")
    st.write("How the study's networks are spread over test accuracy, per dataset. "
             "Drag across the histogram to select a range: the other pages then show that selection.")
    frame = study_or_stop(path)
    selection = current_selection()
    scale = current_scale()
    st.caption(f"Scale: **{SCALE_NAMES[scale]}** (change it in the sidebar). {SCALE_NOTES[scale]}", help=SCALE_HELP)

    counts = study_views.status_counts(frame, selection)
    totals = counts.group_by("status").agg(pl.col("runs").sum())
    by_status = dict(zip(totals["status"], totals["runs"]))
    cols = st.columns(4)
    cols[0].metric("Networks", f"{frame.runs:,}")
    cols[1].metric("Finished (ok)", f"{by_status.get('ok', 0):,}")
    cols[2].metric("Diverged", f"{by_status.get('diverged', 0):,}")
    cols[3].metric("Failed", f"{by_status.get('failed', 0):,}")

    top = st.columns([1, 1.4, 1, 1.4], vertical_alignment="bottom")
    top[0].number_input("Top %", min_value=0.1, max_value=100.0, value=TOP_SHARE, step=1.0, format="%.1f",
                        key="distribution.top_share")
    top[1].radio("Top of", list(RULES), horizontal=True, key="distribution.top_rule",
                 help="Per dataset: each dataset's own best k % (the rank range 1 - k .. 1), so every dataset "
                      "contributes k % of its finished networks. Pooled: the best k % of all finished networks "
                      "together on raw accuracy, which are mostly the easiest dataset's.")
    top[2].button(f"Select the top {st.session_state.get('distribution.top_share', TOP_SHARE):g} %",
                  key="distribution.select_top", on_click=_select_top, args=(frame,))
    show_unfinished = top[3].toggle("Show diverged and failed", key="distribution.show_unfinished", value=True)

    bins = study_views.histogram(frame, scale=scale)
    if bins.is_empty():
        st.warning("No finished run has a test accuracy yet, so there is nothing to plot.")
        return
    shown = (selection.lo, selection.hi) if selection and selection.scale == scale else None
    event = st.altair_chart(charts.histogram(bins, scale=scale, selected=shown),
                            on_select="rerun", key="distribution.histogram", width="stretch")
    brushed = _brushed(event, scale)
    if brushed is not None and brushed != st.session_state.get("distribution.last_brush"):
        st.session_state["distribution.last_brush"] = brushed
        set_selection(brushed)
        st.rerun()  # the sidebar was drawn before the brush arrived

    if selection is not None:
        per_dataset = _per_dataset(counts)
        finished = int(per_dataset["finished"].sum())
        chosen = int(per_dataset["selected"].sum())
        st.success(f"Selected: **{chosen:,}** of {finished:,} finished networks with {selection.label} "
                   f"({selection.rule}).")
        st.dataframe(per_dataset, hide_index=True, column_config={
            "finished": st.column_config.NumberColumn("finished (n)", format="%d"),
            "selected": st.column_config.NumberColumn("selected", format="%d"),
            "share": st.column_config.NumberColumn("selected %", format="%.1f"),
            "selected_from": st.column_config.NumberColumn("test accuracy from", format="%.3f"),
            "selected_to": st.column_config.NumberColumn("test accuracy to", format="%.3f"),
        })
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
