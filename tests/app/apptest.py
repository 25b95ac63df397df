"""The app under Streamlit's AppTest, as the page tests drive it: on a warehouse, with URL query parameters.

    from tests.app.apptest import open_page, run_app
    at = open_page(run_app(monkeypatch, path, scale="raw"), "distribution")
"""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from pipeline.warehouse import store
from tests.conftest import ROOT


def run_app(monkeypatch, path, **query) -> AppTest:
    """app.py run once on the warehouse at `path`, the URL carrying `query`."""
    monkeypatch.setenv(store.PATH_ENV_VAR, str(path))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def open_page(at: AppTest, page: str) -> AppTest:
    """Switch to app_pages/`page`.py and run it; it must show neither an exception nor an error."""
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at
