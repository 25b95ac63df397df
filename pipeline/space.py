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

SPACES_DIR = Path(__file__).parent / "spaces"

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
        return parse_space(json.loads(text), source="<json>")


BUDGET_RESOURCES = ("epochs", "data_fraction")


def parse_space(tables: dict, *, source: str) -> Space:
    """Reserved keys: `budget` (a string, see BUDGET_RESOURCES) and `fixed` (a table of constants)."""
    tables = dict(tables)
    budget = tables.pop("budget", "epochs")
    if budget not in BUDGET_RESOURCES:
        raise SpaceError(f"{source}: budget = {budget!r}; choose one of {', '.join(BUDGET_RESOURCES)}")
    fixed = tables.pop("fixed", {})
    if not isinstance(fixed, dict):
        raise SpaceError(f"{source}: 'fixed' must be a table of constant values")
    params: list[Param] = []
    for name, spec in tables.items():
        where = f"{source}: [{name}]"
        if not isinstance(spec, dict):
            raise SpaceError(f"{where} must be a table with 'choices' or 'low'/'high'")
        unknown = set(spec) - {"choices", "low", "high", "log", "integer", "when"}
        if unknown:
            raise SpaceError(f"{where} has unknown keys {sorted(unknown)}")
        when = {}
        declared = {p.name: p for p in params}
        for parent, allowed in spec.get("when", {}).items():
            if parent not in declared:
                raise SpaceError(f"{where}: condition on '{parent}', which must be declared above it")
            when[parent] = tuple(allowed if isinstance(allowed, list) else [allowed])
            impossible = [v for v in when[parent] if declared[parent].is_categorical and v not in declared[parent].choices]
            if impossible:
                raise SpaceError(f"{where}: condition on {parent} = {impossible}, which are not among its choices")
        if "choices" in spec:
            choices = spec["choices"]
            if not isinstance(choices, list) or not choices:
                raise SpaceError(f"{where}: 'choices' must be a non-empty list")
            params.append(Param(name, choices=tuple(choices), when=when))
            continue
        if "low" not in spec or "high" not in spec:
            raise SpaceError(f"{where} needs either 'choices' or both 'low' and 'high'")
        low, high = spec["low"], spec["high"]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)):
            raise SpaceError(f"{where}: 'low' and 'high' must be numbers")
        if low > high:
            raise SpaceError(f"{where}: low ({low}) is above high ({high})")
        log = bool(spec.get("log", False))
        if log and low <= 0:
            raise SpaceError(f"{where}: a log-scaled range needs low > 0")
        params.append(
            Param(name, low=low, high=high, log=log, integer=bool(spec.get("integer", False)), when=when)
        )
    if not params:
        raise SpaceError(f"{source}: the space declares no hyperparameters")
    clash = sorted(set(fixed) & {p.name for p in params})
    if clash:
        raise SpaceError(f"{source}: {', '.join(clash)} both searched and fixed; keep one")
    return Space(tuple(params), fixed=fixed, budget=budget)


def load_space(path: str | Path) -> Space:
    """Read a space from a TOML file (a bare name looks in pipeline/spaces/)."""
    path = Path(path)
    if not path.suffix and not path.exists():
        path = SPACES_DIR / f"{path}.toml"
    try:
        tables = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SpaceError(f"space file {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise SpaceError(f"{path} is not valid TOML: {err}") from None
    return parse_space(tables, source=str(path))
