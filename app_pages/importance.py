"""Hyperparameter importance: which hyperparameters, and which pairs, explain the accuracy, and where the good
values lie (fANOVA over a random forest, PED-ANOVA for the top quantile)."""

import math

import polars as pl
import streamlit as st

from pipeline.analysis import importance
from pipeline.app import importance_chart, importance_views
from pipeline.app.selection import SCALE_NAMES
from pipeline.app.state import computed, current_scale, current_selection, sidebar, study_or_stop
from pipeline.app.study_frame import TOP, StudyError

QUANTILES = (0.05, 0.1, 0.25)  # PED-ANOVA's top quantile choices (optuna's default: 0.1)
POOR_FIT = 0.2  # an out-of-bag R^2 below this: the forest barely predicts accuracy, importances are weak
LEAD = 3  # hyperparameters named in the summary sentence


def _budget_words(frame) -> str:
    if frame.budget is None:
        return "every finished network"
    if frame.budget == TOP and len(frame.budgets) > 1:
        return "each configuration on the largest budget it reached (so budget is a feature)"
    if frame.budget == TOP:
        return f"every configuration, all on budget {frame.budgets[0]:g}"
    return f"the evaluations on budget {frame.budget:g}"


def _summary(result: importance_views.StudyImportance) -> str:
    lead = result.singles.head(LEAD)
    named = ", ".join(f"**{row['name']}** {row['importance']:.0%} (±{row['std']:.0%})" for row in lead.iter_rows(
        named=True))
    singles = result.singles["importance"].sum()
    pairs = result.pairs["importance"].sum()
    top_pair = result.pairs.row(0, named=True) if result.pairs.height else None
    text = (f"Shares of the predicted accuracy's variance: {named}. All single hyperparameters together explain "
            f"{singles:.0%}, all pairs' interactions {pairs:.0%}")
    if top_pair:
        text += f"; the strongest pair is **{top_pair['a']} × {top_pair['b']}** ({top_pair['importance']:.1%})"
    return text + "."


def _notes(result: importance_views.StudyImportance) -> list[str]:
    notes = [f"fANOVA: a random forest of {importance.N_TREES} trees (at least {importance.MIN_SAMPLES_LEAF} runs "
             "per leaf) predicts accuracy from the hyperparameters; each tree's prediction is averaged over every "
             "other hyperparameter exactly, a number uniform on its range (on log10 where the space is "
             "log-scaled), each option of a category equally likely. A share is that marginal's variance over "
             "the tree's total; a pair's share is its interaction alone (both singles taken out). Mean over the "
             "trees, ± their standard deviation.",
             f"PED-ANOVA (optuna's default evaluator): how much each hyperparameter's distribution among the top "
             f"{result.top_quantile:.0%} of these runs differs from all of them (Pearson divergence of Parzen "
             "estimates), shown as shares of its total as optuna shows them. It asks what it takes to reach the "
             "top, fANOVA what moves accuracy on average: the two can disagree."]
    if result.conditional:
        notes.append("Inactive conditionals: an inactive value is a level of its own beside the range, weighted by "
                     "the share of runs in which it is inactive (" + ", ".join(
                         f"{name} {share:.0%}" for name, share in result.conditional.items()) + "); the rest of "
                     "the range weighs the remainder. For PED-ANOVA only the runs where it is active count.")
    features, paired = len(result.fanova.features), len(result.fanova.paired)
    if paired < features:
        notes.append(f"Pairs among the {paired} most important of the {features} hyperparameters only: a pair costs "
                     "as much as all singles together.")
    if result.left_out:
        notes.append("Left out, as they do not vary here: " + "; ".join(
            f"**{name}** ({why})" for name, why in result.left_out.items()) + ".")
    if result.logged:
        notes.append("On a log10 scale: " + ", ".join(result.logged) + ".")
    return notes


def _fit_words(result: importance_views.StudyImportance) -> str:
    fit = result.fanova.fit
    if math.isnan(fit):
        return "too few runs for an out-of-bag check of the forest"
    return f"the forest's out-of-bag R² is {fit:.2f}"


def render() -> None:
    path = sidebar()
    st.title("Hyperparameter importance")
    st.write("Which hyperparameters, and which pairs of them, explain the accuracy of this study's networks, and "
             "where their good values lie.")
    frame = study_or_stop(path)
    scale, selection = current_scale(), current_selection()
    cols = st.columns([1, 1, 1])
    quantile = cols[0].selectbox("PED-ANOVA top quantile", QUANTILES,
                                 index=QUANTILES.index(importance_views.DEFAULT_QUANTILE),
                                 format_func=lambda q: f"top {q:.0%}",
                                 key="importance.quantile",
                                 help="PED-ANOVA measures what it takes to be in this top share of the runs.")
    use_selection = selection is not None and cols[1].toggle(
        "Only the selection", key="importance.selection",
        help=f"The runs in the selection ({selection.label}) instead of every finished run." if selection else None)
    cols[2].markdown(f"Accuracy: **{SCALE_NAMES[scale]}** (sidebar).")
    try:
        with st.spinner("Fitting the forest (once per study version, budget, scale and selection)…"):
            # the same arguments as the Parallel coordinates page's ranking when every run is shown: one fit
            result = computed(path, frame, importance_views.study_importance, scale=scale, top_quantile=quantile,
                              selection=selection if use_selection else None)
    except StudyError as err:
        st.warning(f"Study '{frame.study['name']}', {_budget_words(frame)}: {err}.")
        st.stop()
    sample = (f" (a uniform sample of {result.fitted:,} of {result.runs:,})" if result.fitted < result.runs else "")
    within = f", in the selection {selection.label}" if use_selection else ""
    st.caption(f"{result.runs:,} finished networks: {_budget_words(frame)}{within}{sample}; {_fit_words(result)}.")
    if not math.isnan(result.fanova.fit) and result.fanova.fit < POOR_FIT:
        st.warning(f"The forest predicts these accuracies poorly (out-of-bag R² {result.fanova.fit:.2f}): the shares "
                   "below describe a weak model, so read them as rough. More runs, or a single budget, help.")
    st.markdown(_summary(result))

    st.subheader("Single hyperparameters")
    st.altair_chart(importance_chart.ranked(result), width="content")

    if result.pairs.height:
        st.subheader("Pairs: interaction alone")
        st.altair_chart(importance_chart.pair_matrix(result), width="content")

    st.subheader("Where the good values lie")
    names = result.singles["name"].to_list()
    chosen = st.selectbox("Hyperparameter", names, key="importance.marginal")
    st.markdown(f"**Predicted accuracy as {chosen} varies**, every other hyperparameter averaged over the space: "
                "the mean over the trees, the band ±1 std.")
    st.altair_chart(importance_chart.marginal(result, chosen, scale), width="content")
    if result.pairs.height:
        labels = [f"{row['a']} × {row['b']}" for row in result.pairs.iter_rows(named=True)]
        pair = st.selectbox("Pair (strongest interaction first)", range(len(labels)), format_func=labels.__getitem__,
                            key="importance.pair")
        row = result.pairs.row(pair, named=True)
        st.markdown(f"**Predicted accuracy over {row['a']} × {row['b']}**, every other hyperparameter averaged "
                    "(mean over the trees).")
        st.altair_chart(importance_chart.pair_heatmap(result, row["a"], row["b"], scale), width="content")

    with st.expander("How this is computed"):
        for note in _notes(result):
            st.markdown(f"- {note}")
        st.dataframe(result.singles.rename({"importance": "fANOVA share", "std": "std over trees",
                                            "ped": "PED-ANOVA"}).with_columns(pl.col(pl.Float64).round(4)),
                     hide_index=True)


render()
