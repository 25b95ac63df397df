"""The Importance page's numbers: a study's finished runs of the budget choice as an importance.Design, with
fANOVA and PED-ANOVA evaluated on them (no Streamlit here).

`study_importance(frame, scale=..., top_quantile=..., selection=...)` is what the pages hand to
state.computed, so it runs once per study version, budget choice, scale and selection:
- the objective is the accuracy on `scale` of the finished runs (study_views.run_values), of the selection's
  accuracy range when one is given; above importance.MAX_RUNS runs a uniform sample of that many;
- the features are the hyperparameters, the dataset where the runs have several, and the budget where the
  choice is each configuration's largest budget (it then varies by design: a sweep promotes the better ones);
- a number's range and scale come from the study's search space where it says them, else from the runs; a
  category's options are the space's choices in their order (then any other value seen);
- what does not vary in these runs is left out, with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import polars as pl

from pipeline.analysis import importance
from pipeline.app import correlation_chart, study_frame, study_views
from pipeline.app.selection import Selection

OUTCOMES = ("run_id", "accuracy", "loss")  # run_values' columns that are not features
MIN_RUNS = 10  # fewer finished runs are not worth a forest
DEFAULT_QUANTILE = 0.1  # PED-ANOVA's top quantile unless asked (optuna's default)


@dataclass(frozen=True)
class StudyImportance:
    """What the page shows. singles: name, importance, std (fANOVA, fraction of variance), ped (PED-ANOVA),
    most important first; pairs: a, b, importance, std, every pair, most important first."""
    singles: pl.DataFrame
    pairs: pl.DataFrame
    fanova: importance.Fanova
    runs: int  # finished runs of the choice (in the selection, where there is one)
    fitted: int  # runs the forest and PED-ANOVA saw (runs, or a uniform sample of MAX_RUNS)
    left_out: dict[str, str]  # feature -> why it is not analysed
    conditional: dict[str, float]  # feature -> share of the runs in which it is inactive (only those with any)
    logged: tuple[str, ...]  # features analysed on a log10 scale
    top_quantile: float


def _label(value) -> str:
    """A choice as run_values shows a category's value (JSON's false / true, numbers as written)."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _feature(name: str, column: pl.Series, spec: dict, log: bool) -> tuple[importance.Feature, np.ndarray]:
    """The feature and its column (numbers, NaN where inactive; a category's codes) of one run_values column."""
    choices = spec.get("choices") if isinstance(spec, dict) else None
    if column.dtype == pl.String or choices is not None:
        seen = column.drop_nulls().unique().to_list()
        if column.dtype == pl.String:
            levels = [_label(c) for c in choices or []]
            seen = sorted(str(v) for v in seen)
        else:
            levels = [float(c) for c in choices or [] if isinstance(c, int | float) and not isinstance(c, bool)]
            seen = sorted(float(v) for v in seen)
        levels += [v for v in seen if v not in levels]
        codes = {level: i for i, level in enumerate(levels)}
        values = column.cast(pl.String if column.dtype == pl.String else pl.Float64).to_list()
        coded = np.array([np.nan if v is None else codes[v] for v in values], dtype=float)
        shown = tuple(str(level) if column.dtype == pl.String else f"{level:g}" for level in levels)
        return importance.Feature(name, levels=shown), coded
    values = column.cast(pl.Float64).to_numpy()
    seen = values[~np.isnan(values)]
    low = spec.get("low") if isinstance(spec, dict) and isinstance(spec.get("low"), int | float) else seen.min()
    high = spec.get("high") if isinstance(spec, dict) and isinstance(spec.get("high"), int | float) else seen.max()
    low, high = min(float(low), seen.min()), max(float(high), seen.max())  # a value outside the space widens it
    log = log and low > 0
    if log:
        low, high = np.log10(low), np.log10(high)
    said = spec.get("integer") if isinstance(spec, dict) else None
    integer = bool(said) if said is not None else bool(np.all(seen == np.round(seen)))
    return importance.Feature(name, low=float(low), high=float(high), log=log, integer=integer), values


def _why_constant(column: pl.Series) -> str | None:
    values = column.drop_nulls()
    if values.is_empty():
        return "never set in these runs"
    if values.n_unique() == 1 and column.null_count() == 0:
        return f"always {values[0]}"
    return None


@dataclass(frozen=True)
class StudyDesign:
    """The runs as the analysis sees them."""
    design: importance.Design
    y: np.ndarray  # accuracy on the scale asked for
    runs: int  # finished runs of the choice (in the selection, where there is one)
    left_out: dict[str, str]  # feature -> why it is not analysed
    logged: tuple[str, ...]  # features on a log10 scale


def study_design(frame: study_frame.StudyFrame, *, scale: str = "raw", selection: Selection | None = None,
                 limit: int = importance.MAX_RUNS) -> StudyDesign:
    """The frame's finished runs (a uniform sample of `limit` above it) as features and objective (see the
    module); StudyError where fewer than MIN_RUNS runs or no varying hyperparameter are left."""
    runs = int(study_views.status_counts(frame, selection)["selected"].sum())
    # Without a selection DuckDB samples; a selection's range is filtered first, then sampled here.
    values = study_views.run_values(frame, scale=scale, sample=limit if selection is None and runs > limit else None)
    if selection is not None:
        values = values.filter(pl.col("accuracy").is_between(selection.lo, selection.hi))
        if values.height > limit:
            values = values.sample(limit, seed=0).sort("run_id")
    if values.height < MIN_RUNS:
        raise study_frame.StudyError(f"{values.height} finished run(s) here: importance needs at least {MIN_RUNS}")
    space, logged = study_frame.parsed_space(frame.study.get("search_space")), correlation_chart.log_scaled(frame)
    candidates = [c for c in values.columns if c not in OUTCOMES]
    if frame.budget != study_frame.TOP:
        candidates.remove("budget")
    if values["dataset"].n_unique() < 2:
        candidates.remove("dataset")
    features, columns, left_out = [], [], {}
    for name in candidates:
        if (why := _why_constant(values[name])) is not None:
            left_out[name] = why
            continue
        feature, column = _feature(name, values[name], space.get(name.removesuffix(" (hyperparameter)"), {}),
                                   name in logged)
        features.append(feature)
        columns.append(column)
    if not features:
        raise study_frame.StudyError("no hyperparameter varies in these runs")
    return StudyDesign(importance.encode(features, columns), values["accuracy"].to_numpy(), runs, left_out,
                       tuple(f.name for f in features if f.log))


def study_importance(frame: study_frame.StudyFrame, *, scale: str = "raw", top_quantile: float = DEFAULT_QUANTILE,
                     selection: Selection | None = None, limit: int = importance.MAX_RUNS) -> StudyImportance:
    """fANOVA and PED-ANOVA of the accuracy over the frame's finished runs (see the module)."""
    runs = study_design(frame, scale=scale, selection=selection, limit=limit)
    design, y = runs.design, runs.y
    result = importance.fanova(design, y, max_runs=None)
    ped = importance.ped_anova(design, y, target_quantile=top_quantile)
    singles = pl.DataFrame(result.single_table(), schema=["name", "importance", "std"], orient="row")
    singles = singles.with_columns(pl.col("name").replace_strict(ped, return_dtype=pl.Float64).alias("ped"))
    pairs = pl.DataFrame(result.pair_table(), schema=["a", "b", "importance", "std"], orient="row")
    shares = dict(zip([f.name for f in design.features], design.inactive_shares))
    return StudyImportance(singles, pairs, result, runs.runs, len(y), runs.left_out,
                           {name: float(s) for name, s in shares.items() if s > 0}, runs.logged, top_quantile)
