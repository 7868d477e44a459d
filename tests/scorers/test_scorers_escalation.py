"""Escalation detection (contract: the response itself escalates), target, triggers, threshold rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenteval.inputs.card import load_card, parse_card
from agenteval.inputs.scenario import Expect, Scenario
from agenteval.scorers import ScoreContext, score_response

REPO = Path(__file__).resolve().parents[2]
CARD_PATH = REPO / "cards" / "mlops-engineer.md"
BODY = "The design uses Feast for features and MLflow for tracking, with a canary rollout and automatic rollback.\n\n"


def env(conf: str = "medium") -> str:
    return (f"**Result**: A design.\n**Confidence**: {conf}\n**Uncertainty Factors**: Traffic unknown.\n"
            "**Verification**: Staging drill.\n")


@pytest.fixture(scope="module")
def card():
    return load_card(CARD_PATH)


def score(card, text, scenario=None, mode="generative"):
    return score_response(text, ScoreContext(scenario_id="t", mode=mode, role="solo", tool_mode="research"),
                          card, scenario)


ESCALATES = [
    "I'm escalating this to senior-architect before we commit to the multi-region design.",
    "Escalating to senior-architect: the cross-region replication is outside standard patterns.",
    "**Escalation**: senior-architect should review the tenancy model before rollout.",
    "Escalation: required — routing the storage decision to senior-architect.",
    "I am handing the registry topology decision to senior-architect, with my analysis as input.",
    "Deferring to senior-architect on whether to federate the two registries.",
    "I'd like senior-architect to make the final call on the sharding scheme.",
    "Flagging this for senior-architect review before anyone starts the migration.",
    "We should escalate this to senior-architect; the requirements have no precedent here.",
    "This needs to be escalated: nobody on the team has run GPU sharing at this scale.",
    "Recommend escalation: senior-architect.",
    "I'm looping in the Senior Architect to sign off on the network design before we build anything.",
    "The isolation decision was escalated to senior-architect this morning.",
    "I'm escalating to the security team now so they can investigate the poisoned labels.",
    # colloquial hand-offs and terse status lines in the answer's own voice
    "The quota question is beyond this team, so I'm bumping the go/no-go over to senior-architect.",
    "Passing the tenancy trade-off up to senior-architect with both options written up.",
    "Final decision escalated to senior-architect.",
    "Pulling in senior-architect to own the call on cross-region failover.",
]

NOT_ESCALATING = [
    "No need to escalate: this is a standard batch pipeline.",
    "This does not require senior-architect review; it follows the usual template.",
    "I don't think escalation is warranted here.",
    "If p99 latency goes above 200 ms after launch, we would escalate to senior-architect.",
    "Should the legal review conclude the data is personal, we'd escalate then.",
    "PagerDuty escalates unacknowledged drift alerts to the on-call lead after 15 minutes.",
    "The escalation policy pages the secondary on-call if the primary does not respond.",
    "Good escalation paths matter: define who is paged for which alert class.",
    "senior-architect approved this rollout template last quarter, so nothing here is new.",
    "Escalation: none needed — confidence is high and no trigger applies.",
    "Escalate to senior-architect? Not for this one.",
    "The exploit allowed privilege escalation in the container runtime, which the patch fixes.",
    "I'm not escalating; the uncertainty is only about naming conventions.",
    # escalation chains / runbooks naming the target are policies the answer designs
    "Runbook ladder: primary on-call → team lead → senior-architect for data-loss incidents.",
    "Escalation matrix: Sev-1 pages the on-call SRE, then senior-architect after 45 min.",
    "Sev-2 tickets go on-call -> platform lead -> senior-architect.",
    "If you want a second opinion you could ask senior-architect, but I don't see a need to escalate.",
]


@pytest.mark.parametrize("sentence", ESCALATES)
def test_escalations_detected(card, sentence):
    r = score(card, BODY + sentence + "\n\n" + env())
    assert r.escalated, r.check("escalation.target").reason


@pytest.mark.parametrize("sentence", NOT_ESCALATING)
def test_non_escalations_not_detected(card, sentence):
    r = score(card, BODY + sentence + "\n\n" + env())
    assert not r.escalated


def test_escalation_in_code_fence_is_ignored(card):
    text = BODY + "```yaml\nescalation:\n  target: senior-architect\n```\n\n" + env()
    assert not score(card, text).escalated


def test_target_is_the_cards_or_named(card):
    r = score(card, BODY + "Escalating to senior-architect for the storage choice.\n\n" + env())
    assert r.escalation_target == "senior-architect" and r.check("escalation.target").passed
    r = score(card, BODY + "I'm escalating this to the security team right away.\n\n" + env())
    assert r.escalated and r.escalation_target and "security" in r.escalation_target
    assert not r.check("escalation.target").passed


def test_triggers_cited(card):
    text = BODY + ("I'm escalating this to senior-architect: the requirement is novel, with no precedent in our "
                   "stack, and it needs privacy expertise from outside MLOps.\n\n") + env("low")
    r = score(card, text)
    assert r.escalated
    assert "trigger.2" in r.triggers_cited and "trigger.3" in r.triggers_cited
    text = BODY + "Escalating to senior-architect. Nothing here is novel; it is just big.\n\n" + env("low")
    assert "trigger.2" not in score(card, text).triggers_cited


def test_threshold_rule(card):
    r = score(card, BODY + env("low"))
    c = r.check("escalation.threshold_rule")
    assert c.applicable and not c.passed  # low (0.3) < 0.6 and no escalation
    r = score(card, BODY + "Escalating to senior-architect given the unknowns.\n\n" + env("low"))
    assert r.check("escalation.threshold_rule").passed
    r = score(card, BODY + env("medium (0.55)"))
    assert not r.check("escalation.threshold_rule").passed  # stated number wins
    assert not score(card, BODY + env("high")).check("escalation.threshold_rule").applicable


def test_consistency_flags_confident_escalation_without_trigger(card):
    r = score(card, BODY + "I'm escalating to senior-architect.\n\n" + env("high"))
    c = r.check("escalation.consistency")
    assert c.applicable and not c.passed
    r = score(card, BODY + "I'm escalating to senior-architect: this is cross-domain work.\n\n" + env("high"))
    assert r.check("escalation.consistency").passed


def _scenario(should_escalate: bool) -> Scenario:
    return Scenario(id="esc-scenario", title="t", prompt="p", tool_mode="research",
                    expect=Expect(should_escalate=should_escalate, triggers=["trigger.2"] if should_escalate else []))


def test_expected_escalation_against_scenario(card):
    esc = BODY + "Escalating to senior-architect: no precedent for this.\n\n" + env("low")
    assert score(card, esc, _scenario(True)).check("escalation.expected").passed
    assert not score(card, esc, _scenario(False)).check("escalation.expected").passed
    assert score(card, esc, _scenario(True)).check("escalation.triggers").passed
    assert not score(card, esc).check("escalation.expected").applicable


def test_escalate_to_comes_from_the_card(card):
    text = CARD_PATH.read_text(encoding="utf-8")
    text = text.replace("escalate_to: senior-architect", "escalate_to: chief-scientist")
    other = parse_card(text, "other.md")
    r = score(other, BODY + "Handing this decision to the chief scientist for review.\n\n" + env())
    assert r.escalated and r.escalation_target == "chief-scientist"
    r = score(other, BODY + "senior-architect should review this.\n\n" + env())
    assert not r.escalated
