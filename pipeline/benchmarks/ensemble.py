"""The pipeline against the naive way: the same sampled networks, one run, one machine.

    python -m pipeline.benchmarks.ensemble   # CPU workload: 48 networks, 2,000 16x16 images, 4 epochs (the demo's)
    python -m pipeline.benchmarks.ensemble --device cuda --networks 512 --naive-networks 16 --train-size 60000 \
        --image-size 28 --epochs 5   # the GPU standard: MNIST-shaped, 60,000 images, 5 epochs

(a) naive: torch DataLoader over a TensorDataset (per-sample crop/flip in __getitem__, the way
    torchvision transforms work), one network at a time, fp32, torch's default threads, batches
    copied to the device each step, the loss read back every step.
(b) pipeline: `pipeline.ensemble` itself, end to end into a scratch warehouse (worker processes,
    data resident on the device, batched augmentation, bf16 on CUDA, process start included).
The naive way may run on the first `--naive-networks` of the same configurations to save time;
rates are per network, so the ratio compares like with like. Training FLOPs are counted as 3x
the forward FLOPs of torch's FLOP counter. Prints one table; record it in BENCHMARKS.md.
"""

from __future__ import annotations

import multiprocessing
import platform
import resource
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset

from pipeline import ensemble
from pipeline.core import limits
from pipeline.core.cli import UsageError, check_device, flag, parse
from pipeline.jobs.members import run_seed
from pipeline.training.cnn import build_cnn, flops_per_sample
from pipeline.training.datasets import BUILTIN, load
from pipeline.training.runner import resolve_device
from pipeline.training.train import make_optimizer
from pipeline.warehouse import store

PROG = "python -m pipeline.benchmarks.ensemble"


@dataclass(frozen=True)
class BenchmarkConfig:
    networks: int = flag(48, "networks the pipeline trains", bounds=limits.RUNS)
    naive_networks: int = flag(0, "networks the naive way trains, the first of the same ones (0: all)",
                               bounds=(0, limits.RUNS[1]))
    epochs: int = flag(4, "epochs per network (the GPU standard is 5)", bounds=limits.EPOCHS)
    train_size: int = flag(2000, "training images (the GPU standard is 60000, MNIST-sized)", bounds=limits.TRAIN_SIZE)
    image_size: int = flag(16, "pixels per side (the GPU standard is 28, MNIST-shaped)", bounds=limits.IMAGE_SIZE)
    dataset: str = flag("shapes", "built-in dataset", choices=BUILTIN)
    device: str = flag("auto", "auto, cpu or cuda")
    workers: int = flag(0, "pipeline worker processes (0: the job's default)", bounds=limits.WORKERS)
    seed: int = flag(0, "sampler seed", bounds=limits.SEED)

    def validate(self) -> None:
        check_device(self.device)
        if self.naive_networks > self.networks:
            raise UsageError(f"--naive-networks {self.naive_networks} is more than --networks {self.networks}")


class PerSampleAugment(Dataset):
    """What a torchvision transform pipeline does: one image at a time, in __getitem__."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, *, flip: bool):
        self.x, self.y, self.flip = x, y, flip
        self.pad = max(1, x.shape[-1] // 8)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        img = F.pad(self.x[i], (self.pad,) * 4)
        dy, dx = torch.randint(0, 2 * self.pad + 1, (2,)).tolist()
        img = img[:, dy : dy + self.x.shape[-2], dx : dx + self.x.shape[-1]]
        if self.flip and torch.rand(()) < 0.5:
            img = img.flip(-1)
        return img, self.y[i]


def naive_train(config: dict, data, *, epochs: int, seed: int, device: torch.device) -> float:
    """Train one network the naive way; returns its test accuracy."""
    in_shape = tuple(data.x_train.shape[1:])
    model = build_cnn(config, in_shape, data.num_classes, seed=seed).to(device)
    optimizer = make_optimizer(config, model.parameters())
    train_set = (PerSampleAugment(data.x_train, data.y_train, flip=data.flip_keeps_label)
                 if config["augmentation"] else TensorDataset(data.x_train, data.y_train))
    loader = DataLoader(train_set, batch_size=int(config["batch_size"]), shuffle=True)
    for _ in range(epochs):
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            _ = loss.item()  # the usual running-loss bookkeeping, a device sync every step
    model.eval()
    correct = 0
    with torch.no_grad():
        for xb, yb in DataLoader(TensorDataset(data.x_test, data.y_test), batch_size=1000):
            correct += (model(xb.to(device)).argmax(1).cpu() == yb).sum().item()
    return correct / len(data.x_test)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


class WorkerPeakMemory(threading.Thread):
    """Polls the high-water RSS (VmHWM) of this process's children, the pipeline's workers.

    getrusage(RUSAGE_CHILDREN) would not do: a spawned child starts as a fork, so its maxrss
    includes the parent's memory at that moment.
    """

    def __init__(self):
        super().__init__(daemon=True)
        self.peak_mb, self._done = 0.0, threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.25):
            for child in multiprocessing.active_children():
                try:
                    status = Path(f"/proc/{child.pid}/status").read_text()
                except OSError:
                    continue
                kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
                self.peak_mb = max(self.peak_mb, kib / 1024)

    def stop(self) -> float:
        self._done.set()
        self.join()
        return self.peak_mb


def main(argv: list[str] | None = None) -> None:
    cfg = parse(BenchmarkConfig, argv, description=__doc__.split("\n\n")[0], prog=PROG)
    device = resolve_device(cfg.device)
    job = ensemble.EnsembleConfig(
        study="benchmark", runs=cfg.networks, epochs=cfg.epochs, seed=cfg.seed, datasets=(cfg.dataset,),
        image_size=cfg.image_size, train_size=cfg.train_size, test_size=1000, device=str(device),
        workers=cfg.workers, flush_seconds=5.0)
    space = ensemble.load_ensemble_space(job)
    configs = [space.sample(cfg.seed, i) for i in range(cfg.networks)]
    data = load(cfg.dataset, job.data_spec)
    n_train, in_shape = len(data.x_train), tuple(data.x_train.shape[1:])
    images = n_train * cfg.epochs  # per network
    cpu = torch.device("cpu")
    fwd_flops = [flops_per_sample(build_cnn(c, in_shape, data.num_classes, seed=0), in_shape, cpu) for c in configs]

    n_naive = cfg.naive_networks or cfg.networks
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start, naive_times = time.perf_counter(), []
    for i, config in enumerate(configs[:n_naive]):
        t = time.perf_counter()
        naive_train(config, data, epochs=cfg.epochs, seed=run_seed(cfg.seed, i), device=device)
        naive_times.append(time.perf_counter() - t)
    naive_wall = time.perf_counter() - start
    naive_gpu = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None
    naive_rss = peak_rss_mb()
    del data

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        watcher = WorkerPeakMemory()
        watcher.start()
        start = time.perf_counter()
        ensemble.run(ensemble.EnsembleConfig(**{**job.__dict__, "warehouse": str(path)}), space=space)
        pipe_wall = time.perf_counter() - start
        worker_rss = watcher.stop()
        with store.read(path) as con:
            epochs_done, statuses = con.execute(
                "select sum(epochs), string_agg(distinct status, ',') from runs").fetchall()[0]

    naive = {"networks": n_naive, "wall": naive_wall, "images": images * n_naive,
             "flops": 3 * images * sum(fwd_flops[:n_naive])}
    pipe = {"networks": cfg.networks, "wall": pipe_wall, "images": n_train * epochs_done,
            "flops": 3 * images * sum(fwd_flops)}
    rate = {k: v["networks"] / v["wall"] * 3600 for k, v in (("naive", naive), ("pipeline", pipe))}
    print(f"machine: {platform.node()} {platform.machine()}, {torch.get_num_threads()} torch threads, device {device}"
          f"{' (' + torch.cuda.get_device_name() + ')' if device.type == 'cuda' else ''}, torch {torch.__version__}")
    print(f"workload: {cfg.networks} networks from the ensemble space on '{cfg.dataset}', {cfg.train_size} images "
          f"of {cfg.image_size}x{cfg.image_size}, {cfg.epochs} epochs; naive on the first {n_naive}; "
          f"pipeline statuses: {statuses}")
    print(f"{'':10} {'networks/h':>11} {'train img/s':>12} {'TFLOP/s':>9} {'wall s':>8} {'s/net median':>13}")
    for name, r in (("naive", naive), ("pipeline", pipe)):
        median = statistics.median(naive_times) if name == "naive" else pipe_wall / cfg.networks
        print(f"{name:10} {rate[name]:11.0f} {r['images'] / r['wall']:12.0f} {r['flops'] / r['wall'] / 1e12:9.4f} "
              f"{r['wall']:8.1f} {median:13.2f}")
    print(f"ratio pipeline/naive (networks/h): {rate['pipeline'] / rate['naive']:.2f}x")
    print(f"peak host RSS: naive process {naive_rss:.0f} MB, largest pipeline worker {worker_rss:.0f} MB"
          + (f"; naive GPU memory {naive_gpu:.0f} MB" if naive_gpu is not None else ""))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
