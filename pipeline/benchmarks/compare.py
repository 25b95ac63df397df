"""How long the Compare studies page's work takes with several big sweeps at once, and what it ships.

    .venv/bin/python -m pipeline.benchmarks.compare --evaluations 100000 --studies 3

Builds one warehouse in a temporary folder holding `--studies` planted BOHB sweeps of `--evaluations`
evaluations each (pipeline/benchmarks/planted_sweep.py, seeds 0, 1, ...: one problem, so the page opens on all
of them together), then does what app_pages/compare.py does after the warehouse changed (every cached query
misses), `--repeats` times for each x axis (evaluations, budget spent, wall time) and each rule: open the file
read-only, run the named queries compare_peers, compare_studies and compare_steps, build the table
(compare_views.summary) and the chart (compare_chart.best_so_far) and serialize it as the browser gets it.
Streamlit's own overhead is not in it (no module below the pages but pipeline.benchmarks.app drives AppTest:
tests/test_layout.py); `python -m pipeline.benchmarks.app --sweep-evaluations 100000` renders the page whole
with one such sweep. Prints the medians against the page budget (1 s) and the rows the chart sends to the
browser (change points and ends only). Figures: BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from pipeline.app import compare_chart, compare_views
from pipeline.core import limits
from pipeline.warehouse import store

BUDGET_MS = 1000.0
XS = ("evaluation", "spent", "seconds")
RULES = ("incumbent", "any")


def build(path: Path, evaluations: int, studies: int) -> None:
    from pipeline.benchmarks.planted_sweep import write_planted_sweep

    for seed in range(studies):
        write_planted_sweep(evaluations, path, study=f"planted-bohb-{seed}", seed=seed)


def page_work(path: Path, current: str, x: str, rule: str) -> int:
    """What the page computes after a change, as it does it; returns the rows the chart carries."""
    with store.read(path) as con:
        studies = store.query(con, "compare_peers", {"study": current})["name"].to_list() or [current]
        facts = store.query(con, "compare_studies", {"studies": studies})
        steps = store.query(con, "compare_steps", {"studies": studies, "rule": rule, "dataset": None})
    compare_views.summary(facts, steps)
    points, _ = compare_views.curve(steps, x, log=True)
    json.dumps(compare_chart.best_so_far(points, x=x, rule=rule, log=True, current=current,
                                         unit=compare_views.budget_unit(facts)).to_dict())
    return points.height


def time_page(path: Path, repeats: int, current: str) -> dict[tuple[str, str], tuple[list[float], int]]:
    results = {}
    for x in XS:
        for rule in RULES:
            times, rows = [], 0
            for _ in range(repeats):
                start = time.perf_counter()
                rows = page_work(path, current, x, rule)
                times.append(time.perf_counter() - start)
            results[x, rule] = (times, rows)
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
        time_page(warm_up, 1, "planted-bohb-0")  # imports and first query plans done
        results = time_page(path, args.repeats, "planted-bohb-0")
    print(f"  {'x':11s} {'rule':10s} {'after a change':>15s} {'rows shipped':>13s}   (budget {BUDGET_MS:,.0f} ms)")
    for (x, rule), (times, rows) in results.items():
        print(f"  {x:11s} {rule:10s} {statistics.median(times) * 1000:12,.0f} ms {rows:13,d}")

if __name__ == "__main__":
    main()
