"""What each analysis page shows, as frames: named queries on a loaded study plus the statistics.

Pages call these and chart the result; tests call them and compare with direct SQL. Column
lists in generated SQL come from the study's parameters (h<i> / b<i>), never from the person;
everything the person chooses (ranges, options, limits) is a query parameter.
"""

from __future__ import annotations

import functools
import itertools

import polars as pl

from pipeline.analysis import group_means, significance
from pipeline.app.selection import EVERYTHING, Selection, as_scale
from pipeline.app.study_frame import StudyError, StudyFrame, StudyParam

HISTOGRAM_BINS = 50
TABLE_LIMIT = 1_000


def histogram(frame: StudyFrame, *, scale: str | bool | None = None, normalized: bool | None = None,
              bins: int = HISTOGRAM_BINS) -> pl.DataFrame:
    """Networks per dataset and bin of accuracy on the scale (selection.SCALES; normalized=True / False is
    the older spelling of 'normalized' / 'raw'), with the raw accuracy each bin's networks span."""
    return frame.query("histogram", {"scale": as_scale(scale if scale is not None else normalized), "bins": bins})


def status_counts(frame: StudyFrame, selection: Selection | None) -> pl.DataFrame:
    """Runs per dataset and status; of the ok ones, how many are selected and the raw accuracy they span."""
    selection = selection or EVERYTHING
    return frame.query("status_counts", {"scale": selection.scale, **selection.params()})


def accuracy_quantile(frame: StudyFrame, q: float, *, scale: str | bool | None = None,
                      normalized: bool | None = None) -> float | None:
    """The q-quantile of accuracy on the scale over all finished runs (pooled over datasets)."""
    scale = as_scale(scale if scale is not None else normalized)
    return frame.query("accuracy_quantile", {"scale": scale, "q": q})["value"][0]


def top_share(frame: StudyFrame, share: float, *, per_dataset: bool = True, scale: str | bool = "raw"
              ) -> Selection | None:
    """The best `share` of the finished runs as a selection. Per dataset (the default): each dataset's own
    best share, the rank range 1 - share .. 1. Pooled: the best share of all runs together on `scale`
    (raw: mostly the easiest dataset's runs), from its (1 - share)-quantile; None when nothing finished."""
    if not 0 < share <= 1:
        raise StudyError(f"a top share is a fraction in (0, 1], not {share}")
    if per_dataset:
        return Selection(1.0 - share, 1.0, "rank")
    scale = as_scale(scale)
    top = accuracy_quantile(frame, 1.0 - share, scale=scale)
    return None if top is None else Selection(float(top), 1.0, scale)


def _codes(params: list[StudyParam]) -> str:
    return ", ".join(p.code for p in params)


def _grouped(row_grouping: int, count: int) -> list[int]:
    """Indexes of the columns a grouping_id() value says were grouped (bit 0 = grouped, first column = highest bit)."""
    return [i for i in range(count) if not (row_grouping >> (count - 1 - i)) & 1]


@functools.cache
def _pair_cover(count: int) -> tuple[tuple[int, ...], ...]:
    """Sets of (up to) four parameter indexes that together hold every pair of `count` parameters.

    DuckDB counts a grouping set of four option codes about as fast as one of two, and the
    combinations of four parameters' options are few (thousands), so counting 19 sets and summing
    them down to the 91 pairs of 14 parameters takes 1,000,000 runs 0.14 s instead of 0.55 s.
    Greedy: start from the first pair not held yet, add the parameter that adds most new pairs.
    """
    left = set(itertools.combinations(range(count), 2))
    cover = []
    while left:
        group = list(min(left))
        while len(group) < min(4, count):
            group.append(max((k for k in range(count) if k not in group),
                             key=lambda k: sum((min(k, g), max(k, g)) in left for g in group)))
        group.sort()
        cover.append(tuple(group))
        left -= set(itertools.combinations(group, 2))
    return tuple(cover)


def _grouping_id(group: tuple[int, ...], count: int) -> int:
    """What grouping_id() over all `count` codes gives rows of this set (bit 1 = not grouped, first code highest)."""
    return sum(1 << (count - 1 - k) for k in range(count) if k not in group)


def pair_matrix(frame: StudyFrame, selection: Selection | None, compare: Selection | None = None) -> pl.DataFrame:
    """One row per pair of parameters (a before b) and pair of options that occurs in the study.

    Columns: a, b, option_a, option_b (labels), code_a, code_b, runs (whole study, any status),
    selected and compared (ok runs in each range), and per range expected, lift, p, q, significant against
    the whole study and expected_indep, lift_indep, p_indep, q_indep, significant_indep against independence of
    the pair inside the range (suffix _b for the compared range; significance.py says what each means).
    Each range is on its own scale (selection.SCALES).
    """
    params = frame.params
    if len(params) < 2:
        raise StudyError(f"study '{frame.study['name']}' has fewer than two parameters to pair")
    selection = selection or EVERYTHING
    cover = _pair_cover(len(params))
    counts = frame.query("pair_counts", {
        "scale": selection.scale, **selection.params(), "scale_b": (compare or selection).scale,
        **(compare.params("b") if compare else {"lo_b": 1.0, "hi_b": 0.0}),  # empty range: nothing compared
    }, codes=_codes(params), sets=", ".join(f"({_codes([params[k] for k in group])})" for group in cover))
    owner = {}  # each pair is summed from the first set that holds it
    for group in cover:
        for pair in itertools.combinations(group, 2):
            owner.setdefault(pair, group)
    owned = pl.DataFrame([(_grouping_id(group, len(params)), i, j) for (i, j), group in owner.items()],
                         schema={"grouping": pl.Int64, "index_a": pl.Int64, "index_b": pl.Int64}, orient="row")
    codes = pl.col("codes").list
    cells = (counts.lazy().with_columns(pl.col("grouping").cast(pl.Int64), codes=pl.concat_list(p.code for p in params))
             .join(owned.lazy(), on="grouping")  # a set's row once per pair it owns
             .group_by("index_a", "index_b", code_a=codes.get(pl.col("index_a")).cast(pl.Int64),
                       code_b=codes.get(pl.col("index_b")).cast(pl.Int64))
             .agg(pl.col("runs", "selected", "compared").sum().cast(pl.Int64)).collect())
    labels = pl.DataFrame([(p.index, code, label) for p in params for code, label in enumerate(p.labels)],
                          schema={"index": pl.Int64, "code": pl.Int64, "label": pl.String}, orient="row")
    names = pl.DataFrame({"index": [p.index for p in params], "name": [p.name for p in params]})
    for side in ("a", "b"):
        cells = cells.join(names.rename({"index": f"index_{side}", "name": side}), on=f"index_{side}").join(
            labels.rename({"index": f"index_{side}", "code": f"code_{side}", "label": f"option_{side}"}),
            on=[f"index_{side}", f"code_{side}"])
    cells = cells.select("a", "b", "option_a", "option_b", "code_a", "code_b", "index_a", "index_b", "runs",
                         "selected", "compared").sort("index_a", "index_b", "code_a", "code_b")
    runs_total = frame.runs
    for column, suffix in (("selected", ""), ("compared", "_b")):
        total = range_total(cells, column)
        part = cells.select("runs", pl.col(column).alias("selected"))
        if total:
            part = significance.evaluate(significance.lift(part, runs_total=runs_total, selected_total=total),
                                         runs_total=runs_total, selected_total=total)
        else:  # nothing in this range: no lift, nothing to test
            part = part.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in ("expected", "lift", "p", "q")
                                     ).with_columns(pl.lit(False).alias("significant"))
        cells = cells.with_columns(part.select(pl.col(c).alias(c + suffix)
                                               for c in ("expected", "lift", "p", "q", "significant")))
    # against independence inside each range: the pair's own margins, a parameter's inactive runs left out
    inactive = {p.index: p.inactive for p in params if p.inactive is not None}
    skip = pl.lit(False)
    for side in ("a", "b"):
        skip = skip | (pl.col(f"code_{side}") == pl.col(f"index_{side}").replace_strict(inactive, default=-1))
    cells = cells.with_columns(skip.alias("inactive"))
    for column, suffix in (("selected", ""), ("compared", "_b")):
        part = significance.evaluate_independence(
            significance.independence_lift(cells, pair=("index_a", "index_b"), row="code_a", column="code_b",
                                           count=column, skip="inactive"), count=column)
        cells = cells.with_columns(part.select(pl.col(c).alias(f"{c}_indep{suffix}")
                                               for c in ("expected", "lift", "p", "q", "significant")))
    return cells.drop("inactive")


def range_total(cells: pl.DataFrame, column: str = "selected") -> int:
    """Networks in a range of a pair matrix: the cells of any one pair partition the study's runs."""
    first_pair = (pl.col("index_a") == 0) & (pl.col("index_b") == 1)
    return int(cells.filter(first_pair)[column].sum())


def cell_runs(frame: StudyFrame, selection: Selection | None, a: str, b: str, option_a: str, option_b: str,
              *, limit: int = TABLE_LIMIT) -> pl.DataFrame:
    """The selected runs in one heat-map cell, with readable column names."""
    selection = selection or EVERYTHING
    pa, pb = frame.param(a), frame.param(b)
    result = frame.query("cell_runs", {
        "option_a": _option_code(pa, option_a), "option_b": _option_code(pb, option_b),
        "scale": selection.scale, **selection.params(), "limit": limit,
    }, code_a=pa.code, code_b=pb.code)
    return readable(frame, result)


def _option_code(param: StudyParam, label: str) -> int:
    if label not in param.labels:
        raise StudyError(f"'{param.name}' has no option '{label}'; it has {', '.join(param.labels)}")
    return param.labels.index(label)


def readable(frame: StudyFrame, result: pl.DataFrame) -> pl.DataFrame:
    """Study-table rows as people read them: run columns, then each hyperparameter under its name (hp_<name>
    where a run column has it) with its value, from h<i> where binned, else its option code's value."""
    run_columns = [c for c in result.columns if not (c[0] in "bh" and c[1:].isdigit())]
    values = []
    for p in frame.params[1:]:
        if p.run_column:  # budget: the run column itself is there
            continue
        name = p.name if p.name not in run_columns else f"hp_{p.name}"
        if p.binned:
            values.append(pl.col(p.value).alias(name))
        else:
            values.append(pl.col(p.code).replace_strict(list(range(len(p.options))), list(p.options), default=None)
                          .alias(name))
    return result.select(*run_columns, *values)


def option_means(frame: StudyFrame, selection: Selection | None, *, primary: str, secondary: str | None,
                 scale: str | bool | None = None, normalized: bool | None = None
                 ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per panel (every parameter but primary and secondary): groups with mean, CI; and panel effects.
    Means are of accuracy on `scale` (normalized=True / False: the older spelling of 'normalized' / 'raw')."""
    shown = as_scale(scale if scale is not None else normalized)
    selection = selection or EVERYTHING
    first = frame.param(primary)
    second = frame.param(secondary) if secondary else None
    if second is not None and second.name == first.name:
        raise StudyError("choose a secondary parameter other than the primary one")
    panels = [p for p in frame.params if p.name not in (primary, secondary)]
    if not panels:
        raise StudyError(f"study '{frame.study['name']}' has no parameter besides {primary} to show")
    fixed = [first] + ([second] if second else [])
    used = fixed + panels
    sets = ", ".join("(" + ", ".join(p.code for p in [*fixed, panel]) + ")" for panel in panels)
    result = frame.query("group_moments", {"scale": shown, "selection_scale": selection.scale,
                                           **selection.params()}, codes=_codes(used), sets=sets)
    rows = []
    for record in result.iter_rows(named=True):
        grouped = _grouped(record["grouping"], len(used))
        panel = used[grouped[-1]]
        rows.append((panel.name, panel.labels[record[panel.code]], record[panel.code],
                     first.labels[record[first.code]], second.labels[record[second.code]] if second else None,
                     record["n"], record["mean"], record["var"]))
    groups = pl.DataFrame(rows, orient="row", schema={
        "panel": pl.String, "option": pl.String, "option_code": pl.Int64, "primary": pl.String,
        "secondary": pl.String, "n": pl.Int64, "mean": pl.Float64, "var": pl.Float64})
    if groups.is_empty():
        return groups, groups
    return group_means.intervals(groups), group_means.effects(groups)


def option_order(groups: pl.DataFrame, frame: StudyFrame) -> dict[str, list[str]]:
    """Row order per panel: numbers (binned or not, booleans too) in value order, "(inactive)" last; other
    options by mean accuracy (best first)."""
    order = {}
    for panel, part in groups.group_by("panel"):
        param = frame.param(panel[0])
        # codes follow the values' order: numbers, and booleans (stored as 'false' < 'true')
        ordered = all(isinstance(v, int | float) for v in param.options) or set(param.options) <= {"false", "true"}
        if param.binned or ordered:
            order[param.name] = [label for label in param.labels if label in set(part["option"])]
        else:
            means = (part.group_by("option").agg(((pl.col("n") * pl.col("mean")).sum() / pl.col("n").sum()).alias("m"))
                     .sort("m", descending=True))
            order[param.name] = list(means["option"])
    return order


def _filtered(frame: StudyFrame, selection: Selection | None, filters: dict[str, list[str]] | None) -> tuple[dict, str]:
    """Query parameters and generated clauses for the selection narrowed to some options per parameter."""
    selection = selection or EVERYTHING
    values = {"scale": selection.scale, **selection.params()}
    clauses = []
    for name, labels in (filters or {}).items():
        param = frame.param(name)
        values[f"f{param.index}"] = [_option_code(param, label) for label in labels]
        clauses.append(f"and list_contains($f{param.index}, {param.code})")
    return values, "\n    ".join(clauses)


def selected_runs(frame: StudyFrame, selection: Selection | None, *, filters: dict[str, list[str]] | None = None,
                  order: str = "accuracy", descending: bool = True, limit: int | None = TABLE_LIMIT) -> pl.DataFrame:
    """The selection's runs as a table, filtered to the given options per parameter, sorted; limit None: all."""
    values, clauses = _filtered(frame, selection, filters)
    if order in {"accuracy", "accuracy_norm", "accuracy_rank", "trial", "run_id"}:
        column = order
    else:  # a parameter: options are coded in value order, so its code sorts as its value does
        param = frame.param(order)
        column = param.value if param.binned else param.code
        if not param.binned and param.inactive is not None:  # inactive last, as a null value sorts
            column = f"nullif({column}, {param.inactive})"
    result = frame.query("selected_runs", {**values, "limit": limit}, filters=clauses,
                         order=f"{column} {'desc' if descending else 'asc'} nulls last, run_id")
    return readable(frame, result)


def selected_runs_count(frame: StudyFrame, selection: Selection | None, *,
                        filters: dict[str, list[str]] | None = None) -> int:
    values, clauses = _filtered(frame, selection, filters)
    return int(frame.query("selected_runs_count", values, filters=clauses)["runs"][0])


def empty_columns(frame: StudyFrame) -> set[str]:
    """Columns of the study table that no run of the (chosen) study fills, e.g. bracket and round of an ensemble."""
    return {name for name, filled in frame.query("column_counts").row(0, named=True).items() if not filled}


def runs_table(frame: StudyFrame, table: pl.DataFrame) -> pl.DataFrame:
    """A readable() table as the runs table shows it: the hyperparameters first, then accuracy, the dataset
    and the other run columns, without the columns that are empty for the whole (chosen) study."""
    counts = frame.query("column_counts").row(0, named=True)
    hyperparameters = [c for c in table.columns if c not in counts]  # readable() named them, the study has b<i>
    lead = [c for c in ("accuracy", "accuracy_norm", "accuracy_rank", "dataset") if c in table.columns]
    rest = [c for c in table.columns if c not in hyperparameters and c not in lead]
    return table.select(c for c in (*hyperparameters, *lead, *rest) if counts.get(c, 1))


def run_values(frame: StudyFrame, *, scale: str = "raw", sample: int | None = None, seed: int = 0) -> pl.DataFrame:
    """The finished runs (status ok, with an accuracy) with every hyperparameter's own value, for analyses
    that need values rather than option codes (correlations, embeddings).

    Columns: run_id, dataset, accuracy (on `scale`), loss, budget, then the hyperparameters as readable()
    names them: numbers as numbers (a binned parameter's raw value, an option's value), categories as
    strings, null where the parameter is inactive. `sample`: at most that many runs, a uniform sample
    without replacement that is the same for the same seed and study (DuckDB's reservoir sample).
    """
    columns = ["run_id", "dataset", "accuracy_on($scale, study) as accuracy", "loss", "budget"]
    columns += [p.value if p.binned else p.code for p in frame.params[1:] if not p.run_column]
    clause = "" if sample is None else f"using sample reservoir({int(sample)} rows) repeatable ({int(seed)})"
    return readable(frame, frame.query("run_values", {"scale": as_scale(scale)}, columns=", ".join(columns),
                                       sample=clause))
