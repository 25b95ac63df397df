"""What pages share: the warehouse path, cached named queries, errors shown to the person.

A query opens the warehouse read-only for its own duration only (see pipeline/warehouse.py on
the file lock). Results are cached under the file's modification time, so a page refreshes as
soon as a job has written new runs and costs nothing while it has not.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pipeline import warehouse


def file_version(path: Path) -> tuple:
    """Changes whenever a writer has committed to the file (or its write-ahead log)."""
    stats = [p.stat() for p in (path, path.with_name(path.name + ".wal")) if p.exists()]
    return tuple((s.st_mtime_ns, s.st_size) for s in stats)


def warehouse_or_stop() -> Path:
    """The warehouse path, or an error with what to do, and the page stops there."""
    path = warehouse.resolve_path()
    try:
        with warehouse.read(path, timeout=5.0):
            return path
    except warehouse.WarehouseError as err:
        st.error(str(err))
        st.markdown("To open the demo warehouse, run `python -m pipeline.demo restore` in the project folder, "
                    f"or point the app at another file: `{warehouse.PATH_ENV_VAR}=path/to/file.duckdb streamlit run app.py`.")
        st.stop()


@st.cache_data(show_spinner=False, max_entries=256)
def _cached(path: str, version: tuple, name: str, params: tuple):
    with warehouse.read(Path(path)) as con:
        return warehouse.query(con, name, dict(params))


def cached_query(path: Path, name: str, params: dict | None = None):
    """The named query's result as a polars frame, cached until the warehouse changes."""
    return _cached(str(path), file_version(path), name, tuple(sorted((params or {}).items())))
