"""Parameter combinations: which pairs of hyperparameter values are over- or under-represented in the selection?"""

import polars as pl
import streamlit as st

from pipeline.analysis import significance
from pipeline.app import charts, study_views
from pipeline.app.selection import SCALE_NAMES, Selection
from pipeline.app.state import current_scale, current_selection, pair_matrix, sidebar, study_or_stop
from pipeline.app.study_frame import StudyError

TOP_SHARE = 0.05  # default comparison: each dataset's best 5 % (study_views.top_share)
AGAINST = {"independence": "what the two parameters predict separately", "study": "the whole study"}
EXPLAIN = {
    "independence": "**Lift against independence** (shown): a cell's networks in the range over what the pair's "
                    "two parameters predict separately, row total x column total / networks in the range. A "
                    "parameter that matters on its own moves its whole row or column, not this lift; what is "
                    "left is the pair's interaction: values that work (lift > 1) or fail (lift < 1) together. "
                    "Runs where a parameter is inactive are left out. One caution: choosing networks by accuracy "
                    "itself couples two parameters that both matter (a network bad on both counts is rarely "
                    "chosen), so in a broad range such a pair can ring without an interaction.",
    "study": "**Lift against the whole study** (shown): a cell's share of the range over its share of the study "
             "(sampling was random, so a lift far from 1 points at a value pair that matters). A parameter "
             "that matters on its own lifts every cell of its good values.",
}
SCROLL_CSS = ("<style>.st-key-combinations_box_a, .st-key-combinations_box_b "
              "{overflow-x: auto; overflow-y: hidden}</style>")


def _comparison(frame, selection: Selection | None) -> Selection | None:
    """The second range: the top 5 % of each dataset (rank within dataset 0.95 - 1) or one the person sets on
    the app's scale."""
    scale = current_scale()
    choice = st.radio("Compare with", ["nothing", "the top 5 %", "another range"], horizontal=True,
                      key="combinations.compare_with",
                      help="The top 5 %: each dataset's own best 5 % (rank within dataset 0.95 – 1), so every "
                           "dataset contributes 5 % of its finished networks.")
    if choice == "the top 5 %":
        return study_views.top_share(frame, TOP_SHARE)
    if choice == "another range":
        lo, hi = st.slider(f"Second range ({SCALE_NAMES[scale]})", 0.0, 1.0, (0.0, 0.5),
                           step=0.01, key="combinations.compare_range")
        return Selection(lo, hi, scale)
    return None


def _matrix(cells: pl.DataFrame, frame, *, value: str, suffix: str, against: str, only_significant: bool,
            key: str):
    significant = f"significant{charts.AGAINST[against]}{suffix}"
    shown = cells.filter(pl.col(significant)) if only_significant else cells
    if shown.is_empty():
        st.info("No cell's lift is significant at a 5 % false discovery rate with the effect size required: "
                "what differs here is within noise.")
        return None
    spec = charts.heatmap_matrix(shown, value=value, suffix=suffix, against=against,
                                 params=tuple((p.name, tuple(p.labels)) for p in frame.params))
    # a box of its own that scrolls sideways if a study has too many options to fit (SCROLL_CSS)
    with st.container(key=f"combinations_box{suffix or '_a'}"):
        return st.vega_lite_chart(spec, on_select="rerun", key=key, width="content")


def _clicked(event) -> dict | None:
    points = (event or {}).get("selection", {}).get(charts.CELL) or []
    return points[0] if points else None


def render() -> None:
    path = sidebar()
    st.title("Parameter combinations")
    st.write("For the selected networks, how often each pair of hyperparameter values occurs: one block of cells "
             "per pair of parameters, its row parameter named on the right, its column parameter on top.")
    st.markdown(SCROLL_CSS, unsafe_allow_html=True)
    frame = study_or_stop(path)
    selection = current_selection()
    controls = st.columns([1, 2, 1])
    value = controls[0].radio("Color by", ["networks", "lift"], horizontal=True, key="combinations.heatmap_value")
    against = controls[1].radio("Lift and rings against", list(AGAINST), format_func=AGAINST.get, horizontal=True,
                                key="combinations.lift_against")
    only_significant = controls[2].toggle("Only significant cells", key="combinations.only_significant")
    compare = _comparison(frame, selection)
    try:
        cells = pair_matrix(path, frame, selection, compare)
    except StudyError as err:
        st.warning(str(err))
        return
    if study_views.range_total(cells) == 0:
        st.warning("The selection holds no finished network: choose a wider range on *Accuracy distribution*.")
        return
    test = significance.INDEPENDENCE_TEST_NAME if against == "independence" else significance.TEST_NAME
    st.markdown(EXPLAIN[against])
    st.caption("Colour: log2 of (networks + 0.5) / (expected + 0.5), so that a cell where few networks were "
               "expected stays pale; grey: nothing to compare (no network of the range has the row's or the "
               "column's value, or a parameter is inactive). The tooltip has the counts, the lift and its q.")
    st.caption(f"Significance: {test}. A ring marks a cell with q < 0.05 and a lift of at least "
               f"{2 ** significance.MIN_LOG2_LIFT:g} or at most {2 ** -significance.MIN_LOG2_LIFT:g} (|log2 lift| >= "
               f"{significance.MIN_LOG2_LIFT:g}). Continuous hyperparameters are cut into bins (log-spaced for "
               f"log-scaled ones). Rows and columns follow the parameter order "
               f"{', '.join(p.name for p in frame.params)}.")
    ranges = [(selection or study_views.EVERYTHING, "", "selected", "combinations.matrix_a")]
    if compare:
        ranges.append((compare, "_b", "compared", "combinations.matrix_b"))
    clicked = None
    for rng, suffix, column, key in ranges:  # one under the other: each gets the main column's width
        n = study_views.range_total(cells, column)
        st.markdown(f"**{rng.label}** · {n:,} networks · "
                    f"{int(cells[f'significant{charts.AGAINST[against]}{suffix}'].sum())} significant cells of "
                    f"{cells.height}")
        event = _matrix(cells, frame, value=column if value == "networks" else "lift", suffix=suffix,
                        against=against, only_significant=only_significant, key=key)
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
