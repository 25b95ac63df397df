"""Image datasets as tensors, ready to live on the training device.

Built-ins work offline on every machine and are deterministic by seed:
- `digits`: scikit-learn's bundled handwritten digits (1,797 images, 8x8, 10 classes).
- `shapes` (easy): six filled or outlined shapes at random position, size and contrast.
- `gratings` (hard): eight orientations of noisy sinusoidal gratings, 22.5 degrees apart.
The standard sets (mnist, fashion_mnist, cifar10, svhn, stl10) come through torchvision from a
data directory, downloaded only when asked.

Every dataset is brought to one (channels, size, size) shape per study and standardized with
the mean and std of its training split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.training.data_spec import BUILTIN, STANDARD, DatasetError, DataSpec

# Horizontal flip keeps the label only for these (a mirrored digit or grating is another class).
FLIP_KEEPS_LABEL = {"shapes", "fashion_mnist", "cifar10", "stl10"}


@dataclass
class Dataset:
    name: str
    x_train: torch.Tensor  # float32, (n, channels, size, size), standardized
    y_train: torch.Tensor  # int64, (n,)
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    flip_keeps_label: bool

    def to(self, device: torch.device | str) -> Dataset:
        """The dataset on `device`, images channels-last (the layout the trainer's models use)."""
        moved = {k: getattr(self, k).to(device) for k in ("y_train", "y_val", "y_test")}
        moved |= {k: getattr(self, k).to(device, memory_format=torch.channels_last)
                  for k in ("x_train", "x_val", "x_test")}
        return Dataset(self.name, **moved, num_classes=self.num_classes, flip_keeps_label=self.flip_keeps_label)


    def head(self, n: int) -> Dataset:
        """The same dataset with only the first `n` training images (the split is already shuffled)."""
        return Dataset(self.name, self.x_train[:n], self.y_train[:n], self.x_val, self.y_val, self.x_test,
                       self.y_test, num_classes=self.num_classes, flip_keeps_label=self.flip_keeps_label)


def load(name: str, spec: DataSpec) -> Dataset:
    """Load dataset `name` at the study's shape; raises DatasetError with advice."""
    if name == "digits":
        x, y, x_test, y_test = _digits(spec)
    elif name == "shapes":
        x, y = _shapes(spec.train_size, spec.image_size, seed=spec.seed)
        x_test, y_test = _shapes(spec.test_size, spec.image_size, seed=spec.seed + 1_000_003)
    elif name == "gratings":
        x, y = _gratings(spec.train_size, spec.image_size, seed=spec.seed)
        x_test, y_test = _gratings(spec.test_size, spec.image_size, seed=spec.seed + 1_000_003)
    elif name in STANDARD:
        x, y, x_test, y_test = _torchvision(name, spec)
    else:
        raise DatasetError(f"unknown dataset '{name}'; choose from {', '.join(BUILTIN + STANDARD)}")
    x, x_test = _to_shape(x, spec), _to_shape(x_test, spec)
    y, y_test = torch.as_tensor(y, dtype=torch.int64), torch.as_tensor(y_test, dtype=torch.int64)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(spec.seed))
    n_val = max(1, round(len(x) * spec.val_fraction))
    val_idx, train_idx = order[:n_val], order[n_val:]
    mean, std = x[train_idx].mean(), x[train_idx].std().clamp_min(1e-6)
    norm = lambda t: ((t - mean) / std).contiguous()  # noqa: E731
    return Dataset(
        name,
        norm(x[train_idx]), y[train_idx], norm(x[val_idx]), y[val_idx], norm(x_test), y_test,
        num_classes=int(max(y.max(), y_test.max())) + 1,
        flip_keeps_label=name in FLIP_KEEPS_LABEL,
    )


def _to_shape(images: np.ndarray | torch.Tensor, spec: DataSpec) -> torch.Tensor:
    """(n, c, h, w) in [0, 1] -> float32 (n, spec.channels, size, size)."""
    x = torch.as_tensor(images, dtype=torch.float32)
    if x.shape[1] != spec.channels:
        x = x.mean(dim=1, keepdim=True) if spec.channels == 1 else x.expand(-1, spec.channels, -1, -1)
    if x.shape[-1] != spec.image_size or x.shape[-2] != spec.image_size:
        x = F.interpolate(x, size=(spec.image_size, spec.image_size), mode="bilinear", antialias=True,
                          align_corners=False)
    return x.contiguous()


def _digits(spec: DataSpec):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]
    y = bunch.target.astype(np.int64)
    # A fixed 80/20 split by seed: the test set does not depend on train_size.
    order = np.random.default_rng(spec.seed).permutation(len(x))
    n_test = len(x) // 5
    return x[order[n_test:]], y[order[n_test:]], x[order[:n_test]], y[order[:n_test]]


def _grid(n: int, size: int, rng: np.random.Generator, scale=(0.45, 0.7), shift=0.2):
    """Per-image centred coordinates in [-1, 1]: rotated by up to 15 degrees, shifted, scaled."""
    coords = np.linspace(-1, 1, size, dtype=np.float32)
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    cx, cy = rng.uniform(-shift, shift, (2, n, 1, 1)).astype(np.float32)
    r = rng.uniform(*scale, (n, 1, 1)).astype(np.float32)
    a = rng.uniform(-math.pi / 12, math.pi / 12, (n, 1, 1)).astype(np.float32)
    u = ((xx - cx) * np.cos(a) + (yy - cy) * np.sin(a)) / r
    v = (-(xx - cx) * np.sin(a) + (yy - cy) * np.cos(a)) / r
    return u, v


def _shapes(n: int, size: int, *, seed: int):
    """Six classes: disk, square, triangle, ring, cross, horizontal bar. Easy."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 6, n)
    u, v = _grid(n, size, rng)
    masks = np.stack([
        u**2 + v**2 <= 1,                                                  # disk
        np.maximum(abs(u), abs(v)) <= 0.85,                                # square
        (v <= 0.7) & (v >= -0.9 + 1.6 * abs(u)),                           # triangle
        (u**2 + v**2 <= 1) & (u**2 + v**2 >= 0.4),                         # ring
        ((abs(u) <= 0.3) | (abs(v) <= 0.3)) & (np.maximum(abs(u), abs(v)) <= 1),  # cross
        (abs(v) <= 0.35) & (abs(u) <= 1.2),                                # bar
    ])
    shape = masks[labels, np.arange(n)].astype(np.float32)
    contrast = rng.uniform(0.5, 1.0, (n, 1, 1)).astype(np.float32)
    background = rng.uniform(0.0, 0.3, (n, 1, 1)).astype(np.float32)
    noise = rng.normal(0, 0.08, shape.shape).astype(np.float32)
    images = np.clip(background + contrast * shape + noise, 0, 1)
    return images[:, None], labels


def _gratings(n: int, size: int, *, seed: int):
    """Eight orientations 22.5 degrees apart, random frequency and phase, heavy noise. Hard."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 8, n)
    theta = (labels * math.pi / 8 + rng.normal(0, math.pi / 64, n)).astype(np.float32)[:, None, None]
    freq = rng.uniform(1.5, 3.5, (n, 1, 1)).astype(np.float32)
    phase = rng.uniform(0, 2 * math.pi, (n, 1, 1)).astype(np.float32)
    coords = np.linspace(-1, 1, size, dtype=np.float32)
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    wave = np.sin(math.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)
    contrast = rng.uniform(0.2, 0.5, (n, 1, 1)).astype(np.float32)
    noise = rng.normal(0, 0.6, wave.shape).astype(np.float32)
    images = np.clip(0.5 + contrast * wave + noise, 0, 1)
    return images[:, None], labels


def _torchvision(name: str, spec: DataSpec):
    try:
        import torchvision.datasets as tvd
    except Exception as err:  # the CUDA-only wheel raises RuntimeError on a CPU torch
        raise DatasetError(
            f"dataset '{name}' needs torchvision, which cannot be imported here ({err}). "
            "Install a torchvision build that matches your torch, or use a built-in dataset: "
            + ", ".join(BUILTIN)
        ) from None
    root = Path(spec.data_dir)
    try:
        if name in ("mnist", "fashion_mnist"):
            cls = tvd.MNIST if name == "mnist" else tvd.FashionMNIST
            train, test = (cls(root, train=t, download=spec.download) for t in (True, False))
            to_x = lambda d: d.data.numpy()[:, None] / 255.0  # noqa: E731
            to_y = lambda d: np.asarray(d.targets)  # noqa: E731
        elif name == "cifar10":
            train, test = (tvd.CIFAR10(root, train=t, download=spec.download) for t in (True, False))
            to_x = lambda d: d.data.transpose(0, 3, 1, 2) / 255.0  # noqa: E731
            to_y = lambda d: np.asarray(d.targets)  # noqa: E731
        else:  # svhn, stl10: split names, channels-first uint8 arrays, `.labels`
            cls = tvd.SVHN if name == "svhn" else tvd.STL10
            train, test = (cls(root, split=s, download=spec.download) for s in ("train", "test"))
            to_x = lambda d: d.data / 255.0  # noqa: E731
            to_y = lambda d: np.asarray(d.labels)  # noqa: E731
    except RuntimeError as err:  # torchvision's "Dataset not found or corrupted"
        raise DatasetError(
            f"dataset '{name}' is not in {root} ({err}). Put it there in torchvision's layout, "
            "or pass --download on a machine that can reach the internet."
        ) from None
    return to_x(train).astype(np.float32), to_y(train), to_x(test).astype(np.float32), to_y(test)
