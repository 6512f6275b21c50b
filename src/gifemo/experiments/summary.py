"""The statistic of every cell of results.md: the mean over seeds and its Student-t interval.

A cell is the mean over seeds with a 95% confidence interval from Student's t distribution
(``mean ± t(0.975, n-1) * s / sqrt(n)``); with one seed there is no interval.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Summary:
    """Mean of per-seed values and the half-width of its confidence interval (None for n < 2)."""

    values: tuple[float, ...]
    mean: float
    half_width: float | None

    @property
    def n(self) -> int:
        return len(self.values)

    def text(self) -> str:
        if not self.values:
            return "-"
        return f"{self.mean:.4f}" + (
            f" ± {self.half_width:.4f}" if self.half_width is not None else ""
        )


def summarize(values: Iterable[float], *, confidence: float = CONFIDENCE) -> Summary:
    """``mean ± t((1 + confidence) / 2, n - 1) * stdev / sqrt(n)`` of ``values``."""
    from scipy.stats import t

    values = tuple(float(v) for v in values)
    if not values:
        return Summary((), math.nan, None)
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Summary(values, mean, None)
    half = (
        float(t.ppf((1 + confidence) / 2, len(values) - 1))
        * statistics.stdev(values)
        / math.sqrt(len(values))
    )
    return Summary(values, mean, half)
