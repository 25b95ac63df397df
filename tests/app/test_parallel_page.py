"""The Parallel coordinates page under AppTest on the demo ensemble, the demo's BOHB sweep, a real imported
hpbandster log and a planted study of 16,000 networks: the counts it states and the runs it draws checked
against straight SQL on the warehouse file, the axis order against the importance ranking and the search space,
the filter through the URL, through a simulated brush (the chart's event put into session state, as AppTest
allows) and through the per-axis form, and links whose filter cannot be used."""

from __future__ import annotations

import io
import json
import math
import shutil

import duckdb
import polars as pl
import pyarrow.ipc
import pytest

from pipeline.app import importance_views, parallel_views, study_frame
from tests.app.apptest import open_page, run_app
from tests.conftest import sql
from tests.hpbandster_logs import demo_with_log

IMPORTED = "imported"
STUDIES = ["demo-ensemble", "demo-bohb", IMPORTED]


@pytest.fixture(scope="module")
def warehouse(demo_warehouse, tmp_path_factory):
    """The demo (an ensemble and three sweeps) with a real BOHB log imported beside it."""
    return demo_with_log(demo_warehouse, tmp_path_factory.mktemp("parallel-page"), IMPORTED)


def _page(monkeypatch, path, study: str, filter_text: str | None = None, **query):
    """The page as a link opens it: the app on the study, then the page with the link's filter."""
    at = run_app(monkeypatch, path, study=study, **query)
    if filter_text is not None:
        at.query_params["filter"] = filter_text
    return open_page(at, "parallel")


def _chart(at):
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1
    return charts[0]


def _data(chart, name: str) -> pl.DataFrame:
    spec = json.loads(chart.proto.spec)
    names = [d.name for d in chart.proto.datasets]
    assert name in names, (names, list(spec))
    raw = chart.proto.datasets[names.index(name)].data.data
    return pl.from_arrow(pyarrow.ipc.open_stream(io.BytesIO(raw)).read_all())


def _counts(at) -> tuple[int, int]:
    """The page's "n of N runs" line."""
    line = next(m.value for m in at.markdown if " runs** pass the filters" in m.value)
    kept, total = line.split(" runs**")[0].strip("*").split(" of ")
    return int(kept.replace(",", "")), int(total.replace(",", ""))


# runs of a study as the page's budget choice sees them: every run (no budgets), or each configuration's
# evaluation on its largest budget (the default for a sweep), written here independently of chosen_runs.sql
_CHOSEN = """
with study_runs as (
    select r.* from runs r join studies s using (study_id) where s.name = ?
),
chosen as (
    select * from study_runs
    qualify not exists (select 1 from study_runs where budget is not null)
        or row_number() over (partition by coalesce(config_id, run_id::varchar) order by budget desc, run_id desc) = 1
)
select * from chosen
"""


def _finished(path, study: str, where: str = "true", params=()) -> int:
    return sql(path, f"""
        with chosen as ({_CHOSEN})
        select count(*) from chosen c
        where status = 'ok' and test_accuracy is not null and {where}""", [study, *params])[0][0]


def _value(name: str) -> str:
    """A hyperparameter's number in the warehouse's long table, for a run of `chosen c`."""
    return f"(select value_num from hyperparameters h where h.run_id = c.run_id and h.name = '{name}')"


def _text(name: str) -> str:
    return f"(select value from hyperparameters h where h.run_id = c.run_id and h.name = '{name}')"


@pytest.mark.parametrize("study", STUDIES)
def test_every_study_states_its_finished_runs_and_draws_every_one(monkeypatch, warehouse, study):
    at = _page(monkeypatch, warehouse, study)
    kept, total = _counts(at)
    assert kept == total == _finished(warehouse, study)
    chart = _chart(at)
    lines = _data(chart, "lines")
    axes = _data(chart, "axes")
    assert lines["run_id"].n_unique() == total  # under ALL_LINES runs every run is a line
    assert lines.height == total * axes.height  # one point per axis and run
    assert axes["name"][-1] == "accuracy"
    # the best runs' table, on the sidebar's scale (rank within dataset): its first run is its dataset's best
    table = at.dataframe[0].value
    assert list(table["accuracy_rank"]) == sorted(table["accuracy_rank"], reverse=True)
    best = sql(warehouse, f"with chosen as ({_CHOSEN}) select max(test_accuracy) from chosen "
                          "where status = 'ok' and coalesce(dataset, '') = coalesce(?, '')",
               [study, table["dataset"][0] if table["dataset"][0] != "not recorded" else None])[0][0]
    assert table["accuracy"][0] == pytest.approx(best)


@pytest.mark.parametrize("study", ["demo-ensemble", "demo-bohb"])
def test_axes_follow_the_importance_ranking_or_the_search_space(monkeypatch, warehouse, study):
    at = _page(monkeypatch, warehouse, study)
    frame = study_frame.load(warehouse, study)
    frame = frame.chosen(study_frame.TOP) if frame.budgets else frame
    ranking = list(importance_views.study_importance(frame, scale="rank").singles["name"])
    names = list(_data(_chart(at), "axes")["name"])
    assert names[:-1] == [n for n in ranking if n in names]  # every axis is a ranked feature, in rank order
    assert names[-1] == "accuracy"
    at.radio(key="parallel.order").set_value("space").run()
    names = list(_data(_chart(at), "axes")["name"])
    space = json.loads(sql(warehouse, "select search_space from studies where name = ?", [study])[0][0])
    listed = [n for n in space if n in names]
    assert names[:len(listed)] == listed


def test_a_link_with_a_filter_opens_filtered_and_counts_match_sql(monkeypatch, warehouse):
    study = "demo-ensemble"
    link = json.dumps({"learning_rate": [0.001, 0.01], "optimizer": ["adam", "rmsprop"]})
    at = _page(monkeypatch, warehouse, study, link)
    expected = _finished(warehouse, study, f"{_value('learning_rate')} between 0.001 and 0.01 "
                                           f"and {_text('optimizer')} in ('adam', 'rmsprop')")
    assert 0 < expected < _finished(warehouse, study)
    assert _counts(at) == (expected, _finished(warehouse, study))
    assert not at.warning
    assert json.loads(at.query_params["filter"]) == {"learning_rate": [0.001, 0.01],
                                                     "optimizer": ["adam", "rmsprop"]}
    chart = _chart(at)
    lines = _data(chart, "lines")
    assert lines["run_id"].n_unique() == expected
    # the kept range is drawn on the learning rate's log axis: its ends where log10 puts them between the
    # smallest and largest learning rate of the study
    low, high = sql(warehouse, """select min(value_num), max(value_num) from hyperparameters h join runs r
        using (run_id) join studies s using (study_id) where s.name = ? and h.name = 'learning_rate'""", [study])[0]
    axes = list(_data(chart, "axes")["name"])
    box = _data(chart, "kept").filter(pl.col("axis") == axes.index("learning_rate")).row(0, named=True)
    place = [(math.log10(v) - math.log10(low)) / (math.log10(high) - math.log10(low)) for v in (0.001, 0.01)]
    assert (box["y"], box["y2"]) == (pytest.approx(place[0]), pytest.approx(place[1]))
    assert _data(chart, "kept").filter(pl.col("axis") == axes.index("optimizer")).height == 2  # two options kept
    table = at.dataframe[0].value
    assert set(table["optimizer"]) <= {"adam", "rmsprop"}
    assert table["learning_rate"].between(0.001, 0.01).all()
    # the filter stays through a rerun and clears with the button, URL included
    at.button(key="parallel.clear").click().run()
    assert _counts(at)[0] == _finished(warehouse, study) and "filter" not in at.query_params


def test_inactive_runs_are_their_own_mark_and_can_be_kept(monkeypatch, warehouse):
    study = "demo-bohb"
    at = _page(monkeypatch, warehouse, study, json.dumps({"momentum": ["(inactive)"]}))
    inactive = _finished(warehouse, study, f"{_value('momentum')} is null")
    assert _counts(at)[0] == inactive > 0
    chart = _chart(at)
    axes = list(_data(chart, "axes")["name"])
    lines = _data(chart, "lines").filter(pl.col("axis") == axes.index("momentum"))
    low, high = (parallel_views.INACTIVE - parallel_views.INACTIVE_HALF,
                 parallel_views.INACTIVE + parallel_views.INACTIVE_HALF)
    assert lines["y"].is_between(low, high).all()  # every one crosses at the inactive mark, below the axis
    ticks = _data(chart, "ticks").filter(pl.col("axis") == axes.index("momentum"))
    assert "inactive" in set(ticks["label"])
    both = _page(monkeypatch, warehouse, study, json.dumps({"momentum": [0.5, 1, "(inactive)"]}))
    assert _counts(both)[0] == _finished(warehouse, study, f"coalesce({_value('momentum')} between 0.5 and 1, "
                                                           f"{_value('momentum')} is null)")


def _brush(at, axis: int, y: tuple[float, float]):
    """A brush over one axis as the browser returns it, put where AppTest lets a selection be simulated."""
    try:  # the brushes applied so far name the chart's key
        brushes = at.session_state["parallel.brushes"]
    except KeyError:
        brushes = 0
    key = f"parallel.chart_{brushes}"
    at.session_state[key] = {"selection": {"brush": {"axis": [axis - 0.2, axis + 0.2], "y": list(y)}}}
    return at.run()


def test_a_brush_filters_the_page_and_the_url(monkeypatch, warehouse):
    study = "demo-ensemble"
    at = _page(monkeypatch, warehouse, study)
    at.radio(key="parallel.order").set_value("space").run()
    chart = _chart(at)
    axes = list(_data(chart, "axes")["name"])
    k = axes.index("learning_rate")
    _brush(at, k, (0.5, 1.0))  # the upper half of a log axis from 1e-4 to 1e-1
    assert not at.exception
    spec = json.loads(at.query_params["filter"])
    assert list(spec) == ["learning_rate"]
    lo, hi = spec["learning_rate"]
    frame = study_frame.load(warehouse, study)
    p = frame.param("learning_rate")
    assert lo == pytest.approx((p.edges[0] * p.edges[-1]) ** 0.5)  # the middle of a log axis: the geometric mean
    assert hi == pytest.approx(p.edges[-1])
    assert _counts(at)[0] == _finished(warehouse, study, f"{_value('learning_rate')} between ? and ?", (lo, hi))
    # a second brush, on an options axis, adds its filter to the first
    k = axes.index("optimizer")
    labels = _data(_chart(at), "ticks").filter(pl.col("axis") == k).sort("y")
    top = labels.row(-1, named=True)
    _brush(at, k, (top["y"] - 0.02, top["y"] + 0.02))
    spec = json.loads(at.query_params["filter"])
    assert spec["optimizer"] == [top["label"]] and "learning_rate" in spec
    assert _counts(at)[0] == _finished(
        warehouse, study, f"{_value('learning_rate')} between ? and ? and {_text('optimizer')} = ?",
        (lo, hi, top["label"]))


def test_the_accuracy_axis_and_the_top_share_per_dataset(monkeypatch, warehouse):
    study = "demo-ensemble"
    at = _page(monkeypatch, warehouse, study, json.dumps({"accuracy": [0.9, 1]}))
    # rank within dataset: (average rank - 0.5) / n over the dataset's finished runs
    ranked = """
        with chosen as ({chosen}), finished as (
            select dataset, test_accuracy as a from chosen where status = 'ok' and test_accuracy is not null
        ), ranked as (
            select (rank() over (partition by dataset order by a)
                    + (count(*) over (partition by dataset, a) - 1) / 2.0 - 0.5)
                   / count(*) over (partition by dataset) as r from finished
        ) select count(*) filter (where r between 0.9 and 1), count(*) filter (where r >= 1 - ?) from ranked"""
    in_range, top10 = sql(warehouse, ranked.format(chosen=_CHOSEN), [study, 0.10])[0]
    assert _counts(at)[0] == in_range
    at.number_input(key="parallel.top_percent").set_value(10.0).run()
    line = next(m.value for m in at.markdown if "top 10 % per dataset" in m.value)
    assert line.endswith(f"of {top10:,}")
    lines = _data(_chart(at), "lines").unique("run_id")
    assert lines["top"].sum() == top10  # every top run passes accuracy >= 0.9 on the rank scale


def test_the_per_axis_form_sets_and_removes_a_filter(monkeypatch, warehouse):
    study = "demo-ensemble"
    at = _page(monkeypatch, warehouse, study)
    at.selectbox(key="parallel.axis").set_value("batch_size").run()
    at.number_input(key="parallel.low_batch_size").set_value(64.0)
    at.number_input(key="parallel.high_batch_size").set_value(128.0)
    at.button[[b.label for b in at.button].index("Apply")].click().run()
    assert json.loads(at.query_params["filter"]) == {"batch_size": [64.0, 128.0]}
    assert _counts(at)[0] == _finished(warehouse, study, f"{_value('batch_size')} between 64 and 128")
    at.button[[b.label for b in at.button].index("Remove this filter")].click().run()
    assert "filter" not in at.query_params


@pytest.mark.parametrize(("link", "said"), [
    ("{not json", "not readable"),
    ('["learning_rate"]', "not readable"),
    ('{"no_such_axis": [1, 2]}', "no axis 'no_such_axis'"),
    ('{"learning_rate": [0.01, 0.001]}', "two numbers low <= high"),
    ('{"learning_rate": ["a", "b"]}', "two numbers low <= high"),
    ('{"learning_rate": [1e999, 2]}', "two numbers low <= high"),
    ('{"optimizer": ["adamw"]}', "no option 'adamw'"),
    ('{"optimizer": "adam"}', "not a list"),
    ('{"batch_size": ["(inactive)"]}', "never inactive"),
])
def test_a_link_whose_filter_cannot_be_used_is_said_and_ignored(monkeypatch, warehouse, link, said):
    study = "demo-ensemble"
    at = _page(monkeypatch, warehouse, study, link)
    assert any(said in w.value for w in at.warning), [w.value for w in at.warning]
    assert _counts(at) == (_finished(warehouse, study),) * 2
    assert "filter" not in at.query_params


def test_a_filter_that_keeps_nothing_says_so(monkeypatch, warehouse):
    at = _page(monkeypatch, warehouse, "demo-ensemble", json.dumps({"accuracy": [2, 3]}))
    assert _counts(at)[0] == 0
    assert any("No finished run passes the filters" in i.value for i in at.info)


def test_a_large_study_draws_bands_of_every_run_and_only_the_top_as_lines(monkeypatch, planted_warehouse):
    at = _page(monkeypatch, planted_warehouse, "planted")
    kept, total = _counts(at)
    assert kept == total == _finished(planted_warehouse, "planted") > parallel_views.ALL_LINES
    chart = _chart(at)
    bands = _data(chart, "bands")
    lines = _data(chart, "lines")
    axes = _data(chart, "axes")
    # each pair of adjacent axes partitions the kept runs (both ends of a band carry its count)
    per_pair = bands.filter(pl.col("axis") == pl.col("pair")).group_by("pair").agg(pl.col("runs").sum())
    assert per_pair.height == axes.height - 1 and (per_pair["runs"] == total).all()
    assert bands["band"].n_unique() <= parallel_views.MAX_BANDS
    assert lines["top"].all() and lines["run_id"].n_unique() <= parallel_views.LINE_LIMIT
    caption = " ".join(c.value for c in at.caption)
    assert f"Bands: all {total:,} runs" in caption and "binned" in caption


@pytest.fixture(scope="module")
def thin_warehouse(demo_warehouse, tmp_path_factory):
    """The demo with its random search cut to one run and every Hyperband run failed."""
    path = tmp_path_factory.mktemp("parallel-thin") / "warehouse.duckdb"
    shutil.copy(demo_warehouse, path)
    con = duckdb.connect(str(path))
    try:
        con.execute("""delete from runs
                       where study_id = (select study_id from studies where name = 'demo-random-search')
                       and run_id > (select min(run_id) from runs join studies using (study_id)
                                     where name = 'demo-random-search' and status = 'ok')""")
        con.execute("""update runs set status = 'failed', test_accuracy = null
                       where study_id = (select study_id from studies where name = 'demo-hyperband')""")
    finally:
        con.close()
    return path


def test_a_study_with_one_finished_run_draws_it_and_says_so(monkeypatch, thin_warehouse):
    at = _page(monkeypatch, thin_warehouse, "demo-random-search")
    assert _counts(at) == (1, 1) == (_finished(thin_warehouse, "demo-random-search"),) * 2
    assert any("one finished network" in w.value for w in at.warning), [w.value for w in at.warning]
    # too few runs for an importance ranking: the axes keep the search space's order, and the page says why
    assert any(c.value.startswith("Axes in the search space's order") for c in at.caption)
    assert _data(_chart(at), "lines")["run_id"].n_unique() == 1


def test_a_study_without_a_finished_run_says_so(monkeypatch, thin_warehouse):
    at = _page(monkeypatch, thin_warehouse, "demo-hyperband")
    assert any("no finished network" in w.value for w in at.warning), [w.value for w in at.warning]
    assert not at.get("vega_lite_chart")


def test_a_filter_on_the_budget_is_set_aside_at_one_budget(monkeypatch, warehouse):
    study = "demo-bohb"
    at = _page(monkeypatch, warehouse, study, json.dumps({"budget": [27, 81]}))
    assert _counts(at)[0] == _finished(warehouse, study, "budget between 27 and 81") > 0
    at.sidebar.selectbox(key="app.budget_picker").set_value(9.0).run()
    assert not at.exception
    assert any("No axis budget" in i.value for i in at.info), [i.value for i in at.info]
    assert _counts(at)[0] == sql(warehouse, """select count(*) from runs r join studies s using (study_id)
        where s.name = ? and budget = 9 and status = 'ok' and test_accuracy is not null""", [study])[0][0]


def test_an_options_runs_fan_out_inside_its_band_at_the_same_place_every_time(monkeypatch, warehouse):
    at = _page(monkeypatch, warehouse, "demo-ensemble")
    chart = _chart(at)
    axes = list(_data(chart, "axes")["name"])
    k = axes.index("optimizer")
    ticks = _data(chart, "ticks").filter(pl.col("axis") == k)
    first = _data(chart, "lines").filter(pl.col("axis") == k).sort("run_id")
    options = dict(sql(warehouse, """select h.run_id, h.value from hyperparameters h join runs r using (run_id)
        join studies s using (study_id) where s.name = 'demo-ensemble' and h.name = 'optimizer'"""))
    slot = 1 / ticks.height
    for y, label in ticks.select("y", "label").iter_rows():
        crossing = first.filter(pl.col("run_id").replace_strict(options, default=None) == label)["y"]
        assert crossing.len() > 1 and crossing.n_unique() > 0.9 * crossing.len()  # spread, not one point
        assert crossing.is_between(y - 0.35 * slot, y + 0.35 * slot).all()  # inside the option's band
    at.radio(key="parallel.order").set_value("space").run()
    chart = _chart(at)
    k = list(_data(chart, "axes")["name"]).index("optimizer")
    again = _data(chart, "lines").filter(pl.col("axis") == k).sort("run_id")
    assert again["y"].to_list() == first["y"].to_list()  # a run's place does not depend on the axis order


def test_on_the_raw_scale_the_accuracy_axis_is_test_accuracy(monkeypatch, warehouse):
    study = "demo-ensemble"
    at = _page(monkeypatch, warehouse, study, json.dumps({"accuracy": [0.5, 0.9]}), scale="raw")
    assert _counts(at)[0] == _finished(warehouse, study, "test_accuracy between 0.5 and 0.9")
    lines = _data(_chart(at), "lines")
    accuracy = lines.filter(pl.col("axis") == lines["axis"].max())
    assert (accuracy["y"] - accuracy["accuracy"]).abs().max() < 1e-12  # the last axis is the accuracy itself
    assert accuracy["y"].is_between(0.5, 0.9).all()
