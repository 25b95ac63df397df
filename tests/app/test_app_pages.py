"""Every analysis page with AppTest, on the demo and a generated warehouse; the selection across pages and URL."""

import json
import re

import duckdb
import pytest
from scipy.stats import rankdata

from pipeline.app.charts import STATUS_COLORS
from pipeline.app.selection import Selection
from pipeline.app.state import SELECTION_KEY, STUDY_KEY
from pipeline.warehouse import store
from tests.app.apptest import open_page, run_app
from tests.conftest import ROOT, sql

PAGES = ["distribution", "combinations", "trellis", "runs", "sql"]
ALL_PAGES = sorted(p.stem for p in (ROOT / "app_pages").glob("*.py"))
# pipeline/app/state.py's rule: `app.<name>` for what pages share, `<page>.<name>` for a page's own
KEY_RULE = re.compile(rf"(app|{'|'.join(ALL_PAGES)})\.\S.*")
STUDIES = [("demo_warehouse", "demo-ensemble"), ("tiny_warehouse", "tiny")]


def _selected(path, study: str, lo: float, hi: float) -> int:
    return sql(path, """select count(*) from runs r join studies s using (study_id) where s.name = ?
                        and r.status = 'ok' and r.test_accuracy between ? and ?""", [study, lo, hi])[0][0]


@pytest.mark.parametrize("fixture,study", STUDIES)
def test_every_page_renders_with_its_chart_or_table(monkeypatch, request, fixture, study):
    path = request.getfixturevalue(fixture)
    at = run_app(monkeypatch, path)
    newest = sql(path, "select name from studies order by created_at desc, study_id desc limit 1")[0][0]
    assert at.session_state[STUDY_KEY] == newest  # the newest study is the default
    at.session_state[STUDY_KEY] = study
    open_page(at, "distribution")
    by_status = dict(sql(path, "select status, count(*) from runs join studies using (study_id) where name = ? "
                               "group by 1", [study]))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Networks"] == f"{sum(by_status.values()):,}"
    assert metrics["Finished (ok)"] == f"{by_status.get('ok', 0):,}"
    assert metrics["Diverged"] == f"{by_status.get('diverged', 0):,}"
    assert len(at.get("vega_lite_chart")) >= 1
    open_page(at, "combinations")
    assert len(at.get("vega_lite_chart")) == 1
    assert f"{_selected(path, study, 0, 1):,} networks" in " ".join(m.value for m in at.markdown)
    open_page(at, "trellis")
    assert len(at.get("vega_lite_chart")) == 1
    open_page(at, "runs")
    assert len(at.dataframe[0].value) == min(_selected(path, study, 0, 1), 1000)
    open_page(at, "sql")


def _rank_selected(path, study: str, lo: float, hi: float) -> int:
    """Finished runs whose percentile within their dataset, (average rank - 0.5) / n, is in lo..hi: scipy's ranks."""
    rows = sql(path, """select r.dataset, r.test_accuracy from runs r join studies s using (study_id)
                        where s.name = ? and r.status = 'ok' and r.test_accuracy is not null""", [study])
    by_dataset: dict = {}
    for dataset, accuracy in rows:
        by_dataset.setdefault(dataset, []).append(accuracy)
    return sum(int(((lo <= p) & (p <= hi)).sum()) for p in
               ((rankdata(values) - 0.5) / len(values) for values in by_dataset.values()))


@pytest.mark.parametrize("scale", ["rank", "normalized", "raw"])
def test_a_brush_becomes_the_selection_of_every_page_and_the_url(monkeypatch, demo_warehouse, scale):
    """A brush on the scale shown (rank, the default, or another one picked in the sidebar), in every page and
    the URL; counted independently (scipy's average ranks per dataset, min-max per dataset, raw)."""
    at = run_app(monkeypatch, demo_warehouse, study="demo-ensemble")
    open_page(at, "distribution")
    assert at.query_params["scale"] == "rank"  # the default: ranges per dataset
    at.sidebar.radio(key="app.scale_picker").set_value(scale).run()
    at.session_state["distribution.histogram"] = {"selection": {"brush": {"x0": [0.9, 0.97]}}}
    open_page(at, "distribution")
    assert at.session_state[SELECTION_KEY] == Selection(0.9, 0.97, scale)
    assert (at.query_params["scale"], at.query_params["lo"], at.query_params["hi"]) == (scale, "0.9", "0.97")
    expected = {"rank": _rank_selected, "normalized": _normalized_selected, "raw": _selected}[scale](
        demo_warehouse, "demo-ensemble", 0.9, 0.97)
    label = Selection(0.9, 0.97, scale).label
    assert any(f"{expected:,}" in s.value and label in s.value for s in at.success)
    for page in ("combinations", "trellis", "runs"):
        open_page(at, page)
        assert f"Selection: {label}" in " ".join(i.value for i in at.sidebar.info)
        assert at.sidebar.radio(key="app.scale_picker").disabled  # the range is on this scale
    assert len(at.dataframe[0].value) == expected  # the runs table, the last page opened
    open_page(at, "combinations")
    assert f"**{label}** · {expected:,} networks" in " ".join(m.value for m in at.markdown)
    at.sidebar.button(key="app.clear_selection").click().run()
    assert at.session_state[SELECTION_KEY] is None and "lo" not in at.query_params


def _normalized_selected(path, study: str, lo: float, hi: float) -> int:
    return sql(path, """with n as (select (test_accuracy - min(test_accuracy) over (partition by dataset))
        / (max(test_accuracy) over (partition by dataset) - min(test_accuracy) over (partition by dataset)) as x
        from runs r join studies s using (study_id) where s.name = ? and r.status = 'ok')
        select count(*) from n where x between ? and ?""", [study, lo, hi])[0][0]


def test_a_shared_link_restores_study_and_normalized_selection(monkeypatch, demo_ensemble_warehouse):
    at = run_app(monkeypatch, demo_ensemble_warehouse, study="demo-ensemble", scale="normalized", lo="0.5", hi="1")
    assert at.session_state[SELECTION_KEY] == Selection(0.5, 1.0, True)
    open_page(at, "runs")
    # independent normalization: per dataset (x - min) / (max - min) over the study's runs
    expected = sql(demo_ensemble_warehouse, """with n as (select
        (test_accuracy - min(test_accuracy) over (partition by dataset))
        / (max(test_accuracy) over (partition by dataset) - min(test_accuracy) over (partition by dataset)) as x
        from runs where status = 'ok') select count(*) from n where x between 0.5 and 1""")[0][0]
    assert "normalized test accuracy 0.500 – 1.000" in at.caption[0].value
    assert at.caption[0].value.startswith(f"{expected:,} networks")


def test_a_bad_link_is_explained_and_ignored(monkeypatch, demo_warehouse):
    at = run_app(monkeypatch, demo_warehouse, study="nope", lo="high", hi="1")
    assert not at.exception
    warnings = " ".join(w.value for w in at.sidebar.warning)
    assert "study 'nope' is not in this warehouse" in warnings and "needs two numbers" in warnings
    assert at.session_state[SELECTION_KEY] is None


def test_an_empty_selection_says_so_on_every_page(monkeypatch, demo_warehouse):
    at = run_app(monkeypatch, demo_warehouse, study="demo-ensemble", lo="0.0", hi="0.001")
    for page in ("combinations", "trellis", "runs"):
        open_page(at, page)
        assert any("no finished network" in w.value.lower() for w in at.warning), page


def test_heatmap_lift_comparison_and_drill_down(monkeypatch, demo_ensemble_warehouse):
    at = run_app(monkeypatch, demo_ensemble_warehouse, study="demo-ensemble", lo="0.9", hi="1")
    at.session_state["combinations.matrix_a"] = {"selection": {"cell": [
        {"a": "dataset", "b": "optimizer", "option_a": "digits", "option_b": "adam"}]}}
    open_page(at, "combinations")
    at.radio(key="combinations.heatmap_value").set_value("lift")
    at.radio(key="combinations.compare_with").set_value("the top 5 %").run()
    assert not at.exception
    assert len(at.get("vega_lite_chart")) == 2  # the selection and the top 5 %, one under the other
    assert any("false discovery rate" in c.value for c in at.caption)
    assert "Lift against independence" in " ".join(m.value for m in at.markdown)  # the default, said in words
    at.radio(key="combinations.lift_against").set_value("study").run()
    assert not at.exception and "Lift against the whole study" in " ".join(m.value for m in at.markdown)
    drilled = at.dataframe[0].value
    direct = sql(demo_ensemble_warehouse, """select count(*) from runs r join hyperparameters h using (run_id)
        where h.name = 'optimizer' and h.value = 'adam' and r.dataset = 'digits' and r.status = 'ok'
        and r.test_accuracy between 0.9 and 1""")[0][0]
    assert len(drilled) == direct > 0
    at.toggle(key="combinations.only_significant").set_value(True).run()
    assert not at.exception


def test_trellis_with_another_primary_and_a_secondary(monkeypatch, demo_warehouse):
    at = run_app(monkeypatch, demo_warehouse, study="demo-ensemble")
    open_page(at, "trellis")
    at.selectbox(key="trellis.primary").set_value("optimizer").run()
    at.selectbox(key="trellis.secondary").set_value("batch_norm").run()
    at.sidebar.radio(key="app.scale_picker").set_value("normalized").run()  # the scale of every page
    assert not at.exception and len(at.get("vega_lite_chart")) == 1
    assert "normalized per dataset" in " ".join(m.value for m in at.markdown)
    assert "Student-t 95 % confidence interval" in " ".join(c.value for c in at.caption)


def test_every_session_state_key_names_its_page_or_the_app(monkeypatch, demo_warehouse):
    """Every page run, with the widgets that only appear on demand shown too; no key is bare. Keys are
    collected after every page: Streamlit forgets the widgets of a page once another one is drawn."""
    at = run_app(monkeypatch, demo_warehouse, study="demo-ensemble")
    at.session_state["distribution.histogram"] = {"selection": {"brush": {"x0": [0.5, 1.0]}}}
    keys = set()
    for page in ALL_PAGES:
        keys |= set(open_page(at, page).session_state.keys())
    open_page(at, "combinations").radio(key="combinations.compare_with").set_value("another range").run()
    assert not at.exception
    keys |= set(at.session_state.keys())
    assert {"app.study", "app.selection", "distribution.last_brush", "combinations.compare_range",
            "runs.order", "sql.query"} <= keys
    assert sorted(k for k in keys if not KEY_RULE.fullmatch(k)) == []
    assert at.query_params["study"] == "demo-ensemble" and at.query_params["lo"] == "0.5"  # the URL still mirrors


def _status_colors(spec) -> list[dict]:
    """Every color/fill/stroke encoding of the field `status` in a Vega-Lite spec, layers and facets included."""
    found = []
    if isinstance(spec, dict):
        for channel in ("color", "fill", "stroke"):
            encoding = spec.get(channel)
            if isinstance(encoding, dict) and encoding.get("field") == "status":
                found.append(encoding)
        spec = list(spec.values())
    if isinstance(spec, list):
        for part in spec:
            found += _status_colors(part)
    return found


def test_every_chart_colouring_by_status_uses_the_one_palette(monkeypatch, demo_warehouse):
    at = run_app(monkeypatch, demo_warehouse, study="demo-ensemble")
    encodings = []
    for page in ALL_PAGES:
        open_page(at, page)
        encodings += [e for chart in at.get("vega_lite_chart") for e in _status_colors(json.loads(chart.proto.spec))]
    assert len(encodings) >= 2  # the overview's networks per status, the distribution's diverged and failed
    for encoding in encodings:
        scale = encoding.get("scale", {})
        assert set(scale) == {"domain", "range"}, encoding
        assert dict(zip(scale["domain"], scale["range"], strict=True)).items() <= STATUS_COLORS.items(), encoding


@pytest.mark.parametrize("page", PAGES)
def test_a_missing_warehouse_is_a_message_on_every_page(monkeypatch, tmp_path, page):
    at = run_app(monkeypatch, tmp_path / "absent.duckdb")
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception
    assert at.error and ("no warehouse at" in at.error[0].value.lower())


def test_an_empty_warehouse_says_how_to_fill_it(monkeypatch, tmp_path):
    path = tmp_path / "empty.duckdb"
    with store.write(path):
        pass
    at = run_app(monkeypatch, path)
    at.switch_page("app_pages/trellis.py").run()
    assert not at.exception
    assert "holds no study yet" in at.info[0].value


def test_a_locked_warehouse_is_a_message(monkeypatch, tiny_warehouse, tmp_path):
    import shutil
    import subprocess
    import sys
    import time

    path = tmp_path / "locked.duckdb"
    shutil.copy(tiny_warehouse, path)
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(path)!r}); "
                               "print('held', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        at = run_app(monkeypatch, path)
        at.switch_page("app_pages/distribution.py").run(timeout=60)
        assert not at.exception
        assert "locked by another process" in at.error[0].value
        assert time.monotonic() - start < 30
    finally:
        holder.kill()
        holder.wait()
    assert duckdb.connect(str(path), read_only=True).sql("select count(*) from runs").fetchall()[0][0] == 24
