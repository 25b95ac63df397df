"""A sweep study's budget choice (sidebar, URL, every page), the runs table's columns and a missing dataset,
on a real BOHB sweep's imported log, checked against SQL on the warehouse file."""

import pytest
from streamlit.testing.v1 import AppTest

from pipeline.app import study_frame, study_views
from pipeline.app.state import BUDGET_KEY, BUDGET_PICKER_KEY, STUDY_KEY
from pipeline.app.study_frame import NOT_RECORDED, TOP
from tests.app.apptest import open_page, run_app
from tests.conftest import sql
from tests.hpbandster_logs import import_log, run_tiny_bohb

STUDY = "sweep"
# each configuration's evaluation on the largest budget it reached, written independently of chosen_runs.sql
TOP_RUNS = """select r.* from runs as r
              join (select config_id, max(budget) as budget from runs group by config_id) as t
              using (config_id, budget)"""


@pytest.fixture(scope="module")
def sweep_warehouse(tmp_path_factory):
    """A warehouse holding one imported BOHB sweep (budgets 1, 3, 9; no dataset in the log)."""
    folder = tmp_path_factory.mktemp("sweep")
    (folder / "log").mkdir()
    run_tiny_bohb(folder / "log", iterations=4)
    path = folder / "warehouse.duckdb"
    import_log(folder / "log", path, STUDY)
    return path


def _metrics(at: AppTest) -> dict:
    return {m.label: m.value for m in at.metric}


def test_the_budget_choice_narrows_the_study_as_sql_does(sweep_warehouse):
    whole = study_frame.load(sweep_warehouse, STUDY)
    budgets = [b for (b,) in sql(sweep_warehouse, "select distinct budget from runs order by 1")]
    assert whole.budgets == tuple(budgets) == (1.0, 3.0, 9.0)
    assert whole.runs == sql(sweep_warehouse, "select count(*) from runs")[0][0]
    top = whole.chosen(TOP)
    assert top.runs == sql(sweep_warehouse, "select count(distinct config_id) from runs")[0][0] < whole.runs
    assert top.runs == sql(sweep_warehouse, f"select count(*) from ({TOP_RUNS})")[0][0]
    ok_top = sql(sweep_warehouse, f"select count(*) from ({TOP_RUNS}) where status = 'ok' and test_accuracy > 0")
    assert study_views.histogram(top, scale="raw")["networks"].sum() == ok_top[0][0]
    for budget in budgets:
        one = whole.chosen(budget)
        assert one.runs == sql(sweep_warehouse, "select count(*) from runs where budget = ?", [budget])[0][0]
        assert "budget" not in [p.name for p in one.params]  # one option: no parameter
        ok = sql(sweep_warehouse, "select count(*) from runs where budget = ? and status = 'ok'", [budget])[0][0]
        assert study_views.selected_runs_count(one, None) == ok
    # budget is a parameter of the whole study and of the top choice, as the trellis and the filters use it
    assert whole.param("budget").labels == ("1", "3", "9") and top.param("budget").run_column
    groups, _ = study_views.option_means(top, None, primary="budget", secondary=None, normalized=False)
    per_budget = dict(sql(sweep_warehouse, f"""select budget, count(*) from ({TOP_RUNS})
                                               where status = 'ok' and test_accuracy is not null group by 1"""))
    optimizer = groups.filter(panel="optimizer")
    counts = {p: int(optimizer.filter(primary=p)["n"].sum()) for p in set(optimizer["primary"])}
    assert counts == {f"{b:g}": n for b, n in per_budget.items()}
    # the runs table shows budget once, as the run column
    table = study_views.selected_runs(top, None)
    assert "hp_budget" not in table.columns and sorted(set(table["budget"])) == sorted(per_budget)
    # normalized accuracy is per dataset over the chosen runs: the best top run is 1
    assert top.query("histogram", {"scale": "normalized", "bins": 10})["bin"].max() == 9
    with pytest.raises(study_frame.StudyError, match="no runs on budget 2"):
        whole.chosen(2.0)


def test_sidebar_budget_choice_reaches_every_page_and_the_url(monkeypatch, sweep_warehouse):
    at = run_app(monkeypatch, sweep_warehouse)  # Overview: the choice is settled and in the URL, not drawn
    assert at.session_state[STUDY_KEY] == STUDY and at.session_state[BUDGET_KEY] == TOP
    assert at.query_params["budget"] == "top" and not at.sidebar.selectbox
    open_page(at, "distribution")
    configs = sql(sweep_warehouse, "select count(distinct config_id) from runs")[0][0]
    evaluations = sql(sweep_warehouse, "select count(*) from runs")[0][0]
    picker = at.sidebar.selectbox(key=BUDGET_PICKER_KEY)
    per_budget = sql(sweep_warehouse, "select budget, count(*) from runs group by 1 order by 1")
    assert picker.options == [f"largest per configuration (n = {configs})"] + [
        f"budget {b:g} (n = {n})" for b, n in per_budget]
    assert f"{configs:,} networks of {evaluations:,} evaluations" in " ".join(c.value for c in at.sidebar.caption)
    assert at.query_params["budget"] == "top"
    assert _metrics(at)["Networks"] == f"{configs:,}"
    for page in ("combinations", "trellis", "runs"):
        open_page(at, page)
    ok_top = sql(sweep_warehouse, f"select count(*) from ({TOP_RUNS}) where status = 'ok'")[0][0]
    assert len(at.dataframe[0].value) == ok_top

    at.sidebar.selectbox(key=BUDGET_PICKER_KEY).set_value(3.0).run()
    assert at.query_params["budget"] == "3" and at.session_state[BUDGET_KEY] == 3.0
    on_3 = dict(sql(sweep_warehouse, "select status, count(*) from runs where budget = 3 group by 1"))
    assert len(at.dataframe[0].value) == on_3.get("ok", 0)
    assert f"{sum(on_3.values())} networks" in " ".join(c.value for c in at.sidebar.caption)
    open_page(at, "distribution")
    assert _metrics(at)["Networks"] == f"{sum(on_3.values()):,}"
    assert _metrics(at)["Failed"] == f"{on_3.get('failed', 0):,}"
    open_page(at, "trellis")
    assert "budget" not in at.selectbox(key="trellis.primary").options  # one budget: not a parameter


def test_a_link_chooses_the_budget_and_old_or_wrong_links_open_on_the_largest(monkeypatch, sweep_warehouse):
    at = run_app(monkeypatch, sweep_warehouse, study=STUDY, budget="9")
    assert at.session_state[BUDGET_KEY] == 9.0
    open_page(at, "distribution")
    assert _metrics(at)["Networks"] == str(sql(sweep_warehouse, "select count(*) from runs where budget = 9")[0][0])
    at = run_app(monkeypatch, sweep_warehouse, study=STUDY)  # a link from before budgets were in it
    assert at.session_state[BUDGET_KEY] == TOP and at.query_params["budget"] == "top"
    at = run_app(monkeypatch, sweep_warehouse, study=STUDY, budget="7")
    assert at.session_state[BUDGET_KEY] == TOP
    assert any("no runs on budget 7" in w.value for w in at.sidebar.warning)
    for value in ("large", "nan", "-inf", "9" * 500):
        at = run_app(monkeypatch, sweep_warehouse, study=STUDY, budget=value)
        assert not at.exception and at.session_state[BUDGET_KEY] == TOP, value
        assert any("budget=" in w.value and len(w.value) < 300 for w in at.sidebar.warning), value


def test_trellis_takes_budget_as_its_primary_parameter(monkeypatch, sweep_warehouse):
    at = run_app(monkeypatch, sweep_warehouse)
    open_page(at, "trellis")
    assert "budget" in at.selectbox(key="trellis.primary").options
    at.selectbox(key="trellis.primary").set_value("budget").run()
    assert not at.exception, at.exception
    assert len(at.get("vega_lite_chart")) == 1


def test_an_ensemble_has_no_budget_control(monkeypatch, tiny_warehouse):
    at = run_app(monkeypatch, tiny_warehouse)
    assert not [s for s in at.sidebar.selectbox if s.key == BUDGET_PICKER_KEY]
    assert "budget" not in at.query_params and at.session_state[BUDGET_KEY] is None
    open_page(at, "trellis")
    assert "budget" not in at.selectbox(key="trellis.primary").options


def test_runs_table_leads_with_hyperparameters_and_hides_empty_columns(monkeypatch, tiny_warehouse, sweep_warehouse):
    at = open_page(run_app(monkeypatch, tiny_warehouse), "runs")
    columns = list(at.dataframe[0].value.columns)
    names = [n for (n,) in sql(tiny_warehouse, "select distinct name from hyperparameters order by 1")]
    assert sorted(columns[:len(names)]) == names and columns[len(names)] == "accuracy"
    empty = [c for c in ("bracket", "round", "budget", "config_id", "sampled_as")
             if sql(tiny_warehouse, f"select count({c}) from runs")[0][0] == 0]
    assert empty and not set(empty) & set(columns)
    at = open_page(run_app(monkeypatch, sweep_warehouse), "runs")
    columns = list(at.dataframe[0].value.columns)
    names = [n for (n,) in sql(sweep_warehouse, "select distinct name from hyperparameters order by 1")]
    assert sorted(columns[:len(names)]) == names
    assert {"bracket", "round", "budget", "config_id"} <= set(columns)


def test_a_missing_dataset_shows_as_not_recorded(monkeypatch, sweep_warehouse):
    assert sql(sweep_warehouse, "select count(*) from runs where dataset is not null") == [(0,)]
    at = open_page(run_app(monkeypatch, sweep_warehouse), "runs")
    assert set(at.dataframe[0].value["dataset"]) == {NOT_RECORDED}
    frame = study_frame.load(sweep_warehouse, STUDY)
    assert frame.params[0].labels == (NOT_RECORDED,)
    assert set(study_views.status_counts(frame, None)["dataset"]) == {NOT_RECORDED}
    at = open_page(at, "overview")
    assert set(at.dataframe[1].value["dataset"]) == {NOT_RECORDED}
    assert _metrics(at)["Datasets"] == "0"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_our_own_bohb_sweep_shows_each_configuration_once(monkeypatch, tmp_path):
    from pipeline import bohb
    from tests.test_bohb import TINY_SWEEP

    path = tmp_path / "w.duckdb"
    bohb.main(["--study", "own", "--iterations", "2", "--warehouse", str(path), *TINY_SWEEP])
    at = open_page(run_app(monkeypatch, path), "distribution")
    configs = sql(path, "select count(distinct config_id) from runs")[0][0]
    assert _metrics(at)["Networks"] == f"{configs:,}" and configs < sql(path, "select count(*) from runs")[0][0]
    largest = sql(path, "select max(budget), count(*) from runs group by budget order by 1 desc limit 1")[0]
    at.sidebar.selectbox(key=BUDGET_PICKER_KEY).set_value(largest[0]).run()
    assert _metrics(at)["Networks"] == f"{largest[1]:,}" and at.query_params["budget"] == f"{largest[0]:g}"
    open_page(at, "trellis")
    open_page(at, "runs")
