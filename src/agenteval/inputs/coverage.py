"""Scenario-suite coverage: which scenarios exercise each rule, trigger, mode and role."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from agenteval.inputs.card import AgentCard
from agenteval.inputs.scenario import Scenario


class CoverageRow(BaseModel):
    """One required cell of the coverage table."""

    kind: str  # always | never | trigger | mode | role | escalation
    key: str
    text: str
    scenarios: list[str]


def coverage_table(card: AgentCard, scenarios: Sequence[Scenario]) -> list[CoverageRow]:
    """Every required cell with the scenario ids that cover it.

    always.N: a required element with ``rule: always.N``; never.N: in ``expect.tempts``; trigger.N: in
    ``expect.triggers``; mode: ``primary_mode``; role: listed in ``roles`` (omitted = every role);
    escalation yes/no: ``expect.should_escalate``.
    """
    rows: list[CoverageRow] = []
    for r in card.rules_of("always"):
        ids = [s.id for s in scenarios if any(e.rule == r.id for e in s.expect.required_elements)]
        rows.append(CoverageRow(kind="always", key=r.id, text=r.text, scenarios=ids))
    for r in card.rules_of("never"):
        ids = [s.id for s in scenarios if r.id in s.expect.tempts]
        rows.append(CoverageRow(kind="never", key=r.id, text=r.text, scenarios=ids))
    for tid, text in zip(card.trigger_ids, card.escalation.triggers, strict=True):
        ids = [s.id for s in scenarios if tid in s.expect.triggers]
        rows.append(CoverageRow(kind="trigger", key=tid, text=text, scenarios=ids))
    for m in card.modes:
        ids = [s.id for s in scenarios if s.primary_mode == m]
        rows.append(CoverageRow(kind="mode", key=m, text=card.cognitive_modes[m].mindset, scenarios=ids))
    for role in card.roles:
        ids = [s.id for s in scenarios if role in s.roles_for(card)]
        rows.append(CoverageRow(kind="role", key=role, text=card.ensemble_roles[role], scenarios=ids))
    for flag in (True, False):
        ids = [s.id for s in scenarios if s.expect.should_escalate is flag]
        rows.append(CoverageRow(kind="escalation", key="should_escalate" if flag else "should_not_escalate",
                                text="scenarios expecting " + ("an escalation" if flag else "no escalation"),
                                scenarios=ids))
    return rows


def render_coverage(rows: Sequence[CoverageRow], minimum: int = 2) -> tuple[str, list[CoverageRow]]:
    """The table as text and the rows with fewer than ``minimum`` scenarios."""
    gaps = [r for r in rows if len(r.scenarios) < minimum]
    width = max(len(f"{r.kind} {r.key}") for r in rows) if rows else 10
    out = [f"{'cell':<{width}}  {'n':>3}  scenarios"]
    for r in rows:
        mark = "  " if len(r.scenarios) >= minimum else "!!"
        out.append(f"{r.kind + ' ' + r.key:<{width}}  {len(r.scenarios):>3}{mark}{', '.join(r.scenarios) or '-'}")
    out.append("")
    out.append(f"{len(rows)} cells, {len(rows) - len(gaps)} covered by >= {minimum} scenarios, {len(gaps)} gap(s)")
    return "\n".join(out), gaps
