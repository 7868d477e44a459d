"""Keeping API keys out of what agenteval writes and prints.

An endpoint (a proxy, a gateway, a misconfigured server) may quote the credentials it was sent back in
an error message; error details therefore pass through :func:`redact_text` before they are recorded or
shown.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

_KEY_RE = re.compile(r"sk-ant-[A-Za-z0-9_\-]+")
_MIN_SECRET_CHARS = 8
_known: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a credential this process was given (e.g. an ``api_key=`` argument) so it is redacted."""
    if value and len(value) >= _MIN_SECRET_CHARS:
        _known.add(value)


def redact_text(text: str) -> str:
    """``text`` with Anthropic keys (``sk-ant-…``), ``$ANTHROPIC_API_KEY`` and registered secrets as ``***``."""
    secrets = set(_known)
    env = os.environ.get("ANTHROPIC_API_KEY")
    if env and len(env) >= _MIN_SECRET_CHARS:
        secrets.add(env)
    for s in sorted(secrets, key=len, reverse=True):
        if s in text:
            text = text.replace(s, "***")
    return _KEY_RE.sub("***", text)


_ASSIGNMENT_RE = re.compile(r"(?i)((?:api[_-]?key|token|secret|password|authorization)[=:])\S+")
_SECRET_FLAGS = {"--api-key", "--token", "--key", "--password"}


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A command line with secrets as ``***``: values of secret flags, ``key=value`` assignments of
    secret-looking names, and anything :func:`redact_text` recognises."""
    out: list[str] = []
    hide_next = False
    for a in argv:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        flag, eq, _val = a.partition("=")
        if flag in _SECRET_FLAGS:
            if eq:
                out.append(f"{flag}=***")
            else:
                out.append(a)
                hide_next = True
            continue
        out.append(_ASSIGNMENT_RE.sub(r"\1***", redact_text(a)))
    return out
