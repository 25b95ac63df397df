"""The best-so-far chart of the Compare studies page and the Sweep page's "Sweeps of the same problem": a pure
function from compare_views.curve points to an altair chart."""

from __future__ import annotations

import altair as alt
import polars as pl

from pipeline.app.charts import DATASET_COLORS
from pipeline.app.compare_views import x_title, y_title

X_FORMATS = {"evaluation": ",d", "spent": ",.4~r", "seconds": ",.0f"}


def best_so_far(points: pl.DataFrame, *, x: str, rule: str, log: bool = False, error: bool = False,
                current: str | None = None, unit: str = "epochs", height: int = 360) -> alt.LayerChart:
    """One step line per study (the value holds until the next change), a dot where the best changed; the
    current study's line heavier. x: "evaluation", "spent" or "seconds" (compare_views.XS), on a log scale
    when `log`; y: the points' `y` (compare_views.curve), test error on a log scale when `error`, else test
    accuracy. Colour names the study (legend "study"), in the order of the studies' names."""
    studies = sorted(points["study"].unique().to_list())
    title = x_title(x, unit)
    scale = alt.Scale(type="log") if log else alt.Scale(zero=False)
    color = alt.Color("study:N", title="study", scale=alt.Scale(domain=studies, range=DATASET_COLORS[:len(studies)]),
                      legend=alt.Legend(labelLimit=300))
    tooltip = [alt.Tooltip("study:N", title="study"),
               alt.Tooltip("evaluation:Q", title="evaluations done", format=",d"),
               alt.Tooltip("spent:Q", title=f"{unit} spent", format=",.4~g"),
               alt.Tooltip("seconds:Q", title="seconds since the first run started", format=",.1f"),
               alt.Tooltip("accuracy:Q", title=y_title(rule), format=".4f"),
               alt.Tooltip("budget:Q", title="its budget", format=",.4~g"),
               alt.Tooltip("config_id:N", title="its configuration")]
    base = alt.Chart(points.select("study", "point", "x", "y", "evaluation", "spent", "seconds", "accuracy",
                                   "budget", "config_id")).encode(
        x=alt.X("x:Q", title=title + (" (log scale)" if log else ""), scale=scale,
                axis=alt.Axis(format=X_FORMATS[x])),
        y=alt.Y("y:Q", title=y_title(rule, error), scale=alt.Scale(type="log") if error else alt.Scale(zero=False)),
        color=color,
        tooltip=tooltip,
    )
    width = alt.condition(alt.datum.study == current, alt.value(3.5), alt.value(1.8)) if current else alt.value(2.2)
    lines = base.mark_line(interpolate="step-after").encode(strokeWidth=width)
    dots = base.transform_filter(alt.datum.point == "change").mark_point(filled=True, size=40)
    return (lines + dots).properties(height=height)
