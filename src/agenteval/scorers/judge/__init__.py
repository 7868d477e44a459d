"""The LLM judge of Never rules: its policy, its exact request, and the verdicts scoring uses.

Scoring stays pure: the caller (``agenteval.run``) builds each answer's request with
:func:`build_judge_request`, finds its verdicts (asked live through the backend layer, or recorded under
``golden/judgements/`` and matched by :func:`request_hash`) and hands them to
:func:`~agenteval.scorers.core.score_response` as a :class:`JudgeOutcome`. When an outcome has verdicts,
they decide ``never_violations`` (``never_source: judge``); otherwise the deterministic screen decides
(``never_source: screen``) and a judge that was asked for but has no verdict marks ``judge_missing``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from agenteval.scorers.judge.policy import Policy, generate_policy, parse_policy, rule_key
from agenteval.scorers.judge.request import (
    PROMPT_VERSION,
    JudgeAnswerError,
    Rubric,
    build_judge_request,
    never_rubrics,
    parse_verdicts,
    request_hash,
    rubric_keys,
    task_text,
    verdict_schema,
)


class JudgeOutcome(BaseModel):
    """The judge's verdicts on one answer, or why there are none.

    Attributes:
        verdicts: rubric key (``never_1``) -> ``{"verdict": "pass"|"fail", "reason": ...}``; None when missing.
        source: who answered (``recorded: <producer> (<model>)`` or ``live: <model>``), for reasons.
        missing: why there is no verdict (no recorded verdict for this request, the judge failed, ...).
    """

    verdicts: dict[str, dict[str, str]] | None = None
    source: str = ""
    missing: str | None = Field(default=None)


__all__ = [
    "PROMPT_VERSION",
    "JudgeAnswerError",
    "JudgeOutcome",
    "Policy",
    "Rubric",
    "build_judge_request",
    "generate_policy",
    "never_rubrics",
    "parse_policy",
    "parse_verdicts",
    "request_hash",
    "rubric_keys",
    "rule_key",
    "task_text",
    "verdict_schema",
]
