"""Escalation and calibration reports of a run, built on the metric registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from agenteval.analysis.metrics import (
    Metric,
    _conf_bin,
    is_correct,
    item_metrics,
    item_values,
    metric_from_estimate,
    set_metric,
)
from agenteval.analysis.stats import CORRECT_THRESHOLD, clustered_mean, rule_of_three
from agenteval.results.store import ScoreLine

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

