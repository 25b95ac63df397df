"""The hpbandster worker that trains: ensemble members and sweep evaluations, on any machine.

A thin adapter (hpbandster's own example workers): `compute(config, budget)` maps the job to a
Runner call and returns {"loss", "info"} with built-in types only. Imports torch, never DuckDB,
polars or Streamlit. Started by `python -m pipeline.worker` (remote) and the local clusters.
"""

from __future__ import annotations

import json

import numpy as np

from pipeline.core import hpbandster_compat
from pipeline.core.protocol import TIME_FIELDS, read_settings
from pipeline.training.datasets import DataSpec
from pipeline.training.runner import Runner, resolve_device

hpbandster_compat.install()

from hpbandster.core.worker import Worker  # noqa: E402


class PipelineWorker(Worker):
    """Trains what the master hands out: ensemble members, or sweep evaluations."""

    def __init__(self, *args, device: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        self.device = resolve_device(device)
        self.runners: dict[str, Runner] = {}
        self._sweep: dict | None = None

    def runner(self, data_spec: dict) -> Runner:
        key = json.dumps(data_spec, sort_keys=True)
        if key not in self.runners:  # one per data shape, each keeping its datasets on the device
            self.runners[key] = Runner(DataSpec(**data_spec), self.device)
        return self.runners[key]

    def sweep_settings(self) -> dict:
        if self._sweep is None:
            self._sweep = read_settings(self.nameserver, self.nameserver_port, self.run_id)
        return self._sweep

    def compute(self, config_id, config, budget, working_directory):
        if "data_spec" in config:  # an ensemble member: everything travels in the config
            record = self.runner(config["data_spec"]).run(
                config["hyperparameters"], dataset=config["dataset"], epochs=int(budget), seed=config["seed"])
            loss = 1.0 - record["test_accuracy"] if record["status"] == "ok" else 1.0
        else:  # a sweep evaluation: hpbandster's config, the sweep's settings from the nameserver
            sweep = self.sweep_settings()
            by_epochs = sweep["budget_resource"] == "epochs"
            record = self.runner(sweep["data_spec"]).run(
                hpbandster_compat.plain(config), dataset=sweep["dataset"], fixed=sweep["fixed"],
                epochs=max(1, round(budget)) if by_epochs else sweep["epochs"],
                train_fraction=1.0 if by_epochs else budget / sweep["max_budget"],
                seed=int(np.random.SeedSequence([sweep["seed"], *config_id]).generate_state(1)[0]))
            if record["status"] == "failed":  # let hpbandster see it crash: its KDE must not learn from it
                raise RuntimeError(record["error"])
            # the optimizer sees validation accuracy only; the test split stays unseen until reported
            loss = 1.0 - record["curve"][-1]["val_accuracy"] if record["status"] == "ok" else 1.0
        for name in TIME_FIELDS:
            record[name] = record[name].isoformat()
        return {"loss": float(loss), "info": hpbandster_compat.plain(record)}
