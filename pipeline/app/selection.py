"""The selection: an accuracy range on one of three scales that every analysis page uses.

It is made by brushing the histogram on the Accuracy distribution page (or with its "top k %"
button), kept in the session and written to the URL (`?study=NAME&scale=rank&lo=0.95&hi=1`) so a
view can be shared. Only finished (ok) runs with a test accuracy can be selected; no selection means
all of them.

The scales (SCALES; study_frame.py computes them, the SQL macro accuracy_on picks one):
- raw: test accuracy as measured. A range is one range for all datasets (pooled): at 16,000 planted
  networks the top 5 % on this scale are ~800 mnist networks and nothing else, because every dataset
  has its own level.
- normalized: (x - min) / (max - min) per dataset over the study's runs of that dataset. 0 is the
  dataset's worst run (in practice the dead networks at chance, 0.07-0.10 on ten classes), 1 its single
  best. The range is per dataset but anchored on two extremes, so modes need not line up: a dataset
  whose typical network sits near its best has its mode near 1, one with a long tail lower.
- rank: the run's percentile within its dataset, (average rank - 0.5) / n over the dataset's finished
  runs (ties share the average of the ranks they span, scipy.stats.rankdata's 'average'). Every dataset
  is uniform on it, so a range means the same share of each: 0.95 - 1 is each dataset's own top 5 %.

The default is rank: ranges and top k % are per dataset unless the person picks the raw scale.
Old links keep working: a link with lo/hi and no `scale` is on the raw scale, as such links were made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCALES = ("raw", "normalized", "rank")
DEFAULT_SCALE = "rank"  # per dataset: each dataset's own top 5 % is 0.95 - 1
LINK_SCALE = "raw"  # what a link with lo/hi but no scale meant before the scale was written
SCALE_NAMES = {  # the radio's labels
    "raw": "raw accuracy (all datasets pooled)",
    "normalized": "normalized per dataset (min-max)",
    "rank": "rank within dataset (percentile)",
}
SCALE_HELP = (
    "**raw**: test accuracy as measured; a range is the same for every dataset (pooled), so an easy dataset "
    "fills the top of it. **normalized**: (x - min) / (max - min) per dataset; 0 is the dataset's worst run "
    "(the dead networks at chance, ~0.1), 1 its single best, so modes need not line up between datasets. "
    "**rank**: each run's percentile within its dataset, (average rank - 0.5) / n (tied runs share the "
    "average of their ranks); every dataset is uniform, so 0.95 – 1 is each dataset's own top 5 %."
)


class SelectionError(ValueError):
    """A selection from a link that cannot be used; the message says what was wrong."""


def as_scale(scale: str | bool | None) -> str:
    """A scale name; True / False are the older normalized / raw flag."""
    if scale is None or scale is False:
        return "raw"
    if scale is True:
        return "normalized"
    if scale not in SCALES:
        raise SelectionError(f"the scale {scale!r} is not one of {', '.join(SCALES)}")
    return scale


def axis_title(scale: str | bool) -> str:
    """What the accuracy axis shows on this scale."""
    return {"raw": "test accuracy (fraction correct)",
            "normalized": "test accuracy, normalized per dataset (0 = its worst run, 1 = its best)",
            "rank": "rank of test accuracy within dataset (percentile, 0 = worst, 1 = best)"}[as_scale(scale)]


@dataclass(frozen=True)
class Selection:
    lo: float
    hi: float
    scale: str = "raw"  # one of SCALES (True / False are taken as normalized / raw)

    def __post_init__(self):
        object.__setattr__(self, "scale", as_scale(self.scale))
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)) or self.lo > self.hi:
            raise SelectionError(f"an accuracy range needs two numbers, low <= high (got {self.lo}, {self.hi})")

    @property
    def normalized(self) -> bool:
        return self.scale == "normalized"

    @property
    def per_dataset(self) -> bool:
        return self.scale != "raw"

    @property
    def label(self) -> str:
        name = {"raw": "test accuracy", "normalized": "normalized test accuracy",
                "rank": "rank within dataset"}[self.scale]
        return f"{name} {self.lo:.3f} – {self.hi:.3f}"

    @property
    def rule(self) -> str:
        """What the range means for the datasets, in words."""
        if self.scale == "rank":
            return (f"per dataset: each dataset's runs between its {100 * self.lo:.4g}th and {100 * self.hi:.4g}th "
                    "percentile")
        if self.scale == "normalized":
            return "per dataset: each dataset's accuracy rescaled to 0 (its worst run) – 1 (its best)"
        return "pooled: one accuracy range for all datasets"

    def params(self, prefix: str = "") -> dict:
        """The range as query parameters lo / hi (with prefix: lo_b / hi_b)."""
        suffix = f"_{prefix}" if prefix else ""
        return {f"lo{suffix}": self.lo, f"hi{suffix}": self.hi}

    def to_query(self) -> dict[str, str]:
        return {"scale": self.scale, "lo": f"{self.lo:.6g}", "hi": f"{self.hi:.6g}"}

    @classmethod
    def from_query(cls, query: dict) -> Selection | None:
        """The selection in a URL's query parameters, None when it has none."""
        if "lo" not in query and "hi" not in query:
            return None
        scale = query_scale(query, LINK_SCALE)
        try:
            lo, hi = float(query["lo"]), float(query["hi"])
        except (KeyError, ValueError):
            raise SelectionError(f"the link's selection lo={query.get('lo')!r} hi={query.get('hi')!r} "
                                 "needs two numbers") from None
        return cls(lo, hi, scale)


def query_scale(query: dict, default: str = DEFAULT_SCALE) -> str:
    """The scale a URL names, the default when it names none."""
    scale = query.get("scale", default)
    if scale not in SCALES:
        raise SelectionError(f"the link's scale={scale!r} is not one of {', '.join(SCALES)}")
    return scale


EVERYTHING = Selection(0.0, 1.0)  # the whole range: every finished run with an accuracy
