"""The Exploration history chart: a pure function from history_views.History to one Vega-Lite spec (a dict with
its data; draw it with st.vega_lite_chart). A plain spec, not altair objects: altair took ~1 s to build and
validate these ~40 layers at every rerun, the dict takes milliseconds.

Rows, one x scale for all (the evaluation number, by start time): the best test accuracy so far as a step
line, then one panel per hyperparameter (its title is the hyperparameter's name, "(log scale)" where the space
says log). In a panel each evaluation is a point at the value tried, coloured by its accuracy on the sidebar's
scale (grey where it has none: failed or diverged), shaped by how its configuration was first sampled (circle:
random, triangle: BOHB's model, cross: the hyperparameter was inactive), large where it is its configuration's
final (largest-budget) evaluation; a dashed segment joins a configuration's evaluations at growing budgets (a
promotion). Aggregated (history_views.MAX_POINTS): heat cells coloured by the mean accuracy in the cell under
the top configurations' points and promotions, which are outlined in black.

The data go in as five named tables (points, promotions, cells, regions, best), each filtered per panel on
`parameter`, so the spec carries each table once.
"""

from __future__ import annotations

import json

import polars as pl

from pipeline.app.history_views import History, Panel
from pipeline.app.sweep_views import SAMPLING_NAMES

WIDTH = 560  # px of each panel: with the axis labels and the legends it fits the main column at 1280 px
LABEL_WIDTH = 96  # px of every row's y-axis labels: the same in every row, so the plot areas line up on x
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


def _tip(field: str, title: str, kind: str = "quantitative", fmt: str | None = None) -> dict:
    return {"field": field, "type": kind, "title": title, **({"format": fmt} if fmt else {})}


def _title(text: str) -> dict:
    return {"text": text, "anchor": "start", "fontSize": 13}


def history_chart(h: History) -> dict:
    """The spec: the best-so-far row, then one row per hyperparameter panel (see the module)."""
    n = h.evaluations
    x_scale = {"domain": [0.5, n + 0.5], "nice": False, "zero": False}
    score_title = SCORE_TITLES[h.scale] + (" (cells, mean)" if h.aggregated else "")
    color = {"field": "score", "type": "quantitative", "title": score_title,
             "scale": {"scheme": "viridis", "domain": _score_domain(h)},
             "legend": {"orient": "right", "gradientLength": 160}}
    points = h.points.with_columns(
        sampling=pl.when(pl.col("value") == "(inactive)").then(pl.lit("inactive"))
        .otherwise(pl.col("origin").replace_strict(SAMPLING_NAMES, default="not recorded")),
        step=pl.when(pl.col("final")).then(pl.lit(FINAL)).otherwise(pl.lit(EARLIER)))
    kinds = [k for k in SHAPES if k in set(points["sampling"].to_list())]
    shape = {"field": "sampling", "type": "nominal", "title": "sampled as",
             "scale": {"domain": kinds or ["random"], "range": [SHAPES[k] for k in kinds] or ["circle"]},
             "legend": {"orient": "right"}}
    steps = [s for s in (FINAL, EARLIER) if s in set(points["step"].to_list())]
    # both steps in the domain always: a one-value point scale draws every point with size 0
    size = {"field": "step", "type": "nominal", "title": "evaluation",
            "scale": {"domain": [FINAL, EARLIER], "range": [90, 22]}, "legend": {"orient": "right", "values": steps}}
    rows = [_best_row(h, x_scale)]
    for i, panel in enumerate(h.panels):
        rows.append(_panel_row(panel, x_scale, color, shape, size, aggregated=h.aggregated,
                               last=i == len(h.panels) - 1))
    return {
        "vconcat": rows, "spacing": 14,
        "resolve": {"scale": {"x": "shared", "color": "shared", "shape": "shared", "size": "shared"}},
        "datasets": {"best": h.best, "points": points, "promotions": h.promotions, "regions": h.regions,
                     "cells": h.cells.with_columns(score=pl.col("mean"))},
    }


def _best_row(h: History, x_scale: dict) -> dict:
    return {
        "title": _title("best test accuracy so far"), "data": {"name": "best"}, "width": WIDTH,
        "height": BEST_HEIGHT,
        "mark": {"type": "line", "interpolate": "step-after", "color": "#333333", "strokeWidth": 2},
        "encoding": {
            "x": {"field": "evaluation", "type": "quantitative", "scale": x_scale, "title": None,
                  "axis": {"format": ",d", "labels": False, "ticks": False}},
            "y": {"field": "best_accuracy", "type": "quantitative", "title": None, "scale": {"zero": False},
                  "axis": {"minExtent": LABEL_WIDTH, "maxExtent": LABEL_WIDTH}},
            "tooltip": [_tip("evaluation", "evaluation", fmt=",d"),
                        _tip("best_accuracy", "best test accuracy so far", fmt=".4f")]}}


def _panel_row(panel: Panel, x_scale: dict, color: dict, shape: dict, size: dict, *, aggregated: bool,
               last: bool) -> dict:
    only = [{"filter": {"field": "parameter", "equal": panel.name}}]
    y_scale = {"domain": list(panel.domain), "nice": False, "zero": False}
    y_axis = {"values": [position for position, _ in panel.ticks], "labelExpr": _label_expr(panel),
              "grid": not panel.banded, "title": None, "labelLimit": LABEL_WIDTH - 8, "minExtent": LABEL_WIDTH,
              "maxExtent": LABEL_WIDTH}
    x_axis = {"format": ",d", "labels": last, "ticks": True,
              "title": "evaluation (in order of start time)" if last else None}

    def x(field: str) -> dict:
        return {"field": field, "type": "quantitative", "scale": x_scale, "axis": x_axis}

    def y(field: str) -> dict:
        return {"field": field, "type": "quantitative", "scale": y_scale, "axis": y_axis}

    # the final top region: a pale band across the whole sweep under the points; over heat cells, which would
    # hide it, an outline
    look = ({"fillOpacity": 0, "stroke": REGION_LINE, "strokeWidth": 1.5, "strokeDash": [6, 3]} if aggregated
            else {"color": REGION, "opacity": 0.5})
    region = {"data": {"name": "regions"}, "transform": only, "mark": {"type": "rect", **look}, "encoding": {
        "x": {"datum": x_scale["domain"][0], "type": "quantitative", "scale": x_scale, "axis": x_axis},
        "x2": {"datum": x_scale["domain"][1]}, "y": y("y0"), "y2": {"field": "y1"},
        "tooltip": [_tip("parameter", "final top region of", "nominal")]}}
    layers = [] if aggregated else [region]
    if aggregated:
        layers.append({"data": {"name": "cells"}, "transform": only, "mark": {"type": "rect", "opacity": 0.9},
                       "encoding": {
                           "x": x("x0"), "x2": {"field": "x1"}, "y": y("y0"), "y2": {"field": "y1"}, "color": color,
                           "tooltip": [_tip("parameter", "hyperparameter", "nominal"),
                                       _tip("value", "value", "nominal"),
                                       _tip("first_evaluation", "evaluations from", fmt=",d"),
                                       _tip("last_evaluation", "to", fmt=",d"),
                                       _tip("n", "n evaluations", fmt=",d"),
                                       _tip("mean", "mean accuracy in cell", fmt=".3f"),
                                       _tip("best", "best accuracy in cell", fmt=".3f")]}})
        layers.append(region)
    layers.append({"data": {"name": "promotions"}, "transform": only, "mark": {
        "type": "rule", "strokeDash": [4, 3], "strokeWidth": 1.2, "color": "#555555", "opacity": 0.8},
        "encoding": {"x": x("from_evaluation"), "x2": {"field": "to_evaluation"}, "y": y("position"),
                     "tooltip": [_tip("config_id", "configuration", "nominal"),
                                 _tip("from_budget", "promoted from budget", fmt=",.4~g"),
                                 _tip("to_budget", "to budget", fmt=",.4~g"),
                                 _tip("from_evaluation", "evaluation", fmt=",d"),
                                 _tip("to_evaluation", "next evaluation", fmt=",d")]}})
    mark = {"type": "point", "filled": True, "opacity": 0.9}
    if aggregated:
        mark.update(stroke="black", strokeWidth=0.8)
    tooltip = [_tip("parameter", "hyperparameter", "nominal"), _tip("value", "value", "nominal"),
               _tip("evaluation", "evaluation", fmt=",d"), _tip("config_id", "configuration", "nominal"),
               _tip("budget", "budget", fmt=",.4~g"), _tip("step", "evaluation kind", "nominal"),
               _tip("sampling", "sampled", "nominal"), _tip("status", "status", "nominal"),
               _tip("accuracy", "test accuracy", fmt=".4f"), _tip("score", "on the sidebar's scale", fmt=".3f")]
    # evaluations without an accuracy in a layer of their own: Vega-Lite drops a mark whose colour field is null
    for test, colour in (("isValid(datum.score)", color), ("!isValid(datum.score)", {"value": MISSING})):
        layers.append({"data": {"name": "points"}, "transform": [*only, {"filter": test}], "mark": mark,
                       "encoding": {"x": x("evaluation"), "y": y("position"), "color": colour, "shape": shape,
                                    "size": size, "tooltip": tooltip}})
    return {"title": _title(panel.name + (" (log scale)" if panel.log else "")), "layer": layers,
            "width": WIDTH, "height": _panel_height(panel)}
