"""The Correlations page's numbers and chart: a study's finished runs as correlation.Design, evaluated, drawn
as one heat map (no Streamlit here).

`study_correlations(frame, method=..., scale=...)` is what the page hands to state.computed: the runs of
the frame's budget choice (study_views.run_values, a uniform sample above SAMPLE_LIMIT runs), variables
in the order accuracy, loss, budget, dataset, hyperparameters (the frame's parameter order, a category's
options in their order). `heatmap(result)` is the Vega-Lite spec of the full symmetric matrix (diagonal
and same-parameter one-hot pairs left blank): colour r on a diverging scale fixed to -1..1, a cross on
every cell that is not significant after Benjamini-Hochberg, grey where r is undefined, every label drawn.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

import altair as alt
import polars as pl

from pipeline.analysis import correlation
from pipeline.app import study_frame, study_views

SAMPLE_LIMIT = 100_000  # studies with more runs are correlated on a uniform sample of this many
STEP = (12, 22)  # px per variable, at least (labels at 10 px font need ~12) and at most
CELLS_WIDTH = 560  # px the cells aim for: with ~170 px of labels it fits the main column at 1280 px
LABEL_LIMIT = 180  # px at most for a variable's label ("activation = leaky_relu")
UNDEFINED = "#d9d9d9"  # a cell whose r is undefined: a variable constant on the pair's runs
OUTCOMES = ("accuracy", "loss", "budget", "dataset")  # run_values' columns that are variables, in this order


@dataclass(frozen=True)
class Correlations:
    """What the page shows: the cells, the variables in order, and what to say about them."""
    cells: pl.DataFrame  # correlation.evaluate's rows: a, b, r, n, p, q, significant
    variables: tuple[str, ...]  # the matrix's rows and columns, in order
    left_out: dict[str, str]  # variable -> why it is not in the matrix
    logged: tuple[str, ...]  # variables correlated as log10 of their value (Pearson only)
    conditional: dict[str, int]  # variable -> runs where it is set, for those not set in every run
    structural: tuple[str, ...]  # categories whose one-hot options are not paired with each other
    runs: int  # finished runs correlated
    sampled: bool  # runs is a uniform sample of the study's finished runs
    method: str


def log_scaled(frame: study_frame.StudyFrame) -> frozenset[str]:
    """Columns of run_values that are log-scaled: a hyperparameter whose search space says `log` (true or
    false, as written), else one the study bins logarithmically (an imported log's space has no `log`: its
    values spanning two decades or more), and a sweep's budget (its budgets are min_budget * eta^k)."""
    said = study_frame.space_log_flags(frame.study.get("search_space"))
    names = {p.name for p in frame.params if said.get(p.name, p.log)}
    names |= {f"{name} (hyperparameter)" for name in names}  # run_values' name where a run column has the name
    return frozenset(names | ({"budget"} if frame.budgets else set()))


def study_correlations(frame: study_frame.StudyFrame, *, method: str = "spearman", scale: str = "rank",
                       limit: int = SAMPLE_LIMIT) -> Correlations:
    """Every pair's correlation over the finished runs of the frame's budget choice (see the module), on a
    uniform sample of `limit` of them where the study has more runs."""
    values = study_views.run_values(frame, scale=scale, sample=limit if frame.runs > limit else None)
    # frame.runs counts every run; the sample is of the finished ones, which may all fit
    sampled = frame.runs > limit and values.height == limit
    ordered = [c for c in OUTCOMES if c in values.columns]
    ordered += [c for c in values.columns if c not in ordered and c != "run_id"]
    data = correlation.design(values.select(ordered), log=log_scaled(frame), use_log=method == "pearson")
    cells = correlation.evaluate(data, method=method)
    counts = data.values.select(pl.all().is_not_null().sum()).row(0, named=True) if data.values.width else {}
    one_hot_parents = [data.parameter[c] for c in data.one_hot]
    return Correlations(
        cells=cells, variables=tuple(data.values.columns), left_out=data.left_out, logged=data.logged,
        conditional={name: count for name, count in counts.items() if count < values.height},
        structural=tuple(dict.fromkeys(p for p in one_hot_parents if one_hot_parents.count(p) > 1)),
        runs=values.height, sampled=sampled, method=method)


def heatmap(result: Correlations, *, width: int = CELLS_WIDTH) -> dict:
    """Vega-Lite spec (with its data) of the correlation matrix; draw it with st.vega_lite_chart(width="content")
    in a box that scrolls sideways (many one-hot options can make it wider than the page)."""
    step = max(STEP[0], min(STEP[1], width // max(1, len(result.variables))))
    cells = result.cells.select(
        "a", "b", "r", "n", "p", "q",
        pl.when(pl.col("r").is_null()).then(pl.lit("undefined (a variable is constant on these runs)"))
        .when(pl.col("significant")).then(pl.lit("yes")).otherwise(pl.lit("no")).alias("significant"))
    mirrored = pl.concat([cells.rename({"a": "row", "b": "column"}), cells.rename({"a": "column", "b": "row"})],
                         how="diagonal")
    spec = copy.deepcopy(_spec(result.method, result.variables, step))
    return {**spec, "datasets": {"cells": mirrored}}


@functools.lru_cache(maxsize=32)
def _spec(method: str, variables: tuple[str, ...], step: int) -> dict:
    """The chart without its data, built with altair once per shape (building and validating it costs
    tens of ms of each render)."""
    symbol = "rho" if method == "spearman" else "r"
    order = list(variables)
    axis = {"labelOverlap": False, "labelLimit": LABEL_LIMIT, "labelFontSize": 10 if step >= 14 else 9,
            "ticks": False, "domain": False, "labelPadding": 4, "title": None}
    x = alt.X("column:N", sort=order, scale=alt.Scale(domain=order, paddingInner=0.06),
              axis=alt.Axis(orient="top", labelAngle=-90, **axis))
    y = alt.Y("row:N", sort=order, scale=alt.Scale(domain=order, paddingInner=0.06), axis=alt.Axis(**axis))
    tooltip = [alt.Tooltip("row:N", title="row"), alt.Tooltip("column:N", title="column"),
               alt.Tooltip("r:Q", title=symbol, format=".3f"), alt.Tooltip("n:Q", title="n", format=",d"),
               alt.Tooltip("p:Q", title="p", format=".2g"), alt.Tooltip("q:Q", title="q (BH)", format=".2g"),
               alt.Tooltip("significant:N", title="significant")]
    color = alt.condition("isValid(datum.r)", alt.Color(
        "r:Q", title=f"{correlation.METHODS[method]}",
        scale=alt.Scale(scheme="redblue", reverse=True, domain=[-1, 1], domainMid=0),
        legend=alt.Legend(orient="bottom", direction="horizontal", gradientLength=240, titleLimit=320)),
        alt.value(UNDEFINED))
    base = alt.Chart(alt.Data(name="cells")).encode(x=x, y=y)
    rect = base.mark_rect().encode(color=color, tooltip=tooltip)
    # a thin x (an SVG path), so that a sea of non-significant cells stays readable and their colour shows
    crosses = base.transform_filter("datum.significant == 'no'").mark_point(
        shape="M -1 -1 L 1 1 M -1 1 L 1 -1", filled=False, color="#555555", strokeWidth=1, opacity=0.7,
        size=(step * 0.3) ** 2).encode(tooltip=tooltip)
    chart = alt.layer(rect, crosses).properties(width=alt.Step(step), height=alt.Step(step))
    spec = chart.to_dict()
    spec.pop("config", None)  # altair's default theme: Streamlit's theme styles the chart
    return spec
