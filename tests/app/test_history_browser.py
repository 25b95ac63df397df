"""The Exploration history chart as Chromium drew it (tests/app/chart_reader.py), checked against SQL on the warehouse
file: every panel under its own title (the hyperparameter's name), each evaluation a point and each promotion a
dashed segment in every panel, the log axis labelled with round values, the numbers the page states equal to SQL's,
the chart and its legends inside the main column.

    .venv/bin/python -m pytest tests/app/test_history_browser.py -q -p no:cacheprovider
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from pipeline.benchmarks.browser import CHROMIUM, serving
from tests.app import chart_reader as reader
from tests.app.test_browser import _settled
from tests.conftest import sql

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: install Debian's chromium (.ci/setup)"),
]

STUDY = "demo-bohb"
BEST = "best test accuracy so far"


@pytest.fixture(scope="module")
def served(demo_warehouse, tmp_path_factory):
    folder = tmp_path_factory.mktemp("history-browser")
    with serving(demo_warehouse, folder / "streamlit.log") as url:
        yield url, demo_warehouse


def _chart(page: Page) -> reader.Chart:
    _settled(page, "Exploration history", chart=True)
    page.wait_for_timeout(300)  # vega's last layout pass after the marks exist
    charts = reader.read_charts(page, title="history")
    assert len(charts) == 1
    return charts[0]


def _metric(page: Page, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


@pytest.mark.timeout(300)
def test_every_panel_is_drawn_under_its_title_with_sqls_evaluations_and_promotions(served, page):
    url, path = served
    names = {name for (name,) in sql(path, """
        select distinct h.name from hyperparameters h join runs r using (run_id) join studies s using (study_id)
        where s.name = ?""", [STUDY])}
    evaluations, configs = sql(path, """
        select count(*), count(distinct coalesce(config_id, run_id::varchar))
        from runs r join studies s using (study_id) where s.name = ?""", [STUDY])[0]
    (promotions,) = sql(path, """
        with paired as (
            select budget, lead(budget) over (partition by config_id order by budget, started_at, run_id) as next
            from runs r join studies s using (study_id) where s.name = ?)
        select count(*) from paired where next > budget""", [STUDY])[0]
    page.goto(f"{url}/history?study={STUDY}")
    chart = _chart(page)

    # the rows' titles: the best-so-far line, then every hyperparameter (the space says learning_rate is log)
    titles = [text for text, _, _ in sorted(chart.row_headers, key=lambda h: h[2])]
    assert titles[0] == BEST
    assert sorted(titles[1:]) == sorted(n + (" (log scale)" if n == "learning_rate" else "") for n in names)

    # every mark sits in the row titled with its hyperparameter; each row has every evaluation and promotion
    title_of = {group: text.removesuffix(" (log scale)") for text, _, group in chart.row_headers}
    points = [m for m in chart.marks if m.type == "point" and "hyperparameter" in m.fields]
    rules = [m for m in chart.marks if m.type == "rule mark" and "to budget" in m.fields]
    assert all(title_of[m.group] == m.fields["hyperparameter"] for m in points)
    for name in names:
        group = next(g for g, t in title_of.items() if t == name)
        assert sum(m.group == group for m in points) == evaluations, name
        assert sum(m.group == group for m in rules) == promotions, name
        finals = [m for m in points if m.group == group and m.fields.get("evaluation kind") == "final"]
        assert len(finals) == configs, name
        labels = set().union(*(a.texts for a in chart.axes if a.group == group and a.orient == "Y"))
        if name == "learning_rate":
            assert {"0.0001", "0.001", "0.01"} & labels and all(float(t) > 0 for t in labels), labels
        if name == "momentum":  # conditional on the optimizer: its inactive row is labelled
            assert "(inactive)" in labels
        if name == "optimizer":
            assert {"adam", "rms", "sgd"} <= labels
    best_line = [m for m in chart.marks if m.type == "line mark"]
    assert len(best_line) == 1 and title_of[best_line[0].group] == BEST

    # the numbers the page states, against SQL; the chart and its legends fit the main column
    assert _metric(page, "Evaluations") == f"{evaluations:,}"
    assert _metric(page, "Promotions") == f"{promotions:,}"
    assert not reader.off_screen(chart)
    assert {legend.title for legend in chart.legends} >= {"accuracy rank", "sampled as", "evaluation"}
