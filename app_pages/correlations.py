"""Correlations: which hyperparameters move together with accuracy, loss and budget, and with each other?"""

import polars as pl
import streamlit as st

from pipeline.analysis import correlation
from pipeline.app import correlation_chart
from pipeline.app.selection import SCALE_HELP, SCALE_NAMES
from pipeline.app.state import computed, current_scale, sidebar, study_or_stop
from pipeline.app.study_frame import TOP

SCROLL_CSS = "<style>.st-key-correlations_box {overflow-x: auto; overflow-y: hidden}</style>"
STRONGEST = 5  # correlations with accuracy named in words above the chart
METHOD_NAMES = {"spearman": "Spearman (ranks)", "pearson": "Pearson (values)"}


def _budget_note(frame) -> str:
    if frame.budget is None:
        return "Every finished network counts once (the study has no budgets)."
    if frame.budget == TOP:
        return ("Budget (sidebar): each configuration once, its evaluation on the largest budget it reached, so "
                "budget is a variable here: how far a configuration was promoted (a sweep promotes the better "
                "ones, so budget goes with accuracy by design).")
    return f"Budget (sidebar): the evaluations on budget {frame.budget:g} only."


def _notes(result: correlation_chart.Correlations) -> list[str]:
    """What the matrix leaves out or treats specially, in words."""
    notes = []
    if result.left_out:
        notes.append("Left out, as they do not vary: " + "; ".join(
            f"**{name}** ({why})" for name, why in result.left_out.items()) + ".")
    if result.conditional:
        notes.append("Inactive conditionals: pairwise deletion, each cell over the runs where both of its variables "
                     "are set (its own n is in the tooltip). Set in only some runs: " + ", ".join(
                         f"{name} ({count:,})" for name, count in result.conditional.items()) + ".")
    if result.structural:
        notes.append("Categories are one 0/1 column per option (a two-option one: its second option); pairs of "
                     "options of the same category (" + ", ".join(result.structural) + ") exclude each other by "
                     "construction, so their cells are left blank.")
    if result.method == "pearson" and result.logged:
        notes.append("Pearson on log10 of the log-scaled variables: " + ", ".join(result.logged) + ".")
    elif result.method == "spearman":
        notes.append("Spearman uses ranks only, so a log scale changes nothing.")
    return notes


def _with_accuracy(result: correlation_chart.Correlations) -> str:
    """The significant correlations with accuracy, strongest first (at most STRONGEST), in words."""
    symbol = "rho" if result.method == "spearman" else "r"
    cells = result.cells.filter((pl.col("a") == "accuracy") | (pl.col("b") == "accuracy"), pl.col("significant"))
    if cells.is_empty():
        return "No variable's correlation with accuracy is significant."
    strongest = cells.sort(pl.col("r").abs(), descending=True).head(STRONGEST)
    named = ", ".join(f"{row['b'] if row['a'] == 'accuracy' else row['a']} ({symbol} = {row['r']:+.2f})"
                      for row in strongest.iter_rows(named=True))
    more = f" and {cells.height - STRONGEST} more" if cells.height > STRONGEST else ""
    return f"Strongest significant correlations with accuracy: {named}{more}."


def render() -> None:
    path = sidebar()
    st.title("Correlations")
    st.write("How every hyperparameter moves with accuracy, loss and budget and with the other hyperparameters "
             "across the study's finished networks: one cell per pair, red where they rise together, blue where "
             "one falls as the other rises.")
    st.markdown(SCROLL_CSS, unsafe_allow_html=True)
    frame = study_or_stop(path)
    scale = current_scale()
    cols = st.columns([1, 2])
    method = cols[0].radio("Method", list(METHOD_NAMES), format_func=METHOD_NAMES.get, horizontal=True,
                           key="correlations.method",
                           help="Spearman's rho: correlation of ranks, for any monotone relation. Pearson's r: "
                                "linear relation of the values.")
    cols[1].markdown(f"Accuracy: **{SCALE_NAMES[scale]}** (change it in the sidebar).", help=SCALE_HELP)
    result = computed(path, frame, correlation_chart.study_correlations, method=method, scale=scale,
                      limit=correlation_chart.SAMPLE_LIMIT)
    if result.runs < correlation.MIN_ROWS:
        st.warning(f"Study '{frame.study['name']}' has {result.runs} finished network(s) at this budget choice: "
                   f"a correlation needs at least {correlation.MIN_ROWS}.")
        return
    if len(result.variables) < 2:
        st.warning("Fewer than two variables vary across these networks, so there is nothing to correlate. "
                   + " ".join(_notes(result)))
        return
    tested = int(result.cells["p"].is_not_null().sum())
    significant = int(result.cells["significant"].sum())
    sample = (f"a uniform sample of {result.runs:,} finished networks (the study has more; sampled to stay fast)"
              if result.sampled else f"{result.runs:,} finished networks")
    st.markdown(f"**{correlation.METHODS[method]}** over {sample} · {significant} of {tested} pairs significant")
    if "accuracy" in result.variables:
        st.markdown(_with_accuracy(result))
    st.caption(f"Significance: {correlation.TEST_NAME[method]}, Benjamini-Hochberg over all {tested} pairs shown. "
               f"A cross marks a pair with q ≥ {correlation.ALPHA:g} (not significant); r itself is the effect "
               "size. Grey: undefined (a variable is constant on the pair's runs). The tooltip has r, n, p and q.")
    with st.container(key="correlations_box"):  # scrolls sideways if a study has too many options to fit
        st.vega_lite_chart(correlation_chart.heatmap(result), width="content")
    st.caption(_budget_note(frame) + " The accuracy selection does not apply here: within a range of accuracy "
               "its correlations would be cut short.")
    for note in _notes(result):
        st.caption(note)


render()
