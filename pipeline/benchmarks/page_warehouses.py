"""What the two page benchmarks (pipeline.benchmarks.app, server side; .browser, in Chromium) share: their
command-line shape and the planted warehouses they time the pages on.

    --runs N               planted networks (pipeline/benchmarks/planted_study.py), repeatable;
                           default 16,000 and 1,000,000
    --sweep-evaluations N  evaluations of the planted BOHB sweep (pipeline/benchmarks/planted_sweep.py);
                           default 100,000, 0 to skip
    --repeats N            renders (or rounds of clicks) per page; the median is reported

Each warehouse is built in a child process, so that the benchmark process's peak memory is the app's own.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pipeline.core import limits

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RUNS = (16_000, 1_000_000)
DEFAULT_SWEEP_EVALUATIONS = 100_000
NETWORKS, EVALUATIONS = "networks", "sweep evaluations"


@dataclass(frozen=True)
class Warehouse:
    """A planted warehouse to time pages on: `size` networks of an ensemble, or evaluations of a sweep."""
    kind: str  # NETWORKS or EVALUATIONS
    size: int

    @property
    def sweep(self) -> bool:
        return self.kind == EVALUATIONS

    @property
    def label(self) -> str:
        return f"{self.size:,} {self.kind}"

    def build(self, folder: Path) -> Path:
        """The warehouse file, written in a child process."""
        path = folder / f"warehouse-{self.kind.replace(' ', '-')}-{self.size}.duckdb"
        # a command, not a multiprocessing child: AppTest replaces __main__, which spawn pickles by name
        code = (f"from pipeline.benchmarks.page_warehouses import Warehouse; "
                f"Warehouse({self.kind!r}, {self.size}).write({str(path)!r})")
        if subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode != 0:
            raise SystemExit(f"building the warehouse of {self.label} failed (its error is above)")
        return path

    def write(self, path: str) -> None:
        if self.sweep:
            from pipeline.benchmarks.planted_sweep import write_planted_sweep

            write_planted_sweep(self.size, Path(path))
        else:
            from pipeline.benchmarks.planted_study import write_planted_warehouse

            write_planted_warehouse(self.size, Path(path), study="networks")


# every page once on each, before timing: imports done, as on a server that has served one session
WARM_UP = (Warehouse(NETWORKS, 200), Warehouse(EVALUATIONS, 400))


@dataclass(frozen=True)
class Arguments:
    warehouses: tuple[Warehouse, ...]  # in the order they are timed: ensembles, then the sweep
    repeats: int


def parse(prog: str, description: str, argv: list[str] | None, *, repeats_help: str) -> Arguments:
    """The page benchmarks' flags (see the module docstring); bad values exit 2 with argparse's message."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--runs", type=limits.number(int, limits.RUNS), action="append",
                        help="planted networks in an ensemble warehouse (repeatable); default "
                             + " and ".join(f"{n:,}" for n in DEFAULT_RUNS))
    parser.add_argument("--sweep-evaluations", type=limits.number(int, (0, limits.RUNS[1])),
                        default=DEFAULT_SWEEP_EVALUATIONS,
                        help=f"evaluations of the planted BOHB sweep (default {DEFAULT_SWEEP_EVALUATIONS:,}; 0: none)")
    parser.add_argument("--repeats", type=limits.number(int, limits.REPEATS), default=5, help=repeats_help)
    args = parser.parse_args(argv)
    warehouses = [Warehouse(NETWORKS, runs) for runs in args.runs or DEFAULT_RUNS]
    if args.sweep_evaluations:
        warehouses.append(Warehouse(EVALUATIONS, args.sweep_evaluations))
    return Arguments(tuple(warehouses), args.repeats)
