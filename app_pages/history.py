"""Exploration history: in what order did the search try which values, and did it move toward the good region?

Frames: pipeline/app/history_views.py (evaluation order from warehouse/sql/history_order.sql, values from the
loaded study); chart: history_chart.py; the drift number: pipeline/analysis/exploration.py, whose docstring
defines it. Every evaluation of every budget is shown: the sidebar's budget choice and selection do not apply.
"""

import polars as pl
import streamlit as st

from pipeline.analysis import exploration
from pipeline.app import history_chart, history_views
from pipeline.app.selection import SCALE_HELP, SCALE_NAMES
from pipeline.app.state import computed, current_budget, current_scale, current_selection, sidebar, study_or_stop


def _points(drift: float) -> str:
    """A drift in percentage points, signed, one decimal; a drift that rounds to zero is +0.0, not -0.0."""
    return f"{round(drift * 100, 1) + 0.0:+.1f}"


def _drawn(h: history_views.History) -> str:
    """What the chart draws, in words, with n."""
    panels = f"{len(h.panels)} hyperparameter panels"
    if not h.aggregated:
        text = (f"Drawn: every one of the {h.evaluations:,} evaluations in each of the {panels} "
                f"({h.points.height:,} points)")
        if h.promotions_total:
            text += f" and every promotion ({h.promotions_total:,}, dashed, in each panel)"
        elif h.budgets:
            text += "; no configuration was evaluated on more than one budget, so there is no promotion to draw"
        return text + "."
    return (f"Drawn: {h.evaluations:,} evaluations × {panels} are too many points to read, so each panel is a heat "
            f"map of {history_views.X_BINS} slices of the evaluation order × the values tried "
            f"({history_views.Y_BINS} slices of a number's range, one row per option), coloured by the mean "
            f"accuracy of the evaluations in the cell (n and the best are in the tooltip): {h.cells.height:,} "
            f"cells. Over them, as outlined points, the {len(h.top_configs):,} configurations whose final "
            f"evaluation is best on the sidebar's scale, all their evaluations "
            f"({h.points.height // max(len(h.panels), 1):,}) and promotions. {h.marks:,} marks in all.")


def _movement(h: history_views.History) -> None:
    m = h.movement
    st.subheader("How the search moved")
    if m.top_configs == 0:
        st.info("No evaluation of this study has finished with a test accuracy yet, so there is no top region "
                "to measure against.")
        return
    budget = "" if m.top_budget is None else f" on the largest budget ({m.top_budget:g})"
    q = m.quarters
    first, last = q.row(0, named=True), q.row(-1, named=True)
    if m.drift is None:
        st.markdown("**Drift toward the final top region:** not defined: the first or last quarter of the sweep "
                    "sampled no new configuration.")
    else:
        st.markdown(
            f"**Drift toward the final top region: {_points(m.drift)} points**"
            + (f" (95 % interval {_points(m.drift_interval[0])} to {_points(m.drift_interval[1])})"
               if m.drift_interval else "") + ". Of the hyperparameter values of "
            f"the configurations newly sampled in the first quarter of the evaluations, {first['values_inside']:.0%} "
            f"lay inside the final top region (n = {first['new']:,} configurations); in the last quarter "
            f"{last['values_inside']:.0%} (n = {last['new']:,}). A search that samples at random keeps the share "
            "(drift near 0, up to chance); one that learns where the good configurations are raises it. "
            + ("An interval that spans 0 means this sweep's drift is within chance." if m.drift_interval
               and m.drift_interval[0] <= 0 <= m.drift_interval[1] else ""))
    st.caption(
        f"Final top region: the best {exploration.TOP_SHARE:.0%} ({m.top_configs:,} of {m.finished_on_top:,}) of "
        f"the finished evaluations{budget} by test accuracy; per hyperparameter the range of their values (a "
        "number) or the set of their values (an option; inactive counts as one). A configuration is inside when "
        "all its values are. Region: " + "; ".join(f"{name}: {text}" for name, text in m.region.items()) + ".")
    table = q.select(
        pl.col("quarter"),
        pl.format("{} – {}", "first_evaluation", "last_evaluation").alias("evaluations"),
        pl.col("new").alias("new configurations"),
        pl.col("model_based").alias("model-based picks"),
        (pl.col("model_based") / pl.col("new")).alias("model-based share"),
        pl.col("values_inside").alias("values inside"),
        pl.col("inside").alias("configurations inside"))
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "model-based share": st.column_config.NumberColumn(format="percent"),
        "values inside": st.column_config.NumberColumn(
            format="percent", help="Mean, over the quarter's new configurations, of the share of their "
                                   "hyperparameter values inside the final top region."),
        "configurations inside": st.column_config.NumberColumn(
            help="New configurations with every value inside the final top region.")})
    if not (q["model_based"] > 0).any():
        st.caption("No configuration of this study was picked by a model (runs.sampled_as): every new one was "
                   "sampled at random.")


def render() -> None:
    path = sidebar()
    st.title("Exploration history")
    st.write("In which order the search tried which value of each hyperparameter, how the promising "
             "configurations were promoted to larger budgets, and whether new configurations moved toward the "
             "region where the best ones ended up.")
    frame = study_or_stop(path).chosen(None)  # every evaluation, every budget
    name = frame.study["name"]
    if frame.runs < 2:
        st.warning(f"Study '{name}' has {frame.runs} evaluation: a history needs at least two. Pick another study "
                   "in the sidebar, or come back when its job has written more runs.")
        return
    scale = current_scale()
    h = computed(path, frame, history_views.history, warehouse=str(path), scale=scale)
    notes = []
    if current_budget() is not None:
        notes.append("the sidebar's budget choice (every budget is shown: promotions join them)")
    if current_selection() is not None:
        notes.append("the sidebar's accuracy selection")
    if notes:
        st.caption("Not applied here: " + " and ".join(notes) + ".")
    cols = st.columns(4)
    cols[0].metric("Evaluations", f"{h.evaluations:,}")
    cols[1].metric("Configurations", f"{h.configs:,}")
    cols[2].metric("Promotions", f"{h.promotions_total:,}" if h.budgets else "none",
                   help="A configuration evaluated again on a larger budget: each consecutive pair of its "
                        "evaluations in order of budget.")
    drift = h.movement.drift
    cols[3].metric("Drift toward the top region", "n/a" if drift is None else f"{_points(drift)} pts",
                   help="Share of new configurations' values inside the final top region, last quarter minus "
                        "first quarter of the evaluations (see below).")
    if not h.budgets:
        st.info(f"Study '{name}' has no budgets (each configuration is evaluated once): there "
                "are no promotions to draw, and every point is its configuration's final evaluation.")
    st.markdown(f"Colour: **{SCALE_NAMES[scale]}** (change it in the sidebar).", help=SCALE_HELP)
    st.caption(_drawn(h) + " x: evaluation number in order of start time (equal times by run id); y: the value "
               "tried, an option's points spread over its band (the same offset for a configuration's every "
               "evaluation). Large points: a configuration's final (largest-budget) evaluation; triangles: picked "
               "by BOHB's model; crosses: the hyperparameter was inactive; grey: no accuracy (failed or diverged). "
               "Pale bands (outlined over heat cells): the final top region, defined under the chart.")
    if h.untimed:
        st.caption(f"{h.untimed:,} of the {h.evaluations:,} evaluations have no start time recorded: they are "
                   "placed after the timed ones, in the order of their run ids."
                   + (" Here that is every evaluation, so x is the run id's order." if h.untimed == h.evaluations
                      else ""))
    single = [p.name for p in h.panels if p.values <= 1]
    if single:
        st.caption("Took a single value in every evaluation (its panel is one band or one line): "
                   + ", ".join(single) + ".")
    st.vega_lite_chart(history_chart.history_chart(h), width="content")
    _movement(h)


render()
