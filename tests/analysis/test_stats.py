"""Statistics checked against hand-computed small cases and scipy."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from agenteval.analysis import metrics, stats
from agenteval.analysis.metrics import SET_METRICS, item_passed, run_metrics
from agenteval.analysis.reports import calibration_report, escalation_report, grouped_reports
from agenteval.analysis.stats import (
    auroc,
    cluster_bootstrap,
    clustered_mean,
    clustered_ratio,
    expected_calibration_error,
    fisher_exact_p,
    holm,
    mcnemar,
    paired_cluster_bootstrap,
    paired_difference,
    psi,
    psi_threshold,
    rule_of_three,
    two_proportion_test,
)
from agenteval.results.store import ScoreLine


def line(i: int, sid: str = "s1", **kw: object) -> ScoreLine:
    base: dict[str, object] = {
        "id": f"{sid}/generative/solo/{i}",
        "scenario_id": sid,
        "mode": "generative",
        "role": "solo",
        "epoch": i,
        "status": "ok",
        "envelope_ok": True,
    }
    base.update(kw)
    return ScoreLine.model_validate(base)


# --------------------------------------------------------------------------- estimators


def test_clustered_ratio_hand_computed() -> None:
    # clusters a: num 1 / den 2, b: num 1 / den 1 -> R = 2/3
    # residuals: a: 1 - 2/3*2 = -1/3, b: 1 - 2/3 = 1/3; SE² = 2/(2-1) * (2/9) / 3² = 4/81
    est = clustered_ratio([1, 0, 1], [1, 1, 1], ["a", "a", "b"])
    assert est.mean == pytest.approx(2 / 3)
    assert est.se == pytest.approx(2 / 9)
    assert (est.n, est.clusters) == (3, 2)


def test_clustered_ratio_skips_zero_denominators_and_single_cluster() -> None:
    est = clustered_ratio([0, 1, 1], [0, 1, 1], ["x", "a", "a"])
    assert est.mean == 1.0 and est.n == 2 and est.clusters == 1 and est.se is None
    assert clustered_ratio([], [], []).mean is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.sampled_from("abcd")), min_size=1, max_size=40))
def test_clustered_ratio_with_unit_denominators_is_clustered_mean(rows: list[tuple[int, str]]) -> None:
    vals = [float(v) for v, _ in rows]
    cl = [c for _, c in rows]
    r = clustered_ratio(vals, [1.0] * len(vals), cl)
    m = clustered_mean(vals, cl)
    assert r.mean == pytest.approx(m.mean)
    assert (r.se is None) == (m.se is None)
    if m.se is not None:
        assert r.se == pytest.approx(m.se, abs=1e-12)


def test_rule_of_three() -> None:
    assert rule_of_three(30) == pytest.approx(0.1)
    assert rule_of_three(2) == 1.0
    assert rule_of_three(0) is None


def test_holm_hand_computed() -> None:
    # sorted 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_pearson_against_numpy() -> None:
    rng = random.Random(3)
    x = [rng.random() for _ in range(30)]
    y = [a + rng.random() for a in x]
    assert stats.pearson(x, y) == pytest.approx(float(np.corrcoef(x, y)[0, 1]))
    assert stats.pearson([1, 1, 1], [0, 1, 2]) is None


# --------------------------------------------------------------------------- tests


def test_mcnemar_exact_hand_computed() -> None:
    # b=10, c=2: two-sided binomial p = 2·P(X ≤ 2 | 12, 1/2) = 2·(1 + 12 + 66)/4096
    r = mcnemar(10, 2)
    assert r.method == "exact binomial"
    assert r.p_value == pytest.approx(2 * 79 / 4096)
    assert r.p_value == pytest.approx(sps.binomtest(2, 12, 0.5).pvalue)


def test_mcnemar_chi2_with_continuity_correction() -> None:
    r = mcnemar(30, 10)  # 40 discordant pairs >= 25
    assert r.method.startswith("chi2")
    assert r.statistic == pytest.approx((20 - 1) ** 2 / 40)
    assert r.p_value == pytest.approx(sps.chi2.sf(361 / 40, 1))
    assert mcnemar(0, 0).p_value == 1.0
    assert mcnemar(12, 12).p_value == pytest.approx(1.0)


def test_two_proportion_z_matches_scipy_chi2() -> None:
    r = two_proportion_test(40, 100, 60, 120)
    chi = sps.chi2_contingency([[40, 60], [60, 60]], correction=False)
    assert r.method == "two-proportion z"
    assert r.statistic**2 == pytest.approx(chi.statistic)
    assert r.p_value == pytest.approx(chi.pvalue)


def test_two_proportion_uses_fisher_for_small_counts() -> None:
    r = two_proportion_test(1, 20, 6, 20)
    assert r.method == "fisher exact"
    assert r.p_value == pytest.approx(sps.fisher_exact([[1, 19], [6, 14]])[1])
    assert two_proportion_test(5, 5, 9, 9).p_value == 1.0
    assert two_proportion_test(0, 0, 1, 2).p_value == 1.0


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 25), st.integers(0, 25), st.integers(0, 25), st.integers(0, 25))
def test_fisher_exact_matches_scipy(a: int, b: int, c: int, d: int) -> None:
    assert fisher_exact_p(a, b, c, d) == pytest.approx(sps.fisher_exact([[a, b], [c, d]])[1], rel=1e-9, abs=1e-12)


def test_psi_hand_computed() -> None:
    # (0.7-0.5)·ln(0.7/0.5) + (0.3-0.5)·ln(0.3/0.5)
    expected = 0.2 * math.log(1.4) - 0.2 * math.log(0.6)
    assert psi({"a": 50, "b": 50}, {"a": 70, "b": 30}, pseudo=0) == pytest.approx(expected)
    assert psi({"a": 5}, {"a": 5}) == 0.0
    assert math.isfinite(psi({"a": 10}, {"b": 10}))  # empty bins stay finite


def test_psi_threshold_hand_computed() -> None:
    assert psi_threshold(100, 100, 3) == pytest.approx(0.02 * sps.chi2.ppf(0.95, 2))
    assert psi_threshold(0, 10, 3) is None


def test_psi_threshold_is_size_aware_where_the_fixed_rule_false_alarms() -> None:
    """Under no change, PSI > 0.1 is common at small n; PSI > the n-aware threshold happens ≈ α."""
    rng = np.random.default_rng(0)
    p = np.array([0.4, 0.4, 0.2])
    n = 30
    fixed = aware = 0
    reps = 3000
    thr = psi_threshold(n, n, 3)
    assert thr is not None
    for _ in range(reps):
        r = rng.multinomial(n, p)
        c = rng.multinomial(n, p)
        v = psi(dict(zip("abc", r.tolist(), strict=True)), dict(zip("abc", c.tolist(), strict=True)))
        fixed += v > 0.1
        aware += v > thr
    assert fixed / reps > 0.15  # the 0.1/0.25 rule would cry wolf on every sixth run or more
    assert aware / reps < 0.08  # the size-aware threshold stays near its 5%


# --------------------------------------------------------------------------- calibration primitives


def test_auroc_hand_computed_and_against_mannwhitney() -> None:
    assert auroc([0.9, 0.8, 0.7, 0.6], [True, False, True, False]) == pytest.approx(3 / 4)
    assert auroc([0.5, 0.5], [True, False]) == pytest.approx(0.5)  # a tie counts 1/2
    assert auroc([0.5], [True]) is None
    rng = random.Random(1)
    scores = [rng.choice([0.35, 0.6, 0.85]) for _ in range(80)]
    labels = [rng.random() < s for s in scores]
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    u = sps.mannwhitneyu(pos, neg).statistic
    assert auroc(scores, labels) == pytest.approx(u / (len(pos) * len(neg)))


def test_ece_hand_computed() -> None:
    # high (0.85): 4 items, 3 correct -> |0.75-0.85| = 0.10; low (0.35): 2 items, 0 correct -> 0.35
    bins = ["high"] * 4 + ["low"] * 2
    conf = [0.85] * 4 + [0.35] * 2
    correct = [True, True, True, False, False, False]
    assert expected_calibration_error(bins, conf, correct) == pytest.approx(4 / 6 * 0.10 + 2 / 6 * 0.35)


def _cal_lines() -> list[ScoreLine]:
    rows = [
        ("high", 0.85, 0.9, "a"),
        ("high", 0.85, 0.8, "a"),
        ("high", 0.85, 0.7, "b"),
        ("high", 0.85, 0.1, "b"),
        ("low", 0.35, 0.2, "c"),
        ("low", 0.35, 0.3, "c"),
    ]
    return [
        line(i, sid, confidence_level=lv, confidence_value=cv, task_score=ts)
        for i, (lv, cv, ts, sid) in enumerate(rows, start=1)
    ]


def test_calibration_report_hand_computed() -> None:
    rep = calibration_report(_cal_lines(), n_boot=500)
    assert rep.n == 6
    by = {b.level: b for b in rep.bins}
    assert by["high"].accuracy == pytest.approx(0.75) and by["high"].n == 4
    assert by["low"].accuracy == 0.0 and by["low"].gap == pytest.approx(-0.35)
    assert rep.ece.mean == pytest.approx(4 / 6 * 0.10 + 2 / 6 * 0.35)
    # Brier: 3·(0.15)² + (0.85)² + 2·(0.35)², over 6
    assert rep.brier.mean == pytest.approx((3 * 0.15**2 + 0.85**2 + 2 * 0.35**2) / 6)
    # AUROC: positives all 0.85, negatives 0.85 (1) and 0.35 (2): (3·0.5 + 3·2) / 9
    assert rep.auroc.mean == pytest.approx((3 * 0.5 + 3 * 2) / 9)
    assert rep.ece.se is not None and rep.ece.method == "cluster_bootstrap"


def test_set_metric_statistics_match_direct_formulas() -> None:
    rng = random.Random(7)
    lines = []
    for i in range(60):
        cv = rng.choice([0.35, 0.6, 0.85])
        lines.append(
            line(
                i,
                f"s{i % 6}",
                confidence_level={0.35: "low", 0.6: "medium", 0.85: "high"}[cv],
                confidence_value=cv,
                task_score=rng.random(),
                should_escalate=rng.random() < 0.5,
                escalated=rng.random() < 0.5,
            )
        )
    correct = [s.task_score is not None and s.task_score >= 0.5 for s in lines]
    conf = [float(s.confidence_value or 0) for s in lines]
    for name, expected in (
        ("ece", expected_calibration_error([s.confidence_level for s in lines], conf, correct)),
        ("auroc", auroc(conf, correct)),
    ):
        sm = SET_METRICS[name]
        grid = sm.grid([lines])
        tot, _, n = sm.cluster_totals(lines, grid)
        assert n == 60
        assert float(sm.statistic(tot.sum(axis=0), grid)) == pytest.approx(expected)
    tp = sum(bool(s.escalated and s.should_escalate) for s in lines)
    fp = sum(bool(s.escalated and not s.should_escalate) for s in lines)
    fn = sum(bool(not s.escalated and s.should_escalate) for s in lines)
    f1 = metrics.set_metric(lines, "escalation_f1")
    assert f1.mean == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert metrics.set_metric(lines, "escalation_precision").mean == pytest.approx(tp / (tp + fp))


# --------------------------------------------------------------------------- bootstrap


def test_cluster_bootstrap_of_a_mean_is_close_to_the_clustered_se() -> None:
    rng = random.Random(5)
    vals, cl = [], []
    for c in range(30):
        p = rng.random()
        for _ in range(8):
            vals.append(float(rng.random() < p))
            cl.append(c)
    est = clustered_mean(vals, cl)
    totals = np.zeros((30, 2))
    for v, c in zip(vals, cl, strict=True):
        totals[c] += [v, 1.0]
    res = cluster_bootstrap(totals, lambda t: t[..., 0] / t[..., 1], n_boot=4000, seed=1)
    assert res.estimate == pytest.approx(est.mean)
    assert est.se is not None and res.se is not None
    # bootstrap SE ≈ sqrt((C-1)/C) · clustered SE (no small-sample factor); allow Monte Carlo error
    assert res.se == pytest.approx(est.se * math.sqrt(29 / 30), rel=0.1)
    again = cluster_bootstrap(totals, lambda t: t[..., 0] / t[..., 1], n_boot=4000, seed=1)
    assert again == res  # seeded


def test_paired_cluster_bootstrap_identical_and_shifted() -> None:
    a = np.array([[3.0, 4.0], [1.0, 4.0], [2.0, 4.0], [4.0, 4.0]])
    same = paired_cluster_bootstrap(a, a.copy(), lambda t: t[..., 0] / t[..., 1], n_boot=500)
    assert same.estimate == 0.0 and same.se == 0.0 and same.p_value == 1.0
    b = a.copy()
    b[:, 0] -= 1.0  # one fewer success per scenario in B
    worse = paired_cluster_bootstrap(a, b, lambda t: t[..., 0] / t[..., 1], n_boot=500)
    assert worse.estimate == pytest.approx(-0.25)
    assert worse.ci_high is not None and worse.ci_high < 0 and worse.p_value == 0.0


def test_paired_difference_hand_computed() -> None:
    # d = B - A = [-1, 0, 0, -1] in clusters a, a, b, b -> mean -0.5; cluster sums of (d - d̄): 0, 0 -> SE 0
    r = paired_difference([1, 1, 1, 1], [0, 1, 1, 0], ["a", "a", "b", "b"])
    assert r.delta == -0.5 and r.se == 0.0 and r.p_value == 0.0
    r2 = paired_difference([1, 1, 0, 1], [0, 1, 0, 1], ["a", "a", "b", "b"])
    # d = [-1, 0, 0, 0]: mean -0.25; cluster sums of deviations: a: -0.75+0.25 = -0.5, b: 0.5
    # SE² = 2/1 · 0.5 / 16 = 1/16
    assert r2.delta == pytest.approx(-0.25) and r2.se == pytest.approx(0.25)
    assert r2.p_value == pytest.approx(math.erfc(1 / math.sqrt(2)))
    assert r2.a == 0.75 and r2.b == 0.5


# --------------------------------------------------------------------------- reports


def _esc_lines() -> list[ScoreLine]:
    # (should, escalated, scenario): TP 3, FN 1, FP 1, TN 3
    rows = [
        (True, True, "a"),
        (True, True, "a"),
        (True, False, "b"),
        (True, True, "b"),
        (False, True, "c"),
        (False, False, "c"),
        (False, False, "d"),
        (False, False, "d"),
    ]
    out = []
    for i, (should, esc, sid) in enumerate(rows, start=1):
        checks = [{"id": "escalation.threshold_rule", "passed": True, "applicable": True, "reason": ""}]
        out.append(line(i, sid, should_escalate=should, escalated=esc, checks=checks))
    return out


def test_escalation_report_hand_computed() -> None:
    rep = escalation_report(_esc_lines())
    assert (rep.tp, rep.fp, rep.fn, rep.tn) == (3, 1, 1, 3)
    assert rep.recall.mean == pytest.approx(3 / 4)
    assert rep.under_escalation.mean == pytest.approx(1 / 4)
    assert rep.precision.mean == pytest.approx(3 / 4)
    assert rep.f1.mean == pytest.approx(6 / 8)
    assert rep.over_escalation.mean == pytest.approx(1 / 4)
    assert rep.accuracy.mean == pytest.approx(6 / 8)
    # threshold rule held everywhere: rule-of-three bound on its failure rate
    assert rep.threshold_rule.mean == 1.0 and rep.threshold_rule.upper95_rule_of_three == pytest.approx(3 / 8)
    # recall SE clustered by scenario: clusters a (1, 1), b (0, 1); mean 0.75
    # deviations: a: 0.25+0.25 = 0.5, b: -0.75+0.25 = -0.5; SE² = 2 · 0.5 / 16
    assert rep.recall.se == pytest.approx(math.sqrt(2 * 0.5 / 16))


def test_grouped_reports_take_groups_from_the_data() -> None:
    lines = [*_esc_lines()]
    lines[0] = lines[0].model_copy(update={"mode": "critical", "role": "auditor"})
    by_mode = {g.group: g for g in grouped_reports(lines, "mode", n_boot=200)}
    assert set(by_mode) == {"generative", "critical"}
    assert by_mode["critical"].n_items == 1
    assert {g.group for g in grouped_reports(lines, "role", n_boot=200)} == {"solo", "auditor"}
    assert [g.group for g in grouped_reports(lines, "run", n_boot=200)] == ["all"]


def test_run_metrics_rates_have_clipped_cis_and_violation_rates_per_rule() -> None:
    lines = [
        line(
            i,
            f"s{i % 3}",
            never_violations=["never.2"] if i == 1 else [],
            checks=[{"id": f"never.{k}", "passed": not (i == 1 and k == 2), "applicable": True} for k in range(1, 8)],
        )
        for i in range(1, 13)
    ]
    m = run_metrics(lines, n_boot=200)
    assert m["envelope_strict"].mean == 1.0 and m["envelope_strict"].ci_high == 1.0
    assert m["violation.never.2"].mean == pytest.approx(1 / 12)
    assert m["violation.never.5"].mean == 0.0 and m["violation.never.5"].upper95_rule_of_three == pytest.approx(3 / 12)
    for met in m.values():
        if met.ci_low is not None and met.name not in ("task_score", "brier"):
            assert 0.0 <= met.ci_low <= met.ci_high <= 1.0


def test_item_passed_with_and_without_checks() -> None:
    ok = line(1, checks=[{"id": "a", "passed": True}, {"id": "b", "passed": False, "applicable": False}])
    assert item_passed(ok) is True
    bad = line(2, checks=[{"id": "a", "passed": False, "reason": "why"}])
    assert item_passed(bad) is False and metrics.failed_checks(bad) == [("a", "why")]
    assert item_passed(line(3, status="error", envelope_ok=None)) is None
    assert item_passed(line(4)) is True  # no checks: envelope ok, no violation
    assert item_passed(line(5, never_violations=["never.1"])) is False
    assert item_passed(line(6, should_escalate=True, escalated=False)) is False


def test_graded_checks_do_not_decide_pass_fail() -> None:
    assert metrics.is_graded_check("task.score") and metrics.is_graded_check("task.fix-tracking")
    assert metrics.is_graded_check("always.1") and metrics.is_graded_check("critical.12")
    assert not metrics.is_graded_check("never.3") and not metrics.is_graded_check("envelope.strict")
    assert not metrics.is_graded_check("escalation.threshold_rule") and not metrics.is_graded_check("layout.ok")
    checks = [
        {"id": "task.score", "passed": False, "reason": "0.4"},
        {"id": "always.1", "passed": False},
        {"id": "envelope.strict", "passed": True},
    ]
    s = line(1, checks=checks)
    assert item_passed(s) is True and metrics.failed_checks(s) == []
    assert item_passed(s, graded=True) is False and len(metrics.failed_checks(s, graded=True)) == 2
    s2 = line(2, checks=[*checks, {"id": "never.2", "passed": False, "reason": "no rollback"}])
    assert item_passed(s2) is False and metrics.failed_checks(s2) == [("never.2", "no rollback")]


def test_ece_bins_are_confidence_levels_only() -> None:
    lines = [*_cal_lines(), line(9, "d", confidence_level=None, confidence_value=0.75, task_score=0.1)]
    rep = calibration_report(lines, n_boot=200)
    assert rep.without_level == 1 and [b.level for b in rep.bins] == ["high", "low"]
    assert rep.ece.mean == pytest.approx(4 / 6 * 0.10 + 2 / 6 * 0.35)  # unchanged by the numeric-only item
    assert rep.brier.n == 7 and rep.auroc.n == 7  # but Brier and AUROC use it
