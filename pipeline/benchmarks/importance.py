"""How fast hyperparameter importance is: fANOVA with every single and every pair on planted studies of 14
hyperparameters, beside optuna's FanovaImportanceEvaluator on the same runs.

    .venv/bin/python -m pipeline.benchmarks.importance --runs 10000 --runs 1000000 --optuna-runs 1000 --repeats 3

For each `--runs` size it writes a planted warehouse (pipeline/benchmarks/planted_study.py: dataset, learning
rate, batch size, ... 14 hyperparameters with planted effects) and prints the median of `--repeats` timings of
- `page`: importance_views.study_importance, what the Importance page computes once per study version: runs
  read from the file, the forest fitted, all singles and all pairs decomposed, PED-ANOVA;
- `fanova`: importance.fanova alone on the same design (forest and decomposition), and the decomposition's share.
Above importance.MAX_RUNS runs the forest sees a uniform sample; the benchmark then measures what the sample
costs in accuracy: the largest difference of any single's share between two sample seeds, and against a sample
four times as large, with the top five in each.
At `--optuna-runs` (a size optuna finishes) it times optuna's evaluator (singles only: it has no pairs) on the same
runs, once, against ours with optuna's forest settings (64 trees, one run per leaf: the same forest, so the
values must agree) and with our defaults. Conditional hyperparameters are left out of that comparison: optuna
drops every trial that lacks one.
Targets (issue 13): 10,000 runs x 14 hyperparameters, all singles and pairs, within 5 s on 2 cores; 1,000,000
within 20 s. Figures: BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from pipeline.analysis import importance
from pipeline.app import importance_views, study_frame
from pipeline.benchmarks.planted_study import write_planted_warehouse
from pipeline.core import limits

STUDY = "planted"
SCALE = "rank"  # per-dataset ranks: the page's default, and like compared with like across datasets
TARGETS = {10_000: 5.0, 1_000_000: 20.0}  # seconds


def _timed(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _top(values: np.ndarray, features) -> list[str]:
    return [features[i].name for i in np.argsort(-values)[:5]]


def _sampling_effect(design: importance.Design, y: np.ndarray) -> None:
    sample = importance.MAX_RUNS
    if len(y) <= sample:
        return
    fits = {f"{sample:,} seed {seed}": importance.fanova(design, y, max_runs=sample, seed=seed, pair_features=0)
            for seed in (0, 1)}
    larger = min(4 * sample, len(y))
    fits[f"{larger:,} seed 0"] = importance.fanova(design, y, max_runs=larger, seed=0, pair_features=0)
    (a, first), (b, second), (c, big) = fits.items()
    print(f"  sample effect: max |share difference| {a} vs {b}: "
          f"{np.abs(first.singles[:, 0] - second.singles[:, 0]).max():.4f}; "
          f"{a} vs {c}: {np.abs(first.singles[:, 0] - big.singles[:, 0]).max():.4f}")
    for label, fit in fits.items():
        print(f"    top 5 on {label}: {', '.join(_top(fit.singles[:, 0], design.features))}")


def _optuna_comparison(design: importance.Design, y: np.ndarray, runs: int) -> None:
    try:
        import optuna
        from optuna.distributions import CategoricalDistribution, FloatDistribution
        from optuna.importance import FanovaImportanceEvaluator
    except ImportError:
        print("  optuna is not installed (pip install -e '.[test]'): comparison skipped")
        return
    keep = [i for i, share in enumerate(design.inactive_shares) if share == 0]
    features = tuple(design.features[i] for i in keep)
    sub = importance.Design(features, design.X[:runs][:, keep])
    y = y[:runs]
    distributions = {f.name: CategoricalDistribution(f.levels) if f.categorical else FloatDistribution(0.0, 1.0)
                     for f in features}
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize")
    for row, value in zip(sub.X, y):
        params = {f.name: f.levels[int(v)] if f.categorical else float(v) for f, v in zip(features, row)}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=float(value)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs, _ = _timed(lambda: FanovaImportanceEvaluator(seed=0).evaluate(study), 1)
    same, _ = _timed(lambda: importance.fanova(sub, y, n_trees=64, max_depth=64, min_samples_leaf=1, seed=0,
                                               pair_features=0), 1)
    ours, _ = _timed(lambda: importance.fanova(sub, y, seed=0), 1)
    print(f"  optuna {optuna.__version__} fANOVA, {runs:,} runs x {len(features)} (singles only): {theirs:.2f} s; "
          f"ours with its forest settings: {same:.2f} s ({theirs / same:.0f}x); ours with our defaults, singles "
          f"and all {len(features) * (len(features) - 1) // 2} pairs: {ours:.2f} s ({theirs / ours:.0f}x)")


def _one(runs: int, repeats: int, optuna_runs: int, folder: Path) -> None:
    path = folder / f"planted-{runs}.duckdb"
    start = time.perf_counter()
    write_planted_warehouse(runs, path, study=STUDY)
    print(f"{runs:,} planted runs: warehouse written in {time.perf_counter() - start:.0f} s")
    frame = study_frame.load(path, STUDY)
    page, result = _timed(lambda: importance_views.study_importance(frame, scale=SCALE), repeats)
    target = TARGETS.get(runs)
    verdict = f" (target {target:g} s: {'met' if page <= target else 'MISSED'})" if target else ""
    print(f"  page (read, fit, {result.pairs.height} pairs, PED-ANOVA) on {result.fitted:,} of {result.runs:,} runs: "
          f"median {page:.2f} s{verdict}")
    print(f"    top 5: {', '.join(result.singles['name'].head(5))}; top pair: {result.pairs['a'][0]} x "
          f"{result.pairs['b'][0]}; out-of-bag R2 {result.fanova.fit:.2f}")
    runs_read = importance_views.study_design(frame, scale=SCALE, limit=frame.runs)
    design, y = runs_read.design, runs_read.y
    fitted = importance.fanova(design, y)
    algorithm, _ = _timed(lambda: importance.fanova(design, y), repeats)
    fit, _ = _timed(lambda: importance.fanova(design, y, pair_features=0, n_trees=importance.N_TREES), repeats)
    print(f"  fanova alone on {fitted.runs:,} runs x {len(design.features)}: median {algorithm:.2f} s "
          f"(without pairs {fit:.2f} s)")
    _sampling_effect(design, y)
    if optuna_runs and runs >= optuna_runs:
        _optuna_comparison(design, y, optuna_runs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.benchmarks.importance",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=limits.number(int, (100, limits.RUNS[1])), action="append",
                        help="planted runs (repeatable; default 10,000 and 1,000,000)")
    parser.add_argument("--optuna-runs", type=limits.number(int, (0, 20_000)), default=1_000,
                        help="runs of the comparison with optuna (0: none; it takes ~30 s per 1,000 on one core)")
    parser.add_argument("--repeats", type=limits.number(int, limits.REPEATS), default=3)
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} cores; sklearn forest on all of them (n_jobs=-1)")
    with tempfile.TemporaryDirectory() as folder:
        for runs in args.runs or (10_000, 1_000_000):
            _one(runs, args.repeats, args.optuna_runs, Path(folder))


if __name__ == "__main__":
    main()
