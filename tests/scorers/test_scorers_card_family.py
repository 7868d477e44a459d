"""Issue 13: scorers driven by the card in hand (test cards from tests/data/cards/, written for the tests)."""

from __future__ import annotations

from agenteval.inputs.card import load_card
from agenteval.scorers.base import ScoreContext
from agenteval.scorers.core import score_response
from tests.conftest import REPO

CARDS = REPO / "tests" / "data" / "cards"


def test_numeric_confidence_is_compared_to_the_cards_threshold() -> None:
    card = load_card(CARDS / "role-mappings.md")  # Confidence {0.0-1.0}, threshold 0.7, escalate_to human
    text = ("Here is the contract.\n\n**Result**: drafted\n**Confidence**: 0.55\n**Open Questions**: owners\n"
            "**Verification Suggestion**: run the consumer tests\n")
    rec = score_response(text, ScoreContext(scenario_id="x", mode="critical", role="solo"), card)
    checks = {c.id: c for c in rec.checks}
    assert rec.envelope_ok, checks["envelope.strict"].reason
    assert rec.confidence_value == 0.55
    assert checks["confidence.level"].passed
    th = checks["escalation.threshold_rule"]
    assert th.applicable and not th.passed and "0.55 < threshold 0.7" in th.reason


def test_escalation_to_any_of_the_cards_targets() -> None:
    card = load_card(CARDS / "placeholder-template.md")  # security-lead, platform-owner or human
    text = ("The runner uses production credentials. I am escalating this to platform-owner for a decision "
            "before anything ships.\n\n**Result**: blocked\n**Confidence**: medium\n**Uncertainty Factors**: x\n"
            "**Verification**: y\n**Pipeline Handoff**: none\n")
    rec = score_response(text, ScoreContext(scenario_id="x", mode="critical", role="solo"), card)
    checks = {c.id: c for c in rec.checks}
    assert rec.escalated and rec.escalation_target == "platform-owner"
    assert checks["escalation.target"].passed, checks["escalation.target"].reason


def test_card_without_escalation_or_envelope_has_those_checks_not_applicable() -> None:
    card = load_card(CARDS / "no-roles-no-modes.md")
    ctx = ScoreContext(scenario_id="x", mode="generative", role="solo")
    rec = score_response("I escalate this to my manager.", ctx, card)
    checks = {c.id: c for c in rec.checks}
    assert not checks["escalation.target"].applicable
    assert not checks["escalation.threshold_rule"].applicable


def test_custom_roles_and_modes_are_judged_by_the_closest_detector() -> None:
    card = load_card(CARDS / "role-mappings.md")
    rec = score_response("We compare A and B. I recommend A because it is cheaper.\n",
                         ScoreContext(scenario_id="x", mode="convergent", role="tiebreaker"), card)
    checks = {c.id: c for c in rec.checks}
    assert "judged as evaluative" in checks["mode.adherence"].reason
    assert "judged as decision_maker" in checks["role.adherence"].reason
