"""Never verdicts against the labels: the screen and the judge, per rule, with Cohen's κ.

``agenteval validate-scorers [--judge replay|MODEL]`` scores every labelled item (with the judge's verdicts
where it has them) and compares, per (item, Never rule), the label with

* the deterministic screen's own hits (``never_screen``): rows ``screen never_violations[rule]``;
* the judge's verdicts (``never_violations`` of items whose ``never_source`` is ``judge``): rows
  ``judge never_violations[rule]``; items the judge has no verdict for are listed under ``no_answer``.

Each row gives n, precision, recall, F1 and Cohen's κ = (p_o − p_e) / (1 − p_e), with p_o the observed
agreement and p_e the agreement expected from the two raters' marginal rates (None when p_e = 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, Field

from agenteval.inputs.card import AgentCard
from agenteval.scorers.base import ScoreRecord

Pair = tuple[bool, bool]


def cohens_kappa(pairs: Iterable[Pair]) -> float | None:
    """Cohen's κ of two binary raters over ``(a, b)`` pairs; None without pairs or when p_e = 1."""
    ps = list(pairs)
    n = len(ps)
    if not n:
        return None
    po = sum(a == b for a, b in ps) / n
    pa = sum(a for a, _ in ps) / n
    pb = sum(b for _, b in ps) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    if pe >= 1.0:
        return None
    return (po - pe) / (1 - pe)


class AgreementRow(BaseModel):
    """Judge vs labels for one field (and the deterministic scorer on the same pairs)."""

    name: str
    positive: str
    n: int = 0
    agree: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    accuracy: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    kappa: float | None = None
    scorer_n: int = 0
    scorer_kappa: float | None = None
    disagreements: list[str] = Field(default_factory=list)


class JudgeAgreementReport(BaseModel):
    """The result of :func:`judge_agreement`."""

    model: str
    items: int = 0
    no_answer: list[str] = Field(default_factory=list)
    rows: dict[str, AgreementRow] = Field(default_factory=dict)
    stats: dict[str, Any] = Field(default_factory=dict)

    def kappa(self, name: str) -> float | None:
        """κ of one row by name."""
        r = self.rows.get(name)
        return r.kappa if r is not None else None


def agreement_row(name: str, positive: str, pairs: Sequence[Pair], scorer_pairs: Sequence[Pair] = (),
                  items: Sequence[str] = ()) -> AgreementRow:
    """A row from (label, judge) pairs (and optional (label, scorer) pairs); ``items`` names the pairs
    for the disagreement list."""
    row = AgreementRow(name=name, positive=positive, n=len(pairs))
    for i, (lab, jud) in enumerate(pairs):
        row.agree += lab == jud
        row.tp += lab and jud
        row.fp += (not lab) and jud
        row.fn += lab and not jud
        row.tn += (not lab) and not jud
        if lab != jud and i < len(items):
            row.disagreements.append(f"{items[i]}: label={lab} judge={jud}")
    row.accuracy = row.agree / row.n if row.n else None
    row.precision = row.tp / (row.tp + row.fp) if row.tp + row.fp else None
    row.recall = row.tp / (row.tp + row.fn) if row.tp + row.fn else None
    row.f1 = (2 * row.precision * row.recall / (row.precision + row.recall)
              if row.precision is not None and row.recall is not None and row.precision + row.recall else None)
    row.kappa = cohens_kappa(pairs)
    row.scorer_n = len(scorer_pairs)
    row.scorer_kappa = cohens_kappa(scorer_pairs)
    return row


def never_agreement(items: Sequence[dict[str, Any]], recs: Sequence[ScoreRecord], card: AgentCard,
                    model: str = "judge") -> JudgeAgreementReport:
    """The screen and the judge against the labels, per Never rule and pooled.

    ``recs`` are the score records of ``items`` (same order), scored with the judge's verdicts where it has
    them. Rows ``screen never_violations[rule]`` use the screen's own hits (``never_screen``); rows
    ``judge never_violations[rule]`` use the judge's verdicts, on the items the judge answered.
    """
    report = JudgeAgreementReport(model=model, items=len(items))
    never_ids = [r.id for r in card.rules_of("never")]
    pairs: dict[str, tuple[list[Pair], list[str]]] = {}

    def add(name: str, item: str, label: bool, verdict: bool) -> None:
        p, names = pairs.setdefault(name, ([], []))
        p.append((label, verdict))
        names.append(item)

    for d, rec in zip(items, recs, strict=True):
        item = str(d["id"])
        never_label = d["labels"].get("never_violations")
        if not isinstance(never_label, list):
            continue
        judged = rec.never_source == "judge"
        if not judged and rec.judge_missing:
            report.no_answer.append(item)
        for rid in never_ids:
            lab = rid in never_label
            for name in ("screen never_violations", f"screen never_violations[{rid}]"):
                add(name, f"{item}:{rid}", lab, rid in rec.never_screen)
            if judged:
                for name in ("judge never_violations", f"judge never_violations[{rid}]"):
                    add(name, f"{item}:{rid}", lab, rid in rec.never_violations)
    for name in sorted(pairs, key=lambda n: (not n.startswith("screen"), "[" in n, n)):
        p, its = pairs[name]
        report.rows[name] = agreement_row(name, "violated", p, (), its)
    return report


def _fmt(v: float | None) -> str:
    return "   -  " if v is None else f"{v:6.3f}"


def format_agreement(report: JudgeAgreementReport, *, max_disagreements: int = 30) -> str:
    """The report as text: one row per field (n, accuracy, κ, the scorer's κ), then disagreements."""
    s = report.stats
    lines = [f"Never-rule screen and judge ({report.model}) vs labels: {report.items} labelled item(s)"
             + (f"; {s['line']}" if s.get("line") else "")]
    head = f"{'Never verdicts vs labels':<38} {'n':>5} {'P':>6} {'R':>6} {'F1':>6} {'kappa':>6}  TP/FP/FN"
    lines += ["", head, "-" * len(head)]
    for r in report.rows.values():
        lines.append(f"{r.name:<38} {r.n:>5} {_fmt(r.precision)} {_fmt(r.recall)} {_fmt(r.f1)} {_fmt(r.kappa)}  "
                     f"{r.tp}/{r.fp}/{r.fn}")
    shown = [r for r in report.rows.values() if r.disagreements and "[" not in r.name and r.name.startswith("judge")]
    if shown:
        lines += ["", "judge disagreements:"]
        for r in shown:
            lines.append(f"  {r.name}:")
            lines += [f"    {x}" for x in r.disagreements[:max_disagreements]]
            if len(r.disagreements) > max_disagreements:
                lines.append(f"    ... {len(r.disagreements) - max_disagreements} more")
    if report.no_answer:
        lines += ["", f"no judge answer ({len(report.no_answer)}):"] + [f"  {x}" for x in report.no_answer[:50]]
    return "\n".join(lines)


__all__ = ["AgreementRow", "JudgeAgreementReport", "agreement_row", "cohens_kappa", "format_agreement",
           "never_agreement"]
