"""Facts about this process that every record carries; importable without the app's dependencies."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime


def utcnow() -> datetime:
    """Naive UTC time: the warehouse stores UTC timestamps without a zone."""
    return datetime.now(UTC).replace(tzinfo=None)


def utc_from_unix(seconds: float | None) -> datetime | None:
    """A Unix timestamp (hpbandster's job times) as the warehouse's naive UTC time."""
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
