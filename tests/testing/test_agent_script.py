"""The fake API's scripted multi-turn tool use, driven by the real Claude Code runtime over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

from agenteval.testing.agent_script import AgentScript, TurnView, agent_turn, text, tool_use, workspace_of
from agenteval.testing.fake_api import FakeAnthropicAPI
from runtime_fixtures import run_cli, runtime_cli


def _tool_results(msgs: list[dict]) -> list[dict]:
    out = []
    for m in msgs:
        if m.get("type") == "user":
            out += [b for b in m["message"]["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]
    return out


def test_turn_and_workspace_helpers() -> None:
    env = {"type": "text", "text": "x\n - Primary working directory: /tmp/w1\n"}
    req = {"tools": [{"name": "Read"}], "messages": [{"role": "user", "content": [env]},
                        {"role": "assistant", "content": []}, {"role": "user", "content": "y"}]}
    assert agent_turn(req) == 2
    assert workspace_of(req) == "/tmp/w1"
    script = AgentScript([[tool_use("Read", file_path="{cwd}/a.txt")]], final="bye")
    blocks, stop = script.answer({**req, "messages": req["messages"][:1]})
    assert stop == "tool_use" and blocks[0]["input"] == {"file_path": "/tmp/w1/a.txt"}
    blocks, stop = script.answer(req)
    assert stop == "end_turn" and blocks == [text("bye")]
    # a tool's side request (WebFetch asking a small model about a page) gets the page back
    side = {"messages": [{"role": "user", "content": "Web page content:\n---\nPAGE\n---\nWhat?"}]}
    assert script.wants(side)
    blocks, _ = script.answer(side)
    assert "PAGE" in blocks[0]["text"] and len(script.requests) == 2 and len(script.side_requests) == 1


def test_scripted_read_returns_the_workspace_file(tmp_path: Path) -> None:
    runtime_cli()
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "train.py").write_text("SECRET_MARKER = 42\n")
    seen: list[str] = []

    def final(view: TurnView) -> list[dict]:
        seen.extend(r["text"] for r in view.tool_results())
        return [text("read it")]

    script = AgentScript([[tool_use("Read", file_path="{cwd}/train.py")], final])
    with FakeAnthropicAPI() as fake:
        fake.script_agent(script)
        msgs = run_cli(fake.base_url, ws, tmp_path / "home", "read train.py",
                       ["--model", "claude-sonnet-4-5", "--tools", "Read,Grep", "--allowedTools", "Read,Grep",
                        "--permission-mode", "dontAsk"])
    results = _tool_results(msgs)
    assert len(results) == 1 and not results[0].get("is_error")
    assert "SECRET_MARKER = 42" in json.dumps(results[0]["content"])
    assert any("SECRET_MARKER = 42" in s for s in seen)  # the runtime sent the file back to the model
    final_msg = msgs[-1]
    assert final_msg["type"] == "result" and final_msg["result"] == "read it"
    # the streamed tool_use arrived whole (input_json_delta reassembled by the runtime)
    uses = [b for m in msgs if m.get("type") == "assistant" for b in m["message"]["content"]
            if b.get("type") == "tool_use"]
    assert uses[0]["input"] == {"file_path": str(ws / "train.py")}


def test_scripted_edit_with_edit_disallowed_is_a_tool_error(tmp_path: Path) -> None:
    runtime_cli()
    ws = tmp_path / "ws"
    ws.mkdir()
    target = ws / "deploy.yaml"
    target.write_text("replicas: 1\n")
    script = AgentScript([[tool_use("Edit", file_path="{cwd}/deploy.yaml", old_string="1", new_string="9")]],
                         final="tried")
    with FakeAnthropicAPI() as fake:
        fake.script_agent(script)
        msgs = run_cli(fake.base_url, ws, tmp_path / "home", "fix deploy.yaml",
                       ["--model", "claude-sonnet-4-5", "--allowedTools", "Read,Grep",
                        "--disallowedTools", "Edit,Write", "--permission-mode", "dontAsk"])
    results = _tool_results(msgs)
    assert len(results) == 1 and results[0]["is_error"] is True
    assert "No such tool available: Edit" in json.dumps(results[0]["content"])
    assert target.read_text() == "replicas: 1\n"
    assert len(script.requests) == 2  # turn 1 (tool_use), turn 2 (final text)
