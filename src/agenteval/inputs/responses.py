"""Answers produced elsewhere, and labelled (golden) answers: the one reader of each file format.

``agenteval score`` reads :class:`ResponseLine` files; ``golden/*/*.jsonl`` adds labels
(:class:`GoldenLine`). :func:`read_golden` validates one file strictly (the repo's own sets);
:func:`load_labelled` reads a file or folder for ``validate-scorers``, skipping bad lines with a warning.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agenteval.errors import InputError
from agenteval.fileio import read_jsonl_numbered

MAX_RESPONSES_BYTES = 512 * 1024 * 1024


class ResponseLine(BaseModel):
    """One input line of ``agenteval score`` (and of the golden set, which adds labels)."""

    model_config = ConfigDict(extra="allow")
    id: str
    scenario_id: str
    mode: str
    role: str
    tool_mode: str | None = None
    response: str | None
    task: str | None = Field(default=None, description="what the agent was asked, when no loaded scenario says it")


def read_responses(path: str | Path, card: Any = None) -> list[ResponseLine]:
    """Read and validate a responses JSONL file (errors name file, line and field).

    With ``card``, every line's ``mode`` and ``role`` must be one the card defines.
    """
    p = Path(path)
    if p.is_file() and p.stat().st_size > MAX_RESPONSES_BYTES:
        raise InputError(f"file is too large (limit {MAX_RESPONSES_BYTES} bytes)", path=p)
    out: list[ResponseLine] = []
    seen: set[str] = set()
    for i, row in read_jsonl_numbered(p):
        try:
            line = ResponseLine.model_validate(row)
        except ValidationError as exc:
            err = exc.errors()[0]
            msg = "required field is missing" if err["type"] == "missing" else err["msg"]
            raise InputError(msg, path=p, line=i, field=".".join(str(x) for x in err["loc"])) from None
        if line.id in seen:
            raise InputError(f"duplicate id '{line.id}'", path=p, line=i, field="id")
        if card is not None and line.mode not in card.cognitive_modes:
            raise InputError(f"unknown mode '{line.mode}' (card modes: {', '.join(card.modes)})", path=p,
                             line=i, field="mode")
        if card is not None and line.role not in card.ensemble_roles:
            raise InputError(f"unknown role '{line.role}' (card roles: {', '.join(card.roles)})", path=p,
                             line=i, field="role")
        seen.add(line.id)
        out.append(line)
    return out


class GoldenLabels(BaseModel):
    """Expected check outcomes of one golden item (names and meanings: docs/scoring-contract.md)."""

    model_config = ConfigDict(extra="forbid")
    envelope_ok: bool
    envelope_loose_ok: bool
    confidence_level: str | None
    escalated: bool
    never_violations: list[str]
    layout_ok: bool | None = None
    mode_adherence: bool | None = None
    role_adherence: bool | None = None
    elements_found: list[str] | None = None


class GoldenLine(ResponseLine):
    """One line of ``golden/labelled/*.jsonl``: a response line plus its labels and their rationale."""

    model_config = ConfigDict(extra="forbid")
    tool_mode: str | None
    response: str
    labels: GoldenLabels
    rationale: dict[str, str]


def read_golden(path: str | Path) -> list[GoldenLine]:
    """Read one golden labelled file strictly: every line a valid :class:`GoldenLine` (errors name file, line
    and field). The same reader as :func:`load_labelled`, with bad lines as errors instead of warnings."""
    p = Path(path)
    items, _, _ = load_labelled(p, strict=True)
    out: list[GoldenLine] = []
    for d in items:
        row = {k: v for k, v in d.items() if k not in ("_file", "_line")}
        try:
            out.append(GoldenLine.model_validate(row))
        except ValidationError as exc:
            err = exc.errors()[0]
            raise InputError(err["msg"], path=p, line=d["_line"],
                             field=".".join(str(x) for x in err["loc"])) from None
    return out


def load_labelled(labels: str | Path, *, strict: bool = False) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """The one golden loader: items from a ``.jsonl`` file or a directory of them.

    Each item is the line's object plus ``_file`` and ``_line``. A line that is not JSON or lacks ``response`` or
    ``labels`` is skipped with a warning (``strict``: an :class:`InputError` naming file and line).
    Returns (items, files read, warnings about skipped lines).
    """
    p = Path(labels)
    if p.is_dir():
        files = sorted(p.glob("*.jsonl"))
    elif p.exists():
        files = [p]
    else:
        raise InputError("labels path not found", path=p)
    items: list[dict[str, Any]] = []
    warnings: list[str] = []

    def bad(f: Path, i: int | None, why: str) -> None:
        if strict:
            raise InputError(why, path=f, line=i)
        warnings.append(f"{f}:{i}: {why}" if i else f"{f}: {why}")

    for f in files:
        try:
            lines = f.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            bad(f, None, f"unreadable ({exc})")
            continue
        for i, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as exc:
                bad(f, i, f"not JSON ({exc.msg})")
                continue
            if not isinstance(d, dict) or not isinstance(d.get("labels"), dict) or "response" not in d:
                bad(f, i, "missing 'response' or 'labels'")
                continue
            if not strict:
                d.setdefault("id", f"{f.stem}:{i}")
            d["_file"] = f.name
            d["_line"] = i
            items.append(d)
    return items, [str(f) for f in files], warnings
