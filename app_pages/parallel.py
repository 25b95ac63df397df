"""Parallel coordinates: where do the good runs lie across all hyperparameters at once?"""

import math

import streamlit as st

from pipeline.app import importance_views, parallel_chart, parallel_views
from pipeline.app.parallel_views import INACTIVE_LABEL, FilterError
from pipeline.app.selection import SCALE_HELP, SCALE_NAMES
from pipeline.app.state import computed, current_scale, sidebar, study_or_stop
from pipeline.app.study_frame import StudyError

URL_KEY = "filter"  # the URL's query parameter holding the filters (JSON)
FILTERS_KEY = "parallel.filters"  # {"study": name, "filters": parallel_views.Filters}
BRUSHES_KEY = "parallel.brushes"  # brushes applied so far: the chart's key changes with each, clearing the brush
ORDERS = {"importance": "importance", "space": "search space"}


def chart_key(brushes: int) -> str:
    return f"parallel.chart_{brushes}"


def _importance_order(path, frame, scale: str) -> tuple[tuple[str, ...], str | None]:
    """The parameters by importance (most important first), or () and why not."""
    try:  # the Importance page's own arguments when it shows every run: one fit serves both pages
        result = computed(path, frame, importance_views.study_importance, scale=scale,
                          top_quantile=importance_views.DEFAULT_QUANTILE, selection=None)
    except StudyError as err:
        return (), f"the importance could not be computed ({err})"
    return tuple(result.singles["name"]), None


def _filters(frame, found) -> parallel_views.Filters:
    """The page's filters for this study: the session's, or on first opening the link's (what cannot be used
    is said and left out)."""
    name = frame.study["name"]
    held = st.session_state.get(FILTERS_KEY)
    if held is None or held.get("study") != name:
        filters, problems = parallel_views.parse_filters(st.query_params.get(URL_KEY) if held is None else None,
                                                         found)
        for problem in problems:
            st.warning(f"The link's filter: {problem}; that part of it is ignored.")
        held = {"study": name, "filters": filters}
        st.session_state[FILTERS_KEY] = held
    names = {a.name for a in found}
    kept = tuple((n, spec) for n, spec in held["filters"] if n in names)
    if len(kept) < len(held["filters"]):
        gone = ", ".join(n for n, _ in held["filters"] if n not in names)
        st.info(f"No axis {gone} at this budget choice: its filter is set aside.")
    return kept


def _set_filters(study: str, filters) -> None:
    st.session_state[FILTERS_KEY] = {"study": study, "filters": tuple(sorted(dict(filters).items()))}


def _write_url(filters) -> None:
    if filters:
        text = parallel_views.filters_text(filters)
        if st.query_params.get(URL_KEY) != text:
            st.query_params[URL_KEY] = text
    elif URL_KEY in st.query_params:
        del st.query_params[URL_KEY]


def _brush(found, filters, study: str):
    """The filters with the chart's brush applied, if there is a new one; the chart drawn next has a new key,
    so it starts without the brush (its filter shows in the lines instead)."""
    brushes = st.session_state.get(BRUSHES_KEY, 0)
    event = st.session_state.get(chart_key(brushes))
    box = ((event or {}).get("selection") or {}).get(parallel_chart.BRUSH) or {}
    if "axis" not in box or "y" not in box:
        return filters
    try:
        x0, x1 = (float(v) for v in box["axis"])
        y0, y1 = (float(v) for v in box["y"])
    except (TypeError, ValueError):
        return filters
    if not all(math.isfinite(v) for v in (x0, x1, y0, y1)):
        return filters
    _set_filters(study, parallel_views.brushed(found, (x0, x1), (y0, y1), filters))
    st.session_state[BRUSHES_KEY] = brushes + 1
    return st.session_state[FILTERS_KEY]["filters"]


def _axis_control(axis, filters, study: str) -> None:
    """A form that sets (or removes) one axis's filter by hand."""
    current = dict(filters).get(axis.name)
    with st.form(f"parallel.form_{axis.name}", border=False):
        if axis.kind == "options":
            options = list(axis.labels) + ([INACTIVE_LABEL] if axis.inactive is not None else [])
            chosen = st.multiselect(f"{axis.name}: keep these options", options,
                                    default=list(current) if current else options,
                                    key=f"parallel.options_{axis.name}")
            spec = tuple(chosen)
        else:
            low, high = (axis.value(0.0), axis.value(1.0)) if axis.kind != "accuracy" else (0.0, 1.0)
            has_range = current is not None and current[0] != INACTIVE_LABEL
            cols = st.columns(2)
            lo = cols[0].number_input(f"{axis.name} from", value=float(current[0]) if has_range else float(low),
                                      format="%.6g", key=f"parallel.low_{axis.name}")
            hi = cols[1].number_input(f"{axis.name} to", value=float(current[1]) if has_range else float(high),
                                      format="%.6g", key=f"parallel.high_{axis.name}")
            inactive = False
            if axis.inactive is not None:
                inactive = st.checkbox("also runs where it is inactive", value=bool(current) and
                                       current[-1] == INACTIVE_LABEL, key=f"parallel.inactive_{axis.name}")
            spec = (lo, hi, *((INACTIVE_LABEL,) if inactive else ()))
        cols = st.columns(2)
        apply = cols[0].form_submit_button("Apply", key=f"parallel.apply_{axis.name}")
        remove = cols[1].form_submit_button("Remove this filter", disabled=current is None,
                                            key=f"parallel.remove_{axis.name}")
    if apply:
        try:
            _set_filters(study, {**dict(filters), axis.name: parallel_views.checked_filter(axis, spec)})
            st.rerun()
        except FilterError as err:
            st.warning(f"{err}; the filter was not changed.")
    if remove:
        _set_filters(study, {n: s for n, s in filters if n != axis.name})
        st.rerun()


def render() -> None:
    path = sidebar(keep=(URL_KEY,))
    st.title("Parallel coordinates")
    st.write("Every finished network as a line across its hyperparameters, the accuracy last: where the good runs "
             "cross each axis, and which combinations they share. Brush across one or more axes to keep only the "
             "runs that pass there.")
    frame = study_or_stop(path)
    study = frame.study["name"]
    scale = current_scale()
    cols = st.columns([1, 1, 2])
    order_by = cols[0].radio("Order axes by", list(ORDERS), format_func=ORDERS.get, horizontal=True,
                             key="parallel.order",
                             help="importance: the most important hyperparameter first (functional ANOVA over a "
                                  "random forest, as the Importance page shows). search space: as the study's "
                                  "search space lists them.")
    percent = cols[1].number_input("Highlight the top k %", min_value=0.1, max_value=50.0,
                                   value=100 * parallel_views.DEFAULT_SHARE, step=1.0, format="%g",
                                   key="parallel.top_percent",
                                   help="The best k % of the finished runs of each dataset (rank within dataset), "
                                        "as the top k % elsewhere in the app: thick lines.")
    cols[2].markdown(f"Accuracy: **{SCALE_NAMES[scale]}** (change it in the sidebar).", help=SCALE_HELP)
    order, why_not = (), None
    if order_by == "importance":
        order, why_not = _importance_order(path, frame, scale)
        if why_not:
            st.caption(f"Axes in the search space's order: {why_not}.")
    found = parallel_views.axes(frame, order)
    filters = _filters(frame, found)
    filters = _brush(found, filters, study)
    _write_url(filters)
    result = computed(path, frame, parallel_views.parallel, order=order, scale=scale, share=percent / 100,
                      filters=filters)
    if result.runs == 0:
        st.warning(f"Study '{study}' has no finished network with an accuracy at this budget choice: nothing to "
                   "draw.")
        return
    if result.runs == 1:
        st.warning(f"Study '{study}' has one finished network at this budget choice: its line is drawn, but there "
                   "is nothing to compare it with.")
    elif len(found) < 2:
        st.warning(f"No hyperparameter of study '{study}' varies across its runs: there is only the accuracy axis.")
    share = f"{percent:g} %"
    st.markdown(f"**{result.kept:,} of {result.runs:,} runs** pass the filters · top {share} per dataset: "
                f"{result.kept_top:,} of {result.top:,}")
    if filters:
        by_name = {a.name: a for a in found}
        st.markdown("Filters: " + "; ".join(parallel_views.describe_filter(by_name[n], s) for n, s in filters))
        st.button("Clear filters", key="parallel.clear", on_click=_set_filters, args=(study, ()))
    st.vega_lite_chart(parallel_chart.spec(result), on_select="rerun", selection_mode=parallel_chart.BRUSH,
                       key=chart_key(st.session_state.get(BRUSHES_KEY, 0)), width="stretch")
    st.caption(parallel_chart.drawn(result) + " Log axes: " + (", ".join(
        a.name for a in found if a.log) or "none") + ". Runs where a hyperparameter is inactive cross its axis at "
        "the mark 'inactive' below it; an option's runs spread over a band (the same place for a run every time). "
        "The sidebar's accuracy selection does not apply here: brush the accuracy axis instead.")
    with st.expander("Filter one axis by hand"):
        name = st.selectbox("Axis", [a.name for a in found], key="parallel.axis")
        _axis_control(next(a for a in found if a.name == name), filters, study)
    st.subheader(f"The best {min(result.best.height, parallel_views.BEST_ROWS)} runs that pass the filters")
    if result.best.is_empty():
        st.info("No finished run passes the filters. Clear them or widen one.")
    else:
        st.dataframe(result.best, hide_index=True, width="stretch")


render()
