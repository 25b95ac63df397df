"""Trellis: how does mean accuracy depend on each hyperparameter, for each dataset (or another primary parameter)?"""

import polars as pl
import streamlit as st

from pipeline.analysis import group_means
from pipeline.app import charts, study_views
from pipeline.app.state import current_selection, sidebar, study_or_stop
from pipeline.app.study_frame import StudyError


def _note(row: dict) -> str:
    if row["significant"]:
        return f"strongest eta² {row['eta_squared']:.2f}, q = {row['q']:.2g}"
    return "differences within noise" + (f" (q = {row['q']:.2g})" if row["q"] is not None else "")


def render() -> None:
    path = sidebar()
    st.title("Trellis")
    st.write("Mean test accuracy per option of every hyperparameter, one panel per hyperparameter and one row of "
             "dots per value of the primary parameter, in the manner of Becker and Cleveland's barley trellis. "
             "Panels are ordered by effect: the strongest dependency comes first.")
    frame = study_or_stop(path)
    selection = current_selection()
    names = [p.name for p in frame.params]
    cols = st.columns(3)
    primary = cols[0].selectbox("Primary parameter", names, index=0, key="trellis.primary")
    secondary = cols[1].selectbox("Secondary (color and shape)", ["none"] + [n for n in names if n != primary],
                                  key="trellis.secondary")
    normalized = cols[2].toggle("Normalized accuracy", key="trellis.normalized",
                                help="Per-dataset (x - min) / (max - min), so datasets share one axis.")
    try:
        groups, effects = study_views.option_means(frame, selection, primary=primary,
                                                   secondary=None if secondary == "none" else secondary,
                                                   normalized=normalized)
    except StudyError as err:
        st.warning(str(err))
        return
    if groups.is_empty():
        st.warning("The selection holds no finished network: choose a wider range on *Accuracy distribution*.")
        return
    order = group_means.panel_order(effects)
    notes = {row["panel"]: _note(row) for row in order.iter_rows(named=True)}
    st.caption(f"Intervals: {group_means.INTERVAL_NAME}. Effect: {group_means.TEST_NAME}; panels ordered by their "
               "largest eta² (share of the accuracy variance their options explain). "
               + (f"Selection: {selection.label}." if selection else "All finished networks."))
    quiet = [p for p in order["panel"] if not order.filter(pl.col("panel") == p)["significant"][0]]
    if quiet:
        st.caption(f"Within noise (no test with q < 0.05): {', '.join(quiet)}.")
    chart = charts.option_means(groups, panels=list(order["panel"]), orders=study_views.option_order(groups, frame),
                           normalized=normalized, secondary=None if secondary == "none" else secondary,
                           notes=notes, primary_name=primary)
    st.altair_chart(chart)


render()
