"""Environment knobs of the live backends (timeouts, retries), read in one place for runs and the judge."""

from __future__ import annotations

import os
from typing import Any

from agenteval.errors import UsageError

_BACKEND_ENV = {  # environment knobs of the live backend: variable -> (constructor argument, type)
    "AGENTEVAL_TIMEOUT_S": ("timeout_s", float),
    "AGENTEVAL_MAX_RETRIES": ("max_retries", int),
    "AGENTEVAL_RETRY_AFTER_CAP_S": ("retry_after_cap_s", float),
}


def backend_env() -> dict[str, Any]:
    """``AGENTEVAL_TIMEOUT_S`` / ``AGENTEVAL_MAX_RETRIES`` / ``AGENTEVAL_RETRY_AFTER_CAP_S`` when set."""
    out: dict[str, Any] = {}
    for var, (arg, typ) in _BACKEND_ENV.items():
        raw = os.environ.get(var, "").strip()
        if not raw:
            continue
        try:
            value = typ(raw)
        except ValueError:
            value = None
        ok = value is not None and (value >= 0 if typ is int else 0 < value < float("inf"))
        if not ok:
            want = "a whole number >= 0" if typ is int else "a number of seconds > 0"
            raise UsageError(f"{var}: expected {want}, got '{raw}'")
        out[arg] = value
    return out


DEFAULT_API_URL = "https://api.anthropic.com"
"""The real Anthropic API; answers from any other base URL are marked as coming from a non-default endpoint."""


def is_default_endpoint(base_url: str | None) -> bool:
    """Whether ``base_url`` (None: the SDK default) is the real Anthropic API (https, api.anthropic.com)."""
    if not base_url:
        return True
    from urllib.parse import urlsplit

    p = urlsplit(base_url if "://" in base_url else "//" + base_url)
    return p.scheme == "https" and (p.hostname or "").lower() == "api.anthropic.com" and p.port in (None, 443)


def cost_note(backend: dict[str, Any] | None) -> str | None:
    """Why a run's cost is an estimate, not money spent (None for live calls to the real API)."""
    b = backend or {}
    name = str(b.get("name") or b.get("backend") or "")
    if name == "replay":
        return "estimate: replayed answers, nothing was spent"
    url = b.get("base_url")
    if name == "anthropic" and not is_default_endpoint(url):
        return f"estimate at list prices: answers from the non-default endpoint {url}, not Anthropic spend"
    return None
