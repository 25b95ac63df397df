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

BRUSH = "brush"
CELL = "cell"
STATUS_COLORS = {"ok": "#4c78a8", "diverged": "#f58518", "failed": "#e45756"}  # every status a run can end in


def status_color(statuses: tuple[str, ...] = tuple(STATUS_COLORS)) -> alt.Color:
    """Color by a field `status` from STATUS_COLORS; `statuses` limits the legend to those a chart shows."""
    return alt.Color("status:N", title="status", scale=alt.Scale(
        domain=list(statuses), range=[STATUS_COLORS[s] for s in statuses]))


def accuracy_title(normalized: bool) -> str:
    if normalized:
        return "test accuracy, normalized per dataset (0 = worst, 1 = best)"
    return "test accuracy (fraction correct)"


def histogram(bins: pl.DataFrame, *, normalized: bool, selected: tuple[float, float] | None) -> alt.Chart:
    """Stacked histogram per dataset with an x-brush named BRUSH (the selection)."""
    brush = alt.selection_interval(name=BRUSH, encodings=["x"], value={"x": list(selected)} if selected else None)
    return alt.Chart(bins).mark_bar(binSpacing=0).encode(
        x=alt.X("x0:Q", bin="binned", title=accuracy_title(normalized), scale=alt.Scale(domain=[0, 1])),
        x2="x1:Q",
        y=alt.Y("networks:Q", title="networks", stack="zero"),
        color=alt.Color("dataset:N", title="dataset", scale=alt.Scale(scheme="tableau10")),
        opacity=alt.condition(brush, alt.value(1.0), alt.value(0.35)),
        tooltip=[alt.Tooltip("dataset:N"), alt.Tooltip("x0:Q", title="from", format=".3f"),
                 alt.Tooltip("x1:Q", title="to", format=".3f"), alt.Tooltip("networks:Q", title="networks")],
    ).add_params(brush).properties(height=320)


def unfinished(counts: pl.DataFrame) -> alt.Chart:
    """Diverged and failed runs per dataset, beside the histogram (they have no accuracy)."""
    return alt.Chart(counts).mark_bar().encode(
        x=alt.X("runs:Q", title="networks"),
        y=alt.Y("dataset:N", title="dataset"),
        color=status_color(("diverged", "failed")),
        tooltip=["dataset:N", "status:N", alt.Tooltip("runs:Q", title="networks")],
    ).properties(height=160)


def runs_by_status(by_dataset: pl.DataFrame) -> alt.Chart:
    """Networks per dataset, stacked by status, datasets with the most first."""
    return alt.Chart(by_dataset).mark_bar().encode(
        x=alt.X("runs:Q", title="networks"),
        y=alt.Y("dataset:N", title="dataset", sort="-x"),
        color=status_color(),
        tooltip=[alt.Tooltip("dataset:N"), alt.Tooltip("status:N"), alt.Tooltip("runs:Q", title="networks"),
                 alt.Tooltip("best_test_accuracy:Q", title="best test accuracy", format=".3f")],
    )


def heatmap_matrix(cells: pl.DataFrame, *, value: str, suffix: str = "", names: tuple[str, ...],
                   panel: int = 64) -> dict:
    """Vega-Lite spec (with its data) of small heat maps of a pair matrix, one per pair (rows: a, columns: b),
    cells clickable (point selection CELL); draw it with st.vega_lite_chart.

    value: "selected" / "compared" (networks in the range) or "lift". Options keep the parameter's order
    (its option codes). Cells whose lift is significant carry a ring. The spec is built with altair once
    per shape and the data put in: building and validating it cost ~80 ms of each render.
    """
    lift = f"lift{suffix}"
    # only what is drawn goes to the browser
    data = cells.select("a", "b", "option_a", "option_b", "code_a", "code_b", "runs",
                        "compared" if suffix else "selected", lift, f"q{suffix}", f"significant{suffix}",
                        pl.col(lift).clip(1 / 16, 16).log(2).alias("log2_lift"))
    return {**copy.deepcopy(_heatmap_matrix_spec(value, suffix, names, panel)), "datasets": {"cells": data}}


@functools.lru_cache(maxsize=64)
def _heatmap_matrix_spec(value: str, suffix: str, names: tuple[str, ...], panel: int) -> dict:
    lift, q, significant = f"lift{suffix}", f"q{suffix}", f"significant{suffix}"
    count = "compared" if suffix else "selected"
    click = alt.selection_point(name=CELL, fields=["a", "b", "option_a", "option_b"], on="click")
    if value == "lift":
        color = alt.Color("log2_lift:Q", title="lift (log2)", scale=alt.Scale(scheme="purpleorange", domainMid=0))
    else:
        color = alt.Color(f"{value}:Q", title="networks", scale=alt.Scale(scheme="viridis"))
    base = alt.Chart().encode(
        x=alt.X("option_b:O", title=None, sort=alt.EncodingSortField("code_b")),
        y=alt.Y("option_a:O", title=None, sort=alt.EncodingSortField("code_a")),
    )
    tooltip = [alt.Tooltip("a:N", title="row parameter"), alt.Tooltip("option_a:N", title="row option"),
               alt.Tooltip("b:N", title="column parameter"), alt.Tooltip("option_b:N", title="column option"),
               alt.Tooltip(f"{count}:Q", title="networks in range"),
               alt.Tooltip("runs:Q", title="networks in study"),
               alt.Tooltip(f"{lift}:Q", title="lift", format=".2f"),
               alt.Tooltip(f"{q}:Q", title="q (FDR)", format=".3g"),
               alt.Tooltip(f"{significant}:N", title="significant")]
    rect = base.mark_rect().encode(color=color, tooltip=tooltip,
                                   opacity=alt.condition(click, alt.value(1.0), alt.value(0.6))).add_params(click)
    ring = base.mark_point(shape="circle", filled=False, size=40, strokeWidth=1.5).encode(
        color=alt.value("white"), tooltip=tooltip).transform_filter(f"datum['{significant}']")
    chart = alt.layer(rect, ring, data=alt.Data(name="cells")).properties(width=panel, height=panel).facet(
        row=alt.Row("a:N", title=None, sort=list(names), header=alt.Header(labelAngle=0, labelAlign="left")),
        column=alt.Column("b:N", title=None, sort=list(names)),
        spacing=6,
    ).resolve_scale(x="independent", y="independent")
    spec = chart.to_dict()
    # altair's default theme's view size: st.altair_chart leaves it out too, Streamlit's theme styles
    spec.pop("config")
    return spec


def option_means(groups: pl.DataFrame, *, panels: list[str], orders: dict[str, list[str]], normalized: bool,
            secondary: str | None, notes: dict[str, str], primary_name: str) -> alt.FacetChart:
    """One row of panels per parameter (strongest effect first, its note beside the name), one column per
    value of the primary parameter: mean accuracy per option with its interval; the secondary as color and shape."""
    rank = {(panel, option): i for panel, options in orders.items() for i, option in enumerate(options)}
    heading = {panel: f"{panel} ({notes[panel]})" if notes.get(panel) else panel for panel in panels}
    data = groups.filter(pl.col("panel").is_in(panels)).with_columns(
        pl.struct("panel", "option").map_elements(lambda r: rank.get((r["panel"], r["option"]), 0),
                                                  return_dtype=pl.Int64).alias("rank"),
        pl.col("panel").replace_strict(heading).alias("heading"))
    y = alt.Y("option:N", title=None, sort=alt.EncodingSortField("rank"), axis=alt.Axis(labelOverlap=False))
    tooltip = [alt.Tooltip("panel:N", title="parameter"), alt.Tooltip("option:N", title="option"),
               alt.Tooltip("primary:N", title=primary_name), alt.Tooltip("n:Q", title="networks"),
               alt.Tooltip("mean:Q", title="mean", format=".3f"),
               alt.Tooltip("low:Q", title="95% CI from", format=".3f"),
               alt.Tooltip("high:Q", title="95% CI to", format=".3f")]
    split = {}
    if secondary:
        tooltip.insert(3, alt.Tooltip("secondary:N", title=secondary))
        split = {"color": alt.Color("secondary:N", title=secondary), "yOffset": alt.YOffset("secondary:N")}
    bars = alt.Chart().mark_rule().encode(x=alt.X("low:Q"), x2="high:Q", y=y, tooltip=tooltip, **split)
    dots = alt.Chart().mark_point(filled=True, size=50).encode(
        x=alt.X("mean:Q", title="mean " + accuracy_title(normalized), scale=alt.Scale(zero=False)),
        y=y, tooltip=tooltip, **split, **({"shape": alt.Shape("secondary:N", title=secondary)} if secondary else {}))
    return alt.layer(bars, dots, data=data).properties(width=170, height=alt.Step(16)).facet(
        row=alt.Row("heading:N", title=None, sort=[heading[p] for p in panels],
                    header=alt.Header(labelAngle=0, labelAlign="left", labelLimit=320)),
        column=alt.Column("primary:N", title=primary_name),
        spacing={"row": 12, "column": 8},
    ).resolve_scale(y="independent")
