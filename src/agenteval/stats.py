"""Statistics with honest error bars (Miller 2024, "Adding Error Bars to Evals").

Every rate is a mean over items with a standard error clustered by scenario: items of one
scenario are correlated (same prompt), so treating them as independent understates the SE.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

from pydantic import BaseModel


class Estimate(BaseModel):
    """A mean with its clustered standard error."""

    mean: float | None
    se: float | None
    n: int
    clusters: int

    def ci95(self) -> tuple[float, float] | None:
        """Normal-approximation 95% confidence interval, or None without an SE."""
        if self.mean is None or self.se is None:
            return None
        return (self.mean - 1.96 * self.se, self.mean + 1.96 * self.se)


def clustered_mean(values: Sequence[float], clusters: Sequence[Hashable]) -> Estimate:
    """Mean of ``values`` with the cluster-robust SE.

    SE² = C/(C−1) · Σ_c (Σ_{i∈c} (y_i − ȳ))² / n², with C clusters and n items. With a single
    cluster the SE is undefined (None).
    """
    if len(values) != len(clusters):
        raise ValueError("values and clusters differ in length")
    n = len(values)
    if n == 0:
        return Estimate(mean=None, se=None, n=0, clusters=0)
    mean = sum(values) / n
    sums: dict[Hashable, float] = {}
    for y, c in zip(values, clusters, strict=True):
        sums[c] = sums.get(c, 0.0) + (y - mean)
    c_count = len(sums)
    if c_count < 2:
        return Estimate(mean=mean, se=None, n=n, clusters=c_count)
    var = c_count / (c_count - 1) * sum(s * s for s in sums.values()) / (n * n)
    return Estimate(mean=mean, se=math.sqrt(max(var, 0.0)), n=n, clusters=c_count)
