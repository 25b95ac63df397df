"""How long a person waits in the browser: from a click in the sidebar to the page's charts drawn.

    .venv/bin/python -m pipeline.benchmarks.browser --runs 16000 --runs 1000000 --sweep-evaluations 100000 --repeats 5

For each size it builds a warehouse (planted networks, pipeline/benchmarks/planted_study.py, and a planted
BOHB sweep of `--sweep-evaluations` evaluations, pipeline/benchmarks/planted_sweep.py, 0 to skip; each in a
child process: pipeline/benchmarks/page_warehouses.py), serves the app on it with `streamlit run app.py`,
and drives Debian's Chromium (/usr/bin/chromium) with Playwright at 1280 x 900: the first page after
the server started, then `--repeats` rounds through every page by clicking its sidebar link. A page
counts as drawn when its own title shows, each chart has its marks (SVG paths or a canvas), tables
their grid, and Streamlit's running indicator is gone. Prints the median per page and its ratio to
the 1 s budget; the server-side figures of the same pages come from pipeline.benchmarks.app.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.benchmarks import page_warehouses
from pipeline.benchmarks.page_warehouses import ROOT
from pipeline.warehouse import store

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
STARTUP_S = 60
WAIT_MS = 120_000  # one page at 1,000,000 runs right after start loads the study: generous
BUDGET_S = 1.0
# sidebar label -> the page's title, and what it draws once settled on an ensemble and on a sweep
PAGES = {
    "Overview": ("Experiment warehouse", "chart", "chart"),
    "Accuracy distribution": ("Accuracy distribution", "chart", "chart"),
    "Parameter combinations": ("Parameter combinations", "chart", "chart"),
    "Trellis": ("Trellis", "chart", "chart"),
    "Sweep": ("Sweep", None, "chart"),  # an ensemble has no brackets: the page says so in words
    "Exploration history": ("Exploration history", "chart", "chart"),
    "Compare studies": ("Compare studies", "chart", "chart"),
    "Importance": ("Hyperparameter importance", "chart", "chart"),
    "Parallel coordinates": ("Parallel coordinates", "chart", "chart"),
    "Correlations": ("Correlations", "chart", "chart"),
    "Embedding": ("Embedding", "chart", "chart"),
    "Runs table": ("Runs table", "dataframe", "dataframe"),
    "SQL": ("SQL", None, None),
}
CHART_DRAWN = '[data-testid="stVegaLiteChart"] svg path[role="graphics-symbol"], [data-testid="stVegaLiteChart"] canvas'
PAGE_ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
TABLE_DRAWN = '[data-testid="stDataFrame"] [data-testid="data-grid-canvas"]'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(warehouse: Path, log: Path) -> Iterator[str]:
    """`streamlit run app.py` on `warehouse` at a free local port; yields its URL, ends its process group."""
    port = _free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],  # no "File change: rerun" offer when a source file is saved
            cwd=ROOT, env={**os.environ, store.PATH_ENV_VAR: str(warehouse)},
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, proc, log)
            yield url
        finally:
            _end(proc)


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode} before serving:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().decode().strip() == "ok":
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"streamlit did not answer {url}/_stcore/health within {STARTUP_S} s:\n"
                               f"{log.read_text()}")
        time.sleep(0.2)


def _end(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def drawn(page, title: str, draws: str | None) -> None:
    """Waits until the page shows its title and what it draws, and Streamlit's script run has ended."""
    page.locator('[data-testid="stMain"] h1').filter(has_text=title).first.wait_for(timeout=WAIT_MS)
    # visible ones only: `.first` of all would lock onto an element of the previous page on its way out
    if draws == "chart":
        page.locator(CHART_DRAWN).filter(visible=True).first.wait_for(timeout=WAIT_MS)
    elif draws == "dataframe":
        page.locator(TABLE_DRAWN).filter(visible=True).first.wait_for(timeout=WAIT_MS)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=WAIT_MS)


def time_pages(url: str, repeats: int, *, sweep: bool = False) -> tuple[float, dict[str, list[float]]]:
    """Seconds to the first page after start, and per page the seconds from a sidebar click to drawn
    (`sweep`: the warehouse holds a sweep, which the Sweep page draws)."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    expected = {label: (title, sweep_draws if sweep else draws) for label, (title, draws, sweep_draws) in PAGES.items()}

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        start = time.perf_counter()
        page.goto(url)
        drawn(page, *expected["Overview"])
        first = time.perf_counter() - start
        times: dict[str, list[float]] = {label: [] for label in PAGES}
        for _ in range(repeats):
            for label, (title, draws) in expected.items():
                if label == "Overview":  # leave it first, so that its click is a page change too
                    page.get_by_role("link", name="Accuracy distribution").click()
                    drawn(page, *expected["Accuracy distribution"])
                link = page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=label, exact=True)
                start = time.perf_counter()
                link.click()
                try:
                    drawn(page, title, draws)
                except PlaywrightError:  # say which page, and what it showed instead
                    shown = [e.inner_text()[:500] for e in page.locator(PAGE_ERRORS).all()]
                    raise SystemExit(f"page {label!r} was not drawn within {WAIT_MS / 1000:.0f} s; "
                                     f"errors on it: {shown or 'none'}") from None
                times[label].append(time.perf_counter() - start)
        browser.close()
    return first, times


def main(argv: list[str] | None = None) -> None:
    prog = "python -m pipeline.benchmarks.browser"
    args = page_warehouses.parse(prog, __doc__.split("\n\n")[0], argv,
                                 repeats_help="rounds through every page; the median is reported")
    if not CHROMIUM.exists():
        print(f"{prog}: error: {CHROMIUM} is absent; install Debian's chromium (bash .ci/setup)", file=sys.stderr)
        raise SystemExit(2)
    with tempfile.TemporaryDirectory() as folder:
        for warehouse in args.warehouses:
            path = warehouse.build(Path(folder))
            with serving(path, Path(folder) / f"streamlit-{path.stem}.log") as url:
                first, times = time_pages(url, args.repeats, sweep=warehouse.sweep)
            print(f"{warehouse.label}: first page after the server started {first:.2f} s")
            print(f"  {'page':<24} {'median s':>9} {'max s':>7} {'of 1 s':>7}")
            for label, seconds in times.items():
                median = statistics.median(seconds)
                print(f"  {label:<24} {median:>9.2f} {max(seconds):>7.2f} {median / BUDGET_S:>7.2f}"
                      + ("   over budget" if median > BUDGET_S else ""))
            path.unlink()


if __name__ == "__main__":
    main()
