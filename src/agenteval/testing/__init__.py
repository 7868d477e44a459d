"""Test helpers: a fake Anthropic API (:mod:`agenteval.testing.fake_api`) that runs in a thread or process.

Names are loaded lazily so that ``python -m agenteval.testing.fake_api`` and the CLI stay cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FakeAPIConfig", "FakeAnthropicAPI", "FakeCounters", "default_generator", "prompt_key"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from agenteval.testing import fake_api

        return getattr(fake_api, name)
    raise AttributeError(f"module 'agenteval.testing' has no attribute {name!r}")
