"""Search spaces declared in TOML files, and a seeded sampler over them.

A space is an ordered list of hyperparameters. Each TOML table is one hyperparameter, except
two reserved keys: `budget = "epochs"` (or "data_fraction": what a sweep's budget buys) and a
`[fixed]` table of values every network gets without searching them.

    [batch_size]
    choices = [32, 64, 128, 256]       # categorical (numbers, strings or booleans)

    [learning_rate]
    low = 1e-4
    high = 1e-1
    log = true                         # float, sampled log-uniformly

    [conv_layers]
    low = 3
    high = 5
    integer = true                     # integer, both ends included

    [momentum]
    low = 0.0
    high = 1.0
    when = { optimizer = ["sgd"] }     # active only for these parent values

Sampling is by (seed, index): member i of a study is the same configuration whatever order
members are trained in, which is what makes a job resumable without duplicates.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.core import limits

SPACES_DIR = Path(__file__).parents[1] / "spaces"

Value = int | float | str | bool


class SpaceError(ValueError):
    """A search space file that cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Param:
    name: str
    choices: tuple[Value, ...] | None = None  # categorical when set
    low: float | None = None  # numeric range, inclusive
    high: float | None = None
    log: bool = False  # sample log-uniformly (low must be > 0)
    integer: bool = False  # round to int (numeric ranges only)
    when: dict[str, tuple[Value, ...]] = field(default_factory=dict)  # parent -> allowed values

    @property
    def is_categorical(self) -> bool:
        return self.choices is not None

    def is_active(self, config: dict[str, Value]) -> bool:
        return all(config.get(parent) in allowed for parent, allowed in self.when.items())

    def sample(self, rng: np.random.Generator) -> Value:
        if self.choices is not None:
            return self.choices[int(rng.integers(len(self.choices)))]
        if self.integer:
            if self.log:
                value = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
                return int(min(math.floor(value), self.high))
            return int(rng.integers(int(self.low), int(self.high) + 1))
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))

    def ends(self) -> tuple[Value, ...]:
        """Every option of a categorical, the two ends of a range (the extremes sample() can return)."""
        if self.choices is not None:
            return self.choices
        return (int(self.low), int(self.high)) if self.integer else (float(self.low), float(self.high))

    def to_dict(self) -> dict:
        out: dict = {}
        if self.choices is not None:
            out["choices"] = list(self.choices)
        else:
            out.update(low=self.low, high=self.high, log=self.log, integer=self.integer)
        if self.when:
            out["when"] = {k: list(v) for k, v in self.when.items()}
        return out


@dataclass(frozen=True)
class Space:
    params: tuple[Param, ...]
    fixed: dict[str, Value] = field(default_factory=dict)  # given to every network, never searched
    budget: str = "epochs"  # what a sweep's budget buys: "epochs" or "data_fraction"

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def sample(self, seed: int, index: int) -> dict[str, Value]:
        """Configuration number `index` of a study seeded with `seed`; inactive params absent."""
        rng = np.random.default_rng([seed, index])
        config: dict[str, Value] = {}
        for p in self.params:
            value = p.sample(rng)  # drawn even when inactive, so later params keep their stream
            if p.is_active(config):
                config[p.name] = value
        return config

    def probes(self) -> list[tuple[str, Value, dict[str, Value]]]:
        """(name, value, configuration) giving each hyperparameter each of its options and both ends of
        its range once, the others at their first option or low end, the varied one's `when` parents
        set so that it is active: a few dozen configurations that show whether the code reading them
        could use every value the space can sample, without sampling thousands."""
        base = {p.name: p.ends()[0] for p in self.params}
        out = []
        for p in self.params:
            for value in p.ends():
                chosen = {**base, **self._activating(p), p.name: value}
                config: dict[str, Value] = {}
                for q in self.params:  # in declaration order, as sample() decides what is active
                    if q.is_active(config):
                        config[q.name] = chosen[q.name]
                out.append((p.name, value, config))
        return out

    def _activating(self, param: Param) -> dict[str, Value]:
        """Parent values under which `param` is active (its parents' own parents included)."""
        out: dict[str, Value] = {}
        for parent, allowed in param.when.items():
            out.update(self._activating(self[parent]))
            out[parent] = allowed[0]
        return out

    def with_choices(self, name: str, choices: list[Value]) -> Space:
        """The same space with one categorical narrowed or widened to `choices`."""
        old = self[name]
        if not old.is_categorical:
            raise SpaceError(f"'{name}' is not categorical; only categorical choices can be replaced")
        new = Param(name, choices=tuple(choices), when=old.when)
        return Space(tuple(new if p.name == name else p for p in self.params), fixed=self.fixed, budget=self.budget)

    def param_types(self) -> dict[str, str]:
        """bool | int | float | text per hyperparameter, for a study's typed wide view.

        `dataset` is left out: it is a column of runs, never a row of hyperparameters.
        """
        types = {}
        for p in self.params:
            if p.name == "dataset":
                continue
            values = p.choices if p.is_categorical else [int(p.low) if p.integer else float(p.low)]
            if all(isinstance(v, bool) for v in values):
                types[p.name] = "bool"
            elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                types[p.name] = "int"
            elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                types[p.name] = "float"
            else:
                types[p.name] = "text"
        return types

    def to_json(self) -> str:
        # reserved keys only when set, so a plain space keeps the JSON it always had (resume compares it)
        reserved = {**({"budget": self.budget} if self.budget != "epochs" else {}),
                    **({"fixed": self.fixed} if self.fixed else {})}
        return json.dumps({**reserved, **{p.name: p.to_dict() for p in self.params}})

    def to_configspace(self, seed: int):
        """The same space as a ConfigSpace ConfigurationSpace (conditions included), for hpbandster."""
        import ConfigSpace as CS

        cs = CS.ConfigurationSpace(seed=seed)
        hps = {}
        for p in self.params:
            if p.is_categorical:
                hps[p.name] = CS.Categorical(p.name, list(p.choices))
            elif p.integer:
                hps[p.name] = CS.Integer(p.name, (int(p.low), int(p.high)), log=p.log)
            else:
                hps[p.name] = CS.Float(p.name, (float(p.low), float(p.high)), log=p.log)
            cs.add(hps[p.name])
        for p in self.params:
            for parent, allowed in p.when.items():
                cs.add(CS.InCondition(hps[p.name], hps[parent], list(allowed)))
        return cs

    @classmethod
    def from_json(cls, text: str) -> Space:
        try:
            tables = json.loads(text)
        except (ValueError, RecursionError) as err:
            raise SpaceError(f"a stored search space is not valid JSON ({type(err).__name__})") from None
        return parse_space(tables, source="<json>")


BUDGET_RESOURCES = ("epochs", "data_fraction")


def parse_space(tables: dict, *, source: str) -> Space:
    """Reserved keys: `budget` (a string, see BUDGET_RESOURCES) and `fixed` (a table of constants).

    Everything a job would trip over later is refused here, before a study is written: names that
    cannot be columns (pipeline/core/limits.py), values that are not scalars, ranges that are not finite
    or not whole for integers, conditions that are not tables of a categorical parent's options.
    """
    if not isinstance(tables, dict):
        raise SpaceError(f"{source}: a space is a table of hyperparameters")
    tables = dict(tables)
    budget = tables.pop("budget", "epochs")
    if budget not in BUDGET_RESOURCES:
        raise SpaceError(f"{source}: budget = {_shown_value(budget)}; choose one of {', '.join(BUDGET_RESOURCES)}")
    fixed = tables.pop("fixed", {})
    if not isinstance(fixed, dict) or not all(_is_value(v) for v in fixed.values()):
        raise SpaceError(f"{source}: 'fixed' must be a table of constant values (strings, numbers, booleans)")
    for names in (tables, fixed):
        limits.check_names(names, source, f"rename it (names are 1-{limits.MAX_NAME_CHARS} printable characters "
                           "without double quotes, and no two differ only in case)", SpaceError)
    params: list[Param] = []
    for name, spec in tables.items():
        where = f"{source}: [{limits.shown(name)}]"
        if not isinstance(spec, dict):
            raise SpaceError(f"{where} must be a table with 'choices' or 'low'/'high'")
        unknown = set(spec) - {"choices", "low", "high", "log", "integer", "when"}
        if unknown:
            raise SpaceError(f"{where} has unknown keys {sorted(map(limits.shown, unknown))}")
        when = _conditions(where, spec.get("when", {}), {p.name: p for p in params})
        if "choices" in spec:
            params.append(Param(name, choices=_choices(where, spec["choices"]), when=when))
            continue
        if "low" not in spec or "high" not in spec:
            raise SpaceError(f"{where} needs either 'choices' or both 'low' and 'high'")
        flags = {key: spec.get(key, False) for key in ("log", "integer")}
        if not all(isinstance(v, bool) for v in flags.values()):
            raise SpaceError(f"{where}: 'log' and 'integer' must be true or false")
        low, high = spec["low"], spec["high"]
        if not all(_is_number(v) and abs(v) <= limits.MAX_ABS_VALUE for v in (low, high)):
            raise SpaceError(f"{where}: 'low' and 'high' must be finite numbers within "
                             f"+-{limits.MAX_ABS_VALUE:g}, got {_shown_value(low)} and {_shown_value(high)}")
        if flags["integer"] and not all(float(v).is_integer() for v in (low, high)):
            raise SpaceError(f"{where}: an integer range needs whole numbers, got {low} to {high}")
        if low >= high:
            raise SpaceError(f"{where}: low ({low}) must be below high ({high}); for a constant use [fixed] "
                             "or choices = [value]")
        if flags["log"] and low <= 0:
            raise SpaceError(f"{where}: a log-scaled range needs low > 0")
        params.append(Param(name, low=low, high=high, when=when, **flags))
    if not params:
        raise SpaceError(f"{source}: the space declares no hyperparameters")
    clash = sorted({name.lower() for name in fixed} & {p.name.lower() for p in params})
    if clash:
        raise SpaceError(f"{source}: {', '.join(clash)} both searched and fixed; keep one")
    return Space(tuple(params), fixed=fixed, budget=budget)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_value(value) -> bool:
    """A value a hyperparameter can take: a short string, a finite number, a boolean (not a list or a date)."""
    if isinstance(value, str):
        return len(value) <= limits.MAX_VALUE_CHARS
    return isinstance(value, bool) or (_is_number(value) and abs(value) <= limits.MAX_ABS_VALUE)


def _shown_value(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


def _choices(where: str, choices) -> tuple[Value, ...]:
    if not isinstance(choices, list) or not 0 < len(choices) <= limits.MAX_CHOICES:
        raise SpaceError(f"{where}: 'choices' must be a list of 1 to {limits.MAX_CHOICES:,} values")
    bad = next((v for v in choices if not _is_value(v)), None)
    if bad is not None:
        raise SpaceError(f"{where}: choice {_shown_value(bad)} is not a string (at most {limits.MAX_VALUE_CHARS} "
                         "characters), a finite number or a boolean")
    distinct = {(type(v), v) for v in choices}  # 1, 1.0 and true are three options, "a" twice is one
    if len(distinct) < len(choices):
        raise SpaceError(f"{where}: 'choices' lists a value twice")
    return tuple(choices)


def _conditions(where: str, spec, declared: dict[str, Param]) -> dict[str, tuple[Value, ...]]:
    """`when = {parent = [values]}`: each parent a categorical declared above, each value one of its options."""
    if not isinstance(spec, dict):
        raise SpaceError(f"{where}: 'when' must be a table like when = {{ parent = [values] }}, "
                         f"got {_shown_value(spec)}")
    when = {}
    for parent, allowed in spec.items():
        if parent not in declared:
            raise SpaceError(f"{where}: condition on {limits.shown(parent)}, which must be declared above it")
        if not declared[parent].is_categorical:
            raise SpaceError(f"{where}: condition on {limits.shown(parent)}, which is not categorical")
        when[parent] = tuple(allowed if isinstance(allowed, list) else [allowed])
        impossible = [v for v in when[parent] if not _is_value(v) or v not in declared[parent].choices]
        if impossible or not when[parent]:
            raise SpaceError(f"{where}: condition on {parent} = {_shown_value(impossible)}, which are not among "
                             "its choices")
    return when


def load_space(path: str | Path) -> Space:
    """Read a space from a TOML file (a bare name looks in pipeline/spaces/)."""
    path = Path(path)
    try:
        if not path.suffix and not path.exists():
            path = SPACES_DIR / f"{path}.toml"
        with open(path, "rb") as file:
            data = file.read(limits.MAX_SPACE_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SpaceError(f"--space: space file {path} does not exist; pass a TOML file, or a name in "
                         "pipeline/spaces/") from None
    except OSError as err:
        raise SpaceError(f"--space: cannot read {path} ({err.strerror or err}); pass a TOML "
                         "file, or a name in pipeline/spaces/") from None
    if len(data) > limits.MAX_SPACE_FILE_BYTES:
        raise SpaceError(f"--space: {path} is larger than {limits.MAX_SPACE_FILE_BYTES:,} bytes; a space file is a "
                         "few lines of TOML")
    try:
        tables = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise SpaceError(f"--space: {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:
        raise SpaceError(f"--space: {path} is not valid TOML: {err}") from None
    except RecursionError:
        raise SpaceError(f"--space: {path} nests tables or lists too deeply") from None
    return parse_space(tables, source=str(path))
