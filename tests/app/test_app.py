"""The app's overview page with AppTest: on the demo warehouse, a generated one, and bad ones."""

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from pipeline.warehouse import store
from tests.conftest import ROOT, sql


def _run(monkeypatch, path) -> AppTest:
    monkeypatch.setenv(store.PATH_ENV_VAR, str(path))
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.mark.parametrize("fixture", ["demo_warehouse", "tiny_warehouse"])
def test_overview_shows_what_the_warehouse_holds(monkeypatch, request, fixture):
    path = request.getfixturevalue(fixture)
    at = _run(monkeypatch, path)
    assert not at.exception
    assert not at.error
    (n_studies, n_runs, n_datasets, best), = sql(path, """select (select count(*) from studies), count(*),
        count(distinct dataset), max(test_accuracy) from runs""")
    assert _metric(at, "Studies") == str(n_studies)
    assert _metric(at, "Networks") == f"{n_runs:,}"
    assert _metric(at, "Datasets") == str(n_datasets)
    assert _metric(at, "Best test accuracy") == f"{best:.3f}"
    studies = at.dataframe[0].value
    assert list(studies["study"]) == [r[0] for r in sql(path, "select name from studies order by created_at")]
    per_dataset = at.dataframe[1].value
    direct = sql(path, """select dataset, count(*) filter (where status = 'ok'),
                                 count(*) filter (where status = 'diverged'), count(*) filter (where status = 'failed'),
                                 max(test_accuracy) from runs group by 1 order by 1""")
    shown = per_dataset[["dataset", "ok", "diverged", "failed", "best_test_accuracy"]].itertuples(index=False)
    assert [tuple(row) for row in shown] == direct
    assert len(at.get("vega_lite_chart")) == 1


def test_missing_warehouse_says_how_to_get_one(monkeypatch, tmp_path):
    at = _run(monkeypatch, tmp_path / "absent.duckdb")
    assert not at.exception
    assert "no warehouse at" in at.error[0].value
    assert "python -m pipeline.demo restore" in " ".join(m.value for m in at.markdown)


def test_a_file_that_is_not_a_warehouse_is_named(monkeypatch, tmp_path):
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).execute("create table t (x int)").close()
    at = _run(monkeypatch, other)
    assert not at.exception
    assert "not an experiment warehouse" in at.error[0].value


def test_overview_draws_no_study_controls_and_keeps_the_study_chosen(monkeypatch, tiny_warehouse):
    """Overview shows every study: a study picker, budget or scale there would change nothing on it."""
    from pipeline.app.state import STUDY_KEY
    from tests.app.apptest import open_page

    at = _run(monkeypatch, tiny_warehouse)
    assert not at.sidebar.selectbox and not at.sidebar.radio
    at.session_state[STUDY_KEY] = "tiny"
    at = open_page(at, "trellis")
    assert [s.label for s in at.sidebar.selectbox] == ["Study"] and at.sidebar.radio[0].label == "Accuracy scale"
    at = open_page(at, "overview")
    assert not at.sidebar.selectbox and at.session_state[STUDY_KEY] == "tiny"
    assert at.query_params["study"] == "tiny"  # a link from Overview still carries the study
