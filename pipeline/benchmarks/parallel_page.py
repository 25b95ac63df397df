"""How long the Parallel coordinates page takes server side once its importance ranking is computed, on planted
studies of networks (pipeline/benchmarks/planted_study.py: 14 hyperparameters, planted effects).

    .venv/bin/python -m pipeline.benchmarks.parallel_page --runs 100000 --runs 1000000

For each size: the page opened once (the study loaded, the importance computed: reported, not judged), then
`--repeats` times each, with Streamlit's AppTest in this process: a rerun with nothing changed (a click
elsewhere), a new filter (a range on a number axis, different each time, as a brush or the per-axis form sets
it), a brush as the browser returns it (applied in the same script run) and a new top k %.
Medians against the 1 s budget; AppTest's own overhead is included. The marks the chart carries are counted
too (bands and lines: the browser's load). Figures: BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from pipeline.benchmarks.page_warehouses import NETWORKS, ROOT, WARM_UP, Warehouse
from pipeline.warehouse import store

BUDGET_S = 1.0
STUDY = "networks"


def _render(at, switch: bool = False) -> float:
    start = time.perf_counter()
    (at.switch_page("app_pages/parallel.py") if switch else at).run()
    seconds = time.perf_counter() - start
    if at.exception or at.error:
        raise SystemExit(f"the page failed: {at.exception or [e.value for e in at.error]}")
    return seconds


def _marks(at) -> str:
    import io

    import polars as pl
    import pyarrow.ipc

    chart = at.get("vega_lite_chart")[0]
    data = {d.name: pl.from_arrow(pyarrow.ipc.open_stream(io.BytesIO(d.data.data)).read_all())
            for d in chart.proto.datasets}
    bands = data["bands"]["band"].n_unique() if "bands" in data else 0
    lines = data["lines"]["run_id"].n_unique()
    rows = sum(frame.height for frame in data.values())
    return (f"marks sent: {bands:,} bands, {lines:,} lines ({rows:,} data rows, {len(chart.proto.spec) / 1e3:.0f} kB "
            "of spec)")


def time_page(path: Path, repeats: int, warm_up: Path) -> dict[str, list[float]]:
    from streamlit.testing.v1 import AppTest

    from pipeline.app import parallel_views, study_frame

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    os.environ[store.PATH_ENV_VAR] = str(warm_up)  # the page once on a small study: imports done, as on a server
    at.run()
    _render(at, switch=True)
    os.environ[store.PATH_ENV_VAR] = str(path)
    at.query_params["study"] = STUDY
    times = {"first open (load + importance)": [_render(at, switch=True)]}
    print("  " + _marks(at))
    axis = next(a for a in parallel_views.axes(study_frame.load(path, STUDY)) if a.kind == "number")
    steps = {"rerun": [], "new filter": [], "brush": [], "new top k %": []}
    for repeat in range(repeats):
        steps["rerun"].append(_render(at))
        lo = axis.value(0.1 + 0.02 * repeat)
        at.session_state["parallel.filters"] = {"study": STUDY, "filters": ((axis.name, (lo, axis.high)),)}
        steps["new filter"].append(_render(at))
        try:
            brushes = at.session_state["parallel.brushes"]
        except KeyError:
            brushes = 0
        at.session_state[f"parallel.chart_{brushes}"] = {"selection": {"brush": {  # the first axis, its top part
            "axis": [-0.2, 0.2], "y": [0.3 + 0.01 * repeat, 1.0]}}}
        steps["brush"].append(_render(at))
        at.number_input(key="parallel.top_percent").set_value(2.0 + repeat)
        steps["new top k %"].append(_render(at))
    print("  after the filters: " + _marks(at))
    return times | steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.benchmarks.parallel_page",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, action="append", help="planted networks (repeatable); "
                        "default 100,000 and 1,000,000")
    parser.add_argument("--repeats", type=int, default=5, help="renders per step; the median is reported")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        warm_up = WARM_UP[0].build(Path(tmp))
        for size in args.runs or (100_000, 1_000_000):
            warehouse = Warehouse(NETWORKS, size)
            start = time.perf_counter()
            path = warehouse.build(Path(tmp))
            print(f"{warehouse.label}: warehouse built in {time.perf_counter() - start:.1f} s")
            times = time_page(path, args.repeats, warm_up)
            for step, values in times.items():
                median = statistics.median(values)
                print(f"  {step:32s} {median * 1000:8,.0f} ms" + (f"   {median / BUDGET_S:.2f} of budget"
                      if not step.startswith("first") else "") + (f" (median of {len(values)})"
                                                                   if len(values) > 1 else ""))
            path.unlink()


if __name__ == "__main__":
    main()
