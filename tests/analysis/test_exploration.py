"""pipeline/analysis/exploration.py on tables small enough to work out by hand.

    .venv/bin/python -m pytest tests/analysis/test_exploration.py -q
"""

from __future__ import annotations

import math

import polars as pl
import pytest

from pipeline.analysis import exploration


def _table(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"evaluation": pl.Int64, "config_id": pl.String, "budget": pl.Float64,
                                      "status": pl.String, "accuracy": pl.Float64, "sampled_as": pl.String,
                                      "x": pl.Float64, "c": pl.String}, orient="row")


# eight evaluations of six configurations; budgets 1 and 3; a, d promoted to 3; x numeric, c a category
ROWS = [
    (1, "a", 1.0, "ok", 0.50, "random", 0.10, "p"),
    (2, "b", 1.0, "ok", 0.40, "random", 0.90, "q"),
    (3, "a", 3.0, "ok", 0.70, "promoted", 0.10, "p"),
    (4, "c", 1.0, "failed", None, "random", 0.50, "q"),
    (5, "d", 1.0, "ok", 0.60, "model_based", 0.30, "p"),
    (6, "d", 3.0, "ok", 0.80, "promoted", 0.30, "p"),
    (7, "e", 1.0, "ok", 0.20, "model_based", 0.20, "p"),
    (8, "f", 1.0, "ok", 0.30, "model_based", None, "p"),
]


def test_a_hand_worked_sweep():
    m = exploration.movement(_table(ROWS), numeric=["x"], categorical=["c"])
    # largest budget 3: a (0.70) and d (0.80) finished there; the top 10 % of 2 is ceil(0.2) = 1: d
    assert (m.top_budget, m.finished_on_top, m.top_configs) == (3.0, 2, 1)
    assert m.region == {"x": "0.3", "c": "p"}
    # new configurations: a@1, b@2, c@4, d@5, e@7, f@8; quarters of 8 evaluations: 1-2, 3-4, 5-6, 7-8
    # values inside (x == 0.3, c == p): a 1/2, b 0, c 0, d 1, e 1/2, f 1/2 (x inactive and d had it active)
    q = {row["quarter"]: row for row in m.quarters.iter_rows(named=True)}
    assert [(q[i]["first_evaluation"], q[i]["last_evaluation"]) for i in range(1, 5)] == [(1, 2), (3, 4), (5, 6),
                                                                                            (7, 8)]
    assert [q[i]["new"] for i in range(1, 5)] == [2, 1, 1, 2]
    assert [q[i]["model_based"] for i in range(1, 5)] == [0, 0, 1, 2]
    assert [q[i]["inside"] for i in range(1, 5)] == [0, 0, 1, 0]
    assert [q[i]["values_inside"] for i in range(1, 5)] == pytest.approx([0.25, 0.0, 1.0, 0.5])
    assert m.drift == pytest.approx(0.25)
    assert m.top_evaluations == (6,)
    # 95 % interval: shares (0.5, 0) and (0.5, 0.5): standard deviations sqrt(0.125) and 0, n = 2 each
    half = 1.96 * math.sqrt(0.125 / 2)
    assert m.drift_interval == pytest.approx((0.25 - half, 0.25 + half))


def test_inactive_counts_as_a_value_and_equal_accuracies_take_the_earlier():
    rows = [(1, "a", None, "ok", 0.9, None, None, "p"), (2, "b", None, "ok", 0.9, None, 0.5, "q"),
            *[(i, f"z{i}", None, "ok", 0.1, None, 0.7, "r") for i in range(3, 12)]]
    m = exploration.movement(_table(rows), numeric=["x"], categorical=["c"])
    # no budgets: every finished run is in the pool; ceil(0.1 * 11) = 2 configurations: a and b (0.9 each)
    assert (m.top_budget, m.top_configs) == (None, 2)
    assert m.region == {"x": "0.5 or inactive", "c": "p, q"}
    assert m.top_evaluations == (1, 2)


def test_nothing_finished_has_no_region_and_no_drift():
    rows = [(1, "a", 1.0, "failed", None, "random", 0.1, "p"), (2, "b", 1.0, "diverged", None, "random", 0.2, "q")]
    m = exploration.movement(_table(rows), numeric=["x"], categorical=["c"])
    assert m.top_configs == 0 and m.drift is None and m.drift_interval is None and m.quarters.is_empty()


def test_a_quarter_without_new_configurations_leaves_the_drift_undefined():
    # one configuration evaluated on four budgets: new only in the first quarter
    rows = [(i, "a", float(3 ** i), "ok", 0.1 * i, "random", 0.5, "p") for i in range(1, 5)]
    m = exploration.movement(_table(rows), numeric=["x"], categorical=["c"])
    assert m.drift is None and m.drift_interval is None
    assert m.quarters["new"].to_list() == [1, 0, 0, 0]
