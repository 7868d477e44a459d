"""The agent card: the persona under test, parsed from YAML frontmatter plus markdown.

A card file looks like::

    ---
    name: mlops-engineer
    cognitive_modes: {generative: {mindset: ..., output: ...}, ..., default: generative}
    ensemble_roles: {solo: "...", ..., default: solo}
    escalation: {confidence_threshold: 0.6, escalate_to: senior-architect, triggers: [...]}
    ---
    # Title
    ## Identity
    ## Instructions
    ### Always (all modes)      -> rules always.1 ...
    ### When Generative         -> rules generative.<number as written>
    ## Never                    -> rules never.1 ...
    ## Output Format            -> envelope fields, allowed Confidence values, Audit/Solution layouts

Nothing here knows about any particular card: every name, mode, rule and field comes from the file.
Loading is tolerant of one known frontmatter defect (a block-list item written on its key's line,
``key:  - "item"``): it is repaired and recorded as a lint warning; ``strict=True`` makes every
lint warning an error.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from agenteval.errors import InputError
from agenteval.inputs.screen_data import NeverScreenData, load_screen_data

MAX_CARD_BYTES = 2 * 1024 * 1024

LintLevel = Literal["error", "warning"]


class LintFinding(BaseModel):
    """One problem found in a card file."""

    path: str
    line: int
    level: LintLevel
    code: str
    message: str

    def format(self) -> str:
        """``PATH:LINE: level: message``, the format ``agenteval lint-card`` prints."""
        return f"{self.path}:{self.line}: {self.level}: {self.message}"


class CognitiveMode(BaseModel):
    """A thinking mode the card defines (``generative``, ``critical`` ...). Extra keys are kept."""

    model_config = ConfigDict(extra="allow")
    mindset: str = ""
    output: str = ""


class Escalation(BaseModel):
    """When and to whom the agent must hand off.

    ``targets`` holds every hand-off target the card names (zero or more); ``escalate_to`` is the first
    one ("" when the card names none). ``confidence_threshold`` is None when the card gives none.
    """

    model_config = ConfigDict(extra="allow")
    confidence_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    escalate_to: str = ""
    targets: list[str] = Field(default_factory=list)
    triggers: list[str] = Field(default_factory=list)


def normalize_rule_text(text: str) -> str:
    """Lower-case words of a rule text, markup and punctuation dropped: what a rule's identity is made of."""
    t = re.sub(r"[*_`]+", "", text.lower())
    return " ".join(re.findall(r"[a-z0-9]+", t))


class Rule(BaseModel):
    """An instruction of the card with a positional id (``always.1``, ``never.3``, ``critical.11``).

    The id is where the rule stands; :attr:`fingerprint` is who it is (its normalised text), which
    survives renumbering and is what scenario references resolve by.
    """

    id: str
    kind: Literal["always", "mode", "never"]
    mode: str | None = None
    number: int
    text: str
    line: int
    group: str | None = None  # the heading the rule was found under, when not the canonical one

    @property
    def norm_text(self) -> str:
        """The normalised text (see :func:`normalize_rule_text`)."""
        return normalize_rule_text(self.text)

    @property
    def fingerprint(self) -> str:
        """A stable identity of the rule text: 12 hex digits of the hash of its normalised text."""
        return hashlib.sha256(self.norm_text.encode("utf-8")).hexdigest()[:12]


ConfidenceScale = Literal["levels", "numeric", "levels+numeric", "free"]


class EnvelopeField(BaseModel):
    """A field of the required output envelope, e.g. ``**Confidence**: high | medium | low``.

    ``allowed_values`` are the level words a field offers; ``scale`` says how a confidence is written:
    ``levels`` (words), ``numeric`` (a number in ``numeric_range``), ``levels+numeric`` (words with
    numeric ``bands``) or ``free``.
    """

    name: str
    placeholder: str
    allowed_values: list[str] = Field(default_factory=list)
    scale: ConfidenceScale = "free"
    numeric_range: tuple[float, float] | None = None
    bands: dict[str, tuple[float, float]] = Field(default_factory=dict)
    sub_items: list[str] = Field(default_factory=list)  # a nested list under the field, if any


class LayoutSection(BaseModel):
    """A ``##`` section of a mode layout, with the item template it contains if any."""

    name: str
    item_heading: str | None = None  # e.g. "### [CRITICAL] {Finding Title}"
    item_fields: list[str] = Field(default_factory=list)  # e.g. Location, Issue, Impact, Recommendation
    severities: list[str] = Field(default_factory=list)  # severities shown in the template


class Layout(BaseModel):
    """A required answer layout (``For Audit Mode``, ``For Solution Mode`` or any other, by name)."""

    name: str  # lower-case tool mode, e.g. "audit"
    sections: list[LayoutSection]
    title: str = ""  # the heading it was found under

    @property
    def section_names(self) -> list[str]:
        """Names of the ``##`` sections, in order."""
        return [s.name for s in self.sections]


class OutputFormat(BaseModel):
    """The card's Output Format: the envelope and the per-tool-mode layouts."""

    envelope: list[EnvelopeField]
    layouts: dict[str, Layout] = Field(default_factory=dict)

    @property
    def field_names(self) -> list[str]:
        """Envelope field names in the card's order."""
        return [f.name for f in self.envelope]

    @property
    def confidence_field(self) -> EnvelopeField | None:
        """The field carrying the confidence: named Confidence, else the one with alternatives/scale."""
        for f in self.envelope:
            if f.name.lower() == "confidence":
                return f
        for f in self.envelope:
            if "confidence" in f.name.lower():
                return f
        for f in self.envelope:
            if f.allowed_values:
                return f
        return None


_KNOWN_KEYS = ("name", "description", "model", "tier", "tools", "cognitive_modes", "ensemble_roles",
               "escalation", "role", "load_bearing", "proactive_triggers", "version")


class AgentCard(BaseModel):
    """A parsed agent card. Build it with :func:`load_card`."""

    path: str
    name: str
    description: str
    model: str
    tier: str | None
    tool_modes: dict[str, list[str]]
    default_tool_mode: str | None
    cognitive_modes: dict[str, CognitiveMode]
    default_mode: str
    ensemble_roles: dict[str, str]
    default_role: str
    escalation: Escalation
    proactive_triggers: list[str]
    role: str | None
    version: str
    title: str
    identity: str
    vocabulary: list[str]
    rules: list[Rule]
    specializations: dict[str, list[str]]
    output_format: OutputFormat
    body: str
    content_hash: str
    extra_frontmatter: dict[str, Any] = Field(default_factory=dict)
    lint: list[LintFinding] = Field(default_factory=list)
    never_screen: NeverScreenData | None = Field(
        default=None, description="the Never screen's data for this card (inputs/screen_data.py), if any")

    @property
    def modes(self) -> list[str]:
        """Cognitive mode names in card order."""
        return list(self.cognitive_modes)

    @property
    def roles(self) -> list[str]:
        """Ensemble role names in card order."""
        return list(self.ensemble_roles)

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id; KeyError if the card has none."""
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    @property
    def rule_ids(self) -> list[str]:
        """All rule ids in card order."""
        return [r.id for r in self.rules]

    def rules_of(self, kind: str, mode: str | None = None) -> list[Rule]:
        """Rules of one kind (``always``, ``never``, ``mode``), optionally of one mode.

        ``never`` rules come from the card's ``## Never`` section or, in cards without one, from
        ``## Absolute Prohibitions``.
        """
        return [r for r in self.rules if r.kind == kind and (mode is None or r.mode == mode)]

    @property
    def trigger_ids(self) -> list[str]:
        """Escalation trigger ids, ``trigger.1`` ... in card order."""
        return [f"trigger.{i}" for i in range(1, len(self.escalation.triggers) + 1)]

    @property
    def escalation_targets(self) -> list[str]:
        """Every hand-off target the card names (zero or more)."""
        return list(self.escalation.targets)

    def mode_description(self, mode: str) -> str:
        """A one-line description of a cognitive mode (its mindset, else its output)."""
        m = self.cognitive_modes.get(mode)
        return (m.mindset or m.output) if m else ""


# --------------------------------------------------------------------------- parsing helpers

_KEY_WITH_INLINE_ITEM = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_][\w-]*):[ \t]+-[ \t]+(?P<item>.+)$")
_TOP_KEY = re.compile(r"^(?P<key>[A-Za-z_][\w.-]*)\s*:(?:\s|$)")
_PLACEHOLDER_VALUE = re.compile(
    r"^(?P<lead>\s*(?:-\s+)?(?:[A-Za-z_][\w.-]*\s*:\s+)?)(?P<val>(?=[^\s\"'])[^#\n]*?\{[A-Za-z_][\w .-]*\}.*?)\s*$")


class _Lint:
    """Collects lint findings of one card file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.items: list[LintFinding] = []

    def warn(self, line: int, code: str, message: str) -> None:
        self.items.append(LintFinding(path=self.path, line=line, level="warning", code=code, message=message))


def _split_frontmatter(text: str, path: str) -> tuple[list[str], int, str, int]:
    """Return (frontmatter lines, first frontmatter line number, body, body first line number)."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise InputError("card has no YAML frontmatter (expected '---' on line 1)", path=path, line=1)
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return lines[1:i], 2, "\n".join(lines[i + 1 :]), i + 2
    raise InputError("card frontmatter is not closed by a '---' line", path=path, line=1)


def _yaml_problem(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
    ctx = getattr(exc, "context", None)
    if ctx and "constructor" in str(ctx):
        problem = f"{ctx} {problem}"
    return " ".join(str(problem).split())


def _yaml_line(exc: BaseException, first_line: int) -> int:
    mark = getattr(exc, "problem_mark", None)
    return first_line + mark.line if mark is not None else first_line


def _load_yaml(text: str) -> Any:
    return yaml.safe_load(text)


def _repair_inline_items(lines: list[str], first_line: int) -> tuple[list[str], list[int]]:
    """Rewrite ``key:  - item`` as a block list; return the lines and the file lines repaired."""
    repaired: list[str] = []
    fixed: list[int] = []
    for idx, line in enumerate(lines):
        m = _KEY_WITH_INLINE_ITEM.match(line)
        if m:
            repaired.append(f"{m.group('indent')}{m.group('key')}:")
            repaired.append(f"{m.group('indent')}  - {m.group('item')}")
            fixed.append(first_line + idx)
        else:
            repaired.append(line)
    return repaired, fixed


def _quote_placeholders(lines: list[str]) -> tuple[list[str], list[int]]:
    """Quote scalar values containing ``{placeholder}`` templates (which YAML reads as flow mappings)."""
    out: list[str] = []
    changed: list[int] = []
    for idx, line in enumerate(lines):
        m = _PLACEHOLDER_VALUE.match(line)
        if m and not line.lstrip().startswith("#"):
            val = m.group("val")
            if " #" in val:
                val = val.split(" #", 1)[0].rstrip()
            out.append(m.group("lead") + '"' + val.replace("\\", "\\\\").replace('"', '\\"') + '"')
            changed.append(idx)
        else:
            out.append(line)
    return out, changed


def _top_blocks(lines: list[str]) -> list[tuple[int, str, list[str]]]:
    """Split frontmatter lines into top-level blocks: (index of first line, key, lines)."""
    blocks: list[tuple[int, str, list[str]]] = []
    for idx, line in enumerate(lines):
        m = _TOP_KEY.match(line)
        if m and not line.startswith((" ", "\t")):
            blocks.append((idx, m.group("key"), [line]))
        elif blocks:
            blocks[-1][2].append(line)
    return blocks


def _parse_frontmatter(fm_lines: list[str], first_line: int, path: str, lint: _Lint) -> dict[str, Any]:
    """Parse the frontmatter, recovering what can be recovered, each repair a lint warning.

    1. the whole block as YAML; 2. with ``key:  - item`` lines repaired; 3. top-level block by block,
    quoting ``{placeholder}`` values, dropping (with a warning) a block that still does not parse.
    Raises :class:`InputError` only when nothing at all can be read.
    """
    text = "\n".join(fm_lines)
    first_exc: BaseException | None = None
    try:
        data = _load_yaml(text)
    except (yaml.YAMLError, RecursionError) as exc:
        first_exc = exc
    else:
        if not isinstance(data, dict):
            raise InputError("frontmatter must be a YAML mapping", path=path, line=first_line)
        return data
    repaired, fixed = _repair_inline_items(fm_lines, first_line)
    if fixed:
        try:
            data = _load_yaml("\n".join(repaired))
        except (yaml.YAMLError, RecursionError):
            data = None
        if isinstance(data, dict):
            for ln in fixed:
                lint.warn(ln, "frontmatter-inline-list-item",
                          "list item written on its key's line (invalid YAML); repaired as a block list")
            return data
    # block by block
    data = {}
    fixed_set = set(fixed)
    for idx, key, blines in _top_blocks(fm_lines):
        line_no = first_line + idx
        tries: list[tuple[list[str], str | None]] = []
        rep, rfixed = _repair_inline_items(blines, line_no)
        tries.append((rep, "frontmatter-inline-list-item" if rfixed else None))
        quoted, qchanged = _quote_placeholders(rep)
        if qchanged:
            tries.append((quoted, "frontmatter-placeholder"))
        value: Any = None
        ok = False
        last_exc: BaseException | None = None
        for cand, code in tries:
            try:
                parsed = _load_yaml("\n".join(cand))
            except (yaml.YAMLError, RecursionError) as exc:
                last_exc = exc
                continue
            if isinstance(parsed, dict) and key in parsed:
                value, ok = parsed[key], True
                if code == "frontmatter-placeholder":
                    for q in qchanged:
                        lint.warn(line_no + q, code, "template placeholder '{...}' is not valid YAML; "
                                  "read as a quoted string")
                if rfixed and code is not None:
                    for ln in rfixed:
                        if ln not in fixed_set:
                            fixed_set.add(ln)
                        lint.warn(ln, "frontmatter-inline-list-item", "list item written on its key's line "
                                  "(invalid YAML); repaired as a block list")
                break
        if ok:
            data[key] = value
        else:
            err = last_exc or first_exc
            bad = _yaml_line(err, line_no) if err is not None else line_no
            lint.warn(bad, "frontmatter-block-dropped",
                      f"frontmatter block '{key}' is not valid YAML ({_yaml_problem(err) if err else '?'}); "
                      "ignored")
            data.setdefault("__dropped__", {})[key] = (bad, _yaml_problem(err) if err else "")
    real = {k: v for k, v in data.items() if k != "__dropped__"}
    if not real:
        first = first_exc
        raise InputError(f"frontmatter is not valid YAML: {_yaml_problem(first) if first else 'empty'}", path=path,
                         line=_yaml_line(first, first_line) if first is not None else first_line)
    return data


def _placeholder_str(v: Any) -> Any:
    """``{domain}`` read by YAML as a one-key flow mapping -> the string ``{domain}``."""
    if isinstance(v, dict) and len(v) == 1 and next(iter(v.values())) is None:
        return "{" + str(next(iter(v))) + "}"
    return v


def _as_text(v: Any) -> str:
    """Any YAML value as one line of text."""
    v = _placeholder_str(v)
    if v is None:
        return ""
    if isinstance(v, str):
        return v.strip()
    if isinstance(v, (list, tuple)):
        return "; ".join(_as_text(x) for x in v if _as_text(x))
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_as_text(x)}" for k, x in v.items())
    return str(v)


def _split_targets(v: Any) -> list[str]:
    """Escalation targets from a name, a quoted name, a list or a prose list (``a, b or c``)."""
    v = _placeholder_str(v)
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        out: list[str] = []
        for x in v:
            out.extend(_split_targets(x))
        return out
    if isinstance(v, dict):
        return _split_targets(list(v.values()))
    text = str(v).strip()
    parts = re.split(r"\s*(?:,|;|/|\band/or\b|\bor\b|\band\b|\bthen\b)\s*", text)
    out = []
    for p in parts:
        p = p.strip().strip("\"'`*").strip()
        p = re.split(r"\s+(?:for|when|if|on|about|in case)\s+|\s*[(:—–]", p)[0]  # "x for security" -> "x"
        p = re.sub(r"^(?:the|a|an|to)\s+", "", p, flags=re.I).strip().rstrip(".").strip("\"'`*")
        if p and p not in out:
            out.append(p)
    return out


class _Section(BaseModel):
    level: int
    title: str
    line: int
    lines: list[tuple[int, str]]  # (file line number, text) of the section's own content
    children: list[_Section] = Field(default_factory=list)

    def text(self) -> str:
        return "\n".join(t for _, t in self.lines).strip()

    def find(self, pattern: str) -> _Section | None:
        rx = re.compile(pattern, re.I)
        for c in self.children:
            if rx.search(c.title):
                return c
        return None

    def walk(self) -> list[_Section]:
        out: list[_Section] = []
        for c in self.children:
            out.append(c)
            out.extend(c.walk())
        return out

    def find_any(self, pattern: str) -> _Section | None:
        """The shallowest descendant whose title matches (first in card order among equals)."""
        rx = re.compile(pattern, re.I)
        hits = [c for c in self.walk() if rx.search(c.title)]
        return min(hits, key=lambda c: c.level) if hits else None


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s{0,3}(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")


class _FenceTracker:
    """Tracks fenced code blocks, nesting-aware: inside a fence, a fence line with an info string
    (```` ```python ````) opens a nested block and a bare fence closes the innermost one, so templates
    that show code blocks (with ``##`` and ``---`` lines in them) stay one block."""

    def __init__(self) -> None:
        self.stack: list[tuple[str, int]] = []

    @property
    def inside(self) -> bool:
        return bool(self.stack)

    def feed(self, line: str) -> str | None:
        """Update for one line; return 'open', 'close', 'inner' (a nested fence line) or None."""
        m = _FENCE.match(line)
        if not m:
            return None
        fence, info = m.group("fence"), m.group("info")
        ch, n = fence[0], len(fence)
        if not self.stack:
            self.stack.append((ch, n))
            return "open"
        top_ch, top_n = self.stack[-1]
        if not info and ch == top_ch and n >= top_n:
            self.stack.pop()
            return "close" if not self.stack else "inner"
        if info:
            self.stack.append((ch, n))
            return "inner"
        return "inner"


def _sections(body: str, first_line: int) -> _Section:
    """Build a heading tree of the markdown body, ignoring headings inside fenced code blocks."""
    root = _Section(level=0, title="", line=first_line, lines=[])
    stack = [root]
    fences = _FenceTracker()
    for offset, raw in enumerate(body.split("\n")):
        ln = first_line + offset
        was_inside = fences.inside
        kind = fences.feed(raw)
        m = None if (was_inside or kind) else _HEADING.match(raw)
        if m:
            level = len(m.group(1))
            sec = _Section(level=level, title=m.group(2), line=ln, lines=[])
            while stack[-1].level >= level:
                stack.pop()
            stack[-1].children.append(sec)
            stack.append(sec)
        else:
            stack[-1].lines.append((ln, raw))
    return root


_NUMBERED = re.compile(r"^\s*(\d+)[.)]\s+(.*\S)\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*\S)\s*$")


def _outside_fences(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    fences = _FenceTracker()
    out = []
    for ln, t in lines:
        was = fences.inside
        kind = fences.feed(t)
        if not was and not kind:
            out.append((ln, t))
    return out


def _numbered_items(sec: _Section) -> list[tuple[int, int, str]]:
    """(number as written, line, text) of a numbered list; continuation lines are joined."""
    items: list[tuple[int, int, str]] = []
    for ln, t in _outside_fences(sec.lines):
        m = _NUMBERED.match(t)
        if m and not t.startswith(("  ", "\t")):
            items.append((int(m.group(1)), ln, m.group(2)))
        elif items and t.strip() and t.startswith((" ", "\t")):
            n, l0, txt = items[-1]
            items[-1] = (n, l0, txt + " " + t.strip())
        elif items and not t.strip():
            continue
    return items


def _bullets(sec: _Section) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for ln, t in _outside_fences(sec.lines):
        m = _BULLET.match(t)
        if m and not t.startswith(("  ", "\t")):
            out.append((ln, m.group(1)))
        elif out and t.strip() and t.startswith((" ", "\t")):
            l0, txt = out[-1]
            out[-1] = (l0, txt + " " + t.strip())
    return out


def _fenced_blocks(sec: _Section) -> list[tuple[int, str]]:
    """(line of the opening fence, content) of each outermost fenced block directly in the section."""
    blocks: list[tuple[int, str]] = []
    cur: list[str] = []
    start = 0
    fences = _FenceTracker()
    for ln, t in sec.lines:
        kind = fences.feed(t)
        if kind == "open":
            cur, start = [], ln
        elif kind == "close":
            blocks.append((start, "\n".join(cur)))
        elif fences.inside:
            cur.append(t)
    return blocks


_ENV_FIELD = re.compile(
    r"^\s*(?:[-*+]\s+)?\*\*(?P<name>[^*:]+?)(?::\*\*|\*\*\s*:)\s*(?P<ph>.*)$")
_LAYOUT_H2 = re.compile(r"^##\s+(.+?)\s*$")
_LAYOUT_H3 = re.compile(r"^###\s+(.+?)\s*$")
_LAYOUT_FIELD = re.compile(r"^\s*[-*]\s+\*\*(?P<name>[^*]+?)\*\*\s*:")
_SEVERITY = re.compile(r"\[([A-Z]+)\]")
_NUM = r"(?<![\d.])(?:0(?:\.\d+)?|1(?:\.0+)?|\.\d+)(?![\d.])"
_RANGE = re.compile(rf"(?P<lo>{_NUM})\s*(?:-|–|—|to)\s*(?P<hi>{_NUM})")
_BAND = re.compile(rf"(?P<word>[A-Za-z][\w-]*)\s*[:(=]?\s*\(?\s*(?:(?P<lo>{_NUM})\s*(?:-|–|—|to)\s*(?P<hi>{_NUM})"
                   rf"|(?P<op>[<>]=?|≥|≤)\s*(?P<bound>{_NUM}))\s*\)?")


def _confidence_scale(ph: str) -> tuple[list[str], ConfidenceScale, tuple[float, float] | None,
                                        dict[str, tuple[float, float]]]:
    """Allowed words, scale, numeric range and bands of an envelope placeholder."""
    text = ph.strip()
    inner = text[1:-1] if text.startswith("{") and text.endswith("}") else text
    bands: dict[str, tuple[float, float]] = {}
    words: list[str] = []
    if "|" in inner and not text.startswith("{"):
        for part in inner.split("|"):
            part = part.strip()
            if not part:
                continue
            bm = _BAND.match(part)
            if bm and (bm.group("lo") or bm.group("bound")):
                w = bm.group("word")
                if bm.group("lo"):
                    bands[w.lower()] = (float(bm.group("lo")), float(bm.group("hi")))
                else:
                    b = float(bm.group("bound"))
                    bands[w.lower()] = (0.0, b) if bm.group("op") in ("<", "<=", "≤") else (b, 1.0)
                words.append(w)
            else:
                words.append(part)
        if bands:
            return words, "levels+numeric", (0.0, 1.0), bands
        if all(re.fullmatch(_NUM, w) for w in words):
            return [], "numeric", (0.0, 1.0), {}
        return words, "levels", None, {}
    rm = _RANGE.search(inner)
    if rm:
        lo, hi = float(rm.group("lo")), float(rm.group("hi"))
        for bm in _BAND.finditer(inner[rm.end():]):
            w = bm.group("word").lower()
            if bm.group("lo"):
                bands[w] = (float(bm.group("lo")), float(bm.group("hi")))
            elif bm.group("bound"):
                b = float(bm.group("bound"))
                bands[w] = (0.0, b) if bm.group("op") in ("<", "<=", "≤") else (b, 1.0)
        return list(bands), ("levels+numeric" if bands else "numeric"), (lo, hi), bands
    return [], "free", None, {}


def _parse_envelope(block: str) -> list[EnvelopeField]:
    fields: list[EnvelopeField] = []
    for line in block.split("\n"):
        m = _ENV_FIELD.match(line)
        if not m:
            if fields and line.startswith((" ", "\t")) and _BULLET.match(line):
                fields[-1].sub_items.append(_BULLET.match(line).group(1))  # type: ignore[union-attr]
            continue
        if line.startswith(("  ", "\t")) and fields:
            fields[-1].sub_items.append(m.group("name").strip())
            continue
        ph = m.group("ph").strip()
        allowed, scale, rng, bands = _confidence_scale(ph)
        fields.append(EnvelopeField(name=m.group("name").strip(), placeholder=ph, allowed_values=allowed,
                                    scale=scale, numeric_range=rng, bands=bands))
    return fields


def _parse_layout(name: str, block: str, title: str = "") -> Layout:
    sections: list[LayoutSection] = []
    fences = _FenceTracker()
    for line in block.split("\n"):
        was = fences.inside
        if fences.feed(line) or was:
            continue  # a code block inside the template: its '##' lines are not sections
        h2 = _LAYOUT_H2.match(line)
        h3 = _LAYOUT_H3.match(line)
        fm = _LAYOUT_FIELD.match(line)
        if h2 and not line.startswith("###"):
            sections.append(LayoutSection(name=h2.group(1)))
        elif h3 and sections:
            sections[-1].item_heading = h3.group(1)
            sections[-1].severities = _SEVERITY.findall(h3.group(1))
        elif fm and sections:
            sections[-1].item_fields.append(fm.group("name").strip())
    return Layout(name=name, sections=sections, title=title)


def _mode_from_title(title: str, modes: list[str]) -> str | None:
    m = re.match(r"^\s*(?:\d+[.)]?\s*)?when\s+(?:in\s+)?(.+?)\s*$", title, re.I)
    if not m:
        return None
    words = re.sub(r"\(.*?\)|[:*_`]", " ", m.group(1)).strip().lower()
    words = re.sub(r"\s+mode\b.*$", "", words).strip()
    slug = re.sub(r"[\s-]+", "_", words)
    if slug in modes:
        return slug
    first = slug.split("_")[0] if slug else slug
    if first in modes:
        return first
    return slug or None


# --------------------------------------------------------------------------- public API


def read_text_file(path: str | Path, *, what: str = "file", max_bytes: int = MAX_CARD_BYTES) -> str:
    """Read a UTF-8 text file or raise :class:`InputError` naming it.

    Refuses missing files, directories, files larger than ``max_bytes`` and invalid UTF-8.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise InputError(f"{what} not found", path=p) from None
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror}", path=p) from None
    if p.is_dir():
        raise InputError(f"{what} is a directory, expected a file", path=p)
    if size > max_bytes:
        raise InputError(f"{what} is too large ({size} bytes, limit {max_bytes})", path=p)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror}", path=p) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"{what} is not valid UTF-8 (byte {exc.start})", path=p, line=line) from None


def _fm_line_finder(fm_lines: list[str], fm_first: int):
    def fm_line(key: str, sub: str | None = None) -> int:
        start = None
        for i, ln in enumerate(fm_lines):
            if re.match(rf"^{re.escape(key)}\s*:", ln):
                start = i
                break
        if start is None:
            return fm_first
        if sub is not None:
            for j in range(start + 1, len(fm_lines)):
                if fm_lines[j] and not fm_lines[j].startswith((" ", "\t", "#")):
                    break
                if re.match(rf"^\s+['\"]?{re.escape(sub)}['\"]?\s*:", fm_lines[j]):
                    return fm_first + j
        return fm_first + start
    return fm_line


DEFAULT_ROLE = "solo"
DEFAULT_ROLE_TEXT = "Work alone: comprehensive, thorough, flag all uncertainties"
DEFAULT_MODE = "generative"


def _read_modes(raw: Any, lint: _Lint, fm_line: Any) -> tuple[dict[str, CognitiveMode], str]:
    where = fm_line("cognitive_modes")
    modes: dict[str, CognitiveMode] = {}
    default: str | None = None
    if raw is None:
        lint.warn(where, "no-modes", f"card defines no cognitive_modes; using the default mode '{DEFAULT_MODE}'")
        return {DEFAULT_MODE: CognitiveMode()}, DEFAULT_MODE
    if isinstance(raw, str):
        raw = [x.strip() for x in raw.split(",") if x.strip()]
    if isinstance(raw, list):
        lint.warn(where, "modes-as-list", "cognitive_modes is a list, not a mapping; modes have no descriptions")
        raw = {(_as_text(x) if not isinstance(x, dict) else str(next(iter(x)))):
               (None if not isinstance(x, dict) else next(iter(x.values()))) for x in raw}
    if not isinstance(raw, dict):
        lint.warn(where, "modes-bad-shape", f"cognitive_modes is a {type(raw).__name__}; using the default mode")
        return {DEFAULT_MODE: CognitiveMode()}, DEFAULT_MODE
    for k, v in raw.items():
        k = str(k)
        if k == "default":
            default = _as_text(v)
            continue
        line = fm_line("cognitive_modes", k)
        v = _placeholder_str(v)
        if v is None:
            v = {}
        elif isinstance(v, str):
            lint.warn(line, "mode-as-string", f"cognitive mode '{k}' is a string, read as its mindset")
            v = {"mindset": v}
        elif not isinstance(v, dict):
            lint.warn(line, "mode-bad-shape", f"cognitive mode '{k}' is a {type(v).__name__}, read as text")
            v = {"mindset": _as_text(v)}
        d = dict(v)
        if "mindset" not in d:
            alt = next((a for a in ("behavior", "description", "focus") if a in d), None)
            if alt:
                d["mindset"] = d[alt]
                lint.warn(line, "mode-no-mindset", f"cognitive mode '{k}' has no mindset; using its '{alt}'")
        for fld in ("mindset", "output"):
            if fld in d and not isinstance(d[fld], str):
                lint.warn(line, "mode-field-type", f"cognitive_modes.{k}.{fld} is not a string; read as text")
                d[fld] = _as_text(d[fld])
        extra = sorted(set(d) - {"mindset", "output", "behavior", "description", "focus"})
        if extra:
            lint.warn(line, "mode-extra-keys", f"cognitive mode '{k}' carries extra keys ({', '.join(extra)}); kept")
        modes[k] = CognitiveMode.model_validate(d)
    if not modes:
        name = default or DEFAULT_MODE
        lint.warn(where, "modes-default-only", f"cognitive_modes names only a default; using the mode '{name}'")
        return {name: CognitiveMode()}, name
    canonical = ("generative", "critical", "evaluative", "informative")
    custom = [m for m in modes if m not in canonical]
    if custom:
        lint.warn(where, "custom-modes", f"cognitive modes beyond the canonical four: {', '.join(custom)}")
    missing = [m for m in canonical if m not in modes]
    if missing and len(modes) < 4:
        lint.warn(where, "fewer-modes", f"card defines {len(modes)} cognitive mode(s), not the canonical four")
    if default is None:
        default = next(iter(modes))
        lint.warn(where, "no-default-mode", f"cognitive_modes has no default; using the first, '{default}'")
    elif default not in modes:
        first = next(iter(modes))
        lint.warn(fm_line("cognitive_modes", "default"), "unknown-default-mode",
                  f"default '{default}' is not one of {sorted(modes)}; using '{first}'")
        default = first
    return modes, default


def _read_roles(raw: Any, lint: _Lint, fm_line: Any) -> tuple[dict[str, str], str]:
    where = fm_line("ensemble_roles")
    if raw is None:
        lint.warn(where, "no-roles", f"card defines no ensemble_roles; using the default role '{DEFAULT_ROLE}'")
        return {DEFAULT_ROLE: DEFAULT_ROLE_TEXT}, DEFAULT_ROLE
    if isinstance(raw, str):
        raw = [x.strip() for x in raw.split(",") if x.strip()]
    if isinstance(raw, list):
        lint.warn(where, "roles-as-list", "ensemble_roles is a list, not a mapping; roles have no descriptions")
        raw = {(_as_text(x) if not isinstance(x, dict) else str(next(iter(x)))):
               ("" if not isinstance(x, dict) else next(iter(x.values()))) for x in raw}
    if not isinstance(raw, dict):
        lint.warn(where, "roles-bad-shape", f"ensemble_roles is a {type(raw).__name__}; using the default role")
        return {DEFAULT_ROLE: DEFAULT_ROLE_TEXT}, DEFAULT_ROLE
    roles: dict[str, str] = {}
    default: str | None = None
    for k, v in raw.items():
        k = str(k)
        if k == "default":
            default = _as_text(v)
            continue
        line = fm_line("ensemble_roles", k)
        v = _placeholder_str(v)
        if isinstance(v, dict):
            desc = _as_text(v.get("description"))
            beh = _as_text(v.get("behavior"))
            text = ". ".join(x.rstrip(".") for x in (desc, beh) if x) or _as_text(v)
            lint.warn(line, "role-as-mapping", f"ensemble role '{k}' is a mapping ({', '.join(map(str, v))}); "
                      "read as its description/behavior")
            extra = sorted(set(map(str, v)) - {"description", "behavior"})
            if extra:
                lint.warn(line, "role-extra-keys", f"ensemble role '{k}' carries extra keys ({', '.join(extra)})")
        elif isinstance(v, str) or v is None:
            text = (v or "").strip()
        else:
            lint.warn(line, "role-bad-shape", f"ensemble role '{k}' is a {type(v).__name__}, read as text")
            text = _as_text(v)
        roles[k] = text
    if not roles:
        name = default or DEFAULT_ROLE
        lint.warn(where, "roles-default-only", f"ensemble_roles names only a default; using the role '{name}'")
        return {name: DEFAULT_ROLE_TEXT if name == DEFAULT_ROLE else ""}, name
    canonical = ("solo", "panel_member", "auditor", "input_provider", "decision_maker")
    custom = [r for r in roles if r not in canonical]
    if custom:
        lint.warn(where, "custom-roles", f"ensemble roles beyond the canonical five: {', '.join(custom)}")
    if default is None:
        default = DEFAULT_ROLE if DEFAULT_ROLE in roles else next(iter(roles))
    elif default not in roles:
        first = next(iter(roles))
        lint.warn(fm_line("ensemble_roles", "default"), "unknown-default-role",
                  f"default '{default}' is not one of {sorted(roles)}; using '{first}'")
        default = first
    return roles, default


def _read_escalation(raw: Any, lint: _Lint, fm_line: Any) -> Escalation:
    where = fm_line("escalation")
    if raw is None:
        lint.warn(where, "no-escalation", "card defines no escalation: no threshold, no target, no triggers")
        return Escalation()
    if not isinstance(raw, dict):
        lint.warn(where, "escalation-bad-shape", f"escalation is a {type(raw).__name__}; read as its target(s)")
        raw = {"escalate_to": raw}
    th_raw = raw.get("confidence_threshold", raw.get("threshold"))
    threshold: float | None = None
    if th_raw is not None:
        try:
            t = float(str(th_raw).strip().rstrip("%"))
        except ValueError:
            t = -1.0
        if 1.0 < t <= 100.0 and str(th_raw).strip().endswith("%"):
            t = t / 100.0
        if 0.0 <= t <= 1.0:
            threshold = t
        else:
            lint.warn(fm_line("escalation", "confidence_threshold"), "bad-threshold",
                      f"escalation.confidence_threshold {th_raw!r} is not a number in [0, 1]; ignored")
    else:
        lint.warn(where, "no-threshold", "escalation has no confidence_threshold")
    to_raw = raw.get("escalate_to", raw.get("target", raw.get("targets")))
    targets = _split_targets(to_raw)
    if not targets:
        lint.warn(where, "no-escalation-target", "escalation names no target (escalate_to)")
    elif len(targets) > 1:
        lint.warn(fm_line("escalation", "escalate_to"), "several-targets",
                  f"escalate_to names {len(targets)} targets: {', '.join(targets)}")
    elif isinstance(to_raw, str) and to_raw.strip() != targets[0]:
        lint.warn(fm_line("escalation", "escalate_to"), "target-normalised",
                  f"escalate_to {to_raw.strip()!r} read as '{targets[0]}'")
    trig_raw = raw.get("triggers", [])
    if isinstance(trig_raw, str):
        trig_raw = [trig_raw]
    def trigger_text(t: Any) -> str:
        if isinstance(t, dict):  # {trigger: ..., action: ...}: the condition is the trigger
            for k in ("trigger", "condition", "when", "description", "name"):
                if k in t:
                    return _as_text(t[k])
        return _as_text(t)

    if not isinstance(trig_raw, list):
        trig_raw = [trig_raw]
    triggers = [trigger_text(t) for t in trig_raw if trigger_text(t)]
    extra = {str(k): v for k, v in raw.items()
             if k not in ("confidence_threshold", "threshold", "escalate_to", "target", "targets", "triggers")}
    if extra:
        lint.warn(where, "escalation-extra-keys", f"escalation carries extra keys ({', '.join(extra)}); kept")
    return Escalation(confidence_threshold=threshold, escalate_to=targets[0] if targets else "",
                      targets=targets, triggers=triggers, **extra)


def _read_tools(raw: Any, lint: _Lint, fm_line: Any) -> tuple[dict[str, list[str]], str | None]:
    tool_modes: dict[str, list[str]] = {}
    default_tool_mode = None
    if raw is None:
        lint.warn(fm_line("name"), "no-tools", "card defines no tools per tool mode")
        return tool_modes, None

    def as_list(v: Any) -> list[str]:
        if isinstance(v, str):
            return [t.strip() for t in v.split(",") if t.strip()]
        if isinstance(v, list):
            return [_as_text(t) for t in v if _as_text(t)]
        return []

    if isinstance(raw, (str, list)):
        lint.warn(fm_line("tools"), "tools-not-per-mode",
                  "tools is one list, not per tool mode; read as mode 'default'")
        return {"default": as_list(raw)}, "default"
    if not isinstance(raw, dict):
        lint.warn(fm_line("tools"), "tools-bad-shape", f"tools is a {type(raw).__name__}; ignored")
        return tool_modes, None
    for k, v in raw.items():
        if k == "default_mode":
            default_tool_mode = _as_text(v)
        elif isinstance(v, (str, list)):
            tool_modes[str(k)] = as_list(v)
        else:
            lint.warn(fm_line("tools", str(k)), "tools-bad-shape", f"tools.{k} is not a list of tools; ignored")
    custom = [m for m in tool_modes if m not in ("audit", "solution", "research")]
    if custom:
        lint.warn(fm_line("tools"), "custom-tool-modes", f"tool modes beyond audit/solution/research: "
                  f"{', '.join(custom)}")
    return tool_modes, default_tool_mode


def parse_card(text: str, path: str = "<card>", *, strict: bool = False) -> AgentCard:
    """Parse card text. See :func:`load_card`."""
    text = text.replace("\r\n", "\n")
    if text.startswith("\ufeff"):
        text = text[1:]
    lint = _Lint(path)
    fm_lines, fm_first, body, body_first = _split_frontmatter(text, path)
    data = _parse_frontmatter(fm_lines, fm_first, path, lint)
    fm_line = _fm_line_finder(fm_lines, fm_first)
    dropped: dict[str, tuple[int, str]] = data.pop("__dropped__", {})

    name = _placeholder_str(data.get("name"))
    if not isinstance(name, str) or not name.strip():
        if "name" in dropped:
            ln, why = dropped["name"]
            raise InputError(f"card has no readable name ({why})", path=path, line=ln, field="name")
        if "name" in data:
            raise InputError(f"name must be a string, got {type(name).__name__}", path=path, line=fm_line("name"),
                             field="name")
        raise InputError("card has no name: nothing to evaluate", path=path, line=fm_first, field="name")
    name = name.strip()
    extra = {str(k): v for k, v in data.items() if k not in _KNOWN_KEYS}
    for key in extra:
        lint.warn(fm_line(key), "unknown-key", f"unknown frontmatter key '{key}' (kept, not used)")

    modes, default_mode = _read_modes(data.get("cognitive_modes"), lint, fm_line)
    roles, default_role = _read_roles(data.get("ensemble_roles"), lint, fm_line)
    escalation = _read_escalation(data.get("escalation"), lint, fm_line)
    tool_modes, default_tool_mode = _read_tools(data.get("tools"), lint, fm_line)
    pt = data.get("proactive_triggers") or []
    if isinstance(pt, str):
        pt = [pt]
    proactive = [_as_text(t) for t in pt] if isinstance(pt, list) else []

    # ---- body
    root = _sections(body, body_first)
    h1s = [c for c in root.children if c.level == 1]
    title_sec = h1s[0] if h1s else None
    title = title_sec.title if title_sec else name
    top = root

    def h2(pattern: str) -> _Section | None:
        return top.find_any(pattern)

    identity_sec = h2(r"^identity\b")
    identity = identity_sec.text() if identity_sec else ""
    vocabulary: list[str] = []
    vm = re.search(r"\*\*Vocabulary\*\*\s*:\s*(.+)", identity)
    if vm:
        vocabulary = [w.strip() for w in vm.group(1).split(",") if w.strip()]
    if identity_sec is None:
        lint.warn(body_first, "no-identity", "card has no '## Identity' section")

    rules: list[Rule] = []
    instr = h2(r"^(?:core\s+)?instructions\b")
    mode_names = list(modes)
    never_rx = r"^(?:never\b|absolute\s+prohibitions?\b|prohibitions?\b|must\s+never\b|hard\s+constraints?\b)"
    if instr is None:
        lint.warn(body_first, "no-instructions", "card has no '## Instructions' section")
    else:
        always_n = 0
        direct = _numbered_items(instr)
        if direct:
            lint.warn(instr.line, "instructions-without-groups",
                      "numbered instructions directly under 'Instructions' read as always rules")
            for _n, ln, txt in direct:
                always_n += 1
                rules.append(Rule(id=f"always.{always_n}", kind="always", number=always_n, text=txt, line=ln,
                                  group=instr.title))
        mode_seen: dict[str, set[int]] = {}
        for sub in instr.walk():
            if re.match(never_rx, sub.title, re.I):
                continue
            canonical_level = sub.level == instr.level + 1
            if re.match(r"^\s*always\b", sub.title, re.I) or re.match(r"^\s*(?:P\d\b|priority\b)", sub.title, re.I):
                is_priority = not re.match(r"^\s*always\b", sub.title, re.I)
                if is_priority:
                    lint.warn(sub.line, "priority-group",
                              f"instruction group '{sub.title}' (by priority) read as always rules")
                elif not canonical_level:
                    lint.warn(sub.line, "heading-level", f"'{sub.title}' is a level-{sub.level} heading")
                for _n, ln, txt in _numbered_items(sub) or [(0, ln, t) for ln, t in _bullets(sub)]:
                    always_n += 1
                    rules.append(Rule(id=f"always.{always_n}", kind="always", number=always_n, text=txt, line=ln,
                                      group=sub.title if is_priority else None))
                continue
            mode = _mode_from_title(sub.title, mode_names)
            if mode is None:
                if _numbered_items(sub):
                    lint.warn(sub.line, "unknown-section", f"unrecognised instructions section '{sub.title}'; "
                              "its rules are not checked")
                continue
            if not canonical_level:
                lint.warn(sub.line, "heading-level", f"'{sub.title}' is a level-{sub.level} heading "
                          f"(canonical: level {instr.level + 1})")
            if mode not in modes:
                lint.warn(sub.line, "unknown-mode-section",
                          f"section '{sub.title}' names mode '{mode}', which cognitive_modes does not define")
            seen = mode_seen.setdefault(mode, set())
            restarted = False
            for n, ln, txt in _numbered_items(sub):
                if n in seen:
                    new_n = max(seen) + 1
                    if not restarted:
                        lint.warn(ln, "numbering-restarts", f"numbered list in '{sub.title}' restarts at {n}; "
                                  f"rules renumbered from {mode}.{new_n}")
                        restarted = True
                    n = new_n
                seen.add(n)
                rules.append(Rule(id=f"{mode}.{n}", kind="mode", mode=mode, number=n, text=txt, line=ln))
        for m in modes:
            if not any(r.mode == m for r in rules):
                lint.warn(instr.line, "mode-without-rules", f"cognitive mode '{m}' has no 'When {m.title()}' rules")

    never_sec = h2(never_rx)
    if never_sec is None:
        lint.warn(body_first, "no-never", "card has no '## Never' (or '## Absolute Prohibitions') section")
    else:
        if not re.match(r"^never\b", never_sec.title, re.I):
            lint.warn(never_sec.line, "never-section-name", f"Never rules read from '{never_sec.title}'")
        items = _bullets(never_sec) or [(ln, t) for (_n, ln, t) in _numbered_items(never_sec)]
        for sub in never_sec.walk():
            items += _bullets(sub) or [(ln, t) for (_n, ln, t) in _numbered_items(sub)]
        for i, (ln, txt) in enumerate(items, start=1):
            rules.append(Rule(id=f"never.{i}", kind="never", number=i, text=txt, line=ln,
                              group=None if never_sec.title.lower().startswith("never") else never_sec.title))

    specializations: dict[str, list[str]] = {}
    spec = h2(r"^speciali[sz]ations?\b")
    if spec is not None:
        for sub in spec.children:
            specializations[sub.title] = [t for _, t in _bullets(sub)]

    envelope: list[EnvelopeField] = []
    layouts: dict[str, Layout] = {}
    of = h2(r"^output\s+format\b") or h2(r"^output\s+standards?\b") or h2(r"^output\b")
    if of is None:
        lint.warn(body_first, "no-output-format", "card has no '## Output Format' section: no envelope to check")
    else:
        if not re.match(r"^output\s+format\b", of.title, re.I):
            lint.warn(of.line, "output-section-name", f"output envelope read from '{of.title}'")
        env_sec = of.find_any(r"envelope") or of
        candidates = [(ln, b, True) for ln, b in _fenced_blocks(env_sec)]
        candidates.append((env_sec.line, "\n".join(t for _, t in _outside_fences(env_sec.lines)), False))
        for sub in of.walk():
            if sub is not env_sec and not re.match(r"^\s*for\s+\w+", sub.title, re.I):
                candidates += [(ln, b, True) for ln, b in _fenced_blocks(sub)]
                candidates.append((sub.line, "\n".join(t for _, t in _outside_fences(sub.lines)), False))
        env_line = of.line
        for ln, blk, fenced in candidates:
            envelope = _parse_envelope(blk)
            if envelope:
                env_line = ln
                if not fenced:
                    lint.warn(ln, "envelope-plain-lines", "output envelope written as plain lines, not a code block")
                break
        if not envelope:
            lint.warn(of.line, "no-envelope", "output section has no envelope of '**Field**: ...' lines")
        else:
            names = [f.name for f in envelope]
            canonical_fields = ["Result", "Confidence", "Uncertainty Factors", "Verification"]
            if names != canonical_fields:
                lint.warn(env_line, "envelope-fields", f"envelope fields differ from the canonical form: "
                          f"{', '.join(names)}")
            conf = OutputFormat(envelope=envelope).confidence_field
            if conf is None or conf.scale == "free":
                lint.warn(env_line, "no-confidence-values",
                          "no envelope field lists allowed values (e.g. 'high | medium | low') or a numeric scale")
            elif conf.scale != "levels":
                lint.warn(env_line, "confidence-scale", f"confidence is written on a {conf.scale} scale "
                          f"({conf.placeholder})")
            for f in envelope:
                if f.sub_items:
                    lint.warn(env_line, "envelope-nested", f"envelope field '{f.name}' has a nested list")
        for sub in of.walk():
            if sub is env_sec:
                continue
            lm = re.match(r"^\s*for\s+(?:the\s+)?([\w-]+)(?:\s+mode)?\b", sub.title, re.I)
            blks = _fenced_blocks(sub)
            if lm:
                lname = lm.group(1).lower()
            elif blks and any(_LAYOUT_H2.match(x) for x in blks[0][1].split("\n")):
                lname = re.split(r"[\s:/-]+", sub.title.strip().lower())[0]
                lint.warn(sub.line, "layout-name", f"layout '{sub.title}' read as the layout for '{lname}'")
            else:
                continue
            if not blks:
                lint.warn(sub.line, "empty-layout", f"'{sub.title}' has no fenced layout block")
                continue
            layout = _parse_layout(lname, blks[0][1], sub.title)
            if lname in layouts:
                continue
            layouts[lname] = layout
            if lname not in ("audit", "solution"):
                lint.warn(sub.line, "layout-custom", f"layout for '{lname}' beyond Audit/Solution")
            if tool_modes and lname not in tool_modes:
                lint.warn(sub.line, "layout-unknown-tool-mode",
                          f"layout for '{lname}' mode but tools define no such mode")

    version = data.get("version", "0.0.0")
    card = AgentCard(
        path=path,
        name=name,
        description=_as_text(data.get("description")),
        model=_as_text(data.get("model")) or "sonnet",
        tier=_as_text(data.get("tier")) or None,
        tool_modes=tool_modes,
        default_tool_mode=default_tool_mode,
        cognitive_modes=modes,
        default_mode=default_mode,
        ensemble_roles=roles,
        default_role=default_role,
        escalation=escalation,
        proactive_triggers=proactive,
        role=_as_text(data.get("role")) or None,
        version=_as_text(version) or "0.0.0",
        title=title,
        identity=identity,
        vocabulary=vocabulary,
        rules=rules,
        specializations=specializations,
        output_format=OutputFormat(envelope=envelope, layouts=layouts),
        body=body.strip("\n"),
        content_hash="sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest(),
        extra_frontmatter=extra,
        lint=sorted(lint.items, key=lambda f: f.line),
    )
    if strict:
        problems = [f for f in card.lint if f.level in ("warning", "error")]
        if problems:
            first_problem = problems[0]
            raise InputError(f"{first_problem.message} (strict mode: lint warnings are errors)", path=path,
                             line=first_problem.line)
    return card


def load_card(path: str | Path, *, strict: bool = False) -> AgentCard:
    """Load and parse an agent card file.

    Args:
        path: the card's markdown file.
        strict: turn every lint warning into an error.

    Returns:
        The parsed :class:`AgentCard`; its ``lint`` lists repaired defects and other warnings.

    Raises:
        InputError: the file is missing, unreadable or malformed (names file, line and field).
    """
    text = read_text_file(path, what="card")
    card = parse_card(text, str(path), strict=strict)
    return card.model_copy(update={"never_screen": load_screen_data(path, card.name)})


def lint_card(path: str | Path) -> list[LintFinding]:
    """Every finding for a card file: warnings from a tolerant load, or the error that stops it."""
    try:
        card = load_card(path)
    except InputError as exc:
        return [LintFinding(path=str(path), line=exc.line or 1, level="error", code="load",
                            message=(f"{exc.field}: " if exc.field else "") + exc.message)]
    return list(card.lint)
