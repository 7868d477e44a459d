"""Agent backend: each cell runs through the real Claude Code runtime (the CLI bundled in ``claude-agent-sdk``).

The card is the agent: ``--agents {name: {prompt, tools}} --agent name`` makes the card's body the system
prompt, as Claude Code does for a subagent; the run directive of the cell's mode and role opens the task, so
the prefix the runtime marks for prompt caching (tool definitions + system prompt) is shared by every cell of
a tool mode. The tools of
the scenario's ``tool_mode`` (the card's ``tools:`` block) are allowed, every other built-in tool is
disallowed, and permissions are non-interactive (``--permission-mode dontAsk``: anything not allowed is
refused). Each item gets a fresh temporary directory::

    agenteval-XXXX/
      workspace/   a copy of the scenario's ``workspace`` folder (empty without one): the agent's cwd
      home/        HOME of the runtime (its settings, caches); nothing of the user's
      tmp/         TMPDIR

removed afterwards unless ``keep_workspaces``. Safety (the agent's tools run on this machine):

* the runtime runs under bubblewrap (``bwrap``) when it is installed: the whole file system read-only, the
  caller's HOME and ``/tmp`` hidden behind empty tmpfs, only the item's directory writable, its own PID
  namespace; so nothing outside the workspace copy can change. Without ``bwrap`` (``confine="none"``) it
  runs unconfined and the manifest says so.
* the environment is scrubbed: PATH, LANG, HOME/TMPDIR of the item, ``ANTHROPIC_API_KEY`` and
  ``ANTHROPIC_BASE_URL`` (the only credential, which the runtime needs; Bash can see it, so every byte kept
  from the run passes :func:`agenteval.redact.redact_text`, the key registered, before it is written). The
  runtime's own ``CLAUDE_CODE_SUBPROCESS_ENV_SCRUB`` is not used: it plants empty mask files (``.env``,
  ``.npmrc`` ...) in the working directory, which would read as workspace changes;
* ``WebFetch`` (research mode) goes through a loopback proxy (:mod:`agenteval.backends.webpages`) that
  answers from the pages the scenario ships (``pages: {URL: FILE}``) and 404s everything else: no network;
* Bash commands time out (``BASH_DEFAULT_TIMEOUT_MS`` / ``BASH_MAX_TIMEOUT_MS``);
* a turn limit (``--max-turns``) and a wall-clock limit per item: at the limit the process group is killed
  and the item is recorded as an error naming the cause.

What the run did is kept in :attr:`BackendResult.agent` (an :class:`AgentTrace` as a dict): the whole
stream-json conversation, the working directory, the workspace's files before and what changed. The score
fields (``tool_calls``, ``files_read`` ...) are computed from it by :mod:`agenteval.scorers.agentic`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from agenteval.backends.base import BackendResult, Usage
from agenteval.errors import UsageError
from agenteval.plan.matrix import PlanItem
from agenteval.plan.prompt import LLMRequest, run_directive
from agenteval.redact import redact_text, register_secret

EXTRA_HINT = ("the agent backend needs the optional extra 'agent': pip install -e '.[agent]' "
              "(or pip install claude-agent-sdk, which bundles the Claude Code CLI)")
DEFAULT_MAX_TURNS = 30
DEFAULT_TIMEOUT_S = 600.0
DEFAULT_CONCURRENCY = 4  # what a 2-core machine sustains (benchmarks/bench_agent.py, BENCHMARKS.md section 7)
BASH_TIMEOUT_MS = 60_000
MAX_STREAM_BYTES = 32 * 1024 * 1024  # a runaway that prints more is killed
MAX_KEPT_FILE_BYTES = 64 * 1024  # changed files' text kept in the trace (for the expected-edits check)
CONVERSATION_ADDENDUM = ("\n\nThe files of this task are in your working directory{files}. Use your tools to "
                         "look at what you need; do not assume the contents of a file you have not read.")

# Claude Code's built-in tools (2.1.x); every one not in the mode's list is disallowed.
KNOWN_TOOLS = (
    "Agent", "Task", "Bash", "BashOutput", "KillShell", "Glob", "Grep", "Read", "Edit", "MultiEdit", "Write",
    "NotebookEdit", "WebFetch", "WebSearch", "TodoWrite", "ExitPlanMode", "AskUserQuestion", "Skill",
    "SlashCommand", "ToolSearch", "ListAgents", "ReportFindings", "ScheduleWakeup", "SendMessage", "Monitor",
    "Workflow", "CronCreate", "CronDelete", "CronList", "EnterWorktree", "ExitWorktree", "TaskCreate", "TaskGet",
    "TaskList", "TaskStop", "TaskUpdate", "LSP",
)


class WorkspaceState(BaseModel):
    """The item's workspace copy: its files before the run and what the run changed."""

    hash: str | None = None
    files: list[str] = Field(default_factory=list)
    created: list[str] = Field(default_factory=list)
    modified: list[str] = Field(default_factory=list)
    deleted: list[str] = Field(default_factory=list)
    after: dict[str, str] = Field(default_factory=dict, description="text of created/modified files (capped)")
    kept_at: str | None = None


class AgentTrace(BaseModel):
    """Everything recorded of one agent item (redacted): the conversation and the workspace's changes."""

    runtime: str = "claude-code"
    runtime_version: str | None = None
    tool_mode: str
    tools_allowed: list[str]
    cwd: str | None = None
    max_turns: int
    timeout_s: float
    confinement: str
    messages: list[dict[str, Any]] = Field(default_factory=list, description="the stream-json messages")
    workspace: WorkspaceState = Field(default_factory=WorkspaceState)
    stderr_tail: str | None = None
    pages_requested: list[str] = Field(default_factory=list, description="URLs WebFetch asked the page proxy for")


def bundled_cli() -> tuple[str, str | None]:
    """(path of the bundled Claude Code CLI, its version). :class:`UsageError` naming the extra if absent."""
    try:
        import claude_agent_sdk
    except ImportError:
        raise UsageError(f"--backend agent: claude-agent-sdk is not installed; {EXTRA_HINT}") from None
    d = Path(claude_agent_sdk.__file__).parent / "_bundled"
    cli = d / "claude"
    if not cli.is_file():
        raise UsageError(f"--backend agent: the Claude Code CLI is missing from claude-agent-sdk ({cli}); "
                         f"reinstall it: {EXTRA_HINT}")
    version = None
    with contextlib.suppress(OSError):
        version = (d / "claude.version").read_text(encoding="utf-8").strip() or None
    return str(cli), version


def snapshot(root: Path) -> dict[str, str]:
    """Workspace-relative path -> sha256 of every regular file under ``root``."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for f in sorted(root.rglob("*")):
        if f.is_file() and not f.is_symlink():
            with contextlib.suppress(OSError):
                out[f.relative_to(root).as_posix()] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def tools_for(card: Any, tool_mode: str) -> list[str]:
    """The tools the card gives a tool mode (its ``tools:`` block)."""
    return list(getattr(card, "tool_modes", {}).get(tool_mode, []))


def agent_prompt(scenario: Any) -> str:
    """The task as the agent gets it: the scenario prompt; with a workspace, its files are named, not pasted."""
    from agenteval.plan.prompt import user_message

    if scenario.workspace_dir is None:
        return user_message(scenario)
    files = sorted(snapshot(scenario.workspace_dir))
    listing = f" ({', '.join(files)})" if files and len(files) <= 40 else ""
    return scenario.prompt.strip() + CONVERSATION_ADDENDUM.format(files=listing)


def _bwrap_args(item_root: Path, cwd: Path, cli: str) -> list[str]:
    args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    home = Path.home()
    if str(home) not in ("/", "") and home.exists():
        args += ["--tmpfs", str(home)]
    cli_dir = str(Path(cli).resolve().parent.parent)  # the claude_agent_sdk package (may live under HOME)
    args += ["--ro-bind", cli_dir, cli_dir]
    args += ["--bind", str(item_root), str(item_root), "--chdir", str(cwd), "--unshare-pid", "--unshare-ipc",
             "--die-with-parent", "--new-session", "--"]
    return args


class AgentBackend:
    """Runs each item through the Claude Code runtime. See the module doc."""

    name = "agent"

    def __init__(self, model: str, *, max_turns: int = DEFAULT_MAX_TURNS, timeout_s: float = DEFAULT_TIMEOUT_S,
                 keep_workspaces: bool = False, confine: str = "auto", api_key: str | None = None,
                 base_url: str | None = None, bash_timeout_ms: int | None = None) -> None:
        self.model = model
        self.max_turns = max_turns
        self.timeout_s = timeout_s
        self.keep_workspaces = keep_workspaces
        self.bash_timeout_ms = bash_timeout_ms or BASH_TIMEOUT_MS
        self.cli, self.cli_version = bundled_cli()
        self._api_key = api_key if api_key is not None else os.environ.get("ANTHROPIC_API_KEY")
        self._base_url = base_url if base_url is not None else os.environ.get("ANTHROPIC_BASE_URL")
        register_secret(self._api_key)
        if confine == "auto":
            confine = "bwrap" if shutil.which("bwrap") else "none"
        if confine == "bwrap" and not shutil.which("bwrap"):
            raise UsageError("agent confinement 'bwrap' needs bubblewrap on PATH (apt-get install bubblewrap)")
        self.confine = confine
        self._card: Any = None
        self._scenarios: dict[str, Any] = {}
        self._stats: dict[str, Any] = {"agent_items": 0, "agent_killed": 0, "api_requests": 0,
                                       "agent_cache_read_tokens": 0, "agent_cache_write_tokens": 0,
                                       "cache_saving_usd": 0.0}

    def bind(self, card: Any, scenarios: Mapping[str, Any]) -> None:
        """The run's card and scenarios (the runner calls this before the first item)."""
        self._card = card
        self._scenarios = dict(scenarios)

    def stats(self) -> dict[str, Any]:
        """Totals for the manifest: items, items killed at a limit, model requests (turns), prompt-cache tokens
        and what the cache reads saved against uncached input."""
        return dict(self._stats)

    def prepare(self) -> None:
        """Nothing to warm up: each item starts its own runtime."""

    async def aclose(self) -> None:
        """Nothing held between items."""

    def describe(self) -> dict[str, Any]:
        """Manifest entry (no secrets)."""
        return {"name": self.name, "runtime": "claude-code", "runtime_version": self.cli_version,
                "model": self.model, "max_turns": self.max_turns, "timeout_s": self.timeout_s,
                "confinement": self.confine, "keep_workspaces": self.keep_workspaces,
                "base_url": redact_text(self._base_url) if self._base_url else None,
                "api_key_set": bool(self._api_key)}

    # ------------------------------------------------------------------ one item
    def _env(self, home: Path, tmp: Path) -> dict[str, str]:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(tmp),
               "LANG": os.environ.get("LANG", "C.UTF-8"), "TERM": "dumb",
               "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
               "DISABLE_AUTOUPDATER": "1", "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1",
               # a Bash command at its timeout is killed, never moved to the background (which would keep the
               # runtime alive past the answer)
               "CLAUDE_CODE_DISABLE_BACKGROUND_TASKS": "1",
               "BASH_DEFAULT_TIMEOUT_MS": str(self.bash_timeout_ms),
               "BASH_MAX_TIMEOUT_MS": str(self.bash_timeout_ms)}
        if self._api_key:
            env["ANTHROPIC_API_KEY"] = self._api_key
        if self._base_url:
            env["ANTHROPIC_BASE_URL"] = self._base_url
        return env

    def _proxy_env(self, proxy: Any) -> dict[str, str]:
        env = proxy.env()
        api_host = urlsplit(self._base_url or "https://api.anthropic.com").hostname or "api.anthropic.com"
        for k in ("NO_PROXY", "no_proxy"):
            env[k] = f"{env[k]},{api_host}"  # the API itself goes direct; every other host gets the pages
        return env

    def _args(self, request: LLMRequest, item: PlanItem, scenario: Any, tools: list[str], max_turns: int
              ) -> list[str]:
        # the card's body alone is the system prompt (as for a Claude Code subagent), so the runtime's cached
        # prefix (tool definitions + system prompt) is the same for every cell of a tool mode; the cell's run
        # directive (mode, role, envelope) opens the task instead
        if self._card is not None and scenario is not None:
            system = self._card.body
            directive = run_directive(self._card, scenario, item.mode, item.role)
        else:
            system, directive = request.system[0].text, "\n\n".join(b.text for b in request.system[1:])
        agent_name = (getattr(self._card, "name", None) or "agent-under-test").lower().replace(" ", "-")
        definition = {agent_name: {"description": f"{agent_name} (agent under test)", "prompt": system,
                                   "tools": tools}}
        task = agent_prompt(scenario) if scenario is not None else str(request.messages[0].content)
        prompt = f"{directive}\n\n# Task\n\n{task}" if directive else task
        denied = [t for t in KNOWN_TOOLS if t not in tools]
        return [self.cli, "-p", str(prompt), "--output-format", "stream-json", "--verbose",
                "--model", self.model, "--agents", json.dumps(definition), "--agent", agent_name,
                "--allowedTools", ",".join(tools), "--disallowedTools", ",".join(denied),
                "--permission-mode", "dontAsk", "--max-turns", str(max_turns),
                "--no-session-persistence", "--setting-sources", "", "--strict-mcp-config",
                "--settings", json.dumps({"skipWebFetchPreflight": True})]

    async def generate(self, request: LLMRequest, item: PlanItem) -> BackendResult:
        """Run the item's conversation; never raises for per-item failures."""
        scenario = self._scenarios.get(item.scenario_id)
        tools = tools_for(self._card, item.tool_mode) if self._card is not None else []
        max_turns = int(getattr(scenario, "max_turns", None) or self.max_turns)
        timeout_s = float(getattr(scenario, "timeout_s", None) or self.timeout_s)
        root = Path(tempfile.mkdtemp(prefix="agenteval-"))
        ws, home, tmp = root / "workspace", root / "home", root / "tmp"
        wdir = getattr(scenario, "workspace_dir", None)
        if wdir is not None:
            shutil.copytree(wdir, ws, symlinks=False)
        else:
            ws.mkdir()
        home.mkdir()
        tmp.mkdir()
        before = snapshot(ws)
        trace = AgentTrace(tool_mode=item.tool_mode, tools_allowed=tools, max_turns=max_turns, timeout_s=timeout_s,
                           confinement=self.confine, runtime_version=self.cli_version,
                           workspace=WorkspaceState(hash=getattr(scenario, "workspace_hash", None),
                                                    files=sorted(before)))
        t0 = time.monotonic()
        proxy = None
        try:
            args = self._args(request, item, scenario, tools, max_turns)
            if self.confine == "bwrap":
                args = _bwrap_args(root, ws, self.cli) + args
            env = self._env(home, tmp)
            if "WebFetch" in tools:  # fetches are answered from the scenario's pages, never the network
                from agenteval.backends.webpages import PageProxy

                proxy = PageProxy(getattr(scenario, "page_files", None) or {}, root)
                await proxy.start()
                env.update(self._proxy_env(proxy))
            killed, rc, stderr = await self._run(args, ws, env, timeout_s, trace)
            if proxy is not None:
                trace.pages_requested = list(proxy.requests)
            self._workspace_changes(ws, before, trace)
            if self.keep_workspaces:
                trace.workspace.kept_at = str(root)
            trace.stderr_tail = redact_text(stderr[-2000:]) if stderr.strip() else None
            return self._result(trace, killed, rc, timeout_s, time.monotonic() - t0)
        except Exception as exc:  # a spawn failure etc.: the item is an error, the run goes on
            return BackendResult(status="error", error=redact_text(f"{type(exc).__name__}: {exc}"),
                                 error_type="agent_runtime", latency_s=time.monotonic() - t0,
                                 agent=trace.model_dump(mode="json"))
        finally:
            if proxy is not None:
                await proxy.aclose()
            if not self.keep_workspaces:
                shutil.rmtree(root, ignore_errors=True)

    async def _run(self, args: list[str], cwd: Path, env: dict[str, str], timeout_s: float,
                   trace: AgentTrace) -> tuple[str | None, int | None, str]:
        proc = await asyncio.create_subprocess_exec(
            *args, cwd=str(cwd), env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True, limit=MAX_STREAM_BYTES)
        stderr_chunks: list[bytes] = []
        total = 0
        killed: str | None = None

        async def read_out() -> None:
            nonlocal total, killed
            assert proc.stdout is not None
            while True:
                line = await proc.stdout.readline()
                if not line:
                    return
                total += len(line)
                if total > MAX_STREAM_BYTES:
                    killed = f"output limit of {MAX_STREAM_BYTES} bytes exceeded"
                    return
                text = redact_text(line.decode("utf-8", "replace")).strip()
                if not text:
                    continue
                try:
                    msg = json.loads(text)
                except json.JSONDecodeError:
                    continue
                if isinstance(msg, dict):
                    trace.messages.append(msg)
                    if msg.get("type") == "system" and msg.get("subtype") == "init" and trace.cwd is None:
                        trace.cwd = msg.get("cwd")

        async def read_err() -> None:
            assert proc.stderr is not None
            while True:
                chunk = await proc.stderr.read(65536)
                if not chunk:
                    return
                stderr_chunks.append(chunk)
                if sum(len(c) for c in stderr_chunks) > 1024 * 1024:
                    stderr_chunks.pop(0)

        readers = asyncio.gather(read_out(), read_err())
        try:
            await asyncio.wait_for(asyncio.shield(readers), timeout_s)
            if killed is None:
                await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            killed = f"wall-clock limit of {timeout_s:g}s exceeded"
        except asyncio.CancelledError:
            self._kill(proc)
            raise
        if killed is not None:
            self._kill(proc)
            self._stats["agent_killed"] += 1
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 10)
            readers.cancel()
            with contextlib.suppress(BaseException):
                await readers
        return killed, proc.returncode, b"".join(stderr_chunks).decode("utf-8", "replace")

    @staticmethod
    def _kill(proc: asyncio.subprocess.Process) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()

    @staticmethod
    def _workspace_changes(ws: Path, before: dict[str, str], trace: AgentTrace) -> None:
        after = snapshot(ws)
        w = trace.workspace
        w.created = sorted(set(after) - set(before))
        w.deleted = sorted(set(before) - set(after))
        w.modified = sorted(p for p in set(before) & set(after) if before[p] != after[p])
        for rel in [*w.created, *w.modified]:
            with contextlib.suppress(OSError):
                data = (ws / rel).read_bytes()[:MAX_KEPT_FILE_BYTES]
                w.after[rel] = redact_text(data.decode("utf-8", "replace"))

    def _result(self, trace: AgentTrace, killed: str | None, rc: int | None, timeout_s: float,
                latency: float) -> BackendResult:
        result = next((m for m in reversed(trace.messages) if m.get("type") == "result"), None)
        turns = len({str((m.get("message") or {}).get("id")) for m in trace.messages if m.get("type") == "assistant"})
        self._stats["agent_items"] += 1
        self._stats["api_requests"] += turns
        usage = Usage()
        cost: float | None = None
        if result is not None:
            u = result.get("usage") or {}
            usage = Usage(input_tokens=int(u.get("input_tokens") or 0), output_tokens=int(u.get("output_tokens") or 0),
                          cache_creation_input_tokens=int(u.get("cache_creation_input_tokens") or 0),
                          cache_read_input_tokens=int(u.get("cache_read_input_tokens") or 0))
            self._stats["agent_cache_read_tokens"] += usage.cache_read_input_tokens
            self._stats["agent_cache_write_tokens"] += usage.cache_creation_input_tokens
            cost = _price(self.model, usage)
            self._stats["cache_saving_usd"] += _saving(self.model, usage)
            if cost is None and isinstance(result.get("total_cost_usd"), int | float):
                cost = float(result["total_cost_usd"])
        agent = trace.model_dump(mode="json")
        common = {"model": self.model, "usage": usage, "cost_usd": cost, "latency_s": latency, "agent": agent,
                  "provenance": {"producer": "live model via the Claude Code runtime", "model": self.model,
                                 "method": f"agenteval --backend agent (claude-code {self.cli_version})"}}
        if killed is not None:
            return BackendResult(status="error", error=f"{killed}; the runtime was killed after {turns} turn(s)",
                                 error_type="agent_limit", **common)
        if result is None:
            tail = (trace.stderr_tail or "").strip().splitlines()[-1:] or ["no output"]
            return BackendResult(status="error", error=f"the runtime exited ({rc}) without a result: {tail[0]}",
                                 error_type="agent_runtime", **common)
        sub = str(result.get("subtype") or "")
        if sub == "error_max_turns":
            return BackendResult(status="error", error=f"turn limit of {trace.max_turns} reached (error_max_turns)",
                                 error_type="agent_limit", text=_final_text(trace), **common)
        if result.get("is_error") or sub != "success":
            return BackendResult(status="error", error=redact_text(f"runtime error ({sub}): "
                                                                   f"{str(result.get('result'))[:500]}"),
                                 error_type="agent_runtime", **common)
        return BackendResult(status="ok", text=str(result.get("result") or _final_text(trace)),
                             stop_reason=str(result.get("stop_reason") or "end_turn"), **common)


def _final_text(trace: AgentTrace) -> str | None:
    for m in reversed(trace.messages):
        if m.get("type") == "assistant":
            texts = [b.get("text", "") for b in (m.get("message") or {}).get("content") or []
                     if isinstance(b, dict) and b.get("type") == "text"]
            if texts:
                return "\n".join(texts)
    return None


def _price(model: str, usage: Usage) -> float | None:
    try:
        from agenteval.backends.pricing import cost_usd
    except ImportError:  # pragma: no cover
        return None
    try:
        return cost_usd(model, usage)
    except Exception:
        return None


def _saving(model: str, usage: Usage) -> float:
    try:
        from agenteval.backends.pricing import load_pricing

        return float(load_pricing().cache_saving(model, usage) or 0.0)
    except Exception:
        return 0.0
