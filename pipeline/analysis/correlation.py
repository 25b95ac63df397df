"""Correlations between every pair of a study's variables, with p-values, q-values and each pair's own n.

Input: one row per finished run and one column per variable, numbers (Float64; 0/1 for a one-hot option),
null where the variable does not apply to the run (an inactive conditional hyperparameter). `design()`
turns a frame of values (categories as text) into that: a category becomes one 0/1 column per option,
"name = option" (a two-option one, e.g. false/true, one column for its second option: the other is its
mirror), log-scaled numbers become log10 for Pearson (where all are positive), and columns without two
distinct values are left out with the reason.

`evaluate()` gives one row per pair of columns (a before b in column order), skipping pairs of one-hot
columns of the same parameter (their correlation is structural: one option excludes the others):

- Spearman's rho (default) or Pearson's r, over the rows where both columns are set (pairwise deletion),
  so every pair has its own n;
- p: the two-sided test of scipy.stats.spearmanr / pearsonr on exactly those rows (Student's t with n - 2
  degrees of freedom on r; for Pearson that is the same number as scipy's exact beta form);
- q: Benjamini-Hochberg over all pairs with a p-value; significant: q < alpha.
  A pair whose rows leave a column constant (or fewer than 3 rows) has no r and is not tested.

Speed: rows are grouped by which columns are set (a conditional's runs share one pattern), every column is
ranked once per pair of patterns it takes part in (by counting where it has few distinct values, not at all
where it has two: its ranks are a linear function of it), and each block of pairs is one matrix product;
exact against scipy on the same rows. The products run on one BLAS thread: on 2 busy cores OpenBLAS's own
threads spun against each other (a 100,000 x 50 product took 0.2 to 6 s; on one thread 0.02 s). Measured
on 2 loaded cores: 43 columns x 100,000 runs 0.3 - 0.9 s (Spearman), the planted 100,000-evaluation sweep's
15 variables over its 66,242 top-budget runs 0.15 s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import stats
from threadpoolctl import threadpool_limits

METHODS = {"spearman": "Spearman's rank correlation (rho)", "pearson": "Pearson's correlation (r)"}
TEST_NAME = {"spearman": "two-sided test of Spearman's rho (scipy.stats.spearmanr: t with n − 2 df)",
             "pearson": "two-sided test of Pearson's r (scipy.stats.pearsonr: exact, t with n − 2 df)"}
ALPHA = 0.05
MIN_ROWS = 3  # below this a correlation has no test (n - 2 degrees of freedom)


@dataclass(frozen=True)
class Design:
    """The matrix evaluate() works on, and what it says about where its columns came from."""
    values: pl.DataFrame  # Float64 columns, null where not set
    parameter: dict[str, str]  # column -> the variable it came from (a one-hot option's parameter)
    one_hot: frozenset[str]  # columns that are one option of a category
    logged: tuple[str, ...]  # columns that hold log10 of the variable
    left_out: dict[str, str]  # variable -> why it has no column


def design(values: pl.DataFrame, *, log: frozenset[str] | set[str] = frozenset(), use_log: bool = False) -> Design:
    """Columns for evaluate() from a frame of variables: numeric columns as they are (log10 where named in
    `log` and use_log), text columns one-hot. Variables without two distinct set values are left out."""
    columns, parameter, one_hot, logged, left_out = [], {}, set(), [], {}
    for name in values.columns:
        series = values[name]
        distinct = series.drop_nulls().unique()
        if series.dtype.is_numeric():
            distinct = distinct.filter(distinct.is_not_nan())
        if distinct.len() < 2:
            left_out[name] = ("no run records it" if distinct.len() == 0
                              else f"{_shown(distinct[0])} in every run")
            continue
        if series.dtype.is_numeric():
            column = series.cast(pl.Float64).fill_nan(None)
            # a log-scaled variable with a value <= 0 (a foreign log's budget 0) has no log: kept as it is,
            # and not listed in `logged`, which is what the page says
            if use_log and name in log and (column.drop_nulls() > 0).all():
                column = column.log10()
                logged.append(name)
            columns.append(column.alias(name))
            parameter[name] = name
            continue
        options = sorted(distinct.cast(pl.String).to_list())
        for option in options[1:] if len(options) == 2 else options:
            label = f"{name} = {option}"
            # null stays null: the option of a run where the category is inactive is unknown, not 0
            columns.append((series.cast(pl.String) == option).cast(pl.Float64).alias(label))
            parameter[label] = name
            one_hot.add(label)
    return Design(pl.DataFrame(columns) if columns else pl.DataFrame(), parameter, frozenset(one_hot),
                  tuple(logged), left_out)


def _shown(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def evaluate(data: Design, *, method: str = "spearman", alpha: float = ALPHA) -> pl.DataFrame:
    """One row per pair of columns shown: a, b, r, n, p, q, significant (q < alpha); r, p and q null where a
    pair has no correlation (a column constant on the pair's rows, or fewer than MIN_ROWS rows)."""
    if method not in METHODS:
        raise ValueError(f"method is one of {', '.join(METHODS)}, not {method!r}")
    names = data.values.columns
    columns = [_Column.of(data.values[name], ranked=method == "spearman") for name in names]
    with threadpool_limits(1, user_api="blas"):  # see the module's docstring
        r, n = _matrix(columns)
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))
             if not (names[i] in data.one_hot and names[j] in data.one_hot
                     and data.parameter[names[i]] == data.parameter[names[j]])]
    ia = np.array([i for i, _ in pairs], dtype=np.int64)
    ib = np.array([j for _, j in pairs], dtype=np.int64)
    rs, ns = r[ia, ib], n[ia, ib]
    p = _p_values(rs, ns)
    q = np.full(len(pairs), np.nan)
    tested = ~np.isnan(p)
    if tested.any():
        q[tested] = stats.false_discovery_control(p[tested], method="bh")
    return pl.DataFrame({
        "a": [names[i] for i in ia], "b": [names[j] for j in ib],
        "r": pl.Series(rs, dtype=pl.Float64, nan_to_null=True), "n": pl.Series(ns, dtype=pl.Int64),
        "p": pl.Series(p, dtype=pl.Float64, nan_to_null=True), "q": pl.Series(q, dtype=pl.Float64, nan_to_null=True),
    }).with_columns(significant=pl.col("q").fill_null(1.0) < alpha)


def _matrix(columns: list[_Column]) -> tuple[np.ndarray, np.ndarray]:
    """r and n of every pair of columns. Columns set on the same rows (the complete ones; each conditional's
    runs) form one block, and each pair of blocks is one matrix product over the rows where both are set."""
    patterns: dict[bytes, list[int]] = {}
    for j, column in enumerate(columns):
        patterns.setdefault(np.packbits(column.present).tobytes(), []).append(j)
    blocks = list(patterns.values())
    r = np.full((len(columns), len(columns)), np.nan)
    n = np.zeros((len(columns), len(columns)), dtype=np.int64)
    for i, first in enumerate(blocks):
        for second in blocks[i:]:
            rows = columns[first[0]].present & columns[second[0]].present
            count = int(rows.sum())
            n[np.ix_(first, second)] = n[np.ix_(second, first)] = count
            if count < MIN_ROWS:
                continue
            left = _units(columns, first, rows)
            right = left if second is first else _units(columns, second, rows)
            block = np.clip(left.T @ right, -1.0, 1.0)
            # a perfect relation is ±1 up to rounding; left at 0.9999999999999999 its p would be 1e-142, not 0
            block[np.abs(block) > 1.0 - 1e-12] = np.sign(block[np.abs(block) > 1.0 - 1e-12])
            r[np.ix_(first, second)] = block
            r[np.ix_(second, first)] = block.T
    return r, n


def _units(columns: list[_Column], which: list[int], rows: np.ndarray) -> np.ndarray:
    """The columns' unit vectors on the rows side by side (Fortran order: each written in one piece)."""
    out = np.empty((int(rows.sum()), len(which)), order="F")
    for k, j in enumerate(which):
        out[:, k] = columns[j].unit(rows)
    return out


MAX_LEVELS = 4096  # a column with at most this many distinct values is ranked by counting, not sorting


@dataclass
class _Column:
    """One column's values, where they are set, and for a column of few distinct values (a one-hot option, an
    ordinal, a budget) its level codes: its average ranks on any rows then come from counts per level,
    without a sort (Spearman on 100,000 runs: 1.8 s of sorting -> 0.2 s)."""
    values: np.ndarray
    present: np.ndarray
    ranked: bool
    codes: np.ndarray | None = None  # position of each value among the column's sorted distinct values
    levels: int = 0

    @classmethod
    def of(cls, series: pl.Series, *, ranked: bool) -> _Column:
        values = series.to_numpy().astype(float)
        present = ~np.isnan(values)
        if not ranked:
            return cls(values, present, ranked)
        distinct = np.unique(values[present])
        # ranks of a two-valued column are a rising linear function of it: its correlations are its own
        column = cls(values, present, len(distinct) > 2)
        if column.ranked and len(distinct) <= MAX_LEVELS:
            column.levels = len(distinct)
            column.codes = np.searchsorted(distinct, np.where(present, values, distinct[0]))
        return column

    def unit(self, rows: np.ndarray) -> np.ndarray:
        """The column on these rows (ranked within them for Spearman, ties averaged as scipy's rankdata),
        centred and scaled to length 1; all nan where it is constant on them."""
        if not self.ranked:
            x = self.values[rows]
        elif self.codes is not None:
            codes = self.codes[rows]
            counts = np.bincount(codes, minlength=self.levels)
            x = (np.cumsum(counts) - (counts - 1) / 2.0)[codes]
        else:
            x = stats.rankdata(self.values[rows])
        if x.min() == x.max():
            return np.full(x.shape, np.nan)
        centred = x - x.mean()
        return centred / np.sqrt(centred @ centred)


def _p_values(r: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Two-sided p of r over n rows: Student's t with n - 2 degrees of freedom (scipy's spearmanr; pearsonr's
    beta distribution is the same law)."""
    p = np.full(r.shape, np.nan)
    ok = ~np.isnan(r) & (n >= MIN_ROWS)
    dof = (n[ok] - 2).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = r[ok] * np.sqrt(dof / ((1.0 + r[ok]) * (1.0 - r[ok])))
    p[ok] = 2 * stats.t.sf(np.abs(t), dof)
    return p
