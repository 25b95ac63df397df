"""The Sweep page's "Sweeps of the same problem": the demo's three sweeps side by side, checked against a plain
Python replay of each sweep's evaluations in the order they finished."""

import pytest

from tests.app.apptest import open_page, run_app
from tests.conftest import sql

SWEEPS = ("demo-bohb", "demo-hyperband", "demo-random-search")


def _replay(path, study: str) -> dict:
    """Incumbent (lowest loss on the largest budget so far) after every evaluation, by hand."""
    rows = sql(path, """select r.budget, r.status, r.loss, r.test_accuracy, r.sampled_as,
                               (s.settings->>'max_budget')::double
                        from runs r join studies s using (study_id) where s.name = ?
                        order by r.finished_at, r.trial""", [study])
    spent, best, steps = 0.0, None, []
    for budget, status, loss, accuracy, _, max_budget in rows:
        spent += budget
        if status == "ok" and budget >= max_budget and (best is None or loss < best[0]):
            best = (loss, accuracy, spent)
            steps.append((spent, accuracy))
    sampled = [s for *_, s, _ in rows if s != "promoted"]
    return {"evaluations": len(rows), "spent": spent, "incumbent": best[1], "found_at": best[2], "steps": steps,
            "model_based": sampled.count("model_based") / len(sampled)}


@pytest.mark.parametrize("study", SWEEPS)
def test_each_sweep_of_the_problem_against_a_replay(monkeypatch, demo_warehouse, study):
    at = open_page(run_app(monkeypatch, demo_warehouse, study=study), "sweep")
    assert any(h.value == "Sweeps of the same problem" for h in at.subheader)
    table = next(d.value for d in at.dataframe if "incumbent_accuracy" in d.value.columns)
    assert sorted(table["study"]) == list(SWEEPS)
    for row in table.to_dict("records"):
        expected = _replay(demo_warehouse, row["study"])
        assert row["evaluations"] == expected["evaluations"] and row["epochs_spent"] == expected["spent"]
        assert row["incumbent_accuracy"] == expected["incumbent"]
        assert row["epochs_to_incumbent"] == expected["found_at"]
        assert row["model_based_share"] == pytest.approx(expected["model_based"])
    assert any("incumbent_accuracy" in chart.proto.spec for chart in at.get("vega_lite_chart"))


def test_the_incumbent_paths_are_the_replayed_steps(demo_warehouse):
    from pipeline.app import sweep_views
    from pipeline.warehouse import store

    with store.read(demo_warehouse) as con:
        _, path = sweep_views.compared(store.query(con, "sweeps_compared", {"study": "demo-bohb"}))
    for study in SWEEPS:
        expected = _replay(demo_warehouse, study)
        drawn = path.filter(path["study"] == study).sort("evaluations_done")
        # every change of incumbent is drawn, and the line runs on to what the sweep spent in the end
        assert list(zip(drawn["epochs_spent"], drawn["incumbent_accuracy"]))[:len(expected["steps"])] == \
            expected["steps"]
        assert drawn["epochs_spent"][-1] == expected["spent"]


def test_an_ensemble_shows_no_comparison(monkeypatch, demo_warehouse):
    at = open_page(run_app(monkeypatch, demo_warehouse, study="demo-ensemble"), "sweep")
    assert not any(h.value == "Sweeps of the same problem" for h in at.subheader)
