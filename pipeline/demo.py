"""The demo warehouse: built by the pipeline itself, kept in git as compact Parquet.

    python -m pipeline.demo restore     # data/demo/*.parquet -> data/warehouse.duckdb (a second)
    python -m pipeline.demo build       # retrain it: 1,000 networks, ~25 min on 2 CPU cores

`build` trains the ensemble study `demo-ensemble` into a scratch warehouse with
`python -m pipeline.ensemble` and exports every table to data/demo/. `restore` creates a
warehouse from those files; it never overwrites an existing warehouse.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from pipeline import ensemble, warehouse
from pipeline.space import Space

DEMO_DIR = Path(__file__).parent.parent / "data" / "demo"
TABLES = {"studies": "study_id", "runs": "run_id", "hyperparameters": "run_id, name", "curves": "run_id, epoch"}
BUILD_ARGS = ["--study", "demo-ensemble", "--runs", "1000", "--epochs", "8", "--seed", "0"]


def export(source: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with warehouse.read(source) as con:
        for table, order in TABLES.items():
            target = folder / f"{table}.parquet"
            con.execute(f"copy (select * from {table} order by {order}) to '{target}' "
                        "(format parquet, compression zstd, compression_level 19)")


def restore(folder: Path, target: Path) -> None:
    """Create `target` from exported Parquet files, atomically (a temp file, then a rename)."""
    if target.exists():
        raise warehouse.WarehouseError(f"{target} exists already; remove it first to restore the demo into it")
    missing = [t for t in TABLES if not (folder / f"{t}.parquet").exists()]
    if missing:
        raise warehouse.WarehouseError(f"{folder} lacks {', '.join(missing)}.parquet; rebuild with "
                                       "`python -m pipeline.demo build`")
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent)) / target.name
    try:
        with warehouse.write(scratch) as con:
            for table in TABLES:
                con.execute(f"insert into {table} by name select * from read_parquet(?)", [str(folder / f"{table}.parquet")])
            con.execute("select setval('study_id_seq', (select coalesce(max(study_id), 0) + 1 from studies))")
            for study_id, name, space in con.execute("select study_id, name, search_space from studies").fetchall():
                types = Space.from_json(space).param_types() if space else {}
                warehouse.create_study_view(con, study_id, name, types)
        os.replace(scratch, target)
    finally:
        scratch.unlink(missing_ok=True)
        scratch.parent.rmdir()


def build(folder: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "demo.duckdb"
        ensemble.main([*BUILD_ARGS, "--warehouse", str(scratch)])
        export(scratch, folder)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["restore", "build"])
    parser.add_argument("--warehouse", help="target of restore (default: $HPW_WAREHOUSE or data/warehouse.duckdb)")
    parser.add_argument("--folder", type=Path, default=DEMO_DIR, help="folder of the exported Parquet files")
    args = parser.parse_args(argv)
    try:
        if args.action == "build":
            build(args.folder)
        else:
            target = warehouse.resolve_path(args.warehouse)
            if target.exists():
                print(f"{target} exists already; leaving it as it is", file=sys.stderr)
                return
            restore(args.folder, target)
            print(f"restored the demo warehouse into {target}", file=sys.stderr)
    except warehouse.WarehouseError as err:
        parser.exit(2, f"python -m pipeline.demo: error: {err}\n")


if __name__ == "__main__":
    main()
