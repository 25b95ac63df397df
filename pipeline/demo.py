"""The demo warehouse: built by the pipeline itself, kept in git as compact Parquet.

    python -m pipeline.demo restore     # data/demo/*.parquet -> data/warehouse.duckdb (a second)
    python -m pipeline.demo build       # retrain all of it: ~25 + ~30 min on 2 CPU cores
    python -m pipeline.demo build --only sweeps     # retrain the three sweeps, keep the ensemble
    python -m pipeline.demo export --warehouse FILE --folder DIR   # any warehouse's tables as Parquet

`build` trains, into a scratch warehouse, the ensemble study `demo-ensemble` (1,000 networks, with
`python -m pipeline.ensemble`) and three sweeps on one space, dataset and budgets (`python -m
pipeline.bohb`, min budget 1, max budget 81 epochs, eta 3, ten brackets: two full Hyperband
iterations): `demo-bohb`, `demo-hyperband` and `demo-random-search`, then exports every table to
data/demo/. `--only` retrains one part and keeps the other as the folder has it. `restore` creates a
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
# each table's order in the export, and which of its rows a partial restore keeps: those of the studies
# restored so far (tables are restored in this order)
TABLES = {"studies": "study_id", "runs": "run_id", "hyperparameters": "run_id, name", "curves": "run_id, epoch",
          "sweep_plan": "study_id, bracket, round"}
_KEPT = {"studies": "name not in (select unnest($skipped))",
         "runs": "study_id in (select study_id from studies)",
         "hyperparameters": "run_id in (select run_id from runs)",
         "curves": "run_id in (select run_id from runs)",
         "sweep_plan": "study_id in (select study_id from studies)"}
ENSEMBLE = "demo-ensemble"
ENSEMBLE_ARGS = ["--study", ENSEMBLE, "--runs", "1000", "--epochs", "8", "--seed", "0"]
SWEEPS = {"demo-bohb": "bohb", "demo-hyperband": "hyperband", "demo-random-search": "random_search"}
# the seed study's setting (min budget 1, max 81, eta 3); ten brackets are two full Hyperband iterations
SWEEP_ARGS = ["--space", "bohbvis", "--dataset", "digits", "--min-budget", "1", "--max-budget", "81", "--eta", "3",
              "--iterations", "10", "--seed", "0", "--workers", "2"]
PARTS = {"ensemble": (ENSEMBLE,), "sweeps": tuple(SWEEPS)}


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


def restore(folder: Path, target: Path, *, skipped: tuple[str, ...] = ()) -> None:
    """Create `target` from exported Parquet files, atomically (a temp file, then a rename), without
    the studies named in `skipped`."""
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
            for table, kept in _KEPT.items():
                source = folder / f"{table}.parquet"
                try:
                    con.execute(f"insert into {table} by name select * from read_parquet($source) where {kept}",
                                {"source": str(source), **({"skipped": list(skipped)} if "$skipped" in kept else {})})
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


def build(folder: Path, only: str | None = None) -> None:
    """Train the demo's studies (or only one part of them, keeping the rest as `folder` has it) and export them."""
    from pipeline import bohb, ensemble  # imported here: they bring torch, which restore and export never need

    _check_folder(folder, "--folder")  # before half an hour of training, not after
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "demo.duckdb"
        if only:
            restore(folder, scratch, skipped=PARTS[only])
        if only in (None, "ensemble"):
            ensemble.main([*ENSEMBLE_ARGS, "--warehouse", str(scratch)])
        if only in (None, "sweeps"):
            for study, optimizer in SWEEPS.items():
                bohb.main(["--study", study, "--optimizer", optimizer, *SWEEP_ARGS, "--warehouse", str(scratch)])
        export(scratch, folder)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["restore", "build", "export"])
    parser.add_argument("--warehouse", help="target of restore, source of export "
                                            "(default: $HPW_WAREHOUSE or data/warehouse.duckdb)")
    parser.add_argument("--folder", type=Path, default=DEMO_DIR, help="folder of the exported Parquet files")
    parser.add_argument("--only", choices=tuple(PARTS), help="build: retrain this part only, keep the rest")
    args = parser.parse_args(argv)
    if args.only and args.action != "build":
        parser.error("--only goes with build")
    try:
        if args.action == "build":
            build(args.folder, args.only)
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
