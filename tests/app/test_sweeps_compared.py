"""The Sweep page's "Sweeps of the same problem": the demo's three sweeps side by side, checked against a plain
Python replay of each sweep's evaluations in the order they finished."""

import pytest

from tests.app.apptest import open_page, run_app
from tests.conftest import sql

SWEEPS = ("demo-bohb", "demo-hyperband", "demo-random-search")


def _replay(path, study: str) -> dict:
    """Incumbent (hpbandster's trajectory: lowest loss on the largest budget finished so far, a larger budget
    taking over) after every evaluation, by hand."""
    rows = sql(path, """select r.budget, r.status, r.loss, r.test_accuracy, r.sampled_as
                        from runs r join studies s using (study_id) where s.name = ?
                        order by r.finished_at, r.trial""", [study])
    spent, best, steps = 0.0, None, []
    for budget, status, loss, accuracy, _ in rows:
        spent += budget
        if status == "ok" and (best is None or budget > best[3] or (budget == best[3] and loss < best[0])):
            best = (loss, accuracy, spent, budget)
            steps.append((spent, accuracy))
    sampled = [s for *_, s in rows if s != "promoted"]
    return {"evaluations": len(rows), "spent": spent, "incumbent": best[1], "found_at": best[2], "steps": steps,
            "model_based": sampled.count("model_based") / len(sampled)}


@pytest.mark.parametrize("study", SWEEPS)
def test_each_sweep_of_the_problem_against_a_replay(monkeypatch, demo_warehouse, study):
    at = open_page(run_app(monkeypatch, demo_warehouse, study=study), "sweep")
    assert any(h.value == "Sweeps of the same problem" for h in at.subheader)
    table = next(d.value for d in at.dataframe if "best_accuracy" in d.value.columns)
    assert sorted(table["study"]) == list(SWEEPS)
    for row in table.to_dict("records"):
        expected = _replay(demo_warehouse, row["study"])
        assert row["evaluations"] == expected["evaluations"] and row["spent"] == expected["spent"]
        assert row["best_accuracy"] == expected["incumbent"]
        assert row["at_spent"] == expected["found_at"]
        assert row["model_based_share"] == pytest.approx(expected["model_based"])
    assert any("incumbent's test accuracy" in chart.proto.spec for chart in at.get("vega_lite_chart"))


def test_the_incumbent_paths_are_the_replayed_steps(demo_warehouse):
    from pipeline.app import compare_views
    from pipeline.warehouse import store

    with store.read(demo_warehouse) as con:
        peers = store.query(con, "compare_peers", {"study": "demo-bohb"})["name"].to_list()
        steps = store.query(con, "compare_steps", {"studies": peers, "rule": "incumbent", "dataset": None})
    assert peers == list(SWEEPS)
    path, left_out = compare_views.curve(steps, "spent")
    assert not left_out
    for study in SWEEPS:
        expected = _replay(demo_warehouse, study)
        drawn = path.filter(path["study"] == study).sort("evaluation")
        # every change of incumbent is drawn, and the line runs on to what the sweep spent in the end
        assert list(zip(drawn["x"], drawn["accuracy"]))[:len(expected["steps"])] == expected["steps"]
        assert drawn["x"][-1] == expected["spent"]


def test_an_ensemble_shows_no_comparison(monkeypatch, demo_warehouse):
    at = open_page(run_app(monkeypatch, demo_warehouse, study="demo-ensemble"), "sweep")
    assert not any(h.value == "Sweeps of the same problem" for h in at.subheader)
