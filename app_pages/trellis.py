"""Trellis: how does mean accuracy depend on each hyperparameter, for each dataset (or another primary parameter)?"""

import streamlit as st

from pipeline.analysis import group_means
from pipeline.app import charts, study_views
from pipeline.app.selection import SCALE_HELP, SCALE_NAMES
from pipeline.app.state import current_scale, current_selection, sidebar, study_or_stop
from pipeline.app.study_frame import StudyError


def render() -> None:
    path = sidebar()
    st.title("Trellis")
    st.write("Mean test accuracy per option of every hyperparameter, one panel per hyperparameter and one row of "
             "dots per value of the primary parameter, in the manner of Becker and Cleveland's barley trellis. "
             "Panels with an effect come first, the strongest (largest eta²) on top.")
    frame = study_or_stop(path)
    selection = current_selection()
    names = [p.name for p in frame.params]
    cols = st.columns(3)
    primary = cols[0].selectbox("Primary parameter", names, index=0, key="trellis.primary")
    secondary = cols[1].selectbox("Secondary (color and shape)", ["none"] + [n for n in names if n != primary],
                                  key="trellis.secondary")
    scale = current_scale()  # the sidebar's accuracy scale, as on every page
    cols[2].markdown(f"Accuracy: **{SCALE_NAMES[scale]}** (change it in the sidebar).", help=SCALE_HELP)
    st.caption(f"Effect: {group_means.EFFECT_RULE} (eta²: the share of the accuracy's variance the options "
               "explain).", help=f"Test: {group_means.TEST_NAME}. A significant eta² below "
               f"{group_means.MIN_ETA_SQUARED:g} is reported as 'significant but small', not as an effect.")
    try:
        groups, effects = study_views.option_means(frame, selection, primary=primary,
                                                   secondary=None if secondary == "none" else secondary,
                                                   scale=scale)
    except StudyError as err:
        st.warning(str(err))
        return
    if groups.is_empty():
        st.warning("The selection holds no finished network: choose a wider range on *Accuracy distribution*.")
        return
    order = group_means.panel_order(effects)
    notes = {row["panel"]: group_means.verdict(row) for row in order.iter_rows(named=True)}
    st.caption(f"Intervals: {group_means.INTERVAL_NAME}, clipped to 0..1. Hollow dots: fewer than "
               f"{group_means.MIN_GROUP} networks, no interval drawn. Panels with an effect come first, each group "
               "ordered by its largest eta². "
               + (f"Selection: {selection.label}." if selection else "All finished networks."))
    quiet = [row["panel"] for row in order.iter_rows(named=True) if not row["effect"]]
    if quiet:
        st.caption(f"No effect ({group_means.EFFECT_RULE}): {', '.join(quiet)}.")
    chart = charts.option_means(groups, panels=list(order["panel"]), orders=study_views.option_order(groups, frame),
                                normalized=scale, secondary=None if secondary == "none" else secondary,
                                notes=notes, primary_name=primary)
    st.vega_lite_chart(chart)


render()
