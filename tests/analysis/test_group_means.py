"""Group means, intervals and effects checked against scipy and hand computations, not against the code."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

from pipeline.analysis import group_means


def _groups(samples: dict[tuple[str, str, str], np.ndarray]) -> pl.DataFrame:
    return pl.DataFrame([{"panel": p, "option": o, "primary": d, "n": len(x), "mean": float(x.mean()),
                          "var": float(x.var(ddof=1)) if len(x) > 1 else None}
                         for (p, o, d), x in samples.items()])


def test_intervals_are_student_t_clipped_to_the_accuracy_range_and_small_groups_flagged():
    # the momentum option: n = 2 gave -0.555 .. 2.023 and stretched the axis to 2
    samples = {("momentum", "0.9", "mnist"): np.array([0.2, 0.95]),
               ("momentum", "0.5", "mnist"): np.array([0.5, 0.52, 0.55, 0.49, 0.51, 0.5, 0.53]),
               ("momentum", "0.7", "mnist"): np.array([0.99, 0.999, 0.97, 0.995, 0.98]),
               ("momentum", "0.8", "mnist"): np.array([0.4])}
    out = group_means.intervals(_groups(samples))
    for row in out.iter_rows(named=True):
        x = samples[(row["panel"], row["option"], row["primary"])]
        assert row["few"] == (len(x) < 5)
        if len(x) == 1:
            assert row["low"] is None and row["high"] is None
            continue
        low, high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
        assert (row["low"], row["high"]) == pytest.approx((max(low, 0.0), min(high, 1.0)))
        assert 0.0 <= row["low"] <= row["mean"] <= row["high"] <= 1.0
    wide = out.filter(pl.col("option") == "0.9").row(0, named=True)
    assert (wide["low"], wide["high"]) == (0.0, 1.0)  # raw interval -4.19 .. 5.34


def test_an_effect_needs_significance_and_eta_squared_of_at_least_0_01():
    rng = np.random.default_rng(3)
    # many networks, a tiny real difference: significant, eta² about 0.002
    tiny = {("depth_conv", str(k), "mnist"): rng.normal(0.8 + 0.003 * k, 0.03, 8000) for k in range(3)}
    # a large difference: an effect
    large = {("activation", a, "mnist"): rng.normal(m, 0.03, 300) for a, m in (("relu", 0.8), ("sigmoid", 0.7))}
    # no difference
    noise = {("augmentation", a, "mnist"): rng.normal(0.8, 0.03, 300) for a in ("false", "true")}
    effects = group_means.effects(_groups({**tiny, **large, **noise}))
    by_panel = {row["panel"]: row for row in effects.iter_rows(named=True)}
    p_values = {}
    for panel, samples in (("depth_conv", tiny), ("activation", large), ("augmentation", noise)):
        xs = list(samples.values())
        values = np.concatenate(xs)
        between = sum(len(x) * (x.mean() - values.mean()) ** 2 for x in xs)
        eta = between / ((values - values.mean()) ** 2).sum()
        assert by_panel[panel]["eta_squared"] == pytest.approx(eta)
        p_values[panel] = stats.f_oneway(*xs).pvalue
        assert by_panel[panel]["p"] == pytest.approx(p_values[panel], rel=1e-6, abs=1e-300)
    q = dict(zip(p_values, stats.false_discovery_control(list(p_values.values()), method="bh"), strict=True))
    for panel, row in by_panel.items():
        assert row["q"] == pytest.approx(q[panel], rel=1e-6, abs=1e-300)
    assert by_panel["depth_conv"]["significant"] and by_panel["depth_conv"]["eta_squared"] < 0.01
    assert not by_panel["depth_conv"]["effect"]
    assert by_panel["activation"]["effect"] and not by_panel["augmentation"]["significant"]

    order = group_means.panel_order(effects)
    assert list(order["panel"]) == ["activation", "depth_conv", "augmentation"]
    words = {row["panel"]: group_means.verdict(row) for row in order.iter_rows(named=True)}
    assert words["activation"].startswith("effect: eta² ")
    assert words["depth_conv"].startswith("significant but small: eta² 0.00") and "< 0.01" in words["depth_conv"]
    assert words["augmentation"].startswith("within noise")
    assert not any(("(" in w or ")" in w) for w in words.values())  # the header adds none either
    assert "0.01" in group_means.EFFECT_RULE


def test_panels_with_an_effect_come_before_larger_eta_squared_from_a_handful_of_networks():
    rng = np.random.default_rng(5)
    effect = {("batch_norm", b, "mnist"): rng.normal(m, 0.05, 400) for b, m in (("false", 0.78), ("true", 0.80))}
    handful = {("momentum", "0.5", "mnist"): np.array([0.70, 0.90]), ("momentum", "0.9", "mnist"): np.array([0.6, 0.8])}
    rows = group_means.effects(_groups({**effect, **handful}))
    eta = {r["panel"]: r["eta_squared"] for r in rows.iter_rows(named=True)}
    assert eta["momentum"] > eta["batch_norm"] >= 0.01  # 0.2 from 4 networks against about 0.04
    assert stats.f_oneway(*handful.values()).pvalue > 0.05
    assert list(group_means.panel_order(rows)["panel"]) == ["batch_norm", "momentum"]
