"""How long the Compare studies page takes with several big sweeps at once, server-side, and what it ships.

    .venv/bin/python -m pipeline.benchmarks.compare --evaluations 100000 --studies 3

Builds one warehouse in a temporary folder holding `--studies` planted BOHB sweeps of `--evaluations`
evaluations each (pipeline/benchmarks/planted_sweep.py, seeds 0, 1, ...: one problem, so the page opens on all
of them together), then renders app_pages/compare.py with Streamlit's AppTest (after one render of every x
choice on a small warehouse, so imports are done): `--repeats` times right after the file changed (every cache
misses: the queries compare_peers, compare_studies and compare_steps run again) and once more unchanged (a
rerun), for each x axis (evaluations, budget spent, wall time) and each rule. Prints the medians against the
page budget (1 s) and the rows the chart sends to the browser (change points and ends only). AppTest's own
overhead is included. Figures: BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from pipeline.benchmarks.page_warehouses import ROOT
from pipeline.core import limits
from pipeline.warehouse import store

BUDGET_MS = 1000.0
XS = ("evaluation", "spent", "seconds")
RULES = ("incumbent", "any")


def build(path: Path, evaluations: int, studies: int) -> None:
    from pipeline.benchmarks.planted_sweep import write_planted_sweep

    for seed in range(studies):
        write_planted_sweep(evaluations, path, study=f"planted-bohb-{seed}", seed=seed)


def _render(at, **widgets) -> float:
    for key, value in widgets.items():
        (at.toggle if key == "compare.log" else at.radio)(key=key).set_value(value)
    start = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - start
    if at.exception or at.error:
        raise SystemExit(f"compare page failed: {at.exception or [e.value for e in at.error]}")
    return seconds


def _shipped(at) -> int:
    import io

    import pyarrow.ipc

    (chart,) = at.get("vega_lite_chart")
    return pyarrow.ipc.open_stream(io.BytesIO(chart.proto.datasets[0].data.data)).read_all().num_rows


def time_page(path: Path, warm_up: Path, repeats: int, study: str) -> dict[tuple[str, str], tuple[list, list, int]]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    os.environ[store.PATH_ENV_VAR] = str(warm_up)
    at.query_params["study"] = f"{study}-0"
    at.run()
    at.switch_page("app_pages/compare.py").run()
    for x in XS:
        _render(at, **{"compare.x": x})
    os.environ[store.PATH_ENV_VAR] = str(path)
    at.run()
    results = {}
    for x in XS:
        for rule in RULES:
            changed, rerun = [], []
            for _ in range(repeats):
                os.utime(path)  # a job's write: a new file version, every cached query misses
                changed.append(_render(at, **{"compare.x": x, "compare.rule": rule}))
                rerun.append(_render(at))
            results[x, rule] = (changed, rerun, _shipped(at))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.benchmarks.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--evaluations", type=limits.number(int, (10, limits.RUNS[1])), default=100_000,
                        help="evaluations of each planted sweep (default 100,000)")
    parser.add_argument("--studies", type=limits.number(int, (1, 10)), default=3,
                        help="planted sweeps in the warehouse, all compared at once (default 3)")
    parser.add_argument("--repeats", type=limits.number(int, (1, 100)), default=3,
                        help="renders per choice; the median is reported")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path, warm_up = Path(folder) / "warehouse.duckdb", Path(folder) / "warm-up.duckdb"
        start = time.perf_counter()
        build(path, args.evaluations, args.studies)
        build(warm_up, 400, 2)
        print(f"{args.studies} planted sweeps of {args.evaluations:,} evaluations: built in "
              f"{time.perf_counter() - start:.1f} s ({path.stat().st_size / 1e6:.0f} MB)")
        results = time_page(path, warm_up, args.repeats, "planted-bohb")
    print(f"  {'x':11s} {'rule':10s} {'file changed':>13s} {'rerun':>8s} {'rows shipped':>13s}   (budget "
          f"{BUDGET_MS:,.0f} ms)")
    for (x, rule), (changed, rerun, rows) in results.items():
        print(f"  {x:11s} {rule:10s} {statistics.median(changed) * 1000:10,.0f} ms "
              f"{statistics.median(rerun) * 1000:5,.0f} ms {rows:13,d}")


if __name__ == "__main__":
    main()
