"""The one k-of-n cell verdict: does a scenario × mode × role cell pass, over its epochs?

``agenteval gate`` (one JUnit testcase per cell) and the pytest plugin (one test item per cell) both
call :func:`cell_verdict`, so a cell passes or fails for the same reasons, in the same words.

A scored epoch passes when every applicable compliance check passed (graded checks — ``task.*``, rule
coverage — only with ``graded``; check ids matching ``ignore_checks`` globs never count). Errored,
skipped and stale epochs are not scored; each of them blocks the cell unless allowed (a stale epoch can
also be ``"exclude"``-d: left out of the verdict, reported elsewhere once).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel, Field

from agenteval.analysis.metrics import failed_checks, item_passed
from agenteval.results.store import ScoreLine

StalePolicy = Literal["block", "exclude", "score"]
NO_DETAIL = "envelope, Never rules or escalation failed (no per-check detail in scores)"
STALE = "stale answer (recorded for a different card or scenario text)"


class CellVerdict(BaseModel):
    """One scenario × mode × role cell over its epochs, and why it passed or failed."""

    scenario: str
    mode: str
    role: str
    epochs: int
    scored: int
    passed_epochs: int
    required: int
    stale: int = Field(default=0, description="stale epochs left out of the verdict (stale='exclude')")
    outcome: Literal["passed", "failed", "skipped"]
    failures: list[str] = Field(default_factory=list, description="why, one line per failed epoch/check")

    @property
    def headline(self) -> str:
        """``p of s epoch(s) passed, r required``."""
        return f"{self.passed_epochs} of {self.scored} epoch(s) passed, {self.required} required"


def _ignored(check_id: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(check_id, p) for p in patterns)


def epoch_failures(s: ScoreLine, *, ignore_checks: Sequence[str] = (), graded: bool = False) -> list[str]:
    """Why a scored epoch fails: one ``check id: reason`` per failed check (empty when it passes)."""
    if s.checks:
        return [f"{cid}: {why or 'failed'}" for cid, why in failed_checks(s, graded=graded)
                if not _ignored(cid, ignore_checks)]
    return [] if item_passed(s, graded=graded) else [NO_DETAIL]


def cell_verdict(
    items: Sequence[ScoreLine],
    *,
    required: Callable[[int], int],
    stale: StalePolicy = "block",
    allow_errors: bool = False,
    allow_skipped: bool = False,
    ignore_checks: Sequence[str] = (),
    graded: bool = False,
) -> CellVerdict:
    """The verdict of one cell from its score lines (all of the same scenario, mode and role).

    ``required(scored)`` is the number of passing epochs needed with ``scored`` scored epochs.
    """
    first = items[0]
    failures: list[str] = []
    blocked = False
    scored = passes = n_stale = 0
    for s in sorted(items, key=lambda x: x.epoch):
        if s.status == "skipped":
            if not allow_skipped:
                blocked = True
                failures.append(f"epoch {s.epoch}: skipped{f' ({s.error})' if s.error else ''}")
            continue
        if s.status == "error":
            if not allow_errors:
                blocked = True
                failures.append(f"epoch {s.epoch}: error: {s.error or 'not answered'}")
            continue
        if s.stale and stale != "score":
            if stale == "exclude":
                n_stale += 1
            else:
                blocked = True
                failures.append(f"epoch {s.epoch}: {STALE}")
            continue
        scored += 1
        why = epoch_failures(s, ignore_checks=ignore_checks, graded=graded)
        passes += not why
        failures += [f"epoch {s.epoch}: {w}" for w in why]
    need = required(scored) if scored else 0
    outcome: Literal["passed", "failed", "skipped"]
    if scored == 0 and not blocked:
        outcome = "skipped"
    elif blocked or passes < need:
        outcome = "failed"
    else:
        outcome = "passed"
    if outcome == "failed" and not blocked:
        failures.insert(0, f"{passes} of {scored} epoch(s) passed, {need} required")
    return CellVerdict(
        scenario=first.scenario_id, mode=first.mode, role=first.role, epochs=len(items), scored=scored,
        passed_epochs=passes, required=need, stale=n_stale, outcome=outcome,
        failures=failures if outcome != "passed" else [],
    )
