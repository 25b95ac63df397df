"""The Importance page's charts, pure functions from importance_views.StudyImportance to altair (no Streamlit).

- `ranked(result)`: one row per hyperparameter, most important first: fANOVA's share of the variance with a
  +-1 std whisker over the trees (clipped to 0..1), and beside it PED-ANOVA's share for reaching the top quantile.
- `pair_matrix(result)`: the pure interaction share of every pair as a symmetric heat map.
- `marginal(result, name)`: the predicted accuracy as one hyperparameter varies, every other one averaged
  over the space (mean over trees +-1 std band, clipped to 0..1); a log axis where the space is log-scaled;
  options and the inactive level as points with whiskers.
- `pair_heatmap(result, a, b)`: the predicted accuracy over two hyperparameters.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import polars as pl

from pipeline.app.importance_views import StudyImportance

INACTIVE_LABEL = "inactive"
BAR_WIDTH = 260  # px of each bar column
ROW = 20  # px per hyperparameter
MARGINAL_SIZE = (520, 260)
PAIR_LABELS = 8  # a number's axis in the pair heat map shows about this many labels
ACCURACY = {"raw": "accuracy", "normalized": "normalized accuracy", "rank": "accuracy rank in dataset"}  # short


def _clipped(frame: pl.DataFrame, mean: str, std: str) -> pl.DataFrame:
    return frame.with_columns((pl.col(mean) - pl.col(std)).clip(0, 1).alias("low"),
                              (pl.col(mean) + pl.col(std)).clip(0, 1).alias("high"))


def ranked(result: StudyImportance) -> alt.HConcatChart:
    order = result.singles["name"].to_list()
    total_ped = result.singles["ped"].sum()
    data = _clipped(result.singles, "importance", "std").with_columns(
        (pl.col("ped") / total_ped if total_ped > 0 else pl.lit(0.0)).alias("ped_share"))
    y = alt.Y("name:N", sort=order, title=None, axis=alt.Axis(labelLimit=200))
    base = alt.Chart(data).encode(y=y).properties(width=BAR_WIDTH, height=alt.Step(ROW))
    tooltip = [alt.Tooltip("name:N", title="hyperparameter"),
               alt.Tooltip("importance:Q", title="fANOVA share of variance", format=".3f"),
               alt.Tooltip("std:Q", title="std over trees", format=".3f"),
               alt.Tooltip("ped_share:Q", title=f"PED-ANOVA share (top {result.top_quantile:.0%})", format=".3f")]
    bars = base.mark_bar(color="#4c78a8").encode(
        x=alt.X("importance:Q", title="fANOVA: share of the accuracy's variance", scale=alt.Scale(domain=[0, 1])),
        tooltip=tooltip)
    whiskers = base.mark_rule(color="#222").encode(x="low:Q", x2="high:Q", tooltip=tooltip)
    ped = base.mark_bar(color="#f58518").encode(
        x=alt.X("ped_share:Q", title=f"PED-ANOVA: share for the top {result.top_quantile:.0%}",
                scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("name:N", sort=order, title=None, axis=None), tooltip=tooltip)
    return alt.hconcat(alt.layer(bars, whiskers), ped, spacing=16)


def pair_matrix(result: StudyImportance) -> alt.Chart:
    order = result.singles["name"].to_list()
    pairs = result.pairs.select("a", "b", "importance", "std")
    cells = pl.concat([pairs, pairs.select(a="b", b="a", importance="importance", std="std")])
    high = max(float(cells["importance"].max() or 0.0), 0.01)
    axis = alt.Axis(labelLimit=180, labelOverlap=False)
    return alt.Chart(cells).mark_rect().encode(
        x=alt.X("a:N", sort=order, title=None, axis=alt.Axis(orient="top", labelAngle=-90, labelOverlap=False,
                                                             labelLimit=180)),
        y=alt.Y("b:N", sort=order, title=None, axis=axis),
        color=alt.Color("importance:Q", title="interaction share of variance",
                        scale=alt.Scale(scheme="blues", domain=[0, high]),
                        legend=alt.Legend(orient="bottom", direction="horizontal", gradientLength=220)),
        tooltip=[alt.Tooltip("a:N", title="hyperparameter"), alt.Tooltip("b:N", title="with"),
                 alt.Tooltip("importance:Q", title="interaction share", format=".4f"),
                 alt.Tooltip("std:Q", title="std over trees", format=".4f")],
    ).properties(width=alt.Step(22), height=alt.Step(22))


def _feature(result: StudyImportance, name: str):
    return next(f for f in result.fanova.features if f.name == name)


def marginal(result: StudyImportance, name: str, scale: str) -> alt.LayerChart:
    feature = _feature(result, name)
    values, mean, std = result.fanova.marginal(name)
    frame = _clipped(pl.DataFrame({"mean": mean, "std": std}), "mean", "std")
    y = alt.Y("mean:Q", title=f"predicted {ACCURACY[scale]}", scale=alt.Scale(zero=False))
    tooltip = [alt.Tooltip("value:N", title=name), alt.Tooltip("mean:Q", title="predicted", format=".4f"),
               alt.Tooltip("std:Q", title="std over trees", format=".4f")]
    width, height = MARGINAL_SIZE
    labels = _axis_labels(feature, values)
    if feature.categorical:
        data = frame.with_columns(value=pl.Series(labels))
        base = alt.Chart(data).encode(x=alt.X("value:N", sort=labels, title=name, axis=alt.Axis(labelAngle=0)))
        return alt.layer(base.mark_rule().encode(y="low:Q", y2="high:Q"),
                         base.mark_point(filled=True, size=80).encode(y=y, tooltip=tooltip)
                         ).properties(width=width, height=height)
    numbers = frame.with_columns(x=pl.Series([np.nan if v is None else v for v in values]),
                                 value=pl.Series(labels))
    inactive = numbers.filter(pl.col("value") == INACTIVE_LABEL)
    numbers = numbers.filter(pl.col("value") != INACTIVE_LABEL)
    x = alt.X("x:Q", title=f"{name} (log scale)" if feature.log else name,
              scale=alt.Scale(type="log" if feature.log else "linear", nice=False))
    base = alt.Chart(numbers).encode(x=x)
    layers = [base.mark_area(opacity=0.25).encode(y="low:Q", y2="high:Q"),
              base.mark_line().encode(y=y, tooltip=tooltip)]
    if inactive.height:  # the inactive level as a horizontal rule with its band: it is not a point of the axis
        rule = alt.Chart(inactive).encode(y="mean:Q", tooltip=tooltip)
        layers += [rule.mark_rule(strokeDash=[6, 4], color="#e45756"),
                   rule.mark_text(align="left", dx=4, dy=-6, color="#e45756", text=f"{name} inactive")
                   .encode(x=alt.value(0))]
    return alt.layer(*layers).properties(width=width, height=height)


def _axis_labels(feature, values: list) -> list[str]:
    return [INACTIVE_LABEL if v is None else (v if feature.categorical else f"{v:.3g}") for v in values]


def _pair_axis(feature, values: list, channel: str, cells: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """One axis of the pair heat map: a number without an inactive level on a real scale (log where log), each
    grid point a band reaching halfway to its neighbours; anything else one band per label."""
    if feature.categorical or None in values:
        labels = _axis_labels(feature, values)
        every = 1 if feature.categorical else max(1, len(labels) // PAIR_LABELS)
        keep = [label for i, label in enumerate(labels) if i % every == 0 or label == INACTIVE_LABEL]
        sort = labels if channel == "x" else labels[::-1]
        axis = alt.Axis(values=keep, labelAngle=0, labelLimit=120)
        encoding = {channel: alt.X(f"{channel}_label:O", sort=sort, title=feature.name, axis=axis) if channel == "x"
                    else alt.Y(f"{channel}_label:O", sort=sort, title=feature.name, axis=axis)}
        return cells.with_columns(pl.col(channel).replace_strict(dict(enumerate(labels))).alias(f"{channel}_label")
                                  ), encoding
    points = np.linspace(0.0, 1.0, len(values))
    middle = (points[:-1] + points[1:]) / 2
    low = feature.values(np.concatenate([[0.0], middle]))
    high = feature.values(np.concatenate([middle, [1.0]]))
    scale = alt.Scale(type="log" if feature.log else "linear", nice=False, zero=False)
    title = f"{feature.name} (log scale)" if feature.log else feature.name
    cells = cells.with_columns(pl.col(channel).replace_strict(dict(enumerate(low))).alias(f"{channel}_low"),
                               pl.col(channel).replace_strict(dict(enumerate(high))).alias(f"{channel}_high"))
    field = alt.X if channel == "x" else alt.Y
    second = alt.X2 if channel == "x" else alt.Y2
    return cells, {channel: field(f"{channel}_low:Q", title=title, scale=scale),
                   f"{channel}2": second(f"{channel}_high:Q")}


def pair_heatmap(result: StudyImportance, a: str, b: str, scale: str) -> alt.Chart:
    fa, fb = _feature(result, a), _feature(result, b)
    va, vb, grid = result.fanova.pair_marginal(a, b)
    cells = pl.DataFrame({"x": np.repeat(np.arange(len(va)), len(vb)), "y": np.tile(np.arange(len(vb)), len(va)),
                          "mean": grid.ravel()})
    cells, x = _pair_axis(fa, va, "x", cells)
    cells, y = _pair_axis(fb, vb, "y", cells)
    labels = {"a": _axis_labels(fa, va), "b": _axis_labels(fb, vb)}
    cells = cells.with_columns(pl.col("x").replace_strict(dict(enumerate(labels["a"]))).alias("a"),
                               pl.col("y").replace_strict(dict(enumerate(labels["b"]))).alias("b"))
    return alt.Chart(cells).mark_rect().encode(
        **x, **y,
        color=alt.Color("mean:Q", title=f"predicted {ACCURACY[scale]}", scale=alt.Scale(scheme="viridis"),
                        legend=alt.Legend(orient="bottom", direction="horizontal", gradientLength=240,
                                          titleLimit=300)),
        tooltip=[alt.Tooltip("a:N", title=a), alt.Tooltip("b:N", title=b),
                 alt.Tooltip("mean:Q", title="predicted", format=".4f")],
    ).properties(width=MARGINAL_SIZE[0], height=320)
