"""How long each app page takes to render, measured server-side, on a warehouse of N networks.

    .venv/bin/python -m pipeline.benchmarks.app --runs 16000 --runs 1000000

For each size it writes a per-network table like the neural-weight-space study's (14
hyperparameters, planted effects: pipeline/benchmarks/planted_study.py) to a temp folder and imports it with the table
importer into a fresh warehouse (in a child process), then renders pages with Streamlit's
AppTest in this process:
every page once on a 200-run warehouse first (so that imports are done, as on a server that
has served one session); then, `--repeats` times each, every page on the big one right after
its file changed (what a job's write does: caches miss and an analysis page loads the study
into memory again), right after a new selection (normalized accuracy 0.51-1, 0.52-1, ..., as a
brush makes it) and once more with the same selection (a rerun: a click, a toggle). It prints
median render times against the budget (200 ms at 16,000 runs, 1 s at 1,000,000) and this
process's peak memory (the app's: budget 1.5 GB). AppTest's own overhead is included, so the
figures are an upper bound of what a browser waits for the server.
Targets and figures: BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline.benchmarks.planted_study import write_planted_warehouse
from pipeline.core import limits
from pipeline.warehouse import store

PAGES = ("overview", "distribution", "combinations", "trellis", "runs", "sql")
ROOT = Path(__file__).resolve().parents[2]


def budget_ms(runs: int) -> float:
    return 200.0 if runs <= 16_000 else 1000.0


def build(runs: int, folder: Path) -> Path:
    """The warehouse, built in a child process so that this one's peak memory is the app's own."""
    path = folder / f"warehouse-{runs}.duckdb"
    # a command, not a multiprocessing child: AppTest replaces __main__, which spawn pickles by name
    code = f"from pipeline.benchmarks.app import write_warehouse; write_warehouse({runs}, {str(path)!r})"
    if subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode != 0:
        raise SystemExit(f"building the {runs:,}-run warehouse failed (its error is above)")
    return path


def write_warehouse(runs: int, path: str) -> None:
    write_planted_warehouse(runs, Path(path), study="networks")


def time_pages(path: Path, repeats: int, warm_up: Path) -> tuple[dict[str, list[float]], ...]:
    """Per page: renders right after the file changed (an analysis page loads the study then), right
    after a new selection, and reruns with the same one."""
    from streamlit.testing.v1 import AppTest

    from pipeline.app.selection import Selection
    from pipeline.app.state import SELECTION_KEY

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    os.environ[store.PATH_ENV_VAR] = str(warm_up)  # every page once on a small study: imports done
    at.run()
    for page in PAGES:
        _render(at, page)
    os.environ[store.PATH_ENV_VAR] = str(path)
    at.session_state[SELECTION_KEY] = Selection(0.5, 1.0, True)
    cold, fresh, again = ({page: [] for page in PAGES} for _ in range(3))
    for _ in range(repeats):
        for page in PAGES:
            os.utime(path)  # what a job's write does to the file: a new version, so the study is loaded again
            cold[page].append(_render(at, page))
    for repeat in range(repeats):
        for page in PAGES:
            at.session_state[SELECTION_KEY] = Selection(0.5 + 0.01 * (repeat + 1), 1.0, True)  # as a new brush
            fresh[page].append(_render(at, page))
            again[page].append(_render(at, page))
        at.session_state[SELECTION_KEY] = Selection(0.5, 1.0, True)
    return cold, fresh, again


def _render(at, page: str) -> float:
    start = time.perf_counter()
    at.switch_page(f"app_pages/{page}.py").run()
    seconds = time.perf_counter() - start
    if at.exception or at.error:
        raise SystemExit(f"page {page} failed: {at.exception or [e.value for e in at.error]}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.benchmarks.app", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=limits.number(int, limits.RUNS), action="append",
                        help="networks in the warehouse (repeatable); default 16,000 and 1,000,000")
    parser.add_argument("--repeats", type=limits.number(int, limits.REPEATS), default=5,
                        help="renders per page; the median is reported")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        warm_up = build(200, Path(tmp))
        for runs in args.runs or [16_000, 1_000_000]:
            start = time.perf_counter()
            path = build(runs, Path(tmp))
            print(f"{runs:,} networks: warehouse built in {time.perf_counter() - start:.1f} s "
                  f"({path.stat().st_size / 1e6:.0f} MB)")
            cold, fresh, again = time_pages(path, args.repeats, warm_up)
            budget = budget_ms(runs)
            print(f"  {'page':13s} {'file changed':>15s} {'new selection':>15s} {'rerun':>9s}   "
                  f"median of {args.repeats}; ratios to the {budget:,.0f} ms budget")
            for page in PAGES:
                medians = [statistics.median(times[page]) * 1000 for times in (cold, fresh, again)]
                print(f"  {page:13s} {medians[0]:12,.0f} ms {medians[1]:12,.0f} ms {medians[2]:6,.0f} ms   "
                      + " ".join(f"{m / budget:.2f}" for m in medians))
            path.unlink()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of the app (this process; the warehouses were built in another): {peak:,.0f} MB")


if __name__ == "__main__":
    main()
