"""Real hpbandster logs for tests: a tiny BOHB sweep with an in-process worker, written by hpbandster's own
json_result_logger, and the import of such a log into a warehouse (python -m pipeline.importers hpbandster)."""

import math
import shutil
from pathlib import Path

from pipeline import importers
from pipeline.core import hpbandster_compat

ITERATIONS = 3  # brackets s = 2, 1, 0 of min_budget 1, max_budget 9, eta 3: 20 evaluations


def tiny_result(config, budget, config_id) -> dict:
    """The tiny worker's result: a loss from lr, budget and optimizer, accuracy named as in hpbandster's examples."""
    loss = abs(math.log10(config["lr"]) + 2) / 3 + 1 / budget + (0.1 if config["optimizer"] == "sgd" else 0)
    return {"loss": loss, "info": {"test accuracy": 1 / (1 + loss), "layers": config["layers"]}}


def run_tiny_bohb(directory: Path, *, iterations: int = ITERATIONS, min_budget: float = 1, max_budget: float = 9,
                  eta: float = 3, result=tiny_result) -> None:
    """A real BOHB sweep on 127.0.0.1 with an in-process worker, logged by json_result_logger.

    Index 1 of every bracket raises, so each bracket has a failed evaluation; momentum is a
    conditional hyperparameter, active only when optimizer == 'sgd'. The worker returns
    result(config, budget, config_id).
    """
    hpbandster_compat.install()
    import ConfigSpace as CS
    from hpbandster.core.nameserver import NameServer
    from hpbandster.core.result import json_result_logger
    from hpbandster.core.worker import Worker
    from hpbandster.optimizers import BOHB

    class TinyWorker(Worker):
        def compute(self, config, budget, config_id, **kwargs):
            if config_id[2] == 1:
                raise RuntimeError(f"failing on purpose: {config_id}")
            return result(config, budget, config_id)

    space = CS.ConfigurationSpace(seed=1)
    optimizer = CS.CategoricalHyperparameter("optimizer", ["adam", "sgd"])
    momentum = CS.UniformFloatHyperparameter("momentum", 0.0, 0.99)
    space.add([optimizer, momentum, CS.UniformFloatHyperparameter("lr", 1e-4, 1e-1, log=True),
               CS.UniformIntegerHyperparameter("layers", 1, 4), CS.EqualsCondition(momentum, optimizer, "sgd")])
    run_id = f"import-test-{directory.name}"
    nameserver = NameServer(run_id=run_id, host="127.0.0.1", port=0)
    host, port = nameserver.start()
    worker = TinyWorker(run_id=run_id, nameserver=host, nameserver_port=port, host="127.0.0.1")
    worker.run(background=True)
    sweep = BOHB(configspace=space, run_id=run_id, nameserver=host, nameserver_port=port, host="127.0.0.1",
                 min_budget=min_budget, max_budget=max_budget, eta=eta,
                 result_logger=json_result_logger(str(directory)))
    try:
        sweep.run(n_iterations=iterations)
    finally:
        sweep.shutdown(shutdown_workers=True)
        nameserver.shutdown()


def import_log(logdir: Path, warehouse: Path, study: str = "theirs", *flags: str) -> None:
    importers.main(["hpbandster", str(logdir), "--study", study, "--warehouse", str(warehouse), *flags])


def demo_with_log(demo: Path, folder: Path, study: str, *, iterations: int = 6) -> Path:
    """A copy of the demo warehouse with a real tiny BOHB log (`iterations` brackets, a failure on purpose in
    each) imported beside its studies as `study`."""
    path = folder / "warehouse.duckdb"
    shutil.copy(demo, path)
    run_tiny_bohb(folder / "log", iterations=iterations)
    import_log(folder / "log", path, study)
    return path
