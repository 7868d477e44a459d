"""Recorded agent conversations replay offline (no key), are re-scored, and go stale with the workspace."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agenteval.plan.matrix import build_plan
from agenteval.run import runner

REPO = Path(__file__).resolve().parents[2]


def replay(tmp_path: Path, fixtures: Path) -> list[dict]:
    st = runner.RunSettings(backend="replay", recordings=str(REPO / "golden" / "recordings-agentic"), report=False)
    rd, _, code = runner.start_run(
        card_path=str(REPO / "cards" / "mlops-engineer.md"), scenario_paths=[str(REPO / "scenarios" / "agentic")],
        fixtures_dir=str(fixtures), results_dir=str(tmp_path / "res"), settings=st, command=["agenteval"],
        plan_builder=lambda c, s: build_plan(c, s))
    assert code == 0
    return [json.loads(x) for x in (rd.path / "scores.jsonl").read_text().splitlines()]


def test_agentic_recordings_replay_and_rescore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")  # nothing listens: no call may be made
    lines = {ln["scenario_id"]: ln for ln in replay(tmp_path, REPO / "scenarios" / "fixtures")}
    audit, sol = lines["audit-serving-skew-agentic"], lines["solution-fix-churn-leakage"]
    research = lines["research-feature-store-ttl"]
    assert [c["name"] for c in research["tool_calls"]] == ["Read", "WebFetch", "WebFetch"]
    assert all(c["ok"] for c in research["tool_calls"]) and research["task_score"] == 1.0
    for ln in (audit, sol, research):
        assert ln["status"] == "ok" and ln["stale"] is False
        assert ln["tool_permission_ok"] is True and ln["tools_denied"] == [] and ln["turns"] >= 2
        checks = {c["id"]: c for c in ln["checks"]}
        assert checks["agent.permission"]["passed"] and checks["agent.evidence"]["passed"]
    assert audit["workspace_changed"] is False and set(audit["files_read"]) == {"serve.py", "train_features.py",
                                                                                 "Dockerfile"}
    assert sol["workspace_changed"] is True and "train.py" in sol["files_read"]
    assert {c["id"]: c for c in sol["checks"]}["agent.expected_edits"]["passed"] is True
    assert {"name": "Edit", "ok": True} in sol["tool_calls"]


def test_changed_workspace_makes_the_recording_stale(tmp_path: Path) -> None:
    fx = tmp_path / "fixtures"
    shutil.copytree(REPO / "scenarios" / "fixtures", fx)
    (fx / "serving_skew" / "serve.py").write_text((fx / "serving_skew" / "serve.py").read_text() + "# changed\n")
    lines = {ln["scenario_id"]: ln for ln in replay(tmp_path, fx)}
    assert lines["audit-serving-skew-agentic"]["stale"] is True
    assert lines["solution-fix-churn-leakage"]["stale"] is False
