"""The selection: an accuracy range (raw or normalized per dataset) that every analysis page uses.

It is made by brushing the histogram on the Accuracy distribution page, kept in the session and
written to the URL (`?study=NAME&scale=normalized&lo=0.8&hi=1`) so a view can be shared. Only
finished (ok) runs with a test accuracy can be selected; no selection means all of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCALES = ("raw", "normalized")


class SelectionError(ValueError):
    """A selection from a link that cannot be used; the message says what was wrong."""


@dataclass(frozen=True)
class Selection:
    lo: float
    hi: float
    normalized: bool = False

    def __post_init__(self):
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)) or self.lo > self.hi:
            raise SelectionError(f"an accuracy range needs two numbers, low <= high (got {self.lo}, {self.hi})")

    @property
    def label(self) -> str:
        scale = "normalized test accuracy" if self.normalized else "test accuracy"
        return f"{scale} {self.lo:.3f} – {self.hi:.3f}"

    def params(self, prefix: str = "") -> dict:
        """The range as query parameters lo / hi (with prefix: lo_b / hi_b)."""
        suffix = f"_{prefix}" if prefix else ""
        return {f"lo{suffix}": self.lo, f"hi{suffix}": self.hi}

    def to_query(self) -> dict[str, str]:
        return {"scale": SCALES[self.normalized], "lo": f"{self.lo:.6g}", "hi": f"{self.hi:.6g}"}

    @classmethod
    def from_query(cls, query: dict) -> Selection | None:
        """The selection in a URL's query parameters, None when it has none."""
        if "lo" not in query and "hi" not in query:
            return None
        scale = query.get("scale", "raw")
        if scale not in SCALES:
            raise SelectionError(f"the link's scale={scale!r} is not one of {', '.join(SCALES)}")
        try:
            lo, hi = float(query["lo"]), float(query["hi"])
        except (KeyError, ValueError):
            raise SelectionError(f"the link's selection lo={query.get('lo')!r} hi={query.get('hi')!r} "
                                 "needs two numbers") from None
        return cls(lo, hi, scale == "normalized")


EVERYTHING = Selection(0.0, 1.0)  # the whole range: every finished run with an accuracy
