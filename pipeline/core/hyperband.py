"""Hyperband arithmetic exactly as hpbandster 0.7.4 does it, and the facts derived for a run.

    python -m pipeline.bohb schedule --min-budget 1 --max-budget 81 --eta 3   # prints plan()

hpbandster numbers its successive-halving iterations 0, 1, 2, ...; iteration i is the bracket
with s = max_SH_iter - 1 - (i mod max_SH_iter) halvings, whose first round samples
n0 = floor(max_SH_iter / (s + 1)) * eta**s configurations (floor where the Hyperband paper
has ceil), and round r keeps max(int(n0 * eta**-r), 1) of them on the r-th budget. BOHB plans as
Hyperband does. RandomSearch runs every bracket as one round on the max budget, with as many
configurations as a Hyperband bracket's budget buys there (budget_per_iteration // max_budget =
max_SH_iter): no halving, so its runs have s = 0, round 0, and none is promoted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.core import limits


@dataclass(frozen=True)
class Round:
    bracket: int  # iteration number
    s: int
    round: int
    configs: int
    budget: float


def max_sh_iter(min_budget: float, max_budget: float, eta: float) -> int:
    return -int(np.log(min_budget / max_budget) / np.log(eta)) + 1


def plan_problem(min_budget: float, max_budget: float, eta: float) -> str | None:
    """Why these budgets and eta make no plan a machine can hold (pipeline/core/limits.py), or None."""
    if not (all(math.isfinite(v) for v in (min_budget, max_budget, eta)) and 0 < min_budget <= max_budget and eta > 1):
        return f"need 0 < min budget <= max budget and eta > 1, got {min_budget:g}, {max_budget:g} and {eta:.10g}"
    n = max_sh_iter(min_budget, max_budget, eta)
    if n > limits.MAX_BRACKETS:
        return (f"budgets {min_budget:g} to {max_budget:g} with eta {eta:.10g} make {n:,} successive-halving stages; "
                f"at most {limits.MAX_BRACKETS} are allowed: raise eta or bring the budgets closer")
    widest = max(math.floor(n / (s + 1)) * eta**s for s in range(n))
    if widest > limits.MAX_BRACKET_CONFIGS:
        return (f"budgets {min_budget:g} to {max_budget:g} with eta {eta:.10g} start a bracket with {widest:,.0f} "
                f"configurations; at most {limits.MAX_BRACKET_CONFIGS:,} are allowed: bring the budgets closer")
    return None


def budgets(min_budget: float, max_budget: float, eta: float) -> list[float]:
    n = max_sh_iter(min_budget, max_budget, eta)
    return [float(b) for b in max_budget * np.power(eta, -np.linspace(n - 1, 0, n))]


def bracket_s(iteration: int, n: int) -> int:
    return n - 1 - (iteration % n)


def bracket_rounds(iteration: int, min_budget: float, max_budget: float, eta: float, *,
                   optimizer: str = "hyperband") -> list[Round]:
    n = max_sh_iter(min_budget, max_budget, eta)
    if optimizer == "random_search":
        return [Round(iteration, 0, 0, n, float(max_budget))]
    s = bracket_s(iteration, n)
    n0 = int(math.floor(n / (s + 1)) * eta**s)
    ns = [max(int(n0 * eta ** (-i)), 1) for i in range(s + 1)]
    return [Round(iteration, s, r, ns[r], b) for r, b in enumerate(budgets(min_budget, max_budget, eta)[-s - 1 :])]


def plan(min_budget: float, max_budget: float, eta: float, iterations: int | None = None, *,
         optimizer: str = "hyperband") -> list[Round]:
    """Every round of the first `iterations` brackets (default: one full cycle of s) of `optimizer`
    (hyperband and bohb plan alike; random_search)."""
    count = max_sh_iter(min_budget, max_budget, eta) if iterations is None else iterations
    return [r for i in range(count) for r in bracket_rounds(i, min_budget, max_budget, eta, optimizer=optimizer)]


def round_in(budget: float, iteration: int, min_budget: float, max_budget: float, eta: float, *,
             optimizer: str = "hyperband") -> Round:
    """The round of bracket `iteration` that evaluates on `budget` (budgets are matched to 1e-6)."""
    for r in bracket_rounds(iteration, min_budget, max_budget, eta, optimizer=optimizer):
        if math.isclose(r.budget, budget, rel_tol=1e-6):
            return r
    raise ValueError(f"budget {budget} is not a budget of bracket {iteration} of {optimizer} "
                     f"(min_budget {min_budget}, max_budget {max_budget}, eta {eta})")


def round_of(budget: float, iteration: int, min_budget: float, max_budget: float, eta: float) -> int:
    """Round of an evaluation on `budget` in Hyperband bracket `iteration`."""
    return round_in(budget, iteration, min_budget, max_budget, eta).round


def sampled_as(round_: int, config_info: dict | None) -> str:
    """random | model_based (BOHB's KDE picked it) | promoted (survived a previous round)."""
    if round_ > 0:
        return "promoted"
    return "model_based" if (config_info or {}).get("model_based_pick") else "random"


def format_plan(rounds: list[Round]) -> str:
    lines = []
    for s in sorted({r.s for r in rounds}, reverse=True):
        parts = [f"{r.configs}@{r.budget:g}" for r in rounds if r.s == s and r.bracket == min(
            x.bracket for x in rounds if x.s == s)]
        lines.append(f"s={s}: " + ", ".join(parts))
    return "\n".join(lines)
