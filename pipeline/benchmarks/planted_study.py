"""A per-network table with planted effects: what the app shows can be checked against what was put in.

    .venv/bin/python -m pipeline.benchmarks.planted_study --runs 16000 --warehouse /tmp/planted.duckdb

writes a table like the neural-weight-space study's (dataset, learning rate, batch size, batch norm,
augmentation, optimizer, momentum for SGD only, activation, initialization, filter size, conv/FC
depth and width: 14 hyperparameters) and imports it as study `planted` with
`python -m pipeline.importers table`. The same table feeds the import and app benchmarks.

What is planted (PLANTED below), on top of N(0, 0.03) noise per network:
- each dataset its own level (mnist 0.92 ... stl10 0.55): a range on the raw scale means different
  things per dataset, which is why the app's ranges and top k % are per dataset;
- 7 % dead networks at chance (0.10 +- 0.01), as in the seed study, which anchor min-max normalization;
- main effects: learning rate (best near 10^-2.5, -0.08 a decade away), batch norm (+0.04), conv depth
  (-0.02 a layer beyond 3), filter size (5 best by 0.01);
- one interaction: sigmoid activation with constant initialization trains to chance, while neither
  alone costs anything. Lift against the whole study rings every cell of a strong main effect; lift
  against independence (what the two parameters' separate effects predict) rings this pair only.
Accuracies are counts of a 10,000-image test set, as a measured test accuracy is: many networks share
one value (a dataset has a few thousand distinct values), which is what the app's rank scale relies on
for speed.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

from pipeline import importers
from pipeline.core import limits

DATASET_LEVELS = {"mnist": 0.92, "fashion_mnist": 0.84, "svhn": 0.78, "cifar10": 0.62, "stl10": 0.55}
PLANTED = {
    "dead_share": 0.07,  # networks at chance whatever their settings
    "chance": 0.10,
    "learning_rate_best_log10": -2.5,
    "learning_rate_per_decade": 0.08,
    "batch_norm": 0.04,
    "conv_depth_per_layer": -0.02,
    "filter_size_5": 0.01,
    "interaction": ("activation", "sigmoid", "initialization", "constant"),  # trains to chance together
    "noise_sd": 0.03,
}
TEST_IMAGES = 10_000


def network_table(rows: int, seed: int = 0) -> pl.DataFrame:
    """`rows` networks with the effects in PLANTED (columns named with spaces, as the published table's)."""
    rng = np.random.default_rng(seed)

    def pick(choices):
        return np.asarray(choices)[rng.integers(len(choices), size=rows)]

    dataset = pick(list(DATASET_LEVELS))
    optimizer = pick(["adam", "rmsprop", "sgd"])
    learning_rate = np.exp(rng.uniform(np.log(1e-4), np.log(1e-1), rows))
    batch_norm = pick([True, False])
    activation = pick(["relu", "elu", "sigmoid", "tanh"])
    initialization = pick(["constant", "random_normal", "glorot_uniform", "glorot_normal"])
    filter_size = pick([3, 5, 7])
    conv_depth = rng.integers(3, 6, rows)
    p = PLANTED
    level = np.vectorize(DATASET_LEVELS.get)(dataset)
    accuracy = (level - p["learning_rate_per_decade"] * np.abs(np.log10(learning_rate) - p["learning_rate_best_log10"])
                + p["batch_norm"] * batch_norm + p["conv_depth_per_layer"] * (conv_depth - 3)
                + p["filter_size_5"] * (filter_size == 5) + rng.normal(0, p["noise_sd"], rows))
    dead = (rng.random(rows) < p["dead_share"]) | ((activation == "sigmoid") & (initialization == "constant"))
    accuracy = np.where(dead, p["chance"] + rng.normal(0, 0.01, rows), accuracy)
    return pl.DataFrame({
        "dataset": dataset,
        "learning rate": learning_rate,
        "batch size": pick([32, 64, 128, 256]),
        "batch norm": batch_norm,
        "augmentation": pick([True, False]),
        "optimizer": optimizer,
        "momentum": np.where(optimizer == "sgd", rng.uniform(0.5, 0.99, rows), np.nan),
        "activation": activation,
        "initialization": initialization,
        "filter size": filter_size,
        "conv depth": conv_depth,
        "conv width": pick([16, 32, 48, 64]),
        "fc depth": rng.integers(3, 6, rows),
        "fc width": pick([32, 64, 128]),
        "test accuracy": np.round(np.clip(accuracy, 0, 1) * TEST_IMAGES) / TEST_IMAGES,
    }).with_columns(pl.col("momentum").fill_nan(None))  # inactive: an empty cell, as such tables have it


def write_planted_warehouse(rows: int, path: Path, *, study: str = "planted", seed: int = 0) -> None:
    """Import `rows` planted networks into the warehouse at `path` as study `study`."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "networks.parquet"
        network_table(rows, seed).write_parquet(source)
        importers.main(["table", str(source), "--study", study, "--warehouse", str(path)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.benchmarks.planted_study",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=limits.number(int, limits.RUNS), default=16_000, help="networks")
    parser.add_argument("--seed", type=limits.number(int, limits.SEED), default=0, help="generator seed")
    parser.add_argument("--warehouse", type=Path, required=True, help="warehouse file to import into")
    args = parser.parse_args(argv)
    write_planted_warehouse(args.runs, args.warehouse, seed=args.seed)


if __name__ == "__main__":
    main()
