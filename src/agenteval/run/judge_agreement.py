"""Agreement of the LLM judge with the hand labels: Cohen's κ (``agenteval validate-scorers --judge``).

For every golden item (``golden/labelled/*.jsonl``) the judge (:mod:`agenteval.scorers.llm_judge`) is
asked once; its verdicts are compared with the labels as binary decisions:

* ``never_violations``: one decision per (item, Never rule of the card), positive = violated (the label
  lists the rule / the judge says ``fail``), pooled over the rules; per-rule rows
  ``never_violations[never.N]`` follow;
* ``mode_adherence`` and ``role_adherence``: one decision per item whose label is not null, positive =
  adheres (the judge says ``pass``).

A pair is skipped when the judge has no answer for the item (counted in ``no_answer``). Each row also
gives the deterministic scorer's κ on the same pairs (where it has a value), so the two can be compared.

Cohen's κ = (p_o − p_e) / (1 − p_e), with p_o the observed agreement and p_e the agreement expected
from the two raters' marginal rates; it is undefined (None) when p_e = 1 (both raters constant and
equal).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from agenteval.inputs.card import AgentCard
from agenteval.inputs.scenario import Scenario
from agenteval.scorers.base import ScoreContext
from agenteval.scorers.config import ScoringConfig
from agenteval.scorers.core import score_response
from agenteval.scorers.llm_judge import AnthropicJudge, JudgeItem, item_rubrics
from agenteval.scorers.text import normalize

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
    row.kappa = cohens_kappa(pairs)
    row.scorer_n = len(scorer_pairs)
    row.scorer_kappa = cohens_kappa(scorer_pairs)
    return row


def judge_agreement(labels: str | Path, card: AgentCard, scenarios: Iterable[Scenario], judge: AnthropicJudge,
                    config: ScoringConfig | None = None) -> JudgeAgreementReport:
    """Ask ``judge`` about every golden item and compare its verdicts with the labels (module docstring)."""
    from agenteval.inputs.responses import load_labelled

    items, _files, _warnings = load_labelled(labels)
    by_id = {s.id: s for s in scenarios}
    ctxs: list[tuple[dict[str, Any], ScoreContext, Scenario | None]] = []
    for d in items:
        sc = by_id.get(str(d.get("scenario_id")))
        ctx = ScoreContext(scenario_id=str(d.get("scenario_id") or ""), mode=str(d.get("mode") or card.default_mode),
                           role=str(d.get("role") or card.default_role),
                           tool_mode=d.get("tool_mode") or (sc.tool_mode if sc else None))
        ctxs.append((d, ctx, sc))
    judge.prefetch_sync(card, [JudgeItem(d.get("response"), ctx, sc) for d, ctx, sc in ctxs])
    report = JudgeAgreementReport(model=judge.model, items=len(items), stats=judge.stats.model_dump())
    never_ids = [r.id for r in card.rules_of("never")]
    pairs: dict[str, tuple[list[Pair], list[Pair], list[str]]] = {}

    def add(name: str, item: str, label: bool, verdict: bool, scorer: bool | None) -> None:
        p, sp, names = pairs.setdefault(name, ([], [], []))
        p.append((label, verdict))
        names.append(item)
        if scorer is not None:
            sp.append((label, scorer))

    for d, ctx, sc in ctxs:
        item = str(d["id"])
        text = normalize(d.get("response"), judge.max_scan_chars)[0]
        ans = judge.answer_for(card, ctx.mode, ctx.role, sc, text)
        if ans is None or ans.verdicts is None:
            report.no_answer.append(f"{item}: {ans.error if ans is not None else 'not prefetched'}")
            continue
        labs: dict[str, Any] = d["labels"]
        rec = score_response(d.get("response"), ctx, card, sc, config)
        rubrics = {r.kind if r.kind != "never" else r.target: r for r in item_rubrics(card, ctx.mode, ctx.role)}
        never_label = labs.get("never_violations")
        if isinstance(never_label, list):
            for rid in never_ids:
                violated = ans.verdicts[rubrics[rid].key]["verdict"] == "fail"
                for name in ("never_violations", f"never_violations[{rid}]"):
                    add(name, f"{item}:{rid}", rid in never_label, violated, rid in rec.never_violations)
        for field, kind in (("mode_adherence", "mode"), ("role_adherence", "role")):
            lab = labs.get(field)
            if isinstance(lab, bool):
                add(field, item, lab, ans.verdicts[rubrics[kind].key]["verdict"] == "pass", getattr(rec, field))
    order = ["never_violations", "mode_adherence", "role_adherence"]
    names = [n for n in order if n in pairs] + sorted(n for n in pairs if n not in order)
    for name in names:
        p, sp, its = pairs[name]
        positive = "violated" if name.startswith("never") else "adheres"
        report.rows[name] = agreement_row(name, positive, p, sp, its)
    return report


def _fmt(v: float | None) -> str:
    return "   -  " if v is None else f"{v:6.3f}"


def format_agreement(report: JudgeAgreementReport, *, max_disagreements: int = 30) -> str:
    """The report as text: one row per field (n, accuracy, κ, the scorer's κ), then disagreements."""
    s = report.stats
    lines = [f"LLM judge {report.model} vs labels: {report.items} golden item(s); "
             f"{s.get('cache_hits', 0)} answer(s) from cache, {s.get('api_requests', 0)} API request(s), "
             f"${s.get('cost_usd', 0.0):.4f}"]
    head = f"{'field':<38} {'n':>5} {'acc':>6} {'kappa':>6} {'scorer kappa':>13}  positive"
    lines += ["", head, "-" * len(head)]
    for r in report.rows.values():
        lines.append(f"{r.name:<38} {r.n:>5} {_fmt(r.accuracy)} {_fmt(r.kappa)} {_fmt(r.scorer_kappa):>13}  "
                     f"{r.positive}")
    shown = [r for r in report.rows.values() if r.disagreements and "[" not in r.name]
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
           "judge_agreement"]
