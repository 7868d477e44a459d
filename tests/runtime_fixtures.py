"""Helpers for tests that drive the real Claude Code runtime (bundled in claude-agent-sdk) against the fake API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest


def runtime_cli() -> str:
    """The bundled Claude Code CLI, or skip the test (with the reason) when the extra is not installed."""
    try:
        import claude_agent_sdk
    except ImportError:
        pytest.skip("claude-agent-sdk is not installed (pip install -e '.[agent]'): the real runtime is needed")
    cli = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
    if not cli.exists():
        pytest.skip(f"claude-agent-sdk has no bundled CLI at {cli}")
    return str(cli)


def needs_bwrap() -> None:
    """Skip unless bubblewrap (the agent backend's confinement) is on PATH."""
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")


def run_cli(base_url: str, cwd: Path, home: Path, prompt: str, extra: list[str]) -> list[dict[str, Any]]:
    """Run the CLI once in ``cwd``; the stream-json messages it printed."""
    home.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "ANTHROPIC_BASE_URL": base_url,
           "ANTHROPIC_API_KEY": "sk-test-fake-key-0123", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
    p = subprocess.run([runtime_cli(), "-p", prompt, "--output-format", "stream-json", "--verbose",
                        "--no-session-persistence", "--setting-sources", "", *extra],
                       cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
