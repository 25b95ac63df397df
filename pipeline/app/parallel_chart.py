"""The Parallel coordinates chart: parallel_views.Parallel drawn as one layered Vega-Lite spec (no Streamlit here).

x is the axis's place (0, 1, ... in the page's order, the accuracy last), y the position on the axis (0 bottom,
1 top, the inactive mark below 0). Layers, bottom to top: density bands between adjacent axes (area marks, two
points each, colour = the band's mean accuracy, opacity = its runs), the runs drawn as lines (colour = accuracy,
the top share thick and opaque, the others thin and faint), the axes (rules), their tick labels and names (text
marks read from data, so a hyperparameter's name never enters an expression). The axes' layer carries the
brush, an interval selection on x and y named BRUSH: Streamlit returns it as {"axis": [x0, x1], "y": [y0, y1]},
which parallel_views.brushed turns into filters.
"""

from __future__ import annotations

import polars as pl

from pipeline.app import parallel_views
from pipeline.app.selection import SCALE_NAMES

BRUSH = "brush"
HEIGHT = 430
TOP_WIDTH = 2.2  # px, a top line
OTHER_WIDTH = 0.8
NAME_Y = (1.05, 1.13)  # where an axis's name sits above its top: every other one higher, so long names fit
Y_DOMAIN = [parallel_views.INACTIVE - 0.06, 1.17]
PLOT_WIDTH = 1000  # px the chart is about wide in the main column at 1280 px: what a name may take
COLOR = {"scheme": "viridis", "domain": [0, 1], "reverse": True}  # the best runs dark, the worst light
HIGHLIGHT = "#d62728"  # the top runs' lines over the bands: one colour that no band has


def _long_lines(lines: pl.DataFrame, count: int) -> pl.DataFrame:
    """One row per run and axis: run_id, accuracy, top, axis, y."""
    if lines.is_empty():
        return pl.DataFrame(schema={"run_id": pl.Int64, "accuracy": pl.Float64, "top": pl.Boolean,
                                    "axis": pl.Int64, "y": pl.Float64})
    return (lines.unpivot(index=["run_id", "accuracy", "top"], on=[f"p{k}" for k in range(count)],
                          variable_name="axis", value_name="y")
            .with_columns(pl.col("axis").str.slice(1).cast(pl.Int64)))


def _kept(result: parallel_views.Parallel) -> pl.DataFrame:
    """What each filter keeps, as boxes on its axis: axis, y, y2 (a range, an option's band, the inactive mark)."""
    index = {axis.name: k for k, axis in enumerate(result.axes)}
    boxes = []
    for name, spec in result.filters:
        k = index[name]
        axis = result.axes[k]
        if axis.kind == "options":
            for label, (center, half) in zip(axis.labels, axis.bands()):
                if label in spec:
                    boxes.append((k, center - half, center + half))
        elif spec[0] != parallel_views.INACTIVE_LABEL:
            y, y2 = (min(max(axis.position(v), 0.0), 1.0) for v in spec[:2])
            boxes.append((k, y, max(y2, y + 0.004)))
        if spec[-1] == parallel_views.INACTIVE_LABEL:
            boxes.append((k, parallel_views.INACTIVE - parallel_views.INACTIVE_HALF,
                          parallel_views.INACTIVE + parallel_views.INACTIVE_HALF))
    return pl.DataFrame(boxes, schema={"axis": pl.Int64, "y": pl.Float64, "y2": pl.Float64}, orient="row").with_columns(
        x=pl.col("axis") - 0.07, x2=pl.col("axis") + 0.07)


def spec(result: parallel_views.Parallel) -> dict:
    """The chart (with its data) for st.vega_lite_chart(..., on_select="rerun", selection_mode=BRUSH)."""
    found = result.axes
    count = len(found)
    accuracy_title = f"accuracy ({SCALE_NAMES[result.scale]})"
    axes = pl.DataFrame({
        "axis": list(range(count)), "name": [a.name for a in found],
        "y": [parallel_views.INACTIVE - parallel_views.INACTIVE_HALF if a.inactive is not None else 0.0
              for a in found],
        "y2": [1.0] * count, "name_y": [NAME_Y[k % 2] for k in range(count)]})
    ticks = pl.DataFrame([(k, y, label) for k, axis in enumerate(found) for y, label in axis.ticks()],
                         schema={"axis": pl.Int64, "y": pl.Float64, "label": pl.String}, orient="row")
    lines = _long_lines(result.lines, count)
    x = {"field": "axis", "type": "quantitative", "axis": None,
         "scale": {"domain": [-0.6, count - 0.6], "nice": False, "zero": False}}
    y = {"field": "y", "type": "quantitative", "axis": None,
         "scale": {"domain": Y_DOMAIN, "nice": False, "zero": False}}
    color = {"field": "accuracy", "type": "quantitative", "title": accuracy_title, "scale": COLOR,
             "legend": {"type": "gradient", "orient": "bottom", "direction": "horizontal", "gradientLength": 260,
                        "titleLimit": 520}}
    layers = []
    if not result.bands.is_empty():
        layers.append({
            "data": {"name": "bands"}, "mark": {"type": "area", "interpolate": "linear"},
            "encoding": {"x": x, "y": y, "y2": {"field": "y2"}, "detail": {"field": "band"},
                         "color": color,
                         "opacity": {"field": "share", "type": "quantitative", "legend": None,
                                     "scale": {"domain": [0, 1], "range": [0.03, 0.6]}},
                         "tooltip": [{"field": "runs", "type": "quantitative", "title": "runs", "format": ","},
                                     {"field": "accuracy", "type": "quantitative", "title": "mean accuracy",
                                      "format": ".3f"}]}})
    tooltip = [{"field": "run_id", "type": "nominal", "title": "run"},
               {"field": "accuracy", "type": "quantitative", "title": "accuracy", "format": ".3f"}]
    tops = int(result.lines["top"].sum()) if not result.lines.is_empty() else 0
    for top in (False, True):
        # many top lines at full strength would hide each other and the bands: fainter and thinner the more
        width = TOP_WIDTH if tops <= 100 else 1.2
        opacity = min(0.9, max(0.1, 0.9 * (50 / max(tops, 1)) ** 0.6))
        layers.append({
            "data": {"name": "lines"}, "transform": [{"filter": f"{'' if top else '!'}datum.top"}],
            "mark": {"type": "line", "strokeWidth": width if top else OTHER_WIDTH,
                     "opacity": opacity if top else 0.3},
            "encoding": {"x": x, "y": y, "detail": {"field": "run_id"}, "order": {"field": "axis"},
                         # over bands (the colour scale is theirs) the top runs are one highlight colour
                         "color": {"value": HIGHLIGHT} if result.lines_top_only else color, "tooltip": tooltip}})
    layers.append({  # what the filters keep, on their axes
        "data": {"name": "kept"}, "mark": {"type": "rect", "color": "#1f77b4", "opacity": 0.22},
        "encoding": {"x": {**x, "field": "x"}, "x2": {"field": "x2"}, "y": y, "y2": {"field": "y2"}}})
    layers.append({
        "data": {"name": "axes"}, "mark": {"type": "rule", "color": "#444", "strokeWidth": 1.2},
        "params": [{"name": BRUSH, "select": {"type": "interval", "encodings": ["x", "y"]}}],
        "encoding": {"x": x, "y": y, "y2": {"field": "y2"}}})
    for halo in (True, False):  # a white outline first, so that a label stays readable over the lines
        layers.append({
            "data": {"name": "ticks"},
            "mark": {"type": "text", "align": "right", "dx": -4, "fontSize": 10, "color": "#222",
                     **({"stroke": "white", "strokeWidth": 3, "strokeOpacity": 0.85} if halo else {})},
            "encoding": {"x": x, "y": y, "text": {"field": "label"}}})
    layers.append({
        "data": {"name": "axes"}, "mark": {"type": "text", "fontSize": 11, "fontWeight": "bold", "baseline": "bottom",
                                           "limit": max(60, 2 * PLOT_WIDTH // max(count, 1) - 8)},
        "encoding": {"x": x, "y": {**y, "field": "name_y"}, "text": {"field": "name"}}})
    bands = result.bands
    if not bands.is_empty():
        bands = bands.with_columns(share=pl.col("runs") / pl.col("runs").max().over("pair"))
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "height": HEIGHT, "layer": layers,
        "datasets": {"bands": bands, "lines": lines, "axes": axes, "ticks": ticks, "kept": _kept(result)},
    }


def drawn(result: parallel_views.Parallel) -> str:
    """What the chart draws, in words."""
    share = f"{100 * result.share:g} %"
    if result.kept == 0:
        return "Nothing drawn: no finished run passes the filters."
    if not result.lines_top_only:
        return (f"Lines: all {result.kept:,} runs that pass the filters; thick: the {result.kept_top:,} of them in "
                f"the top {share} per dataset.")
    lines = result.lines.height
    best = (f"the best {lines:,} of the {result.kept_top:,} runs in the top {share} per dataset"
            if lines < result.kept_top else f"the top {share} per dataset ({lines:,} runs)")
    left = (f" The {result.bands_left_out:,} faintest bands are left out (at most {parallel_views.MAX_BANDS:,} drawn)."
            if result.bands_left_out else "")
    return (f"Bands: all {result.kept:,} runs that pass the filters, binned {result.bins} per number axis (an "
            f"option is a bin of its own), drawn between adjacent axes with opacity by count and colour by mean "
            f"accuracy; red lines: {best}.{left}")
