"""The Embedding page's chart: configurations as points, coloured by accuracy (a pure function, no Streamlit).

A Vega-Lite spec written as a dict with its data as a named dataset, so Streamlit sends the points as
Arrow: with 5,000 points and a dozen tooltip fields altair's inline JSON and schema validation would be
most of a render. Columns are renamed f0, f1, ... in the spec: hyperparameter names may hold dots,
brackets or quotes, which Vega-Lite reads as paths.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from pipeline.app.charts import accuracy_title

HEIGHT = 560  # px of the whole chart: ~390 px of plot above the axis title and the legend; width: the main column's
POINT_SIZE = 22  # px² of a point: 2,000 of them stay apart enough to see where they crowd
OUTSIDE_SELECTION = "#c8c8c8"  # networks outside the sidebar's selection: grey, drawn under the others
SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"


def scatter(points: pl.DataFrame, *, scale: str, x_title: str, y_title: str,
            fields: Sequence[tuple[str, str, str | None]], selected: bool = False) -> dict:
    """One point per row of `points` (x, y, `accuracy` on `scale`, 0..1), coloured by accuracy with viridis
    on 0..1; the tooltip shows `fields`, (column, title, d3 number format or None) triples, in that order.
    With `selected`, the column `selected` (bool) says which points are in the selection: the others are
    grey. Rows are drawn in order, so the last ones are on top."""
    columns = {column: f"f{i}" for i, (column, _title, _format) in enumerate(fields)}
    data = points.select("x", "y", pl.col("accuracy").alias("colour"),
                         *(pl.col(column).alias(name) for column, name in columns.items()),
                         *(["selected"] if selected else []))
    tooltip = [{"field": columns[column], "title": title,
                "type": "quantitative" if points[column].dtype.is_numeric() else "nominal",
                **({"format": number_format} if number_format else {})}
               for column, title, number_format in fields]
    colour = {"field": "colour", "type": "quantitative", "title": accuracy_title(scale),
              "scale": {"scheme": "viridis", "domain": [0, 1]},
              "legend": {"orient": "bottom", "direction": "horizontal", "gradientLength": 260, "titleLimit": 640,
                         "format": ".1f"}}
    if selected:
        colour = {"condition": {"test": "datum.selected", **colour}, "value": OUTSIDE_SELECTION}
    axis = {"zero": False, "nice": False, "padding": 8}
    return {
        "$schema": SCHEMA,
        "data": {"name": "points"},
        "datasets": {"points": data},
        "mark": {"type": "circle", "size": POINT_SIZE, "opacity": 0.8, "stroke": None},
        "encoding": {
            "x": {"field": "x", "type": "quantitative", "title": x_title, "scale": axis,
                  "axis": {"titleLimit": 640, "labelFlush": True}},
            "y": {"field": "y", "type": "quantitative", "title": y_title, "scale": axis,
                  "axis": {"titleLimit": HEIGHT}},
            "color": colour,
            "tooltip": tooltip,
        },
        "height": HEIGHT,
    }
