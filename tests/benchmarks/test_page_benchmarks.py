"""The page benchmarks' shared flags (pipeline/benchmarks/page_warehouses.py), and the server-side one run end to
end at a tiny size: every page, the sweep's included, rendered on a planted ensemble and a planted sweep."""

from __future__ import annotations

import re

import pytest

from pipeline.benchmarks import app as app_benchmark
from pipeline.benchmarks import browser as browser_benchmark
from pipeline.benchmarks import page_warehouses
from pipeline.benchmarks.page_warehouses import EVALUATIONS, NETWORKS, Warehouse
from tests.conftest import sql


def test_defaults_and_flags_name_the_warehouses():
    parse = lambda *argv: page_warehouses.parse("prog", "", list(argv), repeats_help="")  # noqa: E731
    assert parse().warehouses == (Warehouse(NETWORKS, 16_000), Warehouse(NETWORKS, 1_000_000),
                                  Warehouse(EVALUATIONS, 100_000))
    assert parse("--runs", "16000", "--sweep-evaluations", "0", "--repeats", "3") == page_warehouses.Arguments(
        (Warehouse(NETWORKS, 16_000),), 3)
    assert parse("--runs", "2000", "--sweep-evaluations", "3000").warehouses == (
        Warehouse(NETWORKS, 2_000), Warehouse(EVALUATIONS, 3_000))


@pytest.mark.parametrize("main", [app_benchmark.main, browser_benchmark.main], ids=["app", "browser"])
@pytest.mark.parametrize("value", ["-1", "nan", "1000001", "many"])
def test_sweep_evaluations_refused_with_a_message(main, value, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--sweep-evaluations", value])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "--sweep-evaluations" in err and "Traceback" not in err, err


def test_a_warehouse_is_built_in_a_child_process(tmp_path):
    path = Warehouse(EVALUATIONS, 50).build(tmp_path)
    assert sql(path, "select s.name, s.kind, count(*) from runs join studies s using (study_id) group by all") == [
        ("planted-sweep", "bohb", 50)]
    path = Warehouse(NETWORKS, 30).build(tmp_path)
    assert sql(path, "select s.name, s.kind, count(*) from runs join studies s using (study_id) group by all") == [
        ("networks", "import", 30)]


@pytest.mark.slow
def test_server_side_benchmark_renders_every_page_on_both_warehouses(capsys, monkeypatch):
    monkeypatch.setattr(app_benchmark, "WARM_UP", (Warehouse(NETWORKS, 50),))  # what is timed is not checked here
    app_benchmark.main(["--runs", "300", "--sweep-evaluations", "400", "--repeats", "1"])
    out = capsys.readouterr().out
    tables = re.split(r"^(300 networks|400 sweep evaluations): warehouse built", out, flags=re.M)
    assert tables[1::2] == ["300 networks", "400 sweep evaluations"], out
    for table in tables[2::2]:
        pages = re.findall(r"^  (\w+) +[\d,]+ ms +[\d,]+ ms +[\d,]+ ms +[\d.]+ [\d.]+ [\d.]+", table, flags=re.M)
        assert pages == list(app_benchmark.PAGES), table
    assert "peak memory of the app" in out


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not browser_benchmark.CHROMIUM.exists(), reason="Debian's chromium is absent (bash .ci/setup)")
def test_browser_benchmark_sees_every_page_drawn_on_a_sweep(tmp_path):
    """One round of clicks on a small planted sweep: every page, the Sweep page's charts included, counts as
    drawn (a page that did not draw would stop the benchmark with its name)."""
    path = Warehouse(EVALUATIONS, 400).build(tmp_path)
    with browser_benchmark.serving(path, tmp_path / "streamlit.log") as url:
        first, times = browser_benchmark.time_pages(url, 1, sweep=True)
    assert list(times) == list(browser_benchmark.PAGES) and all(len(t) == 1 and t[0] > 0 for t in times.values())
    assert first > 0
