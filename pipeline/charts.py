"""Chart builders: pure functions from a frame of aggregates to an altair chart (no Streamlit here).

Colors are schemes, not fixed hex values, so Streamlit's theme (light or dark) styles axes and
text; counts use viridis (perceptually uniform, sequential), lift a diverging scheme centred on
1 (no difference) on a log2 scale.
"""

from __future__ import annotations

import altair as alt
import polars as pl

BRUSH = "brush"
CELL = "cell"


def accuracy_title(normalized: bool) -> str:
    return "test accuracy, normalized per dataset (0 = worst, 1 = best)" if normalized else "test accuracy (fraction correct)"


def histogram(bins: pl.DataFrame, *, normalized: bool, selected: tuple[float, float] | None) -> alt.Chart:
    """Stacked histogram per dataset with an x-brush named BRUSH (the selection)."""
    brush = alt.selection_interval(name=BRUSH, encodings=["x"], value={"x": list(selected)} if selected else None)
    return alt.Chart(bins).mark_bar(binSpacing=0).encode(
        x=alt.X("x0:Q", title=accuracy_title(normalized), scale=alt.Scale(domain=[0, 1])),
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
        color=alt.Color("status:N", title="status", scale=alt.Scale(domain=["diverged", "failed"], scheme="set1")),
        tooltip=["dataset:N", "status:N", alt.Tooltip("runs:Q", title="networks")],
    ).properties(height=160)


def heatmap_matrix(cells: pl.DataFrame, *, value: str, suffix: str = "", orders: dict[str, list[str]],
                   names: list[str], panel: int = 90) -> alt.FacetChart:
    """Small heat maps, one per pair (rows: a, columns: b), cells clickable (point selection CELL).

    value: "selected" (networks in the range) or "lift". Cells whose lift is significant carry a ring.
    """
    lift, q, significant = f"lift{suffix}", f"q{suffix}", f"significant{suffix}"
    data = cells.with_columns(
        pl.struct("a", "option_a").map_elements(lambda r: orders[r["a"]].index(r["option_a"]), return_dtype=pl.Int64).alias("order_a"),
        pl.struct("b", "option_b").map_elements(lambda r: orders[r["b"]].index(r["option_b"]), return_dtype=pl.Int64).alias("order_b"),
        pl.col(lift).clip(1 / 16, 16).log(2).alias("log2_lift"),
    )
    click = alt.selection_point(name=CELL, fields=["a", "b", "option_a", "option_b"], on="click")
    if value == "lift":
        color = alt.Color("log2_lift:Q", title="lift (log2)", scale=alt.Scale(scheme="purpleorange", domainMid=0))
    else:
        color = alt.Color(f"{value}:Q", title="networks", scale=alt.Scale(scheme="viridis"))
    base = alt.Chart().encode(
        x=alt.X("option_b:O", title=None, sort=alt.EncodingSortField("order_b")),
        y=alt.Y("option_a:O", title=None, sort=alt.EncodingSortField("order_a")),
    )
    tooltip = [alt.Tooltip("a:N", title="row parameter"), alt.Tooltip("option_a:N", title="row option"),
               alt.Tooltip("b:N", title="column parameter"), alt.Tooltip("option_b:N", title="column option"),
               alt.Tooltip(f"{value if value != 'lift' else 'selected'}:Q", title="networks in range"),
               alt.Tooltip("runs:Q", title="networks in study"), alt.Tooltip(f"{lift}:Q", title="lift", format=".2f"),
               alt.Tooltip(f"{q}:Q", title="q (FDR)", format=".3g"), alt.Tooltip(f"{significant}:N", title="significant")]
    rect = base.mark_rect().encode(color=color, tooltip=tooltip,
                                   opacity=alt.condition(click, alt.value(1.0), alt.value(0.6))).add_params(click)
    ring = base.mark_point(shape="circle", filled=False, size=40, strokeWidth=1.5).encode(
        color=alt.value("white"), tooltip=tooltip).transform_filter(f"datum['{significant}']")
    return alt.layer(rect, ring, data=data).properties(width=panel, height=panel).facet(
        row=alt.Row("a:N", title=None, sort=names, header=alt.Header(labelAngle=0, labelAlign="left")),
        column=alt.Column("b:N", title=None, sort=names),
        spacing=6,
    ).resolve_scale(x="independent", y="independent")


def trellis(groups: pl.DataFrame, *, panels: list[str], orders: dict[str, list[str]], normalized: bool,
            secondary: str | None, notes: dict[str, str], primary_name: str, columns: int = 3) -> alt.ConcatChart:
    """One panel per parameter (strongest effect first): mean accuracy per option with its interval,
    one row of dots per value of the primary parameter; the secondary parameter as color and shape."""
    charts = []
    for panel in panels:
        part = groups.filter(pl.col("panel") == panel)
        y = alt.Y("option:N", title=panel, sort=orders[panel])
        tooltip = [alt.Tooltip("primary:N", title=primary_name), alt.Tooltip("option:N", title=panel),
                   alt.Tooltip("n:Q", title="networks"), alt.Tooltip("mean:Q", title="mean", format=".3f"),
                   alt.Tooltip("low:Q", title="95% CI from", format=".3f"), alt.Tooltip("high:Q", title="95% CI to", format=".3f")]
        x = alt.X("mean:Q", title="mean " + accuracy_title(normalized), scale=alt.Scale(zero=False))
        if secondary:
            tooltip.insert(2, alt.Tooltip("secondary:N", title=secondary))
            extra = {"color": alt.Color("secondary:N", title=secondary), "shape": alt.Shape("secondary:N", title=secondary),
                     "yOffset": alt.YOffset("secondary:N")}
        else:
            extra = {}
        bars = alt.Chart().mark_rule().encode(x=alt.X("low:Q"), x2="high:Q", y=y, tooltip=tooltip,
                                              **({"color": extra["color"], "yOffset": extra["yOffset"]} if secondary else {}))
        dots = alt.Chart().mark_point(filled=True, size=50).encode(x=x, y=y, tooltip=tooltip, **extra)
        charts.append(alt.layer(bars, dots, data=part).properties(width=220, height=alt.Step(14)).facet(
            row=alt.Row("primary:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")),
            title=alt.TitleParams(f"{panel}", subtitle=notes.get(panel, ""), anchor="start"),
        ))
    return alt.concat(*charts, columns=columns).resolve_scale(x="shared")
