"""Turn one configuration into one warehouse record: the piece every worker process shares.

A `Runner` lives in a worker process. It loads each dataset once, keeps it on its device, and
trains configuration after configuration. It never raises for a bad configuration: an
exception becomes a `failed` record with its text, a NaN loss a `diverged` one.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import asdict

import torch

from pipeline.core.host import utcnow, worker_name
from pipeline.training.datasets import Dataset, DataSpec, load
from pipeline.training.train import train_network


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA device; use --device cpu or auto")
    return device


class Runner:
    def __init__(self, data_spec: DataSpec, device: torch.device):
        self.data_spec = data_spec
        self.device = device
        self._datasets: dict[str, Dataset] = {}
        if device.type == "cpu":
            torch.set_num_threads(1)  # one thread per worker process: oversubscription is 25x slower

    def dataset(self, name: str) -> Dataset:
        if name not in self._datasets:
            self._datasets[name] = load(name, self.data_spec).to(self.device)
        return self._datasets[name]

    def run(self, config: dict, *, dataset: str, epochs: int, seed: int, fixed: dict | None = None,
            train_fraction: float = 1.0) -> dict:
        """Train `config` (with the space's `fixed` values) on `dataset`; a record for insert_runs.

        `train_fraction` < 1 trains on the first part of the training split (a sweep budget).
        """
        started_at, start = utcnow(), time.perf_counter()
        record = {"dataset": dataset, "seed": seed, "device": str(self.device), "worker": worker_name(),
                  "started_at": started_at, "hyperparameters": {k: v for k, v in config.items() if k != "dataset"}}
        try:
            data = self.dataset(dataset)
            if train_fraction < 1.0:
                data = data.head(max(1, int(len(data.x_train) * train_fraction)))
            result = train_network({**(fixed or {}), **config}, data, epochs=epochs, seed=seed, device=self.device)
            fields = asdict(result)
            record["curve"] = fields.pop("curve")
            record.update(fields)
        except Exception as err:
            record.update(status="failed", curve=[],
                          error=f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=3)}")
        record["wall_seconds"] = time.perf_counter() - start
        record["finished_at"] = utcnow()
        return record
