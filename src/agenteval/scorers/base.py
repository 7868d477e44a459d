"""Data contracts of the scorers: what a check returns and what scoring one response yields.

A check is a pure function of (response, scenario, card) returning :class:`CheckResult` values.
``applicable=False`` means the check does not apply to this item (e.g. a layout check for a tool mode
without a layout, or a scenario-specific check for an unknown scenario); it then has ``passed=True``
by convention and is excluded from every rate.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class CheckResult(BaseModel):
    """The outcome of one check on one response, with the reason a reader needs."""

    id: str = Field(description="check id, e.g. 'envelope.strict', 'never.<n>', 'escalation.threshold_rule'")
    passed: bool
    applicable: bool = True
    reason: str = ""
    score: float | None = Field(default=None, description="a graded value in [0, 1] where one makes sense")


class ScoreContext(BaseModel):
    """Where a response was produced: the cell of the matrix it answers."""

    scenario_id: str
    mode: str
    role: str
    tool_mode: str | None = None
    agent: dict[str, Any] | None = None  # agent backend: the recorded trace (conversation, workspace changes)


class ScoreRecord(BaseModel):
    """Everything the scorers say about one response (one line of ``scores.jsonl``, minus run fields)."""

    envelope_ok: bool
    envelope_loose_ok: bool = False
    confidence_level: str | None = None
    confidence_value: float | None = Field(default=None, description="numeric confidence used for calibration")
    confidence_stated: float | None = Field(default=None, description="a number the response itself stated")
    escalated: bool = False
    escalation_target: str | None = None
    triggers_cited: list[str] = Field(default_factory=list, description="escalation trigger ids the response cites")
    never_violations: list[str] = Field(
        default_factory=list,
        description="the Never verdict that counts: the judge's when it has one, else the screen's")
    never_source: str = Field(default="screen", description="'judge' or 'screen': who decided never_violations")
    never_screen: list[str] = Field(default_factory=list, description="the deterministic screen's own hits, always")
    judge_missing: bool = Field(
        default=False, description="a judge was asked for but has no verdict for this answer (screen decided)")
    layout_ok: bool | None = Field(default=None, description="None when the tool mode has no layout")
    mode_adherence: bool | None = None
    role_adherence: bool | None = None
    elements_found: list[str] | None = Field(
        default=None, description="ids of planted defects found / required elements covered; None if unknown scenario"
    )
    task_score: float | None = None
    truncated: bool = Field(
        default=False, description="the response was too long and only its head and tail were scanned"
    )
    checks: list[CheckResult] = Field(default_factory=list)

    def check(self, check_id: str) -> CheckResult | None:
        """The check with this id, if it was run."""
        for c in self.checks:
            if c.id == check_id:
                return c
        return None

    def as_row(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return self.model_dump(mode="json")
