"""Statistics with honest error bars (Miller 2024, "Adding Error Bars to Evals").

Every rate is a mean over items with a standard error clustered by scenario: items of one
scenario are correlated (same prompt), so treating them as independent understates the SE.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from agenteval.results.store import ScoreLine


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


# --------------------------------------------------------------------------- per-item metrics


def _b(v: bool | None) -> float | None:
    return None if v is None else float(v)


def is_correct(line: ScoreLine, threshold: float = CORRECT_THRESHOLD) -> bool | None:
    """Task correctness used for calibration: ``task_score >= threshold`` (None without a task score)."""
    if line.task_score is None:
        return None
    return line.task_score >= threshold


def check_result(line: ScoreLine, check_id: str) -> dict[str, Any] | None:
    """The check ``check_id`` of a score line, if present."""
    for c in line.checks:
        if c.get("id") == check_id:
            return c
    return None


_GRADED = re.compile(r"^(?:task\..+|(?!never\.)[A-Za-z_][\w-]*\.\d+)$")


def is_graded_check(check_id: str) -> bool:
    """Whether a check measures quality rather than compliance, and so does not decide pass/fail.

    Graded: the scenario's task elements (``task.*``, summarised by ``task_score``) and coverage of
    the card's rules (``<section>.<n>``: ``always.1``, ``critical.12`` ...). ``never.<n>`` checks are
    violations and always count.
    """
    return bool(_GRADED.match(check_id))


def failed_checks(line: ScoreLine, *, graded: bool = False) -> list[tuple[str, str]]:
    """(id, reason) of every applicable check that failed (graded checks only with ``graded``)."""
    return [(str(c.get("id")), str(c.get("reason") or "")) for c in line.checks
            if c.get("applicable", True) and not c.get("passed", True)
            and (graded or not is_graded_check(str(c.get("id"))))]


def item_passed(line: ScoreLine, *, graded: bool = False) -> bool | None:
    """Whether a scored item passes: every applicable compliance check passed.

    Graded checks (:func:`is_graded_check`) count only with ``graded``. None for items that were not
    scored (error/skipped). Without a ``checks`` list (older score files) the item passes when its
    strict envelope holds, it breaks no Never rule and, where both are known, its escalation
    decision matches ``should_escalate``.
    """
    if line.status != "ok":
        return None
    if line.checks:
        return not failed_checks(line, graded=graded)
    if line.envelope_ok is not True or line.never_violations:
        return False
    if line.escalated is not None and line.should_escalate is not None:
        return line.escalated == line.should_escalate
    return True


def never_rule_ids(lines: Iterable[ScoreLine]) -> list[str]:
    """The Never-rule ids seen in the data (as violations or as ``never.*`` checks), naturally sorted."""
    ids: set[str] = set()
    for s in lines:
        ids.update(s.never_violations)
        ids.update(str(c.get("id")) for c in s.checks if str(c.get("id", "")).startswith("never."))
    return sorted(ids, key=_natural_key)


def _natural_key(s: str) -> tuple[Any, ...]:
    import re

    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s))


ItemFn = Callable[["ScoreLine"], float | None]


@dataclass(frozen=True)
class ItemMetric:
    """A metric that is a mean over items (decomposable): a clustered mean and paired differences apply."""

    name: str
    label: str
    fn: ItemFn
    higher_is_better: bool = True
    binary: bool = True


def violation_fn(rule: str) -> ItemFn:
    """Per-item violation of ``rule`` (None: item not scored, or the rule's check does not apply)."""

    def fn(s: ScoreLine) -> float | None:
        if s.envelope_ok is None and not s.checks:
            return None
        c = check_result(s, rule)
        if c is not None and not c.get("applicable", True):
            return None
        return float(rule in s.never_violations or (c is not None and not c.get("passed", True)))

    return fn


def _threshold_rule(s: ScoreLine) -> float | None:
    c = check_result(s, THRESHOLD_RULE_CHECK)
    if c is None or not c.get("applicable", True):
        return None
    return float(bool(c.get("passed")))


def _brier(s: ScoreLine) -> float | None:
    y = is_correct(s)
    if y is None or s.confidence_value is None:
        return None
    return (s.confidence_value - float(y)) ** 2


def item_metrics(lines: Iterable[ScoreLine] = ()) -> dict[str, ItemMetric]:
    """Every decomposable metric: the summary's headline metrics, item pass rate, threshold rule,
    under-escalation, task correctness, Brier score and one violation rate per Never rule in ``lines``."""
    from agenteval.analysis.summary import METRICS

    lower_better = {"over_escalation"}
    out: dict[str, ItemMetric] = {"pass_rate": ItemMetric("pass_rate", "Item pass rate (compliance checks)",
                                                          lambda s: _b(item_passed(s)))}
    for key, (label, fn) in METRICS.items():
        out[key] = ItemMetric(key, label, fn, key not in lower_better, key != "task_score")
    out["under_escalation"] = ItemMetric(
        "under_escalation", "Under-escalation rate",
        lambda s: None if not s.should_escalate or s.escalated is None else float(not s.escalated), False)
    out["threshold_rule"] = ItemMetric("threshold_rule", "Threshold-rule compliance", _threshold_rule)
    out["task_correct"] = ItemMetric("task_correct", f"Task correct (score ≥ {CORRECT_THRESHOLD})",
                                     lambda s: _b(is_correct(s)))
    out["brier"] = ItemMetric("brier", "Brier score (confidence vs correct)", _brier, False, False)
    for rule in never_rule_ids(lines):
        out[f"violation.{rule}"] = ItemMetric(f"violation.{rule}", f"Violation rate {rule}",
                                              violation_fn(rule), False)
    return out


def item_values(lines: Sequence[ScoreLine], fn: ItemFn) -> tuple[list[float], list[str]]:
    """(values, scenario clusters) of a per-item metric over the scored (ok) items where it applies."""
    vals: list[float] = []
    clusters: list[str] = []
    for s in lines:
        if s.status != "ok":
            continue
        v = fn(s)
        if v is None:
            continue
        vals.append(float(v))
        clusters.append(s.scenario_id)
    return vals, clusters


# --------------------------------------------------------------------------- non-decomposable metrics


class SetMetric:
    """A metric that is a function of summed item features (F1, precision, ECE, AUROC).

    ``features`` gives each applicable item a length-K vector; ``statistic`` maps summed features
    (shape (..., K)) to the metric. The cluster bootstrap resamples scenarios over these sums. ``grid``
    fixes bins/values shared by the runs being compared so their features line up.
    """

    name = ""
    label = ""
    higher_is_better = True

    def grid(self, runs: Sequence[Sequence[ScoreLine]]) -> list[Any]:
        """Shared bins/values for these runs (empty when the metric has fixed features)."""
        return []

    def features(self, line: ScoreLine, grid: list[Any]) -> list[float] | None:  # pragma: no cover
        """The item's feature vector, or None when the item does not take part."""
        raise NotImplementedError

    def statistic(self, totals: np.ndarray, grid: list[Any]) -> np.ndarray:  # pragma: no cover
        """The metric of summed features (vectorised over leading axes)."""
        raise NotImplementedError

    def cluster_totals(self, lines: Sequence[ScoreLine], grid: list[Any],
                       clusters: Sequence[str] | None = None) -> tuple[np.ndarray, list[str], int]:
        """(C × K cluster sums, cluster ids, number of contributing items) over the ok items."""
        import numpy as np

        rows: dict[str, list[float]] = {}
        n = 0
        k = self.width(grid)
        for s in lines:
            if s.status != "ok":
                continue
            f = self.features(s, grid)
            if f is None:
                continue
            n += 1
            acc = rows.setdefault(s.scenario_id, [0.0] * k)
            for i, v in enumerate(f):
                acc[i] += v
        ids = list(clusters) if clusters is not None else sorted(rows)
        m = np.array([rows.get(c, [0.0] * k) for c in ids], dtype=float).reshape(len(ids), k)
        return m, ids, n

    def width(self, grid: list[Any]) -> int:
        """K, the length of a feature vector."""
        raise NotImplementedError  # pragma: no cover


class _Precision(SetMetric):
    name = "escalation_precision"
    label = "Escalation precision"

    def width(self, grid: list[Any]) -> int:
        return 2

    def features(self, line: ScoreLine, grid: list[Any]) -> list[float] | None:
        if line.escalated is None or line.should_escalate is None or not line.escalated:
            return None
        return [float(line.should_escalate), float(not line.should_escalate)]

    def statistic(self, totals: np.ndarray, grid: list[Any]) -> np.ndarray:
        return totals[..., 0] / (totals[..., 0] + totals[..., 1])


class _F1(SetMetric):
    name = "escalation_f1"
    label = "Escalation F1"

    def width(self, grid: list[Any]) -> int:
        return 3

    def features(self, line: ScoreLine, grid: list[Any]) -> list[float] | None:
        if line.escalated is None or line.should_escalate is None:
            return None
        e, t = line.escalated, line.should_escalate
        return [float(e and t), float(e and not t), float(t and not e)]

    def statistic(self, totals: np.ndarray, grid: list[Any]) -> np.ndarray:
        tp, fp, fn = totals[..., 0], totals[..., 1], totals[..., 2]
        return 2 * tp / (2 * tp + fp + fn)


def _conf_bin(line: ScoreLine) -> str | None:
    """The ECE bin of an item: its allowed confidence level (items with only a number have none)."""
    if line.confidence_value is None:
        return None
    return line.confidence_level


class _ECE(SetMetric):
    name = "ece"
    label = "Expected calibration error"
    higher_is_better = False

    def grid(self, runs: Sequence[Sequence[ScoreLine]]) -> list[Any]:
        return sorted({b for lines in runs for s in lines if s.status == "ok" and is_correct(s) is not None
                       and (b := _conf_bin(s)) is not None})

    def width(self, grid: list[Any]) -> int:
        return 3 * len(grid)

    def features(self, line: ScoreLine, grid: list[Any]) -> list[float] | None:
        y = is_correct(line)
        b = _conf_bin(line)
        if y is None or b is None or b not in grid:
            return None
        f = [0.0] * (3 * len(grid))
        i = grid.index(b)
        f[3 * i] = 1.0
        f[3 * i + 1] = float(line.confidence_value or 0.0)
        f[3 * i + 2] = float(y)
        return f

    def statistic(self, totals: np.ndarray, grid: list[Any]) -> np.ndarray:
        import numpy as np

        n = totals[..., 0::3]
        return np.abs(totals[..., 2::3] - totals[..., 1::3]).sum(axis=-1) / n.sum(axis=-1)


class _AUROC(SetMetric):
    name = "auroc"
    label = "AUROC of confidence for correctness"

    def grid(self, runs: Sequence[Sequence[ScoreLine]]) -> list[Any]:
        return sorted({float(s.confidence_value) for lines in runs for s in lines
                       if s.status == "ok" and s.confidence_value is not None and is_correct(s) is not None})

    def width(self, grid: list[Any]) -> int:
        return 2 * len(grid)

    def features(self, line: ScoreLine, grid: list[Any]) -> list[float] | None:
        y = is_correct(line)
        if y is None or line.confidence_value is None:
            return None
        from bisect import bisect_left

        i = bisect_left(grid, float(line.confidence_value))
        if i >= len(grid) or grid[i] != float(line.confidence_value):
            return None
        f = [0.0] * (2 * len(grid))
        f[2 * i + (0 if y else 1)] = 1.0
        return f

    def statistic(self, totals: np.ndarray, grid: list[Any]) -> np.ndarray:
        import numpy as np

        pos = totals[..., 0::2]
        neg = totals[..., 1::2]
        below = np.cumsum(neg, axis=-1) - neg
        num = (pos * (below + 0.5 * neg)).sum(axis=-1)
        return num / (pos.sum(axis=-1) * neg.sum(axis=-1))


SET_METRICS: dict[str, SetMetric] = {m.name: m for m in (_Precision(), _F1(), _ECE(), _AUROC())}
"""Non-decomposable metrics: compared with the paired cluster bootstrap."""


# --------------------------------------------------------------------------- run-level metric table


class Metric(BaseModel):
    """One metric of a run (or a group of it): estimate, clustered SE, 95% CI, n and how it was computed."""

    name: str
    label: str
    mean: float | None
    se: float | None
    n: int
    clusters: int
    ci_low: float | None = None
    ci_high: float | None = None
    method: Literal["clustered_mean", "clustered_ratio", "cluster_bootstrap"] = "clustered_mean"
    higher_is_better: bool = True
    upper95_rule_of_three: float | None = Field(
        default=None, description="rule of three (3/n): when a binary rate is 1, the 95% upper bound on its "
        "failure rate; when it is 0, the 95% upper bound on the rate itself")


def metric_from_estimate(name: str, label: str, est: Estimate, method: Any, higher: bool,
                   bounds: tuple[float, float] | None = (0.0, 1.0)) -> Metric:
    """A :class:`Metric` from an :class:`Estimate` (a rate's CI is clipped to ``bounds``)."""
    ci = est.ci95()
    lo, hi = (ci[0], ci[1]) if ci else (None, None)
    if bounds is not None and lo is not None and hi is not None:  # a rate's CI stays within [0, 1]
        lo, hi = max(bounds[0], lo), min(bounds[1], hi)
    return Metric(name=name, label=label, mean=est.mean, se=est.se, n=est.n, clusters=est.clusters,
                  ci_low=lo, ci_high=hi, method=method, higher_is_better=higher)


def set_metric(lines: Sequence[ScoreLine], name: str, *, n_boot: int = 2000, seed: int = 0) -> Metric:
    """A non-decomposable metric of one run; SE from the linearised ratio (precision, F1) or the
    cluster bootstrap over scenarios (ECE, AUROC)."""
    sm = SET_METRICS[name]
    if name in ("escalation_precision", "escalation_f1"):
        num: list[float] = []
        den: list[float] = []
        cl: list[str] = []
        for s in lines:
            if s.status != "ok":
                continue
            f = sm.features(s, [])
            if f is None:
                continue
            if name == "escalation_precision":
                num.append(f[0])
                den.append(f[0] + f[1])
            else:
                num.append(2 * f[0])
                den.append(2 * f[0] + f[1] + f[2])
            cl.append(s.scenario_id)
        return metric_from_estimate(name, sm.label, clustered_ratio(num, den, cl), "clustered_ratio",
                              sm.higher_is_better)
    grid = sm.grid([lines])
    totals, ids, n = sm.cluster_totals(lines, grid)
    if n == 0 or not grid:
        return Metric(name=name, label=sm.label, mean=None, se=None, n=0, clusters=0,
                      method="cluster_bootstrap", higher_is_better=sm.higher_is_better)
    res = cluster_bootstrap(totals, lambda t: sm.statistic(t, grid), n_boot=n_boot, seed=seed)
    return Metric(name=name, label=sm.label, mean=res.estimate, se=res.se, n=n, clusters=len(ids),
                  ci_low=res.ci_low, ci_high=res.ci_high, method="cluster_bootstrap",
                  higher_is_better=sm.higher_is_better)


def run_metrics(lines: Sequence[ScoreLine], *, n_boot: int = 2000, seed: int = 0,
                include_set: bool = True) -> dict[str, Metric]:
    """Every metric of a run: decomposable ones as clustered means, then precision, F1, ECE and AUROC.

    Threshold-rule compliance carries the rule-of-three upper bound on its failure rate when it is 100%.
    """
    out: dict[str, Metric] = {}
    for name, im in item_metrics(lines).items():
        vals, cl = item_values(lines, im.fn)
        m = metric_from_estimate(name, im.label, clustered_mean(vals, cl), "clustered_mean",
                                 im.higher_is_better)
        if im.binary and m.mean == 1.0 and m.n:
            m.upper95_rule_of_three = rule_of_three(m.n)  # of the failure rate
        elif im.binary and m.mean == 0.0 and m.n:
            m.upper95_rule_of_three = rule_of_three(m.n)  # of the rate itself
        out[name] = m
    if include_set:
        for name in SET_METRICS:
            out[name] = set_metric(lines, name, n_boot=n_boot, seed=seed)
    return out


# --------------------------------------------------------------------------- escalation & calibration reports


class EscalationReport(BaseModel):
    """Escalation confusion matrix against ``should_escalate`` and its rates (clustered SEs)."""

    tp: int
    fp: int
    fn: int
    tn: int
    recall: Metric
    precision: Metric
    f1: Metric
    under_escalation: Metric
    over_escalation: Metric
    accuracy: Metric
    threshold_rule: Metric


def confusion_cell(escalated: bool, should_escalate: bool) -> str:
    """'tp', 'fp', 'fn' or 'tn' of one escalation decision."""
    if escalated:
        return "tp" if should_escalate else "fp"
    return "fn" if should_escalate else "tn"


def escalation_report(lines: Sequence[ScoreLine]) -> EscalationReport:
    """Escalation metrics of ``lines``: recall, precision, F1, under/over-escalation, threshold rule."""
    cm = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for s in lines:
        if s.status == "ok" and s.escalated is not None and s.should_escalate is not None:
            cm[confusion_cell(s.escalated, s.should_escalate)] += 1
    ims = item_metrics(())

    def im(name: str, label: str | None = None) -> Metric:
        m = ims[name]
        vals, cl = item_values(lines, m.fn)
        return metric_from_estimate(name, label or m.label, clustered_mean(vals, cl), "clustered_mean",
                              m.higher_is_better)

    tr = im("threshold_rule")
    if tr.mean == 1.0 and tr.n:
        tr.upper95_rule_of_three = rule_of_three(tr.n)
    return EscalationReport(
        **cm,
        recall=im("escalation_recall"),
        precision=set_metric(lines, "escalation_precision"),
        f1=set_metric(lines, "escalation_f1"),
        under_escalation=im("under_escalation"),
        over_escalation=im("over_escalation"),
        accuracy=im("escalation_correct"),
        threshold_rule=tr,
    )


class ReliabilityBin(BaseModel):
    """One row of the reliability table: a confidence level and how often it was right."""

    level: str
    n: int
    clusters: int
    mean_confidence: float
    accuracy: float
    accuracy_se: float | None
    gap: float


class CalibrationReport(BaseModel):
    """ECE (each confidence level a bin), Brier score, AUROC and the reliability table."""

    correct_definition: str = f"task_score >= {CORRECT_THRESHOLD}"
    n: int
    without_level: int = Field(default=0, description="items with a confidence value but no allowed level: "
                               "in Brier and AUROC, not in ECE or the reliability table")
    bins: list[ReliabilityBin]
    ece: Metric
    brier: Metric
    auroc: Metric


def calibration_report(lines: Sequence[ScoreLine], *, n_boot: int = 2000, seed: int = 0) -> CalibrationReport:
    """Calibration of ``confidence_value`` against task correctness (see :data:`CORRECT_THRESHOLD`)."""
    per: dict[str, tuple[list[float], list[float], list[str]]] = {}
    n = 0
    without = 0
    for s in lines:
        y = is_correct(s)
        b = _conf_bin(s)
        if s.status != "ok" or y is None or s.confidence_value is None:
            continue
        if b is None:
            without += 1
            continue
        n += 1
        conf, acc, cl = per.setdefault(b, ([], [], []))
        conf.append(float(s.confidence_value or 0.0))
        acc.append(float(y))
        cl.append(s.scenario_id)
    bins: list[ReliabilityBin] = []
    for level, (conf, acc, cl) in sorted(per.items(), key=lambda kv: -sum(kv[1][0]) / len(kv[1][0])):
        est = clustered_mean(acc, cl)
        mc = sum(conf) / len(conf)
        bins.append(ReliabilityBin(level=level, n=len(acc), clusters=est.clusters, mean_confidence=mc,
                                   accuracy=est.mean or 0.0, accuracy_se=est.se, gap=(est.mean or 0.0) - mc))
    ims = item_metrics(())
    vals, cl = item_values(lines, ims["brier"].fn)
    brier = metric_from_estimate("brier", ims["brier"].label, clustered_mean(vals, cl), "clustered_mean",
                                 False)
    return CalibrationReport(n=n, without_level=without, bins=bins,
                             ece=set_metric(lines, "ece", n_boot=n_boot, seed=seed),
                             brier=brier, auroc=set_metric(lines, "auroc", n_boot=n_boot, seed=seed))


class GroupReport(BaseModel):
    """Escalation and calibration metrics of one group of items (a whole run, a mode or a role)."""

    group: str
    n_items: int
    escalation: EscalationReport
    calibration: CalibrationReport


def grouped_reports(lines: Sequence[ScoreLine], by: Literal["run", "mode", "role"] = "run", *,
                    n_boot: int = 2000, seed: int = 0) -> list[GroupReport]:
    """Escalation and calibration reports for the run, or per mode / per role (groups from the data)."""
    if by == "run":
        groups: dict[str, list[ScoreLine]] = {"all": list(lines)}
    else:
        groups = {}
        for s in lines:
            groups.setdefault(getattr(s, by), []).append(s)
    return [GroupReport(group=g, n_items=len(ls), escalation=escalation_report(ls),
                        calibration=calibration_report(ls, n_boot=n_boot, seed=seed))
            for g, ls in groups.items()]


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
