"""What the Exploration history page shows, as frames (no Streamlit here): for each hyperparameter, the order in
which configurations were evaluated against the value tried, a configuration's promotions to larger budgets, the
best test accuracy so far, and how the search moved (pipeline/analysis/exploration.py).

`history(frame, warehouse=..., scale=...)` is what the page hands to state.computed (once per warehouse version and
accuracy scale). `frame` is the whole study (every run, every budget: study_frame.StudyFrame.chosen(None));
the evaluation order comes from the warehouse file (warehouse/sql/history_order.sql: by start time, ties by
run id), the values and accuracies from the loaded study (study_sql/history_runs.sql).

Each panel's y is a *position*, so one chart draws every kind of hyperparameter alike:

- a number the study bins (many values), or one from a range that took few values (_ranged: the space gives
  low and high, or an imported log's number took more than FEW_VALUES values): 0..1 across the values tried, on
  log10 where the search space says log (correlation_chart.log_scaled), with ticks at round values; inactive
  runs on a row of their own below (INACTIVE_AT), drawn as crosses;
- an option (a category, or a choice among a few numbers): option i at i, plus a deterministic jitter per
  configuration (JITTER band widths, from its first evaluation's number times the golden ratio), so points of
  one option spread and a configuration's evaluations stay level; "(inactive)" is its last option.

Up to MAX_POINTS marks (evaluations times panels) every evaluation is a point and every promotion (the
evaluations of one configuration in order of budget, each consecutive pair) a dashed segment. Above, the
evaluations are aggregated into heat cells (X_BINS slices of the evaluation order times Y_BINS slices of the
value, or one row per option) coloured by the mean accuracy in the cell, and only the TOP_CONFIGS best
configurations' evaluations and promotions are drawn as marks: at 100,000 evaluations a few thousand marks.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline.analysis import exploration
from pipeline.app import correlation_chart
from pipeline.app.selection import as_scale
from pipeline.app.study_frame import StudyFrame, StudyParam
from pipeline.warehouse import store

MAX_POINTS = 5_000  # evaluations x panels drawn one by one; above, heat cells and the top configurations
X_BINS = 40  # slices of the evaluation order in the aggregated view
Y_BINS = 12  # slices of a binned hyperparameter's values in the aggregated view
TOP_CONFIGS = 25  # configurations drawn as marks over the heat cells (best final evaluation on the scale)
JITTER = 0.5  # band widths an option's points spread over
FEW_VALUES = 5  # an imported log's number with more distinct values than this is drawn on a number axis
INACTIVE_AT = -0.15  # position of the inactive row below a number's 0..1
GOLDEN = (math.sqrt(5) - 1) / 2


@dataclass(frozen=True)
class Panel:
    """One hyperparameter's panel: its y axis in positions (see the module)."""
    name: str
    banded: bool  # options at 0, 1, ...; else a number at 0..1
    log: bool
    ticks: tuple[tuple[float, str], ...]  # (position, label) of each axis label
    domain: tuple[float, float]
    values: int  # distinct values tried (inactive not counted)
    inactive: int  # evaluations where it was inactive


@dataclass(frozen=True)
class History:
    study: str
    kind: str
    scale: str
    evaluations: int
    configs: int
    finished: int
    budgets: tuple[float, ...]
    aggregated: bool  # heat cells and the top configurations, not every evaluation
    panels: tuple[Panel, ...]
    points: pl.DataFrame  # parameter, evaluation, position, value, config_id, budget, final, origin, accuracy, score
    promotions: pl.DataFrame  # parameter, config_id, from_evaluation, to_evaluation, from_budget, to_budget, position
    cells: pl.DataFrame  # parameter, x0, x1, y0, y1, n, best, mean (aggregated only)
    best: pl.DataFrame  # evaluation, best_accuracy: the best test accuracy of the finished evaluations so far
    regions: pl.DataFrame  # parameter, y0, y1: the final top region in positions (exploration.py), a band each
    promotions_total: int  # every promotion of the study (drawn or not)
    untimed: int  # runs without a start time (ordered after the others, by run id)
    movement: exploration.Movement
    top_configs: tuple[str, ...] = ()  # the configurations drawn as marks in the aggregated view

    @property
    def marks(self) -> int:
        """Marks the chart draws: points, dashed segments, heat cells and the best-so-far line's points."""
        return self.points.height + self.promotions.height + self.cells.height + self.best.height


def shown_params(frame: StudyFrame) -> list[StudyParam]:
    """The hyperparameters that get a panel: every one of the study's; its dataset only where it has several."""
    params = [p for p in frame.params if not p.run_column and p.index > 0]
    dataset = frame.params[0]
    if len([label for i, label in enumerate(dataset.labels) if i != dataset.inactive]) > 1:
        params.insert(0, dataset)
    return params


def history(frame: StudyFrame, *, warehouse: str, scale: str = "rank") -> History:
    """Everything the page draws and says, for the whole study (see the module)."""
    scale = as_scale(scale)
    params = shown_params(frame)
    with store.read(Path(warehouse)) as con:
        order = store.query(con, "history_order", {"study": frame.study["name"]})
    untimed = order["started_at"].null_count()
    order = order.select("run_id", "evaluation")
    columns = "".join(f",\n        {'dataset as b0_text' if p.index == 0 else p.value if p.binned else p.code}"
                      for p in params)
    runs = frame.query("history_runs", {"scale": scale}, columns=columns)
    runs = (runs.join(order, on="run_id").sort("evaluation")
            .with_columns(pl.col("evaluation").cast(pl.Int64)))
    n = runs.height
    # configurations as integer keys, and each one's evaluations in order of budget: one sort serves the
    # first evaluation, the final one, how it was sampled and the promotions (string keys in over() windows
    # cost ~0.7 s at 100,000 evaluations)
    runs = runs.with_columns(key=pl.col("config_id").rank("dense").cast(pl.Int64))
    by_budget = runs.sort("key", "budget", "evaluation", nulls_last=False)
    configs = by_budget.group_by("key", maintain_order=True).agg(
        first=pl.col("evaluation").min(), final_evaluation=pl.col("evaluation").last(),
        origin=pl.col("sampled_as").first())
    runs = runs.join(configs, on="key", how="left").sort("evaluation").with_columns(
        final=pl.col("evaluation") == pl.col("final_evaluation"))
    if frame.study.get("kind") == "ensemble":  # an ensemble samples every network at random and says nothing
        runs = runs.with_columns(origin=pl.col("origin").fill_null("random"))
    runs = runs.with_columns(jitter=((pl.col("first") * GOLDEN) % 1.0 - 0.5) * JITTER)
    logged = correlation_chart.log_scaled(frame)
    ranged = _ranged(frame, params)
    runs = runs.with_columns(  # a number shown as options by the study (few values) but drawn on a number axis
        pl.col(p.code).cast(pl.Int64).replace_strict(list(range(len(p.options))), list(p.options), default=None,
                                                     return_dtype=pl.Float64).alias(f"n{p.index}") for p in ranged)
    panels, positions = [], []
    for p in params:
        panel, position, value = _positions(p, runs, p.name in logged, ranged)
        panels.append(panel)
        positions.append((p.name, position, value))
    pairs = _promotion_pairs(by_budget)
    aggregated = n * len(panels) > MAX_POINTS
    top = _top_configs(runs) if aggregated else None
    shown = runs if top is None else runs.filter(pl.col("config_id").is_in(top.implode()))
    drawn = pairs if top is None else pairs.filter(pl.col("config_id").is_in(top.implode()))
    points, promotions, cells = [], [], []
    for panel, (name, position, value) in zip(panels, positions):
        if aggregated:  # every evaluation counts in the cells; only the top configurations get a text value
            cells.append(_cells(runs.select("evaluation", "score", position.alias("position")), n, panel))
        table = shown.with_columns(parameter=pl.lit(name), position=position, value=value)
        points.append(table.select("parameter", "evaluation", "position", "value", "config_id", "budget", "final",
                                   "origin", "sampled_as", "status", "accuracy", "score"))
        promotions.append(drawn.join(table.select(pl.col("evaluation").alias("from_evaluation"), "position"),
                                     on="from_evaluation").with_columns(parameter=pl.lit(name)))
    best = _best_so_far(runs, thin=aggregated)
    movement = _movement(runs, params, ranged)
    top_runs = runs.filter(pl.col("evaluation").is_in(list(movement.top_evaluations)))
    regions = _concat([_region(panel, top_runs.select(position.alias("position")))
                       for panel, (_, position, _) in zip(panels, positions)], _REGION_SCHEMA)
    return History(
        study=frame.study["name"], kind=frame.study.get("kind") or "", scale=scale, evaluations=n,
        configs=runs["config_id"].n_unique(), finished=_finished(runs).height, budgets=tuple(frame.budgets),
        aggregated=aggregated, panels=tuple(panels),
        points=_concat(points, _POINT_SCHEMA), promotions=_concat(promotions, _PROMOTION_SCHEMA),
        cells=_concat(cells, _CELL_SCHEMA), best=best, regions=regions, promotions_total=pairs.height,
        untimed=untimed,
        movement=movement, top_configs=tuple(top.to_list()) if top is not None else ())


_POINT_SCHEMA = {"parameter": pl.String, "evaluation": pl.Int64, "position": pl.Float64, "value": pl.String,
                 "config_id": pl.String, "budget": pl.Float64, "final": pl.Boolean, "origin": pl.String,
                 "sampled_as": pl.String, "status": pl.String, "accuracy": pl.Float64, "score": pl.Float64}
_PROMOTION_SCHEMA = {"config_id": pl.String, "from_evaluation": pl.Int64, "to_evaluation": pl.Int64,
                     "from_budget": pl.Float64, "to_budget": pl.Float64, "position": pl.Float64,
                     "parameter": pl.String}
_CELL_SCHEMA = {"parameter": pl.String, "x0": pl.Float64, "x1": pl.Float64, "y0": pl.Float64, "y1": pl.Float64,
                "first_evaluation": pl.Int64, "last_evaluation": pl.Int64, "value": pl.String, "n": pl.Int64,
                "best": pl.Float64, "mean": pl.Float64}


_REGION_SCHEMA = {"parameter": pl.String, "y0": pl.Float64, "y1": pl.Float64}


def _region(panel: Panel, top: pl.DataFrame) -> pl.DataFrame:
    """The final top region of a panel as bands of positions: a number's range of the top set's values (and its
    inactive row where one of them had it inactive), an option's band for each option they took."""
    positions = top["position"]
    if panel.banded:
        codes = sorted(set(positions.round(0).cast(pl.Int64).to_list()))
        bands = [(code - 0.5, code + 0.5) for code in codes]
    else:
        active = positions.filter(positions >= 0)
        bands = [] if active.is_empty() else [(active.min() - 0.01, active.max() + 0.01)]
        if (positions < 0).any():
            bands.append((INACTIVE_AT - 0.05, INACTIVE_AT + 0.05))
    return pl.DataFrame({"parameter": [panel.name] * len(bands), "y0": [b[0] for b in bands],
                         "y1": [b[1] for b in bands]}, schema=_REGION_SCHEMA)


def _concat(frames: list[pl.DataFrame], schema: dict) -> pl.DataFrame:
    frames = [f.select(list(schema)).cast(schema) for f in frames]
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def _finished(runs: pl.DataFrame) -> pl.DataFrame:
    return runs.filter((pl.col("status") == "ok") & pl.col("accuracy").is_not_null())


def _ranged(frame: StudyFrame, params: list[StudyParam]) -> list[StudyParam]:
    """The parameters the study shows as options (few distinct values) that are numbers from a range: the search
    space gives them low and high, or (an imported log's space says nothing) they took more than FEW_VALUES
    values. They are drawn on a number axis at their values, not in evenly spaced bands."""
    space = frame.study.get("search_space")
    try:
        space = json.loads(space) if isinstance(space, str) else (space or {})
    except ValueError:
        space = {}
    space = space if isinstance(space, dict) else {}
    ranged = []
    for p in params:
        if p.binned or p.index == 0 or not p.options or not all(
                isinstance(o, int | float) and not isinstance(o, bool) for o in p.options):
            continue
        spec = space.get(p.name)
        if (isinstance(spec, dict) and "low" in spec and "high" in spec) or (
                not isinstance(spec, dict) and len(p.options) > FEW_VALUES):
            ranged.append(p)
    return ranged


def _positions(p: StudyParam, runs: pl.DataFrame, log: bool, ranged: list[StudyParam]
               ) -> tuple[Panel, pl.Expr, pl.Expr]:
    """The panel of a parameter and expressions for each run's y position and value text."""
    if p.index == 0:  # the dataset: its text, as options
        labels = [label for i, label in enumerate(p.labels) if i != p.inactive]
        code = pl.col("b0_text").replace_strict(labels, list(range(len(labels))), default=len(labels))
        labels_all = tuple(labels) + ((p.labels[p.inactive],) if p.inactive is not None else ())
        return _banded(p.name, labels_all, runs.select(code.alias("c"))["c"], p.inactive is not None), \
            code + pl.col("jitter"), code.replace_strict(list(range(len(labels_all))), list(labels_all))
    if not p.binned and p not in ranged:
        code = pl.col(p.code).cast(pl.Int64)
        panel = _banded(p.name, p.labels, runs[p.code], p.inactive is not None)
        # the value as tried: a number's option label is short (2 significant digits where that tells them apart)
        texts = [f"{option:.4g}" if isinstance(option, float) else label
                 for option, label in zip(p.options, p.labels)] + list(p.labels[len(p.options):])
        return panel, code + pl.col("jitter"), code.replace_strict(list(range(len(texts))), texts, default=None)
    name = p.value if p.binned else f"n{p.index}"
    raw = runs[name]
    present = raw.drop_nulls()
    log = log and (present.is_empty() or present.min() > 0)
    transform = (lambda e: e.log10()) if log else (lambda e: e)
    low, high = (present.min(), present.max()) if not present.is_empty() else (1.0, 1.0)
    t_low, t_high = (math.log10(low), math.log10(high)) if log else (low, high)
    span = (t_high - t_low) or 1.0
    inactive = raw.null_count()
    integers = bool(present.len()) and bool((present.round(0) == present).all())
    ticks = tuple((round((_t(v, log) - t_low) / span, 6), f"{v:g}")
                  for v in _nice_ticks(low, high, log, integers=integers))
    if inactive:
        ticks += ((INACTIVE_AT, "(inactive)"),)
    domain = (INACTIVE_AT - 0.08 if inactive else -0.04, 1.04)
    panel = Panel(p.name, False, log, ticks, domain, present.n_unique(), inactive)
    column = pl.col(name)
    position = pl.when(column.is_null()).then(INACTIVE_AT).otherwise((transform(column) - t_low) / span)
    value = pl.when(column.is_null()).then(pl.lit("(inactive)")).otherwise(
        column.map_elements(lambda v: f"{v:.4g}", return_dtype=pl.String))
    return panel, position, value


def _t(value: float, log: bool) -> float:
    return math.log10(value) if log else value


def _banded(name: str, labels: tuple[str, ...], codes: pl.Series, has_inactive: bool) -> Panel:
    ticks = tuple((float(i), label) for i, label in enumerate(labels))
    tried = codes.drop_nulls().unique().to_list()
    inactive_code = len(labels) - 1 if has_inactive else None
    inactive = int((codes == inactive_code).sum()) if inactive_code is not None else 0
    return Panel(name, True, False, ticks, (-0.6, len(labels) - 0.4),
                 len([c for c in tried if c != inactive_code]), inactive)


def _nice_ticks(low: float, high: float, log: bool, *, integers: bool = False) -> list[float]:
    """Round values inside [low, high] for the axis: decades on a log axis (with 2 and 5 where there are few),
    steps of 1, 2 or 5 times a power of ten on a linear one (at least 1 for integers); the ends where nothing
    round falls inside."""
    if high <= low:
        return [low]
    if log:
        decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
        for multiples in ((1,), (1, 2, 5), (1, 2, 3, 5, 7)):
            ticks = [m * 10.0**d for d in decades for m in multiples if low <= m * 10.0**d <= high * (1 + 1e-9)]
            if len(ticks) >= 3:
                return ticks
        return [low, high]
    raw = (high - low) / 4
    power = 10.0 ** math.floor(math.log10(raw))
    step = max(m * power for m in (1, 2, 5) if m * power <= raw)
    step = max(step, 1.0) if integers else step
    first = math.ceil(low / step - 1e-9) * step
    ticks = [round(first + i * step, 12) for i in range(int((high - first) / step + 1e-9) + 1)]
    return ticks if len(ticks) >= 2 else [low, high]


def _promotion_pairs(by_budget: pl.DataFrame) -> pl.DataFrame:
    """Each configuration's evaluations in order of budget (`by_budget`: sorted by key, budget, evaluation), every
    consecutive pair with a larger budget: a promotion, from the evaluation on the smaller budget to the next."""
    following = pl.col("key").shift(-1) == pl.col("key")
    pairs = by_budget.select(
        "config_id", pl.col("evaluation").alias("from_evaluation"), pl.col("budget").alias("from_budget"),
        pl.when(following).then(pl.col("evaluation").shift(-1)).alias("to_evaluation"),
        pl.when(following).then(pl.col("budget").shift(-1)).alias("to_budget"))
    return pairs.filter(pl.col("from_budget").is_not_null() & (pl.col("to_budget") > pl.col("from_budget")))


def _top_configs(runs: pl.DataFrame) -> pl.Series:
    """The TOP_CONFIGS configurations whose final evaluation has the best accuracy on the scale."""
    finals = runs.filter(pl.col("final") & pl.col("score").is_not_null())
    return finals.sort(["score", "evaluation"], descending=[True, False]).head(TOP_CONFIGS)["config_id"]


def _cells(table: pl.DataFrame, n: int, panel: Panel) -> pl.DataFrame:
    """Heat cells: X_BINS slices of the evaluation order times Y_BINS slices of a number's positions (its inactive
    row one cell high) or one row per option; n evaluations, the best and mean accuracy on the scale."""
    width = n / X_BINS
    x_bin = ((pl.col("evaluation") - 1) * X_BINS // n).cast(pl.Int64)
    if panel.banded:
        row = pl.col("position").round(0)
        y0, y1 = row - 0.45, row + 0.45
    else:
        inactive = pl.col("position") < 0
        slice_ = (pl.col("position") * Y_BINS).floor().clip(0, Y_BINS - 1)
        y0 = pl.when(inactive).then(INACTIVE_AT - 0.05).otherwise(slice_ / Y_BINS)
        y1 = pl.when(inactive).then(INACTIVE_AT + 0.05).otherwise((slice_ + 1) / Y_BINS)
    cells = (table.with_columns(x_bin=x_bin, y0=y0, y1=y1)
             .group_by("x_bin", "y0", "y1")
             .agg(pl.len().cast(pl.Int64).alias("n"), pl.col("score").max().alias("best"),
                  pl.col("score").mean().alias("mean"), pl.col("evaluation").min().alias("first_evaluation"),
                  pl.col("evaluation").max().alias("last_evaluation")))
    if panel.banded:
        codes = [int(position) for position, _ in panel.ticks]
        value = (pl.col("y0") + 0.45).round(0).cast(pl.Int64).replace_strict(
            codes, [label for _, label in panel.ticks], default=None)
    else:
        value = pl.when(pl.col("y0") < 0).then(pl.lit("(inactive)")).otherwise(
            pl.format("slice {} of {} of the values tried", (pl.col("y0") * Y_BINS).round(0).cast(pl.Int64) + 1,
                      pl.lit(Y_BINS)))
    return cells.with_columns(parameter=pl.lit(panel.name), x0=pl.col("x_bin") * width + 0.5,
                              x1=(pl.col("x_bin") + 1) * width + 0.5, value=value).sort("x_bin", "y0")


def _best_so_far(runs: pl.DataFrame, *, thin: bool) -> pl.DataFrame:
    """The best test accuracy of the finished evaluations up to each evaluation; thinned (aggregated view) to
    the evaluations where it rose, and the last one."""
    accuracy = pl.when(pl.col("status") == "ok").then(pl.col("accuracy"))
    best = runs.select("evaluation", best_accuracy=accuracy.cum_max().forward_fill()).filter(
        pl.col("best_accuracy").is_not_null())
    if thin and not best.is_empty():
        rose = best["best_accuracy"].diff().fill_null(1.0) > 0
        last = pl.Series([False] * (best.height - 1) + [True])
        best = best.filter(rose | last)
    return best


def _movement(runs: pl.DataFrame, params: list[StudyParam], ranged: list[StudyParam]) -> exploration.Movement:
    """exploration.movement over the runs; the hyperparameters go in under columns of their own (v<i>: a name
    such as `status` or `budget` would collide with the run columns) and the region comes back by name."""
    numeric = [p for p in params if p.binned or p in ranged]
    categorical = [p for p in params if p not in numeric]
    frame = runs.select(
        "evaluation", pl.col("key").alias("config_id"), "budget", "status", "accuracy", "sampled_as",
        *[pl.col(p.value if p.binned else f"n{p.index}").alias(f"v{p.index}") for p in numeric],
        *[(pl.col("b0_text") if p.index == 0 else
           pl.col(p.code).cast(pl.Int64).replace_strict(list(range(len(p.labels))), list(p.labels), default=None))
          .alias(f"v{p.index}") for p in categorical])
    movement = exploration.movement(frame, numeric=[f"v{p.index}" for p in numeric],
                                    categorical=[f"v{p.index}" for p in categorical])
    names = {f"v{p.index}": p.name for p in params}
    return dataclasses.replace(movement, region={names[column]: text for column, text in movement.region.items()})
