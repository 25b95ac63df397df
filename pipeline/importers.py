"""Import other people's runs: hpbandster result logs and per-network tables (CSV or Parquet).

    python -m pipeline.importers hpbandster path/to/logdir --study their-bohb
    python -m pipeline.importers hpbandster path/to/logdir --study live --min-budget 1 --max-budget 81 --eta 3
    python -m pipeline.importers table networks.csv --study nws --accuracy "test accuracy" \\
        --map "learning rate=learning_rate" --map "batch size=batch_size"

`hpbandster LOGDIR` stores one run per evaluation that hpbandster's `json_result_logger` wrote to
LOGDIR, with the Hyperband facts derived as hpbandster derives them; re-importing the same (or a
grown) log adds only the evaluations not yet stored. Give --min-budget, --max-budget and --eta for
a sweep that still runs (else they are inferred from the log). How each column is derived:
pipeline/warehouse/hpbandster_import.py.

`table FILE` stores one run per row of a table of networks trained elsewhere: the accuracy column
becomes runs.test_accuracy, the dataset column runs.dataset, the others hyperparameters (renamed
by --map). Importing the same file into the same study again does nothing; another file into it
is refused. Which column becomes what: pipeline/warehouse/table_import.py.

Either way the study has kind 'import', its search_space is the range of values observed
(imports do not know the space sampled from), and its settings record the source path, sha256
of the files and, for logs, min/max budget and eta. A table's study is finished when imported; a
log's stays unfinished (finished_at empty), since its sweep may still run. Everything is checked
before the warehouse is opened for writing, and written in one transaction: bad input ends with
a message naming the file and line (or the column and the columns there are), exit code 2, and
the warehouse as it was.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.core import cli, limits
from pipeline.core.cli import UsageError
from pipeline.warehouse import store
from pipeline.warehouse.hpbandster_import import HpbandsterImport, import_hpbandster
from pipeline.warehouse.imports import ACCURACY_KEYS
from pipeline.warehouse.table_import import TableImport, import_table

PROG = "python -m pipeline.importers"


def _mapping(text: str) -> tuple[str, str]:
    column, sep, name = text.partition("=")
    if not sep or not column or not name:
        raise argparse.ArgumentTypeError(f"expected COLUMN=HYPERPARAMETER, got {text!r}")
    return column, name


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="\n\n".join(__doc__.split("\n\n")[:2]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{hpbandster,table}")
    default_wh = f"warehouse file (default: ${store.PATH_ENV_VAR} or {store.DEFAULT_PATH})"

    log = commands.add_parser("hpbandster", help="an hpbandster json_result_logger directory")
    log.add_argument("logdir", type=Path, help="folder with configs.json and results.json")
    log.add_argument("--study", required=True, help="study to create, or to add the log's new evaluations to")
    log.add_argument("--warehouse", help=default_wh)
    budget = limits.number(float, limits.BUDGET)
    log.add_argument("--min-budget", type=budget, help="smallest budget of the sweep (default: inferred from the log)")
    log.add_argument("--max-budget", type=budget, help="largest budget of the sweep (default: inferred from the log)")
    log.add_argument("--eta", type=limits.number(float, limits.ETA),
                     help="halving rate of the sweep (default: inferred from the log)")
    log.add_argument("--dataset", help="dataset every evaluation trained on (runs.dataset)")

    table = commands.add_parser("table", help="a CSV or Parquet file, one row per trained network")
    table.add_argument("file", type=Path, help="CSV or Parquet file (.parquet or .pq; anything else is read as CSV)")
    table.add_argument("--study", required=True, help="name of the new study")
    table.add_argument("--warehouse", help=default_wh)
    table.add_argument("--map", type=_mapping, action="append", default=[], metavar="COLUMN=NAME",
                       help="store column COLUMN as hyperparameter NAME (repeat the flag for several)")
    table.add_argument("--accuracy",
                       help=f"column of test accuracy, 0..1 (default: first of {', '.join(ACCURACY_KEYS)})")
    table.add_argument("--dataset-column", help="column naming the dataset (default: 'dataset' when present)")
    table.add_argument("--params", type=lambda text: tuple(c for c in text.split(",") if c), default=(),
                       metavar="COL1,COL2,...", help="hyperparameter columns (default: all but accuracy and dataset)")
    return parser


COMMANDS = {"hpbandster": (HpbandsterImport, import_hpbandster), "table": (TableImport, import_table)}


def main(argv: list[str] | None = None) -> None:
    args = vars(_parser().parse_args(argv))
    command = args.pop("command")
    config_cls, job = COMMANDS[command]
    if command == "table":
        args["map"] = tuple(args["map"])
    try:
        config = config_cls(**args)
        config.validate()
        job(config)
    except (UsageError, store.WarehouseError) as err:
        cli.fail(f"{PROG} {command}", str(err))
    except OSError as err:  # a file that vanished or cannot be read while importing
        cli.fail(f"{PROG} {command}", f"{err}; check the path and its permissions")


if __name__ == "__main__":
    main()
