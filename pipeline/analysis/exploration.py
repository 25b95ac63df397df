"""How a search moved through its space: did its newly sampled configurations come closer to where the best
ones ended up? One number per study, defined so that it can be recomputed by hand (or in plain SQL).

Definitions (`movement(evaluations, numeric=..., categorical=...)`):

- Evaluations are numbered 1..n by the time they started (ties by run id); a configuration's first evaluation
  is where it was *newly sampled* (its later ones are promotions to a larger budget).
- The *final top set*: the finished evaluations (status ok, with a test accuracy) on the largest budget any
  finished evaluation reached (a study without budgets: every finished one), the best TOP_SHARE of them by test
  accuracy, at least one (ceil(TOP_SHARE * m) of m; equal accuracies: the earlier evaluation first).
- The *top region*, per hyperparameter: for a number from a range (`numeric`: the caller says which; the app
  passes those it draws on a number axis), the range [min, max] of the top set's values (a range is the same in
  the space's log or linear scale); for a category or a choice among a few numbers (`categorical`), the set of
  values the top set took. Inactive (null) counts as a value: inside where a configuration of the top set had
  it inactive too.
- A newly sampled configuration's *values inside*: the share of its hyperparameters whose value lies in the
  top region; it is *inside* when all of them do.
- Quarters of the sweep by evaluation number: quarter q (1..4) holds evaluations i with
  floor(4 * (i - 1) / n) = q - 1. Per quarter: the newly sampled configurations, how many of them BOHB's model
  picked (runs.sampled_as = 'model_based'), the mean of their values-inside share, and how many are inside.
- **Drift** (the one number): the mean values-inside share of the last quarter's new configurations minus the
  first quarter's. A search that samples at random (random search, Hyperband) keeps the same share on average
  (drift near 0, up to chance); one that learns where the good region is (BOHB's model) samples more of its
  values there later, so its drift is positive. The top set is part of the sample, so every search has a few
  configurations inside by construction; the drift compares quarters, which that does not favour.
- Its 95 % interval: drift +- 1.96 sqrt(s1^2 / n1 + s4^2 / n4), s the standard deviation (ddof 1) of the
  values-inside shares of the first and last quarter's n new configurations (a normal approximation for a
  difference of two means; clipped to -1..1; none with fewer than two configurations in either quarter).

No Streamlit here: numbers over a polars frame (`movement`, the reference, tested by hand), and `summarise`, which
makes the same Movement from the per-quarter aggregates and the region however they were computed: the app
aggregates them in SQL over the warehouse (pipeline/app/history_views.py, study_sql/history_quarters.sql), and
its tests check that against this module and against plain SQL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

TOP_SHARE = 0.10  # share of the finished evaluations on the largest budget that make the final top set
QUARTERS = 4
MODEL_BASED = "model_based"


@dataclass(frozen=True)
class Movement:
    """What the page says about how the search moved (see the module for the definitions)."""
    quarters: pl.DataFrame  # quarter, first_evaluation, last_evaluation, new, model_based, inside, values_inside
    top_budget: float | None  # the largest budget a finished evaluation reached (None: no budgets)
    top_configs: int  # size of the final top set (0: nothing finished)
    finished_on_top: int  # finished evaluations on that budget, the top set's pool
    region: dict[str, str]  # hyperparameter -> its top region in words
    drift: float | None  # values_inside of the last quarter minus the first; None where either has no new config
    drift_interval: tuple[float, float] | None  # its 95 % interval (see the module)
    top_evaluations: tuple[int, ...] = ()  # the final top set's evaluation numbers (movement(); the app omits them)


def movement(evaluations: pl.DataFrame, *, numeric: list[str], categorical: list[str],
             top_share: float = TOP_SHARE, quarters: int = QUARTERS) -> Movement:
    """`evaluations`: one row per evaluation with evaluation (1..n, start order), config_id, budget (null: none),
    status, accuracy (raw test accuracy), sampled_as, and a column per hyperparameter (`numeric` ones as
    numbers, `categorical` ones as any comparable value; null where inactive)."""
    names = [*numeric, *categorical]
    n = evaluations.height
    top = _top_set(evaluations, top_share)
    top_budget = _top_budget(evaluations)
    if top.is_empty() or n == 0:
        return Movement(pl.DataFrame(schema=_QUARTER_SCHEMA), top_budget, 0, 0, {}, None, None)
    new = evaluations.sort("evaluation").unique("config_id", keep="first", maintain_order=True)
    checks = [_inside(name, top, name in numeric) for name in names]
    new = new.with_columns(
        quarter=((pl.col("evaluation") - 1) * quarters // n + 1).cast(pl.Int64),
        values_inside=pl.mean_horizontal(checks) if checks else pl.lit(1.0),
        inside=pl.all_horizontal(checks) if checks else pl.lit(True))
    per_quarter = (new.group_by("quarter").agg(
        pl.len().cast(pl.Int64).alias("new"), pl.col("values_inside").std(ddof=1).alias("spread"),
        (pl.col("sampled_as") == MODEL_BASED).sum().cast(pl.Int64).alias("model_based"),
        pl.col("inside").sum().cast(pl.Int64).alias("inside"),
        pl.col("values_inside").mean().alias("values_inside")))
    finished_on_top = _finished(evaluations).filter(_on_budget(top_budget)).height
    region = {}
    for name in names:
        present = top[name].drop_nulls()
        region[name] = region_text(present.unique().to_list(), inactive=top[name].null_count() > 0,
                                   numeric=name in numeric)
    return summarise(per_quarter, n, top_budget=top_budget, top_configs=top.height,
                     finished_on_top=finished_on_top, region=region, quarters=quarters,
                     top_evaluations=tuple(top["evaluation"].to_list()))


def summarise(per_quarter: pl.DataFrame, n: int, *, top_budget: float | None, top_configs: int,
              finished_on_top: int, region: dict[str, str], quarters: int = QUARTERS,
              top_evaluations: tuple[int, ...] = ()) -> Movement:
    """The Movement from what the definitions aggregate, however it was aggregated (movement() here in polars,
    the app in SQL over the warehouse): `per_quarter` has a row per quarter with new configurations (quarter,
    new, spread: the standard deviation with ddof 1 of their values-inside shares, model_based, inside,
    values_inside: the mean share); quarters without one may be missing. `n` evaluations in all."""
    table = _quarter_table(per_quarter, n, quarters)
    if top_configs == 0 or n == 0:
        return Movement(table.clear(), top_budget, 0, 0, {}, None, None)
    first, last = table["values_inside"][0], table["values_inside"][-1]
    drift = None if first is None or last is None else float(last - first)
    interval = _interval(drift, per_quarter, quarters)
    return Movement(table, top_budget, top_configs, finished_on_top, region, drift, interval, top_evaluations)


def region_text(values: list, *, inactive: bool, numeric: bool) -> str:
    """A hyperparameter's top region in words: a number's range of `values` (the top set's values, inactive ones
    left out), an option's values in text order; "or inactive" where one of the top set had it inactive."""
    if not values:
        parts = []
    elif numeric:
        low, high = min(values), max(values)
        parts = [f"{low:.3g}" if low == high else f"{low:.3g} – {high:.3g}"]
    else:
        parts = [", ".join(str(v) for v in sorted(set(values), key=str))]
    if inactive:
        parts.append("inactive")
    return " or ".join(parts)


_QUARTER_SCHEMA = {"quarter": pl.Int64, "first_evaluation": pl.Int64, "last_evaluation": pl.Int64, "new": pl.Int64,
                   "model_based": pl.Int64, "inside": pl.Int64, "values_inside": pl.Float64}


def _quarter_table(per_quarter: pl.DataFrame, n: int, quarters: int) -> pl.DataFrame:
    """Every quarter with its evaluation range, quarters without a new configuration as zeros (and no share)."""
    bounds = pl.DataFrame({"quarter": list(range(1, quarters + 1))}).with_columns(
        first_evaluation=((pl.col("quarter") - 1) * n + quarters - 1) // quarters + 1,
        last_evaluation=(pl.col("quarter") * n + quarters - 1) // quarters).cast(pl.Int64)
    counts = per_quarter.select(pl.col("quarter").cast(pl.Int64), pl.col("new", "model_based", "inside").cast(pl.Int64),
                                pl.col("values_inside").cast(pl.Float64))
    return (bounds.join(counts, on="quarter", how="left")
            .with_columns(pl.col("new", "model_based", "inside").fill_null(0))
            .select(list(_QUARTER_SCHEMA)))


def _interval(drift: float | None, per_quarter: pl.DataFrame, quarters: int) -> tuple[float, float] | None:
    """The drift's 95 % interval from the first and last quarters' spreads (see the module)."""
    rows = {row["quarter"]: row for row in per_quarter.iter_rows(named=True)}
    ends = [rows.get(1), rows.get(quarters)]
    if drift is None or any(row is None or row["new"] < 2 or row["spread"] is None for row in ends):
        return None
    half = 1.96 * math.sqrt(sum(row["spread"] ** 2 / row["new"] for row in ends))
    return max(-1.0, drift - half), min(1.0, drift + half)


def _finished(evaluations: pl.DataFrame) -> pl.DataFrame:
    return evaluations.filter((pl.col("status") == "ok") & pl.col("accuracy").is_not_null())


def _top_budget(evaluations: pl.DataFrame) -> float | None:
    budget = _finished(evaluations)["budget"].max()
    return None if budget is None else float(budget)


def _on_budget(budget: float | None) -> pl.Expr:
    return pl.lit(True) if budget is None else pl.col("budget") == budget


def _top_set(evaluations: pl.DataFrame, top_share: float) -> pl.DataFrame:
    pool = _finished(evaluations).filter(_on_budget(_top_budget(evaluations)))
    k = max(1, math.ceil(top_share * pool.height)) if pool.height else 0
    return pool.sort(["accuracy", "evaluation"], descending=[True, False]).head(k)


def _inside(name: str, top: pl.DataFrame, numeric: bool) -> pl.Expr:
    """Whether each row's value of `name` lies in the top set's region, as a boolean expression."""
    values = top[name]
    inactive_ok = values.null_count() > 0
    column = pl.col(name)
    if numeric:
        low, high = values.min(), values.max()
        within = column.is_between(low, high) if low is not None else pl.lit(False)
    else:
        within = column.is_in(values.drop_nulls().unique().implode())
    return pl.when(column.is_null()).then(pl.lit(inactive_ok)).otherwise(within.fill_null(False))
