"""Helpers shared by the fake-API, Anthropic-backend and batch tests (not a conftest: import it)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from agenteval.backends.anthropic import AnthropicBackend
from agenteval.plan.matrix import PlanItem
from agenteval.plan.prompt import LLMRequest, Message, SystemBlock
from agenteval.testing.fake_api import FakeAnthropicAPI, FakeAPIConfig

T = TypeVar("T")
MODEL = "claude-sonnet-4-6"
CARD = "# Card\n\nYou are a careful MLOps engineer. " + "Always check the deployment plan. " * 60
DIRECTIVE = ("# Run directive\n\n- Cognitive mode: **{mode}**.\n- Ensemble role: **{role}**.\n"
             "- End your answer with the required Output Envelope (Result, Confidence, Verification).")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion in a fresh event loop."""
    return asyncio.run(coro)


@contextmanager
def fake_api(**config: Any) -> Iterator[FakeAnthropicAPI]:
    """A started fake API (background thread) with ``FakeAPIConfig(**config)``."""
    with FakeAnthropicAPI(FakeAPIConfig(**config)) as fake:
        yield fake


def make_pair(scenario: str = "s1", mode: str = "critical", role: str = "solo", epoch: int = 1, *,
              card: str = CARD, model: str = MODEL, max_tokens: int = 512) -> tuple[PlanItem, LLMRequest]:
    """A plan item and its request, shaped like ``prompt.build_request`` makes them."""
    item = PlanItem(scenario_id=scenario, mode=mode, role=role, epoch=epoch, tool_mode="audit")
    req = LLMRequest(model=model, max_tokens=max_tokens,
                     system=[SystemBlock(text=card, cache=True),
                             SystemBlock(text=DIRECTIVE.format(mode=mode, role=role))],
                     messages=[Message(role="user",
                                       content=f"Scenario {scenario}: review the rollout plan.")])
    return item, req


def make_backend(fake: FakeAnthropicAPI, tmp_path: Path | None = None, **kw: Any) -> AnthropicBackend:
    """A backend pointed at ``fake`` with fast retry settings; response cache under tmp_path (or off)."""
    kw.setdefault("backoff_base_s", 0.01)
    kw.setdefault("backoff_max_s", 0.05)
    kw.setdefault("timeout_s", 5.0)
    if tmp_path is None:
        kw.setdefault("use_cache", False)
    else:
        kw.setdefault("cache_dir", tmp_path / "cache")
    return AnthropicBackend(MODEL, base_url=fake.base_url, api_key="test-key", **kw)
