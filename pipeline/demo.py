"""The demo warehouse: built by the pipeline itself, kept in git as compact Parquet.

    python -m pipeline.demo restore     # data/demo/*.parquet -> data/warehouse.duckdb (a second)
    python -m pipeline.demo build       # retrain it: 1,000 networks, ~25 min on 2 CPU cores
    python -m pipeline.demo export --warehouse FILE --folder DIR   # any warehouse's tables as Parquet

`build` trains the ensemble study `demo-ensemble` into a scratch warehouse with
`python -m pipeline.ensemble` and exports every table to data/demo/. `restore` creates a
warehouse from those files; it never overwrites an existing warehouse. Whatever cannot work
(a folder that takes no files, Parquet that is not an export) is refused before anything is
written, with exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import duckdb

from pipeline.core import limits
from pipeline.core.space import Space, SpaceError
from pipeline.warehouse import store

DEMO_DIR = Path(__file__).parent.parent / "data" / "demo"
TABLES = {"studies": "study_id", "runs": "run_id", "hyperparameters": "run_id, name", "curves": "run_id, epoch"}
BUILD_ARGS = ["--study", "demo-ensemble", "--runs", "1000", "--epochs", "8", "--seed", "0"]


def export(source: Path, folder: Path) -> None:
    with store.read(source) as con:
        for table, order in TABLES.items():
            target = folder / f"{table}.parquet"
            con.execute(f"copy (select * from {table} order by {order}) to ? "
                        "(format parquet, compression zstd, compression_level 19)", [str(target)])


def _check_folder(folder: Path, flag: str) -> None:
    """`folder` exists (or is made) and takes new files, before any work is done for it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):  # tried, not asked: root passes os.access on a read-only mount
            pass
    except OSError as err:
        raise store.WarehouseError(f"{flag}: folder {folder} cannot take new files ({err.strerror or err}); "
                                       "pass a path in a writable folder") from None


def restore(folder: Path, target: Path) -> None:
    """Create `target` from exported Parquet files, atomically (a temp file, then a rename)."""
    if target.exists():
        raise store.WarehouseError(f"{target} exists already; remove it first to restore the demo into it")
    missing = [t for t in TABLES if not (folder / f"{t}.parquet").exists()]
    if missing:
        raise store.WarehouseError(f"{folder} lacks {', '.join(missing)}.parquet; rebuild with "
                                       "`python -m pipeline.demo build`")
    _check_folder(target.parent, "--warehouse")
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:  # the scratch file and whatever DuckDB puts beside it
        scratch = Path(tmp) / target.name
        with store.write(scratch) as con:
            for table in TABLES:
                source = folder / f"{table}.parquet"
                try:
                    con.execute(f"insert into {table} by name select * from read_parquet(?)", [str(source)])
                except duckdb.Error as err:
                    raise store.WarehouseError(f"{source} is not an export of this warehouse's {table} table "
                                                   f"({str(err).splitlines()[0]}); rebuild it with `python -m "
                                                   "pipeline.demo build`") from None
            con.execute("select setval('study_id_seq', (select coalesce(max(study_id), 0) + 1 from studies))")
            for study_id, name, space in con.execute("select study_id, name, search_space from studies").fetchall():
                try:
                    types = Space.from_json(space).param_types() if space else {}
                except SpaceError as err:
                    raise store.WarehouseError(f"{folder / 'studies.parquet'}: study {limits.shown(name)}: "
                                               f"{err}") from None
                store.create_study_view(con, study_id, name, types)
        os.replace(scratch, target)


def build(folder: Path) -> None:
    from pipeline import ensemble  # imported here: it brings torch, which restore and export never need

    _check_folder(folder, "--folder")  # before 25 minutes of training, not after
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "demo.duckdb"
        ensemble.main([*BUILD_ARGS, "--warehouse", str(scratch)])
        export(scratch, folder)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["restore", "build", "export"])
    parser.add_argument("--warehouse", help="target of restore, source of export "
                                            "(default: $HPW_WAREHOUSE or data/warehouse.duckdb)")
    parser.add_argument("--folder", type=Path, default=DEMO_DIR, help="folder of the exported Parquet files")
    args = parser.parse_args(argv)
    try:
        if args.action == "build":
            build(args.folder)
        elif args.action == "export":
            source = store.resolve_path(args.warehouse)
            with store.read(source):  # a warehouse, before the folder is touched
                pass
            _check_folder(args.folder, "--folder")
            export(source, args.folder)
            print(f"exported {source} into {args.folder}", file=sys.stderr)
        else:
            target = store.resolve_path(args.warehouse)
            if target.exists():
                print(f"{target} exists already; leaving it as it is", file=sys.stderr)
                return
            restore(args.folder, target)
            print(f"restored the demo warehouse into {target}", file=sys.stderr)
    except store.WarehouseError as err:
        parser.exit(2, f"python -m pipeline.demo: error: {err}\n")
    except OSError as err:  # a path too long, a folder that vanished while working
        parser.exit(2, f"python -m pipeline.demo: error: {err}; pass other paths\n")


if __name__ == "__main__":
    main()
