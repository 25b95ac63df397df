"""The importance benchmark's flags: bad values exit 2 with argparse's words and no traceback, before any work.

    .venv/bin/python -m pytest tests/benchmarks/test_importance_benchmark.py
"""

import pytest

from tests.conftest import run_cli


@pytest.mark.parametrize("flags, words", [
    (["--runs", "5"], "argument --runs: 5 is out of range"),
    (["--runs", "ten"], "argument --runs"),
    (["--repeats", "0"], "argument --repeats: 0 is out of range"),
    (["--optuna-runs", "-1"], "argument --optuna-runs: -1 is out of range"),
    (["--optuna-runs", "50000"], "argument --optuna-runs: 50000 is out of range"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_flags_exit_2_in_words(flags, words):
    result = run_cli("-m", "pipeline.benchmarks.importance", *flags, timeout=60)
    assert result.returncode == 2
    assert words in result.stderr and "Traceback" not in result.stderr
    assert "planted runs" not in result.stdout  # nothing was built
