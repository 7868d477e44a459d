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
