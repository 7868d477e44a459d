"""Agent checks: what the agent *did* with its tools, from the recorded trace of an agent-backend item.

Every function here is a pure function of the recorded trace (``ScoreContext.agent``: the runtime's
stream-json conversation, the working directory and the workspace's changes), the scenario and the card.
For a single-call answer (no trace) the checks return nothing and the score fields stay null/empty.

Score fields (:func:`agent_fields`):

* ``tool_calls``: every tool call, in order, as ``{name, ok}`` (``ok``: a result came back without error);
* ``tools_denied``: names of calls to tools the item's tool mode does not allow (the card's ``tools:``
  block), whether the runtime refused them or not;
* ``tool_permission_ok``: no such call was attempted;
* ``workspace_changed``: a file of the workspace copy was created, modified or deleted;
* ``files_read``: workspace-relative paths the agent read: a ``Read`` of the file, a ``Grep`` whose path is
  the file (or whose content output names it), a ``Bash`` command naming it; only successful calls count;
* ``turns``: assistant turns of the conversation.

Checks: ``agent.permission`` (tool_permission_ok), ``agent.audit_readonly`` (an audit leaves the
workspace unchanged), ``agent.evidence`` (every workspace file the final answer names was read; a
finding naming a file never read is flagged), ``agent.expected_edits`` (solution mode: the scenario's
``expect.edits`` were made).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agenteval.scorers import checks as _builtin  # noqa: F401  (built-in checks register first)
from agenteval.scorers.base import CheckResult
from agenteval.scorers.registry import check

Trace = Mapping[str, Any]


def _calls(trace: Trace) -> list[dict[str, Any]]:
    """Tool calls with their results: ``{id, name, input, ok, result}``."""
    results: dict[str, tuple[bool, str]] = {}
    calls: list[dict[str, Any]] = []
    for m in trace.get("messages") or []:
        if not isinstance(m, dict) or m.get("parent_tool_use_id"):
            continue
        content = (m.get("message") or {}).get("content")
        if not isinstance(content, list):
            continue
        for b in content:
            if not isinstance(b, dict):
                continue
            if m.get("type") == "assistant" and b.get("type") == "tool_use":
                calls.append({"id": b.get("id"), "name": str(b.get("name")), "input": b.get("input") or {}})
            elif m.get("type") == "user" and b.get("type") == "tool_result":
                c = b.get("content")
                text = c if isinstance(c, str) else "\n".join(
                    str(x.get("text", "")) for x in c or [] if isinstance(x, dict))
                results[str(b.get("tool_use_id"))] = (not b.get("is_error"), text)
    for c in calls:
        ok, text = results.get(str(c["id"]), (False, ""))
        c["ok"], c["result"] = ok, text
    return calls


def _rel(path: Any, cwd: str | None) -> str | None:
    if not isinstance(path, str) or not path:
        return None
    p = path.replace("\\", "/")
    if cwd and (p == cwd or p.startswith(cwd.rstrip("/") + "/")):
        p = p[len(cwd.rstrip("/")) + 1:]
    elif p.startswith("/"):
        return None
    parts: list[str] = []
    for part in p.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts) or None


def _mentions(text: str, rel: str, files: list[str]) -> bool:
    """Whether ``text`` names the workspace file ``rel`` (its path, or its file name when that is unique)."""
    names = [rel]
    base = rel.rsplit("/", 1)[-1]
    if base != rel and sum(1 for f in files if f.rsplit("/", 1)[-1] == base) == 1:
        names.append(base)
    return any(re.search(rf"(?<![\w.-]){re.escape(n)}(?![\w-])", text) for n in names)


def files_read(trace: Trace) -> list[str]:
    """Workspace-relative paths the agent read (see the module doc), in first-read order."""
    cwd = trace.get("cwd")
    files = list((trace.get("workspace") or {}).get("files") or [])
    out: list[str] = []

    def add(rel: str | None) -> None:
        if rel and rel in files and rel not in out:
            out.append(rel)

    for c in _calls(trace):
        if not c["ok"]:
            continue
        inp = c["input"] if isinstance(c["input"], dict) else {}
        if c["name"] == "Read":
            add(_rel(inp.get("file_path"), cwd))
        elif c["name"] == "Grep":
            add(_rel(inp.get("path"), cwd))
            if inp.get("output_mode") == "content":
                for f in files:
                    if _mentions(c["result"], f, files) or (cwd and f"{cwd}/{f}" in c["result"]):
                        add(f)
        elif c["name"] == "Bash":
            cmd = str(inp.get("command") or "")
            for f in files:
                if _mentions(cmd, f, files):
                    add(f)
    return out


def count_turns(trace: Trace) -> int:
    """Model turns: distinct assistant message ids (the runtime prints one message per content block)."""
    ids: list[str] = []
    for i, m in enumerate(trace.get("messages") or []):
        if isinstance(m, dict) and m.get("type") == "assistant" and not m.get("parent_tool_use_id"):
            mid = str((m.get("message") or {}).get("id") or f"#{i}")
            if mid not in ids:
                ids.append(mid)
    return len(ids)


def agent_fields(trace: Trace | None) -> dict[str, Any]:
    """The score fields of an agent item (null/empty without a trace)."""
    if not trace:
        return {"tool_calls": [], "tools_denied": [], "tool_permission_ok": None, "workspace_changed": None,
                "files_read": [], "turns": None}
    allowed = set(trace.get("tools_allowed") or [])
    calls = _calls(trace)
    denied = [c["name"] for c in calls if c["name"] not in allowed]
    ws = trace.get("workspace") or {}
    changed = bool(ws.get("created") or ws.get("modified") or ws.get("deleted"))
    turns = count_turns(trace)
    return {"tool_calls": [{"name": c["name"], "ok": c["ok"]} for c in calls], "tools_denied": denied,
            "tool_permission_ok": not denied, "workspace_changed": changed, "files_read": files_read(trace),
            "turns": turns}


def unread_files_named(text: str, trace: Trace) -> list[str]:
    """Workspace files the answer names that the agent never read."""
    files = list((trace.get("workspace") or {}).get("files") or [])
    read = set(files_read(trace))
    return [f for f in files if f not in read and _mentions(text, f, files)]


def _trace(inp: Any) -> Trace | None:
    return getattr(inp.ctx, "agent", None) or None


@check("agent.permission")
def permission(inp: Any) -> list[CheckResult]:
    """Only tools of the item's tool mode were called."""
    trace = _trace(inp)
    if trace is None:
        return []
    f = agent_fields(trace)
    if f["tools_denied"]:
        names = ", ".join(sorted(set(f["tools_denied"])))
        return [CheckResult(id="agent.permission", passed=False,
                            reason=f"called tools outside the {inp.tool_mode} mode's tools: {names}")]
    return [CheckResult(id="agent.permission", passed=True,
                        reason=f"{len(f['tool_calls'])} tool call(s), all allowed in {inp.tool_mode} mode")]


@check("agent.audit_readonly")
def audit_readonly(inp: Any) -> list[CheckResult]:
    """An audit leaves the workspace unchanged."""
    trace = _trace(inp)
    if trace is None:
        return []
    if inp.tool_mode != "audit":
        return [CheckResult(id="agent.audit_readonly", passed=True, applicable=False,
                            reason=f"{inp.tool_mode} mode may change the workspace")]
    ws = trace.get("workspace") or {}
    changes = [f"{k} {', '.join(ws.get(k) or [])}" for k in ("created", "modified", "deleted") if ws.get(k)]
    if changes:
        return [CheckResult(id="agent.audit_readonly", passed=False, reason="audit changed the workspace: "
                            + "; ".join(changes))]
    return [CheckResult(id="agent.audit_readonly", passed=True, reason="workspace unchanged")]


@check("agent.evidence")
def evidence(inp: Any) -> list[CheckResult]:
    """Every workspace file the final answer names was read by the agent."""
    trace = _trace(inp)
    if trace is None:
        return []
    files = (trace.get("workspace") or {}).get("files") or []
    if not files:
        return [CheckResult(id="agent.evidence", passed=True, applicable=False, reason="no workspace files")]
    unread = unread_files_named(inp.text, trace)
    if unread:
        return [CheckResult(id="agent.evidence", passed=False,
                            reason=f"the answer names file(s) the agent never read: {', '.join(unread)}")]
    return [CheckResult(id="agent.evidence", passed=True,
                        reason=f"every workspace file named was read ({len(files_read(trace))} read)")]


@check("agent.expected_edits")
def expected_edits(inp: Any) -> list[CheckResult]:
    """Solution mode: the scenario's ``expect.edits`` were made (file changed, patterns as expected)."""
    trace = _trace(inp)
    if trace is None:
        return []
    edits = list(getattr(getattr(inp.scenario, "expect", None), "edits", None) or [])
    if not edits:
        return [CheckResult(id="agent.expected_edits", passed=True, applicable=False,
                            reason="the scenario expects no edits")]
    ws = trace.get("workspace") or {}
    changed = set(ws.get("created") or []) | set(ws.get("modified") or [])
    after = ws.get("after") or {}
    missing: list[str] = []
    for e in edits:
        if e.path not in changed:
            missing.append(f"{e.path} not changed")
            continue
        text = after.get(e.path, "")
        missing += [f"{e.path} lacks /{p}/" for p in e.contains if not re.search(p, text, re.I | re.M)]
        missing += [f"{e.path} still has /{p}/" for p in e.absent if re.search(p, text, re.I | re.M)]
    if missing:
        return [CheckResult(id="agent.expected_edits", passed=False, reason="; ".join(missing))]
    return [CheckResult(id="agent.expected_edits", passed=True, reason=f"{len(edits)} expected edit(s) made")]
