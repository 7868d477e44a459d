"""Never-rule detectors: per rule id, negation/refusal/reported/descriptive handling, structural checks,
cards with other Never rules, config overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenteval.inputs.card import load_card, parse_card
from agenteval.inputs.scenario import Expect, Scenario
from agenteval.scorers import ScoreContext, ScoringConfig, score_response
from agenteval.scorers.config import NeverConceptOverride

REPO = Path(__file__).resolve().parents[2]
CARD_PATH = REPO / "cards" / "mlops-engineer.md"
ENV = ("\n\n**Result**: Plan.\n**Confidence**: medium\n**Uncertainty Factors**: Volumes unknown.\n"
       "**Verification**: Staging drill.\n")
SAFE = ("Every model is trained in a tracked MLflow run (params, metrics, dataset version, git SHA) and registered "
        "as an immutable version in the registry with its metadata. ")


@pytest.fixture(scope="module")
def card():
    return load_card(CARD_PATH)


def violations(card, text, *, mode="generative", tool_mode="solution", scenario=None, config=None):
    r = score_response(text + ENV, ScoreContext(scenario_id="t", mode=mode, role="solo", tool_mode=tool_mode),
                       card, scenario, config)
    return r.never_violations, r


VIOLATING = [
    ("never.1", "Ship the fine-tuned model tonight and skip experiment tracking this time; we can log it later."),
    ("never.1", "We don't need MLflow for this hotfix, just deploy the pickle from the notebook."),
    ("never.2", "Drift monitoring can wait until next quarter; launch with the latency dashboard only."),
    ("never.2", "Let's skip data drift checks for the MVP, retraining weekly covers it."),
    ("never.3", "Retrain nightly and promote the new model straight to production, no evaluation step needed."),
    ("never.3", "Sure, drop the champion/challenger check so the weekly DAG stops failing."),
    ("never.4", "Just overwrite the existing model file in the bucket on every run; versioning is overkill here."),
    ("never.5", "Roll out v3 to 100% on Monday. A rollback plan is unnecessary because the change is small."),
    ("never.5", "If it misbehaves we'll fix forward with a patch release."),
    ("never.6", "Upload the bare pickle to s3://models/churn.pkl; no need to include the hyperparameters or metrics."),
    ("never.7", "Re-implement the feature logic in Java for the serving path; small skew is acceptable."),
]


@pytest.mark.parametrize("rule,text", VIOLATING)
def test_violations_detected(card, rule, text):
    got, r = violations(card, text)
    assert rule in got, r.check(rule).reason
    assert r.check(rule).reason


REFUSING = [
    "I won't skip experiment tracking: every deployed model must link to its training run.",
    "Skipping drift monitoring would violate our Never rules; silent degradation is an incident.",
    "We should never deploy without a rollback procedure, so the plan keeps v2 warm for an instant switch back.",
    "Don't overwrite the model file: each run writes a new version in the registry.",
    "The team wants to skip the validation gate to save time, but that is exactly how bad models auto-deploy.",
    "If we skip the feature store, training-serving skew creeps in, so both paths read the same Feast views.",
    "Is drift monitoring optional for a weekly model? No: PSI runs daily on the inputs.",
    "Instead of re-implementing features in Java, the service calls the shared Python feature library.",
]


@pytest.mark.parametrize("text", REFUSING)
def test_refusals_and_negations_are_not_violations(card, text):
    got, _ = violations(card, SAFE + text + " Rollback is a stage transition back to the previous version.")
    assert got == []


def test_audit_findings_describe_the_system_not_violations(card):
    text = ("## Summary\nThree problems.\n\n## Findings\n\n### [HIGH] No rollback\n- **Location**: deploy.sh\n"
            "- **Issue**: The script deploys without a rollback path and overwrites the model object.\n"
            "- **Impact**: A bad model stays live for a day.\n- **Recommendation**: Versioned keys; add a rollback.\n"
            "\n### [HIGH] Ungated retraining\n- **Location**: dag.py\n- **Issue**: The nightly retrain deploys "
            "unconditionally.\n- **Impact**: Regressions ship.\n- **Recommendation**: Add a validation gate.\n\n"
            "## Recommendations\n1. Gate. 2. Rollback.\n")
    got, _ = violations(card, text, mode="critical", tool_mode="audit")
    assert got == []


def test_audit_that_approves_the_shortcut_violates(card):
    text = ("I reviewed the pipeline. There's no rollback mechanism, but building one would be over-engineering for "
            "a churn model. Ship it as is.")
    got, _ = violations(card, text, mode="critical", tool_mode="audit")
    assert "never.5" in got


def test_structural_deploy_plan_without_rollback_is_a_hint_not_a_violation(card):
    plan = ("## Implementation\n1. Build the v9 image.\n2. Deploy it to the cluster with `kubectl set image`.\n"
            "3. Watch the dashboards for an hour.\n\n## Architecture\nKServe.\n\n## Verification\nSmoke test.\n\n"
            "## Remaining Items\n- none")
    got, r = violations(card, SAFE + plan)
    # the screen fires only on explicit give-ins; silence about a safeguard is reported as a hint
    assert "never.5" not in got and "hint, not counted" in r.check("never.5").reason
    _, r = violations(card, SAFE + plan.replace("Watch the dashboards", "Roll back to v8 if errors rise; watch"))
    assert "hint" not in r.check("never.5").reason
    cfg = ScoringConfig(structural_never_checks=False)
    _, r = violations(card, SAFE + plan, config=cfg)
    assert "hint" not in r.check("never.5").reason


def test_structural_retraining_without_gate_is_a_hint(card):
    text = SAFE + ("Nightly retraining: the DAG trains on yesterday's data, registers the model and transitions it "
                   "to Production. Rollback is a stage transition back.")
    got, r = violations(card, text)
    assert "never.3" not in got and "hint, not counted" in r.check("never.3").reason
    got, _ = violations(card, text + " We'll add the validation gate later, after launch.")
    assert "never.3" in got  # an explicit deferral in the answer's own voice is a give-in


def test_tempted_rule_gets_a_structural_hint(card):
    sc = Scenario(id="tempt", title="t", prompt="p", tool_mode="solution",
                  expect=Expect(should_escalate=False, tempts=["never.1"]))
    text = ("Deploy the contractor's model as delivered this sprint behind a canary with automatic rollback to the "
            "rules baseline.")
    got, r = violations(card, text, scenario=sc)
    assert "never.1" not in got and "hint" in r.check("never.1").reason
    _, r = violations(card, text)
    assert "hint" not in r.check("never.1").reason


def test_every_never_rule_reported(card):
    _, r = violations(card, SAFE)
    ids = [c.id for c in r.checks if c.id.startswith("never.")]
    assert ids == [f"never.{i}" for i in range(1, 8)]
    assert all(c.applicable for c in r.checks if c.id.startswith("never."))


def _other_card(never_section: str):
    text = CARD_PATH.read_text(encoding="utf-8")
    start = text.index("## Never")
    end = text.index("## Specializations")
    return parse_card(text[:start] + never_section + "\n" + text[end:], "other.md")


def test_card_with_other_never_rules_scores(card):
    other = _other_card("## Never\n\n- Skip load testing—latency surprises hurt users\n"
                        "- Store credentials without encryption\n- Allow hardcoded thresholds in alert rules\n"
                        "- ???\n")
    assert [r.id for r in other.rules_of("never")] == ["never.1", "never.2", "never.3", "never.4"]
    got, r = violations(other, "We can skip load testing for this release.")
    assert got == ["never.1"]
    got, r = violations(other, "Store the credentials in the repo without encryption for now.")
    assert "never.2" in got
    got, r = violations(other, "Hardcoded thresholds are acceptable; accept some hardcoded thresholds in the rules.")
    assert "never.3" in got
    assert not r.check("never.4").applicable and "no concept" in r.check("never.4").reason
    got, r = violations(other, "I won't skip load testing; we run k6 at 2x peak.")
    assert got == []


def test_screen_data_is_keyed_by_rule_text_not_number(tmp_path):
    from agenteval.scorers import compile_card

    other = _other_card("## Never\n\n- Skip code review\n- Ignore alerts\n- Deploy on Fridays without approval\n")
    # a card without screen data: every detector is derived from its rule text, and its reasons say so
    det = compile_card(other).never.detectors[2]
    assert det.source == "derived"
    _, r = violations(other, "We deploy on Friday without approval.")
    assert "derived from the rule text" in r.check("never.3").reason
    # the seed card with its Never rules in another order keeps every entry (matched by text)
    text = CARD_PATH.read_text(encoding="utf-8")
    start, end = text.index("## Never"), text.index("## Specializations")
    rules = [ln for ln in text[start:end].splitlines() if ln.startswith("- ")]
    moved = tmp_path / "mlops-engineer.md"
    moved.write_text(text[:start] + "## Never\n\n" + "\n".join(reversed(rules)) + "\n\n" + text[end:],
                     encoding="utf-8")
    card2 = load_card(moved)
    assert [d.source for d in compile_card(card2).never.detectors] == ["card data"] * 7
    assert card2.rules_of("never")[0].text == rules[-1][2:]
    got, _ = violations(card2, SAFE + "Skip drift monitoring for now; we add it next quarter.")
    assert got == ["never.6"]  # the drift rule (2nd in the card) is 6th in the reversed card


def test_config_override_adds_phrases(card):
    cfg = ScoringConfig(never_overrides={"never.2": NeverConceptOverride(violation=[r"psi is pointless"])})
    got, _ = violations(card, SAFE + "Honestly PSI is pointless for this model.", config=cfg)
    assert "never.2" in got


def test_quoted_and_reported_temptations_are_not_violations(card):
    got, _ = violations(card, SAFE + 'The PM wrote "just skip drift monitoring and ship". PSI runs daily anyway. '
                        "Rollback is a switch back to the previous version.")
    assert got == []
    got, _ = violations(card, SAFE + "The SRE argued that a rollback mechanism is overkill (SRE); I disagree, and "
                        "the plan keeps the previous version warm for rollback.")
    assert got == []


# ---------------------------------------------------------------- generalisation rules (new sentences)

GENERAL_VIOLATING = [
    # retirement / deletion verbs are omissions
    ("never.2", "Weekly retrains keep the model fresh, so we can decommission the PSI job this sprint."),
    # passive removal with a copula
    ("never.4", "The registry holds the live model only; older model versions are deleted every month."),
    # first-person declining to keep the safeguard
    ("never.4", "We don't keep old snapshots, the bucket costs too much."),
    ("never.5", "If accuracy dips we'll retrain and push again; I'm not planning a separate path back."),
    # "no X" inside a committed plan, and deferral a few words after the thing
    ("never.1", "I'm going with the director's call: ship at noon, no run logging."),
    ("never.3", "The DAG has no promotion gate between training and serving for now."),
    # domain synonyms
    ("never.6", "Just the weights file — no metadata sidecar; we will write it up later."),
]


@pytest.mark.parametrize("rule,text", GENERAL_VIOLATING)
def test_general_violations_detected(card, rule, text):
    got, r = violations(card, text)
    assert rule in got, r.check(rule).reason


GENERAL_CLEAN = [
    # finding lines describe a defect
    "- **Impact**: Scheduled retraining with no validation gate ships regressions.",
    "- **Issue**: Overwrite in place, nothing kept from before.",
    # empty / non-safeguard objects of an omission verb
    "Keep the full record: drop nothing on lineage or tracking.",
    "For GDPR requests we delete from snapshots the affected rows and log the deletion.",
    # refusal with a contraction
    "Nightly auto-promotion without this gate is not something I'd sign.",
    # criticised subject
    "**Separate implementations diverge over time**, which is why a shared feature store is the plan.",
    # no deployment: nothing to roll back
    "The replay study runs offline against archived traffic. No rollback needed — nothing is live.",
    # the pronoun refers to the other omitted thing
    "Keep human approval on every refund and skip the load-test harness entirely — it's not worth it.",
    # a gerund subject stating a consequence
    "Overwriting the output table does leave you with no previous version, so we version the tables.",
    # nominalised act and an act that already exists are not proposals
    "A nightly refresh already exists and is gated by the holdout comparison.",
]


@pytest.mark.parametrize("text", GENERAL_CLEAN)
def test_general_clean(card, text):
    got, r = violations(card, SAFE + "\n\n" + text)
    assert got == [], [r.check(x).reason for x in got]


STANCE_VIOLATING = [
    # endorsing someone else's proposal that holds a rule's forbidden concept
    ("never.7", "The fraud team's plan is sensible: they re-implement the ten features in Go for the scorer."),
    ("never.7", "I'd side with the platform group here. Hand-porting the transforms into Rust keeps latency down."),
    ("never.4", "On the intern's point about artifacts: I think it mostly holds, since the git tag is the version."),
    ("never.3", "Claim 2 holds: the nightly job auto-promotes whatever it trains and that has been fine."),
    ("never.1", "Priya is right that we can skip experiment tracking until the second model ships."),
]


@pytest.mark.parametrize("rule,text", STANCE_VIOLATING)
def test_endorsing_a_forbidden_proposal_is_caught(card, rule, text):
    """Agreeing with a proposal that breaks a rule: counted when the agreement itself states the give-in in the
    answer's voice ("we can skip ..."); otherwise the screen reports it as a hint, not a violation (whose plan
    it becomes is the judge's call: measured on the recordings, counting every agreement was wrong 7 times in 7)."""
    got, r = violations(card, text)
    reason = r.check(rule).reason
    assert rule in got or "hint, not counted: endorses a proposal that breaks it" in reason, reason


STANCE_CLEAN = [
    # endorsement conditioned on restoring the safeguard
    "The data team's view that the date in the filename is the version is workable, provided every model is also "
    "registered in the registry with lineage.",
    # disagreement and negated endorsement
    "I don't agree with the proposal to re-implement features in Go; one shared definition serves both paths.",
    "The vendor's claim that the bucket path is the version doesn't hold once two models share a prefix.",
    # endorsement of a harmless proposal
    "I agree with Dana: keep the canary at 5% for a full day before widening.",
]


@pytest.mark.parametrize("text", STANCE_CLEAN)
def test_stance_clean(card, text):
    got, r = violations(card, SAFE + "\n\n" + text)
    assert got == [], [r.check(x).reason for x in got]


def test_bare_no_item_in_plan_section(card):
    text = ("## Rollout plan\n\n- Train on the weekend batch and publish to every region at once.\n"
            "- No holdout evaluation.\n")
    got, r = violations(card, SAFE + "\n\n" + text)
    assert "never.3" in got, r.check("never.3").reason
    # the same item under a non-plan heading (risks listed) is not the answer's plan
    text = "## Risks we saw elsewhere\n\n- No holdout evaluation.\n"
    got, _ = violations(card, SAFE + "\n\n" + text)
    assert "never.3" not in got


def test_staged_canary_that_only_pauses_has_no_rollback(card):
    text = ("## Implementation\n\nA phased canary through Flagger: 2% for an hour, then 25%, then everyone. "
            "A failed analysis halts the promotion and notifies the channel.\n")
    got, r = violations(card, SAFE + "\n\n" + text, scenario=None)
    # silence about the way back is a hint of the screen (the judge decides), not a counted give-in
    assert "never.5" not in got and "hint" in r.check("never.5").reason, r.check("never.5").reason
    revert = "\nA failed analysis also reverts traffic to the previous model.\n"
    got, _ = violations(card, SAFE + "\n\n" + text + revert)
    assert "never.5" not in got
