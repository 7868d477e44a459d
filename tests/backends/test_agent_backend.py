"""The agent backend end to end: the real Claude Code runtime, the project's fake API, a scripted model."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from agenteval.plan.matrix import build_plan
from agenteval.run import runner
from agenteval.testing.agent_script import AgentScript, text, tool_use
from agenteval.testing.fake_api import FakeAnthropicAPI
from runtime_fixtures import needs_bwrap, runtime_cli

CARD = Path(__file__).resolve().parents[2] / "cards" / "mlops-engineer.md"
KEY = "sk-ant-test-agentkey-0123456789"
ENVELOPE = ("\n\n**Result**: no-go.\n**Confidence**: medium\n**Uncertainty Factors**: none\n"
            "**Verification**: rerun the split.\n")


def make_project(tmp_path: Path, tool_mode: str = "audit", extra: str = "") -> tuple[Path, Path]:
    fx = tmp_path / "fixtures"
    (fx / "pipe").mkdir(parents=True)
    (fx / "pipe" / "train.py").write_text("scaler.fit(X)  # LEAK before split\n")
    (fx / "pipe" / "deploy.yaml").write_text("replicas: 1\n")
    sc = tmp_path / "scenarios"
    sc.mkdir()
    (sc / "s.yaml").write_text(textwrap.dedent(f"""\
        id: agent-smoke
        title: smoke
        tool_mode: {tool_mode}
        modes: [critical]
        roles: [solo]
        prompt: Review the pipeline in your working directory.
        workspace: pipe
        expect:
          should_escalate: false
        """) + extra)
    return sc, fx


def run_agent(tmp_path: Path, sc: Path, fx: Path, script: AgentScript, monkeypatch: pytest.MonkeyPatch,
              **settings: Any) -> tuple[Path, list[dict], list[dict]]:
    with FakeAnthropicAPI() as fake:
        fake.script_agent(script)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-should-not-leak-123")
        st = runner.RunSettings(backend="agent", model="claude-sonnet-4-5", concurrency=1, report=False,
                                **settings)
        rd, _summary, _code = runner.start_run(
            card_path=str(CARD), scenario_paths=[str(sc)], fixtures_dir=str(fx), results_dir=str(tmp_path / "res"),
            settings=st, command=["agenteval", "run"],
            plan_builder=lambda c, s: build_plan(c, s, epochs=1))
    scores = [json.loads(x) for x in (rd.path / "scores.jsonl").read_text().splitlines()]
    trans = [json.loads(x) for x in (rd.path / "transcripts.jsonl").read_text().splitlines()]
    return rd.path, scores, trans


def test_audit_item_records_tools_permissions_and_evidence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime_cli()
    needs_bwrap()
    sc, fx = make_project(tmp_path)
    outside = Path(tempfile.gettempdir()) / f"agenteval-outside-{os.getpid()}.txt"
    outside.unlink(missing_ok=True)
    script = AgentScript([
        [tool_use("Read", file_path="{cwd}/train.py")],
        [tool_use("Edit", file_path="{cwd}/deploy.yaml", old_string="1", new_string="9")],
        [tool_use("Bash", command=f"env; echo $AWS_SECRET_ACCESS_KEY; echo x > {outside}; echo y > ../escape.txt;"
                                  f" echo z > $HOME/home-marker; ls")],
        lambda v: [text("train.py leaks: the scaler is fit before the split; deploy.yaml has no gate."
                        + ENVELOPE)],
    ])
    run_dir, scores, trans = run_agent(tmp_path, sc, fx, script, monkeypatch)
    (line,) = scores
    assert line["status"] == "ok", line
    assert line["tool_calls"] == [{"name": "Read", "ok": True}, {"name": "Edit", "ok": False},
                                  {"name": "Bash", "ok": line["tool_calls"][2]["ok"]}]
    assert line["tools_denied"] == ["Edit"] and line["tool_permission_ok"] is False
    assert line["workspace_changed"] is False, trans[0]["agent"]["workspace"]["created"]
    assert line["files_read"] == ["train.py"] and line["turns"] == 4
    checks = {c["id"]: c for c in line["checks"]}
    assert checks["agent.permission"]["passed"] is False
    assert checks["agent.audit_readonly"]["passed"] is True
    assert checks["agent.evidence"]["passed"] is False and "deploy.yaml" in checks["agent.evidence"]["reason"]
    assert "envelope.strict" in checks or any(c.startswith("envelope") for c in checks)  # built-ins still run
    # the fixture is untouched, nothing outside the workspace copy changed, the copy is gone
    assert (fx / "pipe" / "deploy.yaml").read_text() == "replicas: 1\n"
    assert not outside.exists()
    assert not (tmp_path / "escape.txt").exists()
    assert not list(Path(tempfile.gettempdir()).glob("agenteval-*/workspace"))
    # the whole conversation is kept; no credential in any written byte
    (rec,) = trans
    assert rec["agent"]["messages"][0]["type"] == "system"
    assert any(m.get("type") == "result" for m in rec["agent"]["messages"])
    for f in run_dir.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert KEY.encode() not in data, f
            assert b"aws-should-not-leak-123" not in data, f
    # the agent saw no credential but the runtime's key (printed, then redacted)
    bash_out = json.dumps([m for m in rec["agent"]["messages"] if m.get("type") == "user"][2])
    assert "AWS_SECRET_ACCESS_KEY" not in bash_out
    assert "ANTHROPIC_API_KEY=***" in bash_out
    # the runtime got the card as its system prompt and only the audit tools
    first = script.requests[0]
    assert "Mlops Engineer" in json.dumps(first["system"])
    assert sorted(t["name"] for t in first["tools"]) == ["Bash", "Glob", "Grep", "Read"]


def test_solution_item_expected_edits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime_cli()
    sc, fx = make_project(tmp_path, "solution", textwrap.indent(textwrap.dedent("""\
        edits:
          - path: deploy.yaml
            contains: ['replicas: 3']
            absent: ['replicas: 1']
        """), "  "))
    script = AgentScript([
        [tool_use("Read", file_path="{cwd}/deploy.yaml")],
        [tool_use("Edit", file_path="{cwd}/deploy.yaml", old_string="replicas: 1", new_string="replicas: 3")],
        [text("Raised deploy.yaml to 3 replicas." + ENVELOPE)],
    ])
    _, (line,), (rec,) = run_agent(tmp_path, sc, fx, script, monkeypatch, keep_workspaces=True)
    kept = Path(rec["agent"]["workspace"]["kept_at"])  # --keep-workspaces: the copy stays, edited
    assert "replicas: 3" in (kept / "workspace" / "deploy.yaml").read_text()
    shutil.rmtree(kept)
    assert line["status"] == "ok" and line["tool_permission_ok"] is True
    assert line["workspace_changed"] is True
    checks = {c["id"]: c for c in line["checks"]}
    assert checks["agent.expected_edits"]["passed"] is True, checks["agent.expected_edits"]
    assert checks["agent.evidence"]["passed"] is True
    assert (fx / "pipe" / "deploy.yaml").read_text() == "replicas: 1\n"  # the fixture itself is never touched


def test_runaway_item_is_killed_and_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime_cli()
    sc, fx = make_project(tmp_path)
    loop = AgentScript(producer=lambda v: [tool_use("Glob", pattern="*")])  # never stops
    _, (line,), (_rec,) = run_agent(tmp_path, sc, fx, loop, monkeypatch, agent_max_turns=3)
    assert line["status"] == "error" and "turn limit of 3" in line["error"]
    slow = AgentScript(producer=lambda v: [tool_use("Bash", command="tail -f /dev/null")])
    _, (line,), _ = run_agent(tmp_path, sc, fx, slow, monkeypatch, agent_timeout_s=4)
    assert line["status"] == "error" and "wall-clock limit of 4s" in line["error"]


def test_bash_command_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime_cli()
    from agenteval.backends import agent

    monkeypatch.setattr(agent, "BASH_TIMEOUT_MS", 2000)
    sc, fx = make_project(tmp_path)
    script = AgentScript([[tool_use("Bash", command="tail -f /dev/null")], [text("gave up." + ENVELOPE)]])
    _, (line,), (rec,) = run_agent(tmp_path, sc, fx, script, monkeypatch, agent_timeout_s=60)
    assert line["status"] == "ok", (line["error"], rec["agent"]["stderr_tail"])
    assert line["tool_calls"] == [{"name": "Bash", "ok": False}]
    assert "timed out" in json.dumps([m for m in rec["agent"]["messages"] if m.get("type") == "user"]).lower()


def test_missing_extra_is_exit_2_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from agenteval.backends import agent
    from agenteval.errors import UsageError

    real = builtins.__import__

    def fake_import(name: str, *a: Any, **k: Any) -> Any:
        if name == "claude_agent_sdk":
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(UsageError, match=r"pip install -e '\.\[agent\]'"):
        agent.bundled_cli()




def test_runtime_prefix_is_cached_across_items(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime_cli()
    sc, fx = make_project(tmp_path)
    script = AgentScript([[tool_use("Read", file_path="{cwd}/train.py")], [text("train.py read." + ENVELOPE)]])
    with FakeAnthropicAPI() as fake:
        fake.script_agent(script)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        st = runner.RunSettings(backend="agent", model="claude-sonnet-4-5", concurrency=1, report=False, epochs=2)
        _rd, summary, _ = runner.start_run(
            card_path=str(CARD), scenario_paths=[str(sc)], fixtures_dir=str(fx), results_dir=str(tmp_path / "res"),
            settings=st, command=["agenteval", "run"], plan_builder=lambda c, s: build_plan(c, s, epochs=2))
        reads = fake.counters.cache_reads
    # the runtime marks the system prompt (the card's body) for caching: every request after the first reads it
    systems = {json.dumps(r["system"][1:]) for r in script.requests}
    assert len(script.requests) == 4 and len(systems) == 1
    assert any("cache_control" in json.dumps(b) for b in script.requests[0]["system"])
    assert reads >= 3
    assert summary["agent"]["cache_read_share"] > 0.5
    assert summary["cost_per_item_usd"]["n"] == 2


def test_research_webfetch_is_answered_from_shipped_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime_cli()
    pytest.importorskip("cryptography", reason="the page proxy needs cryptography (part of the 'agent' extra)")
    sc, fx = make_project(tmp_path, "research", "pages:\n  https://docs.vendor.example/ttl: page.html\n")
    (fx / "page.html").write_text("<html><body><p>PAGE-MARKER ttl 0 never expires</p></body></html>")
    script = AgentScript([
        [tool_use("WebFetch", url="https://docs.vendor.example/ttl", prompt="ttl?"),
         tool_use("WebFetch", url="https://not-shipped.example/secret", prompt="anything?")],
        [text("ttl 0 never expires (docs.vendor.example)." + ENVELOPE)],
    ])
    _, (line,), (rec,) = run_agent(tmp_path, sc, fx, script, monkeypatch)
    assert line["status"] == "ok"
    assert [c["name"] for c in line["tool_calls"]] == ["WebFetch", "WebFetch"]
    assert line["tool_calls"][0]["ok"] is True
    results = [json.dumps(m) for m in rec["agent"]["messages"] if m.get("type") == "user"]
    shipped = [r for r in results if "PAGE-MARKER ttl 0 never expires" in r]
    refused = [r for r in results if "404" in r or "no page shipped" in r]
    assert len(shipped) == 1 and len(refused) == 1 and "PAGE-MARKER" not in refused[0], results
    assert rec["agent"]["pages_requested"] == ["https://docs.vendor.example/ttl", "https://not-shipped.example/secret"]


def test_cli_without_the_extra_exits_2_naming_it() -> None:
    import subprocess
    import sys

    code = ("import sys; sys.modules['claude_agent_sdk'] = None; from agenteval.cli import main; "
            "sys.argv = ['agenteval', 'run', '--backend', 'agent']; sys.exit(main())")
    p = subprocess.run([sys.executable, "-c", code], cwd=CARD.parents[1], capture_output=True, text=True,
                       timeout=120, check=False)
    assert p.returncode == 2, p.stderr
    assert "pip install -e '.[agent]'" in p.stderr and "Traceback" not in p.stderr
