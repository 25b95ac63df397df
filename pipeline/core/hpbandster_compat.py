"""Make hpbandster 0.7.4 work with ConfigSpace 1.x and numpy 2. Call `install()` in EVERY
process (master and workers) before any hpbandster call.

Without it the Pyro4/serpent transport hangs silently: serpent cannot serialize `numpy.str_`
(ConfigSpace 1.x categorical values) and kills the dispatcher thread, and under numpy 2 it
writes `np.float64(1.0)` for budgets, which the other side cannot parse. Sending every numpy
scalar as its plain Python value fixes both (../shared/ENVIRONMENT.md).
"""

from __future__ import annotations

import numpy as np
import serpent


def _numpy_scalar(obj, serializer, outputstream, indentlevel):
    serializer._serialize(obj.item(), outputstream, indentlevel)


def install() -> None:
    serpent.register_class(np.generic, _numpy_scalar)


def plain(value):
    """A value with every numpy scalar inside turned into its Python equivalent."""
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(plain(v) for v in value)
    return value.item() if isinstance(value, np.generic) else value
