"""What the Sweep page shows, as frames: built from its named queries (pipeline/warehouse/sql/sweep_*.sql), no
Streamlit here.

A sweep study is any study whose runs have budgets: our BOHB, Hyperband and random-search sweeps and imported
hpbandster logs. hpbandster's random search runs every iteration ("bracket") as one round of
budget_per_iteration // max_budget configurations, each sampled at random and evaluated on the largest budget
only; the warehouse may hold such a sweep with Hyperband's round numbers, plan and `promoted` labels, so
`evaluations` and `schedule` read a random-search study as what it ran (round 0, random, its own plan).
"""

from __future__ import annotations

import json
import math

import polars as pl

from pipeline.app.study_frame import TOP
from pipeline.core import hyperband
from pipeline.warehouse import store, wide

SAMPLING_KINDS = ("random", "model_based", "promoted")
SAMPLING_NAMES = {"random": "random", "model_based": "model-based", "promoted": "promoted"}
OPTIMIZERS = {"bohb": "BOHB", "hyperband": "Hyperband", "random_search": "random search"}
STATISTICS = {"mean": "mean_accuracy", "max": "max_accuracy"}  # the bracket chart's toggle -> sweep_brackets column
MAX_LINES = 60  # brackets up to which the bracket chart draws one line each (then one per s)
MAX_POINTS = 2_000  # points the scatter draws (5,000 cost ~1 s more in the browser); brushed shares count all


def settings_of(overview: pl.DataFrame) -> dict:
    return json.loads(overview["settings"][0] or "{}")


def optimizer_name(kind: str, settings: dict, runs: pl.DataFrame) -> str:
    """The optimizer as a person names it; for an import, what the log says or what its picks suggest."""
    if kind in OPTIMIZERS:
        return OPTIMIZERS[kind]
    if settings.get("optimizer"):
        return str(OPTIMIZERS.get(settings["optimizer"], settings["optimizer"]))
    model_based = int((runs["sampled_as"] == "model_based").sum())
    if model_based:
        return f"not recorded (hpbandster log with {model_based:,} model-based picks: BOHB)"
    return "not recorded (hpbandster log without model-based picks: Hyperband or random search)"


def budget_plan(settings: dict, runs: pl.DataFrame) -> tuple[float, float, float | None]:
    """(min budget, max budget, eta) from the study's settings, else the budgets its runs had (eta unknown)."""
    def number(key: str, default: float | None) -> float | None:
        try:
            return float(settings[key])
        except (KeyError, TypeError, ValueError):
            return default
    return (number("min_budget", float(runs["budget"].min())), number("max_budget", float(runs["budget"].max())),
            number("eta", None))


def random_search_configs(min_budget: float, max_budget: float, eta: float) -> int:
    """Configurations per iteration of hpbandster's RandomSearch: budget_per_iteration // max_budget, where
    budget_per_iteration = sum over the Hyperband budgets b_i (largest first) of b_i * eta**i."""
    ladder = hyperband.budgets(min_budget, max_budget, eta)[::-1]
    return int(sum(b * eta**i for i, b in enumerate(ladder)) // max_budget)


def evaluations(runs: pl.DataFrame, kind: str) -> pl.DataFrame:
    """The sweep_runs rows as the page reads them, with `accuracy` (test accuracy), `origin` (how the
    configuration was first sampled: the sampled_as of its smallest budget, so a promoted evaluation still says
    where its configuration came from) and `largest` (the configuration's evaluation on the largest budget it
    reached). A random-search study's evaluations are round 0, sampled at random."""
    runs = runs.with_columns(accuracy=pl.col("test_accuracy"),
                             origin=pl.col("sampled_as").sort_by("budget").first().over("config_id"),
                             largest=pl.col("budget") == pl.col("budget").max().over("config_id"))
    if kind == "random_search":
        runs = runs.with_columns(round=pl.lit(0, pl.Int32), sampled_as=pl.lit("random"), origin=pl.lit("random"))
    return runs


def finished(runs: pl.DataFrame) -> pl.DataFrame:
    return runs.filter((pl.col("status") == "ok") & pl.col("accuracy").is_not_null())


def counts(runs: pl.DataFrame) -> dict[str, int]:
    return {"configs": runs["config_id"].n_unique(), "evaluations": runs.height,
            **{status: int((runs["status"] == status).sum()) for status in ("ok", "diverged", "failed")}}


def space_table(search_space: str | None) -> tuple[pl.DataFrame, dict]:
    """The search space as rows (hyperparameter, values, scale, active when) and its fixed values."""
    space = json.loads(search_space or "{}")
    space = space if isinstance(space, dict) else {}
    fixed = space.pop("fixed", {}) if isinstance(space.get("fixed"), dict) else {}
    rows = []
    for name, spec in space.items():
        if not isinstance(spec, dict):
            continue
        if "choices" in spec:
            values, scale = ", ".join(str(c) for c in spec["choices"]), "categorical"
        else:
            values = f"{_number(spec.get('low'))} to {_number(spec.get('high'))}"
            scale = ("integer, " if spec.get("integer") else "") + ("log" if spec.get("log") else "linear")
        when = "; ".join(f"{parent} in {{{', '.join(str(v) for v in options)}}}"
                         for parent, options in (spec.get("when") or {}).items())
        rows.append({"hyperparameter": name, "values": values, "scale": scale, "active when": when or "always"})
    schema = {"hyperparameter": pl.String, "values": pl.String, "scale": pl.String, "active when": pl.String}
    return pl.DataFrame(rows, schema=schema), fixed


def _number(value) -> str:
    return "?" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def schedule(plan_done: pl.DataFrame, kind: str, settings: dict, runs: pl.DataFrame) -> pl.DataFrame:
    """sweep_schedule per bracket and round, with state: complete, partial (fewer done than planned), not run,
    or unplanned (a round the stored plan does not hold). A random-search study gets its own plan (one round
    per bracket, on the largest budget) in place of the Hyperband plan it may have stored."""
    low, high, eta = budget_plan(settings, runs)
    # settings a person could have edited: only a plan hpbandster could run replaces the stored one
    if kind == "random_search" and eta is not None and hyperband.plan_problem(low, high, eta) is None:
        planned = random_search_configs(low, high, eta)
        done = (runs.group_by("bracket").agg(
            pl.len().alias("done"), *[(pl.col("status") == s).sum().alias(s) for s in ("ok", "diverged", "failed")])
            .with_columns(pl.col("done", "ok", "diverged", "failed").cast(pl.Int64)))
        brackets = pl.DataFrame({"bracket": sorted(set(plan_done["bracket"].to_list()) | set(done["bracket"]))},
                                schema={"bracket": pl.Int32})
        plan_done = (brackets.join(done, on="bracket", how="left")
                     .with_columns(bracket_s=pl.lit(0, pl.Int32), round=pl.lit(0, pl.Int32), budget=pl.lit(high),
                                   planned=pl.lit(planned, pl.Int64))
                     .with_columns(pl.col("done", "ok", "diverged", "failed").fill_null(0))
                     .select(plan_done.columns))
    state = (pl.when(pl.col("planned").is_null()).then(pl.lit("unplanned"))
             .when(pl.col("done") == 0).then(pl.lit("not run"))
             .when(pl.col("done") < pl.col("planned")).then(pl.lit("partial"))
             .otherwise(pl.lit("complete")))
    return plan_done.with_columns(state=state).sort("bracket", "round")


def schedule_by_bracket(rounds: pl.DataFrame) -> pl.DataFrame:
    """One row per bracket: s, 'done / planned' under each budget (empty where the bracket has no such round),
    and the bracket's state (complete, partial, not run, unplanned rounds)."""
    cells = rounds.with_columns(
        cell=pl.format("{} / {}", pl.col("done"), pl.col("planned").cast(pl.String).fill_null("–")),
        column=pl.format("budget {}", pl.col("budget").map_elements(_budget_label, return_dtype=pl.String)))
    order = [f"budget {_budget_label(b)}" for b in sorted(set(rounds["budget"].to_list()))]
    wide = cells.pivot("column", index=["bracket", "bracket_s"], values="cell").sort("bracket")
    states = rounds.group_by("bracket").agg(
        pl.when(pl.col("state").eq("unplanned").any()).then(pl.lit("rounds beyond the plan"))
        .when(pl.col("state").eq("not run").all()).then(pl.lit("not run"))
        .when(pl.col("state").is_in(["partial", "not run"]).any()).then(pl.lit("partial"))
        .otherwise(pl.lit("complete")).alias("state"))
    return (wide.join(states, on="bracket").rename({"bracket_s": "s"})
            .select("bracket", "s", *[c for c in order if c in wide.columns], "state"))


def _budget_label(budget: float) -> str:
    return f"{budget:.4g}"


def bracket_points(brackets: pl.DataFrame, statistic: str, kind: str) -> pl.DataFrame:
    """The bracket chart's points: sweep_brackets rows that have a finished evaluation, with `value` = the
    statistic (mean or max test accuracy), `stage` (the budget's position on the study's budget ladder: the
    chart's x), `budget_label` and `brackets` (how many brackets the point stands for). Up to MAX_LINES brackets
    each is a line; a longer sweep is one line per s (the brackets sharing a schedule, pooled: the mean over all
    their evaluations of a round, the max of their maxima), so the browser never draws thousands of lines."""
    if kind == "random_search":
        brackets = brackets.with_columns(round=pl.lit(0, pl.Int32), bracket_s=pl.lit(0, pl.Int32))
    brackets = brackets.filter(pl.col("n") > 0)
    if brackets["bracket"].n_unique() <= MAX_LINES:
        brackets = brackets.with_columns(brackets=pl.lit(1, pl.UInt32))
    else:
        brackets = (brackets.group_by("bracket_s", "round")
                    .agg(pl.col("budget").max(), pl.col("bracket").n_unique().alias("brackets"),
                         pl.col("evaluations").sum(), pl.col("n").sum(),
                         ((pl.col("mean_accuracy") * pl.col("n")).sum() / pl.col("n").sum()).alias("mean_accuracy"),
                         pl.col("max_accuracy").max())
                    .with_columns(bracket=pl.lit(None, pl.Int32)).sort("bracket_s", "round"))
    ladder = sorted(set(brackets["budget"].to_list()))
    return brackets.with_columns(
        value=pl.col(STATISTICS[statistic]),
        stage=pl.col("budget").replace_strict(ladder, list(range(len(ladder))), return_dtype=pl.Int64),
        budget_label=pl.col("budget").map_elements(_budget_label, return_dtype=pl.String))


def picked_brackets(points: list[dict], runs: pl.DataFrame) -> tuple[list[int], str]:
    """The brackets a click on the bracket chart selected (its selection's points: {"bracket": i} on a bracket's
    line, {"bracket_s": s} on a pooled line) and how to name them; ([], "every bracket") for none."""
    chosen = {int(p["bracket"]) for p in points if p.get("bracket") is not None}
    schedules = sorted({int(p["bracket_s"]) for p in points if p.get("bracket_s") is not None})
    if schedules:
        chosen |= set(runs.filter(pl.col("bracket_s").is_in(schedules))["bracket"].unique().to_list())
        return sorted(chosen), (f"the {len(chosen):,} brackets with s = {', '.join(map(str, schedules))}")
    if not chosen:
        return [], "every bracket"
    return sorted(chosen), f"bracket {', '.join(map(str, sorted(chosen)))}"


def chosen(runs: pl.DataFrame, budget: str | float | None) -> pl.DataFrame:
    """The evaluations of the sidebar's budget choice: TOP (each configuration on the largest budget it reached),
    one budget, or every evaluation (None)."""
    if budget == TOP:
        return runs.filter(pl.col("largest"))
    if budget is None:
        return runs
    return runs.filter(pl.col("budget") == float(budget))


def in_brackets(runs: pl.DataFrame, brackets: list[int]) -> pl.DataFrame:
    """The evaluations of the configurations sampled in these brackets (every one when none are given)."""
    return runs.filter(pl.col("bracket").is_in(brackets)) if brackets else runs


def in_brush(runs: pl.DataFrame, brush: dict | None) -> pl.DataFrame:
    """The evaluations inside a brush on the loss-accuracy scatter: {"loss": [lo, hi], "accuracy": [lo, hi]},
    either may be missing; an evaluation without a loss or an accuracy is outside any brush."""
    if not brush:
        return runs
    condition = pl.lit(True)
    for column in ("loss", "accuracy"):
        if column in brush and len(brush[column]) == 2:
            low, high = sorted(float(v) for v in brush[column])
            condition &= pl.col(column).is_between(low, high)
    return runs.filter(condition.fill_null(False))


def sampling_shares(shown: pl.DataFrame, brushed: pl.DataFrame) -> pl.DataFrame:
    """Per sampling kind: evaluations in the brush and shown overall, and their shares of each (0..1)."""
    def tally(frame: pl.DataFrame, name: str) -> pl.DataFrame:
        total = max(frame.height, 1)
        return (frame.group_by("sampled_as").agg(pl.len().cast(pl.Int64).alias(f"n_{name}"))
                .with_columns((pl.col(f"n_{name}") / total).alias(f"share_{name}")))
    kinds = pl.DataFrame({"sampled_as": list(SAMPLING_KINDS)})
    return (kinds.join(tally(brushed, "brushed"), on="sampled_as", how="left")
            .join(tally(shown, "shown"), on="sampled_as", how="left")
            .with_columns(pl.col("n_brushed", "n_shown").fill_null(0),
                          pl.col("share_brushed", "share_shown").fill_null(0.0))
            .filter(pl.col("n_shown") > 0)
            .with_columns(sampling=pl.col("sampled_as").replace_strict(SAMPLING_NAMES)))


def scatter_points(shown: pl.DataFrame, limit: int = MAX_POINTS) -> pl.DataFrame:
    """The finished evaluations with a loss, at most `limit` of them (a uniform sample, the same every time)."""
    points = shown.filter(pl.col("loss").is_not_null() & pl.col("loss").is_finite() & pl.col("accuracy").is_not_null())
    if points.height > limit:
        points = points.sample(n=limit, seed=0)
    return points.select("run_id", "config_id", "bracket", "round", "budget", "sampled_as", "loss", "accuracy")


PANEL_COLUMNS = ("run_id", "config_id", "bracket", "round", "budget", "sampled_as", "loss", "test_accuracy", "status")


def hyperparameter_values(con, study: str) -> pl.DataFrame:
    """Every run of the study with each hyperparameter under its name, read from the study's wide table
    (pipeline/warehouse/wide.py: numbers as numbers, categories as text, null where inactive): ~20 ms at
    100,000 evaluations, where loading the study into memory for them cost ~0.35 s after every write. A
    hyperparameter named like a column of the data panel is called hp_<name>."""
    found = store.get_study(con, study)
    if found is None or wide.columns(con, found["study_id"]) is None:
        return pl.DataFrame(schema={"run_id": pl.Int64})
    values = con.sql(f"select * from {wide.table_name(found['study_id'])}").pl()
    return values.rename({c: f"hp_{c}" for c in values.columns if c != "run_id" and c in PANEL_COLUMNS})


def data_panel(selected: pl.DataFrame, values: pl.DataFrame) -> pl.DataFrame:
    """The selected evaluations with every hyperparameter (hyperparameter_values, joined by run_id), best
    first: bracket, round, budget, sampling kind, loss, test accuracy, status, then the hyperparameters."""
    table = selected.select("run_id", "config_id", "bracket", "round", "budget", "sampled_as", "loss",
                            pl.col("accuracy").alias("test_accuracy"), "status")
    return (table.join(values, on="run_id", how="left")
            .sort("test_accuracy", descending=True, nulls_last=True))


def config_text(config: pl.DataFrame) -> str:
    """A configuration (sweep_config rows: name, value) as "name = value, ...", numbers to 4 significant digits."""
    def shown(value: str) -> str:
        try:
            number = float(value)
        except ValueError:
            return value
        return f"{number:.4g}" if math.isfinite(number) and "." in value else value
    return ", ".join(f"{name} = {shown(value)}" for name, value in config.iter_rows())


def wall_time(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "not recorded"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
