"""What a study's datasets are, without torch: the names, the spec, the error.

A master (pipeline.bohb, pipeline.distributed) checks dataset names and passes the spec to its
workers; only the workers load images (pipeline/training/datasets.py).
"""

from __future__ import annotations

from dataclasses import dataclass

BUILTIN = ("digits", "shapes", "gratings")
STANDARD = ("mnist", "fashion_mnist", "cifar10", "svhn", "stl10")


class DatasetError(ValueError):
    """A dataset that cannot be loaded; the message says what to do."""


@dataclass(frozen=True)
class DataSpec:
    """How a study's datasets are made. One per study, stored in its settings."""

    image_size: int = 16  # pixels per side after resizing
    channels: int = 1  # 1 = grayscale (colour sets averaged), 3 = RGB (grey replicated)
    train_size: int = 2000  # images per procedural dataset (train + validation)
    test_size: int = 500  # test images per procedural dataset
    val_fraction: float = 0.1  # share of the training pool held out for per-epoch validation
    seed: int = 0  # generation and split seed, shared by every network of a study
    data_dir: str = "data/datasets"  # where torchvision sets live
    download: bool = False  # let torchvision download a missing standard set
