"""The output envelope (IFEval-style strict and loose) and the confidence level.

Field names, their order and the allowed Confidence values all come from the card.

*Strict*: each field as a bold label with a colon at the start of a line (``**Result**:`` or
``**Result:**``, optionally after a list marker), outside code fences, in the card's order, each
value non-empty, Confidence one allowed level optionally followed by a parenthetical or a number.
*Loose*: also accepts headings (``## Result``), plain ``Result:`` labels, italic labels, any case,
labels inside a code fence or a block quote, and any order.

Occurrences are grouped into envelopes: a new envelope starts when a field repeats. The last
complete envelope counts; when none is complete, the fullest one explains the failure. In the loose
parse a ``## Verification`` heading is a heading-form label like any other, even when it is a
section of the Solution layout (the literal reading of the contract).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agenteval.inputs.card import AgentCard
from agenteval.scorers.config import ScoringConfig
from agenteval.scorers.text import Doc, clip_words, has_content, name_pattern, strip_markup

MAX_LABEL_LINES = 2000
_PCT = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d+)?)\s*%")
_FRAC = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d+)?)\s*/\s*(10|100|5)\b")
_DEC = re.compile(r"(?<![\d.])(0?\.\d{1,4}|1\.0{1,4}|0\.0{1,4})(?![\d%/])")


@dataclass
class Occurrence:
    """One field label found in the response."""

    field: int  # index in the card's envelope
    start: int  # offset of the label line
    line_end: int  # offset just past the label line
    form: str  # "bold", "heading", "plain", "italic"
    rest: str  # text after the label on its line
    strict: bool  # bold label with colon, outside fences, exact name
    fenced: bool
    value: str = ""

    @property
    def first_value_line(self) -> str:
        """The first non-empty line of the value, markup stripped."""
        for line in self.value.split("\n"):
            s = strip_markup(line).strip(" -:>")
            if s:
                return s
        return ""


@dataclass
class Confidence:
    """A parsed Confidence value."""

    level: str | None
    stated: float | None
    ok: bool  # an allowed level, optionally followed by a parenthetical or a number
    reason: str


@dataclass
class EnvelopeParse:
    """The result of one parse (strict or loose) of a response's envelope."""

    mode: str
    complete: bool
    ok: bool
    chosen: list[Occurrence]  # the envelope that counts (or the fullest partial one)
    field_ok: dict[int, tuple[bool, str]] = field(default_factory=dict)
    in_order: bool = True
    confidence: Confidence | None = None
    reason: str = ""


class EnvelopeSpec:
    """The card's envelope compiled into patterns (built once per card)."""

    def __init__(self, card: AgentCard, config: ScoringConfig) -> None:
        self.fields = [f.name for f in card.output_format.envelope]
        self.norm_names = [" ".join(n.split()) for n in self.fields]
        self.first_words = sorted({(re.split(r"[\s_\-]+", n.strip().lower()) or [n.lower()])[0] for n in self.fields})
        conf = card.output_format.confidence_field
        self.conf_index = self.fields.index(conf.name) if conf is not None else -1
        self.allowed = [v.strip().lower() for v in (conf.allowed_values if conf else []) if v.strip()]
        self.level_values = config.level_values(self.allowed)
        # the card's own confidence scale: numeric range and level bands (a level is worth its band's middle)
        self.scale = conf.scale if conf is not None else "free"
        self.numeric_range = conf.numeric_range if conf is not None else None
        self.bands = dict(conf.bands) if conf is not None else {}
        for lvl, (lo, hi) in self.bands.items():
            self.level_values[lvl] = round((lo + hi) / 2, 4)
        alts = "|".join(f"(?P<f{i}>{name_pattern(n)})" for i, n in enumerate(self.fields))
        self.label = re.compile(
            r"^[ \t]*(?P<q>>[ \t]*)?(?P<li>(?:[-*+]|\d{1,2}[.)])[ \t]+)?(?P<h>#{1,6}[ \t]*)?"
            r"(?P<b1>\*\*|__|\*|_)?[ \t]*(?:" + alts + r")\b[ \t]*(?P<c1>:)?[ \t]*"
            r"(?P<b2>\*\*|__|\*|_)?[ \t]*(?P<c2>:)?(?P<rest>[^\n]*)$",
            re.I | re.M,
        )
        self.level_start: re.Pattern[str] | None
        self.two_levels: re.Pattern[str] | None
        self.num_then_level: re.Pattern[str] | None
        if self.allowed:
            lv = "|".join(re.escape(a) for a in sorted(self.allowed, key=len, reverse=True))
            self.level_start = re.compile(rf"^(?P<lvl>{lv})\b(?P<tail>.*)$", re.I | re.S)
            self.two_levels = re.compile(
                rf"^\s*(?:[-–—/]|\bto\b|\bor\b|\band\b|\s)\s*-?\s*(?:{lv})\b", re.I
            )
            self.num_then_level = re.compile(rf"^\d[\d.,%/ ]*\(\s*(?P<lvl>{lv})\s*\)\s*$", re.I)
        else:
            self.level_start = None
            self.two_levels = None
            self.num_then_level = None

    # ------------------------------------------------------------------ scanning

    def occurrences(self, doc: Doc) -> list[Occurrence]:
        """Every line that looks like a field label, loosely; each marked strict or not."""
        out: list[Occurrence] = []
        text, low = doc.text, doc.low
        starts: set[int] = set()
        for w in self.first_words:
            i = low.find(w)
            while i >= 0:
                starts.add(low.rfind("\n", 0, i) + 1)
                i = low.find(w, i + len(w))
        lines = sorted(starts)
        if len(lines) > MAX_LABEL_LINES:  # adversarial input: the envelope that counts is the last one
            lines = lines[-MAX_LABEL_LINES:]
        matches = [m for m in (self.label.match(text, ls) for ls in lines) if m is not None]
        for m in matches:
            idx = next(i for i in range(len(self.fields)) if m.group(f"f{i}") is not None)
            b1, b2 = m.group("b1"), m.group("b2")
            h = m.group("h")
            colon = bool(m.group("c1") or m.group("c2"))
            rest = m.group("rest")
            if b1 and b2 and b1 != b2:
                continue
            if b1 and not b2:
                continue
            if h:
                form = "heading"
                if not colon and rest.strip():
                    continue
            elif b1:
                form = "bold" if b1 in ("**", "__") else "italic"
                if not colon and rest.strip():
                    continue
            else:
                if b2 or not colon:
                    continue
                form = "plain"
            fenced = bool(doc.fences) and doc.in_fence(m.start())
            li = m.group("li") or ""
            strict = (
                form == "bold" and b1 == "**" and colon and not fenced and not m.group("q")
                and (not li or li.strip() in ("-", "*", "+"))
                and " ".join(m.group(f"f{idx}").split()) == self.norm_names[idx]
            )
            out.append(Occurrence(idx, m.start(), m.end(), form, rest, strict, fenced))
        return out

    def _assign_values(self, doc: Doc, occ: list[Occurrence]) -> None:
        text = doc.text
        heads = doc.headings
        hi = 0
        for k, o in enumerate(occ):
            end = occ[k + 1].start if k + 1 < len(occ) else len(text)
            while hi < len(heads) and heads[hi].start < o.line_end:
                hi += 1
            if hi < len(heads) and heads[hi].start < end:
                end = heads[hi].start
            body = text[o.line_end:end] if end > o.line_end else ""
            if o.fenced:
                # a fenced envelope ends at its closing fence
                cut = re.search(r"^[ \t]{0,3}(?:`{3,}|~{3,})", body, re.M)
                if cut:
                    body = body[: cut.start()]
            o.value = (o.rest + "\n" + body).strip()

    @staticmethod
    def _clusters(occ: list[Occurrence]) -> list[list[Occurrence]]:
        clusters: list[list[Occurrence]] = []
        cur: list[Occurrence] = []
        seen: set[int] = set()
        for o in occ:
            split = o.field in seen
            if split and cur:
                clusters.append(cur)
                cur, seen = [], set()
            cur.append(o)
            seen.add(o.field)
        if cur:
            clusters.append(cur)
        return clusters

    @staticmethod
    def _last_window(occ: list[Occurrence], n: int) -> list[Occurrence]:
        last: dict[int, int] = {}
        for j, o in enumerate(occ):
            last[o.field] = j
        i = min(last.values()) if len(last) == n else 0
        return occ[i:]

    def _pick(self, chosen: list[Occurrence]) -> dict[int, Occurrence]:
        """One occurrence per field; a repeated field keeps its best-formed valid occurrence (else the last)."""
        by_field: dict[int, Occurrence] = {}
        for o in chosen:
            cur = by_field.get(o.field)
            if cur is None or self._rank(o) >= self._rank(cur):
                by_field[o.field] = o
        return by_field

    def _rank(self, o: Occurrence) -> tuple[int, int]:
        valid = has_content(o.value)
        if valid and o.field == self.conf_index:
            valid = self.parse_confidence(o.first_value_line).ok
        return (int(valid), int(o.strict))

    def parse_confidence(self, value: str) -> Confidence:
        """Parse a Confidence value: level (one allowed value), stated number, strict validity."""
        v = strip_markup(value).strip(" []{}\"'").strip()
        stated = stated_number(v)
        if not v:
            return Confidence(None, None, False, "Confidence value is empty")
        if self.level_start is None or self.two_levels is None:
            if self.scale in ("numeric", "levels+numeric"):
                return self._numeric_confidence(v, stated)
            return Confidence(None, stated, False, "the card lists no allowed Confidence values")
        m = self.level_start.match(v)
        if m:
            lvl = m.group("lvl").lower()
            tail = m.group("tail")
            if self.two_levels.match(tail):
                return Confidence(None, stated, False, f"'{clip_words(v, 40)}' names two levels")
            if re.match(r"^-\w", tail):
                return Confidence(None, stated, False, f"'{clip_words(v, 40)}' is not one of {self.allowed}")
            return Confidence(lvl, stated, True, f"level '{lvl}'")
        if self.num_then_level is not None:
            m2 = self.num_then_level.match(v)
            if m2:
                return Confidence(m2.group("lvl").lower(), stated, False,
                                  f"'{clip_words(v, 40)}' leads with a number, not an allowed level")
        if self.scale == "levels+numeric" and stated is not None and re.match(r"^[\d.,%/ ]+", v):
            return self._numeric_confidence(v, stated)
        if stated is not None and re.match(r"^[\d.,%/ ]+$", v):
            return Confidence(None, stated, False, f"'{clip_words(v, 40)}' is a bare number, not one of {self.allowed}")
        return Confidence(None, stated, False, f"'{clip_words(v, 40)}' is not one of {self.allowed}")

    def _numeric_confidence(self, v: str, stated: float | None) -> Confidence:
        """A Confidence on the card's numeric scale: a number in its range, its level from the card's bands."""
        lo, hi = self.numeric_range or (0.0, 1.0)
        if stated is None or not re.match(r"^[\d.,%/ ]+", v):
            return Confidence(None, stated, False, f"'{v[:40]}' is not a number in [{lo:g}, {hi:g}]")
        if not lo <= stated <= hi:
            return Confidence(None, stated, False, f"{stated:g} is outside the card's range [{lo:g}, {hi:g}]")
        level = None
        for lvl, (blo, bhi) in sorted(self.bands.items(), key=lambda kv: -kv[1][0]):
            if blo <= stated <= bhi:
                level = lvl
                break
        return Confidence(level, stated, True, f"number {stated:g}" + (f" (band '{level}')" if level else ""))

    def parse(self, doc: Doc, occ: list[Occurrence], *, loose: bool) -> EnvelopeParse:
        """Evaluate the envelope in one mode from the label occurrences."""
        mode = "loose" if loose else "strict"
        n = len(self.fields)
        sel = occ if loose else [o for o in occ if o.strict]
        if not sel:
            return EnvelopeParse(mode, False, False, [], reason="no envelope field labels found",
                                 field_ok={i: (False, "missing") for i in range(n)})
        sel = [Occurrence(o.field, o.start, o.line_end, o.form, o.rest, o.strict, o.fenced) for o in sel]
        self._assign_values(doc, sel)
        clusters = self._clusters(sel)
        complete = [c for c in clusters if len({o.field for o in c}) == n]
        if complete:
            chosen = complete[-1]
        elif len({o.field for o in sel}) == n:
            # a stray label (say a "Confidence: ..." line before the envelope) split the envelope at a
            # repeat: take the shortest run of labels holding every field that ends with the last label
            chosen = self._last_window(sel, n)
            complete = [chosen]
        else:
            best = max(len({o.field for o in c}) for c in clusters)
            chosen = [c for c in clusters if len({o.field for o in c}) == best][-1]
        by_field = self._pick(chosen)
        field_ok: dict[int, tuple[bool, str]] = {}
        conf: Confidence | None = None
        for i in range(n):
            o = by_field.get(i)
            if o is None:
                field_ok[i] = (False, "missing")
                continue
            if not has_content(o.value):
                field_ok[i] = (False, "empty value")
                continue
            if i == self.conf_index:
                conf = self.parse_confidence(o.first_value_line)
                field_ok[i] = (conf.ok, conf.reason)
                continue
            field_ok[i] = (True, "present")
        kept = sorted(by_field.values(), key=lambda o: o.start)
        order = [o.field for o in kept]
        in_order = order == sorted(order)
        problems = [f"{self.fields[i]}: {r}" for i, (ok, r) in field_ok.items() if not ok]
        if not loose and complete and not in_order:
            problems.append("fields out of the card's order (" + ", ".join(self.fields[i] for i in order) + ")")
        ok = bool(complete) and not problems
        if ok:
            reason = f"{mode} envelope complete" + ("" if len(clusters) == 1 else f" (last of {len(clusters)})")
        else:
            reason = "; ".join(problems) or "incomplete envelope"
        return EnvelopeParse(mode, bool(complete), ok, chosen, field_ok, in_order, conf, reason)

    def confidence_anywhere(self, occ: list[Occurrence], doc: Doc) -> Confidence | None:
        """The last Confidence label's value, when no complete envelope carries one."""
        if self.conf_index < 0:
            return None
        cands = [o for o in occ if o.field == self.conf_index]
        if not cands:
            return None
        sel = [Occurrence(o.field, o.start, o.line_end, o.form, o.rest, o.strict, o.fenced) for o in occ]
        self._assign_values(doc, sel)
        last = [o for o in sel if o.field == self.conf_index][-1]
        return self.parse_confidence(last.first_value_line)


def stated_number(v: str) -> float | None:
    """A confidence number stated in a value: ``55%``, ``7/10``, ``0.55``; None if none in [0, 1]."""
    m = _PCT.search(v)
    if m:
        x = float(m.group(1)) / 100.0
        return x if 0.0 <= x <= 1.0 else None
    m = _FRAC.search(v)
    if m:
        x = float(m.group(1)) / float(m.group(2))
        return x if 0.0 <= x <= 1.0 else None
    m = _DEC.search(v)
    if m:
        x = float(m.group(1))
        return x if 0.0 <= x <= 1.0 else None
    return None
