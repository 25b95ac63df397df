"""Sweep: what did a BOHB / Hyperband / random-search sweep run, which brackets and picks found the good
configurations, and can its small budgets be trusted?

Every view reads the sweep's evaluations from the named queries pipeline/warehouse/sql/sweep_*.sql (frames:
pipeline/app/sweep_views.py, charts: sweep_charts.py, statistics: pipeline/analysis/sweeps.py). A click on a
bracket's line selects that bracket's configurations for the scatter and the data panel below it (session
state `sweep.brackets`), a brush on the scatter narrows the data panel (`sweep.scatter`). The scatter and the
data panel show the sidebar's budget choice; the tests and the budget check always use every evaluation.
"""

import functools
import io
from pathlib import Path

import polars as pl
import streamlit as st

from pipeline.analysis import sweeps
from pipeline.app import compare_chart, compare_views, study_views, sweep_charts, sweep_views
from pipeline.app.state import (
    STUDY_KEY,
    cached_query,
    current_budget,
    current_selection,
    file_version,
    sidebar,
    study_or_stop,
)
from pipeline.app.study_frame import TOP
from pipeline.warehouse import store

SCHEDULE_ROWS = 10  # rows the schedule table shows before it scrolls
UNITS = {"epochs": "epochs", "data_fraction": "share of the training data"}


def _overview(name: str, kind: str, settings: dict, runs: pl.DataFrame, path, unit: str) -> None:
    overview = cached_query(path, "sweep_overview", {"study": name}).row(0, named=True)
    counts = sweep_views.counts(runs)
    low, high, eta = sweep_views.budget_plan(settings, runs)
    st.markdown(f"**Optimizer:** {sweep_views.optimizer_name(kind, settings, runs)} · **budgets** {low:g} to "
                f"{high:g} {unit}" + (f", eta = {eta:g}" if eta else " (eta not recorded)"))
    top = st.columns(4)
    top[0].metric("Configurations", f"{counts['configs']:,}")
    top[1].metric("Evaluations", f"{counts['evaluations']:,}",
                  help="A configuration promoted to a larger budget is evaluated again: one evaluation per budget.")
    top[2].metric("Wall time", sweep_views.wall_time(overview["wall_seconds"]),
                  help="From the first evaluation submitted (or started) to the last one finished.")
    top[3].metric("Workers", f"{overview['workers']:,}" if overview["workers"] else "not recorded",
                  help="Distinct worker processes (host:pid) that ran it.")
    bottom = st.columns(4)
    bottom[0].metric("Finished (ok)", f"{counts['ok']:,}")
    bottom[1].metric("Diverged", f"{counts['diverged']:,}")
    bottom[2].metric("Failed", f"{counts['failed']:,}")
    best = overview["best_accuracy"]
    bottom[3].metric("Best test accuracy", "none" if best is None else f"{best:.3f}")
    if best is not None:
        config = cached_query(path, "sweep_config", {"run_id": overview["best_run_id"]})
        values = sweep_views.config_text(config)
        st.markdown(f"**Best configuration** {overview['best_config_id'] or ''} (on budget "
                    f"{overview['best_budget']:g} {unit}): {values or 'no hyperparameters recorded'}")
    space, fixed = sweep_views.space_table(overview["search_space"])
    with st.expander(f"Search space: {space.height} hyperparameters", expanded=False):
        st.dataframe(space, hide_index=True, width="stretch")
        if fixed:
            st.caption("Fixed for every network: " + ", ".join(f"{k} = {v}" for k, v in fixed.items()) + ".")
        if kind == "import":
            st.caption("An imported log does not hold its space: these are the ranges its configurations covered, "
                       "and conditions are not known.")
    if kind == "import":
        st.caption("An imported log does not say what its budget measures (epochs, data, time): budgets are in the "
                   "log's own units.")


def _compared(name: str, path, unit: str) -> None:
    """The sweeps that ran the same problem, side by side, where there are several (the demo has three): the
    Compare studies page's incumbent curves against budget spent (compare_views, compare_chart)."""
    peers = cached_query(path, "compare_peers", {"study": name})["name"].to_list()
    if len(peers) < 2:
        return
    steps = cached_query(path, "compare_steps", {"studies": peers, "rule": "incumbent", "dataset": None})
    summary = compare_views.summary(cached_query(path, "compare_studies", {"studies": peers}), steps)
    st.subheader("Sweeps of the same problem")
    st.write(f"{len(peers)} sweeps in this warehouse ran this search space on the same dataset, budgets and eta. "
             "Each one's **incumbent** is what hpbandster returns: the configuration with the lowest loss (1 - "
             "validation accuracy) among the evaluations on the largest budget finished so far; shown is its test "
             "accuracy. More on the *Compare studies* page.")
    # short labels, the rest in the help: every column fits the main column at 1280 px
    st.dataframe(summary.select("study", "optimizer", "evaluations", "spent", "model_based_share", "best_accuracy",
                                "at_spent"), hide_index=True, width="stretch", column_config={
        "study": "sweep", "evaluations": st.column_config.NumberColumn("evaluations", format="%d"),
        "spent": st.column_config.NumberColumn("spent", format="%d", help=f"{unit} of all its evaluations"),
        "model_based_share": st.column_config.NumberColumn(
            "model-based", format="percent", help="Share of the sampled configurations (promotions not counted) "
                                                  "that BOHB's model picked."),
        "best_accuracy": st.column_config.NumberColumn("incumbent", format="%.4f",
                                                       help="The final incumbent's test accuracy."),
        "at_spent": st.column_config.NumberColumn(
            "found after", format="%d", help=f"{unit} the sweep had spent when its final incumbent became the "
                                             "incumbent."),
    })
    points, _ = compare_views.curve(steps, "spent", log=True)
    st.altair_chart(compare_chart.best_so_far(points, x="spent", rule="incumbent", log=True, current=name,
                                              unit=unit, height=260), width="stretch")
    st.caption(f"One step line per sweep: the incumbent's test accuracy after each evaluation, against the {unit} "
               "every evaluation so far had spent (log scale); a dot where it changed (a larger budget takes over even "
               "when it is worse, so a line can drop); this sweep's line is the heavier one.")


def _schedule(name: str, kind: str, settings: dict, runs: pl.DataFrame, path, unit: str) -> None:
    rounds = sweep_views.schedule(cached_query(path, "sweep_schedule", {"study": name}), kind, settings, runs)
    table = sweep_views.schedule_by_bracket(rounds)
    st.subheader("Planned schedule and what ran")
    states = table["state"].value_counts().sort("state")
    summary = ", ".join(f"{n:,} {state}" for state, n in states.iter_rows())
    st.write(f"Evaluations done / planned in each bracket (row) and budget ({unit}, column); {table.height:,} "
             f"brackets: {summary}. A partial bracket stopped before its plan was done; a round's evaluations "
             "include failed and diverged ones.")
    if kind == "random_search":
        st.caption("hpbandster's random search runs each bracket as one round on the largest budget, its "
                   "configurations all sampled at random.")
    if table.height > SCHEDULE_ROWS and (table["state"] != "complete").any():
        # a long table scrolls: the brackets that did not run as planned lead, where they are seen
        table = table.sort(pl.col("state") == "complete", "bracket")
        st.caption("Brackets that did not run as planned first, then the others by number.")
    st.dataframe(table.fill_null(""), hide_index=True, width="stretch",
                 column_config={"s": st.column_config.NumberColumn("s", help="halvings the bracket starts with")})


def _brackets(name: str, kind: str, runs: pl.DataFrame, path, unit: str) -> tuple[list[int], str]:
    """The bracket chart; returns the brackets clicked (none: every bracket) and their name."""
    st.subheader("Brackets")
    statistic = st.radio("Accuracy per round", list(sweep_views.STATISTICS), horizontal=True, key="sweep.statistic",
                         format_func=lambda s: f"{s} test accuracy",
                         help="Mean: how a bracket's whole round did. Max: its best configuration, the one to "
                              "take forward.")
    points = sweep_views.bracket_points(cached_query(path, "sweep_brackets", {"study": name}), statistic, kind)
    if points.is_empty():
        st.info("No evaluation of this sweep has finished with a test accuracy yet.")
        return [], "every bracket"
    pooled = points["bracket"].null_count() == points.height
    if kind == "random_search" and not pooled:
        st.caption(f"Random search has one round per bracket, on the largest budget: each bracket is one dot, the "
                   f"{statistic} test accuracy of its finished evaluations (n in the tooltip). Click a dot to select "
                   "its configurations below; double-click to select every bracket again.")
    elif pooled:
        st.caption(f"The {statistic} test accuracy of each round's finished evaluations (n in the tooltip), one "
                   f"line per s: {runs['bracket'].n_unique():,} brackets are too many lines to tell apart, so the "
                   "brackets sharing a schedule (s halvings) are pooled. Click a line to select its brackets' "
                   "configurations below; double-click to select every bracket again.")
    else:
        st.caption(f"The {statistic} test accuracy of each bracket's finished evaluations in each round (n in the "
                   "tooltip), one line per bracket. Click a line to select its configurations below; double-click "
                   "to select every bracket again.")
    event = st.altair_chart(sweep_charts.bracket_lines(points, statistic=statistic, unit=unit), on_select="rerun",
                            key="sweep.brackets", width="stretch")
    return sweep_views.picked_brackets((event or {}).get("selection", {}).get(sweep_charts.BRACKET) or [], runs)


def _p_text(column: str, spec: str = ".2g", name: str | None = None) -> pl.Expr:
    """A p, q or effect as text, "not tested" where there is none (a bare null reads as None)."""
    return (pl.col(column).map_elements(lambda v: format(v, spec), return_dtype=pl.String)
            .fill_null("not tested").alias(name or column))


def _budget_words(budget, unit: str) -> str:
    if budget == TOP:
        return "each configuration on the largest budget it reached (sidebar)"
    if budget is None:
        return "every evaluation"
    return f"budget {budget:g} {unit} only (sidebar)"


def _scatter(kind: str, shown: pl.DataFrame, where: str, unit: str) -> dict | None:
    """The loss-accuracy scatter and the brushed shares; returns the brush ({"loss": .., "accuracy": ..})."""
    st.subheader("Loss and accuracy by how configurations were sampled")
    points = sweep_views.scatter_points(shown)
    if points.is_empty():
        st.info(f"No finished evaluation with a loss in {where} at {_budget_words(current_budget(), unit)}.")
        return None
    sampled = f"; drawn: a random {points.height:,} of them" if points.height < shown.height else ""
    st.caption(f"{shown.height:,} finished evaluations of {where}, {_budget_words(current_budget(), unit)}"
               f"{sampled}. Brush to compare the sampling kinds' shares in the brushed set with their shares "
               "among all shown.")
    loss_title = ("loss (1 − validation accuracy)" if kind != "import" else "logged loss (minimized)")
    kinds = tuple(k for k in sweep_views.SAMPLING_KINDS if k in set(points["sampled_as"].to_list()))
    event = st.altair_chart(sweep_charts.loss_accuracy(points, loss_title=loss_title, kinds=kinds),
                            on_select="rerun", key="sweep.scatter", width="stretch")
    brush = (event or {}).get("selection", {}).get(sweep_charts.BRUSH) or None
    brushed = sweep_views.in_brush(shown, brush)
    shares = sweep_views.sampling_shares(shown, brushed)
    if brush:
        st.altair_chart(sweep_charts.sampling_shares(shares), width="stretch")
        st.caption(f"In the brush: {brushed.height:,} of {shown.height:,} evaluations (all shown, not only those "
                   "drawn): " + "; ".join(
                       f"{row['sampling']} {row['share_brushed']:.0%} ({row['n_brushed']:,}) against "
                       f"{row['share_shown']:.0%} of all" for row in shares.iter_rows(named=True)) + ".")
    else:
        st.caption("Shares among all shown: " + ", ".join(
            f"{row['sampling']} {row['share_shown']:.0%} ({row['n_shown']:,})" for row in shares.iter_rows(named=True)))
    return brush


@st.cache_data(show_spinner=False, max_entries=16)
def _evaluations(path: str, version: tuple, name: str, kind: str) -> pl.DataFrame:
    """sweep_views.evaluations of the sweep (0.1 s at 100,000 evaluations), once per version of the warehouse."""
    return sweep_views.evaluations(cached_query(Path(path), "sweep_runs", {"study": name}), kind)


@st.cache_data(show_spinner=False, max_entries=16)
def _hyperparameters(path: str, version: tuple, name: str) -> pl.DataFrame:
    """sweep_views.hyperparameter_values, once per version of the warehouse."""
    with store.read(Path(path)) as con:
        return sweep_views.hyperparameter_values(con, name)


@st.cache_data(show_spinner=False, max_entries=16)
def _statistics(path: str, version: tuple, name: str, kind: str) -> tuple:
    """The sweep's tests over every finished evaluation (a few hundred ms at 100,000), once per version of the
    warehouse: a click or a brush does not change them."""
    finished = sweep_views.finished(_evaluations(path, version, name, kind))
    has_model_based = bool((finished["origin"] == "model_based").any())
    tests = sweeps.sampling_tests(finished) if has_model_based else None
    several = finished["budget"].n_unique() > 1
    return (tests, sweeps.budget_correlations(finished) if several else None,
            sweeps.largest_vs_next(finished) if several else None)


def _sampling_test(kind: str, tests: pl.DataFrame | None) -> None:
    if tests is None:
        why = {"hyperband": "Hyperband samples every configuration at random",
               "random_search": "random search samples every configuration at random"}.get(
            kind, "this sweep holds no model-based pick")
        st.info(f"Do model-based picks beat random ones? Not a question here: {why}, so there are no model-based "
                "picks to compare.")
        return
    st.markdown("**Do model-based picks beat random ones?** Compared at the same budget, by how each configuration "
                "was first sampled (a promoted configuration keeps its origin).")
    shown = tests.select(
        pl.col("budget"), pl.col("n_model_based").alias("n model-based"), pl.col("n_random").alias("n random"),
        pl.col("median_model_based").alias("median model-based"), pl.col("median_random").alias("median random"),
        _p_text("effect", ".2f", "P(model-based > random)"), _p_text("p"), _p_text("q"))
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        "budget": st.column_config.NumberColumn(format="%g"),
        "median model-based": st.column_config.NumberColumn(format="%.3f"),
        "median random": st.column_config.NumberColumn(format="%.3f"),
        "P(model-based > random)": st.column_config.TextColumn(
            help="Common-language effect size U / (n1 n2): the chance that a model-based pick beats a random "
                 "one at this budget (ties count half); 0.5 is no difference."),
        "q": st.column_config.TextColumn(help="Benjamini-Hochberg adjusted p over the budgets tested")})
    tested = tests.filter(pl.col("tested"))
    st.markdown(_sampling_verdict(tested))
    st.caption(f"Test: {sweeps.SAMPLING_TEST_NAME}; a budget is tested when each kind has at least "
               f"{sweeps.MIN_GROUP} finished evaluations; better or worse needs q < 0.05 and "
               f"P(model-based > random) ≥ {sweeps.MIN_EFFECT} (or ≤ {1 - sweeps.MIN_EFFECT:.2f}).")


def _sampling_verdict(tested: pl.DataFrame) -> str:
    """The answer in one or two sentences: the budgets where model-based picks were better or worse."""
    if tested.is_empty():
        return "No budget has enough finished evaluations of both kinds to test."

    def listed(rows: pl.DataFrame) -> str:
        return "; ".join(f"budget {r['budget']:g} (P = {r['effect']:.2f}, q = {r['q']:.2g}, "
                         f"n = {r['n_model_based']:,} + {r['n_random']:,})" for r in rows.iter_rows(named=True))
    better, worse = tested.filter(pl.col("better")), tested.filter(pl.col("worse"))
    parts = []
    if not better.is_empty():
        parts.append(f"**Model-based picks beat random ones** at {listed(better)}.")
    if not worse.is_empty():
        parts.append(f"**Model-based picks did worse than random ones** at {listed(worse)}.")
    if not parts:
        parts.append(f"**No difference found:** at none of the {tested.height} budgets tested do model-based and "
                     "random picks differ by a small effect or more with q < 0.05.")
    return " ".join(parts)


def _budget_check(correlations: pl.DataFrame | None, paired: dict | None, unit: str) -> None:
    st.subheader("Budget check")
    if correlations is None:
        st.info("Every finished evaluation of this sweep is on one budget, so there is no lower budget to check "
                "against a higher one.")
        return
    st.write("Does a low budget rank configurations as the next budget does? Spearman's rho over the "
             "configurations evaluated on both (1: the same order, 0: no relation).")
    st.dataframe(correlations.select(
        pl.format("{} → {}", *[pl.col(c).map_elements(lambda b: f"{b:g}", return_dtype=pl.String)
                               for c in ("lower", "higher")]).alias(f"budgets ({unit})"),
        pl.col("n").alias("configurations on both"), pl.col("rho").alias("Spearman rho"), _p_text("p"),
        _p_text("q")),
        hide_index=True, width="stretch", column_config={
            "Spearman rho": st.column_config.NumberColumn(format="%.2f")})
    st.caption(f"Test: {sweeps.CORRELATION_TEST_NAME}; needs at least {sweeps.MIN_PAIRS} configurations on both "
               "budgets. Promoted configurations are the better ones of their round, so rho is over a narrowed "
               "range and tends to be lower than over all configurations.")
    if paired is None or paired["n"] == 0:
        st.info("No configuration was evaluated on both the largest budget and the one below it.")
        return
    text = (f"**Did the largest budget ({paired['largest']:g} {unit}) buy anything over {paired['next']:g}?** "
            f"Over the {paired['n']:,} configurations evaluated on both, test accuracy changed by "
            f"{paired['mean_difference']:+.3f} on average")
    if paired["low"] is not None:
        text += f" (95 % interval {paired['low']:+.3f} to {paired['high']:+.3f})"
    text += f", median {paired['median_difference']:+.3f}; {paired['improved']:.0%} improved."
    if paired["p"] is not None:
        text += (f" {sweeps.PAIRED_TEST_NAME}: p = {paired['p']:.2g}, rank-biserial effect "
                 f"{paired['rank_biserial']:+.2f} (+1: every configuration improved).")
    else:
        text += f" Too few pairs (or no change) for a test (needs {sweeps.MIN_PAIRS})."
    st.markdown(text)


def _export(table: pl.DataFrame, fmt: str) -> bytes:
    buffer = io.BytesIO()
    table.write_csv(buffer) if fmt == "csv" else table.write_parquet(buffer)
    return buffer.getvalue()


def _data_panel(path, name: str, selected: pl.DataFrame, what: str) -> None:
    st.subheader("Data")
    table = sweep_views.data_panel(selected, _hyperparameters(str(path), file_version(path), name))
    if table.is_empty():
        st.info(f"No finished evaluation in {what}.")
        return
    limit = study_views.TABLE_LIMIT
    st.caption(f"{table.height:,} finished evaluations: {what}; best first"
               + (f", the first {limit:,} shown" if table.height > limit else "")
               + ". Click a column to sort; downloads hold every one.")
    st.dataframe(table.head(limit), hide_index=True, width="stretch", column_config={
        "test_accuracy": st.column_config.NumberColumn("test accuracy", format="%.4f"),
        "loss": st.column_config.NumberColumn("loss", format="%.4f"),
        "budget": st.column_config.NumberColumn("budget", format="%g"),
        "sampled_as": st.column_config.TextColumn("sampled as")})
    left, right = st.columns(2)
    left.download_button("Download CSV", functools.partial(_export, table, "csv"), file_name=f"{name}-sweep.csv",
                         mime="text/csv", on_click="ignore", key="sweep.download_csv")
    right.download_button("Download Parquet", functools.partial(_export, table, "parquet"),
                          file_name=f"{name}-sweep.parquet", mime="application/vnd.apache.parquet",
                          on_click="ignore", key="sweep.download_parquet")


def render() -> None:
    path = sidebar()
    st.title("Sweep")
    st.write("What this hyperparameter sweep ran against its plan, which brackets and which way of sampling found "
             "the good configurations, and whether its small budgets ranked configurations as the large ones did.")
    name = st.session_state.get(STUDY_KEY)
    if not name:
        study_or_stop(path)  # says what to do with a warehouse that holds no study
    raw = cached_query(path, "sweep_runs", {"study": name})
    overview = cached_query(path, "sweep_overview", {"study": name})
    kind = overview["kind"][0] if overview.height else None
    if raw.is_empty():
        what = "an ensemble" if kind == "ensemble" else "a study without budgets"
        st.info(f"Study '{name}' is {what}: its runs have no brackets or budgets, so there is no sweep to show. "
                "This page shows BOHB, Hyperband and random-search sweeps (`python -m pipeline.bohb`) and imported "
                "hpbandster logs (`python -m pipeline.importers hpbandster`); pick one in the sidebar.")
        return
    if current_selection() is not None:
        st.caption("The sidebar's accuracy selection does not apply here: this page selects by bracket and brush.")
    settings = sweep_views.settings_of(overview)
    unit = UNITS.get(settings.get("budget_resource"), "epochs" if kind != "import" else "units")
    runs = _evaluations(str(path), file_version(path), name, kind)
    _overview(name, kind, settings, runs, path, unit)
    _compared(name, path, unit)
    _schedule(name, kind, settings, runs, path, unit)
    picked, where = _brackets(name, kind, runs, path, unit)
    shown = sweep_views.finished(sweep_views.chosen(sweep_views.in_brackets(runs, picked), current_budget()))
    brush = _scatter(kind, shown, where, unit)
    tests, correlations, paired = _statistics(str(path), file_version(path), name, kind)
    _sampling_test(kind, tests)
    _budget_check(correlations, paired, unit)
    what = f"{where}, {_budget_words(current_budget(), unit)}" + (", inside the brush" if brush else "")
    _data_panel(path, name, sweep_views.in_brush(shown, brush), what)


render()
