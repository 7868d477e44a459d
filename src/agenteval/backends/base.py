"""The backend interface: one small async contract that replay and live backends share."""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from agenteval.plan.matrix import PlanItem
from agenteval.plan.prompt import LLMRequest

Status = Literal["ok", "error", "skipped"]


class Usage(BaseModel):
    """Token counts of one answer, as the API bills them."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


class BackendResult(BaseModel):
    """What a backend returns for one plan item. Backends never raise for per-item failures."""

    status: Status
    text: str | None = None
    error: str | None = Field(default=None, description="cause, for status error; reason, for skipped")
    error_type: str | None = None
    model: str | None = None
    stop_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    latency_s: float | None = None
    attempts: int = 1
    stale: bool = False
    cached: bool = False
    provenance: dict[str, Any] | None = None
    agent: dict[str, Any] | None = Field(default=None, description="agent backend: the recorded AgentTrace")


@runtime_checkable
class Backend(Protocol):
    """An answer source. ``generate`` must return a result for every item (errors included)."""

    name: str

    async def generate(self, request: LLMRequest, item: PlanItem) -> BackendResult:
        """Answer one request."""
        ...

    async def aclose(self) -> None:
        """Release connections and files."""
        ...

    def describe(self) -> dict[str, Any]:
        """Settings to record in the run manifest (never secrets)."""
        ...
