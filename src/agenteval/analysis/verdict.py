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


CAUSE_FAMILIES = {"layout": "layout", "envelope": "envelope", "confidence": "envelope", "escalation": "escalation"}
"""Check-id prefixes whose failures share one cause in one answer: a missing section fails ``layout.ok``,
``layout.sections`` and ``layout.items`` at once; one bad confidence value fails ``envelope.strict``,
``envelope.loose``, ``envelope.field.confidence`` and ``confidence.level``. Other checks (each Never rule,
mode, role, task elements) are causes of their own."""


def cause_of(check_id: str) -> str:
    """The cause a failed check belongs to (its family, or the check itself)."""
    return CAUSE_FAMILIES.get(check_id.split(".", 1)[0], check_id)


def grouped_failures(failed: Sequence[tuple[str, str]]) -> list[str]:
    """One line per cause: ``cause: reason [check ids]`` (the first check's reason, which for each family
    is its overall check: ``layout.ok``, ``envelope.strict``, ``escalation.expected``)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for cid, why in failed:
        groups.setdefault(cause_of(cid), []).append((cid, why))
    out = []
    for cause, items in groups.items():
        why = next((w for _, w in items if w), "failed")
        if len(items) == 1:
            out.append(f"{items[0][0]}: {why}")
        else:
            out.append(f"{cause}: {why} [{', '.join(c for c, _ in items)}]")
    return out


def epoch_failures(s: ScoreLine, *, ignore_checks: Sequence[str] = (), graded: bool = False) -> list[str]:
    """Why a scored epoch fails: one line per cause (:func:`grouped_failures`); empty when it passes."""
    if s.checks:
        return grouped_failures([(cid, why) for cid, why in failed_checks(s, graded=graded)
                                 if not _ignored(cid, ignore_checks)])
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
