"""The Exploration history chart: a pure function from history_views.History to one altair chart.

Rows, one x scale for all (the evaluation number, by start time): the best test accuracy so far as a step
line, then one panel per hyperparameter (its title is the hyperparameter's name, "(log scale)" where the space
says log). In a panel each evaluation is a point at the value tried, coloured by its accuracy on the sidebar's
scale (grey where it has none: failed or diverged), shaped by how its configuration was first sampled (circle:
random, triangle: BOHB's model, cross: the hyperparameter was inactive), large where it is its configuration's
final (largest-budget) evaluation; a dashed segment joins a configuration's evaluations at growing budgets (a
promotion). Aggregated (history_views.MAX_POINTS): heat cells coloured by the mean accuracy in the cell under
the top configurations' points and promotions, which are outlined in black.

The data go in as four tables (points, promotions, cells, best), each filtered per panel on `parameter`, so the
spec carries each table once.
"""

from __future__ import annotations

import json

import altair as alt
import polars as pl

from pipeline.app.history_views import History, Panel
from pipeline.app.sweep_views import SAMPLING_NAMES

WIDTH = 560  # px of each panel: with the axis labels and the legends it fits the main column at 1280 px
BEST_HEIGHT = 110
NUMBER_HEIGHT = 120
BAND_HEIGHT = 26  # px per option of a banded panel
SCORE_TITLES = {"raw": "test accuracy", "normalized": "normalized accuracy", "rank": "accuracy rank"}
SHAPES = {"random": "circle", "model-based": "triangle-up", "inactive": "cross", "not recorded": "square"}
FINAL = "final"  # a configuration's evaluation on its largest budget
EARLIER = "promoted on"
MISSING = "#bdbdbd"
REGION = "#f4c27a"  # the final top region's band: warm and pale, unlike viridis' ends
REGION_LINE = "#e6550d"  # its outline over heat cells  # an evaluation without an accuracy (failed, diverged)


def _score_domain(h: History) -> list[float]:
    if h.scale != "raw":
        return [0.0, 1.0]
    scores = pl.concat([h.points["score"], h.cells["mean"]]).drop_nulls()
    return [float(scores.min()), float(scores.max())] if not scores.is_empty() else [0.0, 1.0]


def _label_expr(panel: Panel) -> str:
    """Vega expression naming each tick position (labels as JSON strings: any text is safe)."""
    parts = [f"abs(datum.value - ({position!r})) < 1e-6 ? {json.dumps(label)}" for position, label in panel.ticks]
    return " : ".join([*parts, "''"])


def _panel_height(panel: Panel) -> int:
    return max(60, BAND_HEIGHT * len(panel.ticks) + 10) if panel.banded else NUMBER_HEIGHT


def history_chart(h: History) -> alt.VConcatChart:
    n = h.evaluations
    x_scale = alt.Scale(domain=[0.5, n + 0.5], nice=False, zero=False)
    score_title = SCORE_TITLES[h.scale] + (" (cells, mean)" if h.aggregated else "")
    color = alt.Color("score:Q", title=score_title, scale=alt.Scale(scheme="viridis", domain=_score_domain(h)),
                      legend=alt.Legend(orient="right", gradientLength=160))
    points = h.points.with_columns(
        sampling=pl.when(pl.col("value") == "(inactive)").then(pl.lit("inactive"))
        .otherwise(pl.col("origin").replace_strict(SAMPLING_NAMES, default="not recorded")),
        step=pl.when(pl.col("final")).then(pl.lit(FINAL)).otherwise(pl.lit(EARLIER)))
    kinds = [k for k in SHAPES if k in set(points["sampling"].to_list())]
    shape = alt.Shape("sampling:N", title="sampled as", scale=alt.Scale(
        domain=kinds, range=[SHAPES[k] for k in kinds]), legend=alt.Legend(orient="right") if kinds else None)
    steps = [s for s in (FINAL, EARLIER) if s in set(points["step"].to_list())]
    # both steps in the domain always: a one-value point scale draws every point with size 0
    size = alt.Size("step:N", title="evaluation", scale=alt.Scale(domain=[FINAL, EARLIER], range=[90, 22]),
                    legend=alt.Legend(orient="right", values=steps))
    cells = h.cells.with_columns(score=pl.col("mean"))
    rows = [_best_row(h, x_scale)]
    for i, panel in enumerate(h.panels):
        rows.append(_panel_row(panel, points, h.promotions, cells, h.regions, x_scale, color, shape, size,
                               aggregated=h.aggregated, last=i == len(h.panels) - 1))
    return alt.vconcat(*rows, spacing=14).resolve_scale(x="shared", color="shared", shape="shared", size="shared")


def _best_row(h: History, x_scale: alt.Scale) -> alt.Chart:
    return alt.Chart(h.best, title=alt.TitleParams("best test accuracy so far", anchor="start", fontSize=13)).mark_line(
        interpolate="step-after", color="#333333", strokeWidth=2).encode(
        x=alt.X("evaluation:Q", scale=x_scale, title=None, axis=alt.Axis(format=",d", labels=False, ticks=False)),
        y=alt.Y("best_accuracy:Q", title="test accuracy", scale=alt.Scale(zero=False)),
        tooltip=[alt.Tooltip("evaluation:Q", title="evaluation", format=",d"),
                 alt.Tooltip("best_accuracy:Q", title="best test accuracy so far", format=".4f")],
    ).properties(width=WIDTH, height=BEST_HEIGHT)


def _panel_row(panel: Panel, points: pl.DataFrame, promotions: pl.DataFrame, cells: pl.DataFrame,
               regions: pl.DataFrame, x_scale: alt.Scale, color: alt.Color, shape: alt.Shape, size: alt.Size, *,
               aggregated: bool, last: bool) -> alt.LayerChart:
    only = alt.FieldEqualPredicate(field="parameter", equal=panel.name)
    y_scale = alt.Scale(domain=list(panel.domain), nice=False, zero=False)
    y_axis = alt.Axis(values=[position for position, _ in panel.ticks], labelExpr=_label_expr(panel),
                      grid=not panel.banded, title=None, labelLimit=110)
    x_axis = alt.Axis(format=",d", labels=last, ticks=True,
                      title="evaluation (in order of start time)" if last else None)
    # the final top region: a pale band across the whole sweep under the points; over heat cells, which would
    # hide it, an outline
    look = ({"fillOpacity": 0, "stroke": REGION_LINE, "strokeWidth": 1.5, "strokeDash": [6, 3]} if aggregated
            else {"color": REGION, "opacity": 0.5})
    region = alt.Chart(regions).transform_filter(only).mark_rect(**look).encode(
        x=alt.X(datum=x_scale.domain[0], scale=x_scale, axis=x_axis), x2=alt.X2(datum=x_scale.domain[1]),
        y=alt.Y("y0:Q", scale=y_scale, axis=y_axis), y2="y1:Q",
        tooltip=[alt.Tooltip("parameter:N", title="final top region of")])
    layers = [] if aggregated else [region]
    if aggregated:
        layers.append(alt.Chart(cells).transform_filter(only).mark_rect(opacity=0.9).encode(
            x=alt.X("x0:Q", scale=x_scale, axis=x_axis), x2="x1:Q",
            y=alt.Y("y0:Q", scale=y_scale, axis=y_axis), y2="y1:Q",
            color=color,
            tooltip=[alt.Tooltip("parameter:N", title="hyperparameter"), alt.Tooltip("value:N", title="value"),
                     alt.Tooltip("first_evaluation:Q", title="evaluations from", format=",d"),
                     alt.Tooltip("last_evaluation:Q", title="to", format=",d"),
                     alt.Tooltip("n:Q", title="n evaluations", format=",d"),
                     alt.Tooltip("mean:Q", title="mean accuracy in cell", format=".3f"),
                     alt.Tooltip("best:Q", title="best accuracy in cell", format=".3f")]))
    if aggregated:
        layers.append(region)
    layers.append(alt.Chart(promotions).transform_filter(only).mark_rule(
        strokeDash=[4, 3], strokeWidth=1.2, color="#555555", opacity=0.8).encode(
        x=alt.X("from_evaluation:Q", scale=x_scale, axis=x_axis), x2="to_evaluation:Q",
        y=alt.Y("position:Q", scale=y_scale, axis=y_axis),
        tooltip=[alt.Tooltip("config_id:N", title="configuration"),
                 alt.Tooltip("from_budget:Q", title="promoted from budget", format=",.4~g"),
                 alt.Tooltip("to_budget:Q", title="to budget", format=",.4~g"),
                 alt.Tooltip("from_evaluation:Q", title="evaluation", format=",d"),
                 alt.Tooltip("to_evaluation:Q", title="next evaluation", format=",d")]))
    layers.append(alt.Chart(points).transform_filter(only).mark_point(
        filled=True, opacity=0.9, stroke="black" if aggregated else None,
        strokeWidth=0.8 if aggregated else 0).encode(
        x=alt.X("evaluation:Q", scale=x_scale, axis=x_axis),
        y=alt.Y("position:Q", scale=y_scale, axis=y_axis),
        color=alt.condition("isValid(datum.score)", color, alt.value(MISSING)),
        shape=shape, size=size,
        tooltip=[alt.Tooltip("parameter:N", title="hyperparameter"), alt.Tooltip("value:N", title="value"),
                 alt.Tooltip("evaluation:Q", title="evaluation", format=",d"),
                 alt.Tooltip("config_id:N", title="configuration"),
                 alt.Tooltip("budget:Q", title="budget", format=",.4~g"),
                 alt.Tooltip("step:N", title="evaluation"), alt.Tooltip("sampling:N", title="sampled"),
                 alt.Tooltip("status:N", title="status"),
                 alt.Tooltip("accuracy:Q", title="test accuracy", format=".4f"),
                 alt.Tooltip("score:Q", title="on the sidebar's scale", format=".3f")]))
    title = panel.name + (" (log scale)" if panel.log else "")
    return alt.layer(*layers, title=alt.TitleParams(title, anchor="start", fontSize=13)).properties(
        width=WIDTH, height=_panel_height(panel))
