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
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
    """A thinking mode the card defines (``generative``, ``critical`` ...)."""

    model_config = ConfigDict(extra="allow")
    mindset: str = ""
    output: str = ""


class Escalation(BaseModel):
    """When and to whom the agent must hand off."""

    model_config = ConfigDict(extra="allow")
    confidence_threshold: float = Field(ge=0.0, le=1.0)
    escalate_to: str
    triggers: list[str] = Field(default_factory=list)


class Rule(BaseModel):
    """An instruction of the card with a stable id (``always.1``, ``never.3``, ``critical.11``)."""

    id: str
    kind: Literal["always", "mode", "never"]
    mode: str | None = None
    number: int
    text: str
    line: int


class EnvelopeField(BaseModel):
    """A field of the required output envelope, e.g. ``**Confidence**: high | medium | low``."""

    name: str
    placeholder: str
    allowed_values: list[str] = Field(default_factory=list)


class LayoutSection(BaseModel):
    """A ``##`` section of a mode layout, with the item template it contains if any."""

    name: str
    item_heading: str | None = None  # e.g. "### [CRITICAL] {Finding Title}"
    item_fields: list[str] = Field(default_factory=list)  # e.g. Location, Issue, Impact, Recommendation
    severities: list[str] = Field(default_factory=list)  # severities shown in the template


class Layout(BaseModel):
    """A required answer layout (``For Audit Mode``, ``For Solution Mode``)."""

    name: str  # lower-case tool mode, e.g. "audit"
    sections: list[LayoutSection]

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
        """The field carrying the confidence level: named Confidence, else the one with alternatives."""
        for f in self.envelope:
            if f.name.lower() == "confidence":
                return f
        for f in self.envelope:
            if f.allowed_values:
                return f
        return None


class Frontmatter(BaseModel):
    """The YAML frontmatter of a card. Unknown keys are kept (and linted), not rejected."""

    model_config = ConfigDict(extra="allow")
    name: str
    description: str = ""
    model: str = "sonnet"
    tier: str | None = None
    tools: dict[str, Any] = Field(default_factory=dict)
    cognitive_modes: dict[str, Any]
    ensemble_roles: dict[str, Any]
    escalation: Escalation
    role: str | None = None
    load_bearing: bool | None = None
    proactive_triggers: list[str] = Field(default_factory=list)
    version: str = "0.0.0"


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
        """Rules of one kind (``always``, ``never``, ``mode``), optionally of one mode."""
        return [r for r in self.rules if r.kind == kind and (mode is None or r.mode == mode)]

    @property
    def trigger_ids(self) -> list[str]:
        """Escalation trigger ids, ``trigger.1`` ... in card order."""
        return [f"trigger.{i}" for i in range(1, len(self.escalation.triggers) + 1)]


# --------------------------------------------------------------------------- parsing helpers

_KEY_WITH_INLINE_ITEM = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_][\w-]*):[ \t]+-[ \t]+(?P<item>.+)$")


def _split_frontmatter(text: str, path: str) -> tuple[list[str], int, str, int]:
    """Return (frontmatter lines, first frontmatter line number, body, body first line number)."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise InputError("card has no YAML frontmatter (expected '---' on line 1)", path=path, line=1)
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return lines[1:i], 2, "\n".join(lines[i + 1 :]), i + 2
    raise InputError("card frontmatter is not closed by a '---' line", path=path, line=1)


def _parse_frontmatter(
    fm_lines: list[str], first_line: int, path: str, lint: list[LintFinding]
) -> dict[str, Any]:
    """Parse the frontmatter, repairing the known ``key:  - item`` defect with a lint warning."""
    text = "\n".join(fm_lines)
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise InputError("frontmatter is not valid YAML: nested too deeply", path=path,
                         line=first_line) from None
    except yaml.YAMLError as exc:
        repaired: list[str] = []
        fixed_lines: list[int] = []
        for idx, line in enumerate(fm_lines):
            m = _KEY_WITH_INLINE_ITEM.match(line)
            if m:
                indent = m.group("indent")
                repaired.append(f"{indent}{m.group('key')}:")
                repaired.append(f"{indent}  - {m.group('item')}")
                fixed_lines.append(first_line + idx)
            else:
                repaired.append(line)
        if not fixed_lines:
            raise InputError(f"frontmatter is not valid YAML: {_yaml_problem(exc)}", path=path,
                             line=_yaml_line(exc, first_line)) from None
        try:
            data = yaml.safe_load("\n".join(repaired))
        except yaml.YAMLError as exc2:
            raise InputError(f"frontmatter is not valid YAML: {_yaml_problem(exc2)}", path=path,
                             line=_yaml_line(exc, first_line)) from None
        for ln in fixed_lines:
            lint.append(LintFinding(
                path=path, line=ln, level="warning", code="frontmatter-inline-list-item",
                message="list item written on its key's line (invalid YAML); repaired as a block list",
            ))
    if not isinstance(data, dict):
        raise InputError("frontmatter must be a YAML mapping", path=path, line=first_line)
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
    return " ".join(str(problem).split())


def _yaml_line(exc: yaml.YAMLError, first_line: int) -> int:
    mark = getattr(exc, "problem_mark", None)
    return first_line + mark.line if mark is not None else first_line


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


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _sections(body: str, first_line: int) -> _Section:
    """Build a heading tree of the markdown body, ignoring headings inside fenced code blocks."""
    root = _Section(level=0, title="", line=first_line, lines=[])
    stack = [root]
    in_fence = False
    for offset, raw in enumerate(body.split("\n")):
        ln = first_line + offset
        stripped = raw.strip()
        if stripped.startswith("```") or stripped.startswith("~~~"):
            in_fence = not in_fence
        m = None if in_fence else _HEADING.match(raw)
        if m and not stripped.startswith("```"):
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


def _numbered_items(sec: _Section) -> list[tuple[int, int, str]]:
    """(number as written, line, text) of a numbered list; continuation lines are joined."""
    items: list[tuple[int, int, str]] = []
    for ln, t in sec.lines:
        m = _NUMBERED.match(t)
        if m:
            items.append((int(m.group(1)), ln, m.group(2)))
        elif items and t.strip() and t.startswith((" ", "\t")):
            n, l0, txt = items[-1]
            items[-1] = (n, l0, txt + " " + t.strip())
    return items


def _bullets(sec: _Section) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for ln, t in sec.lines:
        m = _BULLET.match(t)
        if m:
            out.append((ln, m.group(1)))
        elif out and t.strip() and t.startswith((" ", "\t")):
            l0, txt = out[-1]
            out[-1] = (l0, txt + " " + t.strip())
    return out


def _fenced_blocks(sec: _Section) -> list[tuple[int, str]]:
    """(line of the opening fence, content) of each fenced block directly in the section."""
    blocks: list[tuple[int, str]] = []
    cur: list[str] | None = None
    start = 0
    for ln, t in sec.lines:
        if t.strip().startswith(("```", "~~~")):
            if cur is None:
                cur, start = [], ln
            else:
                blocks.append((start, "\n".join(cur)))
                cur = None
        elif cur is not None:
            cur.append(t)
    return blocks


_ENV_FIELD = re.compile(r"^\s*\*\*(?P<name>[^*]+?)\*\*\s*:\s*(?P<ph>.*)$")
_LAYOUT_H2 = re.compile(r"^##\s+(.+?)\s*$")
_LAYOUT_H3 = re.compile(r"^###\s+(.+?)\s*$")
_LAYOUT_FIELD = re.compile(r"^\s*[-*]\s+\*\*(?P<name>[^*]+?)\*\*\s*:")
_SEVERITY = re.compile(r"\[([A-Z]+)\]")


def _parse_envelope(block: str) -> list[EnvelopeField]:
    fields: list[EnvelopeField] = []
    for line in block.split("\n"):
        m = _ENV_FIELD.match(line)
        if not m:
            continue
        ph = m.group("ph").strip()
        allowed: list[str] = []
        if "|" in ph and not ph.startswith("{"):
            allowed = [v.strip() for v in ph.split("|") if v.strip()]
        fields.append(EnvelopeField(name=m.group("name").strip(), placeholder=ph, allowed_values=allowed))
    return fields


def _parse_layout(name: str, block: str) -> Layout:
    sections: list[LayoutSection] = []
    for line in block.split("\n"):
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
    return Layout(name=name, sections=sections)


def _mode_from_title(title: str, modes: list[str]) -> str | None:
    m = re.match(r"^\s*when\s+(.+?)\s*$", title, re.I)
    if not m:
        return None
    word = m.group(1).strip().lower().replace(" ", "_")
    return word


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


def parse_card(text: str, path: str = "<card>", *, strict: bool = False) -> AgentCard:
    """Parse card text. See :func:`load_card`."""
    text = text.replace("\r\n", "\n")
    if text.startswith("\ufeff"):
        text = text[1:]
    lint: list[LintFinding] = []
    fm_lines, fm_first, body, body_first = _split_frontmatter(text, path)
    data = _parse_frontmatter(fm_lines, fm_first, path, lint)

    def fm_line(key: str) -> int:
        for i, ln in enumerate(fm_lines):
            if re.match(rf"^{re.escape(key)}\s*:", ln):
                return fm_first + i
        return fm_first

    try:
        fm = Frontmatter.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise InputError(err["msg"], path=path, line=fm_line(str(err["loc"][0])), field=loc) from None
    known = set(Frontmatter.model_fields)
    for key in (fm.model_extra or {}):
        if key not in known:
            lint.append(LintFinding(path=path, line=fm_line(key), level="warning", code="unknown-key",
                                    message=f"unknown frontmatter key '{key}'"))

    def split_default(d: dict[str, Any], what: str) -> tuple[dict[str, Any], str]:
        entries = {k: v for k, v in d.items() if k != "default"}
        if not entries:
            raise InputError(f"{what} defines no entries", path=path, line=fm_line(what), field=what)
        default = d.get("default", next(iter(entries)))
        if default not in entries:
            raise InputError(f"default '{default}' is not one of {sorted(entries)}", path=path,
                             line=fm_line(what), field=f"{what}.default")
        return entries, str(default)

    modes_raw, default_mode = split_default(fm.cognitive_modes, "cognitive_modes")
    modes: dict[str, CognitiveMode] = {}
    for k, v in modes_raw.items():
        if isinstance(v, str):
            v = {"mindset": v}
        if not isinstance(v, dict):
            raise InputError("a cognitive mode must be a mapping with mindset/output", path=path,
                             line=fm_line("cognitive_modes"), field=f"cognitive_modes.{k}")
        try:
            modes[str(k)] = CognitiveMode.model_validate(v)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(["cognitive_modes", str(k), *(str(x) for x in err["loc"])])
            raise InputError(err["msg"], path=path, line=fm_line("cognitive_modes"), field=loc) from None
    roles_raw, default_role = split_default(fm.ensemble_roles, "ensemble_roles")
    for k, v in roles_raw.items():
        if not isinstance(v, str):
            raise InputError(f"a role description must be a string, got {type(v).__name__}", path=path,
                             line=fm_line("ensemble_roles"), field=f"ensemble_roles.{k}")
    roles = {str(k): v for k, v in roles_raw.items()}

    tool_modes: dict[str, list[str]] = {}
    default_tool_mode = None
    for k, v in fm.tools.items():
        if k == "default_mode":
            default_tool_mode = str(v)
        elif isinstance(v, str):
            tool_modes[str(k)] = [t.strip() for t in v.split(",") if t.strip()]
        elif isinstance(v, list):
            tool_modes[str(k)] = [str(t) for t in v]

    # ---- body
    root = _sections(body, body_first)
    title_sec = next((c for c in root.children if c.level == 1), None)
    top = title_sec if title_sec is not None else root
    title = title_sec.title if title_sec else fm.name

    def h2(pattern: str) -> _Section | None:
        return top.find(pattern)

    identity_sec = h2(r"^identity\b")
    identity = identity_sec.text() if identity_sec else ""
    vocabulary: list[str] = []
    vm = re.search(r"\*\*Vocabulary\*\*\s*:\s*(.+)", identity)
    if vm:
        vocabulary = [w.strip() for w in vm.group(1).split(",") if w.strip()]
    if identity_sec is None:
        lint.append(LintFinding(path=path, line=body_first, level="warning", code="no-identity",
                                message="card has no '## Identity' section"))

    rules: list[Rule] = []
    instr = h2(r"^instructions\b")
    mode_names = list(modes)
    if instr is None:
        lint.append(LintFinding(path=path, line=body_first, level="warning", code="no-instructions",
                                message="card has no '## Instructions' section"))
    else:
        for sub in instr.children:
            if re.match(r"^\s*always\b", sub.title, re.I):
                for i, (_n, ln, txt) in enumerate(_numbered_items(sub), start=1):
                    rules.append(Rule(id=f"always.{i}", kind="always", number=i, text=txt, line=ln))
                continue
            mode = _mode_from_title(sub.title, mode_names)
            if mode is None:
                lint.append(LintFinding(path=path, line=sub.line, level="warning", code="unknown-section",
                                        message=f"unrecognised instructions section '{sub.title}'"))
                continue
            if mode not in modes:
                lint.append(LintFinding(
                    path=path, line=sub.line, level="warning", code="unknown-mode-section",
                    message=f"section '{sub.title}' names mode '{mode}', which cognitive_modes does not define",
                ))
            seen: set[int] = set()
            for n, ln, txt in _numbered_items(sub):
                if n in seen:
                    lint.append(LintFinding(path=path, line=ln, level="warning", code="duplicate-rule-number",
                                            message=f"rule number {n} repeats in '{sub.title}'"))
                    continue
                seen.add(n)
                rules.append(Rule(id=f"{mode}.{n}", kind="mode", mode=mode, number=n, text=txt, line=ln))
        for m in modes:
            if not any(r.mode == m for r in rules):
                lint.append(LintFinding(path=path, line=instr.line, level="warning", code="mode-without-rules",
                                        message=f"cognitive mode '{m}' has no 'When {m.title()}' rules"))

    never_sec = h2(r"^never\b")
    if never_sec is None:
        lint.append(LintFinding(path=path, line=body_first, level="warning", code="no-never",
                                message="card has no '## Never' section"))
    else:
        items = _bullets(never_sec) or [(ln, t) for (_n, ln, t) in _numbered_items(never_sec)]
        for i, (ln, txt) in enumerate(items, start=1):
            rules.append(Rule(id=f"never.{i}", kind="never", number=i, text=txt, line=ln))

    specializations: dict[str, list[str]] = {}
    spec = h2(r"^speciali[sz]ations?\b")
    if spec is not None:
        for sub in spec.children:
            specializations[sub.title] = [t for _, t in _bullets(sub)]

    of = h2(r"^output\s+format\b")
    if of is None:
        raise InputError("card has no '## Output Format' section", path=path, line=body_first,
                         field="Output Format")
    env_sec = of.find(r"envelope") or of
    blocks = _fenced_blocks(env_sec)
    envelope: list[EnvelopeField] = []
    for _ln, blk in blocks:
        envelope = _parse_envelope(blk)
        if envelope:
            break
    if not envelope:
        raise InputError("Output Format has no envelope block of '**Field**: ...' lines", path=path,
                         line=of.line, field="Output Format.envelope")
    conf_fields = [f for f in envelope if f.allowed_values]
    if not conf_fields:
        lint.append(LintFinding(path=path, line=of.line, level="warning", code="no-confidence-values",
                                message="no envelope field lists allowed values (e.g. 'high | medium | low')"))
    layouts: dict[str, Layout] = {}
    for sub in of.children:
        lm = re.match(r"^\s*for\s+(\w+)\s+mode\b", sub.title, re.I)
        if not lm:
            continue
        blks = _fenced_blocks(sub)
        if not blks:
            lint.append(LintFinding(path=path, line=sub.line, level="warning", code="empty-layout",
                                    message=f"'{sub.title}' has no fenced layout block"))
            continue
        layout = _parse_layout(lm.group(1).lower(), blks[0][1])
        layouts[layout.name] = layout
        if tool_modes and layout.name not in tool_modes:
            lint.append(LintFinding(path=path, line=sub.line, level="warning", code="layout-unknown-tool-mode",
                                    message=f"layout for '{layout.name}' mode but tools define no such mode"))

    if fm.escalation.escalate_to.strip() == "":
        raise InputError("escalate_to is empty", path=path, line=fm_line("escalation"),
                         field="escalation.escalate_to")

    card = AgentCard(
        path=path,
        name=fm.name,
        description=fm.description,
        model=fm.model,
        tier=fm.tier,
        tool_modes=tool_modes,
        default_tool_mode=default_tool_mode,
        cognitive_modes=modes,
        default_mode=default_mode,
        ensemble_roles=roles,
        default_role=default_role,
        escalation=fm.escalation,
        proactive_triggers=[str(t) for t in fm.proactive_triggers],
        role=fm.role,
        version=str(fm.version),
        title=title,
        identity=identity,
        vocabulary=vocabulary,
        rules=rules,
        specializations=specializations,
        output_format=OutputFormat(envelope=envelope, layouts=layouts),
        body=body.strip("\n"),
        content_hash="sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest(),
        lint=sorted(lint, key=lambda f: f.line),
    )
    if strict:
        problems = [f for f in card.lint if f.level in ("warning", "error")]
        if problems:
            f = problems[0]
            raise InputError(f"{f.message} (strict mode: lint warnings are errors)", path=path, line=f.line)
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
