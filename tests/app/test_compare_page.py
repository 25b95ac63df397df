"""The Compare studies page under AppTest: the demo's three sweeps together, the demo ensemble alone (per dataset),
a real imported hpbandster log, and bad input (a study with no finished run, one without times, one without runs,
nothing chosen). Every curve's change points are checked against a replay in plain Python over the warehouse rows
(best so far in the order the runs finished), for each x and both rules, and the table against SQL."""

from __future__ import annotations

import io
import itertools
import json
import math
import shutil

import duckdb
import polars as pl
import pyarrow.ipc
import pytest

from pipeline.app.sweep_views import wall_time
from tests.app.apptest import open_page, run_app
from tests.conftest import sql
from tests.hpbandster_logs import demo_with_log

SWEEPS = ["demo-bohb", "demo-hyperband", "demo-random-search"]
IMPORTED = "imported"
XS = ("evaluation", "spent", "seconds")
RULES = ("incumbent", "any")


@pytest.fixture(scope="module")
def with_log(demo_warehouse, tmp_path_factory):
    """The demo with a real BOHB log imported beside it (6 brackets, a failure on purpose in each)."""
    return demo_with_log(demo_warehouse, tmp_path_factory.mktemp("compare-page"), IMPORTED)


def replay(path, study: str, rule: str, dataset: str | None = None) -> dict:
    """The best so far by hand: the study's runs in the order they finished (then by trial); a finished run is
    ranked by its loss (1 - test accuracy where it has none). 'incumbent': a run on a larger budget than the
    incumbent's takes over, one on the same budget only with a lower loss; 'any': a lower loss on any budget.
    Returns the change points (evaluation, spent, seconds, test accuracy) and the totals."""
    rows = sql(path, """
        select r.status, r.loss, r.test_accuracy, r.budget, r.epochs, r.dataset,
               date_diff('microsecond', (select min(q.started_at) from runs q where q.study_id = r.study_id),
                         r.finished_at) / 1e6
        from runs r join studies s using (study_id) where s.name = ?
        order by r.finished_at nulls last, r.trial""", [study])
    rows = [r for r in rows if dataset is None or r[5] == dataset]
    spent, best, changes = 0.0, None, []
    for i, (status, loss, accuracy, budget, epochs, _, seconds) in enumerate(rows, start=1):
        spent += budget if budget is not None else (epochs or 0)
        score = loss if loss is not None else (None if accuracy is None else 1 - accuracy)
        if status != "ok" or score is None or not math.isfinite(score):
            continue
        rung = budget or 0.0
        if best is None or (rule == "incumbent" and rung > best[1]) or (
                score < best[0] and (rule == "any" or rung == best[1])):
            best = (score, rung)
            changes.append({"evaluation": i, "spent": spent, "seconds": seconds, "accuracy": accuracy})
    times = [r[6] for r in rows if r[6] is not None]
    return {"changes": changes, "evaluations": len(rows), "spent": spent, "seconds": max(times) if times else None}


def _chart_points(at) -> pl.DataFrame:
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1
    table = pyarrow.ipc.open_stream(io.BytesIO(charts[0].proto.datasets[0].data.data)).read_all()
    return pl.from_arrow(table)


def _table(at) -> list[dict]:
    return next(d.value for d in at.dataframe if "best_accuracy" in d.value.columns).to_dict("records")


def _page(monkeypatch, path, study: str):
    return open_page(run_app(monkeypatch, path, study=study), "compare")


def _set(at, x: str, rule: str, log: bool = False):
    at.radio(key="compare.x").set_value(x)
    at.radio(key="compare.rule").set_value(rule)
    at.toggle(key="compare.log").set_value(log)
    at.run()
    assert not at.exception, at.exception
    return at


def _check_curves(at, path, studies, x, rule, dataset=None):
    points = _chart_points(at)
    assert sorted(points["study"].unique()) == sorted(studies)
    for study in studies:
        expected = replay(path, study, rule, dataset)
        drawn = points.filter(pl.col("study") == study, pl.col("point") == "change").sort("evaluation")
        assert drawn["x"].to_list() == pytest.approx([c[x] for c in expected["changes"]]), (study, x, rule)
        assert drawn["accuracy"].to_list() == [c["accuracy"] for c in expected["changes"]], (study, x, rule)
        end = points.filter(pl.col("study") == study, pl.col("point") == "end")
        assert end["x"].to_list() == pytest.approx([expected[x if x != "evaluation" else "evaluations"]])


def test_the_demo_sweeps_open_together_and_every_curve_is_the_replay(monkeypatch, demo_warehouse):
    at = _page(monkeypatch, demo_warehouse, "demo-hyperband")
    assert at.multiselect(key="compare.studies").value == SWEEPS
    assert not at.warning  # one problem: same space, dataset and budgets
    assert "incumbent" in at.radio(key="compare.rule").value  # the BOHB paper's line is the default
    assert "**hpbandster's incumbent**, the line the BOHB paper plots" in " ".join(c.value for c in at.caption)
    for x in XS:
        for rule in RULES:
            _check_curves(_set(at, x, rule), demo_warehouse, SWEEPS, x, rule)
    # the test error on a log scale, as the BOHB paper draws it: the same change points, y = 1 - accuracy
    at.toggle(key="compare.error").set_value(True).run()
    points = _chart_points(at).filter(pl.col("point") == "change", pl.col("study") == "demo-bohb").sort("evaluation")
    assert points["y"].to_list() == pytest.approx(
        [1 - c["accuracy"] for c in replay(demo_warehouse, "demo-bohb", "any")["changes"]])
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert spec["layer"][0]["encoding"]["y"]["title"] == "test error of the best so far (1 − accuracy, log scale)"
    assert spec["layer"][0]["encoding"]["y"]["scale"]["type"] == "log"
    # the incumbent drops where a larger budget takes over; the best on any budget never does in loss
    incumbent = replay(demo_warehouse, "demo-bohb", "incumbent")["changes"]
    assert any(b["accuracy"] < a["accuracy"] for a, b in itertools.pairwise(incumbent))


def test_the_table_is_sql_and_the_replay(monkeypatch, demo_warehouse):
    at = _page(monkeypatch, demo_warehouse, "demo-bohb")
    counts = {name: (n, spent, seconds) for name, n, spent, seconds in sql(demo_warehouse, """
        select s.name, count(*), sum(coalesce(r.budget, r.epochs)),
               date_diff('microsecond', min(r.started_at), max(r.finished_at)) / 1e6
        from runs r join studies s using (study_id) group by s.name""")}
    for rule in RULES:
        _set(at, "spent", rule, log=True)
        table = _table(at)
        assert [row["study"] for row in table] == SWEEPS
        for row in table:
            n, spent, seconds = counts[row["study"]]
            last = replay(demo_warehouse, row["study"], rule)["changes"][-1]
            assert (row["evaluations"], row["spent"], row["wall time"]) == (n, spent, wall_time(seconds))
            assert row["best_accuracy"] == last["accuracy"]
            assert (row["at_evaluation"], row["at_spent"]) == (last["evaluation"], last["spent"])
            assert row["at_seconds"] == pytest.approx(last["seconds"])
    # the final incumbent is the test accuracy of the lowest loss on the sweep's largest budget
    (expected,) = sql(demo_warehouse, """
        select arg_min(test_accuracy, loss) from runs r join studies s using (study_id)
        where s.name = 'demo-bohb' and status = 'ok' and budget = 81""")[0]
    assert _table(_set(at, "spent", "incumbent"))[0]["best_accuracy"] == expected


def test_the_ensemble_alone_warns_of_its_datasets_and_compares_one(monkeypatch, demo_warehouse):
    at = _page(monkeypatch, demo_warehouse, "demo-ensemble")
    assert at.multiselect(key="compare.studies").value == ["demo-ensemble"]  # no peers: itself alone
    assert any("trained on 3 datasets" in w.value for w in at.warning)
    datasets = [d for (d,) in sql(demo_warehouse, """select distinct dataset from runs r join studies s
                                                     using (study_id) where s.name = 'demo-ensemble' order by 1""")]
    assert at.selectbox(key="compare.dataset").options == ["every dataset", *datasets]
    for x in XS:
        _check_curves(_set(at, x, "incumbent"), demo_warehouse, ["demo-ensemble"], x, "incumbent")
    at.selectbox(key="compare.dataset").set_value("digits").run()
    for x in XS:
        for rule in RULES:  # no budgets: one budget, so the two rules agree
            _check_curves(_set(at, x, rule), demo_warehouse, ["demo-ensemble"], x, rule, dataset="digits")
    (n,) = sql(demo_warehouse, "select count(*) from runs r join studies s using (study_id) "
                               "where s.name = 'demo-ensemble' and dataset = 'digits'")[0]
    assert _table(at)[0]["evaluations"] == n
    # an ensemble run counts its epochs
    (epochs,) = sql(demo_warehouse, "select sum(epochs) from runs r join studies s using (study_id) "
                                    "where s.name = 'demo-ensemble' and dataset = 'digits'")[0]
    assert _table(at)[0]["spent"] == epochs
    # beside a sweep of digits: both over their digits runs, and the different spaces are said
    at.multiselect(key="compare.studies").set_value(["demo-ensemble", "demo-bohb"]).run()
    assert at.selectbox(key="compare.dataset").value == "digits"
    assert any("different search spaces" in w.value for w in at.warning)
    _check_curves(_set(at, "spent", "incumbent"), demo_warehouse, ["demo-bohb", "demo-ensemble"], "spent",
                  "incumbent", dataset="digits")
    at.selectbox(key="compare.dataset").set_value("shapes").run()  # the sweep has no runs there
    assert "**demo-bohb** (no runs on shapes)" in " ".join(w.value for w in at.warning)


def test_an_imported_log_is_compared_by_its_logged_loss(monkeypatch, with_log):
    at = _page(monkeypatch, with_log, IMPORTED)
    assert at.multiselect(key="compare.studies").value == [IMPORTED]
    for x in XS:
        for rule in RULES:
            _check_curves(_set(at, x, rule), with_log, [IMPORTED], x, rule)
    # beside the demo's sweeps: another space and budgets in the log's own units, said in words
    at.multiselect(key="compare.studies").set_value([IMPORTED, "demo-bohb"]).run()
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "2 different search spaces" in warnings and "different units" in warnings
    _check_curves(_set(at, "seconds", "incumbent"), with_log, [IMPORTED, "demo-bohb"], "seconds", "incumbent")


@pytest.fixture
def broken(demo_warehouse, tmp_path):
    """The demo where the random search has no finished run, Hyperband no recorded times, and an empty sweep."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(demo_warehouse, path)
    con = duckdb.connect(str(path))
    con.execute("""update runs set status = 'failed', test_accuracy = null, loss = null where study_id =
                   (select study_id from studies where name = 'demo-random-search')""")
    con.execute("""update runs set started_at = null, finished_at = null where study_id =
                   (select study_id from studies where name = 'demo-hyperband')""")
    con.execute("""insert into studies (name, kind, search_space, settings, created_at)
                   select 'empty-sweep', 'bohb', search_space, settings, now() from studies where name = 'demo-bohb'""")
    con.close()
    return path


def test_bad_input_is_said_in_words(monkeypatch, broken):
    at = _page(monkeypatch, broken, "demo-bohb")
    assert at.multiselect(key="compare.studies").value == ["demo-bohb", "demo-hyperband", "demo-random-search",
                                                          "empty-sweep"]
    warned = " ".join(w.value for w in at.warning)
    assert "**demo-random-search** (no evaluation finished)" in warned and "**empty-sweep** (no runs)" in warned
    _check_curves(at, broken, ["demo-bohb", "demo-hyperband"], "spent", "incumbent")
    _set(at, "seconds", "incumbent", log=True)
    assert "**demo-hyperband** (no run times recorded)" in " ".join(w.value for w in at.warning)
    assert sorted(_chart_points(at)["study"].unique()) == ["demo-bohb"]
    rows = {row["study"]: row for row in _table(at)}
    assert rows["demo-hyperband"]["wall time"] == "not recorded" and rows["demo-hyperband"]["evaluations"] == 374
    assert rows["empty-sweep"]["evaluations"] == 0
    assert pl.Series([rows["demo-random-search"]["best_accuracy"]]).fill_nan(None).is_null().all()
    at.multiselect(key="compare.studies").set_value([]).run()
    assert not at.exception and any("Pick at least one study" in i.value for i in at.info)
    at.multiselect(key="compare.studies").set_value(["demo-random-search"]).run()
    assert not at.exception and not at.get("vega_lite_chart")


def test_another_sidebar_study_opens_on_its_own_peers(monkeypatch, demo_warehouse):
    at = _page(monkeypatch, demo_warehouse, "demo-bohb")
    at.multiselect(key="compare.studies").set_value(["demo-bohb", "demo-ensemble"]).run()
    assert at.multiselect(key="compare.studies").value == ["demo-bohb", "demo-ensemble"]
    assert any("different datasets" in w.value for w in at.warning)
    at.switch_page("app_pages/overview.py").run()
    open_page(at, "compare")  # kept while away
    assert at.multiselect(key="compare.studies").value == ["demo-bohb", "demo-ensemble"]
    at.sidebar.selectbox(key="app.study_picker").set_value("demo-ensemble").run()
    assert at.multiselect(key="compare.studies").value == ["demo-ensemble"]


def test_an_imported_table_without_budgets_or_times_opens_on_evaluations(monkeypatch, tmp_path):
    """A table of networks (pipeline.importers table) records no budget, epochs or times: the page opens on
    evaluations, and budget spent or wall time say why nothing is drawn."""
    from pipeline.benchmarks.planted_study import write_planted_warehouse

    path = tmp_path / "warehouse.duckdb"
    write_planted_warehouse(200, path, study="networks")
    at = _page(monkeypatch, path, "networks")
    assert at.radio(key="compare.x").value == "evaluation"
    dataset = at.selectbox(key="compare.dataset").options[1]  # the first dataset
    at.selectbox(key="compare.dataset").set_value(dataset).run()
    _check_curves(at, path, ["networks"], "evaluation", "incumbent", dataset=dataset)
    for x, why in (("spent", "no budget or epochs recorded"), ("seconds", "no run times recorded")):
        _set(at, x, "incumbent", log=True)
        assert f"**networks** ({why})" in " ".join(w.value for w in at.warning)
        assert not at.get("vega_lite_chart")
