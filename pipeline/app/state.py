"""What pages share: the warehouse, the chosen study and selection, cached queries, readable errors.

A query opens the warehouse read-only for its own duration only (see pipeline/warehouse/store.py on
the file lock). Results are cached under the file's modification time, so a page refreshes as
soon as a job has written new runs and costs nothing while it has not.

Session-state keys, widgets' included, are `<scope>.<name>`: the scope is `app` for what every page
shares (the study, its picker, the selection: the constants below) and otherwise the page's file name
in app_pages/ (`distribution.normalized`, `runs.filter.<hyperparameter>`). A session has one session_state
for all its pages, so two pages' bare `normalized` would be one value. tests/app/test_app_pages.py runs
every page and checks every key. The URL's query parameters (study, budget, scale, lo, hi: what a shared
link holds) are not session state and keep their short names.

The accuracy scale (selection.SCALES: raw, normalized, rank; default rank, so ranges are per dataset) is
one choice for every page, picked in the sidebar and always written to the URL's `scale`; a selection is
a range on it, so the picker is fixed while a selection exists (clear it to change the scale), and a
selection made elsewhere (the top k % button) brings its scale with it. A link with lo/hi but no `scale`
is read as raw accuracy, as links made before the scales were.

A sweep study (its runs have budgets) is shown at one budget choice, picked in the sidebar and kept in
the URL as `budget=top` (default: each configuration's evaluation on the largest budget it reached) or
`budget=<value>` (every run on that budget); study_or_stop hands every page the study narrowed to it
(study_frame.StudyFrame.chosen), so no page filters budgets itself. Links without `budget` open on top.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from pipeline.app import study_frame, study_views
from pipeline.app.selection import (
    DEFAULT_SCALE,
    LINK_SCALE,
    SCALE_HELP,
    SCALE_NAMES,
    SCALES,
    Selection,
    SelectionError,
    query_scale,
)
from pipeline.core import limits
from pipeline.warehouse import store

STUDY_KEY = "app.study"
PICKER_KEY = "app.study_picker"
SELECTION_KEY = "app.selection"
URL_ADOPTED_KEY = "app.url_adopted"
SCALE_KEY = "app.scale"  # the accuracy scale every page shows and selects on: selection.SCALES
SCALE_PICKER_KEY = "app.scale_picker"
BUDGET_KEY = "app.budget"  # study_frame.TOP or a budget of the study; None: the study has no budgets
BUDGET_PICKER_KEY = "app.budget_picker"


def file_version(path: Path) -> tuple:
    """Changes whenever a writer has committed to the file (or its write-ahead log)."""
    stats = [p.stat() for p in (path, path.with_name(path.name + ".wal")) if p.exists()]
    return tuple((s.st_mtime_ns, s.st_size) for s in stats)


@st.cache_data(show_spinner=False, max_entries=16)
def _checked_studies(path: str, version: tuple) -> list[str]:
    """Opening the file costs ~25 ms, so a version is checked and its study names read in one opening;
    a refusal raises and is not cached."""
    with store.read(Path(path), timeout=5.0) as con:
        return list(store.query(con, "study_names")["name"])


def warehouse_or_stop() -> tuple[Path, list[str]]:
    """The warehouse path and its studies' names, or an error with what to do, and the page stops there."""
    path = store.resolve_path()
    try:
        return path, _checked_studies(str(path), file_version(path))
    except store.WarehouseError as err:
        st.error(str(err))
        st.markdown("To open the demo warehouse, run `python -m pipeline.demo restore` in the project folder, or point "
                    f"the app at another file: `{store.PATH_ENV_VAR}=path/to/file.duckdb streamlit run app.py`.")
        st.stop()


@st.cache_data(show_spinner=False, max_entries=256)
def _cached(path: str, version: tuple, name: str, params: tuple):
    with store.read(Path(path)) as con:
        return store.query(con, name, dict(params))


def cached_query(path: Path, name: str, params: dict | None = None):
    """The named query's result as a polars frame, cached until the warehouse changes."""
    return _cached(str(path), file_version(path), name, tuple(sorted((params or {}).items())))


MAX_STUDIES = 3  # studies kept loaded at once (1,000,000 runs take ~175 MB each)
_loaded: OrderedDict[tuple[str, str], tuple[tuple, study_frame.StudyFrame]] = OrderedDict()
_loaded_lock = threading.Lock()
_loading: dict[tuple[str, str], threading.Lock] = {}


def _study(path: str, version: tuple, name: str) -> study_frame.StudyFrame:
    """The study loaded at this version of the file. Unlike a Streamlit cache, one version per study:
    an older one is dropped before the newer loads, so a sweep writing every few seconds does not
    hold two copies (sessions still reading the old one keep it until they are done)."""
    key = (path, name)
    with _loaded_lock:
        loading = _loading.setdefault(key, threading.Lock())
    with loading:  # sessions that see a new version at once wait for one load instead of each loading it
        with _loaded_lock:
            if key in _loaded and _loaded[key][0] == version:
                _loaded.move_to_end(key)
                return _loaded[key][1]
            _loaded.pop(key, None)
        with st.spinner("Loading the study…"):
            frame = study_frame.load(Path(path), name)
        with _loaded_lock:
            _loaded[key] = (version, frame)
            while len(_loaded) > MAX_STUDIES:
                _loaded.popitem(last=False)
        return frame


def study_or_stop(path: Path) -> study_frame.StudyFrame:
    """The study chosen in the sidebar, loaded (once per warehouse version), or a message and stop."""
    name = st.session_state.get(STUDY_KEY)
    if not name:
        st.info(f"{path} holds no study yet. Train one: `python -m pipeline.ensemble --study NAME --runs 100`")
        st.stop()
    try:
        frame = _study(str(path), file_version(path), name).chosen(current_budget())
    except (study_frame.StudyError, store.WarehouseError) as err:
        st.error(str(err))
        st.stop()
    if frame.runs == 0:
        st.info(f"Study '{name}' has no runs yet. Its job writes them as they finish; this page refreshes then.")
        st.stop()
    return frame


@st.cache_data(show_spinner=False, max_entries=64)
def _pair_matrix(path: str, version: tuple, name: str, budget, selection: Selection | None,
                 compare: Selection | None):
    return study_views.pair_matrix(_study(path, version, name).chosen(budget), selection, compare)


def pair_matrix(path: Path, frame: study_frame.StudyFrame, selection: Selection | None,
                compare: Selection | None):
    """study_views.pair_matrix, kept per selection until the warehouse changes: clicking a cell or
    switching counts and lift redraws without counting again."""
    return _pair_matrix(str(path), file_version(path), frame.study["name"], frame.budget, selection, compare)


@st.cache_data(show_spinner=False, max_entries=64)
def _computed(path: str, version: tuple, name: str, budget, key: str, args: tuple, _compute: Callable):
    return _compute(_study(path, version, name).chosen(budget), **dict(args))


def computed(path: Path, frame: study_frame.StudyFrame, compute: Callable, **args):
    """compute(frame, **args), kept per study, budget choice and args until the warehouse changes: what
    takes seconds (an embedding, an importance) is computed once per version of the study, not per render.
    `args` must be hashable; the result is pickled into Streamlit's cache."""
    key = f"{compute.__module__}.{compute.__qualname__}"
    return _computed(str(path), file_version(path), frame.study["name"], frame.budget, key,
                     tuple(sorted(args.items())), compute)


def current_budget() -> str | float | None:
    """The sidebar's budget choice for the current study: study_frame.TOP or a budget; None: no budgets."""
    return st.session_state.get(BUDGET_KEY)


def _budget_query(budget: str | float | None) -> dict[str, str]:
    if budget is None:
        return {}
    return {"budget": budget if budget == study_frame.TOP else f"{budget:g}"}


def _budget_from_query(value: str | None) -> str | float | None:
    """The link's budget: TOP, a number, or None (none or unreadable)."""
    if value is None:
        return None
    if value == study_frame.TOP:
        return study_frame.TOP
    try:
        budget = float(value)
        if math.isfinite(budget):
            return budget
        raise ValueError(value)
    except ValueError:
        st.sidebar.warning(f"The link's budget={limits.shown(value)} is neither 'top' nor a number; showing each "
                           "configuration on its largest budget.")
        return study_frame.TOP


def _budget_picker(path: Path, study: str, *, drawn: bool = True) -> None:
    """For a sweep study: the budget choice, with how many runs it holds; no control otherwise. drawn=False:
    the choice is settled (a link's, or the default) without drawing the control."""
    budgets = cached_query(path, "study_budgets", {"study": study})
    if budgets.is_empty():
        st.session_state[BUDGET_KEY] = None
        return
    values = [float(b) for b in budgets["budget"]]
    runs = dict(zip(values, budgets["runs"]))
    configs = int(budgets["configs"][0])
    chosen = st.session_state.get(BUDGET_KEY)
    if chosen not in values and chosen != study_frame.TOP:
        if chosen is not None and st.session_state.get("app.budget_from_link"):
            st.sidebar.warning(f"Study '{study}' has no runs on budget {chosen:g}; showing each configuration on "
                               "its largest budget.")
        chosen = study_frame.TOP
    st.session_state.pop("app.budget_from_link", None)
    st.session_state[BUDGET_KEY] = st.session_state[BUDGET_PICKER_KEY] = chosen
    if not drawn:
        return

    def label(option) -> str:
        if option == study_frame.TOP:
            return f"largest per configuration (n = {configs:,})"
        return f"budget {option:g} (n = {runs[option]:,})"

    st.sidebar.selectbox("Budget", [study_frame.TOP, *values], key=BUDGET_PICKER_KEY, format_func=label,
                         help="A sweep evaluates promoted configurations again on larger budgets. Largest per "
                              "configuration: one run per configuration, its evaluation on the largest budget it "
                              "reached. Or every run on one budget.",
                         on_change=lambda: st.session_state.update({BUDGET_KEY: st.session_state[BUDGET_PICKER_KEY]}))
    if chosen == study_frame.TOP:
        st.sidebar.caption(f"Budget: each configuration on the largest budget it reached: {configs:,} networks "
                           f"of {sum(runs.values()):,} evaluations.")
    else:
        st.sidebar.caption(f"Budget: {chosen:g} only: {runs[chosen]:,} networks of {sum(runs.values()):,} "
                           "evaluations.")


def current_selection() -> Selection | None:
    return st.session_state.get(SELECTION_KEY)


def current_scale() -> str:
    """The accuracy scale every page shows (selection.SCALES); a selection's own scale while there is one."""
    selection = current_selection()
    return selection.scale if selection is not None else st.session_state.get(SCALE_KEY, DEFAULT_SCALE)


def set_selection(selection: Selection | None) -> None:
    """The selection, and with it the scale: the two are one choice (a range means something on its scale)."""
    st.session_state[SELECTION_KEY] = selection
    if selection is not None:
        st.session_state[SCALE_KEY] = selection.scale
    _write_url()


def _write_url(keep: tuple[str, ...] = ()) -> None:
    """The URL in step with the session; `keep`: the page's own parameters (e.g. parallel's `filter`), kept as
    they are (the page writes them itself)."""
    query = {}
    if st.session_state.get(STUDY_KEY):
        query["study"] = st.session_state[STUDY_KEY]
        query.update(_budget_query(current_budget()))
    query["scale"] = current_scale()  # always written: a link without it reads as the raw scale (LINK_SCALE)
    if (selection := current_selection()) is not None:
        query.update(selection.to_query())
    query.update({name: st.query_params[name] for name in keep if name in st.query_params})
    if dict(st.query_params) != query:
        st.query_params.from_dict(query)


def _adopt_url(studies: list[str]) -> None:
    """On a session's first run, take the study and selection from a shared link."""
    if st.session_state.get(URL_ADOPTED_KEY):
        return
    st.session_state[URL_ADOPTED_KEY] = True
    query = st.query_params.to_dict()
    if query.get("study") in studies:
        st.session_state[STUDY_KEY] = query["study"]
    elif "study" in query:
        st.sidebar.warning(f"The link's study '{query['study']}' is not in this warehouse.")
    st.session_state[BUDGET_KEY] = _budget_from_query(query.get("budget"))
    st.session_state["app.budget_from_link"] = "budget" in query
    try:
        st.session_state[SELECTION_KEY] = Selection.from_query(query)
    except SelectionError as err:
        st.session_state[SELECTION_KEY] = None
        st.sidebar.warning(f"{err}; the link's selection was ignored.")
    try:  # older links hold a range without a scale: raw, as they were made
        st.session_state[SCALE_KEY] = query_scale(query, LINK_SCALE if "lo" in query else DEFAULT_SCALE)
    except SelectionError as err:
        st.session_state[SCALE_KEY] = DEFAULT_SCALE
        if st.session_state[SELECTION_KEY] is not None or "lo" not in query:  # else already said
            st.sidebar.warning(f"{err}; showing the {DEFAULT_SCALE} scale.")


def _scale_picker(selection: Selection | None) -> None:
    """The accuracy scale of every page; fixed while a selection exists (its range is on that scale)."""
    st.session_state[SCALE_KEY] = st.session_state[SCALE_PICKER_KEY] = current_scale()
    st.sidebar.radio("Accuracy scale", SCALES, key=SCALE_PICKER_KEY, format_func=SCALE_NAMES.get,
                     disabled=selection is not None,
                     help=SCALE_HELP + (" Clear the selection to change the scale: its range is on this one."
                                        if selection is not None else ""),
                     on_change=lambda: st.session_state.update({SCALE_KEY: st.session_state[SCALE_PICKER_KEY]}))


def _selection_controls() -> None:
    selection = current_selection()
    _scale_picker(selection)
    if selection is None:
        st.sidebar.caption("Selection: all finished runs. Brush the histogram on *Accuracy distribution* to select.")
    else:
        st.sidebar.info(f"Selection: {selection.label}  \n{selection.rule.capitalize()}.", icon=":material/filter_alt:")
        st.sidebar.button("Clear selection", on_click=set_selection, args=(None,), key="app.clear_selection")


def sidebar(*, study_controls: bool = True, keep: tuple[str, ...] = ()) -> Path:
    """Study picker and the current selection, drawn by every page first; keeps the URL in step with both.
    A missing, foreign or locked warehouse stops the page here with a message; returns its path, checked.
    study_controls=False: a page about the whole warehouse (Overview) draws no study, budget, scale or
    selection controls, which would change nothing on it, and keeps what was chosen for the other pages.
    keep: URL parameters of the page's own that stay in the URL (the other pages drop them), e.g. the
    Parallel coordinates page's `filter`; the page reads and writes them itself.

    Each page calls it (not app.py) so that it also runs when a test opens a page directly.
    """
    path, studies = warehouse_or_stop()
    _adopt_url(studies)
    if studies and st.session_state.get(STUDY_KEY) not in studies:
        st.session_state[STUDY_KEY] = studies[-1]
    if studies and study_controls:
        # the widget has a key of its own: Streamlit forgets a widget's state on a page where it is not drawn yet
        st.session_state[PICKER_KEY] = st.session_state[STUDY_KEY]
        st.sidebar.selectbox("Study", studies, key=PICKER_KEY, help="Every page shows this study.",
                             on_change=lambda: st.session_state.update({STUDY_KEY: st.session_state[PICKER_KEY]}))
    if studies:
        _budget_picker(path, st.session_state[STUDY_KEY], drawn=study_controls)
    if study_controls:
        _selection_controls()
    _write_url(keep)
    return path
