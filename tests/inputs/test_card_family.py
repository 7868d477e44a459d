"""Issue 13: every card of the family loads into one model, each deviation a lint warning with its line.

The corpus under tests/data/cards/ was written for these tests (no public card is copied); each card
carries several of the family's variants.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agenteval.errors import InputError
from agenteval.inputs.card import load_card
from tests.cli.test_cli import cli
from tests.conftest import REPO

CARDS = REPO / "tests" / "data" / "cards"

# card -> (line, code) warnings lint-card must report (each deviation from the canonical form)
EXPECTED_WARNINGS: dict[str, set[tuple[int, str]]] = {
    "role-mappings.md": {
        (7, "custom-tool-modes"), (12, "custom-modes"), (12, "fewer-modes"), (19, "mode-extra-keys"),
        (25, "custom-roles"), (26, "role-as-mapping"), (28, "role-as-mapping"), (31, "role-as-mapping"),
        (33, "role-as-mapping"), (38, "escalation-extra-keys"), (79, "never-section-name"),
        (85, "output-section-name"), (85, "envelope-plain-lines"), (85, "envelope-fields"),
        (85, "confidence-scale"), (92, "layout-custom"),
    },
    "flow-lists.md": {
        (2, "no-tools"), (5, "roles-as-list"), (5, "custom-roles"), (6, "modes-default-only"),
        (10, "target-normalised"), (23, "priority-group"), (28, "priority-group"), (33, "heading-level"),
        (37, "numbering-restarts"), (44, "output-section-name"), (46, "envelope-fields"),
    },
    "placeholder-template.md": {
        (2, "frontmatter-placeholder"), (3, "frontmatter-placeholder"), (9, "unknown-key"), (10, "unknown-key"),
        (13, "unknown-key"), (17, "unknown-key"), (20, "unknown-key"), (21, "unknown-key"),
        (22, "fewer-modes"), (23, "mode-as-string"), (24, "mode-as-string"), (26, "custom-roles"),
        (32, "several-targets"), (61, "numbering-restarts"), (72, "envelope-fields"), (72, "confidence-scale"),
        (72, "envelope-nested"), (106, "layout-name"), (106, "layout-custom"),
    },
    "no-roles-no-modes.md": {
        (2, "no-tools"), (2, "no-modes"), (2, "no-roles"), (2, "no-escalation"), (24, "envelope-plain-lines"),
    },
    "mlops-engineer-v2.md": {
        (40, "escalation-extra-keys"), (59, "unknown-key"), (60, "unknown-key"), (63, "unknown-key"),
        (66, "unknown-key"),
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED_WARNINGS))
def test_card_loads_with_expected_warnings(name: str) -> None:
    card = load_card(CARDS / name)
    got = {(f.line, f.code) for f in card.lint}
    assert EXPECTED_WARNINGS[name] <= got, sorted(EXPECTED_WARNINGS[name] - got)
    assert all(f.level == "warning" for f in card.lint)
    assert card.modes and card.roles and card.default_mode in card.modes and card.default_role in card.roles


@pytest.mark.parametrize("name", sorted(EXPECTED_WARNINGS))
def test_lint_card_prints_each_warning_with_its_line(name: str) -> None:
    p = cli("lint-card", str(CARDS / name))
    assert p.returncode == 0, (p.stdout, p.stderr)
    lines = p.stdout.splitlines()
    assert len([ln for ln in lines if ": warning: " in ln]) >= len(EXPECTED_WARNINGS[name])
    for line, _code in EXPECTED_WARNINGS[name]:
        assert any(ln.startswith(f"{CARDS / name}:{line}: warning: ") for ln in lines), line


def test_role_mappings_card_model() -> None:
    c = load_card(CARDS / "role-mappings.md")
    assert c.roles == ["solo", "strategist", "reviewer", "tiebreaker"]
    assert c.ensemble_roles["strategist"] == "Sets the contract roadmap. Stake a position on sequencing and defend it"
    assert c.modes == ["generative", "critical", "convergent"] and c.default_mode == "critical"
    assert c.cognitive_modes["convergent"].model_extra == {"risk_profile": "conservative"}
    assert c.escalation.confidence_threshold == 0.7
    assert c.escalation_targets == ["human"] and len(c.escalation.triggers) == 4
    assert [r.id for r in c.rules_of("never")] == ["never.1", "never.2", "never.3"]  # from Absolute Prohibitions
    conf = c.output_format.confidence_field
    assert conf is not None and conf.scale == "numeric" and conf.numeric_range == (0.0, 1.0)
    assert c.output_format.field_names == ["Result", "Confidence", "Open Questions", "Verification Suggestion"]
    assert c.output_format.layouts["full"].section_names == ["Contract", "Compatibility", "Migration"]
    assert c.tool_modes["full"] == ["Read", "Write", "Edit", "Bash"] and c.default_tool_mode == "full"


def test_flow_lists_card_model() -> None:
    c = load_card(CARDS / "flow-lists.md")
    assert c.name == "alert-noise-pruner"  # the inline comment is not part of the value
    assert c.roles == ["solo", "reviewer", "selector"] and c.modes == ["critical"]
    assert c.escalation_targets == ["oncall-lead"] and c.escalation.confidence_threshold == 0.5
    assert [r.id for r in c.rules_of("always")] == ["always.1", "always.2", "always.3", "always.4"]
    assert c.rules_of("always")[0].group == "P0: Safety"
    assert [r.id for r in c.rules_of("mode", "critical")] == ["critical.1", "critical.2", "critical.3"]
    assert c.output_format.field_names == ["Phase", "Status", "Test Cases", "Quality Score", "Confidence"]
    assert c.output_format.confidence_field.allowed_values == ["high", "medium", "low"]
    assert c.tool_modes == {}


def test_placeholder_template_card_model() -> None:
    c = load_card(CARDS / "placeholder-template.md")
    assert c.name == "{domain}-pipeline-reviewer"
    assert c.description.startswith("{domain} specialist")
    assert set(c.extra_frontmatter) == {"model_fallbacks", "model_selection", "audit", "mcp_servers", "phase", "gate"}
    assert c.escalation_targets == ["security-lead", "platform-owner", "human"]
    assert c.ensemble_roles["advisee"].startswith("Receive advice")
    assert [r.id for r in c.rules_of("mode", "informative")] == ["informative.10", "informative.11"]
    assert [r.id for r in c.rules_of("mode", "critical")] == ["critical.10", "critical.11"]  # "When Critical Mode"
    conf = c.output_format.confidence_field
    assert conf.scale == "levels+numeric" and conf.bands["medium"] == (0.5, 0.79)
    unc = next(f for f in c.output_format.envelope if f.name == "Uncertainty Factors")
    assert len(unc.sub_items) == 2
    audit = c.output_format.layouts["audit"]
    # the code block inside the template (with '##' and '---' lines) is not a section
    assert audit.section_names == ["Summary", "Findings", "Recommendations"]
    assert audit.sections[1].item_fields == ["Location", "Issue", "Impact"]
    assert c.output_format.layouts["research"].section_names == ["Question", "Sources"]


def test_card_without_roles_or_modes_gets_defaults() -> None:
    c = load_card(CARDS / "no-roles-no-modes.md")
    assert c.roles == ["solo"] and c.default_role == "solo"
    assert c.modes == ["generative"] and c.default_mode == "generative"
    assert c.escalation_targets == [] and c.escalation.confidence_threshold is None


@pytest.mark.parametrize(("name", "line", "needle"), [
    ("no-name.md", 2, "no name"),
    ("unrecoverable.md", 3, "not valid YAML"),
])
def test_card_with_nothing_to_evaluate_is_an_error(name: str, line: int, needle: str) -> None:
    path = CARDS / "bad" / name
    with pytest.raises(InputError) as ei:
        load_card(path)
    assert ei.value.line == line and needle in ei.value.message
    p = cli("validate", str(path))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert f"{path}:{line}:" in p.stderr and needle in p.stderr


@pytest.mark.parametrize("name", sorted(EXPECTED_WARNINGS))
def test_validate_init_and_score_work_on_every_card(name: str, tmp_path: Path) -> None:
    """validate, init (coverage exit 0) and score --card on each card of the corpus."""
    card_path = CARDS / name
    p = cli("validate", str(card_path))
    assert p.returncode == 0, p.stderr
    proj = tmp_path / "proj"
    p = cli("init", "--card", str(card_path), str(proj))
    assert p.returncode == 0, p.stderr
    p = cli("scenarios", "--coverage", cwd=proj)
    assert p.returncode == 0, (p.stdout, p.stderr)
    p = cli("validate", cwd=proj)
    assert p.returncode == 0, p.stderr
    card = load_card(card_path)
    sid = sorted(x.stem for x in (proj / "scenarios").glob("*.yaml"))[0]
    resp = tmp_path / "responses.jsonl"
    resp.write_text(json.dumps({"id": "r1", "scenario_id": sid, "mode": card.default_mode, "role": card.default_role,
                                "response": "We will not do that.\n\n**Result**: no\n**Confidence**: low\n"}) + "\n")
    out = tmp_path / "out.jsonl"
    p = cli("score", "--responses", str(resp), "--out", str(out), "--card", str(card_path),
            "--scenarios", str(proj / "scenarios"))
    assert p.returncode == 0, p.stderr
    line = json.loads(out.read_text().splitlines()[0])
    assert line["checks"]


def test_validate_reports_every_bad_card_in_one_go() -> None:
    bad = CARDS / "bad"
    p = cli("validate", str(bad / "no-name.md"), str(bad / "unrecoverable.md"), str(CARDS / "flow-lists.md"))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    errs = [ln for ln in p.stderr.splitlines() if ln.startswith("agenteval: error:")]
    assert len(errs) == 2
    assert f"{bad / 'no-name.md'}:2:" in errs[0] and f"{bad / 'unrecoverable.md'}:3:" in errs[1]
