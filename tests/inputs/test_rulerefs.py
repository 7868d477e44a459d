"""Issue 13: stable rule references (resolve by the rule's text, not its position) and card rule diffs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agenteval.errors import InputError
from agenteval.inputs.card import load_card
from agenteval.inputs.rulerefs import diff_card_rules, resolve, snapshot_of, write_snapshot
from agenteval.inputs.scenario import InputErrors, load_scenarios
from tests.cli.test_cli import cli
from tests.conftest import CARD, REPO

V2 = REPO / "tests" / "data" / "cards" / "mlops-engineer-v2.md"
SCEN = REPO / "scenarios"


def test_seed_suite_resolves_positionally_against_the_seed_card() -> None:
    scs = load_scenarios([SCEN], load_card(CARD))
    assert len(scs) == 28
    assert all(not s.ref_notes for s in scs)


def test_seed_suite_follows_the_renumbered_v2_card() -> None:
    card = load_card(V2)
    scs = {s.id: s for s in load_scenarios([SCEN], card)}
    cadence = scs["evaluate-retraining-cadence"]
    # never.2/never.3 moved to never.3/never.4 (a Never rule was inserted); evaluative.12 -> evaluative.17
    assert cadence.expect.tempts == ["never.3", "never.4"]
    assert any(e.rule == "evaluative.17" for e in cadence.expect.required_elements)
    assert {(n.ref, n.new_id, n.outcome) for n in cadence.ref_notes} >= {
        ("never.2", "never.3", "moved"), ("evaluative.12", "evaluative.17", "moved")}
    compare = scs["compare-mlflow-kubeflow"]
    note = next(n for n in compare.ref_notes if n.ref == "evaluative.11")
    assert note.outcome == "reworded" and note.new_id == "evaluative.16"
    drift = scs["audit-drift-monitoring-config"]
    gone = [n for n in drift.ref_notes if n.outcome == "gone"]
    assert [n.ref for n in gone] == ["evaluative.13"] and gone[0].level == "warning"
    assert "skipped" in gone[0].message
    assert all(e.rule != "evaluative.13" for e in drift.expect.required_elements)


def test_resolve_outcomes() -> None:
    cands = {"never.1": "Deploy without rollback", "never.2": "Skip drift monitoring entirely",
             "never.3": "Skip drift monitoring entirely"}
    assert resolve("never.1", "Deploy without rollback", cands).outcome == "positional"
    assert resolve("never.1", None, cands).outcome == "positional"
    assert resolve("never.9", None, cands).outcome == "unknown"
    r = resolve("never.5", "Skip drift monitoring entirely", cands)
    assert r.outcome == "ambiguous" and "never.2" in r.describe() and "never.3" in r.describe()
    r = resolve("never.4", "deploy WITHOUT a rollback", {"never.7": "Deploy without a rollback plan"})
    assert r.outcome == "reworded" and r.new_id == "never.7"
    r = resolve("never.4", "Store artifacts without metadata", cands)
    assert r.outcome == "gone" and r.suggestions


def test_ambiguous_reference_is_an_error_and_every_problem_is_reported(tmp_path: Path) -> None:
    card_text = CARD.read_text(encoding="utf-8")
    # the last Never rule moves to the top, twice: a reference to its text is ambiguous
    dup = "- Allow training-serving skew in feature engineering—use feature stores to prevent silent drift"
    first = "- Deploy models without experiment tracking"
    text = card_text.replace(dup + "\n", "").replace(first, dup + "\n" + dup + "\n" + first)
    card_path = tmp_path / "card.md"
    card_path.write_text(text, encoding="utf-8")
    scen = tmp_path / "scenarios"
    shutil.copytree(SCEN, scen)
    (scen / "mini-bad.yaml").write_text((scen / "audit-serving-skew.yaml").read_text(encoding="utf-8")
                                        .replace("id: audit-serving-skew", "id: mini-bad")
                                        .replace("primary_mode: critical", "primary_mode: dreamy"),
                                        encoding="utf-8")
    with pytest.raises(InputErrors) as ei:
        load_scenarios([scen], load_card(card_path))
    lines = ei.value.lines()
    assert any("never.7 is ambiguous" in ln and "never.1" in ln and "never.2" in ln for ln in lines), lines
    assert any("mini-bad.yaml" in ln and "unknown mode 'dreamy'" in ln for ln in lines), lines
    files = {ln.split(":")[0] for ln in lines}
    assert len(files) >= 3  # problems of several files in one go
    p = cli("validate", "--card", str(card_path), str(scen))
    assert p.returncode == 2
    assert len([ln for ln in p.stderr.splitlines() if ln.startswith("agenteval: error:")]) == len(lines)


def test_unknown_reference_suggests_a_mapping(tmp_path: Path) -> None:
    scen = tmp_path / "s"
    scen.mkdir()
    src = (SCEN / "evaluate-retraining-cadence.yaml").read_text(encoding="utf-8")
    (scen / "a.yaml").write_text(src.replace("tempts: [never.2, never.3]", "tempts: [never.2, never.33]"),
                                 encoding="utf-8")
    write_snapshot(load_card(CARD), scen)
    (scen / "fixtures").mkdir()
    with pytest.raises(InputError) as ei:
        load_scenarios([scen], load_card(CARD))
    assert "'never.33' is not a Never rule" in str(ei.value)


def test_snapshot_round_trip_and_scenarios_snapshot_command(tmp_path: Path) -> None:
    snap = snapshot_of(load_card(CARD))
    assert snap.rules["never.5"].startswith("Deploy without rollback")
    assert snap.triggers["trigger.2"] == "Novel requirements without precedent"
    proj = tmp_path / "p"
    assert cli("init", "--card", str(CARD), str(proj)).returncode == 0
    (proj / "scenarios" / "card-snapshot.json").unlink()
    p = cli("scenarios", "--snapshot", cwd=proj)
    assert p.returncode == 0 and (proj / "scenarios" / "card-snapshot.json").is_file()


def test_diff_card_rules_v1_to_v2() -> None:
    changes = diff_card_rules(load_card(CARD), load_card(V2))
    by = {(c.change, c.old_id, c.new_id) for c in changes}
    assert ("removed", "evaluative.13", None) in by
    assert ("reworded", "evaluative.11", "evaluative.16") in by
    assert ("moved", "evaluative.12", "evaluative.17") in by
    assert ("moved", "never.7", "never.8") in by
    assert ("added", None, "never.2") in by and ("added", None, "trigger.4") in by
    assert ("unchanged", "always.1", "always.1") in by


def test_lint_card_prints_how_references_resolve() -> None:
    p = cli("lint-card", str(V2))
    assert p.returncode == 0, p.stdout
    assert "expect.tempts: never.7 -> never.8 (moved)" in p.stdout
    assert "evaluative.11 -> evaluative.16 (reworded" in p.stdout
    assert "warning: expect.complexity-vs-observability.rule: evaluative.13: its rule is gone" in p.stdout


def test_run_on_the_renumbered_card_does_not_stop(tmp_path: Path) -> None:
    """The issue's failing case: `run --card` on the next card version with the seed suite, unchanged."""
    p = cli("run", "--card", str(V2), "--scenarios", "audit-drift-monitoring-config,evaluate-retraining-cadence",
            "--output-dir", str(tmp_path), "--no-report")
    assert p.returncode == 0, p.stderr
    assert "evaluative.13: its rule is gone from the card" in p.stderr
    run_dir = Path(p.stdout.strip().splitlines()[-1])
    lines = (run_dir / "scores.jsonl").read_text(encoding="utf-8").splitlines()
    skipped = [c for ln in lines for c in json.loads(ln)["checks"] if c["id"].startswith("expect.skipped.")]
    assert skipped and not skipped[0]["applicable"] and "is gone" in skipped[0]["reason"]
