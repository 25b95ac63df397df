"""What input may be, in one place: bounds on every number a command takes, the policy for names
that become SQL identifiers, and the quoting of those names.

Every bound is far beyond what a real study needs (the comment says why it is where it is) and
far below what would exhaust the machine or hold the warehouse's lock for long: the point is to
refuse nonsense with a message before anything is written, not to second-guess people. argparse
turns a refusal from `number(...)` into "argument --flag: ..." and exit code 2.
"""

from __future__ import annotations

import argparse
import math
import os
import unicodedata
from collections.abc import Iterable

# ---- numbers (inclusive ranges) ------------------------------------------------------------
RUNS = (1, 1_000_000)  # networks per study: the app is benchmarked at 1,000,000
EPOCHS = (1, 10_000)  # per network; the studies here use 1-50
ITERATIONS = (1, 1_000)  # Hyperband brackets per sweep; a bracket is up to MAX_BRACKET_CONFIGS evaluations
SEED = (0, 2**32 - 1)  # numpy and torch seeds; negative seeds are errors there
IMAGE_SIZE = (4, 512)  # pixels per side: STL-10 is 96; three 2x2 poolings want at least 4
TRAIN_SIZE = (10, 1_000_000)  # images per procedural dataset; 10 % (at least 1) is held out for validation
TEST_SIZE = (1, 1_000_000)
IMAGE_BYTES = 16 * 2**30  # one split's float32 images (size x size x channels x 4 bytes each), held in memory
WORKERS = (0, 256)  # worker processes on one machine (each holds torch and its datasets, ~300 MB)
MIN_WORKERS = (0, 10_000)  # workers a master waits for, remote ones included
PORT = (0, 65_535)  # 0: any free port
WORKER_PORT = (1, 65_535)
FLUSH_SECONDS = (0.01, 3_600)  # a job holds the warehouse ~0.1 s per flush; an hour loses at most an hour
BUDGET = (1e-6, 1_000_000)  # a sweep's budget (epochs, or a share of the data)
ETA = (1.001, 1_000)  # successive-halving factor; the plan bounds below refuse what this lets through
WAIT_SECONDS = (0, 7 * 24 * 3600)  # a worker waiting for its master, or for work
REPEATS = (1, 100)  # benchmark repetitions
# A Hyperband plan: eta close to 1 or budgets far apart make millions of brackets and configurations.
MAX_BRACKETS = 30  # successive-halving stages of one cycle (81 / 1 with eta 3 has 5)
MAX_BRACKET_CONFIGS = 100_000  # configurations in the first round of one bracket (81 / 1 with eta 3: 81)

# ---- sizes of search spaces, tables and logs -----------------------------------------------
MAX_HYPERPARAMETERS = 100  # per study: the published spaces have 8-14; each is a column of the wide table
MAX_CHOICES = 1_000  # options of one categorical hyperparameter
MAX_VALUE_CHARS = 256  # a categorical option written in a space file
MAX_ABS_VALUE = 1e15  # ends of a numeric range: exact as a double, and high - low stays finite
MAX_SPACE_FILE_BYTES = 1_000_000
MAX_NAME_CHARS = 64  # a hyperparameter name: a column name people type in SQL
MAX_STUDY_NAME_CHARS = 128
# An hpbandster log is read whole and parsed into Python objects (several times the file in memory).
# A line of results.json is ~200-500 bytes (a few KB with curves in its info); a real sweep logs
# thousands of evaluations, and a study holds at most RUNS[1] runs, one per line.
MAX_LOG_FILE_BYTES = 512 * 2**20  # configs.json or results.json
MAX_LOG_LINES = RUNS[1]
# A table to import: 1,000,000 networks (RUNS[1]) of 100 hyperparameters at ~20 characters a cell is
# ~2 GB of CSV; DuckDB holds about as much in memory while the import checks it.
MAX_TABLE_FILE_BYTES = 2 * 2**30

# ---- networks a space may ask for (checked by a dry build, pipeline/training/train.py check_space) ---
MAX_LAYERS = 100  # convolutions, or fully connected layers: the spaces here use 3-5; a plain stack
# without skip connections stops learning long before 100, and each layer is a module to build
MAX_WIDTH = 65_536  # channels of the first block (doubled in the next two) or units of an FC layer; 4,096 is wide
MAX_NETWORK_PARAMETERS = 1_000_000_000  # 4 GB of float32 weights, ~16 GB with gradients and Adam's
# state: beyond one device; the studies here train networks of 10^3 to 10^6


def number(kind: type, bounds: tuple[float, float]):
    """An argparse `type` for an int or float flag within `bounds`; 'nan' and 'inf' are refused."""
    low, high = bounds

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'a whole number' if kind is int else 'a number'}; "
                                             f"use one from {low:,} to {high:,}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"{text} is out of range; use a value from {low:,} to {high:,}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its own messages
    return parse


def env_seconds(variable: str, default: float) -> float:
    """A wait in seconds from the environment variable `variable` (a day at most), else `default`."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= 86_400:  # also refuses nan
        raise ValueError(f"${variable} must be a number of seconds from 0 to 86400, got {text!r}; "
                         f"unset it for the default {default:g} s")
    return seconds


# ---- names that become SQL identifiers -----------------------------------------------------
# A hyperparameter name becomes a column of the study's view and wide table, quoted ("name"), and
# people type it in SQL. Letters of any script, digits, spaces inside, punctuation: yes. Control and
# invisible format characters (NUL, newline, right-to-left marks), a double quote, leading or
# trailing spaces, run_id (the key column) and two names equal but for case (SQL ignores case): no.
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn"}  # control, format, surrogate, private use, unassigned


def shown(name: str, limit: int = 40) -> str:
    """A name for a message: control characters escaped, long ones cut."""
    text = ascii(name) if any(unicodedata.category(c) in _INVISIBLE for c in name) else repr(name)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(name):,} characters)"


def text_problem(text: str, what: str, max_chars: int) -> str | None:
    """Why `text` cannot be a name (empty, too long, invisible characters), or None."""
    if not isinstance(text, str):
        return f"{what} {text!r} is not text"
    if not text.strip():
        return f"{what} {shown(text)} is empty"
    if len(text) > max_chars:
        return f"{what} {shown(text)} is longer than {max_chars} characters"
    bad = next((c for c in text if unicodedata.category(c) in _INVISIBLE), None)
    if bad is not None:
        return f"{what} {shown(text)} contains the control or invisible character {bad!a}"
    if text != text.strip():
        return f"{what} {shown(text)} begins or ends with a space"
    return None


def names_problem(names: Iterable[str]) -> str | None:
    """The first reason why these hyperparameter names cannot be the columns of one study, or None."""
    seen: dict[str, str] = {}
    for count, name in enumerate(names, 1):
        problem = text_problem(name, "hyperparameter name", MAX_NAME_CHARS)
        if problem:
            return problem
        if '"' in name:
            return f"hyperparameter name {shown(name)} contains a double quote"
        if name.lower() == "run_id":
            return f"hyperparameter name {shown(name)} is taken by the run_id column"
        if seen.setdefault(name.lower(), name) != name:
            return (f"hyperparameters {shown(seen[name.lower()])} and {shown(name)} differ only in case, "
                    "which SQL column names ignore")
        if count > MAX_HYPERPARAMETERS:
            return f"more than {MAX_HYPERPARAMETERS} hyperparameters"
    return None


def check_names(names: Iterable[str], where: str, advice: str, error: type[Exception]) -> None:
    """Raise `error("WHERE: PROBLEM; ADVICE")` when `names_problem` finds one; each door has its own error type."""
    problem = names_problem(names)
    if problem:
        raise error(f"{where}: {problem}; {advice}")


def sql_ident(name: str) -> str:
    """`name` as a quoted SQL identifier (identifiers cannot be parameters)."""
    if "\x00" in name:  # the statement would end there
        raise ValueError(f"an SQL identifier cannot hold NUL: {shown(name)}")
    return '"' + name.replace('"', '""') + '"'


def sql_string(text: str) -> str:
    """`text` as an SQL string literal, for DDL and COPY, where parameters are not allowed."""
    if "\x00" in text:
        raise ValueError(f"an SQL string cannot hold NUL: {shown(text)}")
    return "'" + text.replace("'", "''") + "'"
