"""What a master and its workers agree on, over hpbandster's Pyro4 nameserver.

hpbandster hands a worker only (config, budget); the dataset, data shape and seed of a sweep reach
remote workers as metadata of a name on the nameserver, through the engine already running, not a
side channel. Results travel as built-in types only (serpent), datetimes as ISO strings.
Both sides import this: the master without torch, the worker without DuckDB.
"""

from __future__ import annotations

import json

TIME_FIELDS = ("started_at", "finished_at")  # datetimes of a record, sent as ISO strings


def settings_name(run_id: str) -> str:
    return f"pipeline.run_{run_id}.settings"


def publish_settings(nameserver_host: str, nameserver_port: int, run_id: str, settings: dict) -> None:
    """Put a sweep's settings on the nameserver for every worker to read (read_settings)."""
    import Pyro4

    with Pyro4.locateNS(host=nameserver_host, port=nameserver_port) as ns:
        ns.register(settings_name(run_id), "PYRO:settings@localhost:1", metadata={json.dumps(settings)})


def read_settings(nameserver_host: str, nameserver_port: int, run_id: str) -> dict:
    import Pyro4

    with Pyro4.locateNS(host=nameserver_host, port=nameserver_port) as ns:
        _, metadata = ns.lookup(settings_name(run_id), return_metadata=True)
    return json.loads(next(iter(metadata)))
