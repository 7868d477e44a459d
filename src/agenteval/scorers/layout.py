"""The card's per-tool-mode answer layouts (``For Audit Mode``, ``For Solution Mode``).

Sections must appear as ``##`` headings (outside code fences) in the card's order; other sections
may sit between them. A section whose template has an item heading (``### [CRITICAL] {Finding
Title}``) must hold at least one such item (unless it says there are none), each as
``### [SEVERITY] Title`` with an accepted severity and every templated bullet (``- **Location**:``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agenteval.inputs.card import AgentCard, Layout
from agenteval.scorers.config import ScoringConfig
from agenteval.scorers.text import Doc, Heading, clip_words, strip_markup

_ITEM = re.compile(r"^\[\s*(?P<sev>[^\]]{0,30}?)\s*\]\s*:?\s*(?P<title>.*)$")
_NONE_FOUND = re.compile(r"\bno\s+(?:\w+\s+){0,2}(?:findings|issues|defects|problems)\b|\bnone\b", re.I)


def _norm(title: str) -> str:
    return " ".join(strip_markup(title).rstrip(":").lower().split())


@dataclass
class LayoutResult:
    """Outcome of the layout checks for one response."""

    applicable: bool
    ok: bool = False
    sections_ok: bool = False
    sections_reason: str = ""
    items_applicable: bool = False
    items_ok: bool = True
    items_reason: str = ""
    severity_ok: bool = True
    severity_reason: str = ""
    items: list[str] = field(default_factory=list)
    reason: str = ""


class LayoutSpec:
    """The card's layouts compiled for checking (built once per card)."""

    def __init__(self, card: AgentCard, config: ScoringConfig) -> None:
        self.layouts: dict[str, Layout] = dict(card.output_format.layouts)
        sev: list[str] = [s.upper() for s in config.severities]
        for lay in self.layouts.values():
            for sec in lay.sections:
                sev += [s.upper() for s in sec.severities if s.upper() not in sev]
        self.severities = sev
        self.field_rx: dict[str, re.Pattern[str]] = {}
        for lay in self.layouts.values():
            for sec in lay.sections:
                for f in sec.item_fields:
                    if f not in self.field_rx:
                        e = re.escape(f)
                        self.field_rx[f] = re.compile(
                            rf"^[ \t]*(?:[-*+][ \t]+)?(?:\*\*{e}\*\*[ \t]*:|\*\*{e}:\*\*|{e}[ \t]*:)", re.I | re.M
                        )

    def check(self, doc: Doc, tool_mode: str | None) -> LayoutResult:
        """Check the layout of ``tool_mode``; not applicable when the card has none for it."""
        lay = self.layouts.get((tool_mode or "").lower())
        if lay is None:
            return LayoutResult(False, reason=f"no layout for tool mode '{tool_mode}'")
        heads = doc.headings
        res = LayoutResult(True)
        # --- sections in order
        positions: list[Heading | None] = []
        k = 0
        missing: list[str] = []
        for sec in lay.sections:
            want = _norm(sec.name)
            found = None
            for j in range(k, len(heads)):
                if heads[j].level == 2 and _norm(heads[j].title) == want:
                    found = heads[j]
                    k = j + 1
                    break
            if found is None:
                other = [h for h in heads if _norm(h.title) == want]
                if other and other[0].level != 2:
                    missing.append(f"'{sec.name}' is a level-{other[0].level} heading, not '##'")
                elif other:
                    missing.append(f"'{sec.name}' out of order")
                else:
                    missing.append(f"'{sec.name}' missing")
            positions.append(found)
        res.sections_ok = not missing
        res.sections_reason = ("sections " + ", ".join(s.name for s in lay.sections) + " in order"
                               if not missing else "; ".join(missing))
        # --- templated items (findings)
        item_problems: list[str] = []
        sev_problems: list[str] = []
        for sec, head in zip(lay.sections, positions, strict=True):
            if not sec.item_heading:
                continue
            res.items_applicable = True
            if head is None:
                item_problems.append(f"no '{sec.name}' section to hold items")
                continue
            idx = heads.index(head)
            end = len(doc.text)
            for h in heads[idx + 1 :]:
                if h.level <= 2:
                    end = h.start
                    break
            items = [h for h in heads[idx + 1 :] if h.start < end and h.level == 3]
            if not items:
                body = doc.text[head.end:end]
                if _NONE_FOUND.search(body[:2000]):
                    continue
                item_problems.append(f"'{sec.name}' has no '### [SEVERITY] Title' items")
                continue
            for n, it in enumerate(items):
                m = _ITEM.match(strip_markup(it.title))
                label = clip_words(it.title, 60)
                if not m:
                    item_problems.append(f"item '{label}' is not '### [SEVERITY] Title'")
                    continue
                sev = m.group("sev").upper()
                if sev not in self.severities:
                    sev_problems.append(f"item '{label}': severity '{m.group('sev')}' not in {self.severities}")
                if not m.group("title").strip():
                    item_problems.append(f"item '{label}' has no title")
                item_end = items[n + 1].start if n + 1 < len(items) else end
                body = doc.text[it.end:item_end]
                lacking = [f for f in sec.item_fields if not self.field_rx[f].search(body)]
                if lacking:
                    item_problems.append(f"item '{label}' lacks " + ", ".join(lacking))
                res.items.append(label)
        res.items_ok = not item_problems
        res.items_reason = "; ".join(item_problems) or (f"{len(res.items)} item(s) well-formed"
                                                        if res.items else "no items (none reported)")
        res.severity_ok = not sev_problems
        res.severity_reason = "; ".join(sev_problems) or "severities valid"
        res.ok = res.sections_ok and res.items_ok and res.severity_ok
        parts = [p for p, ok in ((res.sections_reason, res.sections_ok), (res.items_reason, res.items_ok),
                                 (res.severity_reason, res.severity_ok)) if not ok]
        res.reason = "; ".join(parts) if parts else f"{lay.name} layout followed"
        return res
