"""The import rules of the layout (README, Layout): each package may import only what its role needs.

    .venv/bin/python -m pytest tests/test_layout.py

Every module is imported in a fresh interpreter and its `sys.modules` inspected, so a module
added to a package later is checked by the same rule. The pages are run (AppTest) rather than
imported, since a page is a script. Streamlit is also checked in the source, lazy imports included.
"""

from __future__ import annotations

import ast
import json
import os
import pkgutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import pipeline
from tests.conftest import ROOT

# package or module prefix -> top-level modules it must not load when imported
RULES = {
    "pipeline.core": {"torch", "duckdb", "polars", "streamlit", "altair"},
    "pipeline.training": {"duckdb", "polars", "pyarrow", "streamlit", "altair"},
    "pipeline.worker": {"duckdb", "polars", "pyarrow", "streamlit", "altair"},  # runs on bare GPU machines
    "pipeline.analysis": {"streamlit", "torch", "hpbandster", "Pyro4"},
    "pipeline.warehouse": {"torch", "streamlit", "hpbandster", "Pyro4"},
    "pipeline.app": {"torch", "hpbandster", "Pyro4"},
    "pipeline.jobs": {"torch", "streamlit", "altair"},
    "pipeline.ensemble": {"streamlit", "altair"},  # trains in worker processes of its own: torch is its business
    "pipeline.bohb": {"torch", "streamlit", "altair"},  # masters: local workers train in processes of their own
    "pipeline.distributed": {"torch", "streamlit", "altair"},
    "pipeline.importers": {"torch", "streamlit", "hpbandster", "Pyro4"},
    "pipeline.demo": {"torch", "streamlit", "hpbandster", "Pyro4"},
}
# The only modules below the pages that may import streamlit: the app's state, and the benchmark that drives AppTest.
STREAMLIT_ALLOWED = {"pipeline/app/state.py", "pipeline/benchmarks/app.py",
                     "pipeline/benchmarks/parallel_page.py"}  # page benchmarks drive the app with AppTest
PAGE_FORBIDDEN = {"torch", "hpbandster", "Pyro4"}


def all_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(pipeline.__path__, "pipeline."))


def rule_for(module: str) -> set[str] | None:
    prefixes = [p for p in RULES if module == p or module.startswith(p + ".")]
    return RULES[max(prefixes, key=len)] if prefixes else None


def loaded_after(code: str, env: dict | None = None) -> dict:
    """Top-level modules, and pipeline modules, loaded by running `code` in a fresh interpreter."""
    probe = code + textwrap.dedent("""
        import json as _json, sys as _sys
        print("LOADED" + _json.dumps({"top": sorted({m.split(".")[0] for m in _sys.modules}),
                                       "pipeline": sorted(m for m in _sys.modules if m.startswith("pipeline"))}))
    """)
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=180,
                            env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("LOADED"))
    return json.loads(line[len("LOADED"):])


def test_every_module_has_a_rule():
    """A new package is a new role: give it a rule here before it lands."""
    lawless = [m for m in all_modules() if rule_for(m) is None and not m.startswith("pipeline.benchmarks")]
    assert lawless == []


RULED = [m for m in all_modules() if rule_for(m)]


@pytest.fixture(scope="module")
def loaded_by_module() -> dict[str, dict]:
    """Each ruled module imported alone in its own interpreter, a few at a time (a second each)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(RULED, pool.map(lambda m: loaded_after(f"import {m}"), RULED)))


@pytest.mark.parametrize("module", RULED)
def test_module_imports_only_what_its_role_allows(module, loaded_by_module):
    loaded = loaded_by_module[module]
    broken = sorted(rule_for(module) & set(loaded["top"]))
    assert broken == [], f"importing {module} loads {broken}; pipeline modules loaded: {loaded['pipeline']}"


def test_demo_restore_does_not_import_torch(tmp_path):
    """Restoring the demo is a copy into DuckDB: it must not pay ~1 s for torch."""
    target = tmp_path / "w.duckdb"
    code = textwrap.dedent(f"""
        import runpy, sys
        sys.argv = ["pipeline.demo", "restore", "--warehouse", {str(target)!r}]
        try:
            runpy.run_module("pipeline.demo", run_name="__main__")
        except SystemExit as stop:
            assert not stop.code, stop.code
    """)
    loaded = loaded_after(code)
    assert target.exists()
    assert "torch" not in loaded["top"], loaded["pipeline"]


@pytest.fixture(scope="module")
def pages_loaded(demo_warehouse) -> dict:
    """Every page run once with AppTest on the demo, in one fresh interpreter."""
    pages = sorted(str(p) for p in (ROOT / "app_pages").glob("*.py"))
    code = textwrap.dedent(f"""
        from streamlit.testing.v1 import AppTest
        for page in {pages!r}:
            at = AppTest.from_file(page, default_timeout=120).run()
            assert not at.exception, (page, at.exception)
    """)
    return loaded_after(code, env={"HPW_WAREHOUSE": str(demo_warehouse)})


def test_pages_run_without_torch_hpbandster_or_pyro(pages_loaded):
    assert set(pages_loaded["pipeline"]) - {"pipeline"}, "no page loaded the pipeline: the probe is broken"
    assert sorted(PAGE_FORBIDDEN & set(pages_loaded["top"])) == [], pages_loaded["pipeline"]


def test_home_page_runs_without_torch_hpbandster_or_pyro(demo_warehouse):
    code = textwrap.dedent(f"""
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({str(ROOT / "app.py")!r}, default_timeout=120).run()
        assert not at.exception, at.exception
        assert at.title[0].value == "Experiment warehouse"
    """)
    loaded = loaded_after(code, env={"HPW_WAREHOUSE": str(demo_warehouse)})
    assert sorted(PAGE_FORBIDDEN & set(loaded["top"])) == [], loaded["pipeline"]


def _streamlit_imports(path: Path) -> list[int]:
    tree = ast.parse(path.read_text())
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        if any(name.split(".")[0] == "streamlit" for name in names):
            lines.append(node.lineno)
    return lines


def test_only_the_app_state_module_imports_streamlit():
    offenders = {}
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative not in STREAMLIT_ALLOWED and _streamlit_imports(path):
            offenders[relative] = _streamlit_imports(path)
    assert offenders == {}


def test_the_source_check_sees_an_import(tmp_path):
    """The source check itself: a lazy import inside a function counts."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from streamlit import session_state\n    return session_state\n")
    assert _streamlit_imports(probe) == [2]


COMMANDS = sorted(p.stem for p in (ROOT / "pipeline").glob("*.py") if p.name != "__init__.py")


def _module_level_imports(path: Path) -> set[str]:
    """Modules a file imports when it is imported (not those imported inside a function)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return found


@pytest.mark.parametrize("command", COMMANDS)
def test_commands_do_not_import_each_other(command):
    """Commands are thin; what two of them share lives in a package (pipeline/jobs/ for the jobs)."""
    imported = _module_level_imports(ROOT / "pipeline" / f"{command}.py")
    assert sorted(f"pipeline.{other}" for other in COMMANDS if f"pipeline.{other}" in imported) == []


def test_commands_sit_directly_in_pipeline():
    """Every module directly in pipeline/ is a command: it has a main() and a docstring with its command line."""
    for path in sorted((ROOT / "pipeline").glob("*.py")):
        if path.name == "__init__.py":
            continue
        text = path.read_text()
        assert "def main(" in text and 'if __name__ == "__main__":' in text, path.name
        assert f"python -m pipeline.{path.stem}" in (ast.get_docstring(ast.parse(text)) or ""), path.name
