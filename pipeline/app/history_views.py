"""What the Exploration history page shows, as frames (no Streamlit here): for each hyperparameter, the order in
which configurations were evaluated against the value tried, a configuration's promotions to larger budgets, the
best test accuracy so far, and how the search moved (pipeline/analysis/exploration.py).

`history(frame, warehouse=..., scale=...)` is what the page hands to state.computed (once per warehouse version and
accuracy scale). `frame` is the whole study (every run, every budget: study_frame.StudyFrame.chosen(None));
the evaluation order comes from the warehouse file (warehouse/sql/history_order.sql: by start time, ties by
run id), the values and accuracies from the loaded study.

What runs over every evaluation is aggregated in DuckDB, on one cursor of the hub with temporary tables and views
of its own (study_sql/history_*.sql): the order (a table, read from the file, which is then let go), the
configurations' first and final evaluations (a table), the evaluations (a view joining them with the loaded
study: joining again per query costs less than copying a million rows once), the counts and axes, the heat
cells (one scan, a grouping set per panel), the best-so-far's rises, the final top set's region and the
quarters of the drift (exploration.summarise turns those into the numbers exploration.movement defines). Python
sees only the results and the evaluations drawn one by one: a 1,000,000-network ensemble in ~0.3 s on 2 cores
instead of ~3 s in polars over every run (BENCHMARKS.md).

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

import math
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline.analysis import exploration
from pipeline.app import correlation_chart
from pipeline.app.selection import as_scale
from pipeline.app.study_frame import StudyFrame, StudyParam, parsed_space
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
    values: int  # distinct values tried (inactive not counted; a number's approximate beyond 1)
    inactive: int  # evaluations where it was inactive
    texts: tuple[str, ...] = ()  # an option panel's value as tried, by option code
    low: float = 0.0  # a number panel: its lowest value tried (log10 of it on a log axis), at position 0
    span: float = 1.0  # ... and the range of the values (log10) that positions 0..1 cover


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


@dataclass(frozen=True)
class _Column:
    """How a panel's parameter is a column p<k> of the evaluations (history_evaluations.sql)."""
    k: int
    param: StudyParam
    kind: str  # "code": options drawn as bands; "ranged": options drawn on a number axis at their values
    #            (the column holds the option code, options[code] its value); "raw": a binned number's value
    inactive: int | None  # the code of runs where it is inactive (code and ranged kinds)

    @property
    def name(self) -> str:
        return f"p{self.k}"

    @property
    def options(self) -> list[float]:
        return [float(o) for o in self.param.options]


def history(frame: StudyFrame, *, warehouse: str, scale: str = "rank") -> History:
    """Everything the page draws and says, for the whole study (see the module)."""
    scale = as_scale(scale)
    params = shown_params(frame)
    logged = correlation_chart.log_scaled(frame)
    ranged = _ranged(frame, params)
    columns = [_Column(k, p, "raw" if p.binned else "ranged" if p in ranged else "code", p.inactive)
               for k, p in enumerate(params)]
    # one cursor of the hub for every query: history_order, history_configs and history_evaluations are its own
    with store.hub().cursor() as cur:
        database = frame.database  # the loaded study's in-memory database
        with store.read(Path(warehouse)) as con:  # the file is held only while its runs are read
            (name,) = con.execute("select current_database()").fetchone()
            aligned = _template("history_aligned").format(study=f"{database}.study",
                                                          order=store.query_text("history_order").strip())
            cur.execute(f"use {name}")
            try:
                cur.execute(f"create temp table history_order as {aligned}", {"study": frame.study["name"]})
            finally:  # the file must be let go however that went: it cannot be detached while in use here
                cur.execute(f"use {database}")  # as frame.query's: `study` and its accuracy_on(scale, run)
        cur.execute(f"create temp table history_configs as {_template('history_configs').format()}")
        values = _generated([f"s.{c.param.value if c.kind == 'raw' else c.param.code} as {c.name}" for c in columns])
        cur.execute(f"create temp view history_values as {_template('history_values').format(values=values)}")
        cur.execute(f"create temp view history_evaluations as {_template('history_evaluations')}")
        counts = _counts(cur, columns)
        n = counts["evaluations"]
        panels = [_panel(c, counts, c.param.name in logged) for c in columns]
        aggregated = n * len(panels) > MAX_POINTS
        shown = _sql(cur, "history_shown", {"top": TOP_CONFIGS if aggregated else None, "scale": scale})
        pairs = _sql(cur, "history_promotions")
        cells = _cells(cur, columns, panels, n, scale) if aggregated else pl.DataFrame(schema=_CELL_SCHEMA)
        best = _best_so_far(cur, n, thin=aggregated)
        movement, top = _movement(cur, columns, counts)
    if frame.study.get("kind") == "ensemble":  # an ensemble samples every network at random and says nothing
        shown = shown.with_columns(origin=pl.col("origin").fill_null("random"))
    shown = shown.with_columns(  # a ranged option's code to its value
        *[pl.col(c.name).cast(pl.Int64).replace_strict(list(range(len(c.options))), c.options, default=None,
                                                       return_dtype=pl.Float64) for c in columns if c.kind == "ranged"],
        jitter=((pl.col("first_evaluation") * GOLDEN) % 1.0 - 0.5) * JITTER)
    top_configs = _top_configs(shown) if aggregated else None
    drawn = pairs if top_configs is None else pairs.filter(pl.col("config_id").is_in(top_configs.implode()))
    points, promotions = [], []
    for c, panel in zip(columns, panels):
        table = shown.with_columns(parameter=pl.lit(panel.name), position=_position(panel, c.name),
                                   value=_value_text(panel, c.name))
        points.append(table.select("parameter", "evaluation", "position", "value", "config_id", "budget", "final",
                                   "origin", "sampled_as", "status", "accuracy", "score"))
        promotions.append(drawn.join(table.select(pl.col("evaluation").alias("from_evaluation"), "position"),
                                     on="from_evaluation").with_columns(parameter=pl.lit(panel.name)))
    regions = _concat([_region(panel, top, c) for c, panel in zip(columns, panels)], _REGION_SCHEMA)
    return History(
        study=frame.study["name"], kind=frame.study.get("kind") or "", scale=scale, evaluations=n,
        configs=counts["configs"], finished=counts["finished"], budgets=tuple(frame.budgets),
        aggregated=aggregated, panels=tuple(panels),
        points=_concat(points, _POINT_SCHEMA), promotions=_concat(promotions, _PROMOTION_SCHEMA),
        cells=cells, best=best, regions=regions, promotions_total=pairs.height, untimed=counts["untimed"],
        movement=movement, top_configs=tuple(top_configs.to_list()) if top_configs is not None else ())


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
SQL_DIR = Path(__file__).parent / "study_sql"
BLOCK = 1024  # evaluations per block in the search for the best-so-far's rises (history_best.sql)
MASK_CODES = 63  # option codes below this are collected as the bits of one integer (bit_or), above as a list


def _template(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


def _sql(cur, name: str, params: dict | None = None, **fragments: str) -> pl.DataFrame:
    text = _template(name)
    return cur.sql(text.format(**fragments) if fragments else text, params=params or {}).pl()


def _generated(items: list[str]) -> str:
    """Generated select items, each on a line of its own after the template's last fixed one."""
    return "".join(f",\n        {item}" for item in items)


def _codes_sql(c: _Column, alias: str, where: str | None = None) -> str:
    """The option codes a column took (where `where` holds): the bits of an integer (cheap: no distinct
    aggregate over a million rows), or a list where there are too many options for one."""
    only = f" filter (where {where})" if where else ""
    if len(c.param.labels) <= MASK_CODES:
        return f"bit_or(1::ubigint << {c.name}){only} as {alias}"
    return f"list(distinct {c.name}){only} as {alias}"


def _codes(value) -> list[int]:
    """_codes_sql's result as a sorted list of codes."""
    if value is None:
        return []
    if isinstance(value, list):
        return sorted(v for v in value if v is not None)
    return [code for code in range(MASK_CODES) if value >> code & 1]


def _counts(cur, columns: list[_Column]) -> dict:
    """history_panels.sql: the study's counts and each panel's axis facts, in one scan of the loaded study."""
    aggregates = []
    for c in columns:
        k, column = c.k, c.name
        if c.kind == "raw":
            aggregates += [f"min({column}) as low_{k}", f"max({column}) as high_{k}",
                           f"count(*) - count({column}) as inactive_{k}",
                           f"coalesce(bool_and({column} = round({column})), false) as integers_{k}"]
        else:
            aggregates.append(f"count(*) filter (where {column} = {int(c.inactive)}) as inactive_{k}"
                              if c.inactive is not None else f"0 as inactive_{k}")
    return _sql(cur, "history_panels", aggregates=_generated(aggregates)).row(0, named=True)


def _panel(c: _Column, counts: dict, log: bool) -> Panel:
    """The panel of a parameter (see the module for its positions)."""
    p, k = c.param, c.k
    inactive = counts[f"inactive_{k}"]
    # an option panel's options are the values the study took (study_frame: every one of them is tried)
    if c.kind == "code":  # options (the dataset's too): option i at i, "(inactive)" or "not recorded" last
        tried = len([code for code in range(len(p.labels)) if code != c.inactive])
        ticks = tuple((float(i), label) for i, label in enumerate(p.labels))
        # the value as tried: a number's option label is short (2 significant digits where that tells them apart)
        texts = tuple(f"{option:.4g}" if isinstance(option, float) else label
                      for option, label in zip(p.options, p.labels)) + tuple(p.labels[len(p.options):])
        return Panel(p.name, True, False, ticks, (-0.6, len(p.labels) - 0.4), tried, inactive, texts=texts)
    if c.kind == "ranged":
        present = c.options
        tried = len(present)
        integers = bool(present) and all(v.is_integer() for v in present)
        low, high = (min(present), max(present)) if present else (None, None)
    else:  # a binned number: its distinct values only as far as the page asks (one, or more)
        low, high = counts[f"low_{k}"], counts[f"high_{k}"]
        tried = 0 if low is None else 1 if low == high else 2
        integers = low is not None and counts[f"integers_{k}"]
    log = log and (low is None or low > 0)
    low, high = (float(low), float(high)) if low is not None else (1.0, 1.0)
    t_low, t_high = (math.log10(low), math.log10(high)) if log else (low, high)
    span = (t_high - t_low) or 1.0
    ticks = tuple((round((_t(v, log) - t_low) / span, 6), f"{v:g}")
                  for v in _nice_ticks(low, high, log, integers=integers))
    if inactive:
        ticks += ((INACTIVE_AT, "(inactive)"),)
    domain = (INACTIVE_AT - 0.08 if inactive else -0.04, 1.04)
    return Panel(p.name, False, log, ticks, domain, tried, inactive, low=t_low, span=span)


def _position(panel: Panel, column: str) -> pl.Expr:
    """Each evaluation's y in the panel: an option's code plus the configuration's jitter, a number's place in
    0..1 (INACTIVE_AT where inactive)."""
    if panel.banded:
        return pl.col(column).cast(pl.Int64) + pl.col("jitter")
    value = pl.col(column).log10() if panel.log else pl.col(column)
    return pl.when(pl.col(column).is_null()).then(INACTIVE_AT).otherwise((value - panel.low) / panel.span)


def _value_text(panel: Panel, column: str) -> pl.Expr:
    if panel.banded:
        return pl.col(column).cast(pl.Int64).replace_strict(list(range(len(panel.texts))), list(panel.texts),
                                                           default=None)
    return pl.when(pl.col(column).is_null()).then(pl.lit("(inactive)")).otherwise(
        pl.col(column).map_elements(lambda v: f"{v:.4g}", return_dtype=pl.String))


def _region(panel: Panel, top: dict, c: _Column) -> pl.DataFrame:
    """The final top region of a panel as bands of positions: a number's range of the top set's values (and its
    inactive row where one of them had it inactive), an option's band for each option they took."""
    k = c.k
    if panel.banded:
        bands = [(code - 0.5, code + 0.5) for code in _codes(top.get(f"codes_{k}"))]
    else:
        low, high = top.get(f"low_{k}"), top.get(f"high_{k}")
        where = [(_t(v, panel.log) - panel.low) / panel.span for v in (low, high) if v is not None]
        bands = [(min(where) - 0.01, max(where) + 0.01)] if where else []
        if top.get(f"inactive_{k}"):
            bands.append((INACTIVE_AT - 0.05, INACTIVE_AT + 0.05))
    return pl.DataFrame({"parameter": [panel.name] * len(bands), "y0": [b[0] for b in bands],
                         "y1": [b[1] for b in bands]}, schema=_REGION_SCHEMA)


def _concat(frames: list[pl.DataFrame], schema: dict) -> pl.DataFrame:
    frames = [f.select(list(schema)).cast(schema) for f in frames]
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def _ranged(frame: StudyFrame, params: list[StudyParam]) -> list[StudyParam]:
    """The parameters the study shows as options (few distinct values) that are numbers from a range: the search
    space gives them low and high, or (an imported log's space says nothing) they took more than FEW_VALUES
    values. They are drawn on a number axis at their values, not in evenly spaced bands."""
    space = parsed_space(frame.study.get("search_space"))
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


def _t(value: float, log: bool) -> float:
    return math.log10(value) if log else value


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


def _top_configs(shown: pl.DataFrame) -> pl.Series:
    """The TOP_CONFIGS configurations whose final evaluation has the best accuracy on the scale, best first (the
    shown evaluations hold theirs: history_shown.sql picked them by the same rule)."""
    finals = shown.filter(pl.col("final") & pl.col("score").is_not_null())
    return finals.sort(["score", "evaluation"], descending=[True, False]).head(TOP_CONFIGS)["config_id"]


def _cells(cur, columns: list[_Column], panels: list[Panel], n: int, scale: str) -> pl.DataFrame:
    """Heat cells (history_cells.sql, one grouping set per panel): X_BINS slices of the evaluation order times
    Y_BINS slices of a number's positions (its inactive row one cell high) or one row per option; n evaluations,
    the best and mean accuracy on the scale, over every evaluation."""
    if not columns:
        return pl.DataFrame(schema=_CELL_SCHEMA)
    ys, params = [], {"n": n, "scale": scale}
    for c, panel in zip(columns, panels):
        k, column = c.k, c.name
        if c.kind != "raw":  # an option's code; a ranged one's codes are merged into slices below
            ys.append(f"{column}::smallint as y{k}")
            continue
        value = f"log10({column})" if panel.log else column
        # the slice of the position, as _position computes it; -1: inactive
        ys.append(f"case when {column} is null then -1 else least(greatest(floor((({value} - $low{k}) / $span{k})"
                  f" * {Y_BINS}), 0), {Y_BINS - 1})::smallint end as y{k}")
        params |= {f"low{k}": panel.low, f"span{k}": panel.span}
    sets = ", ".join(f"(x_bin, y{c.k})" for c in columns)
    panel_of = " ".join(f"when grouping(y{c.k}) = 0 then {c.k}" for c in columns)
    y_of = " ".join(f"when grouping(y{c.k}) = 0 then y{c.k}" for c in columns)
    cells = _sql(cur, "history_cells", params, x_bins=str(X_BINS), ys=_generated(ys), sets=sets,
                 panel=f"case {panel_of} end", y=f"case {y_of} end")
    for c, panel in zip(columns, panels):
        if c.kind == "ranged":  # its options' slices (a few values: no need to compute it per evaluation)
            slices = [min(max(math.floor(((_t(v, panel.log) - panel.low) / panel.span) * Y_BINS), 0), Y_BINS - 1)
                      for v in c.options]
            mine = cells.filter(pl.col("panel") == c.k).with_columns(pl.col("y_cell").cast(pl.Int64).replace_strict(
                list(range(len(slices))), slices, default=-1).alias("y_cell"))
            merged = mine.group_by("panel", "x_bin", "y_cell").agg(
                pl.col("n").sum(), pl.col("best").max(), ((pl.col("mean") * pl.col("n")).sum() / pl.col("n").sum()),
                pl.col("first_evaluation").min(), pl.col("last_evaluation").max())
            cells = pl.concat([cells.filter(pl.col("panel") != c.k), merged.select(cells.columns).cast(cells.schema)])
    cells = cells.sort("panel", "x_bin", "y_cell")
    width = n / X_BINS
    frames = []
    for c, panel in zip(columns, panels):
        mine = cells.filter(pl.col("panel") == c.k)
        if panel.banded:
            labels = {int(position): label for position, label in panel.ticks}
            mine = mine.with_columns(y0=pl.col("y_cell") - 0.45, y1=pl.col("y_cell") + 0.45,
                                     value=pl.col("y_cell").replace_strict(labels, default=None,
                                                                           return_dtype=pl.String))
        else:
            inactive = pl.col("y_cell") < 0
            mine = mine.with_columns(
                y0=pl.when(inactive).then(INACTIVE_AT - 0.05).otherwise(pl.col("y_cell") / Y_BINS),
                y1=pl.when(inactive).then(INACTIVE_AT + 0.05).otherwise((pl.col("y_cell") + 1) / Y_BINS),
                value=pl.when(inactive).then(pl.lit("(inactive)")).otherwise(
                    pl.format("slice {} of {} of the values tried", pl.col("y_cell") + 1, pl.lit(Y_BINS))))
        frames.append(mine.with_columns(parameter=pl.lit(panel.name), x0=pl.col("x_bin") * width + 0.5,
                                        x1=(pl.col("x_bin") + 1) * width + 0.5))
    return _concat(frames, _CELL_SCHEMA)


_BEST_SCHEMA = {"evaluation": pl.Int64, "best_accuracy": pl.Float64}


def _best_so_far(cur, n: int, *, thin: bool) -> pl.DataFrame:
    """The best test accuracy of the finished evaluations up to each evaluation, from the first finished one:
    where it rose (history_best.sql) and, thinned (aggregated view), the last evaluation; else every one."""
    rises = _sql(cur, "history_best", {"block": BLOCK}).cast(_BEST_SCHEMA)
    if rises.is_empty():
        return pl.DataFrame(schema=_BEST_SCHEMA)
    if thin:
        if rises["evaluation"][-1] == n:
            return rises
        return pl.concat([rises, pl.DataFrame({"evaluation": [n], "best_accuracy": [rises["best_accuracy"][-1]]},
                                              schema=_BEST_SCHEMA)])
    every = pl.DataFrame({"evaluation": range(rises["evaluation"][0], n + 1)}, schema={"evaluation": pl.Int64})
    return every.join_asof(rises, on="evaluation", strategy="backward")


def _movement(cur, columns: list[_Column], counts: dict) -> tuple[exploration.Movement, dict]:
    """exploration's definitions aggregated in SQL (history_region.sql, history_quarters.sql), and the final top
    set's region per panel (low_<k>, high_<k>: a number's values; codes_<k>: an option panel's; inactive_<k>)."""
    n, pool, top_budget = counts["evaluations"], counts["pool"], counts["top_budget"]
    top_budget = None if top_budget is None else float(top_budget)
    k_top = max(1, math.ceil(exploration.TOP_SHARE * pool)) if pool else 0
    if k_top == 0:
        empty = pl.DataFrame(schema={"quarter": pl.Int64, "new": pl.Int64, "spread": pl.Float64,
                                     "model_based": pl.Int64, "inside": pl.Int64, "values_inside": pl.Float64})
        return exploration.summarise(empty, n, top_budget=top_budget, top_configs=0, finished_on_top=0,
                                     region={}), {}
    aggregates = []
    for c in columns:
        k, column = c.k, c.name
        if c.kind == "raw":
            aggregates += [f"min({column}) as low_{k}", f"max({column}) as high_{k}",
                           f"coalesce(bool_or({column} is null), false) as inactive_{k}"]
        elif c.kind == "ranged":
            active = f"{column} <> {int(c.inactive)}" if c.inactive is not None else "true"
            aggregates += [f"min({column}) filter (where {active}) as low_{k}",
                           f"max({column}) filter (where {active}) as high_{k}",
                           f"coalesce(bool_or(not ({active})), false) as inactive_{k}"]
        else:
            aggregates += [_codes_sql(c, f"codes_{k}"), f"false as inactive_{k}"]
    top = _sql(cur, "history_region", {"top": k_top, "top_budget": top_budget},
               aggregates=_generated(aggregates)).row(0, named=True)
    checks, values = [], {"n": n, "quarters": exploration.QUARTERS}
    for c in columns:  # each panel's test as 0 or 1, in the cheapest form its column allows
        k, column = c.k, c.name
        inactive_ok = bool(top[f"inactive_{k}"])
        if c.kind == "raw":  # null: inactive
            if top[f"low_{k}"] is None:
                checks.append(f"case when {column} is null then {int(inactive_ok)} else 0 end")
            else:
                checks.append(f"coalesce(({column} between $low{k} and $high{k})::integer, {int(inactive_ok)})")
                values |= {f"low{k}": top[f"low_{k}"], f"high{k}": top[f"high_{k}"]}
            continue
        if c.kind == "code":  # never null: the inactive option is a code like the others
            inside = _codes(top[f"codes_{k}"])
        else:  # a ranged option's codes are in the order of its values; the inactive code is past them
            low, high = top[f"low_{k}"], top[f"high_{k}"]
            inside = [] if low is None else list(range(low, high + 1))
            inside += [int(c.inactive)] if inactive_ok and c.inactive is not None else []
        if len(c.param.labels) <= MASK_CODES:  # a bit test per row, cheaper than a list's
            checks.append(f"(($inside{k}::ubigint >> {column}) & 1)::integer")
            values[f"inside{k}"] = sum(1 << code for code in inside)
        else:
            checks.append(f"list_contains($inside{k}::bigint[], {column}::bigint)::integer")
            values[f"inside{k}"] = inside
    per_quarter = _sql(cur, "history_quarters", values, inside=" + ".join(f"({check})" for check in checks) or "1",
                       count=f"{max(len(columns), 1)}")
    region = {}  # numbers first, then options, as exploration.movement orders them
    for c in sorted(columns, key=lambda c: c.kind == "code"):
        k = c.k
        if c.kind == "code":
            present = [c.param.labels[code] for code in _codes(top[f"codes_{k}"])]
        else:
            present = [top[f"low_{k}"], top[f"high_{k}"]] if top[f"low_{k}"] is not None else []
            if c.kind == "ranged":
                present = [c.options[code] for code in present]
        region[c.param.name] = exploration.region_text(present, inactive=top[f"inactive_{k}"],
                                                       numeric=c.kind != "code")
    movement = exploration.summarise(per_quarter, n, top_budget=top_budget, top_configs=top["top"],
                                     finished_on_top=pool, region=region)
    if any(c.kind == "ranged" for c in columns):  # the bands are drawn at the values
        top = dict(top) | {f"{end}_{c.k}": c.options[top[f"{end}_{c.k}"]] for c in columns
                           if c.kind == "ranged" and top[f"low_{c.k}"] is not None for end in ("low", "high")}
    return movement, top
