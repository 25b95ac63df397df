"""The accuracy scales (raw, normalized, rank) and the per-dataset selection, against independent computations.

The planted study (pipeline/benchmarks/planted_study.py: 16,000 networks, 5 datasets with their own levels,
7 % dead runs at chance) is where a pooled "top 5 %" goes wrong: on the raw scale it is nearly all mnist.
Counts here are recomputed from the warehouse file with polars and scipy, not through the app's SQL.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.stats import rankdata
from streamlit.testing.v1 import AppTest

from pipeline.app import charts, study_frame, study_views
from pipeline.app.selection import DEFAULT_SCALE, SCALES, Selection, SelectionError
from pipeline.app.state import SELECTION_KEY
from pipeline.benchmarks.planted_study import DATASET_LEVELS
from tests.app.apptest import open_page, run_app
from tests.conftest import sql

PLANTED_RUNS = 16_000


@pytest.fixture(scope="module")
def planted(planted_warehouse):
    return planted_warehouse


@pytest.fixture(scope="module")
def planted_frame(planted):
    return study_frame.load(planted, "planted")


def _finished(path, study: str) -> pl.DataFrame:
    """run_id, dataset, accuracy of the study's finished runs, straight from the file, with scipy's percentile
    within the dataset: (average rank - 0.5) / n, ties sharing the average of their ranks."""
    rows = sql(path, """select r.run_id, r.dataset, r.test_accuracy from runs r join studies s using (study_id)
                        where s.name = ? and r.status = 'ok' and r.test_accuracy is not null""", [study])
    frame = pl.DataFrame(rows, schema={"run_id": pl.Int64, "dataset": pl.String, "accuracy": pl.Float64},
                         orient="row")
    parts = []
    for _, part in frame.group_by("dataset"):
        values = part["accuracy"].to_numpy()
        parts.append(part.with_columns(pl.Series("rank", (rankdata(values, method="average") - 0.5) / len(values))))
    return pl.concat(parts)


def _selected_per_dataset(frame: study_frame.StudyFrame, selection: Selection) -> dict[str, int]:
    counts = study_views.status_counts(frame, selection).filter(pl.col("status") == "ok")
    return dict(zip(counts["dataset"], counts["selected"]))


def test_top_5_percent_is_each_datasets_own_by_default(planted, planted_frame):
    finished = _finished(planted, "planted")
    top = study_views.top_share(planted_frame, 0.05)
    assert top == Selection(0.95, 1.0, "rank") and top.per_dataset
    shown = _selected_per_dataset(planted_frame, top)
    # independently: polars' average rank per dataset, and the dataset's own 95th percentile
    independent = finished.with_columns(
        p=(pl.col("accuracy").rank("average").over("dataset") - 0.5) / pl.len().over("dataset")
    ).group_by("dataset").agg(n=pl.len(), top=(pl.col("p") >= 0.95).sum(),
                              above_quantile=(pl.col("accuracy") > pl.col("accuracy").quantile(0.95)).sum())
    assert set(shown) == set(DATASET_LEVELS)
    for row in independent.iter_rows(named=True):
        assert shown[row["dataset"]] == row["top"]
        assert abs(row["top"] - row["above_quantile"]) <= 1  # the same runs as "above its own 95th percentile"
        assert 0.049 <= row["top"] / row["n"] <= 0.051, row  # each dataset contributes its own 5 %


def test_pooled_top_5_percent_is_nearly_all_mnist(planted, planted_frame):
    """Why the default is per dataset: the pooled top 5 % on raw accuracy is the easiest dataset's."""
    finished = _finished(planted, "planted")
    top = study_views.top_share(planted_frame, 0.05, per_dataset=False)
    assert top.scale == "raw" and not top.per_dataset
    assert top.lo == pytest.approx(float(np.quantile(finished["accuracy"].to_numpy(), 0.95)))
    shown = _selected_per_dataset(planted_frame, top)
    # independently: the runs at or above the pooled 95th percentile; ties there (accuracies are counts of
    # a 10,000-image test set) may take a few more than 5 %
    at_or_above = int((finished["accuracy"] >= top.lo).sum())
    assert sum(shown.values()) == at_or_above
    assert 0 <= at_or_above - 0.05 * len(finished) <= int((finished["accuracy"] == top.lo).sum()) + 1
    assert shown["mnist"] / sum(shown.values()) > 0.9
    assert shown["stl10"] == shown["cifar10"] == 0


@pytest.mark.parametrize("lo,hi", [(0.9, 1.0), (0.0, 0.1), (0.45, 0.55)])
def test_a_rank_range_selects_the_same_share_of_every_dataset(planted, planted_frame, lo, hi):
    finished = _finished(planted, "planted")
    shown = _selected_per_dataset(planted_frame, Selection(lo, hi, "rank"))
    for (dataset,), part in finished.group_by("dataset"):
        expected = int(part["rank"].is_between(lo, hi).sum())
        assert shown[dataset] == expected
        # a share of hi - lo, give or take the ties that straddle an end (they share one rank)
        ties = part.group_by("accuracy").len()["len"].max()
        assert abs(expected / len(part) - (hi - lo)) < (1.5 + ties) / len(part) + 1e-9


def test_the_rank_histogram_is_flat_per_dataset(planted, planted_frame):
    bins = study_views.histogram(planted_frame, scale="rank")
    finished = _finished(planted, "planted")
    n = dict(finished.group_by("dataset").len().iter_rows())
    for (dataset,), part in bins.group_by("dataset"):
        assert len(part) == study_views.HISTOGRAM_BINS
        assert part["networks"].sum() == n[dataset]
        # n / 50 each, up to rounding and the ties at a bin's two ends (a tie shares one rank)
        ties = finished.filter(pl.col("dataset") == dataset).group_by("accuracy").len()["len"].max()
        assert part["networks"].max() - part["networks"].min() <= 1 + 2 * ties
        # the raw accuracy a bin spans rises with the bin: rank keeps the order of accuracy
        ordered = part.sort("bin")
        assert (ordered["accuracy_from"].diff().drop_nulls() >= 0).all()


@pytest.mark.parametrize("fixture,study", [("demo_warehouse", "demo-ensemble"), ("tiny_warehouse", "tiny")])
def test_rank_equals_scipys_average_rank_with_ties(request, fixture, study):
    """Small test sets give many tied accuracies: each tie shares the average of its ranks, as scipy's."""
    path = request.getfixturevalue(fixture)
    frame = study_frame.load(path, study)
    finished = _finished(path, study)
    assert finished["accuracy"].n_unique() < len(finished)  # there are ties to handle
    shown = study_views.selected_runs(frame, None, limit=None).select("run_id", "accuracy_rank")
    joined = finished.join(shown, on="run_id", how="left")
    assert joined["accuracy_rank"].null_count() == 0
    np.testing.assert_allclose(joined["accuracy_rank"].to_numpy(), joined["rank"].to_numpy(), rtol=0, atol=1e-12)


def test_normalized_is_anchored_on_the_dead_runs_and_the_best(planted, planted_frame):
    """0 is each dataset's worst run (a dead one at chance, ~0.1), 1 its best: what the help says."""
    finished = _finished(planted, "planted")
    lows = finished.group_by("dataset").agg(pl.col("accuracy").min())
    assert lows["accuracy"].max() < 0.13  # every dataset's 0 is a network at chance
    bins = study_views.histogram(planted_frame, scale="normalized")
    for _, part in bins.group_by("dataset"):
        assert part["bin"].min() == 0 and part["bin"].max() == study_views.HISTOGRAM_BINS - 1


def test_scales_in_links_old_and_new():
    assert Selection.from_query({"lo": "0.5", "hi": "1"}) == Selection(0.5, 1.0, "raw")  # links made before scales
    assert Selection.from_query({"scale": "normalized", "lo": "0.5", "hi": "1"}) == Selection(0.5, 1.0, True)
    for scale in SCALES:
        selection = Selection(0.123456, 0.9, scale)
        assert Selection.from_query(selection.to_query()) == selection
    assert Selection.from_query({"scale": "rank"}) is None
    with pytest.raises(SelectionError, match="not one of raw, normalized, rank"):
        Selection.from_query({"scale": "percent", "lo": "0", "hi": "1"})
    assert DEFAULT_SCALE == "rank"
    assert "per dataset" in Selection(0.9, 1, "rank").rule and "pooled" in Selection(0.9, 1).rule


def _count_encodings(spec) -> list[tuple[str, dict]]:
    """Every quantitative encoding of a count field (networks, runs, selected, compared) in a Vega-Lite spec."""
    found = []
    if isinstance(spec, dict):
        for channel, value in spec.items():
            if (isinstance(value, dict) and value.get("type") == "quantitative"
                    and value.get("field") in {"networks", "runs", "selected", "compared"}
                    and channel in {"x", "y", "color"}):
                found.append((channel, value))
            found += _count_encodings(value)
    elif isinstance(spec, list):
        for item in spec:
            found += _count_encodings(item)
    return found


def test_every_count_axis_ticks_whole_numbers(planted_frame):
    """No 0.5 networks: every count axis and count legend in charts.py ticks integers only."""
    counts = study_views.status_counts(planted_frame, None)
    by_dataset = counts.with_columns(best_test_accuracy=pl.lit(0.9))
    cells = study_views.pair_matrix(planted_frame, Selection(0.9, 1.0, "rank"))
    params = tuple((p.name, tuple(p.labels)) for p in planted_frame.params)
    specs = [charts.histogram(study_views.histogram(planted_frame, scale=s), scale=s, selected=None).to_dict()
             for s in SCALES]
    specs += [charts.unfinished(counts).to_dict(), charts.runs_by_status(by_dataset).to_dict(),
              charts.heatmap_matrix(cells, value="selected", params=params)]
    for spec in specs:
        found = _count_encodings(spec)
        assert found, spec.get("encoding")
        for channel, encoding in found:
            guide = encoding.get("legend" if channel == "color" else "axis") or {}
            assert guide.get("tickMinStep") == 1 and guide.get("format") == ",d", (channel, encoding)


def _app(monkeypatch, path, **query) -> AppTest:
    """The distribution page, opened from a link carrying `query`."""
    return open_page(run_app(monkeypatch, path, **query), "distribution")


def test_distribution_page_selects_each_datasets_top_and_says_so(monkeypatch, planted):
    finished = _finished(planted, "planted")
    at = _app(monkeypatch, planted)
    assert "rank within dataset" in at.caption[0].value and "per dataset" in at.caption[0].value
    at.button(key="distribution.select_top").click().run()
    assert not at.exception
    assert at.session_state[SELECTION_KEY] == Selection(0.95, 1.0, "rank")
    assert dict(at.query_params) == {"study": "planted", "scale": "rank", "lo": "0.95", "hi": "1"}
    expected = int((finished["rank"] >= 0.95).sum())
    success = at.success[0].value
    assert f"**{expected:,}** of {len(finished):,} finished networks" in success and "per dataset" in success
    assert "Per dataset" in at.sidebar.info[0].value
    table = at.dataframe[0].value  # n and the share of every dataset
    assert sorted(table["dataset"]) == sorted(DATASET_LEVELS)
    assert table["selected"].sum() == expected and table["finished"].sum() == len(finished)
    assert table["share"].between(4.9, 5.1).all()

    at.sidebar.button(key="app.clear_selection").click().run()
    at.radio(key="distribution.top_rule").set_value("pooled").run()
    at.button(key="distribution.select_top").click().run()
    selection = at.session_state[SELECTION_KEY]
    assert selection.scale == "raw" and at.query_params["scale"] == "raw"
    assert "pooled" in at.success[0].value and "Pooled" in at.sidebar.info[0].value
    table = at.dataframe[0].value.set_index("dataset")
    assert table.loc["mnist", "selected"] > 0.9 * table["selected"].sum()


@pytest.mark.parametrize("scale", SCALES)
def test_distribution_page_on_each_scale_from_a_link(monkeypatch, planted, scale):
    at = _app(monkeypatch, planted, study="planted", scale=scale)
    assert at.sidebar.radio(key="app.scale_picker").value == scale
    spec = at.get("vega_lite_chart")[0].proto.spec
    assert charts.accuracy_title(scale) in spec
    assert at.query_params["scale"] == scale


def test_a_rank_link_selects_the_same_runs_on_the_runs_page(monkeypatch, planted):
    finished = _finished(planted, "planted")
    at = _app(monkeypatch, planted, study="planted", scale="rank", lo="0.9", hi="1")
    at.switch_page("app_pages/runs.py").run()
    assert not at.exception
    expected = int(finished["rank"].is_between(0.9, 1.0).sum())
    assert at.caption[0].value.startswith(f"{expected:,} networks")
