"""The Parallel coordinates page's numbers: a study's finished runs as positions on one axis per hyperparameter
(and the accuracy last), filtered by ranges on any axis, aggregated in DuckDB (no Streamlit here).

Axes (`axes(frame, order)`): every parameter of the loaded study that varies (the dataset where the study has
several, a sweep's budget at the budget choice "largest per configuration"), in the given order (the page passes
the importance ranking or the search space's order), then the accuracy on the sidebar's scale. Three kinds:
- number: a binned parameter (many values), placed by its raw value h<i> on [0, 1] between its smallest and
  largest value, on a log scale where correlation_chart.log_scaled says so;
- levels: a number with few values (an option code b<i>), placed by value the same way, each value a thin band;
- options: a category, each option a band of its own, evenly spaced in code order.
A run's line crosses an option's band at a jitter that is the same for the run every time (a hash of its run id
and the axis), so lines fan out instead of all crossing at one point. A run where the parameter is inactive
crosses at the inactive mark, INACTIVE below the axis.

Filters (`Filters`: name -> spec) are what a brush or the range controls set, and what the URL keeps:
a number or levels axis: (lo, hi) in its own values, plus INACTIVE_LABEL to keep inactive runs too, or
(INACTIVE_LABEL,) alone; an options axis: the option labels kept; the accuracy: (lo, hi) on the scale.
`parse_filters` reads the URL's JSON and says what it could not use.

`parallel(frame, order=..., scale=..., share=..., filters=...)` is what the page hands to state.computed: the
counts (finished runs, those kept by the filters, the top `share` per dataset of each), the lines and, above
ALL_LINES kept runs, density bands between adjacent axes (counts per pair of bins) with only the top runs as
lines (at most LINE_LIMIT), and the best kept runs as a table. Marks shipped to the browser stay under a few
thousand whatever the study's size: at most MAX_BANDS bands and LINE_LIMIT lines.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass

import polars as pl

from pipeline.app import correlation_chart, study_views
from pipeline.app.study_frame import StudyError, StudyFrame, StudyParam, parsed_space

ACCURACY = "accuracy"  # the objective's axis name
INACTIVE = -0.12  # where the inactive mark sits, below the axis's 0
INACTIVE_HALF = 0.025  # half the height of the inactive band
INACTIVE_LABEL = "(inactive)"
OPTION_SPREAD = 0.7  # share of an option's slot its band takes (the rest is the gap between options)
LEVEL_HALF = 0.035  # at most, half the height of a numeric level's band
ALL_LINES = 1_500  # up to this many kept runs every one is a line; above, bands plus the top runs as lines
LINE_LIMIT = 500  # lines drawn at most over bands (the best of the top share)
MAX_BANDS = 3_000  # band marks at most: bins per axis are chosen so that pairs * bins ** 2 stays under it
MAX_BINS = 20  # bins per number axis at most
BEST_ROWS = 10  # rows of the best kept runs' table
DEFAULT_SHARE = 0.05
JITTER_MOD = 100_003  # a prime: the jitter's resolution


class FilterError(ValueError):
    """A filter (from a link) that cannot be used; the message says what was wrong."""


@dataclass(frozen=True)
class Axis:
    """One vertical axis: where a value sits on it (0 bottom .. 1 top, INACTIVE below)."""
    name: str
    kind: str  # "number", "levels", "options" or "accuracy"
    index: int = -1  # the study parameter's index (h<i> / b<i>); -1 for the accuracy
    low: float = 0.0  # number / levels: smallest and largest value
    high: float = 1.0
    log: bool = False
    labels: tuple[str, ...] = ()  # levels / options: label per code (inactive excluded)
    values: tuple[float, ...] = ()  # levels: value per code
    inactive: int | None = None  # levels / options: the inactive code; number: 1 where some runs are inactive

    @property
    def numeric(self) -> bool:
        return self.kind in ("number", "levels", "accuracy")

    def position(self, value: float) -> float:
        """A number's place on the axis, 0 .. 1 inside the axis's range."""
        if self.kind == "accuracy":
            return float(value)
        if self.high == self.low:
            return 0.5
        f = math.log if self.log else float
        return (f(value) - f(self.low)) / (f(self.high) - f(self.low))

    def value(self, position: float) -> float:
        """The number at a place on the axis (the inverse of position)."""
        if self.kind == "accuracy" or self.high == self.low:
            return float(position) if self.kind == "accuracy" else self.low
        if self.log:
            a, b = math.log(self.low), math.log(self.high)
            return math.exp(a + position * (b - a))
        return self.low + position * (self.high - self.low)

    def bands(self) -> list[tuple[float, float]]:
        """Levels / options: the centre and half height of each code's band (the inactive code's last)."""
        if self.kind == "options":
            slot = 1.0 / len(self.labels)
            found = [((c + 0.5) * slot, OPTION_SPREAD * slot / 2) for c in range(len(self.labels))]
        else:
            centers = [self.position(v) for v in self.values]
            gaps = [b - a for a, b in itertools.pairwise(sorted(centers)) if b > a]
            half = min(LEVEL_HALF, 0.3 * min(gaps)) if gaps else LEVEL_HALF
            found = [(c, half) for c in centers]
        if self.inactive is not None:
            found.append((INACTIVE, INACTIVE_HALF))
        return found

    def ticks(self) -> list[tuple[float, str]]:
        """Labels along the axis: (position, text)."""
        if self.kind in ("levels", "options"):
            ticks = [(center, label) for (center, _), label in zip(self.bands(), self.labels)]
        else:
            ticks = [(p, _number(self.value(p))) for p in (0.0, 0.25, 0.5, 0.75, 1.0)]
        if self.inactive is not None:
            ticks.append((INACTIVE, "inactive"))
        return ticks

    def describe(self) -> str:
        if self.kind == "number":
            return f"{self.name}: {_number(self.low)} – {_number(self.high)}" + (" (log scale)" if self.log else "")
        return self.name


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.2g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.3g}"


def _axis(param: StudyParam, log: bool) -> Axis | None:
    """The parameter's axis, None where it does not vary."""
    inactive = param.inactive
    labels = param.labels[:-1] if inactive is not None else param.labels
    if param.binned:
        low, high = param.edges[0], param.edges[-1]
        return Axis(param.name, "number", param.index, low, high, log and low > 0, inactive=inactive)
    if len(labels) + (inactive is not None) < 2:
        return None
    options = param.options[:len(labels)]
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in options):
        values = tuple(float(v) for v in options)
        low, high = min(values), max(values)
        return Axis(param.name, "levels", param.index, low, high, log and low > 0, labels=labels, values=values,
                    inactive=inactive)
    return Axis(param.name, "options", param.index, labels=labels, inactive=inactive)


def space_order(frame: StudyFrame) -> tuple[str, ...]:
    """The parameters in the order the study's search space lists them (the loaded order where it says nothing)."""
    listed = list(parsed_space(frame.study.get("search_space")))
    names = [p.name for p in frame.params]
    return tuple(dict.fromkeys([n for n in listed if n in names] + names))


def axes(frame: StudyFrame, order: tuple[str, ...] = ()) -> list[Axis]:
    """The varying parameters' axes, those named in `order` first in that order, the others in the search
    space's order, and the accuracy last."""
    logged = correlation_chart.log_scaled(frame)
    found = {p.name: axis for p in frame.params if (axis := _axis(p, p.name in logged)) is not None}
    names = [n for n in dict.fromkeys([*order, *space_order(frame)]) if n in found]
    return [found[n] for n in names] + [Axis(ACCURACY, "accuracy")]


# ---------------------------------------------------------------- filters

Filters = tuple[tuple[str, tuple], ...]  # (axis name, spec), sorted by name: hashable, for state.computed


def checked_filter(axis: Axis, spec) -> tuple:
    """A filter spec for the axis (see the module), normalized, or FilterError saying what is wrong."""
    if not isinstance(spec, list | tuple) or not spec:
        raise FilterError(f"the filter on '{axis.name}' is not a list of values")
    if axis.kind == "options":
        known = set(axis.labels) | ({INACTIVE_LABEL} if axis.inactive is not None else set())
        wrong = [v for v in spec if not isinstance(v, str) or v not in known]
        if wrong:
            raise FilterError(f"'{axis.name}' has no option {', '.join(repr(v) for v in wrong[:3])}; it has "
                              f"{', '.join(sorted(known))}")
        return tuple(label for label in [*axis.labels, INACTIVE_LABEL] if label in spec)
    inactive = INACTIVE_LABEL in spec
    if inactive and axis.inactive is None:
        raise FilterError(f"'{axis.name}' is never inactive")
    numbers = [v for v in spec if v != INACTIVE_LABEL]
    if not numbers and inactive:
        return (INACTIVE_LABEL,)
    if len(numbers) != 2 or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                                    for v in numbers) or numbers[0] > numbers[1]:
        raise FilterError(f"the filter on '{axis.name}' needs two numbers low <= high, got "
                          f"{', '.join(repr(v) for v in numbers[:3]) or 'none'}")
    return (float(numbers[0]), float(numbers[1]), *((INACTIVE_LABEL,) if inactive else ()))


def parse_filters(text: str | None, found: list[Axis]) -> tuple[Filters, list[str]]:
    """The filters a URL's JSON holds ({"learning_rate": [0.001, 0.01], "optimizer": ["adam"]}) and what was
    wrong with the rest, in words; what is wrong is left out."""
    if not text:
        return (), []
    try:
        raw = json.loads(text)
    except ValueError:
        return (), ["it is not readable (JSON expected)"]
    if not isinstance(raw, dict):
        return (), ["it is not readable (a JSON object of axis: values expected)"]
    by_name = {axis.name: axis for axis in found}
    kept, problems = {}, []
    for name, spec in raw.items():
        if name not in by_name:
            problems.append(f"this study has no axis '{name}'")
            continue
        try:
            kept[name] = checked_filter(by_name[name], spec)
        except FilterError as err:
            problems.append(str(err))
    return tuple(sorted(kept.items())), problems


def filters_text(filters: Filters) -> str:
    """The filters as the URL keeps them (compact JSON)."""
    return json.dumps({name: list(spec) for name, spec in filters}, separators=(",", ":"))


def describe_filter(axis: Axis, spec: tuple) -> str:
    if axis.kind == "options":
        return f"{axis.name} ∈ {{{', '.join(spec)}}}"
    parts = []
    if len(spec) >= 2 and spec[0] != INACTIVE_LABEL:
        parts.append(f"{_number(spec[0]) if axis.kind != 'accuracy' else f'{spec[0]:.3f}'} ≤ {axis.name} ≤ "
                     f"{_number(spec[1]) if axis.kind != 'accuracy' else f'{spec[1]:.3f}'}")
    if spec[-1] == INACTIVE_LABEL:
        parts.append(f"{axis.name} inactive")
    return " or ".join(parts)


def brushed(found: list[Axis], x: tuple[float, float], y: tuple[float, float], filters: Filters) -> Filters:
    """The filters after a brush over axes x[0] .. x[1] (axis positions 0, 1, ...) and heights y[0] .. y[1]:
    each axis the brush covers (the nearest one where it covers none) gets the range it spans, replacing its
    filter; the other filters are kept."""
    x0, x1 = sorted(x)
    y0, y1 = sorted(y)
    covered = [i for i in range(len(found)) if x0 <= i <= x1] or [min(max(round((x0 + x1) / 2), 0), len(found) - 1)]
    result = dict(filters)
    for i in covered:
        axis = found[i]
        inactive = axis.inactive is not None and y0 <= INACTIVE + INACTIVE_HALF and y1 >= INACTIVE - INACTIVE_HALF
        if axis.kind == "options":
            spec = tuple(label for (center, half), label in zip(axis.bands(), axis.labels)
                         if y0 <= center + half and y1 >= center - half)
            spec += (INACTIVE_LABEL,) if inactive else ()
            spec = spec or (axis.labels[0],)  # nothing covered: a brush between bands, keep its nearest
            if not any(y0 <= c + h and y1 >= c - h for c, h in axis.bands()):
                centers = [c for c, _ in axis.bands()[:len(axis.labels)]]
                spec = (axis.labels[min(range(len(centers)), key=lambda k: abs(centers[k] - (y0 + y1) / 2))],)
        elif y1 < 0:
            spec = (INACTIVE_LABEL,) if inactive else (axis.value(0.0), axis.value(0.0))
        else:
            lo, hi = axis.value(max(y0, 0.0)), axis.value(min(y1, 1.0))
            spec = (lo, hi, *((INACTIVE_LABEL,) if inactive else ()))
        result[axis.name] = spec
    return tuple(sorted(result.items()))


def _clauses(found: list[Axis], filters: Filters, accuracy: str = "accuracy") -> tuple[str, dict]:
    """`and <condition>` lines and their parameters for the filters; column names from integers only."""
    by_name = {axis.name: (k, axis) for k, axis in enumerate(found)}
    lines, values = [], {}
    for name, spec in filters:
        if name not in by_name:
            raise StudyError(f"no axis '{name}' to filter on")
        k, axis = by_name[name]
        if axis.kind == "accuracy":
            lines.append(f"and {accuracy} between $flo{k} and $fhi{k}")
            values[f"flo{k}"], values[f"fhi{k}"] = spec[0], spec[1]
            continue
        if axis.kind == "number":
            conditions = []
            if spec[0] != INACTIVE_LABEL:
                conditions.append(f"h{axis.index} between $flo{k} and $fhi{k}")
                values[f"flo{k}"], values[f"fhi{k}"] = spec[0], spec[1]
            if spec[-1] == INACTIVE_LABEL:
                conditions.append(f"h{axis.index} is null")
            lines.append(f"and ({' or '.join(conditions)})")
            continue
        if axis.kind == "options":
            codes = [axis.labels.index(label) for label in spec if label != INACTIVE_LABEL]
        else:
            lo, hi = (spec[0], spec[1]) if spec[0] != INACTIVE_LABEL else (math.inf, -math.inf)
            codes = [c for c, v in enumerate(axis.values) if lo <= v <= hi]
        if spec[-1] == INACTIVE_LABEL:
            codes.append(axis.inactive)
        lines.append(f"and list_contains($fc{k}, b{axis.index})")
        values[f"fc{k}"] = codes
    return "\n        ".join(lines), values


def _columns(found: list[Axis]) -> str:
    names = [f"h{a.index}" if a.kind == "number" else f"b{a.index}" for a in found if a.kind != "accuracy"]
    return ", ".join(dict.fromkeys(names)) or "run_id as no_parameter"


def _jitter(axis: Axis) -> str:
    """A number in [-0.5, 0.5) that is the same for a run and parameter every time, whatever the axis order."""
    return f"((hash(run_id, {int(axis.index)}) % {JITTER_MOD}) / {JITTER_MOD}.0 - 0.5)"


def _positions(found: list[Axis]) -> tuple[str, dict]:
    """Each axis's position as SQL (p<k>) and its parameters."""
    items, values = [], {}
    for k, axis in enumerate(found):
        if axis.kind == "accuracy":
            items.append(f"accuracy as p{k}")
        elif axis.kind == "number":
            items.append(f"{_number_position(axis, k)} as p{k}")
            values |= _number_params(axis, k)
        else:
            bands = axis.bands()
            values[f"c{k}"], values[f"j{k}"] = [c for c, _ in bands], [2 * h for _, h in bands]
            items.append(f"list_extract($c{k}, b{axis.index} + 1) + list_extract($j{k}, b{axis.index} + 1) * "
                         f"{_jitter(axis)} as p{k}")
    return ",\n        ".join(items), values


def _number_inside(axis: Axis, k: int) -> str:
    """An active value's position: (f(value) - f(low)) / (f(high) - f(low)), f = ln on a log axis."""
    x = f"ln(h{axis.index})" if axis.log else f"h{axis.index}"
    return f"(({x}) - $plo{k}) / $pw{k}"


def _number_position(axis: Axis, k: int) -> str:
    inside = _number_inside(axis, k)
    return f"(case when h{axis.index} is null then $inactive + $ih * {_jitter(axis)} else {inside} end)"


def _number_params(axis: Axis, k: int) -> dict:
    a, b = (math.log(axis.low), math.log(axis.high)) if axis.log else (axis.low, axis.high)
    return {f"plo{k}": a, f"pw{k}": (b - a) or 1.0, "inactive": INACTIVE, "ih": 2 * INACTIVE_HALF}


def _bins(found: list[Axis], bins: int) -> tuple[str, dict]:
    """Each axis's bin as SQL (k<k>): an option's code, or one of `bins` bins (-1: inactive)."""
    items, values = [], {}
    for k, axis in enumerate(found):
        if axis.kind == "accuracy":
            items.append(f"least(greatest(floor(accuracy * $bins), 0), $bins - 1)::integer as k{k}")
        elif axis.kind == "number":
            inside = _number_inside(axis, k)
            items.append(f"(case when h{axis.index} is null then -1 else "
                         f"least(greatest(floor({inside} * $bins), 0), $bins - 1) end)::integer as k{k}")
            values |= _number_params(axis, k)
        else:
            items.append(f"b{axis.index}::integer as k{k}")
    values.pop("inactive", None), values.pop("ih", None)
    return ",\n        ".join(items), {**values, "bins": bins}


def bin_extent(axis: Axis, code: int, bins: int) -> tuple[float, float]:
    """The bottom and top of a bin (k<k>'s value) on the axis."""
    if axis.kind in ("number", "accuracy"):
        if code < 0:
            return INACTIVE - INACTIVE_HALF, INACTIVE + INACTIVE_HALF
        return code / bins, (code + 1) / bins
    center, half = axis.bands()[code]
    return center - half, center + half


def bins_for(axes_count: int) -> int:
    """Bins per number axis: as many as MAX_BANDS allows between every pair of adjacent axes, at most MAX_BINS."""
    pairs = max(1, axes_count - 1)
    return max(4, min(MAX_BINS, int(math.sqrt(MAX_BANDS / pairs))))


@dataclass(frozen=True)
class Parallel:
    """What the page draws and says."""
    axes: tuple[Axis, ...]
    filters: Filters
    runs: int  # finished runs (status ok, with an accuracy)
    top: int  # of them in the top share per dataset
    kept: int  # finished runs the filters keep
    kept_top: int  # of those in the top share
    lines: pl.DataFrame  # run_id, accuracy, top, p0 .. p<n>: the runs drawn as lines
    lines_top_only: bool  # the lines are the top share only (bands show every kept run)
    bands: pl.DataFrame  # pair, band, axis (position 0..), y, y2, runs, accuracy: two rows per band
    bins: int  # bins per number axis of the bands
    bands_left_out: int  # bands not drawn (the faintest, over MAX_BANDS)
    best: pl.DataFrame  # the best kept runs, readable
    share: float
    scale: str


def parallel(frame: StudyFrame, *, order: tuple[str, ...] = (), scale: str = "rank", share: float = DEFAULT_SHARE,
             filters: Filters = ()) -> Parallel:
    """The page's numbers for the frame's finished runs (see the module)."""
    if not 0 < share <= 1:
        raise StudyError(f"a top share is a fraction in (0, 1], not {share}")
    found = axes(frame, order)
    columns = _columns(found)
    clauses, values = _clauses(found, filters)
    base = {"scale": scale, "share": share, **values}
    counts = frame.query("parallel_counts", base, columns=columns, filters=clauses).row(0, named=True)
    kept, kept_top = int(counts["kept"] or 0), int(counts["kept_top"] or 0)
    top_only = kept > ALL_LINES
    positions, position_values = _positions(found)
    lines = frame.query("parallel_lines", {**base, **position_values, "top_only": top_only,
                                           "limit": LINE_LIMIT if top_only else ALL_LINES},
                        columns=columns, filters=clauses, positions=positions)
    bins = bins_for(len(found))
    bands, left_out = (_bands(frame, found, base, columns, clauses, bins) if top_only
                       else (_no_bands(), 0))
    best_clauses, best_values = _clauses(found, filters, accuracy="shown_accuracy")
    best = frame.query("parallel_best", {"scale": scale, **best_values, "limit": BEST_ROWS}, filters=best_clauses)
    best = study_views.runs_table(frame, study_views.readable(frame, best))
    return Parallel(axes=tuple(found), filters=filters, runs=int(counts["runs"]), top=int(counts["top"] or 0),
                    kept=kept, kept_top=kept_top, lines=lines, lines_top_only=top_only, bands=bands, bins=bins,
                    bands_left_out=left_out, best=best, share=share, scale=scale)


def _no_bands() -> pl.DataFrame:
    return pl.DataFrame(schema={"pair": pl.Int64, "band": pl.Int64, "axis": pl.Int64, "y": pl.Float64,
                                "y2": pl.Float64, "runs": pl.Int64, "accuracy": pl.Float64})


def _bands(frame: StudyFrame, found: list[Axis], base: dict, columns: str, clauses: str, bins: int
           ) -> tuple[pl.DataFrame, int]:
    """Two rows per band (its left end on axis k, its right end on k + 1), the faintest left out over MAX_BANDS."""
    keys = [f"k{k}" for k in range(len(found))]
    binned, bin_values = _bins(found, bins)
    values = {k: v for k, v in base.items() if k != "share"}
    counts = frame.query("parallel_bands", {**values, **bin_values}, columns=columns, filters=clauses, bins=binned,
                         keys=", ".join(keys), sets=", ".join(f"({a}, {b})" for a, b in itertools.pairwise(keys)))
    n = len(keys)
    pair_of = {sum(1 << (n - 1 - j) for j in range(n) if j not in (k, k + 1)): k for k in range(n - 1)}
    counts = counts.with_columns(pair=pl.col("grouping").cast(pl.Int64).replace_strict(pair_of, default=None))
    counts = counts.filter(pl.col("pair").is_not_null()).sort("runs", descending=True)
    left_out = max(0, counts.height - MAX_BANDS)
    rows = []
    for band, record in enumerate(counts.head(MAX_BANDS).iter_rows(named=True)):
        k = record["pair"]
        for side in (k, k + 1):
            y, y2 = bin_extent(found[side], record[f"k{side}"], bins)
            rows.append((k, band, side, y, y2, record["runs"], record["accuracy"]))
    if not rows:
        return _no_bands(), left_out
    return pl.DataFrame(rows, schema=_no_bands().schema, orient="row"), left_out
