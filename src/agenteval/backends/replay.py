"""Replay backend: answers from recordings in ``golden/recordings/``, no network, no key.

Recordings are JSON Lines files (``<scenario_id>.jsonl`` by convention), one :class:`Recording` per
line, keyed by (scenario, mode, role, epoch). A cell without a recording is *skipped*, never
invented. A recording whose ``prompt_hash`` differs from the current request's is *stale*: it is
still answered (and scored) but flagged, so an edited card never passes silently on old answers.

A recording of an agent-backend cell also keeps the whole conversation (``agent``: the runtime's messages,
the workspace's files and changes). It replays offline like any other and is re-scored from that trace;
it is stale too when the scenario's workspace contents changed (its hash differs from the recorded one).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from agenteval.backends.base import BackendResult, Usage
from agenteval.errors import InputError
from agenteval.fileio import read_jsonl_numbered
from agenteval.plan.matrix import PlanItem
from agenteval.plan.prompt import LLMRequest

Key = tuple[str, str, str, int]


class Provenance(BaseModel):
    """How a recording was produced. ``producer`` says who answered (a live model via the API, or
    e.g. a model acting as the agent in an authoring session) and ``method`` how."""

    producer: str
    model: str | None = None
    method: str
    recorded_at: str
    prompt_hash: str
    request_model: str | None = None
    notes: str | None = None
    card_hash: str | None = Field(default=None, description="content hash of the card the answer was recorded "
                                  "for (a stale answer then says whether the card changed)")
    scenario_hash: str | None = Field(default=None, description="content hash of the scenario it answers")
    base_url: str | None = Field(default=None, description="the API endpoint that answered (live recordings)")
    endpoint: Literal["anthropic-api", "non-default"] | None = Field(
        default=None, description="anthropic-api: the real Anthropic API; non-default: any other base URL "
        "(a fake, a proxy, a compatible server) — its answers are not the Anthropic API's")


class Recording(BaseModel):
    """One recorded answer to one cell."""

    scenario_id: str
    mode: str
    role: str
    epoch: int = Field(default=1, ge=1)
    response: str
    prompt_hash: str
    provenance: Provenance
    agent: dict[str, Any] | None = Field(default=None, description="agent cells: the recorded AgentTrace")

    @property
    def key(self) -> Key:
        """(scenario, mode, role, epoch)."""
        return (self.scenario_id, self.mode, self.role, self.epoch)


def load_recordings(directory: str | Path) -> dict[Key, Recording]:
    """Load every ``*.jsonl`` recording under ``directory``; later files win on duplicate keys."""
    d = Path(directory)
    out: dict[Key, Recording] = {}
    if not d.exists():
        return out
    if not d.is_dir():
        raise InputError("recordings path is not a directory", path=d)
    for f in sorted(d.rglob("*.jsonl")):
        for i, row in read_jsonl_numbered(f):
            try:
                rec = Recording.model_validate(row)
            except ValidationError as exc:
                err = exc.errors()[0]
                raise InputError(err["msg"], path=f, line=i,
                                 field=".".join(str(x) for x in err["loc"])) from None
            out[rec.key] = rec
    return out


class ReplayBackend:
    """Serves recorded answers. The default backend: works on a fresh machine with no API key."""

    name = "replay"

    def __init__(self, recordings_dir: str | Path) -> None:
        self.recordings_dir = Path(recordings_dir)
        self._recs = load_recordings(self.recordings_dir)
        self._workspace_hashes: dict[str, str | None] = {}

    def bind(self, card: Any, scenarios: Mapping[str, Any]) -> None:
        """The run's scenarios: their workspace hashes decide whether an agent recording is stale."""
        self._workspace_hashes = {sid: getattr(sc, "workspace_hash", None) for sid, sc in scenarios.items()}

    @property
    def recordings(self) -> dict[Key, Recording]:
        """All loaded recordings by key."""
        return self._recs

    async def generate(self, request: LLMRequest, item: PlanItem) -> BackendResult:
        """The recorded answer for the item's cell, or ``skipped`` when there is none."""
        rec = self._recs.get((item.scenario_id, item.mode, item.role, item.epoch))
        if rec is None:
            return BackendResult(status="skipped", error="no recording for this cell", latency_s=0.0)
        stale = rec.prompt_hash != request.prompt_hash()
        if rec.agent is not None and item.scenario_id in self._workspace_hashes:
            recorded = (rec.agent.get("workspace") or {}).get("hash")
            stale = stale or recorded != self._workspace_hashes[item.scenario_id]
        return BackendResult(
            status="ok",
            text=rec.response,
            model=rec.provenance.model or rec.provenance.producer,
            stop_reason="end_turn",
            latency_s=0.0,
            stale=stale,
            provenance=rec.provenance.model_dump(),
            agent=rec.agent,
            usage=_agent_usage(rec.agent),
        )

    async def aclose(self) -> None:
        """Nothing to release."""

    def describe(self) -> dict[str, Any]:
        """Manifest entry."""
        return {"name": self.name, "recordings": str(self.recordings_dir), "recorded_cells": len(self._recs)}


def _agent_usage(agent: Mapping[str, Any] | None) -> Usage:
    """The recorded runtime's token usage (the result message's), for agent recordings; else zero."""
    for m in reversed((agent or {}).get("messages") or []):
        if isinstance(m, dict) and m.get("type") == "result" and isinstance(m.get("usage"), dict):
            u = m["usage"]
            return Usage(**{k: int(u.get(k) or 0) for k in Usage.model_fields})
    return Usage()
