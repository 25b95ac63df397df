"""What the Compare studies page shows (and the Sweep page's "Sweeps of the same problem"), as frames: built from
the named queries compare_peers, compare_studies and compare_steps (pipeline/warehouse/sql), no Streamlit here.

A curve is the best so far after each evaluation, in the order the evaluations finished; the query sends only
the points where it changed and each study's last evaluation, so a study of 100,000 evaluations draws a few
dozen points. Two rules for "best" (RULES; compare_steps.sql has them exactly):

- incumbent (the default, the BOHB paper's anytime plots, hpbandster's Result.get_incumbent_trajectory): the
  lowest loss among the finished evaluations on the largest budget finished so far; a larger budget takes over
  even when its loss is higher, so the line can drop;
- any: the lowest loss of any finished evaluation so far, whatever its budget (never drops in loss; a
  low-budget evaluation's loss is not what a full training gives, so it flatters early).

Both rank by the loss the optimizer minimized (or 1 - test accuracy where a study records none) and show the
chosen evaluation's test accuracy.
"""

from __future__ import annotations

import json

import polars as pl

from pipeline.app.sweep_views import OPTIMIZERS

RULES = {
    "incumbent": "hpbandster's incumbent",
    "any": "best on any budget",
}
RULE_HELP = {
    "incumbent": "as hpbandster's Result.get_incumbent_trajectory and the BOHB paper's anytime plots have it: "
                 "among the finished evaluations on the largest budget finished so far, the one with the lowest "
                 "loss. An evaluation on a larger budget takes over even when its loss is higher.",
    "any": "among all finished evaluations so far, whatever their budget, the one with the lowest loss. A "
           "low-budget evaluation's loss is that of a short training, so this flatters a sweep's early part.",
}
XS = {"evaluation": "evaluations", "spent": "budget", "seconds": "wall time"}
MAX_STUDIES = 10  # one colour each (charts.DATASET_COLORS)


def x_title(x: str, unit: str = "epochs") -> str:
    return {"evaluation": "evaluations (in the order they finished)",
            "spent": f"{unit} spent (all evaluations so far)",
            "seconds": "seconds since the study's first run started"}[x]


def y_title(rule: str, error: bool = False) -> str:
    if error:
        return ("incumbent's test error" if rule == "incumbent" else "test error of the best so far") + \
            " (1 − accuracy, log scale)"
    return "incumbent's test accuracy" if rule == "incumbent" else "test accuracy of the best so far"


def default_x(facts: pl.DataFrame) -> str:
    """Budget spent where a chosen study records budgets or epochs, else evaluations (an imported table of
    networks may record neither)."""
    return "spent" if (facts["spent"].fill_null(0) > 0).any() else "evaluation"


def default_studies(studies: list[str], current: str | None, peers: list[str]) -> list[str]:
    """What the page opens on: the current study's peers (the sweeps of its problem, itself included) when it
    has some, else the current study alone."""
    if current not in studies:
        return []
    chosen = [p for p in peers if p in studies] if len(peers) > 1 else [current]
    return chosen[:MAX_STUDIES]


def optimizer_names() -> pl.Expr:
    """The optimizer as a person names it (sweep_views.OPTIMIZERS), else as the study's settings or kind say."""
    return pl.col("optimizer").replace_strict(OPTIMIZERS, default=pl.col("optimizer"))


def summary(facts: pl.DataFrame, steps: pl.DataFrame) -> pl.DataFrame:
    """One row per study (compare_studies) with its curve's end (compare_steps): evaluations, budget spent, wall
    time (seconds from the first run started to the last finished; null where not recorded), the final best's
    test accuracy, loss and budget, and when it first became the best: after how many evaluations, how much
    budget spent, how many seconds. Counts are over the dataset the steps were read for."""
    ends = steps.filter(pl.col("point") == "end").select(
        "study", pl.col("evaluation").alias("evaluations"), "spent", "seconds",
        pl.col("accuracy").alias("best_accuracy"), pl.col("loss").alias("best_loss"),
        pl.col("budget").alias("best_budget"))
    reached = (steps.filter(pl.col("point") == "change").group_by("study")
               .agg(pl.all().sort_by("evaluation").last())
               .select("study", pl.col("evaluation").alias("at_evaluation"), pl.col("spent").alias("at_spent"),
                       pl.col("seconds").alias("at_seconds")))
    return (facts.select("study", optimizer_names(), "model_based", "sampled")
            .join(ends, on="study", how="left").join(reached, on="study", how="left")
            .with_columns(pl.col("evaluations").fill_null(0),
                          pl.when(pl.col("sampled") > 0).then(pl.col("model_based") / pl.col("sampled"))
                          .alias("model_based_share"))
            .select("study", "optimizer", "evaluations", "spent", "seconds", "best_accuracy", "best_loss",
                    "best_budget", "at_evaluation", "at_spent", "at_seconds", "model_based_share")
            .sort("study"))


def curve(steps: pl.DataFrame, x: str, *, log: bool = False, error: bool = False
          ) -> tuple[pl.DataFrame, dict[str, str]]:
    """The points to draw on `x` (XS): a study's change points and its end, with `x`, the best's test accuracy
    and `y`: that accuracy, or its test error (1 - accuracy) when `error` (drawn on a log scale, as the BOHB
    paper's plots); and, per study left out or cut short, why (no finished evaluation, no test accuracy, no
    times, a 0 on a log axis)."""
    left_out: dict[str, str] = {}
    for study in steps["study"].unique(maintain_order=True).to_list():
        rows = steps.filter(pl.col("study") == study)
        if rows.filter(pl.col("point") == "change").is_empty():
            left_out[study] = "no evaluation finished"
        elif rows["accuracy"].is_null().all():
            left_out[study] = "no test accuracy recorded"
        elif x == "seconds" and rows["seconds"].is_null().all():
            left_out[study] = "no run times recorded"
        elif x == "spent" and not (rows["spent"].max() or 0) > 0:
            left_out[study] = "no budget or epochs recorded"
    points = (steps.filter(~pl.col("study").is_in(list(left_out)), pl.col("accuracy").is_not_null(),
                           pl.col(x).is_not_null())
              .with_columns(x=pl.col(x).cast(pl.Float64),
                            y=(1 - pl.col("accuracy")) if error else pl.col("accuracy")))
    if log:
        cut = points.filter(pl.col("x") <= 0)["study"].unique().to_list()
        left_out.update(dict.fromkeys(cut, f"evaluations at {XS[x]} 0 are not on a log axis" if x != "spent" else
                                       "evaluations at budget spent 0 are not on a log axis"))
        points = points.filter(pl.col("x") > 0)
    if error:
        cut = points.filter(pl.col("y") <= 0)["study"].unique().to_list()
        left_out.update(dict.fromkeys(cut, "from its test error 0 on, not on a log axis"))
        points = points.filter(pl.col("y") > 0)
    return points, left_out


def _space(text: str | None) -> str | None:
    """A search space as comparable text (keys sorted), None for none."""
    if text is None:
        return None
    try:
        return json.dumps(json.loads(text), sort_keys=True)
    except ValueError:
        return text


def differences(facts: pl.DataFrame) -> list[str]:
    """What keeps the chosen studies from being like with like, in words (empty: nothing found): different
    datasets, a study over several datasets, different search spaces, budgets in different units."""
    notes = []
    datasets = {row["study"]: tuple(row["datasets"]) for row in facts.iter_rows(named=True)}
    mixed = {s: d for s, d in datasets.items() if len(d) > 1}
    for study, names in mixed.items():
        notes.append(f"**{study}** trained on {len(names)} datasets ({', '.join(names)}): its best so far is over "
                     "all of them, so mostly the easiest one's; pick one dataset below to compare like with like.")
    if len(set(datasets.values()) - {()}) > 1 and len(datasets) > 1:
        notes.append("The studies trained on different datasets: " + "; ".join(
            f"{s}: {', '.join(d) or 'not recorded'}" for s, d in datasets.items()) + ".")
    spaces = {row["study"]: _space(row["search_space"]) for row in facts.iter_rows(named=True)}
    if len(set(spaces.values())) > 1:
        groups: dict[str | None, list[str]] = {}
        for study, space in spaces.items():
            groups.setdefault(space, []).append(study)
        notes.append(f"The studies searched {len(groups)} different search spaces: " + "; ".join(
            ", ".join(g) for g in groups.values()) + " (each group shares one).")
    units = {row["study"]: _unit(row) for row in facts.iter_rows(named=True)}
    if len(set(units.values())) > 1:
        notes.append("Their budgets are in different units (" + "; ".join(f"{s}: {u}" for s, u in units.items())
                     + "), so budget spent is not comparable between them.")
    return notes


def budget_unit(facts: pl.DataFrame) -> str:
    """The unit of budget spent on the x axis: epochs unless every study measures its budget otherwise."""
    units = {_unit(row) for row in facts.iter_rows(named=True)}
    return units.pop() if len(units) == 1 else "budget units"


def _unit(row: dict) -> str:
    """What a study's budget measures: epochs (a run without a budget counts its epochs), the share of the
    training data, or an imported log's own units."""
    if not row["with_budget"]:
        return "epochs"
    if row["kind"] == "import":
        return "log's budget units"
    return {"data_fraction": "share of the training data"}.get(row["budget_resource"] or "epochs", "epochs")
