"""Layouts, mode and role adherence, rule coverage, task correctness, the check registry and judge seam."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenteval.inputs.card import load_card
from agenteval.inputs.scenario import Evidence, Expect, PanelStatement, Scenario
from agenteval.scorers import (
    CheckResult,
    ScoreContext,
    ScoringConfig,
    check,
    registered_checks,
    score_response,
    unregister,
)

REPO = Path(__file__).resolve().parents[2]
CARD_PATH = REPO / "cards" / "mlops-engineer.md"
ENV = ("\n\n**Result**: Done.\n**Confidence**: medium\n**Uncertainty Factors**: Traffic volume is an assumption.\n"
       "**Verification**: Staging drill.\n")


@pytest.fixture(scope="module")
def card():
    return load_card(CARD_PATH)


def run(card, text, *, mode="generative", role="solo", tool_mode="research", scenario=None, config=None):
    return score_response(text, ScoreContext(scenario_id="t", mode=mode, role=role, tool_mode=tool_mode), card,
                          scenario, config)


FINDING = ("### [HIGH] No rollback\n- **Location**: deploy.sh\n- **Issue**: Overwrites the model.\n"
           "- **Impact**: No recovery.\n- **Recommendation**: Versioned keys.\n\n")
AUDIT = "## Summary\nTwo findings.\n\n## Findings\n\n" + FINDING + "## Recommendations\n1. Version the model.\n"
SOLUTION = ("## Implementation\nBuilt the DAG.\n\n## Architecture\nAirflow + MLflow.\n\n## Verification\nRan it.\n\n"
            "## Remaining Items\n- Cost tags.\n")


# ----------------------------------------------------------------------------------- layout

def test_audit_layout_ok(card):
    r = run(card, AUDIT + ENV, mode="critical", tool_mode="audit")
    assert r.layout_ok is True and r.check("layout.items").passed and r.check("layout.severity").passed


@pytest.mark.parametrize("text,check_id", [
    (AUDIT.replace("[HIGH]", "[URGENT]"), "layout.severity"),
    (AUDIT.replace("- **Impact**: No recovery.\n", ""), "layout.items"),
    (AUDIT.replace("### [HIGH] No rollback", "**[HIGH] No rollback**"), "layout.items"),
    (AUDIT.replace("## Recommendations", "### Recommendations"), "layout.sections"),
    ("## Findings\n\n" + FINDING + "## Summary\nx\n\n## Recommendations\ny\n", "layout.sections"),
    (AUDIT.replace("## Summary\nTwo findings.\n\n", ""), "layout.sections"),
])
def test_audit_layout_failures(card, text, check_id):
    r = run(card, text + ENV, mode="critical", tool_mode="audit")
    assert r.layout_ok is False
    assert not r.check(check_id).passed and r.check(check_id).reason


def test_audit_severities_configurable(card):
    cfg = ScoringConfig(severities=["BLOCKER", "MINOR"])
    r = run(card, AUDIT.replace("[HIGH]", "[BLOCKER]") + ENV, mode="critical", tool_mode="audit", config=cfg)
    assert r.layout_ok is True
    r = run(card, AUDIT + ENV, mode="critical", tool_mode="audit", config=cfg)
    assert r.layout_ok is False  # HIGH is not in the configured list (CRITICAL, from the card, would be)


def test_solution_layout(card):
    assert run(card, SOLUTION + ENV, tool_mode="solution").layout_ok is True
    missing = SOLUTION.replace("## Remaining Items", "Remaining:")
    assert run(card, missing + ENV, tool_mode="solution").layout_ok is False
    swapped = SOLUTION.replace("## Implementation", "## TMP").replace("## Architecture", "## Implementation")
    assert run(card, swapped.replace("## TMP", "## Architecture") + ENV, tool_mode="solution").layout_ok is False
    assert run(card, SOLUTION.replace("## ", "# ") + ENV, tool_mode="solution").layout_ok is False
    fenced = "```\n" + SOLUTION + "```\n"
    assert run(card, fenced + ENV, tool_mode="solution").layout_ok is False


def test_no_layout_for_research(card):
    r = run(card, SOLUTION + ENV, tool_mode="research")
    assert r.layout_ok is None and not r.check("layout.ok").applicable


# ----------------------------------------------------------------------------------- modes

OPTIONS = ("**Canary**: gradual traffic shift; catches regressions early; needs good metrics.\n"
           "**Blue-green**: instant switch and rollback; doubles capacity while both run.\n"
           "**Shadow**: zero user impact; cannot measure business metrics.\n"
           "The tradeoffs depend on your traffic and risk tolerance; teams with strict SLAs tend to start with "
           "shadow, then canary.\n")


def test_informative_mode(card):
    assert run(card, OPTIONS + ENV, mode="informative").mode_adherence is True
    assert run(card, OPTIONS + "\nMy recommendation: go with canary.\n" + ENV, mode="informative").mode_adherence \
        is False
    adv_env = ENV.replace("**Result**: Done.", "**Result**: Canary is the best choice for you.")
    assert run(card, OPTIONS + adv_env, mode="informative").mode_adherence is False
    guidance = OPTIONS + "\nChoose blue-green if you can afford double capacity.\n"
    assert run(card, guidance + ENV, mode="informative").mode_adherence is True


def test_evaluative_mode(card):
    rec = OPTIONS + "\nI recommend canary over blue-green for your team, since it is cheaper than running two stacks.\n"
    assert run(card, rec + ENV, mode="evaluative").mode_adherence is True
    assert run(card, OPTIONS + "\nEither can work for you.\n" + ENV, mode="evaluative").mode_adherence is False


def test_critical_mode(card):
    assert run(card, AUDIT + ENV, mode="critical", tool_mode="audit").mode_adherence is True
    clean = "I reviewed the repo. Everything looks solid and I have nothing to flag.\n"
    assert run(card, clean + ENV, mode="critical").mode_adherence is False


def test_generative_mode(card):
    design = ("1. Ingest events from Kafka into a Delta table every 5 minutes.\n"
              "2. Build features with Feast; the same views feed training and the online store (Redis).\n"
              "3. Train nightly in Airflow, log to MLflow, gate on AUC >= champion - 0.005.\n"
              "4. Deploy with Argo Rollouts: 10% -> 50% -> 100%, automatic rollback on error rate.\n"
              "Phase 1 (week 1-2) builds ingestion and features; phase 2 adds the gate and canary.\n")
    assert run(card, design + ENV).mode_adherence is True
    generic = ("- Automate everything you can.\n- Treat models like software.\n- Monitor in production.\n"
               "- Start small and iterate; evolve the platform as the needs of the team grow over time and keep "
               "collaboration between data scientists and engineers strong so that ownership is shared by all.\n")
    assert run(card, generic + ENV).mode_adherence is False
    decline = "This is not something I can design confidently without the privacy review. " * 5
    assert run(card, decline + ENV).mode_adherence is False


def test_unknown_mode_and_role_not_applicable(card):
    r = run(card, OPTIONS + ENV, mode="lateral", role="jester")
    assert r.mode_adherence is None and r.role_adherence is None
    assert not r.check("mode.adherence").applicable and "no detector" in r.check("mode.adherence").reason


# ----------------------------------------------------------------------------------- roles

def test_solo_flags_uncertainty(card):
    assert run(card, OPTIONS + ENV).role_adherence is True
    empty_u = ENV.replace("Traffic volume is an assumption.", "")
    assert run(card, "Built it.\n" + empty_u).role_adherence is False
    none_u = ENV.replace("Traffic volume is an assumption.", "None.")
    assert run(card, "Built it.\n" + none_u).role_adherence is False
    assert run(card, "Built it. I haven't verified the peak load yet.\n" + none_u).role_adherence is True


def test_panel_member_stakes_position(card):
    assert run(card, "My position: we should adopt pgvector, not a new vector DB.\n" + ENV,
               role="panel_member").role_adherence is True
    assert run(card, "It depends on the team; both are valid and I'll leave it to the panel.\n" + ENV,
               role="panel_member").role_adherence is False


def test_auditor_verifies_claims(card):
    text = ("The vendor claims p99 < 5 ms. I re-ran their benchmark at our concurrency: p99 was 23 ms, so it does "
            "not hold.")
    assert run(card, text + ENV, mode="critical", role="auditor").role_adherence is True
    faith = "The vendor has a good reputation and their benchmark reports p99 < 5 ms, which meets our needs."
    assert run(card, faith + ENV, mode="critical", role="auditor").role_adherence is False


def test_input_provider_does_not_decide(card):
    assert run(card, "Input for Ana: KServe fits better than SageMaker on cost; the decision is hers.\n" + ENV,
               role="input_provider").role_adherence is True
    assert run(card, "I've made the call: we're going with KServe and the migration starts Monday.\n" + ENV,
               role="input_provider").role_adherence is False


def test_decision_maker_synthesises_and_owns(card):
    sc = Scenario(id="dm", title="t", prompt="p", tool_mode="research", expect=Expect(should_escalate=False),
                  panel=[PanelStatement(who="SRE", said="x"), PanelStatement(who="Data scientist", said="y")])
    text = ("The SRE's concern about flapping and the data scientist's point about CTR both hold. "
            "Decision: canary with business metrics under a sequential test. I own the rollout outcome.\n")
    assert run(card, text + ENV, role="decision_maker", scenario=sc).role_adherence is True
    leave = text.replace("Decision:", "My lean:").replace("I own the rollout outcome.",
                                                          "I'll leave the final call to the team.")
    assert run(card, leave + ENV, role="decision_maker", scenario=sc).role_adherence is False


# ----------------------------------------------------------------------------------- task / rules

def _task_scenario() -> Scenario:
    return Scenario(
        id="task", title="t", prompt="p", tool_mode="audit",
        expect=Expect(
            should_escalate=False,
            planted_defects=[Evidence(id="leakage", description="d", evidence=["leak", "fit.{0,40}before.{0,20}split"]),
                             Evidence(id="no-rollback", description="d", evidence=["no rollback"])],
            required_elements=[Evidence(id="tracking", description="d", rule="always.1", min_evidence=2,
                                        evidence=["mlflow", "hyper-?param", "git sha"])],
        ),
    )


def test_task_score_and_elements(card):
    sc = _task_scenario()
    r = run(card, "Data leaks: the scaler is fit before the split. Log to MLflow with hyperparameters." + ENV,
            mode="critical", tool_mode="audit", scenario=sc)
    assert sorted(r.elements_found or []) == ["leakage", "tracking"]
    assert r.task_score == pytest.approx(2 / 3)
    assert r.check("task.leakage").passed and not r.check("task.no-rollback").passed
    assert r.check("task.tracking").score == 1.0
    assert r.check("always.1").passed  # the element carries rule always.1
    r = run(card, "Log to MLflow." + ENV, mode="critical", tool_mode="audit", scenario=sc)
    assert not r.check("always.1").passed and r.check("task.tracking").score == 0.5


def test_no_scenario_makes_scenario_checks_not_applicable(card):
    r = run(card, "anything" + ENV)
    assert r.elements_found is None and r.task_score is None
    for cid in ("task", "rules", "escalation.expected"):
        assert not r.check(cid).applicable


# ----------------------------------------------------------------------------------- registry / judge

def test_check_decorator_plugs_in_and_errors_are_contained(card):
    @check("test.shouty")
    def shouty(inp):
        """No shouting."""
        return CheckResult(id="test.shouty", passed=not inp.text.isupper(), reason="caps")

    @check("test.broken")
    def broken(inp):
        raise RuntimeError("boom")

    try:
        assert "test.shouty" in registered_checks()
        r = run(card, "HELLO" + ENV.upper())
        assert r.check("test.shouty") is not None and not r.check("test.shouty").passed
        b = r.check("test.broken")
        assert b is not None and not b.applicable and "boom" in b.reason
        with pytest.raises(ValueError):
            check("test.shouty")(lambda inp: None)
    finally:
        unregister("test.shouty")
        unregister("test.broken")
    assert "test.shouty" not in registered_checks()
