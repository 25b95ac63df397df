"""Chart builders: pure functions from a frame of aggregates to an altair chart (no Streamlit here).

Colors are schemes, not fixed hex values, so Streamlit's theme (light or dark) styles axes and
text; counts use viridis (perceptually uniform, sequential), lift a diverging scheme centred on
1 (no difference) on a log2 scale. A run's status is the exception: STATUS_COLORS, one fixed colour
per status, so that a status looks the same on every chart of every page.
"""

from __future__ import annotations

import copy
import functools

import altair as alt
import polars as pl

from pipeline.analysis.group_means import MIN_GROUP
from pipeline.app.selection import axis_title

BRUSH = "brush"
# every axis or legend that counts networks: whole numbers only (no 0.5 networks between 0 and 3)
COUNT_AXIS = {"tickMinStep": 1, "format": ",d"}
CELL = "cell"
STATUS_COLORS = {"ok": "#4c78a8", "diverged": "#f58518", "failed": "#e45756"}  # every status a run can end in
# the one categorical palette for datasets (and any other category drawn as colour): no status colour in it,
# so a dataset never looks like a status (tableau10 without its first three, then a few of its neighbours)
DATASET_COLORS = ["#54a24b", "#b279a2", "#72b7b2", "#eeca3b", "#9d755d", "#bab0ac", "#ff9da6", "#17becf",
                  "#8c6d31", "#393b79"]
assert not set(DATASET_COLORS) & set(STATUS_COLORS.values())


def status_color(statuses: tuple[str, ...] = tuple(STATUS_COLORS)) -> alt.Color:
    """Color by a field `status` from STATUS_COLORS; `statuses` limits the legend to those a chart shows."""
    return alt.Color("status:N", title="status", scale=alt.Scale(
        domain=list(statuses), range=[STATUS_COLORS[s] for s in statuses]))


def accuracy_title(scale: str | bool) -> str:
    """The accuracy axis' title on a scale of selection.SCALES (True / False: normalized / raw)."""
    return axis_title(scale)


def histogram(bins: pl.DataFrame, *, scale: str | bool | None = None, normalized: bool | None = None,
              selected: tuple[float, float] | None) -> alt.Chart:
    """Stacked histogram per dataset with an x-brush named BRUSH (the selection); the tooltip gives the raw
    accuracy a bin's networks span where the frame has it (accuracy_from, accuracy_to)."""
    scale = scale if scale is not None else bool(normalized)
    brush = alt.selection_interval(name=BRUSH, encodings=["x"], value={"x": list(selected)} if selected else None)
    spans = [alt.Tooltip("accuracy_from:Q", title="test accuracy from", format=".3f"),
             alt.Tooltip("accuracy_to:Q", title="test accuracy to", format=".3f")] if "accuracy_to" in bins else []
    return alt.Chart(bins).mark_bar(binSpacing=0).encode(
        x=alt.X("x0:Q", bin="binned", title=accuracy_title(scale), scale=alt.Scale(domain=[0, 1])),
        x2="x1:Q",
        y=alt.Y("networks:Q", title="networks", stack="zero", axis=alt.Axis(**COUNT_AXIS)),
        color=alt.Color("dataset:N", title="dataset", scale=alt.Scale(range=DATASET_COLORS)),
        opacity=alt.condition(brush, alt.value(1.0), alt.value(0.35)),
        tooltip=[alt.Tooltip("dataset:N"), alt.Tooltip("x0:Q", title="from", format=".3f"),
                 alt.Tooltip("x1:Q", title="to", format=".3f"), alt.Tooltip("networks:Q", title="networks"),
                 *spans],
    ).add_params(brush).properties(height=320)


def unfinished(counts: pl.DataFrame) -> alt.Chart:
    """Diverged and failed runs per dataset, beside the histogram (they have no accuracy)."""
    return alt.Chart(counts).mark_bar().encode(
        x=alt.X("runs:Q", title="networks", axis=alt.Axis(**COUNT_AXIS)),
        y=alt.Y("dataset:N", title="dataset"),
        color=status_color(("diverged", "failed")),
        tooltip=["dataset:N", "status:N", alt.Tooltip("runs:Q", title="networks")],
    ).properties(height=160)


def runs_by_status(by_dataset: pl.DataFrame) -> alt.Chart:
    """Networks per dataset, stacked by status, datasets with the most first."""
    return alt.Chart(by_dataset).mark_bar().encode(
        x=alt.X("runs:Q", title="networks", axis=alt.Axis(**COUNT_AXIS)),
        y=alt.Y("dataset:N", title="dataset", sort="-x"),
        color=status_color(),
        tooltip=[alt.Tooltip("dataset:N"), alt.Tooltip("status:N"), alt.Tooltip("runs:Q", title="networks"),
                 alt.Tooltip("best_test_accuracy:Q", title="best test accuracy", format=".3f")],
    )


HEATMAP_WIDTH = 480  # px for a matrix's cells: with labels and names (~100 px each side) it fits the main
#                     column at 1280 px with the sidebar open (704 px)
HEATMAP_STEP = (9, 18)  # px per option, at least (below it labels would collide: the box scrolls) and at most
HEATMAP_LABELS = 100  # px at most for an option label or a parameter's name
AGAINST = {"independence": "_indep", "study": ""}  # lift against what: the columns' tag in study_views.pair_matrix


def heatmap_matrix(cells: pl.DataFrame, *, value: str, suffix: str = "", against: str = "independence",
                   params: tuple[tuple[str, tuple[str, ...]], ...], width: int = HEATMAP_WIDTH) -> dict:
    """Vega-Lite spec (with its data) of a pair matrix drawn as one heat map: a column of options per
    parameter but the first, a row of options per parameter but the last, each pair's block where its row
    and column cross (upper triangle); parameter names above the columns and right of the rows, every
    option labelled on the axes (labelOverlap off, one step per option). Cells are clickable (point
    selection CELL); draw it with st.vega_lite_chart(width="content").

    value: "selected" / "compared" (networks in the range) or "lift"; against: "independence" (the pair's
    margins in the range) or "study" (the whole study); params: (name, option labels) in parameter order.
    Cells whose lift is significant carry a ring (dark with a white halo: visible on any colour). The spec
    is built with altair once per shape and the data put in: building it costs ~80 ms of each render.
    """
    tag = AGAINST[against] + suffix
    count = "compared" if suffix else "selected"
    rows, columns = params[:-1], params[1:]
    columns_shown = sum(len(labels) for _, labels in columns)
    step = max(HEATMAP_STEP[0], min(HEATMAP_STEP[1], width // max(1, columns_shown)))
    keys = {"a": _option_keys(params), "b": _option_keys(params)}
    data = cells.select(
        "a", "b", "option_a", "option_b", "runs", pl.col(count).alias("networks"),
        pl.col(f"lift{tag}").alias("lift"), pl.col(f"q{tag}").alias("q"),
        pl.col(f"significant{tag}").alias("significant"),
        pl.col(f"expected{tag}").alias("expected"),
        # the colour: lift with half a network added to both counts, so that a cell where a few networks
        # were expected is not painted as dark as one where many were (the tooltip has the lift itself)
        pl.when(pl.col(f"lift{tag}").is_not_null()).then(
            ((pl.col(count) + 0.5) / (pl.col(f"expected{tag}") + 0.5)).clip(1 / 16, 16).log(2)).alias("log2_lift"),
        pl.struct("a", "option_a").map_elements(lambda r: keys["a"][(r["a"], r["option_a"])],
                                                return_dtype=pl.String).alias("y"),
        pl.struct("b", "option_b").map_elements(lambda r: keys["b"][(r["b"], r["option_b"])],
                                                return_dtype=pl.String).alias("x"))
    names = pl.DataFrame(
        [("x", name, _middle(i + 1, labels)) for i, (name, labels) in enumerate(columns)]
        + [("y", name, _middle(i, labels)) for i, (name, labels) in enumerate(rows)],
        schema={"axis": pl.String, "name": pl.String, "middle": pl.String}, orient="row")
    spec = copy.deepcopy(_heatmap_matrix_spec(value, against, params, step))
    return {**spec, "datasets": {"cells": data.drop_nulls(["x", "y"]), "names": names}}


def _key(index: int, code: int, label: str) -> str:
    """An option's place on a matrix axis, sortable as text: parameter, option code, then the label shown."""
    return f"{index:03d}{code:03d}{label}"


def _middle(index: int, labels: tuple[str, ...]) -> str:
    return _key(index, len(labels) // 2, labels[len(labels) // 2])


def _option_keys(params) -> dict[tuple[str, str], str]:
    return {(name, label): _key(i, code, label) for i, (name, labels) in enumerate(params)
            for code, label in enumerate(labels)}


@functools.lru_cache(maxsize=64)
def _heatmap_matrix_spec(value: str, against: str, params: tuple, step: int) -> dict:
    click = alt.selection_point(name=CELL, fields=["a", "b", "option_a", "option_b"], on="click")
    baseline = "independence" if against == "independence" else "whole study"
    label = "substring(datum.label, 6)"  # the key without its sorting prefix
    font = 9 if step < 11 else 10
    x = alt.X("x:O", title=None, sort="ascending", scale=alt.Scale(paddingInner=0.08, paddingOuter=0.04),
              axis=alt.Axis(labelExpr=label, labelOverlap=False, labelAngle=-90, labelLimit=HEATMAP_LABELS,
                            labelFontSize=font, ticks=False, domain=False, labelPadding=3))
    y = alt.Y("y:O", title=None, sort="ascending", scale=alt.Scale(paddingInner=0.08, paddingOuter=0.04),
              axis=alt.Axis(labelExpr=label, labelOverlap=False, labelLimit=HEATMAP_LABELS, labelFontSize=font,
                            ticks=False, domain=False, labelPadding=3))
    if value == "lift":
        color = alt.Color("log2_lift:Q", title=f"log2 lift against {baseline}",
                          scale=alt.Scale(scheme="purpleorange", domain=[-4, 4], domainMid=0),
                          legend=alt.Legend(orient="bottom-left", direction="horizontal", gradientLength=200,
                                            titleLimit=260))
        color = alt.condition("!isValid(datum.log2_lift)", alt.value("#d9d9d9"), color)
    else:
        color = alt.Color("networks:Q", title="networks in range", scale=alt.Scale(scheme="viridis"),
                          legend=alt.Legend(orient="bottom-left", direction="horizontal", gradientLength=200,
                                            titleLimit=260, **COUNT_AXIS))
    tooltip = [alt.Tooltip("a:N", title="row parameter"), alt.Tooltip("option_a:N", title="row option"),
               alt.Tooltip("b:N", title="column parameter"), alt.Tooltip("option_b:N", title="column option"),
               alt.Tooltip("networks:Q", title="networks in range"),
               alt.Tooltip("runs:Q", title="networks in study")]
    tooltip.append(alt.Tooltip("expected:Q", title=f"expected ({baseline})", format=".1f"))
    tooltip += [alt.Tooltip("lift:Q", title=f"lift against {baseline}", format=".2f"),
                alt.Tooltip("q:Q", title="q (FDR)", format=".3g"),
                alt.Tooltip("significant:N", title="significant")]
    cells = alt.Chart(alt.Data(name="cells")).encode(x=x, y=y)
    rect = cells.mark_rect(invalid="show").encode(color=color, tooltip=tooltip,
                                    opacity=alt.condition(click, alt.value(1.0), alt.value(0.6))).add_params(click)
    ring_size = (step * 1.15) ** 2  # around the cell, not over its colour
    significant = cells.transform_filter("datum.significant")
    halo = significant.mark_point(shape="circle", filled=False, size=ring_size, strokeWidth=3,
                                  color="white", opacity=0.9, aria=False)
    ring = significant.mark_point(shape="circle", filled=False, size=ring_size, strokeWidth=1.5,
                                  color="#111111", opacity=1).encode(tooltip=tooltip)
    names = alt.Chart(alt.Data(name="names"))
    column_names = names.transform_filter("datum.axis == 'x'").mark_text(
        angle=270, align="left", baseline="middle", fontSize=11, fontWeight="bold", dx=6, limit=HEATMAP_LABELS,
    ).encode(x=alt.X("middle:O", sort="ascending"), y=alt.value(0), text="name:N")
    row_names = names.transform_filter("datum.axis == 'y'").mark_text(
        align="left", baseline="middle", fontSize=11, fontWeight="bold", dx=6, limit=HEATMAP_LABELS - 10,
    ).encode(y=alt.Y("middle:O", sort="ascending"), x=alt.value(step * sum(len(labels) for _, labels in params[1:])),
             text="name:N")
    chart = alt.layer(rect, halo, ring, column_names, row_names).resolve_scale(
        x="shared", y="shared").properties(width=alt.Step(step), height=alt.Step(step))
    spec = chart.to_dict()
    # altair's default theme's view size: st.vega_lite_chart leaves it out too, Streamlit's theme styles
    spec.pop("config", None)
    return spec


LABELS = 120  # px for the option labels left of each trellis row (restored by the heat-map edit, value a guess)


def option_means(groups: pl.DataFrame, *, panels: list[str], orders: dict[str, list[str]], normalized: bool,
                 secondary: str | None, notes: dict[str, str], primary_name: str, width: int = 700) -> dict:
    """Vega-Lite spec (with its data) of one row of panels per parameter (strongest effect first, its note in
    the row's title), one column per value of the primary parameter: mean accuracy per option with its
    interval; the secondary as color and shape. Draw it with st.vega_lite_chart.

    Built as a vertical stack of one column-faceted chart per parameter, not as one facet with rows and
    columns: Vega-Lite drops a custom row sort when a facet has rows, columns, an independent y scale and a
    step height (vega-lite#9882), which put panels under other parameters' headers. The panels share one x
    scale (0..1 at most: intervals are clipped to the accuracy's range) and fit `width` pixels. Groups with
    `few` networks (group_means.MIN_GROUP) are hollow dots without an interval, their tooltip says so.
    One row's spec is built with altair once per shape and copied per parameter: building and validating
    fourteen altair charts took ~1.4 s of each render.
    """
    columns = max(1, groups["primary"].n_unique())
    panel_width = int(max(80, min(170, (width - LABELS) / columns - 16)))
    data = groups.filter(pl.col("panel").is_in(panels)).with_columns(
        pl.when(pl.col("few")).then(pl.lit(f"n < {MIN_GROUP}: too few networks to compare")).otherwise(pl.lit(""))
        .alias("note"))
    template = _option_means_row_spec(normalized, secondary, primary_name, panel_width)
    rows, datasets = [], {}
    for i, panel in enumerate(panels):
        row = copy.deepcopy(template)
        row["data"] = {"name": f"panel_{i}"}
        row["title"]["text"] = f"{panel} — {notes[panel]}" if notes.get(panel) else panel
        if i:
            row["facet"]["column"]["title"] = None
        for layer in row["spec"]["layer"]:
            layer["encoding"]["y"]["sort"] = orders.get(panel, [])
        rows.append(row)
        datasets[f"panel_{i}"] = data.filter(pl.col("panel") == panel)
    return {"$schema": template["$schema"], "vconcat": rows, "spacing": 14, "datasets": datasets,
            # one y scale per row (its parameter's options), labelled once at its left
            "resolve": {"scale": {"x": "shared", "y": "independent", "color": "shared", "shape": "shared"}},
            "config": {"view": {"stroke": "#c8c8c8", "strokeWidth": 1}}}  # a frame per panel: columns sit close


@functools.lru_cache(maxsize=32)
def _option_means_row_spec(normalized: bool, secondary: str | None, primary_name: str, panel_width: int) -> dict:
    """One parameter's row of the trellis, its data, title and option order left to fill in."""
    tooltip = [alt.Tooltip("panel:N", title="parameter"), alt.Tooltip("option:N", title="option"),
               alt.Tooltip("primary:N", title=primary_name), alt.Tooltip("n:Q", title="networks"),
               alt.Tooltip("mean:Q", title="mean", format=".3f"),
               alt.Tooltip("low:Q", title="95% CI from", format=".3f"),
               alt.Tooltip("high:Q", title="95% CI to", format=".3f"), alt.Tooltip("note:N", title="note")]
    split = {}
    if secondary:
        tooltip.insert(3, alt.Tooltip("secondary:N", title=secondary))
        split = {"color": alt.Color("secondary:N", title=secondary, scale=alt.Scale(range=DATASET_COLORS)),
                 "yOffset": alt.YOffset("secondary:N")}
    x = alt.X("mean:Q", title="mean " + accuracy_title(normalized), scale=alt.Scale(zero=False))
    shape = {"shape": alt.Shape("secondary:N", title=secondary)} if secondary else {}
    # one label width for every row, so that the rows' panels line up
    y = alt.Y("option:N", title=None, sort=[],
              axis=alt.Axis(labelOverlap=False, labelLimit=LABELS - 10, minExtent=LABELS, maxExtent=LABELS))
    bars = alt.Chart().mark_rule().encode(x=alt.X("low:Q", title=None), x2="high:Q", y=y, tooltip=tooltip,
                                          **split).transform_filter("!datum.few && datum.low != null")
    dots = alt.Chart().mark_point(filled=True, size=50, opacity=0.9).encode(
        x=x, y=y, tooltip=tooltip, **split, **shape).transform_filter("!datum.few")
    hollow = alt.Chart().mark_point(filled=False, size=50, strokeDash=[2, 1]).encode(
        x=x, y=y, tooltip=tooltip, **split, **shape).transform_filter("datum.few")
    row = alt.layer(bars, dots, hollow, data=alt.Data(name="row")).properties(
        width=panel_width, height=alt.Step(16)).facet(
        column=alt.Column("primary:N", title=primary_name, sort="ascending", header=alt.Header(labelLimit=panel_width)),
        spacing=16, title=alt.Title("row", anchor="start", fontSize=13, fontWeight="normal"))
    spec = row.to_dict()
    spec.pop("config", None)  # altair's default theme; Streamlit's theme styles the chart
    return spec
