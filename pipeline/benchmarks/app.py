"""How long each app page takes to render, measured server-side, on planted warehouses of networks and of a sweep.

    .venv/bin/python -m pipeline.benchmarks.app --runs 16000 --runs 1000000 --sweep-evaluations 100000

For each size it builds a warehouse in a child process (pipeline/benchmarks/page_warehouses.py): per-network
tables like the neural-weight-space study's (14 hyperparameters, planted effects:
pipeline/benchmarks/planted_study.py) imported with the table importer, and a BOHB sweep of
`--sweep-evaluations` evaluations (min budget 1, max 81, eta 3, nine hyperparameters, planted effects:
pipeline/benchmarks/planted_sweep.py; 0 skips it). Then it renders pages with Streamlit's AppTest in this
process: every page once on a 200-network and a 400-evaluation warehouse first (so that imports are done,
as on a server that has served one session); then, `--repeats` times each, every page on the big one
right after its file changed (what a job's write does: caches miss and an analysis page loads the study
into memory again), right after a new selection (normalized accuracy 0.51-1, 0.52-1, ..., as a brush
makes it) and once more with the same selection (a rerun: a click, a toggle). A sweep is shown at the
sidebar's default budget choice (each configuration on the largest budget it reached). It prints median
render times against the budget (200 ms at 16,000 networks, 1 s at 1,000,000 and for the sweep) and this
process's peak memory (the app's: budget 1.5 GB). AppTest's own overhead is included, so the figures are
an upper bound of what a browser waits for the server.
Targets and figures: BENCHMARKS.md.
"""

from __future__ import annotations

import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from pipeline.benchmarks import page_warehouses
from pipeline.benchmarks.page_warehouses import ROOT, WARM_UP, Warehouse
from pipeline.warehouse import store

PAGES = ("overview", "distribution", "combinations", "trellis", "sweep", "history", "compare", "importance",
         "parallel", "correlations", "embedding", "runs", "sql")
# Pages whose first render after a change fits a model, once per study version: their budget is for the renders
# after it (the new-selection and rerun columns); the fit has a benchmark of its own.
FITS = {"importance": "python -m pipeline.benchmarks.importance",
        "parallel": "python -m pipeline.benchmarks.parallel_page"}  # its axis order is the importance ranking


def budget_ms(warehouse: Warehouse) -> float:
    return 200.0 if not warehouse.sweep and warehouse.size <= 16_000 else 1000.0


def time_pages(path: Path, repeats: int, warm_ups: list[Path]) -> tuple[dict[str, list[float]], ...]:
    """Per page: renders right after the file changed (an analysis page loads the study then), right
    after a new selection, and reruns with the same one."""
    from streamlit.testing.v1 import AppTest

    from pipeline.app.selection import Selection
    from pipeline.app.state import SELECTION_KEY

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    for warm_up in warm_ups:  # every page once on a small ensemble and a small sweep: imports done
        os.environ[store.PATH_ENV_VAR] = str(warm_up)
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
    args = page_warehouses.parse("python -m pipeline.benchmarks.app", __doc__.split("\n\n")[0], argv,
                                 repeats_help="renders per page; the median is reported")
    with tempfile.TemporaryDirectory() as tmp:
        warm_ups = [warehouse.build(Path(tmp)) for warehouse in WARM_UP]
        for warehouse in args.warehouses:
            start = time.perf_counter()
            path = warehouse.build(Path(tmp))
            print(f"{warehouse.label}: warehouse built in {time.perf_counter() - start:.1f} s "
                  f"({path.stat().st_size / 1e6:.0f} MB)")
            cold, fresh, again = time_pages(path, args.repeats, warm_ups)
            budget = budget_ms(warehouse)
            print(f"  {'page':13s} {'file changed':>15s} {'new selection':>15s} {'rerun':>9s}   "
                  f"median of {args.repeats}; ratios to the {budget:,.0f} ms budget")
            for page in PAGES:
                medians = [statistics.median(times[page]) * 1000 for times in (cold, fresh, again)]
                judged = medians[1:] if page in FITS else medians
                print(f"  {page:13s} {medians[0]:12,.0f} ms {medians[1]:12,.0f} ms {medians[2]:6,.0f} ms   "
                      + " ".join(f"{m / budget:.2f}" for m in medians)
                      + ("   over budget" if max(judged) > budget else "")
                      + (f"   (file changed: the fit, see {FITS[page]})" if page in FITS else ""))
            path.unlink()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of the app (this process; the warehouses were built in another): {peak:,.0f} MB")


if __name__ == "__main__":
    main()
