from __future__ import annotations

import os
from pathlib import Path

import pytest

from agenteval.errors import InputError
from agenteval.inputs.scenario import load_scenario, load_scenarios, scenario_json_schema
from tests.conftest import MINI_SCENARIO


def test_mini_suite_loads_with_context(mini_suite: Path, card):
    scs = load_scenarios([mini_suite], card)
    assert [s.id for s in scs] == ["mini-audit", "mini-design"]
    s = scs[0]
    assert s.context_files == {"pipe/train.py": "scaler.fit(X)\nX_tr, X_va = split(X)\n"}
    assert s.roles_for(card) == ["solo", "panel_member"]
    assert s.modes_for(card) == card.modes
    assert s.source_path.endswith("mini-audit.yaml")
    assert s.content_hash().startswith("sha256:")


def test_content_hash_tracks_fixture_text(mini_suite: Path, card):
    h1 = load_scenarios([mini_suite], card)[0].content_hash()
    (mini_suite / "fixtures" / "pipe" / "train.py").write_text("changed\n")
    h2 = load_scenarios([mini_suite], card)[0].content_hash()
    assert h1 != h2


def _bad(mini_suite: Path, text: str) -> InputError:
    p = mini_suite / "bad.yaml"
    p.write_text(text)
    with pytest.raises(InputError) as ei:
        load_scenario(p, fixtures_dir=mini_suite / "fixtures")
    assert ei.value.path == str(p)
    return ei.value


def base(**over) -> str:
    return MINI_SCENARIO.format(id=over.get("id", "bad-one"), tool_mode=over.get("tool_mode", "audit"))


def test_missing_prompt(mini_suite):
    err = _bad(mini_suite, "\n".join(ln for ln in base().splitlines() if not ln.startswith(("prompt", "  Our"))))
    assert err.field == "prompt"
    assert "missing" in err.message


def test_unknown_field(mini_suite):
    err = _bad(mini_suite, base() + "colour: blue\n")
    assert err.field == "colour"
    assert err.line is not None


def test_wrong_type(mini_suite):
    err = _bad(mini_suite, base().replace("should_escalate: false", "should_escalate: [1, 2]"))
    assert err.field == "expect.should_escalate"


def test_bad_tool_mode(mini_suite):
    err = _bad(mini_suite, base(tool_mode="deploy"))
    assert err.field == "tool_mode"


def test_yaml_syntax_error_has_line(mini_suite):
    err = _bad(mini_suite, "id: x\ntitle: [unclosed\n")
    assert err.line == 3 or err.line == 2
    assert "invalid YAML" in err.message


def test_top_level_not_mapping(mini_suite):
    assert "mapping" in _bad(mini_suite, "- a\n- b\n").message


def test_empty_file(mini_suite):
    assert "empty" in _bad(mini_suite, "").message


@pytest.mark.parametrize("ctx", ["../../etc/passwd", "/etc/passwd", "pipe/../../x"])
def test_context_escape_refused(mini_suite, ctx):
    err = _bad(mini_suite, base().replace("[pipe/train.py]", f"['{ctx}']"))
    assert err.field == "context[0]"


def test_context_symlink_refused(mini_suite, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    os.symlink(outside, mini_suite / "fixtures" / "link.txt")
    err = _bad(mini_suite, base().replace("[pipe/train.py]", "[link.txt]"))
    assert err.field == "context[0]"
    assert "symlink" in err.message or "outside" in err.message


def test_missing_context_file(mini_suite):
    err = _bad(mini_suite, base().replace("[pipe/train.py]", "[pipe/nope.py]"))
    assert "not found" in err.message


def test_unknown_mode_role_rule_against_card(mini_suite, card):
    (mini_suite / "x.yaml").write_text(base(id="xx").replace("roles: [solo, panel_member]", "roles: [solo, boss]"))
    with pytest.raises(InputError) as ei:
        load_scenarios([mini_suite], card)
    assert ei.value.field == "roles" and "boss" in ei.value.message
    (mini_suite / "x.yaml").write_text(base(id="xx").replace("primary_mode: critical", "primary_mode: dreamy"))
    with pytest.raises(InputError) as ei:
        load_scenarios([mini_suite], card)
    assert ei.value.field == "primary_mode"
    (mini_suite / "x.yaml").write_text(base(id="xx").replace("[never.3]", "[never.99]"))
    with pytest.raises(InputError) as ei:
        load_scenarios([mini_suite], card)
    assert ei.value.field == "expect.tempts"


def test_duplicate_id(mini_suite, card):
    (mini_suite / "zz.yaml").write_text(base(id="mini-audit"))
    with pytest.raises(InputError) as ei:
        load_scenarios([mini_suite], card)
    assert "duplicate scenario id" in ei.value.message
    assert ei.value.path.endswith("zz.yaml")


def test_bad_regex_in_evidence(mini_suite):
    err = _bad(mini_suite, base().replace("'leak'", "'(unclosed'"))
    assert "regex" in err.message


def test_schema_has_fields():
    schema = scenario_json_schema()
    assert {"id", "prompt", "tool_mode", "expect", "context"} <= set(schema["properties"])
    assert "prompt" in schema["required"]
