"""The Embedding page under AppTest on the demo's BOHB, Hyperband and random-search sweeps, a real imported
hpbandster log and the demo ensemble: the points it sends to the browser checked against scikit-learn's PCA of
features built from straight SQL (tests/analysis/test_embedding.py's reference), their colour against SQL's
accuracy and scipy's ranks, the n it states against an SQL count; t-SNE only on request and kept; messages
in words where a map cannot be made."""

from __future__ import annotations

import io
import json

import numpy as np
import polars as pl
import pyarrow.ipc
import pytest
from scipy.stats import rankdata

from pipeline.analysis import embedding
from pipeline.analysis.embedding import DRAW_LIMIT, TSNE_MIN_RUNS
from tests.analysis.test_embedding import reference, same_up_to_sign, sklearn_pca
from tests.app.apptest import open_page, run_app
from tests.conftest import sql
from tests.hpbandster_logs import demo_with_log

IMPORTED = "imported"
SWEEPS = ["demo-bohb", "demo-hyperband", "demo-random-search", IMPORTED]
METHOD_KEY = "embedding.method"


@pytest.fixture(scope="module")
def warehouse(demo_warehouse, tmp_path_factory):
    """The demo (an ensemble and three sweeps) with a real BOHB log imported beside it."""
    return demo_with_log(demo_warehouse, tmp_path_factory.mktemp("embedding-page"), IMPORTED, iterations=4)


def _page(monkeypatch, path, study: str, **query):
    return open_page(run_app(monkeypatch, path, study=study, **query), "embedding")


def _points(at) -> pl.DataFrame:
    """The chart's points with its tooltip titles as column names (x, y, colour and `selected` as they are)."""
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    data = pl.from_arrow(pyarrow.ipc.open_stream(io.BytesIO(charts[0].proto.datasets[0].data.data)).read_all())
    return data.rename({t["field"]: t["title"] for t in spec["encoding"]["tooltip"]})


def _text(at) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def _ranks(path, ids: np.ndarray) -> np.ndarray:
    """Rank within dataset of the study's finished runs `ids`, (average rank - 0.5) / n, by scipy."""
    rows = sql(path, "select run_id, coalesce(dataset, '?'), test_accuracy from runs where run_id in "
                     "(select unnest(?)) order by run_id", [ids.tolist()])
    datasets = np.array([r[1] for r in rows])
    accuracy = np.array([r[2] for r in rows])
    ranks = np.empty(len(rows))
    for name in set(datasets):
        mine = datasets == name
        ranks[mine] = (rankdata(accuracy[mine]) - 0.5) / mine.sum()
    return ranks


@pytest.mark.parametrize("study", [*SWEEPS, "demo-ensemble"])
def test_pca_points_are_scikit_learns(monkeypatch, warehouse, study):
    """Each drawn point at its place in sklearn's PCA (full SVD) of SQL-built features, up to each axis' sign,
    coloured by its raw accuracy; all finished networks drawn (at most DRAW_LIMIT) and the n said is SQL's."""
    at = _page(monkeypatch, warehouse, study, scale="raw")
    sweep = study != "demo-ensemble"
    ref = reference(warehouse, study, budget="top" if sweep else None)
    points = _points(at).sort("run id")
    n = len(ref["ids"])
    assert points.height == min(n, DRAW_LIMIT) and n >= 10
    assert set(points["run id"]) <= set(ref["ids"].tolist())
    keep = np.isin(ref["ids"], points["run id"].to_numpy())
    coords, ratio, _ = sklearn_pca(ref)
    assert same_up_to_sign(points.select("x", "y").to_numpy(), coords[keep])
    assert np.allclose(points["colour"].to_numpy(), ref["accuracy"][keep])
    assert np.allclose(points["test accuracy"].to_numpy(), ref["accuracy"][keep])
    text = _text(at)
    assert f"fit on all {n:,}" in text
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert spec["encoding"]["x"]["title"].startswith(f"PC1 · {ratio[0]:.0%} of the variance")
    assert spec["encoding"]["y"]["title"].startswith(f"PC2 · {ratio[1]:.0%} of the variance")
    assert spec["encoding"]["color"]["scale"] == {"scheme": "viridis", "domain": [0, 1]}
    # the tooltip: budget only where the study has budgets (the ensemble has none), every hyperparameter
    hyperparameters = {r[0] for r in sql(warehouse, """select distinct h.name from hyperparameters h join runs r
        using (run_id) join studies s using (study_id) where s.name = ?""", [study])}
    assert ("budget" in points.columns) == sweep and hyperparameters <= set(points.columns)
    if sweep:  # 'top': each configuration on its largest budget, as SQL has it
        top = dict(sql(warehouse, "select run_id, budget from runs where run_id in (select unnest(?))",
                       [points["run id"].to_list()]))
        assert points["budget"].to_list() == [top[i] for i in points["run id"]]
    shares = at.dataframe[0].value
    assert abs(shares["share of PC1"].sum() - 1) < 1e-9 and abs(shares["share of PC2"].sum() - 1) < 1e-9


def test_colour_follows_the_sidebar_scale_and_the_selection_greys_the_rest(monkeypatch, warehouse):
    """On the default scale (rank within dataset) the colour is scipy's rank; with a selection on it, exactly
    the networks in its range are coloured (`selected`), drawn above the rest."""
    at = _page(monkeypatch, warehouse, "demo-ensemble")
    points = _points(at).sort("run id")
    assert np.allclose(points["colour"].to_numpy(), _ranks(warehouse, points["run id"].to_numpy()))
    assert "rank within dataset" in _text(at)
    at = _page(monkeypatch, warehouse, "demo-ensemble", scale="rank", lo="0.9", hi="1")
    drawn = _points(at)
    ranks = dict(zip(points["run id"], _ranks(warehouse, points["run id"].to_numpy())))
    want = [0.9 <= ranks[i] <= 1 for i in drawn["run id"]]
    assert drawn["selected"].to_list() == want and 0 < sum(want) < len(want)
    assert drawn["selected"].to_list() == sorted(want)  # the selection on top: drawn last
    assert "the other networks in grey" in _text(at)


def test_tsne_only_on_request_and_kept_per_study_version(monkeypatch, warehouse):
    """The page opens on PCA without fitting t-SNE; t-SNE is fitted once when asked for, and the next reruns
    (and another accuracy scale) show the same map without fitting it again. The fits are counted by a
    wrapper around the real embedding.tsne (AppTest runs the page in this process)."""
    fits = []

    def counted(*args, **kwargs):
        fits.append(1)
        return real(*args, **kwargs)

    real = embedding.tsne
    monkeypatch.setattr(embedding, "tsne", counted)
    at = _page(monkeypatch, warehouse, IMPORTED)
    assert at.radio(key=METHOD_KEY).value == "PCA" and "t-SNE (scikit-learn" not in _text(at)
    at.run()
    assert not fits
    at.radio(key=METHOD_KEY).set_value("t-SNE").run()
    assert not at.exception and not at.error and len(fits) == 1
    first = _points(at).sort("run id")
    said = [c.value for c in at.caption if c.value.startswith("t-SNE")]
    n = len(reference(warehouse, IMPORTED, budget="top")["ids"])
    assert len(said) == 1 and f"of all {n:,} finished networks: took" in said[0]
    at.run()
    assert [c.value for c in at.caption if c.value.startswith("t-SNE")] == said
    assert _points(at).sort("run id").select("run id", "x", "y").equals(first.select("run id", "x", "y"))
    at.sidebar.radio(key="app.scale_picker").set_value("raw").run()
    assert [c.value for c in at.caption if c.value.startswith("t-SNE")] == said
    again = _points(at).sort("run id")
    assert again.select("x", "y").equals(first.select("x", "y"))
    assert np.allclose(again["colour"].to_numpy(), reference(warehouse, IMPORTED, budget="top")["accuracy"])
    assert len(fits) == 1


def test_a_budget_with_too_few_networks_says_so(monkeypatch, warehouse):
    """The imported log's largest budget holds a few finished networks: t-SNE says in words how many it has
    and needs; PCA still draws them (at least three)."""
    per_budget = dict(sql(warehouse, """select r.budget, count(*) from runs r join studies s using (study_id)
        where s.name = ? and r.status = 'ok' and r.test_accuracy is not null group by 1""", [IMPORTED]))
    budget, n = min(per_budget.items(), key=lambda item: item[1])
    assert 3 <= n < TSNE_MIN_RUNS, per_budget
    at = _page(monkeypatch, warehouse, IMPORTED, budget=f"{budget:g}")
    assert _points(at).height == n
    at.radio(key=METHOD_KEY).set_value("t-SNE").run()
    assert not at.exception and not at.error
    assert [w.value for w in at.warning] == [
        f"No t-SNE map for this choice: t-SNE needs at least {TSNE_MIN_RUNS} finished networks; this choice has {n}."]
    assert not at.get("vega_lite_chart")
