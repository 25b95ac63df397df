"""The Sweep page's charts: pure functions from pipeline/app/sweep_views.py frames to altair charts.

Brackets are a category drawn as colour, so they take charts.DATASET_COLORS (the app's one categorical palette);
how a configuration was sampled has a palette of its own, SAMPLING_COLORS, that shares no colour with the
statuses or the datasets, so a sampling kind never reads as either.
"""

from __future__ import annotations

import altair as alt
import polars as pl

from pipeline.app.charts import DATASET_COLORS, STATUS_COLORS
from pipeline.app.sweep_views import SAMPLING_KINDS, SAMPLING_NAMES

BRACKET = "bracket"  # the bracket chart's point selection: event["selection"][BRACKET] = [{"bracket": i}, ...]
BRUSH = "brush"  # the scatter's interval selection: event["selection"][BRUSH] = {"loss": [..], "accuracy": [..]}
# random is the grey baseline; model-based and promoted stand out from it and from each other
SAMPLING_COLORS = {"random": "#8c8c8c", "model_based": "#7570b3", "promoted": "#1b9e77"}
assert not set(SAMPLING_COLORS.values()) & (set(STATUS_COLORS.values()) | set(DATASET_COLORS))
STATISTIC_TITLES = {"mean": "mean test accuracy", "max": "max test accuracy"}


def sampling_color(kinds: tuple[str, ...] = SAMPLING_KINDS) -> alt.Color:
    """Colour by the field `sampling` (SAMPLING_NAMES' readable names), the legend limited to `kinds`."""
    return alt.Color("sampling:N", title="sampled as", scale=alt.Scale(
        domain=[SAMPLING_NAMES[k] for k in kinds], range=[SAMPLING_COLORS[k] for k in kinds]))


def bracket_lines(points: pl.DataFrame, *, statistic: str, unit: str) -> alt.Chart:
    """One line per bracket (or per s, where sweep_views.bracket_points pooled the brackets) over the budget
    ladder (x: the budget's stage, labelled with the budget), y the mean or max test accuracy in each round;
    clicking a line or dot selects its bracket, or its s (selection BRACKET); the selected stay opaque, the
    others fade. Up to len(DATASET_COLORS) lines each have a colour; more are coloured by s, the schedule they
    share, so colours never repeat."""
    ladder = points.select("stage", "budget_label").unique().sort("stage")
    labels = dict(zip(ladder["stage"].to_list(), ladder["budget_label"].to_list()))
    label_expr = " : ".join(f"datum.value == {stage} ? '{label}'" for stage, label in labels.items()) + " : ''"
    pooled = points["bracket"].null_count() == points.height
    line = "bracket_s" if pooled else "bracket"
    pick = alt.selection_point(name=BRACKET, fields=[line], on="click", clear="dblclick")
    brackets = sorted(set(points["bracket"].to_list())) if not pooled else []
    if not pooled and len(brackets) <= len(DATASET_COLORS):
        # ten entries are taller than the plot: two columns keep the last one on the page
        color = alt.Color("bracket:N", title="bracket", scale=alt.Scale(range=DATASET_COLORS), sort=brackets,
                          legend=alt.Legend(columns=2 if len(brackets) > 8 else 1))
    else:
        color = alt.Color("bracket_s:N", title="s (halvings)", scale=alt.Scale(range=DATASET_COLORS))
    title = STATISTIC_TITLES[statistic]
    tooltip = [alt.Tooltip("brackets:Q", title="brackets pooled", format=",d") if pooled else
               alt.Tooltip("bracket:O", title="bracket"), alt.Tooltip("bracket_s:Q", title="s (halvings)"),
               alt.Tooltip("round:Q", title="round"), alt.Tooltip("budget:Q", title=f"budget ({unit})", format=",.4~g"),
               alt.Tooltip("n:Q", title="n (finished evaluations)", format=",d"),
               alt.Tooltip("evaluations:Q", title="evaluations", format=",d"),
               alt.Tooltip("value:Q", title=title, format=".3f")]
    base = alt.Chart(points).encode(
        x=alt.X("stage:Q", title=f"budget ({unit})" + (", one successive-halving round per step" if len(labels) > 1
                                                        else ""),
                scale=alt.Scale(domain=[min(labels) - 0.2, max(labels) + 0.2], nice=False),
                axis=alt.Axis(values=list(labels), labelExpr=label_expr, grid=False)),
        y=alt.Y("value:Q", title=title, scale=alt.Scale(zero=False)),
        color=color,
        detail=f"{line}:N",
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.2)),
        tooltip=tooltip,
    )
    lines = base.mark_line(strokeWidth=2.5)
    dots = base.mark_point(filled=True, size=70).add_params(pick)
    return (lines + dots).properties(height=340)


def loss_accuracy(points: pl.DataFrame, *, loss_title: str, kinds: tuple[str, ...]) -> alt.Chart:
    """Each evaluation as a point (x: the loss the optimizer minimized, y: test accuracy), coloured by how it
    was sampled, with an x-y brush (selection BRUSH)."""
    brush = alt.selection_interval(name=BRUSH, encodings=["x", "y"])
    return alt.Chart(points.with_columns(sampling=pl.col("sampled_as").replace_strict(SAMPLING_NAMES))).mark_circle(
        size=36, opacity=0.75).encode(
        x=alt.X("loss:Q", title=loss_title, scale=alt.Scale(zero=False)),
        y=alt.Y("accuracy:Q", title="test accuracy", scale=alt.Scale(zero=False)),
        color=alt.condition(brush, sampling_color(kinds), alt.value("lightgray")),
        tooltip=[alt.Tooltip("config_id:N", title="configuration"), alt.Tooltip("bracket:O", title="bracket"),
                 alt.Tooltip("budget:Q", title="budget", format=",.4~g"), alt.Tooltip("sampling:N", title="sampled as"),
                 alt.Tooltip("loss:Q", title="loss", format=".4f"),
                 alt.Tooltip("accuracy:Q", title="test accuracy", format=".3f")],
    ).add_params(brush).properties(height=380)


def sampling_shares(shares: pl.DataFrame) -> alt.Chart:
    """Each sampling kind's share of the brushed evaluations beside its share of all shown, as paired bars."""
    long = pl.concat([
        shares.select("sampling", "sampled_as", pl.lit("in the brush").alias("set"),
                      pl.col("share_brushed").alias("share"), pl.col("n_brushed").alias("n")),
        shares.select("sampling", "sampled_as", pl.lit("all shown").alias("set"),
                      pl.col("share_shown").alias("share"), pl.col("n_shown").alias("n")),
    ])
    kinds = tuple(k for k in SAMPLING_KINDS if k in shares["sampled_as"].to_list())
    return alt.Chart(long).mark_bar().encode(
        y=alt.Y("set:N", title=None, sort=["in the brush", "all shown"]),
        x=alt.X("share:Q", title="share of evaluations", stack="normalize", axis=alt.Axis(format="%")),
        color=sampling_color(kinds),
        order=alt.Order("sampled_as:N"),
        tooltip=[alt.Tooltip("set:N", title="evaluations"), alt.Tooltip("sampling:N", title="sampled as"),
                 alt.Tooltip("n:Q", title="n", format=",d"), alt.Tooltip("share:Q", title="share", format=".1%")],
    ).properties(height=110)
