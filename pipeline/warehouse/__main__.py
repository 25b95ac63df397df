"""Bring a warehouse written by an older version of this code to the current schema, in place.

    python -m pipeline.warehouse upgrade --warehouse data/warehouse.duckdb
"""

from __future__ import annotations

import argparse
import sys

from pipeline.warehouse import store


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.warehouse",
                                     description="Upgrade a warehouse written by an older version of this code.")
    parser.add_argument("action", choices=["upgrade"])
    parser.add_argument("--warehouse", help=f"the warehouse (default: ${store.PATH_ENV_VAR} or {store.DEFAULT_PATH})")
    args = parser.parse_args(argv)
    path = store.resolve_path(args.warehouse)
    try:
        store.check_writable(path)
        store.upgrade(path)
    except store.WarehouseError as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    print(f"{path} is at warehouse schema version {store.SCHEMA_VERSION}", file=sys.stderr)


if __name__ == "__main__":
    main()
