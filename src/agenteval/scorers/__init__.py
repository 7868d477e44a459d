"""Deterministic scorers: pure functions of (response, scenario, card) → check results.

Public API:

* :func:`score_response` — score one response into a :class:`ScoreRecord` (total, deterministic);
* :func:`check` — decorator registering a new check (``@check("my.check")``);
  :func:`registered_checks` lists them;
* :class:`ScoringConfig` — confidence level → number mapping, severities, limits (YAML-loadable);
* :func:`compile_card` — the cached, precompiled scorer for a card;
* :class:`JudgeOutcome` — the LLM judge's Never verdicts for one response (:mod:`agenteval.scorers.judge`);
* :mod:`agenteval.run.validate` — agreement with the golden labels
  (:func:`~agenteval.run.validate.validate_scorers`).
"""

from __future__ import annotations

from agenteval.scorers import agentic as _agentic  # noqa: F401  (registers the agent checks)
from agenteval.scorers import checks as _checks  # noqa: F401  (registers the built-in checks)
from agenteval.scorers.base import CheckResult, ScoreContext, ScoreRecord
from agenteval.scorers.config import DEFAULT_CONFIG, ScoringConfig
from agenteval.scorers.core import CheckInput, CompiledCard, compile_card, score_response
from agenteval.scorers.judge import JudgeOutcome
from agenteval.scorers.registry import CheckSpec, check, registered_checks, unregister

__all__ = [
    "DEFAULT_CONFIG",
    "CheckInput",
    "CheckResult",
    "CheckSpec",
    "CompiledCard",
    "JudgeOutcome",
    "ScoreContext",
    "ScoreRecord",
    "ScoringConfig",
    "check",
    "compile_card",
    "registered_checks",
    "score_response",
    "unregister",
]
