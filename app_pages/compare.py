"""Compare studies: how fast did each study find its best network, in evaluations, budget spent and wall time?

The BOHB paper's anytime plots for any studies of the warehouse: one step line per study, the best so far after
each evaluation (compare_views' RULES: hpbandster's incumbent by default, or the best on any budget), against
evaluations, budget spent or seconds, and a table of where each ended and when it got there. Frames:
pipeline/app/compare_views.py from the named queries compare_*.sql; chart: pipeline/app/compare_chart.py. The
studies chosen are kept in session state (`compare.chosen`) for the sidebar study they were chosen with.
"""

import polars as pl
import streamlit as st

from pipeline.app import compare_chart, compare_views
from pipeline.app.state import STUDY_KEY, cached_query, sidebar, study_or_stop, warehouse_or_stop
from pipeline.app.sweep_views import wall_time

CHOSEN_KEY = "compare.chosen"  # the studies compared, kept while the page is not drawn
FOR_STUDY_KEY = "compare.for_study"  # the sidebar study they were chosen with: another one opens on its own peers
EVERY_DATASET = "every dataset"


def _choose(path, studies: list[str], current: str) -> list[str]:
    if st.session_state.get(FOR_STUDY_KEY) != current or CHOSEN_KEY not in st.session_state:
        peers = cached_query(path, "compare_peers", {"study": current})["name"].to_list()
        st.session_state[CHOSEN_KEY] = compare_views.default_studies(studies, current, peers)
        st.session_state[FOR_STUDY_KEY] = current
    st.session_state["compare.studies"] = [s for s in st.session_state[CHOSEN_KEY] if s in studies]
    st.multiselect("Studies", studies, key="compare.studies", max_selections=compare_views.MAX_STUDIES,
                   placeholder="Pick the studies to compare",
                   help="Any studies of this warehouse. It opens on the sidebar's study and the sweeps that ran its "
                        "problem (same search space, dataset, budgets and eta).",
                   on_change=lambda: st.session_state.update({CHOSEN_KEY: st.session_state["compare.studies"]}))
    return st.session_state["compare.studies"]


def _dataset(facts: pl.DataFrame) -> str | None:
    datasets = sorted({d for names in facts["datasets"].to_list() for d in names})
    if len(datasets) < 2:
        return None
    if st.session_state.get("compare.dataset") not in (EVERY_DATASET, *datasets):  # chosen for other studies
        st.session_state.pop("compare.dataset", None)
    choice = st.selectbox("Dataset", [EVERY_DATASET, *datasets], key="compare.dataset",
                          help="Count only the runs on one dataset: evaluations, budget and best so far over those.")
    return None if choice == EVERY_DATASET else choice


def _table(table: pl.DataFrame, unit: str, rule: str) -> None:
    st.dataframe(table.select(
        "study", "optimizer", "evaluations", "spent", pl.col("seconds").map_elements(
            wall_time, return_dtype=pl.String).fill_null("not recorded").alias("wall time"),
        "best_accuracy", "at_evaluation", "at_spent", "at_seconds"),
        hide_index=True, width="stretch", column_config={
            "evaluations": st.column_config.NumberColumn("evaluations", format="%d",
                                                         help="Every run, failed and diverged ones included."),
            "spent": st.column_config.NumberColumn(f"{unit}", format="%g", help=f"{unit} spent by all evaluations"),
            "wall time": st.column_config.TextColumn(help="From the study's first run started to its last finished."),
            "best_accuracy": st.column_config.NumberColumn(
                "final best", format="%.4f",
                help=f"Test accuracy of the best so far ({compare_views.RULES[rule]}) at the end."),
            "at_evaluation": st.column_config.NumberColumn(
                "found at eval.", format="%d", help="The evaluation that made the final best the best (in the order "
                                                    "the evaluations finished)."),
            "at_spent": st.column_config.NumberColumn(f"… {unit}", format="%g", help=f"{unit} spent by then."),
            "at_seconds": st.column_config.NumberColumn("… s", format="%.0f",
                                                        help="Seconds since the study's first run started, then."),
        })


def render() -> None:
    path = sidebar()
    st.title("Compare studies")
    st.write("How fast did each study find a good network? The best test accuracy so far against the evaluations, "
             "the budget or the wall time it took, one line per study: the anytime plots of the BOHB paper.")
    current = st.session_state.get(STUDY_KEY)
    if not current:
        study_or_stop(path)  # says what to do with a warehouse that holds no study
    _, studies = warehouse_or_stop()
    chosen = _choose(path, studies, current)
    if not chosen:
        st.info("Pick at least one study to compare.")
        return
    facts = cached_query(path, "compare_studies", {"studies": chosen})
    for note in compare_views.differences(facts):
        st.warning(note)
    dataset = _dataset(facts)
    cols = st.columns([5, 6, 2])
    xs = list(compare_views.XS)
    x = cols[0].radio("x axis", xs, format_func=compare_views.XS.get, index=xs.index(compare_views.default_x(facts)),
                      horizontal=True,
                      key="compare.x", help="Evaluations in the order they finished; the budget (epochs) all of "
                                            "them spent; seconds since the study's first run started, at each "
                                            "evaluation's finish.")
    rule = cols[1].radio("Best so far", list(compare_views.RULES), format_func=compare_views.RULES.get,
                         horizontal=True, key="compare.rule",
                         help="  \n".join(f"**{compare_views.RULES[r]}**: {t}"
                                          for r, t in compare_views.RULE_HELP.items()))
    log = cols[2].toggle("log x", value=True, key="compare.log", help="x on a log scale, as the BOHB paper's plots.")
    error = cols[2].toggle("log error", value=False, key="compare.error",
                           help="y: the test error (1 − accuracy) on a log scale, as the BOHB paper's plots: the "
                                "late small gains near 100 % accuracy show.")
    steps = cached_query(path, "compare_steps", {"studies": chosen, "rule": rule, "dataset": dataset})
    unit = compare_views.budget_unit(facts)
    points, left_out = compare_views.curve(steps, x, log=log, error=error)
    for study in [s for s in chosen if s not in set(steps["study"].to_list())]:
        left_out[study] = "no runs" + (f" on {dataset}" if dataset else "")
    if left_out:
        st.warning("Not drawn or cut short: " + "; ".join(f"**{s}** ({why})" for s, why in left_out.items()) + ".")
    current_drawn = current if current in chosen and len(chosen) > 1 else None
    if not points.is_empty():
        st.altair_chart(compare_chart.best_so_far(points, x=x, rule=rule, log=log, error=error,
                                                  current=current_drawn, unit=unit),
                        width="stretch")
    rules = {"incumbent": "the line the BOHB paper plots (hpbandster's get_incumbent_trajectory): among the "
                          "finished evaluations on the largest budget finished so far, the one with the lowest loss "
                          "(an evaluation on a larger budget takes over even when it is worse, so a line can drop)",
             "any": "the finished evaluation with the lowest loss so far on any budget (a low budget's loss is a "
                    "short training's, so this flatters early progress)"}
    st.caption(f"Best so far: **{compare_views.RULES[rule]}**, {rules[rule]}. Ranked by the loss each optimizer "
               "minimized (our sweeps: 1 − validation accuracy; an import: its logged loss; a study without a loss, "
               "an ensemble: 1 − test accuracy); shown is that evaluation's test accuracy. A line holds its value "
               "until the next change (a dot). Evaluations are counted in the order they finished, failed ones "
               "included; the sidebar's budget choice and selection do not apply here."
               + (" The heavier line is the sidebar's study." if current_drawn else ""))
    _table(compare_views.summary(facts, steps), unit, rule)
    st.caption(f"Per study: its evaluations, the {unit} they spent and its wall time, the final best's test "
               "accuracy and when it became the best (evaluation, budget spent, seconds)"
               + (f"; runs on {dataset} only." if dataset else "."))


render()
