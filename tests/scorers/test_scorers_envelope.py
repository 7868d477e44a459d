"""Envelope (strict and loose), confidence level and number, per-field checks, config mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenteval.inputs.card import load_card, parse_card
from agenteval.scorers import ScoreContext, ScoringConfig, score_response

REPO = Path(__file__).resolve().parents[2]
CARD_PATH = REPO / "cards" / "mlops-engineer.md"

BODY = "Set up a nightly pipeline with MLflow tracking, a validation gate and canary rollout with rollback.\n\n"
ENV = (
    "**Result**: Pipeline with a gate and a canary.\n"
    "**Confidence**: {conf}\n"
    "**Uncertainty Factors**: Traffic estimate is a guess.\n"
    "**Verification**: Staging run and a rollback drill.\n"
)


@pytest.fixture(scope="module")
def card():
    return load_card(CARD_PATH)


def _ctx(mode: str = "generative", role: str = "solo", tool_mode: str | None = "research") -> ScoreContext:
    return ScoreContext(scenario_id="t", mode=mode, role=role, tool_mode=tool_mode)


def score(card, text, **kw):
    return score_response(text, _ctx(**kw), card)


def env(conf: str = "medium") -> str:
    return ENV.format(conf=conf)


def test_strict_valid_envelope(card):
    r = score(card, BODY + env())
    assert r.envelope_ok and r.envelope_loose_ok
    assert r.confidence_level == "medium"
    assert r.check("envelope.strict").passed
    for fid in ("envelope.field.result", "envelope.field.confidence", "envelope.field.uncertainty_factors",
                "envelope.field.verification"):
        assert r.check(fid) is not None and r.check(fid).passed, fid


@pytest.mark.parametrize("variant", [
    env().replace("**Result**:", "**Result:**"),
    "".join("- " + ln + "\n" for ln in env().splitlines()),
    "Here is my answer.\n\n" + env() + "\nHappy to help further.\n",
    env().replace("**Result**: Pipeline with a gate and a canary.", "**Result**:\n- pipeline\n- gate"),
])
def test_strict_tolerated_forms(card, variant):
    r = score(card, BODY + variant)
    assert r.envelope_ok, r.check("envelope.strict").reason
    assert r.envelope_loose_ok


@pytest.mark.parametrize("variant,why", [
    ("".join("## " + ln.replace("**", "").replace(":", "\n", 1) + "\n" for ln in env().splitlines()), "headings"),
    (env().replace("**", ""), "plain labels"),
    (env().replace("**Result**", "**result**").replace("**Confidence**", "**confidence**"), "case"),
    ("```\n" + env() + "```\n", "fenced"),
    ("\n".join(reversed(env().splitlines())) + "\n", "order"),
    ("".join("### " + ln.replace("**", "") + "\n" for ln in env().splitlines()), "### Field: value"),
])
def test_loose_only_forms(card, variant, why):
    r = score(card, BODY + variant)
    assert not r.envelope_ok, why
    assert r.envelope_loose_ok, (why, r.check("envelope.loose").reason)
    assert r.confidence_level == "medium"


@pytest.mark.parametrize("conf,level,stated,ok", [
    ("medium", "medium", None, True),
    ("Medium", "medium", None, True),
    ("HIGH", "high", None, True),
    ("medium (0.55)", "medium", 0.55, True),
    ("high — 85%", "high", 0.85, True),
    ("low (limited data on traffic)", "low", None, True),
    ("`low`", "low", None, True),
    ("0.7", None, 0.7, False),
    ("70%", None, 0.7, False),
    ("moderate", None, None, False),
    ("very high", None, None, False),
    ("medium-high", None, None, False),
    ("low-to-medium", None, None, False),
    ("low to medium", None, None, False),
    ("medium/high", None, None, False),
    ("N/A", None, None, False),
])
def test_confidence_values(card, conf, level, stated, ok):
    r = score(card, BODY + env(conf))
    assert r.confidence_level == level
    assert r.confidence_stated == (pytest.approx(stated) if stated is not None else None)
    assert r.envelope_ok is ok
    assert r.envelope_loose_ok is ok
    assert r.check("confidence.level").passed is (level is not None)


def test_confidence_value_mapping_and_stated_number_wins(card):
    assert score(card, BODY + env("high")).confidence_value == pytest.approx(0.85)
    assert score(card, BODY + env("medium")).confidence_value == pytest.approx(0.6)
    assert score(card, BODY + env("low")).confidence_value == pytest.approx(0.3)
    assert score(card, BODY + env("medium (0.55)")).confidence_value == pytest.approx(0.55)
    assert score(card, BODY + env("0.42")).confidence_value == pytest.approx(0.42)
    cfg = ScoringConfig(confidence_levels={"high": 0.9, "medium": 0.5, "low": 0.1})
    r = score_response(BODY + env("medium"), _ctx(), card, None, cfg)
    assert r.confidence_value == pytest.approx(0.5)


def test_confidence_consistency_check(card):
    assert score(card, BODY + env("high (0.9)")).check("confidence.consistent").passed
    r = score(card, BODY + env("high (0.2)"))
    assert r.check("confidence.consistent").applicable and not r.check("confidence.consistent").passed
    assert not score(card, BODY + env("high")).check("confidence.consistent").applicable


@pytest.mark.parametrize("text,field", [
    (env().replace("**Result**: Pipeline with a gate and a canary.\n", ""), "result"),
    (env().replace("Traffic estimate is a guess.", ""), "uncertainty_factors"),
    (env().replace("Traffic estimate is a guess.", "—"), "uncertainty_factors"),
    (env().replace("**Confidence**", "**Confidence Level**"), "confidence"),
    (env().replace("**Verification**", "**Validation**"), "verification"),
    (env().replace("**Uncertainty Factors**", "**Uncertainties**"), "uncertainty_factors"),
])
def test_missing_empty_or_misnamed_field_fails_both(card, text, field):
    r = score(card, BODY + text)
    assert not r.envelope_ok and not r.envelope_loose_ok
    assert not r.check(f"envelope.field.{field}").passed
    assert r.check(f"envelope.field.{field}").reason


def test_misnamed_confidence_field_gives_no_level(card):
    r = score(card, BODY + env("high").replace("**Confidence**", "**Confidence Level**"))
    assert r.confidence_level is None


def test_level_in_prose_is_not_read(card):
    r = score(card, BODY + "My confidence is medium overall.\n")
    assert r.confidence_level is None and not r.envelope_ok


def test_last_complete_envelope_counts(card):
    r = score(card, BODY + "Example format:\n\n" + env("moderate") + "\nMy answer:\n\n" + env("high"))
    assert r.envelope_ok and r.confidence_level == "high"
    r = score(card, BODY + env("high") + "\nRevised after checking:\n\n" + env("moderate"))
    assert not r.envelope_ok and not r.envelope_loose_ok and r.confidence_level is None


def test_out_of_order_strict_fails_with_reason(card):
    lines = env().splitlines()
    text = "\n".join([lines[1], lines[0], lines[2], lines[3]]) + "\n"
    r = score(card, BODY + text)
    assert not r.envelope_ok and r.envelope_loose_ok
    assert "order" in r.check("envelope.strict").reason
    assert r.check("envelope.order").applicable and not r.check("envelope.order").passed


@pytest.mark.parametrize("stray", ["Confidence: maybe\n\n", "> **Confidence**: maybe\n\n", "**Confidence**: ok\n\n"])
def test_strict_implies_loose_with_stray_label(card, stray):
    r = score(card, BODY + stray + env("high"))
    if r.envelope_ok:
        assert r.envelope_loose_ok


def test_solution_verification_heading_counts_for_loose(card):
    text = ("## Implementation\nBuilt it.\n\n## Architecture\nDesign.\n\n## Verification\nRan the tests.\n\n"
            "## Remaining Items\n- more\n\n" + env().replace("**Verification**: Staging run and a rollback drill.\n",
                                                             ""))
    r = score(card, text, tool_mode="solution")
    assert not r.envelope_ok and r.envelope_loose_ok


@pytest.mark.parametrize("text", ["", None, "   \n\t ", "**Result**:\n**Confidence**:\n"])
def test_empty_response_fails(card, text):
    r = score(card, text)
    assert not r.envelope_ok and not r.envelope_loose_ok and r.confidence_level is None


def test_field_names_and_levels_come_from_the_card(card):
    text = CARD_PATH.read_text(encoding="utf-8")
    text = text.replace("**Confidence**: high | medium | low", "**Certainty**: sure | unsure")
    text = text.replace("**Result**: {Implementation, analysis, or recommendation}", "**Answer**: {The answer}")
    other = parse_card(text, "other.md")
    env2 = ("**Answer**: do X.\n**Certainty**: Sure (0.9)\n**Uncertainty Factors**: none known.\n"
            "**Verification**: test.\n")
    r = score(other, BODY + env2)
    assert r.envelope_ok and r.confidence_level == "sure" and r.confidence_value == pytest.approx(0.9)
    r = score(other, BODY + env2.replace("Sure (0.9)", "sure"))
    assert r.confidence_value == pytest.approx(0.85)  # unknown levels are spread by rank, highest first
    r = score(other, BODY + env())
    assert not r.envelope_ok and not r.envelope_loose_ok
    assert r.check("envelope.field.answer") is not None


def test_scoring_config_from_yaml(tmp_path):
    p = tmp_path / "scoring.yaml"
    p.write_text("scoring:\n  confidence_levels: {high: 0.8, medium: 0.55, low: 0.2}\n  severities: [P0, P1]\n")
    cfg = ScoringConfig.from_yaml(p)
    assert cfg.confidence_levels["medium"] == 0.55 and cfg.severities == ["P0", "P1"]
    p.write_text("confidence_levels: {high: 2}\n")
    from agenteval.errors import InputError

    with pytest.raises(InputError):
        ScoringConfig.from_yaml(p)
    p.write_text("bogus: 1\n")
    with pytest.raises(InputError):
        ScoringConfig.from_yaml(p)
