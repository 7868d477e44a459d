"""Errors that the CLI turns into one-line messages and exit codes.

Every error caused by bad input names the file and, where known, the line or field, so that
``agenteval`` can print ``PATH[:LINE]: field: message`` and exit 2 without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class AgentEvalError(Exception):
    """Base class of every error agenteval raises on purpose."""

    exit_code = 2


class InputError(AgentEvalError):
    """Bad input: a malformed, missing or unreadable file, or an invalid value in one.

    Args:
        message: what is wrong, in one line.
        path: the file at fault, if any.
        line: the 1-based line in that file, if known.
        field: the dotted field name at fault, if known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = " ".join(str(message).split())
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The error as ``PATH[:LINE]: [field: ]message`` on a single line."""
        where = ""
        if self.path:
            where = self.path + (f":{self.line}" if self.line else "") + ": "
        fld = f"{self.field}: " if self.field else ""
        return f"{where}{fld}{self.message}"


class UsageError(AgentEvalError):
    """Bad command-line usage (unknown flag value, conflicting options)."""


def did_you_mean(word: str, candidates: list[str] | tuple[str, ...] | set[str]) -> str:
    """`` (did you mean 'x'?)`` naming the closest candidates (difflib), or an empty string."""
    import difflib

    scored = sorted(((difflib.SequenceMatcher(None, word, c).ratio(), c) for c in dict.fromkeys(candidates)),
                    key=lambda t: (-t[0], t[1]))
    close = [c for r, c in scored if r >= 0.6 and r >= scored[0][0] - 0.1][:3] if scored else []
    return (" (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)") if close else ""


class RunLockedError(AgentEvalError):
    """A run directory is already being written by another process."""


class ResultsDirError(AgentEvalError):
    """The results directory cannot be written (unwritable, disk full)."""


class ReportError(AgentEvalError):
    """A run finished and was scored, but its report could not be written (the cause is in the message)."""

    exit_code = 1
