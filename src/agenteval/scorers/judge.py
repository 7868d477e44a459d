"""The seam for an LLM judge (not implemented here: deterministic scoring only).

A judge is any object with a ``judge(inp) -> list[CheckResult]`` method. :func:`register_judge`
installs it as the ``judge`` check, which only runs when the :class:`ScoringConfig` has a
``judge`` section; without one, scoring stays purely deterministic and never calls it.
Judge check ids should be prefixed ``judge.`` (``judge.mode_adherence``, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from agenteval.scorers.base import CheckResult
from agenteval.scorers.registry import check, unregister

if TYPE_CHECKING:  # pragma: no cover
    from agenteval.scorers.core import CheckInput

JUDGE_CHECK_ID = "judge"


@runtime_checkable
class Judge(Protocol):
    """An LLM (or other) judge producing extra check results for one response."""

    def judge(self, inp: CheckInput) -> list[CheckResult]:
        """Judge one response; return results with ids prefixed ``judge.``."""
        ...


def register_judge(judge: Judge) -> None:
    """Install ``judge`` as the ``judge`` check (runs only when ``config.judge`` is set)."""

    def _run(inp: CheckInput) -> list[CheckResult]:
        wanted = set(inp.config.judge.checks) if inp.config.judge is not None else set()
        results = judge.judge(inp)
        return [r for r in results if not wanted or r.id in wanted]

    _run.__doc__ = "LLM judge (configured)."
    check(JUDGE_CHECK_ID, enabled=lambda cfg: cfg.judge is not None, replace=True)(_run)


def unregister_judge() -> None:
    """Remove the judge check."""
    unregister(JUDGE_CHECK_ID)
