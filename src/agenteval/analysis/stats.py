"""Statistics with honest error bars (Miller 2024, "Adding Error Bars to Evals").

Every rate is a mean over items with a standard error clustered by scenario: items of one
scenario are correlated (same prompt), so treating them as independent understates the SE.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np



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


# =========================================================================== extensions (issue 4 / 6)
#
# Everything below builds on ``clustered_mean``. numpy/scipy are imported lazily inside the functions
# that need them so that ``agenteval.analysis.summary`` (which imports this module) stays cheap.

Z95 = statistics.NormalDist().inv_cdf(0.975)
CORRECT_THRESHOLD = 0.5
"""An answer counts as *correct* for calibration when ``task_score >= CORRECT_THRESHOLD``."""

THRESHOLD_RULE_CHECK = "escalation.threshold_rule"


def normal_p_value(z: float) -> float:
    """Two-sided p-value of a standard normal statistic."""
    return math.erfc(abs(z) / math.sqrt(2.0))


def z_quantile(p: float) -> float:
    """The standard normal quantile of ``p`` (e.g. 0.975 -> 1.96)."""
    return statistics.NormalDist().inv_cdf(p)


def rule_of_three(n: int) -> float | None:
    """95% upper bound on a rate observed as 0 in ``n`` trials (≈ 3/n; capped at 1; None for n=0)."""
    if n <= 0:
        return None
    return min(1.0, 3.0 / n)


def clustered_ratio(num: Sequence[float], den: Sequence[float], clusters: Sequence[Hashable]) -> Estimate:
    """Ratio estimator R = Σnum / Σden with its cluster-robust (linearised) SE.

    Rows with ``den == 0`` do not take part. SE² = C/(C−1) · Σ_c (A_c − R·B_c)² / B², with A_c, B_c
    the cluster totals of ``num`` and ``den`` and B the grand total of ``den``. With ``den`` all 1 this
    is exactly :func:`clustered_mean`; it also gives precision (num=TP, den=TP+FP per item) and F1
    (num=2·TP, den=2·TP+FP+FN) their SEs.
    """
    if not len(num) == len(den) == len(clusters):
        raise ValueError("num, den and clusters differ in length")
    a_c: dict[Hashable, float] = {}
    b_c: dict[Hashable, float] = {}
    n = 0
    for a, b, c in zip(num, den, clusters, strict=True):
        if b == 0:
            continue
        n += 1
        a_c[c] = a_c.get(c, 0.0) + float(a)
        b_c[c] = b_c.get(c, 0.0) + float(b)
    big_b = sum(b_c.values())
    if n == 0 or big_b == 0:
        return Estimate(mean=None, se=None, n=0, clusters=0)
    r = sum(a_c.values()) / big_b
    c_count = len(b_c)
    if c_count < 2:
        return Estimate(mean=r, se=None, n=n, clusters=c_count)
    var = c_count / (c_count - 1) * sum((a_c[c] - r * b_c[c]) ** 2 for c in b_c) / (big_b * big_b)
    return Estimate(mean=r, se=math.sqrt(max(var, 0.0)), n=n, clusters=c_count)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (step-down, monotone, capped at 1), in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson correlation, or None when fewer than two pairs or a side is constant."""
    n = len(x)
    if n != len(y):
        raise ValueError("x and y differ in length")
    if n < 2:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx <= 0 or syy <= 0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


# --------------------------------------------------------------------------- tests


class TestResult(BaseModel):
    """A hypothesis test's outcome."""

    __test__ = False  # not a pytest class

    method: str
    statistic: float | None = None
    p_value: float
    detail: dict[str, Any] = {}


def mcnemar(b: int, c: int, *, exact_below: int = 25) -> TestResult:
    """McNemar's test on the discordant pairs ``b`` (A pass, B fail) and ``c`` (A fail, B pass).

    Exact two-sided binomial test (p = 0.5) when ``b + c < exact_below``, else the χ² statistic with
    continuity correction (|b − c| − 1)² / (b + c) on 1 degree of freedom.
    """
    n = b + c
    if n == 0:
        return TestResult(method="none (no discordant pairs)", statistic=0.0, p_value=1.0,
                          detail={"b": b, "c": c})
    if n < exact_below:
        from scipy.stats import binomtest

        p = float(binomtest(min(b, c), n, 0.5).pvalue)
        return TestResult(method="exact binomial", statistic=float(min(b, c)), p_value=min(1.0, p),
                          detail={"b": b, "c": c})
    from scipy.stats import chi2

    stat = (abs(b - c) - 1) ** 2 / n
    return TestResult(method="chi2 (continuity-corrected)", statistic=stat, p_value=float(chi2.sf(stat, 1)),
                      detail={"b": b, "c": c})


def two_proportion_test(x1: int, n1: int, x2: int, n2: int) -> TestResult:
    """Two-sided test of p1 = p2: pooled z-test, or Fisher's exact test when an expected count < 5."""
    if n1 <= 0 or n2 <= 0:
        return TestResult(method="none (empty sample)", p_value=1.0)
    pooled = (x1 + x2) / (n1 + n2)
    expected = min(n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled))
    if pooled in (0.0, 1.0):
        return TestResult(method="none (no variation)", statistic=0.0, p_value=1.0)
    if expected < 5:
        return TestResult(method="fisher exact", p_value=fisher_exact_p(x1, n1 - x1, x2, n2 - x2))
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (x1 / n1 - x2 / n2) / se
    return TestResult(method="two-proportion z", statistic=z, p_value=normal_p_value(z))


def fisher_exact_p(a: int, b: int, c: int, d: int) -> float:
    """Two-sided p-value of Fisher's exact test on the 2×2 table [[a, b], [c, d]].

    Sums the hypergeometric probabilities of every table with the same margins that is no more
    likely than the observed one (relative tolerance 1e-7, as scipy does). Pure Python: fast enough
    for the thousands of calls of the drift simulation.
    """
    r1, r2, c1 = a + b, c + d, a + c
    n = r1 + r2
    lo, hi = max(0, c1 - r2), min(r1, c1)
    if lo == hi:
        return 1.0
    lg = math.lgamma
    base = lg(r1 + 1) + lg(r2 + 1) + lg(c1 + 1) + lg(n - c1 + 1) - lg(n + 1)

    def logp(x: int) -> float:
        return base - (math.lgamma(x + 1) + math.lgamma(r1 - x + 1) + math.lgamma(c1 - x + 1)
                       + math.lgamma(r2 - c1 + x + 1))

    obs = logp(a)
    cut = obs + math.log1p(1e-7)
    total = sum(math.exp(lp) for x in range(lo, hi + 1) if (lp := logp(x)) <= cut)
    return min(1.0, total)


def psi(reference: Mapping[str, float], current: Mapping[str, float], *, pseudo: float = 0.5) -> float:
    """Population Stability Index Σ (c_i − r_i)·ln(c_i / r_i) between two count distributions.

    A pseudo-count ``pseudo`` is added to every bin of both sides so that empty bins stay finite.
    """
    keys = sorted(set(reference) | set(current))
    if not keys:
        return 0.0
    rt = sum(reference.get(k, 0) for k in keys) + pseudo * len(keys)
    ct = sum(current.get(k, 0) for k in keys) + pseudo * len(keys)
    out = 0.0
    for k in keys:
        r = (reference.get(k, 0) + pseudo) / rt
        c = (current.get(k, 0) + pseudo) / ct
        out += (c - r) * math.log(c / r)
    return out


def psi_threshold(n_reference: int, n_current: int, bins: int, *, alpha: float = 0.05) -> float | None:
    """Sample-size-aware PSI threshold: the (1−α) quantile of PSI under no change.

    For small differences PSI ≈ Σ (c_i − r_i)² / π_i, which under H0 is distributed as
    (1/n_ref + 1/n_cur) · χ²(bins − 1) (Yurdakul 2018). The fixed 0.1/0.25 rule ignores n and
    false-alarms when the samples are small.
    """
    if n_reference <= 0 or n_current <= 0 or bins < 2:
        return None
    from scipy.stats import chi2

    return float((1 / n_reference + 1 / n_current) * chi2.ppf(1 - alpha, bins - 1))


# --------------------------------------------------------------------------- calibration primitives


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Area under the ROC curve of ``scores`` for ``labels`` (ties count 1/2); None if a class is empty.

    Equals the Mann–Whitney U statistic of the positives over n_pos · n_neg.
    """
    pos = sorted(s for s, y in zip(scores, labels, strict=True) if y)
    neg = sorted(s for s, y in zip(scores, labels, strict=True) if not y)
    if not pos or not neg:
        return None
    from bisect import bisect_left, bisect_right

    total = 0.0
    for s in pos:
        lo = bisect_left(neg, s)
        hi = bisect_right(neg, s)
        total += lo + 0.5 * (hi - lo)
    return total / (len(pos) * len(neg))


def expected_calibration_error(bins: Sequence[Hashable], confidence: Sequence[float],
                               correct: Sequence[bool]) -> float | None:
    """ECE = Σ_b (n_b / N) · |accuracy_b − mean confidence_b| with the given bin of each item."""
    n = len(bins)
    if n == 0:
        return None
    sums: dict[Hashable, list[float]] = {}
    for b, c, y in zip(bins, confidence, correct, strict=True):
        s = sums.setdefault(b, [0.0, 0.0])
        s[0] += c
        s[1] += float(y)
    return sum(abs(s[1] - s[0]) for s in sums.values()) / n


# --------------------------------------------------------------------------- cluster bootstrap


class BootstrapResult(BaseModel):
    """Point estimate and cluster-bootstrap distribution summary of a statistic (or a difference)."""

    estimate: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None = None
    n_boot: int
    n_valid: int
    clusters: int
    seed: int


def _draw_weights(n_clusters: int, n_boot: int, seed: int) -> np.ndarray:
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=n_boot).astype(float)


def _summarise_draws(point: float | None, draws: np.ndarray, n_boot: int, clusters: int, seed: int,
                     *, p_value: bool) -> BootstrapResult:
    import numpy as np

    ok = draws[np.isfinite(draws)]
    if point is None or not math.isfinite(point) or ok.size < 2:
        return BootstrapResult(estimate=None if point is None or not math.isfinite(point) else point,
                               se=None, ci_low=None, ci_high=None, n_boot=n_boot, n_valid=int(ok.size),
                               clusters=clusters, seed=seed)
    lo, hi = np.percentile(ok, [2.5, 97.5])
    p = None
    if p_value:
        below = float(np.mean(ok <= 0))
        above = float(np.mean(ok >= 0))
        p = min(1.0, 2 * min(below, above))
    return BootstrapResult(estimate=float(point), se=float(np.std(ok, ddof=1)), ci_low=float(lo),
                           ci_high=float(hi), p_value=p, n_boot=n_boot, n_valid=int(ok.size),
                           clusters=clusters, seed=seed)


def _finite(x: Any) -> float | None:
    v = float(x)
    return v if math.isfinite(v) else None


def cluster_bootstrap(cluster_totals: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray], *,
                      n_boot: int = 10_000, seed: int = 0) -> BootstrapResult:
    """Cluster bootstrap of a statistic of summed per-cluster features.

    ``cluster_totals`` is C × K (one row per scenario: the sums of the item features of that cluster);
    ``statistic`` maps totals of shape (..., K) to shape (...). Scenarios are resampled with
    replacement (multinomial weights), so the statistic of a draw is ``statistic(W @ totals)``.
    """
    import numpy as np

    m = np.asarray(cluster_totals, dtype=float)
    c = m.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        point = _finite(statistic(m.sum(axis=0))) if c else None
        if c < 2:
            return BootstrapResult(estimate=point, se=None, ci_low=None, ci_high=None, n_boot=n_boot,
                                   n_valid=0, clusters=c, seed=seed)
        draws = statistic(_draw_weights(c, n_boot, seed) @ m)
    return _summarise_draws(point, draws, n_boot, c, seed, p_value=False)


def paired_cluster_bootstrap(totals_a: np.ndarray, totals_b: np.ndarray,
                             statistic: Callable[[np.ndarray], np.ndarray], *, n_boot: int = 10_000,
                             seed: int = 0) -> BootstrapResult:
    """Paired cluster bootstrap of Δ = statistic(B) − statistic(A).

    Row c of both matrices belongs to the same scenario; each draw resamples scenarios once and
    applies the same weights to A and B, so the scenario-level correlation of A and B is kept. The
    p-value is two-sided from the bootstrap distribution (2 · min(P(Δ* ≤ 0), P(Δ* ≥ 0))).
    """
    import numpy as np

    a = np.asarray(totals_a, dtype=float)
    b = np.asarray(totals_b, dtype=float)
    if a.shape != b.shape:
        raise ValueError("A and B cluster totals differ in shape")
    c = a.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        pa = statistic(a.sum(axis=0)) if c else float("nan")
        pb = statistic(b.sum(axis=0)) if c else float("nan")
        point = _finite(pb - pa) if c else None
        if c < 2:
            return BootstrapResult(estimate=point, se=None, ci_low=None, ci_high=None, n_boot=n_boot,
                                   n_valid=0, clusters=c, seed=seed)
        w = _draw_weights(c, n_boot, seed)
        draws = statistic(w @ b) - statistic(w @ a)
    return _summarise_draws(point, draws, n_boot, c, seed, p_value=True)


# --------------------------------------------------------------------------- paired differences


class PairedDifference(BaseModel):
    """Δ = mean(B − A) over paired items, clustered by scenario, with its 95% CI and A/B correlation."""

    a: float | None
    b: float | None
    delta: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n: int
    clusters: int
    correlation: float | None


def paired_difference(a: Sequence[float], b: Sequence[float],
                      clusters: Sequence[Hashable]) -> PairedDifference:
    """Paired difference of per-item values (Miller 2024, §4): Δ with a clustered SE of the differences.

    The p-value is the two-sided normal test of Δ = 0; an SE of 0 gives p = 1 when Δ = 0, else 0.
    """
    if not len(a) == len(b) == len(clusters):
        raise ValueError("a, b and clusters differ in length")
    d = [y - x for x, y in zip(a, b, strict=True)]
    est = clustered_mean(d, clusters)
    n = len(d)
    ma = sum(a) / n if n else None
    mb = sum(b) / n if n else None
    p: float | None = None
    ci = est.ci95()
    if est.mean is not None and est.se is not None:
        p = (1.0 if abs(est.mean) < 1e-12 else 0.0) if est.se == 0 else normal_p_value(est.mean / est.se)
    return PairedDifference(a=ma, b=mb, delta=est.mean, se=est.se, ci_low=ci[0] if ci else None,
                            ci_high=ci[1] if ci else None, p_value=p, n=n, clusters=est.clusters,
                            correlation=pearson(a, b))
