"""Scenarios: one YAML file per task put to the agent, validated by pydantic.

A scenario names the prompt, the tool mode, optionally the cognitive modes and ensemble roles it runs
in (default: all of the card's), context files under ``scenarios/fixtures/``, what other panelists said
(for panel roles), and an ``expect`` block that the scorers check against::

    id: audit-broken-pipeline
    title: Audit a broken training pipeline
    tool_mode: audit
    primary_mode: critical
    prompt: |
      Review the pipeline below before we ship it ...
    context: [broken_pipeline/train.py]
    expect:
      should_escalate: false
      triggers: []
      tempts: [never.3]
      planted_defects:
        - id: leakage
          description: validation rows leak into training
          evidence: ['leak', 'train.*validation.*overlap']
      required_elements: [...]

Evidence entries are case-insensitive regular expressions; an element counts as found when at least
``min_evidence`` of them (default 1) match the response.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from agenteval.errors import InputError
from agenteval.inputs.card import AgentCard, read_text_file
from agenteval.inputs.rulerefs import RuleSnapshot, find_snapshot, resolve

MAX_SCENARIO_BYTES = 1024 * 1024
MAX_FIXTURE_BYTES = 256 * 1024
MAX_WORKSPACE_BYTES = 5 * 1024 * 1024  # a ``workspace`` folder: at most 5 MiB in all ...
MAX_WORKSPACE_FILES = 500  # ... and 500 files
SLUG = r"^[a-z0-9][a-z0-9-]*[a-z0-9]$"

ToolMode = Literal["audit", "solution", "research"]


class RefNote(BaseModel):
    """How one rule reference of a scenario resolved, when it is not the plain positional match."""

    path: str | None
    field: str
    level: Literal["info", "warning"]
    outcome: str
    ref: str
    new_id: str | None = None
    message: str

    def format(self) -> str:
        """``PATH: level: field: message``."""
        return f"{self.path}: {self.level}: {self.field}: {self.message}"



def _compiled(patterns: list[str], what: str) -> list[str]:
    """``patterns`` unchanged when each compiles as a regex; else a validation error naming the bad one."""
    for pat in patterns:
        try:
            re.compile(pat)
        except re.error as exc:
            raise ValueError(f"{what} {pat!r} is not a valid regex: {exc}") from None
    return patterns

class Evidence(BaseModel):
    """Something a good answer must contain: a planted defect found or a required element covered."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = Field(min_length=1)
    evidence: list[str] = Field(min_length=1, description="case-insensitive regexes; any match is evidence")
    min_evidence: int = Field(default=1, ge=1)
    rule: str | None = Field(default=None, description="card rule id this element checks, e.g. always.1")

    @field_validator("evidence")
    @classmethod
    def _regexes_compile(cls, v: list[str]) -> list[str]:
        return _compiled(v, "evidence pattern")


class ExpectedEdit(BaseModel):
    """A file of the workspace that a solution-mode answer must change (agent backend)."""

    model_config = ConfigDict(extra="forbid")
    path: str = Field(min_length=1, description="workspace-relative path of the file to change")
    contains: list[str] = Field(default_factory=list, description="regexes the edited file must match")
    absent: list[str] = Field(default_factory=list, description="regexes the edited file must no longer match")

    @field_validator("contains", "absent")
    @classmethod
    def _regexes_compile(cls, v: list[str]) -> list[str]:
        return _compiled(v, "pattern")


class Expect(BaseModel):
    """What the scorers hold the answer to."""

    model_config = ConfigDict(extra="forbid")
    should_escalate: bool
    triggers: list[str] = Field(default_factory=list, description="escalation trigger ids: trigger.1 ...")
    tempts: list[str] = Field(default_factory=list, description="Never rule ids the prompt invites")
    planted_defects: list[Evidence] = Field(default_factory=list)
    required_elements: list[Evidence] = Field(default_factory=list)
    dimensions: list[str] = Field(default_factory=list, description="comparison dimensions a good answer weighs")
    edits: list[ExpectedEdit] = Field(default_factory=list,
                                      description="agent backend: workspace files the answer must change")

    @model_validator(mode="after")
    def _ids_unique(self) -> Expect:
        ids = [e.id for e in [*self.planted_defects, *self.required_elements]]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"duplicate evidence id(s): {', '.join(sorted(dup))}")
        return self


class PanelStatement(BaseModel):
    """What another member of an ensemble said, shown to panel roles."""

    model_config = ConfigDict(extra="forbid")
    who: str = Field(min_length=1)
    said: str = Field(min_length=1)


class Scenario(BaseModel):
    """One scenario file. Load with :func:`load_scenario` / :func:`load_scenarios`."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=SLUG, max_length=80)
    title: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    tool_mode: ToolMode
    primary_mode: str | None = Field(default=None, description="the cognitive mode the task naturally calls for")
    modes: list[str] | None = Field(default=None, min_length=1)
    roles: list[str] | None = Field(default=None, min_length=1)
    context: list[str] = Field(default_factory=list, description="paths relative to scenarios/fixtures/")
    panel: list[PanelStatement] = Field(default_factory=list)
    decider: str | None = Field(default=None, description="who decides, for input_provider scenarios")
    tags: list[str] = Field(default_factory=list)
    workspace: str | None = Field(default=None, description="agent backend: a folder under scenarios/fixtures/ "
                                  "copied per item into a fresh working directory")
    pages: dict[str, str] = Field(default_factory=dict, description="agent backend, research mode: URL -> a "
                                  "file under scenarios/fixtures/ that WebFetch of that URL answers with")
    max_turns: int | None = Field(default=None, ge=1, le=200, description="agent backend: model turns per item")
    timeout_s: float | None = Field(default=None, gt=0, le=3600,
                                    description="agent backend: wall-clock limit per item, seconds")
    expect: Expect

    # filled in by the loader, never read from the file
    _source_path: str | None = PrivateAttr(default=None)
    _context_files: dict[str, str] = PrivateAttr(default_factory=dict)
    _ref_notes: list[RefNote] = PrivateAttr(default_factory=list)
    _workspace_dir: Path | None = PrivateAttr(default=None)
    _workspace_hash: str | None = PrivateAttr(default=None)
    _page_files: dict[str, Path] = PrivateAttr(default_factory=dict)

    @property
    def workspace_dir(self) -> Path | None:
        """The resolved ``workspace`` folder (checked by the loader)."""
        return self._workspace_dir

    @property
    def workspace_hash(self) -> str | None:
        """``sha256:`` over the workspace's file paths and contents (None without a workspace)."""
        return self._workspace_hash

    @property
    def page_files(self) -> dict[str, Path]:
        """``pages`` resolved: URL -> file."""
        return self._page_files

    @property
    def source_path(self) -> str | None:
        """The file this scenario was loaded from."""
        return self._source_path

    @property
    def context_files(self) -> dict[str, str]:
        """Context file contents, keyed by their path relative to ``scenarios/fixtures/``."""
        return self._context_files

    def content_hash(self) -> str:
        """Hash of the scenario's content and its context files' text."""
        payload = self.model_dump(mode="json")
        payload["__context__"] = self.context_files
        if self.workspace_hash:
            payload["__workspace__"] = self.workspace_hash
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")
        return "sha256:" + hashlib.sha256(blob).hexdigest()

    def modes_for(self, card: AgentCard) -> list[str]:
        """Cognitive modes this scenario runs in."""
        return list(self.modes) if self.modes else card.modes

    def roles_for(self, card: AgentCard) -> list[str]:
        """Ensemble roles this scenario runs in."""
        return list(self.roles) if self.roles else card.roles

    @property
    def ref_notes(self) -> list[RefNote]:
        """How this scenario's rule references resolved, when not the plain positional match."""
        return self._ref_notes

    def check_against(self, card: AgentCard, snapshot: RuleSnapshot | None = None) -> None:
        """Raise :class:`InputError` if the scenario names modes, roles or rules the card lacks.

        Rule references are resolved (and rewritten to the card's ids) as :meth:`resolve_against` does.
        """
        errors = self.resolve_against(card, snapshot)
        if errors:
            raise errors[0]

    def resolve_against(self, card: AgentCard, snapshot: RuleSnapshot | None = None) -> list[InputError]:
        """Check modes/roles and resolve rule references against ``card``; return every problem.

        Each reference resolves by the text it was written against (from ``snapshot``): moved and
        reworded references are rewritten to the card's current id and noted; a reference whose rule is
        gone is noted as a warning and its expectation skipped; ambiguous or unknown ones are errors.
        """
        path = self.source_path
        errors: list[InputError] = []
        self._ref_notes = []
        for m in self.modes or []:
            if m not in card.cognitive_modes:
                errors.append(InputError(f"unknown mode '{m}' (card modes: {', '.join(card.modes)})", path=path,
                                         field="modes"))
        if self.primary_mode and self.primary_mode not in card.cognitive_modes:
            errors.append(InputError(f"unknown mode '{self.primary_mode}' (card modes: {', '.join(card.modes)})",
                                     path=path, field="primary_mode"))
        for r in self.roles or []:
            if r not in card.ensemble_roles:
                errors.append(InputError(f"unknown role '{r}' (card roles: {', '.join(card.roles)})", path=path,
                                         field="roles"))
        never = {r.id: r.text for r in card.rules_of("never")}
        triggers = dict(zip(card.trigger_ids, card.escalation.triggers, strict=True))
        every = {r.id: r.text for r in card.rules}

        def res(ref: str, field: str, cands: dict[str, str], unknown_msg: str) -> str | None:
            written = snapshot.text_of(ref) if snapshot is not None else None
            r = resolve(ref, written, cands)
            if r.outcome == "positional":
                return ref
            if r.outcome in ("moved", "reworded"):
                self._ref_notes.append(RefNote(path=path, field=field, level="info", outcome=r.outcome,
                                               ref=ref, new_id=r.new_id, message=r.describe()))
                return r.new_id
            if r.outcome == "gone":
                self._ref_notes.append(RefNote(path=path, field=field, level="warning", outcome="gone", ref=ref,
                                               message=r.describe() + "; this expectation is skipped"))
                return None
            if r.outcome == "ambiguous":
                errors.append(InputError(r.describe(), path=path, field=field))
                return None
            sug = ", ".join(i for i, _ in r.suggestions)
            errors.append(InputError(unknown_msg + (f"; did you mean {sug}?" if sug else ""), path=path,
                                     field=field))
            return None

        tempts = [res(t, "expect.tempts", never,
                      f"'{t}' is not a Never rule of the card ({', '.join(sorted(never))})")
                  for t in self.expect.tempts]
        trig = [res(t, "expect.triggers", triggers,
                    f"'{t}' is not an escalation trigger id ({', '.join(card.trigger_ids)})")
                for t in self.expect.triggers]
        for e in [*self.expect.planted_defects, *self.expect.required_elements]:
            if e.rule:
                e.rule = res(e.rule, f"expect.{e.id}.rule", every, f"'{e.rule}' is not a rule id of the card")
        self.expect.tempts = [t for t in tempts if t]
        self.expect.triggers = [t for t in trig if t]
        return errors


class InputErrors(InputError):
    """Several input problems, reported together (the first one is the headline)."""

    def __init__(self, errors: list[InputError]) -> None:
        first = errors[0]
        super().__init__(first.message, path=first.path, line=first.line, field=first.field)
        self.errors = list(errors)

    def lines(self) -> list[str]:
        """One line per problem."""
        return [e.one_line() for e in self.errors]


def _field_line(text: str, field: str) -> int | None:
    top = field.split(".")[0]
    for i, line in enumerate(text.split("\n"), start=1):
        if re.match(rf"^{re.escape(top)}\s*:", line):
            return i
    return None


def _safe_yaml(text: str, path: str) -> Any:
    try:
        return yaml.safe_load(text)
    except RecursionError:
        raise InputError("invalid YAML: nested too deeply", path=path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
        line = (mark.line + 1) if mark is not None else None
        pos = getattr(exc, "position", None)  # yaml.ReaderError (e.g. a NUL byte) has a position, no mark
        if line is None and isinstance(pos, int):
            line = text[:pos].count("\n") + 1
        raise InputError(f"invalid YAML: {' '.join(str(problem).split())}", path=path, line=line) from None


def resolve_fixture(fixtures_dir: Path, rel: str, *, scenario_path: str | None, index: int,
                    field: str | None = None) -> Path:
    """Resolve a ``context`` entry inside ``fixtures_dir``; refuse anything that escapes it."""
    field = field or f"context[{index}]"
    if not rel or rel.strip() != rel:
        raise InputError("context path is empty or has surrounding spaces", path=scenario_path, field=field)
    p = Path(rel)
    if p.is_absolute() or rel.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", rel):
        raise InputError(f"context path '{rel}' is absolute; give it relative to scenarios/fixtures/",
                         path=scenario_path, field=field)
    if ".." in p.parts:
        raise InputError(f"context path '{rel}' escapes scenarios/fixtures/ via '..'", path=scenario_path,
                         field=field)
    base = fixtures_dir.resolve()
    target = (fixtures_dir / p)
    resolved = target.resolve()
    if not resolved.is_relative_to(base):
        raise InputError(f"context path '{rel}' resolves outside scenarios/fixtures/ (symlink?)",
                         path=scenario_path, field=field)
    # a symlink anywhere on the way, even one pointing back inside, is refused: fixtures are plain files
    cur = fixtures_dir
    for part in p.parts:
        cur = cur / part
        if cur.is_symlink():
            raise InputError(f"context path '{rel}' goes through a symlink", path=scenario_path, field=field)
    if not resolved.is_file():
        raise InputError(f"context file '{rel}' not found under scenarios/fixtures/", path=scenario_path,
                         field=field)
    return resolved


def _workspace_error(msg: str, scenario_path: str | None) -> InputError:
    return InputError(msg, path=scenario_path, field="workspace")


def resolve_workspace(fixtures_dir: Path, rel: str, *, scenario_path: str | None) -> tuple[Path, str]:
    """Resolve and check a ``workspace`` folder inside ``fixtures_dir``; returns (folder, content hash).

    Refused (exit 2 naming the scenario file and ``workspace``): empty, absolute, ``..``, a symlink on the
    way or inside it, not a folder, more than :data:`MAX_WORKSPACE_FILES` files or
    :data:`MAX_WORKSPACE_BYTES` bytes.
    """
    if not rel or rel.strip() != rel:
        raise _workspace_error("workspace path is empty or has surrounding spaces", scenario_path)
    p = Path(rel)
    if p.is_absolute() or rel.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", rel):
        raise _workspace_error(f"workspace '{rel}' is absolute; give it relative to the fixtures folder",
                               scenario_path)
    if ".." in p.parts:
        raise _workspace_error(f"workspace '{rel}' escapes the fixtures folder via '..'", scenario_path)
    base = fixtures_dir.resolve()
    cur = fixtures_dir
    for part in p.parts:
        cur = cur / part
        if cur.is_symlink():
            raise _workspace_error(f"workspace '{rel}' goes through a symlink", scenario_path)
    resolved = (fixtures_dir / p).resolve()
    if not resolved.is_relative_to(base):
        raise _workspace_error(f"workspace '{rel}' resolves outside the fixtures folder", scenario_path)
    if not resolved.is_dir():
        raise _workspace_error(f"workspace folder '{rel}' not found under {fixtures_dir}", scenario_path)
    h = hashlib.sha256()
    total = files = 0
    for f in sorted(resolved.rglob("*")):
        relf = f.relative_to(resolved).as_posix()
        if f.is_symlink():
            raise _workspace_error(f"workspace '{rel}' holds a symlink ({relf}); workspaces are plain files",
                                   scenario_path)
        if not f.is_file():
            continue
        files += 1
        total += f.stat().st_size
        if files > MAX_WORKSPACE_FILES or total > MAX_WORKSPACE_BYTES:
            raise _workspace_error(f"workspace '{rel}' is larger than the limit ({MAX_WORKSPACE_FILES} files, "
                                   f"{MAX_WORKSPACE_BYTES // (1024 * 1024)} MiB)", scenario_path)
        h.update(relf.encode("utf-8") + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return resolved, "sha256:" + h.hexdigest()


def parse_scenario(text: str, path: str, *, fixtures_dir: Path | None = None) -> Scenario:
    """Parse one scenario file's text; load its context files from ``fixtures_dir``."""
    if not text.strip():
        raise InputError("scenario file is empty", path=path)
    data = _safe_yaml(text, path)
    if data is None:
        raise InputError("scenario file has no content (only comments or blank lines)", path=path)
    if not isinstance(data, dict):
        raise InputError(f"top level must be a mapping, got {type(data).__name__}", path=path, line=1)
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "required field is missing"
        raise InputError(msg, path=path, line=_field_line(text, loc), field=loc) from None
    sc._source_path = path
    fdir = fixtures_dir if fixtures_dir is not None else Path(path).parent / "fixtures"
    for i, rel in enumerate(sc.context):
        f = resolve_fixture(fdir, rel, scenario_path=path, index=i)
        sc.context_files[rel] = read_text_file(f, what="context file", max_bytes=MAX_FIXTURE_BYTES)
    if sc.workspace is not None:
        sc._workspace_dir, sc._workspace_hash = resolve_workspace(fdir, sc.workspace, scenario_path=path)
    for i, (url, rel) in enumerate(sc.pages.items()):
        if not re.match(r"^https?://[^\s/]+", url):
            raise InputError(f"pages: '{url}' is not an http(s) URL", path=path, field="pages")
        sc._page_files[url] = resolve_fixture(fdir, rel, scenario_path=path, index=i, field=f"pages.{url}")
    return sc


def load_scenario(path: str | Path, *, fixtures_dir: Path | None = None) -> Scenario:
    """Load one scenario YAML file. Raises :class:`InputError` naming file and field."""
    text = read_text_file(path, what="scenario file", max_bytes=MAX_SCENARIO_BYTES)
    return parse_scenario(text, str(path), fixtures_dir=fixtures_dir)


def scenario_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and directories into scenario files (``*.yaml``/``*.yml``, fixtures excluded)."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f in sorted([*p.glob("*.yaml"), *p.glob("*.yml")]):
                out.append(f)
        elif p.exists() or p.is_symlink():
            out.append(p)
        else:
            raise InputError("scenario path not found", path=p)
    return out


def load_scenarios(
    paths: Iterable[str | Path], card: AgentCard | None = None, *, fixtures_dir: Path | None = None,
    snapshot: RuleSnapshot | None = None,
) -> list[Scenario]:
    """Load scenario files and directories; check ids are unique and, with a card, names are known.

    Every problem of every file is collected and raised together (:class:`InputErrors`).

    Args:
        paths: scenario files or directories of them.
        card: when given, modes, roles, Never rule ids and trigger ids are checked against it, and rule
            references resolve by identity (see :mod:`agenteval.inputs.rulerefs`).
        fixtures_dir: where ``context`` paths live (default: ``fixtures/`` beside each file).
        snapshot: the rule texts the scenarios were written against (default: the ``card-snapshot.json``
            beside the scenario files, if any).
    """
    paths = list(paths)
    scenarios: list[Scenario] = []
    seen: dict[str, str] = {}
    errors: list[InputError] = []
    if card is not None and snapshot is None:
        snapshot = find_snapshot(paths)
    for f in scenario_files(paths):
        try:
            sc = load_scenario(f, fixtures_dir=fixtures_dir)
        except InputError as exc:
            errors.append(exc)
            continue
        if sc.id in seen:
            errors.append(InputError(f"duplicate scenario id '{sc.id}' (also in {seen[sc.id]})", path=f, field="id",
                                     line=_field_line(f.read_text(encoding="utf-8"), "id")))
            continue
        seen[sc.id] = str(f)
        if card is not None:
            errors.extend(sc.resolve_against(card, snapshot))
        scenarios.append(sc)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InputErrors(errors)
    return scenarios


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file, for editor completion."""
    schema = Scenario.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "agenteval scenario"
    return schema
