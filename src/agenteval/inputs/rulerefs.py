"""Stable rule references: scenarios point at rules by id, and ids resolve by the rule's identity.

A rule id (``never.3``, ``evaluative.13``, ``trigger.2``) says where a rule stood in the card the
scenarios were written against. That card's rule texts are kept in a snapshot file beside the
scenarios (``card-snapshot.json``, written by ``agenteval scenarios --snapshot`` and ``agenteval
init``). When the card in hand differs, each reference resolves by the text it was written against:

* ``positional`` the same id carries the same text (or there is no snapshot): nothing to say;
* ``moved``     the same text now stands under another id;
* ``reworded``  no rule has the text, one rule is clearly the closest (similarity >= ``REWORDED``);
* ``gone``      no rule is close enough: a warning, and the expectation is skipped;
* ``ambiguous`` two rules are (equally) the best match: an error.

:func:`diff_card_rules` lines up two cards' rules the same way (what ``compare`` shows).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from difflib import SequenceMatcher
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from agenteval.errors import InputError
from agenteval.inputs.card import AgentCard, normalize_rule_text

SNAPSHOT_NAME = "card-snapshot.json"
REWORDED = 0.6  # similarity from which the closest rule counts as the same rule reworded
AMBIGUOUS_MARGIN = 0.03  # two candidates this close to each other are a tie

Outcome = Literal["positional", "moved", "reworded", "gone", "ambiguous", "unknown"]


class RuleSnapshot(BaseModel):
    """The rule texts of the card a scenario suite was written against."""

    card: str
    version: str = ""
    content_hash: str = ""
    rules: dict[str, str] = Field(default_factory=dict)  # id -> text
    triggers: dict[str, str] = Field(default_factory=dict)  # trigger.N -> text

    def text_of(self, ref: str) -> str | None:
        """The text a reference was written against, if the snapshot has it."""
        return self.rules.get(ref) if not ref.startswith("trigger.") else self.triggers.get(ref)


def snapshot_of(card: AgentCard) -> RuleSnapshot:
    """A snapshot of a card's rules and triggers."""
    return RuleSnapshot(card=card.name, version=card.version, content_hash=card.content_hash,
                        rules={r.id: r.text for r in card.rules},
                        triggers=dict(zip(card.trigger_ids, card.escalation.triggers, strict=True)))


def write_snapshot(card: AgentCard, folder: str | Path) -> Path:
    """Write ``card-snapshot.json`` for ``card`` into ``folder``; return its path."""
    p = Path(folder) / SNAPSHOT_NAME
    p.write_text(json.dumps(snapshot_of(card).model_dump(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return p


def find_snapshot(paths: Sequence[str | Path]) -> RuleSnapshot | None:
    """The snapshot beside the given scenario files/folders (the first found), or None."""
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        folder = p if p.is_dir() else p.parent
        if folder in seen:
            continue
        seen.add(folder)
        f = folder / SNAPSHOT_NAME
        if f.is_file():
            return load_snapshot(f)
    return None


def load_snapshot(path: str | Path) -> RuleSnapshot:
    """Read a snapshot file (InputError naming it when malformed)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return RuleSnapshot.model_validate(data)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
        raise InputError(f"not a valid card snapshot: {' '.join(str(exc).split())[:160]}", path=path) from None


def similarity(a: str, b: str) -> float:
    """Similarity of two rule texts in [0, 1] (word sequence ratio of their normalised forms)."""
    wa, wb = normalize_rule_text(a).split(), normalize_rule_text(b).split()
    if not wa or not wb:
        return 0.0
    return SequenceMatcher(None, wa, wb, autojunk=False).ratio()


class Resolution(BaseModel):
    """How one reference resolved against the card in hand."""

    ref: str
    outcome: Outcome
    new_id: str | None = None
    score: float | None = None
    suggestions: list[tuple[str, float]] = Field(default_factory=list)

    def describe(self) -> str:
        """One human line: ``never.2 -> never.3 (moved)``."""
        if self.outcome == "positional":
            return f"{self.ref} (positional)"
        if self.outcome in ("moved", "reworded"):
            extra = f", similarity {self.score:.2f}" if self.outcome == "reworded" and self.score is not None else ""
            return f"{self.ref} -> {self.new_id} ({self.outcome}{extra})"
        sug = ", ".join(f"{i} ({s:.2f})" for i, s in self.suggestions[:3])
        if self.outcome == "gone":
            return f"{self.ref}: its rule is gone from the card" + (f"; closest: {sug}" if sug else "")
        if self.outcome == "ambiguous":
            return f"{self.ref} is ambiguous: {sug} match equally; name one of them"
        return f"{self.ref} is not a rule of the card" + (f"; did you mean {sug}?" if sug else "")


def resolve(ref: str, written_text: str | None, candidates: dict[str, str]) -> Resolution:
    """Resolve one reference against the card's candidate rules (id -> text) of the same kind.

    ``written_text`` is the text the reference was written against (None without a snapshot).
    """
    if written_text is None:
        if ref in candidates:
            return Resolution(ref=ref, outcome="positional", new_id=ref)
        return Resolution(ref=ref, outcome="unknown")
    norm = normalize_rule_text(written_text)
    exact = [i for i, t in candidates.items() if normalize_rule_text(t) == norm]
    if ref in exact:
        return Resolution(ref=ref, outcome="positional", new_id=ref, score=1.0)
    if len(exact) == 1:
        return Resolution(ref=ref, outcome="moved", new_id=exact[0], score=1.0)
    if len(exact) > 1:
        return Resolution(ref=ref, outcome="ambiguous", suggestions=[(i, 1.0) for i in exact])
    scored = sorted(((similarity(written_text, t), i) for i, t in candidates.items()), reverse=True)
    sugg = [(i, round(s, 2)) for s, i in scored[:3]]
    if not scored or scored[0][0] < REWORDED:
        return Resolution(ref=ref, outcome="gone", suggestions=sugg)
    best, best_id = scored[0]
    if len(scored) > 1 and scored[1][0] >= REWORDED and best - scored[1][0] < AMBIGUOUS_MARGIN:
        return Resolution(ref=ref, outcome="ambiguous", suggestions=sugg[:2])
    return Resolution(ref=ref, outcome="reworded", new_id=best_id, score=round(best, 3), suggestions=sugg)


def candidates_for(card: AgentCard, ref: str) -> dict[str, str]:
    """The card's rules a reference may resolve to: triggers, Never rules, or the other rules."""
    if ref.startswith("trigger."):
        return dict(zip(card.trigger_ids, card.escalation.triggers, strict=True))
    if ref.startswith("never."):
        return {r.id: r.text for r in card.rules_of("never")}
    return {r.id: r.text for r in card.rules if r.kind != "never"}


# --------------------------------------------------------------------------- card diff


class RuleChange(BaseModel):
    """One rule lined up between two card versions."""

    change: Literal["unchanged", "moved", "reworded", "added", "removed"]
    old_id: str | None = None
    new_id: str | None = None
    old_text: str | None = None
    new_text: str | None = None
    similarity: float | None = None


def diff_card_rules(old: AgentCard | RuleSnapshot, new: AgentCard | RuleSnapshot) -> list[RuleChange]:
    """Line up two cards' rules (and triggers) by identity: unchanged, moved, reworded, added, removed."""
    a = _rule_map(old)
    b = _rule_map(new)
    out: list[RuleChange] = []
    used: set[str] = set()
    pending: list[str] = []
    for oid, otext in a.items():
        norm = normalize_rule_text(otext)
        same_kind = {i: t for i, t in b.items() if _kind(i) == _kind(oid) and i not in used}
        exact = [i for i, t in same_kind.items() if normalize_rule_text(t) == norm]
        if exact:
            nid = oid if oid in exact else exact[0]
            used.add(nid)
            out.append(RuleChange(change="unchanged" if nid == oid else "moved", old_id=oid, new_id=nid,
                                  old_text=otext, new_text=b[nid], similarity=1.0))
        else:
            pending.append(oid)
    for oid in pending:
        otext = a[oid]
        same_kind = {i: t for i, t in b.items() if _kind(i) == _kind(oid) and i not in used}
        scored = sorted(((similarity(otext, t), i) for i, t in same_kind.items()), reverse=True)
        if scored and scored[0][0] >= REWORDED:
            s, nid = scored[0]
            used.add(nid)
            out.append(RuleChange(change="reworded", old_id=oid, new_id=nid, old_text=otext, new_text=b[nid],
                                  similarity=round(s, 3)))
        else:
            out.append(RuleChange(change="removed", old_id=oid, old_text=otext))
    for nid, ntext in b.items():
        if nid not in used:
            out.append(RuleChange(change="added", new_id=nid, new_text=ntext))
    return out


def _kind(rule_id: str) -> str:
    head = rule_id.split(".")[0]
    return head if head in ("never", "trigger") else "rule"


def _rule_map(x: AgentCard | RuleSnapshot) -> dict[str, str]:
    if isinstance(x, RuleSnapshot):
        return {**x.rules, **x.triggers}
    return {**{r.id: r.text for r in x.rules}, **dict(zip(x.trigger_ids, x.escalation.triggers, strict=True))}
