"""How fast the table importer stores someone else's ensemble, against the 100,000 rows/s target.

    .venv/bin/python -m pipeline.benchmarks.table_import                 # 200,000 rows, 3 runs per format

writes a per-network table like the neural-weight-space study's (dataset, learning rate, batch
size, batch norm, augmentation, optimizer, momentum for SGD only, activation, initialization,
filter size, conv/FC depth and width, test accuracy: 14 hyperparameters) as CSV and as Parquet
to a temp folder, imports each into a fresh scratch warehouse with
`python -m pipeline.importers table` (in process, timed from the call to the commit), and
prints rows/s per format (median of the runs) and its ratio to 100,000 rows/s. On 2 CPU cores
expect 55,000-80,000 rows/s for either format: more than half of the time goes to the primary
key (run_id, name) of the hyperparameters table (2.8 million keys); a schema without it
measured 140,000-190,000 rows/s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from pipeline import importers
from pipeline.benchmarks.planted_study import network_table
from pipeline.core import limits

TARGET_ROWS_PER_SECOND = 100_000


def write_network_table(rows: int, folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """The table as networks.csv and networks.parquet in `folder`."""
    frame = network_table(rows, seed)
    csv, parquet = folder / "networks.csv", folder / "networks.parquet"
    frame.write_csv(csv)
    frame.write_parquet(parquet)
    return csv, parquet


def time_import(source: Path, folder: Path, run: int) -> float:
    """Seconds to import `source` into a new warehouse."""
    target = folder / f"{source.suffix[1:]}-{run}.duckdb"
    start = time.perf_counter()
    importers.main(["table", str(source), "--study", "networks", "--warehouse", str(target)])
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.benchmarks.table_import",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=limits.number(int, limits.RUNS), default=200_000, help="networks in the table")
    parser.add_argument("--repeats", type=limits.number(int, limits.REPEATS), default=3,
                        help="imports per format; the median is reported")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for source in write_network_table(args.rows, folder):
            seconds = [time_import(source, folder, run) for run in range(args.repeats)]
            rate = args.rows / statistics.median(seconds)
            runs = ", ".join(f"{args.rows / s:,.0f}" for s in seconds)
            print(f"{source.suffix[1:]:8s} {args.rows:,} rows ({source.stat().st_size / 1e6:.1f} MB): "
                  f"{rate:,.0f} rows/s median of {args.repeats} ({runs}); "
                  f"{rate / TARGET_ROWS_PER_SECOND:.1f}x the {TARGET_ROWS_PER_SECOND:,} rows/s target")


if __name__ == "__main__":
    main()
