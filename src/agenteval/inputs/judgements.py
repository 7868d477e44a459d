"""Recorded judge verdicts (``golden/judgements/*.jsonl``) and exported judge requests: models and readers.

An exported request line (``agenteval judge export``) is ``{"id", "request_hash", "request"}``: ``request``
is the exact keyword arguments of the live judge's ``messages.create`` call. A verdict line to import is
``{"request_hash", "verdicts": {KEY: {"reason", "verdict": "pass"|"fail"}}}``. An imported (recorded) line
adds its provenance: who produced it, how, with which model, when. Replay matches recorded verdicts to a
response by the hash of its judge request only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agenteval.errors import InputError
from agenteval.fileio import read_jsonl_numbered


class JudgeRequestLine(BaseModel):
    """One line of an exported requests file."""

    model_config = ConfigDict(extra="forbid")
    id: str
    request_hash: str
    request: dict[str, Any]


class Verdict(BaseModel):
    """The judge's answer on one rubric."""

    model_config = ConfigDict(extra="forbid")
    reason: str
    verdict: str = Field(pattern="^(pass|fail)$")


class VerdictLine(BaseModel):
    """One line of a verdicts file to import."""

    model_config = ConfigDict(extra="allow")
    request_hash: str
    verdicts: dict[str, Verdict]


class Judgement(BaseModel):
    """One recorded verdict set, with provenance (a line of ``golden/judgements/*.jsonl``)."""

    model_config = ConfigDict(extra="forbid")
    request_hash: str
    id: str | None = Field(default=None, description="the response id the request was exported for")
    verdicts: dict[str, Verdict]
    producer: str
    method: str
    model: str | None = None
    imported_at: str


def _validate(model: type[BaseModel], row: dict[str, Any], path: Path, line: int) -> Any:
    try:
        return model.model_validate(row)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = "required field is missing" if err["type"] == "missing" else err["msg"]
        raise InputError(msg, path=path, line=line, field=".".join(str(x) for x in err["loc"])) from None


def read_requests(path: str | Path) -> list[tuple[int, JudgeRequestLine]]:
    """An exported requests file, each line with its number."""
    p = Path(path)
    return [(i, _validate(JudgeRequestLine, row, p, i)) for i, row in read_jsonl_numbered(p)]


def read_verdict_lines(path: str | Path) -> list[tuple[int, VerdictLine]]:
    """A verdicts file to import, each line with its number (a non-JSON line is an error naming it)."""
    p = Path(path)
    return [(i, _validate(VerdictLine, row, p, i)) for i, row in read_jsonl_numbered(p)]


def load_judgements(folder: str | Path) -> dict[str, Judgement]:
    """Every recorded verdict under ``folder`` by request hash (a later import of the same hash wins).

    A missing folder is an empty book (replay then has no verdicts: every item is ``judge_missing``).
    """
    root = Path(folder)
    book: dict[str, Judgement] = {}
    if not root.is_dir():
        if root.exists():
            raise InputError("judgements path is not a folder", path=root)
        return book
    for f in sorted(root.glob("*.jsonl")):
        for i, row in read_jsonl_numbered(f):
            j: Judgement = _validate(Judgement, row, f, i)
            old = book.get(j.request_hash)
            if old is None or j.imported_at >= old.imported_at:
                book[j.request_hash] = j
    return book
