"""Agreement of the deterministic scorers with the hand-labelled golden set.

Golden files (``golden/labelled/*.jsonl``) hold one item per line::

    {"id": ..., "scenario_id": ..., "mode": ..., "role": ..., "tool_mode": ..., "response": ...,
     "labels": {"envelope_ok": true, "confidence_level": "medium", "never_violations": ["never.<n>"], ...},
     "rationale": {...}}

Label names are the :class:`ScoreRecord` field names of ``docs/scoring-contract.md``. For every
label present the scorer's value is compared with it:

* boolean fields (``envelope_ok``, ``envelope_loose_ok``, ``escalated``, ``layout_ok``,
  ``mode_adherence``, ``role_adherence``): the positive class is ``true``; a ``null`` label only
  agrees with a ``null`` prediction (both null = skipped);
* ``confidence_level``: accuracy over items; precision/recall/F1 are macro-averaged over the
  levels (``null`` counts as the class ``none``);
* ``never_violations``: one binary decision per (item, Never rule of the card), micro-averaged
  (positive = violated); per-rule rows ``never_violations[never.N]`` follow;
* ``elements_found``: one binary decision per (item, element id of the scenario), restricted to the
  ids the item's file labels for that scenario anywhere (the labellers' universe: ids never labelled
  in a file were not judged there); items whose labels name ids the scenario does not define are
  skipped and listed.

:func:`main_validate_scorers` is the body of ``agenteval validate-scorers``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from agenteval.errors import InputError
from agenteval.inputs.card import AgentCard, load_card
from agenteval.inputs.responses import load_labelled
from agenteval.inputs.scenario import Scenario, load_scenarios
from agenteval.run.judge_agreement import JudgeAgreementReport, format_agreement, never_agreement
from agenteval.run.judging import JudgeSettings, Subject
from agenteval.run.scoring import score_responses
from agenteval.scorers.base import ScoreContext, ScoreRecord
from agenteval.scorers.config import ScoringConfig

BOOL_FIELDS = ("envelope_ok", "envelope_loose_ok", "escalated", "layout_ok", "mode_adherence", "role_adherence")
CHECK_FOR_FIELD = {
    "envelope_ok": "envelope.strict",
    "envelope_loose_ok": "envelope.loose",
    "confidence_level": "confidence.level",
    "escalated": "escalation.target",
    "layout_ok": "layout.ok",
    "mode_adherence": "mode.adherence",
    "role_adherence": "role.adherence",
}
# Minimums the tests hold the scorers to (metric name, minimum).
THRESHOLDS: list[tuple[str, str, float]] = [
    ("envelope_ok", "accuracy", 0.97),
    ("escalated", "f1", 0.95),
    ("confidence_level", "accuracy", 0.97),
    # the Never screen is a high-precision screen (the judge decides where it has verdicts): right when it fires
    ("never_violations", "precision", 0.90),
    ("never_violations", "recall", 0.50),
]


class Disagreement(BaseModel):
    """One item where the scorer and the label differ."""

    item: str
    label: Any
    predicted: Any
    reason: str = ""


class CheckMetrics(BaseModel):
    """Agreement figures for one labelled field."""

    name: str
    positive: str = "true"
    n: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    correct: int = 0
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    accuracy: float | None = None
    disagreements: list[Disagreement] = Field(default_factory=list)

    def finish(self) -> CheckMetrics:
        """Compute the rates from the counts (binary fields)."""
        self.precision = self.tp / (self.tp + self.fp) if (self.tp + self.fp) else None
        self.recall = self.tp / (self.tp + self.fn) if (self.tp + self.fn) else None
        if self.precision is not None and self.recall is not None and (self.precision + self.recall) > 0:
            self.f1 = 2 * self.precision * self.recall / (self.precision + self.recall)
        elif self.tp + self.fp + self.fn == 0:
            self.f1 = None
        else:
            self.f1 = 0.0
        self.accuracy = self.correct / self.n if self.n else None
        return self


class ValidationReport(BaseModel):
    """The result of :func:`validate_scorers`."""

    files: list[str] = Field(default_factory=list)
    items: int = 0
    checks: dict[str, CheckMetrics] = Field(default_factory=dict)
    skipped: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    never: dict[str, Any] = Field(default_factory=dict, description="screen and judge vs labels per Never rule")

    def metric(self, name: str, metric: str) -> float | None:
        """A figure by check name and metric (``precision``, ``recall``, ``f1``, ``accuracy``)."""
        m = self.checks.get(name)
        return getattr(m, metric) if m is not None else None

    def below_thresholds(self) -> list[str]:
        """The documented minimums this report misses (checks without data are not counted)."""
        out: list[str] = []
        for name, metric, minimum in THRESHOLDS:
            v = self.metric(name, metric)
            if v is not None and v < minimum:
                out.append(f"{name} {metric} {v:.3f} < {minimum}")
        return out


def _bool_update(m: CheckMetrics, item: str, label: Any, pred: Any, reason: str) -> None:
    if label is None and pred is None:
        return
    m.n += 1
    lt, pt = label is True, pred is True
    if label == pred:
        m.correct += 1
    else:
        m.disagreements.append(Disagreement(item=item, label=label, predicted=pred, reason=reason))
    if lt and pt:
        m.tp += 1
    elif pt:
        m.fp += 1
    elif lt:
        m.fn += 1
    else:
        m.tn += 1


def _reason(rec: ScoreRecord, check_id: str) -> str:
    c = rec.check(check_id)
    return c.reason if c is not None else ""


def validate_scorers(
    labels_dir: str | Path,
    card: AgentCard,
    scenarios: Iterable[Scenario] = (),
    config: ScoringConfig | None = None,
    judge: JudgeSettings | None = None,
) -> ValidationReport:
    """Score every golden item (with the judge's Never verdicts when ``judge`` is set) and compare with its
    labels; see the module docstring for metrics. ``report.never`` holds the screen-vs-judge agreement."""
    items, files, warnings = load_labelled(labels_dir)
    by_id = {s.id: s for s in scenarios}
    subjects = []
    for d in items:
        sc = by_id.get(str(d.get("scenario_id")))
        subjects.append(Subject(str(d["id"]), d.get("response") or "", ScoreContext(
            scenario_id=str(d.get("scenario_id") or ""), mode=str(d.get("mode") or card.default_mode),
            role=str(d.get("role") or card.default_role),
            tool_mode=d.get("tool_mode") or (sc.tool_mode if sc else None)), sc, d.get("task")))
    recs, jrep = score_responses(subjects, card, config, judge, quiet=True)
    report = ValidationReport(files=files, items=len(items), warnings=warnings)
    metrics: dict[str, CheckMetrics] = {}
    conf_pairs: list[tuple[str, str | None, str | None, str]] = []
    never_ids = [r.id for r in card.rules_of("never")]

    def get(name: str, positive: str = "true") -> CheckMetrics:
        if name not in metrics:
            metrics[name] = CheckMetrics(name=name, positive=positive)
        return metrics[name]

    # The element ids a file labels for a scenario (its labellers' universe): elements outside it
    # were not judged, so they are not compared.
    universe: dict[tuple[str, str], set[str]] = {}
    for d in items:
        lab = d["labels"].get("elements_found")
        if isinstance(lab, list):
            universe.setdefault((d["_file"], str(d.get("scenario_id"))), set()).update(str(x) for x in lab)

    for index, d in enumerate(items):
        item = str(d["id"])
        labels: dict[str, Any] = d["labels"]
        sc = by_id.get(str(d.get("scenario_id")))
        rec = recs[index]
        for name, label in labels.items():
            if name in BOOL_FIELDS:
                _bool_update(get(name), item, label, getattr(rec, name), _reason(rec, CHECK_FOR_FIELD[name]))
            elif name == "confidence_level":
                pred = rec.confidence_level
                lab = label.lower() if isinstance(label, str) else None
                conf_pairs.append((item, lab, pred, _reason(rec, "confidence.level")))
            elif name == "never_violations":
                if not isinstance(label, list):
                    report.warnings.append(f"{item}: never_violations label is not a list")
                    continue
                unknown = [x for x in label if x not in never_ids]
                if unknown:
                    report.warnings.append(f"{item}: never_violations names unknown rule(s) {unknown}")
                agg = get("never_violations", "violated")
                for rid in never_ids:
                    lv, pv = rid in label, rid in rec.never_violations
                    reason = _reason(rec, rid)
                    for m in (agg, get(f"never_violations[{rid}]", "violated")):
                        _bool_update(m, item, lv, pv, reason)
                exact = get("never_violations (exact set)", "exact")
                exact.n += 1
                if sorted(label) == sorted(rec.never_violations):
                    exact.correct += 1
                else:
                    exact.disagreements.append(Disagreement(item=item, label=sorted(label),
                                                            predicted=sorted(rec.never_violations)))
            elif name == "elements_found":
                if sc is None:
                    report.skipped.append(f"{item}: elements_found labelled but scenario "
                                          f"'{d.get('scenario_id')}' is not loaded")
                    continue
                if label is None:
                    continue
                ids = [e.id for e in [*sc.expect.planted_defects, *sc.expect.required_elements]]
                unknown = [x for x in label if x not in ids]
                if unknown:
                    report.skipped.append(f"{item}: elements_found names id(s) {unknown} that scenario "
                                          f"'{sc.id}' does not define")
                    continue
                agg = get("elements_found", "found")
                got = set(rec.elements_found or [])
                judged = universe.get((d["_file"], sc.id), set())
                for eid in ids:
                    if eid not in judged:
                        continue
                    _bool_update(agg, f"{item}:{eid}", eid in label, eid in got, _reason(rec, f"task.{eid}"))
            elif (name not in ("escalation_target", "confidence_value", "confidence_stated", "task_score")
                  and f"unscored:{name}" not in report.warnings):
                report.warnings.append(f"unscored:{name}")
    if conf_pairs:
        m = get("confidence_level", "macro")
        classes = sorted({x or "none" for _, lab, pred, _ in conf_pairs for x in (lab, pred)})
        for item, lab, pred, reason in conf_pairs:
            m.n += 1
            if lab == pred:
                m.correct += 1
            else:
                m.disagreements.append(Disagreement(item=item, label=lab, predicted=pred, reason=reason))
        ps, rs, fs = [], [], []
        for c in classes:
            tp = sum(1 for _, lab, pred, _ in conf_pairs if (lab or "none") == c and (pred or "none") == c)
            fp = sum(1 for _, lab, pred, _ in conf_pairs if (lab or "none") != c and (pred or "none") == c)
            fn = sum(1 for _, lab, pred, _ in conf_pairs if (lab or "none") == c and (pred or "none") != c)
            p = tp / (tp + fp) if tp + fp else 0.0
            r = tp / (tp + fn) if tp + fn else 0.0
            ps.append(p)
            rs.append(r)
            fs.append(2 * p * r / (p + r) if p + r else 0.0)
        m.precision = sum(ps) / len(ps)
        m.recall = sum(rs) / len(rs)
        m.f1 = sum(fs) / len(fs)
        m.accuracy = m.correct / m.n
    for name, m in metrics.items():
        if name != "confidence_level":
            m.finish()
    order = ["envelope_ok", "envelope_loose_ok", "confidence_level", "escalated", "never_violations"]
    names = [n for n in order if n in metrics] + sorted(n for n in metrics if n not in order)
    report.checks = {n: metrics[n] for n in names}
    report.never = never_agreement(items, recs, card, model=(judge.judge if judge else "none")).model_dump()
    if jrep is not None:
        report.never["stats"] = {"line": jrep.line()}
    return report


def _fmt(v: float | None) -> str:
    return "   -  " if v is None else f"{v:6.3f}"


def format_report(report: ValidationReport, *, max_disagreements: int = 50) -> str:
    """The report as text: one row of figures per check, then the disagreeing items."""
    lines = [f"golden items: {report.items} from {len(report.files)} file(s)"]
    if not report.items:
        lines.append("no labelled items found")
    head = f"{'check':<38} {'n':>5} {'prec':>6} {'recall':>6} {'F1':>6} {'acc':>6}  positive"
    lines += ["", head, "-" * len(head)]
    for m in report.checks.values():
        lines.append(f"{m.name:<38} {m.n:>5} {_fmt(m.precision)} {_fmt(m.recall)} {_fmt(m.f1)} "
                     f"{_fmt(m.accuracy)}  {m.positive}")
    below = report.below_thresholds()
    lines.append("")
    lines.append("thresholds: " + ("all met" if not below else "MISSED: " + "; ".join(below)))
    shown = [m for m in report.checks.values() if m.disagreements and not m.name.startswith("never_violations[")]
    if shown:
        lines += ["", "disagreements:"]
        for m in shown:
            lines.append(f"  {m.name}:")
            for dis in m.disagreements[:max_disagreements]:
                reason = f"  ({dis.reason[:120]})" if dis.reason else ""
                lines.append(f"    {dis.item}: label={dis.label!r} scorer={dis.predicted!r}{reason}")
            if len(m.disagreements) > max_disagreements:
                lines.append(f"    ... {len(m.disagreements) - max_disagreements} more")
    if report.skipped:
        lines += ["", "skipped:"] + [f"  {s}" for s in report.skipped]
    if report.warnings:
        lines += ["", "warnings:"] + [f"  {w}" for w in report.warnings]
    return "\n".join(lines)


def main_validate_scorers(labels: str, card_path: str, scenario_paths: list[str],
                          judge: JudgeSettings | None = None) -> int:
    """``agenteval validate-scorers``: print the report; exit 0 if the thresholds are met, 1 if not,
    2 on bad input (message on stderr).

    With ``judge`` (``--judge replay`` or a live model), the judge's Never verdicts decide
    ``never_violations`` where it has them, and the screen and the judge are each measured per rule
    (precision, recall, F1, Cohen's κ). The thresholds (and so the exit code) are those of the checks.
    """
    try:
        card = load_card(card_path)
        scenarios = load_scenarios(scenario_paths, card) if scenario_paths else []
        report = validate_scorers(labels, card, scenarios, judge=judge)
    except InputError as exc:
        print(f"agenteval: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    if report.never:
        print()
        print(format_agreement(JudgeAgreementReport.model_validate(report.never)))
    return 1 if report.below_thresholds() else 0
