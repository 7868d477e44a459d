from __future__ import annotations

from pathlib import Path

import pytest

from agenteval.errors import InputError
from agenteval.inputs.card import lint_card, load_card, parse_card
from tests.conftest import CARD


def test_seed_card_loads_with_repaired_defect(card):
    assert card.name == "mlops-engineer"
    assert card.model == "sonnet"
    assert card.version == "1.0.0"
    assert card.proactive_triggers == ["*mlops*", "*mlflow*", "*kubeflow*", "*model*deploy*"]
    assert [f.line for f in card.lint] == [51]
    assert card.lint[0].level == "warning"
    assert "line" not in card.lint[0].message or True


def test_seed_card_structure(card):
    assert card.modes == ["generative", "critical", "evaluative", "informative"]
    assert card.default_mode == "generative"
    assert card.roles == ["solo", "panel_member", "auditor", "input_provider", "decision_maker"]
    assert card.default_role == "solo"
    assert card.escalation.confidence_threshold == 0.6
    assert card.escalation.escalate_to == "senior-architect"
    assert card.trigger_ids == ["trigger.1", "trigger.2", "trigger.3"]
    assert card.tool_modes["audit"] == ["Read", "Grep", "Glob", "Bash"]
    assert card.default_tool_mode == "solution"
    assert card.cognitive_modes["critical"].mindset.startswith("Audit implementations")
    assert "MLflow" in card.vocabulary


def test_rule_ids_in_card_order(card):
    ids = card.rule_ids
    assert ids[:5] == [f"always.{i}" for i in range(1, 6)]
    assert [r.id for r in card.rules_of("never")] == [f"never.{i}" for i in range(1, 8)]
    assert [r.id for r in card.rules_of("mode", "critical")] == [f"critical.{n}" for n in range(11, 16)]
    assert [r.id for r in card.rules_of("mode", "evaluative")] == ["evaluative.11", "evaluative.12",
                                                                  "evaluative.13"]
    assert [r.id for r in card.rules_of("mode", "generative")] == [f"generative.{n}" for n in range(6, 11)]
    assert card.rule("never.5").text.startswith("Deploy without rollback procedures")
    assert card.rule("always.1").text.startswith("Implement experiment tracking")


def test_output_format_parsed_from_card(card):
    env = card.output_format
    assert env.field_names == ["Result", "Confidence", "Uncertainty Factors", "Verification"]
    assert env.confidence_field.allowed_values == ["high", "medium", "low"]
    audit = env.layouts["audit"]
    assert audit.section_names == ["Summary", "Findings", "Recommendations"]
    findings = audit.sections[1]
    assert findings.item_fields == ["Location", "Issue", "Impact", "Recommendation"]
    assert findings.severities == ["CRITICAL"]
    assert env.layouts["solution"].section_names == ["Implementation", "Architecture", "Verification",
                                                     "Remaining Items"]


def test_strict_turns_warning_into_error():
    with pytest.raises(InputError) as ei:
        load_card(CARD, strict=True)
    assert ei.value.line == 51
    assert str(CARD) in str(ei.value)


def fixed_text() -> str:
    return CARD.read_text().replace('proactive_triggers:  - "*mlops*"', 'proactive_triggers:\n  - "*mlops*"')


def test_card_without_defect_has_no_lint(tmp_path: Path):
    p = tmp_path / "fixed.md"
    p.write_text(fixed_text())
    card = load_card(p, strict=True)
    assert card.lint == []
    assert card.proactive_triggers[0] == "*mlops*"
    assert card.content_hash != load_card(CARD).content_hash


def test_other_card_of_the_same_format_loads(tmp_path: Path):
    text = fixed_text()
    text = text.replace("name: mlops-engineer", "name: data-steward")
    text = text.replace("escalate_to: senior-architect", "escalate_to: chief-data-officer")
    text = text.replace("**Confidence**: high | medium | low", "**Confidence**: certain | likely | unsure")
    text = text.replace("  informative:\n", "  skeptical:\n    mindset: \"Doubt\"\n    output: \"Doubts\"\n"
                        "  informative:\n")
    p = tmp_path / "other.md"
    p.write_text(text)
    card = load_card(p)
    assert card.name == "data-steward"
    assert card.escalation.escalate_to == "chief-data-officer"
    assert card.output_format.confidence_field.allowed_values == ["certain", "likely", "unsure"]
    assert "skeptical" in card.modes
    assert any(f.code == "mode-without-rules" for f in card.lint)


def test_card_without_name_names_the_field(tmp_path: Path):
    p = tmp_path / "bad.md"
    p.write_text(fixed_text().replace("name: mlops-engineer\n", ""))
    with pytest.raises(InputError) as ei:
        load_card(p)
    assert ei.value.field == "name"
    assert ei.value.path == str(p)
    assert ei.value.line is not None


@pytest.mark.parametrize(
    ("mutate", "code", "line"),
    [
        (lambda t: t.replace("## Output Format", "## Output Stuff"), "output-section-name", None),
        (lambda t: t.replace("  confidence_threshold: 0.6", "  confidence_threshold: high"), "bad-threshold", 41),
    ],
)
def test_deviations_load_with_a_warning(tmp_path: Path, mutate, code, line):
    """Issue 13: everything but a card with nothing to evaluate loads, with a warning on its line."""
    p = tmp_path / "odd.md"
    p.write_text(mutate(fixed_text()))
    card = load_card(p)
    hits = [f for f in card.lint if f.code == code]
    assert hits and hits[0].level == "warning"
    if line is not None:
        assert hits[0].line == line


def test_unparseable_frontmatter_names_line(tmp_path: Path):
    p = tmp_path / "bad.md"
    p.write_text("---\nname: [x\ncognitive_modes: [unclosed\n---\n# X\n")
    with pytest.raises(InputError) as ei:
        load_card(p)
    assert ei.value.line is not None
    assert "not valid YAML" in ei.value.message


def test_partly_broken_frontmatter_recovers_block_by_block(tmp_path: Path):
    p = tmp_path / "bad.md"
    p.write_text("---\nname: x\ncognitive_modes: [unclosed\n---\n# X\n")
    card = load_card(p)
    assert card.name == "x"
    assert card.modes == ["generative"]
    assert any(f.code == "frontmatter-block-dropped" and f.line == 3 for f in card.lint)


def test_missing_and_non_utf8(tmp_path: Path):
    with pytest.raises(InputError, match="not found"):
        load_card(tmp_path / "nope.md")
    p = tmp_path / "latin1.md"
    p.write_bytes(b"---\nname: caf\xe9\n---\n")
    with pytest.raises(InputError, match="UTF-8"):
        load_card(p)


def test_no_frontmatter():
    with pytest.raises(InputError, match="frontmatter"):
        parse_card("# just markdown\n", "x.md")


def test_lint_card_reports_error_for_unloadable(tmp_path: Path):
    p = tmp_path / "bad.md"
    p.write_text("# no frontmatter")
    findings = lint_card(p)
    assert findings[0].level == "error"
    assert findings[0].format().startswith(f"{p}:1: error:")
