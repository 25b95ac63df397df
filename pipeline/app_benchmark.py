"""How long each app page takes to render, measured server-side, on a warehouse of N networks.

    .venv/bin/python -m pipeline.app_benchmark --runs 16000 --runs 1000000

For each size it writes a per-network table like the neural-weight-space study's (14
hyperparameters, pipeline/import_benchmark.py) to a temp folder, imports it with the table
importer into a fresh warehouse, then renders every page with Streamlit's AppTest in this
process: once cold (the first analysis page loads the study into memory, once per warehouse
version), then `--repeats` times each with a selection set (normalized accuracy 0.5-1, as a
brush makes it), and prints the median render time per page against the budget (200 ms at
16,000 runs, 1 s at 1,000,000) and the process's peak memory. AppTest's own overhead is
included, so the figures are an upper bound of what a browser session waits for the server.
Targets and figures: BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from pipeline import import_benchmark, importers, warehouse

PAGES = ("overview", "distribution", "combinations", "trellis", "runs", "sql")
ROOT = Path(__file__).resolve().parent.parent


def budget_ms(runs: int) -> float:
    return 200.0 if runs <= 16_000 else 1000.0


def build(runs: int, folder: Path) -> Path:
    source = folder / f"networks-{runs}.parquet"
    import_benchmark.network_table(runs).write_parquet(source)
    path = folder / f"warehouse-{runs}.duckdb"
    importers.main(["table", str(source), "--study", "networks", "--warehouse", str(path)])
    return path


def time_pages(path: Path, repeats: int) -> tuple[float, dict[str, list[float]]]:
    from streamlit.testing.v1 import AppTest

    os.environ[warehouse.PATH_ENV_VAR] = str(path)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.query_params.update({"scale": "normalized", "lo": "0.5", "hi": "1"})
    at.run()
    start = time.perf_counter()
    at.switch_page("pages/distribution.py").run()
    cold = time.perf_counter() - start
    times = {page: [] for page in PAGES}
    for _ in range(repeats):
        for page in PAGES:
            start = time.perf_counter()
            at.switch_page(f"pages/{page}.py").run()
            times[page].append(time.perf_counter() - start)
            if at.exception or at.error:
                raise SystemExit(f"page {page} failed: {at.exception or [e.value for e in at.error]}")
    return cold, times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.app_benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, action="append", help="networks in the warehouse (repeatable); "
                        "default 16,000 and 1,000,000")
    parser.add_argument("--repeats", type=int, default=5, help="renders per page; the median is reported")
    args = parser.parse_args(argv)
    for runs in args.runs or [16_000, 1_000_000]:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            path = build(runs, Path(tmp))
            print(f"{runs:,} networks: warehouse built in {time.perf_counter() - start:.1f} s "
                  f"({path.stat().st_size / 1e6:.0f} MB)")
            cold, times = time_pages(path, args.repeats)
            print(f"  first analysis page (loads the study): {cold * 1000:,.0f} ms")
            for page, seconds in times.items():
                median = statistics.median(seconds) * 1000
                print(f"  {page:13s} median {median:7,.0f} ms of {args.repeats} "
                      f"({median / budget_ms(runs):.2f} of the {budget_ms(runs):,.0f} ms budget)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process (build, import and app): {peak:,.0f} MB")


if __name__ == "__main__":
    main()
