"""Parameter combinations: which pairs of hyperparameter values are over- or under-represented in the selection?"""

import polars as pl
import streamlit as st

from pipeline.analysis import significance
from pipeline.app import charts, study_views
from pipeline.app.selection import Selection
from pipeline.app.state import current_selection, pair_matrix, sidebar, study_or_stop
from pipeline.app.study_frame import StudyError

TOP_SHARE = 0.05  # default comparison: the best 5 % of the study


def _comparison(frame, selection: Selection | None) -> Selection | None:
    """The second range: the top 5 % (on the selection's scale) or one the person sets."""
    normalized = bool(selection and selection.normalized)
    choice = st.radio("Compare with", ["nothing", "the top 5 %", "another range"], horizontal=True,
                      key="combinations.compare_with")
    if choice == "the top 5 %":
        top = study_views.accuracy_quantile(frame, 1 - TOP_SHARE, normalized=normalized)
        return None if top is None else Selection(float(top), 1.0, normalized)
    if choice == "another range":
        lo, hi = st.slider("Second range" + (" (normalized)" if normalized else ""), 0.0, 1.0, (0.0, 0.5),
                           step=0.01, key="combinations.compare_range")
        return Selection(lo, hi, normalized)
    return None


def _matrix(cells: pl.DataFrame, frame, *, value: str, suffix: str, only_significant: bool, key: str):
    shown = cells.filter(pl.col(f"significant{suffix}")) if only_significant else cells
    if shown.is_empty():
        st.info("No cell's lift is significant at a 5 % false discovery rate: what differs here is within noise.")
        return None
    spec = charts.heatmap_matrix(shown, value=value, suffix=suffix, names=tuple(p.name for p in frame.params))
    return st.vega_lite_chart(spec, on_select="rerun", key=key)


def _clicked(event) -> dict | None:
    points = (event or {}).get("selection", {}).get(charts.CELL) or []
    return points[0] if points else None


def render() -> None:
    path = sidebar()
    st.title("Parameter combinations")
    st.write("For the selected networks, how often each pair of hyperparameter values occurs: one small heat map "
             "per pair. Lift compares a cell's share in the selection with its share in the whole study "
             "(sampling was random, so a lift far from 1 points at a value pair that matters).")
    frame = study_or_stop(path)
    selection = current_selection()
    controls = st.columns([1, 1, 2])
    value = controls[0].radio("Color by", ["networks", "lift"], horizontal=True, key="combinations.heatmap_value")
    only_significant = controls[1].toggle("Only significant cells", key="combinations.only_significant")
    with controls[2]:
        compare = _comparison(frame, selection)
    try:
        cells = pair_matrix(path, frame, selection, compare)
    except StudyError as err:
        st.warning(str(err))
        return
    if study_views.range_total(cells) == 0:
        st.warning("The selection holds no finished network: choose a wider range on *Accuracy distribution*.")
        return
    st.caption(f"Significance: {significance.TEST_NAME}; a ring marks q < 0.05. "
               f"Continuous hyperparameters are cut into bins (log-spaced for log-scaled ones). "
               f"Rows and columns follow the parameter order {', '.join(p.name for p in frame.params)}.")
    sides = st.columns(2) if compare else [st.container()]
    ranges = [(selection or study_views.EVERYTHING, "", "selected", "combinations.matrix_a")]
    if compare:
        ranges.append((compare, "_b", "compared", "combinations.matrix_b"))
    clicked = None
    for side, (rng, suffix, column, key) in zip(sides, ranges):
        with side:
            n = study_views.range_total(cells, column)
            st.markdown(f"**{rng.label}** · {n:,} networks · "
                        f"{int(cells[f'significant{suffix}'].sum())} significant cells of {cells.height}")
            event = _matrix(cells, frame, value=column if value == "networks" else "lift", suffix=suffix,
                            only_significant=only_significant, key=key)
            clicked = _clicked(event) or clicked
    if clicked:
        st.subheader(f"Networks with {clicked['a']} = {clicked['option_a']} and {clicked['b']} = {clicked['option_b']}")
        try:
            runs = study_views.cell_runs(frame, selection, clicked["a"], clicked["b"],
                                         clicked["option_a"], clicked["option_b"])
        except StudyError as err:
            st.warning(str(err))
            return
        st.caption(f"{runs.height:,} networks of the selection (best first, at most {study_views.TABLE_LIMIT:,}).")
        st.dataframe(runs, hide_index=True, width="stretch")
    else:
        st.caption("Click a cell to list its networks.")


render()
