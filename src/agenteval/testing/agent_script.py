"""Scripted multi-turn tool use for the fake API: the model side of an agent conversation, turn by turn.

The Claude Code runtime sends one Messages request per model turn, the whole conversation so far in
``messages``. The turn is told from the number of assistant messages in the request (turn 1 has none).
A script answers each turn with content blocks, which the fake streams as the real API does (``text_delta``
for text, ``input_json_delta`` for a ``tool_use`` block's input)::

    script = AgentScript([
        [tool_use("Read", file_path="{cwd}/train.py")],          # turn 1: read a file of the workspace
        lambda view: [text("It says: " + view.tool_results()[0]["text"])],   # turn 2: final answer
    ])
    with FakeAnthropicAPI() as fake:
        fake.script_agent(script)
        ...  # run the real CLI with ANTHROPIC_BASE_URL=fake.base_url

``{cwd}`` in any string of a tool input becomes the working directory the runtime names in its request
("Primary working directory: ..."), so a scripted call aims at the item's workspace copy. Requests that
carry no tools (side requests of the runtime) are left to the fake's ordinary answers. After the last
scripted turn, ``final`` (default: a short text) ends the conversation.

A turn can also be produced by a callable ``producer(view) -> blocks`` given for every turn (e.g. a relay
to a person or another model); :attr:`AgentScript.producer_name` is what recordings name as the producer.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Block = dict[str, Any]

_CWD_RE = re.compile(r"Primary working directory: (\S+)")


def text(s: str) -> Block:
    """A text content block."""
    return {"type": "text", "text": s}


def tool_use(name: str, input: Mapping[str, Any] | None = None, **kw: Any) -> Block:
    """A ``tool_use`` content block (its id is filled in by the fake)."""
    return {"type": "tool_use", "name": name, "input": {**(input or {}), **kw}}


def agent_turn(req: Mapping[str, Any]) -> int:
    """The model turn a request asks for: 1 + the number of assistant messages in it."""
    return 1 + sum(1 for m in req.get("messages") or [] if isinstance(m, dict) and m.get("role") == "assistant")


def _texts(req: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    system = req.get("system")
    if isinstance(system, str):
        out.append(system)
    elif isinstance(system, list):
        out += [str(b.get("text", "")) for b in system if isinstance(b, dict)]
    for m in req.get("messages") or []:
        c = m.get("content") if isinstance(m, dict) else None
        if isinstance(c, str):
            out.append(c)
        elif isinstance(c, list):
            out += [str(b.get("text", "")) for b in c if isinstance(b, dict) and b.get("type") == "text"]
    return out


def workspace_of(req: Mapping[str, Any]) -> str | None:
    """The working directory the runtime names in its request, if any."""
    for t in _texts(req):
        m = _CWD_RE.search(t)
        if m:
            return m.group(1)
    return None


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return ""


@dataclass
class TurnView:
    """What a turn's producer sees: the request, its turn number and the working directory."""

    request: Mapping[str, Any]
    turn: int
    cwd: str | None

    def tool_results(self) -> list[dict[str, Any]]:
        """The tool results of the last user message: ``{tool_use_id, text, is_error}``."""
        msgs = self.request.get("messages") or []
        for m in reversed(msgs):
            if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), list):
                res = [b for b in m["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]
                if res:
                    return [{"tool_use_id": b.get("tool_use_id"), "text": _result_text(b.get("content")),
                             "is_error": bool(b.get("is_error"))} for b in res]
                return []
        return []

    @property
    def prompt(self) -> str:
        """The text of the first user message (the task, after the runtime's reminders)."""
        msgs = self.request.get("messages") or []
        if not msgs:
            return ""
        c = msgs[0].get("content")
        return c if isinstance(c, str) else "\n".join(
            str(b.get("text", "")) for b in c or [] if isinstance(b, dict) and b.get("type") == "text")


def _fill(obj: Any, cwd: str | None) -> Any:
    if isinstance(obj, str):
        return obj.replace("{cwd}", cwd or ".")
    if isinstance(obj, dict):
        return {k: _fill(v, cwd) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_fill(v, cwd) for v in obj]
    return obj


class AgentScript:
    """The model's side of a tool-using conversation, one entry per turn (see the module doc).

    Args:
        turns: per turn, the content blocks to answer, or a callable ``(TurnView) -> blocks``.
        final: the text answered after the last scripted turn.
        producer: instead of ``turns``, a callable producing every turn.
        producer_name: who produced the model turns (recorded as provenance).
    """

    def __init__(self, turns: Sequence[Any] = (), *, final: str = "Done.",
                 producer: Callable[[TurnView], Sequence[Block]] | None = None,
                 producer_name: str = "agenteval scripted fake (tests)") -> None:
        self.turns = list(turns)
        self.final = final
        self.producer = producer
        self.producer_name = producer_name
        self.requests: list[dict[str, Any]] = []
        self.side_requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def wants(self, req: Mapping[str, Any]) -> bool:
        """Whether the script answers this request: a model turn of the agent (it offers tools), or a side
        request of a tool (``WebFetch`` asks a small model about the fetched page: answered by :meth:`side`)."""
        return bool(req.get("tools")) or "Web page content:" in "\n".join(_texts(req))

    def side(self, req: Mapping[str, Any]) -> str:
        """The answer to a tool's side request: the page content it was given (the fake has no model)."""
        body = "\n".join(_texts(req))
        i = body.find("Web page content:")
        page = body[i + len("Web page content:"):] if i >= 0 else body
        return "Page content (relayed verbatim by the fake API's summariser):\n" + page.strip()[:6000]

    def blocks_for(self, view: TurnView) -> list[Block]:
        """The blocks of one turn (before ``{cwd}`` is filled in)."""
        if self.producer is not None:
            return list(self.producer(view))
        if view.turn <= len(self.turns):
            spec = self.turns[view.turn - 1]
            return list(spec(view) if callable(spec) else spec)
        return [text(self.final)]

    def answer(self, req: Mapping[str, Any]) -> tuple[list[Block], str]:
        """Content blocks and stop reason for one request."""
        if not req.get("tools"):
            with self._lock:
                self.side_requests.append(dict(req))
            return [text(self.side(req))], "end_turn"
        with self._lock:
            self.requests.append(dict(req))
        view = TurnView(req, agent_turn(req), workspace_of(req))
        blocks = [_fill(b, view.cwd) for b in self.blocks_for(view)]
        if not blocks:
            blocks = [text(self.final)]
        stop = "tool_use" if any(b.get("type") == "tool_use" for b in blocks) else "end_turn"
        return blocks, stop


def authored_producer(path: str) -> tuple[Callable[[TurnView], list[Block]], str, str]:
    """A producer answering each conversation with turns authored in a YAML file; (producer, who, how).

    The file::

        producer: who wrote the turns (recorded as the recordings' provenance)
        method: how
        cells:
          - match: a piece of the task prompt that picks the conversation
            turns:
              - [{tool: Read, input: {file_path: "{cwd}/train.py"}}]
              - [{text: "final answer ..."}]

    A conversation no entry matches, or one past its authored turns, gets an error text (never invented).
    """
    import yaml

    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    cells = list(doc.get("cells") or [])

    def to_block(b: Mapping[str, Any]) -> Block:
        if "tool" in b:
            return tool_use(str(b["tool"]), dict(b.get("input") or {}))
        return text(str(b.get("text", "")))

    def produce(view: TurnView) -> list[Block]:
        req_text = "\n".join(_texts(view.request))
        for c in cells:
            if str(c.get("match", "\0")) in req_text:
                turns = list(c.get("turns") or [])
                if view.turn <= len(turns):
                    return [to_block(b) for b in turns[view.turn - 1]]
                return [text("(no authored turn left for this conversation)")]
        return [text("(no authored conversation matches this task)")]

    return produce, str(doc.get("producer") or "unknown"), str(doc.get("method") or "authored turns")


def main(argv: list[str] | None = None) -> int:
    """``python -m agenteval.testing.agent_script --turns FILE [--port N]``: the fake API answering the agent
    runtime's model turns from authored turns (so recordings are made with real tool execution)."""
    import argparse

    from agenteval.testing.fake_api import FakeAnthropicAPI

    p = argparse.ArgumentParser(prog="python -m agenteval.testing.agent_script")
    p.add_argument("--turns", required=True, help="YAML file of authored turns (see authored_producer)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    ns = p.parse_args(argv)
    produce, who, how = authored_producer(ns.turns)
    fake = FakeAnthropicAPI(host=ns.host, port=ns.port)
    fake.script_agent(AgentScript(producer=produce, producer_name=who))
    return fake.serve_forever(f"fake Anthropic API (authored agent turns by {who}; {how}) listening on {{url}}")


if __name__ == "__main__":
    import sys

    sys.exit(main())
