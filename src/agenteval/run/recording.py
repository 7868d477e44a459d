"""Writing replay recordings (``golden/recordings/<scenario_id>.jsonl``) with honest provenance.

Two sources:

* live: ``agenteval record`` runs the anthropic backend over the plan and records each answer with
  ``producer="anthropic-api"`` and the model id the API reported;
* authored: ``agenteval record --from-responses FILE --producer P --method M`` imports answers that
  were produced elsewhere (another tool, or a model acting as the agent in an authoring session).
  The producer and method are required, so a recording never poses as a live model answer.

Either way the recording carries the ``prompt_hash`` of the exact request ``agenteval prompt`` prints
for its cell at the time of recording, so later edits of the card or scenario make it stale.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agenteval.backends.replay import Provenance, Recording, load_recordings
from agenteval.errors import InputError
from agenteval.inputs.card import AgentCard
from agenteval.inputs.scenario import Scenario
from agenteval.plan.prompt import build_request
from agenteval.results.store import atomic_write_jsonl, read_jsonl_numbered, utcnow


class AuthoredLine(BaseModel):
    """One input line of ``agenteval record --from-responses``."""

    model_config = ConfigDict(extra="ignore")
    scenario_id: str
    mode: str
    role: str
    epoch: int = Field(default=1, ge=1)
    response: str = Field(min_length=1)
    model: str | None = None


def write_recordings(recs: Iterable[Recording], out_dir: str | Path) -> int:
    """Merge recordings into ``out_dir`` (one file per scenario; same key replaces). Returns count."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    existing = load_recordings(out)
    n = 0
    for r in recs:
        existing[r.key] = r
        n += 1
    by_scenario: dict[str, list[Recording]] = defaultdict(list)
    for r in existing.values():
        by_scenario[r.scenario_id].append(r)
    for sid, rows in by_scenario.items():
        rows.sort(key=lambda r: (r.mode, r.role, r.epoch))
        atomic_write_jsonl(out / f"{sid}.jsonl", (r.model_dump(mode="json") for r in rows))
    return n


def import_authored(
    responses: str | Path,
    card: AgentCard,
    scenarios: Sequence[Scenario],
    *,
    producer: str,
    method: str,
    model_name: str | None = None,
    notes: str | None = None,
) -> list[Recording]:
    """Turn authored answers into recordings stamped with the current prompt hash of each cell."""
    if not producer.strip() or not method.strip():
        raise InputError("--producer and --method are required for authored recordings", path=responses)
    by_id = {s.id: s for s in scenarios}
    out: list[Recording] = []
    p = Path(responses)
    for i, row in read_jsonl_numbered(p):
        try:
            ln = AuthoredLine.model_validate(row)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise InputError(err["msg"], path=p, line=i, field=".".join(str(x) for x in err["loc"])) from None
        sc = by_id.get(ln.scenario_id)
        if sc is None:
            raise InputError(f"unknown scenario id '{ln.scenario_id}'", path=p, line=i, field="scenario_id")
        if ln.mode not in card.cognitive_modes:
            raise InputError(f"unknown mode '{ln.mode}'", path=p, line=i, field="mode")
        if ln.role not in card.ensemble_roles:
            raise InputError(f"unknown role '{ln.role}'", path=p, line=i, field="role")
        req = build_request(card, sc, ln.mode, ln.role, model=card.model)
        out.append(Recording(
            scenario_id=ln.scenario_id, mode=ln.mode, role=ln.role, epoch=ln.epoch, response=ln.response,
            prompt_hash=req.prompt_hash(),
            provenance=Provenance(producer=producer, model=ln.model or model_name, method=method,
                                  recorded_at=utcnow(), prompt_hash=req.prompt_hash(), notes=notes,
                                  card_hash=card.content_hash, scenario_hash=sc.content_hash()),
        ))
    return out


def recordings_from_run(run_dir: str | Path, *, producer: str | None = None, method: str | None = None,
                        model_name: str | None = None, notes: str | None = None) -> list[Recording]:
    """Recordings of a finished run's ok items, agent conversations included (``agenteval record --from-run``).

    The provenance says who produced the model turns: ``producer``/``method`` when given (e.g. turns relayed
    through the fake API to an authoring session; the model the run asked for is then only ``request_model``,
    and ``model`` is ``model_name``), else what the run's backend recorded.
    """
    from agenteval.results.store import RunDir

    rd = RunDir.open(run_dir)
    out: list[Recording] = []
    for t in rd.latest_transcripts().values():
        if t.status != "ok" or not t.response:
            continue
        prov = dict(t.provenance or {})
        out.append(Recording(
            scenario_id=t.scenario_id, mode=t.mode, role=t.role, epoch=t.epoch, response=t.response,
            prompt_hash=t.prompt_hash or "", agent=t.agent,
            provenance=Provenance(producer=producer or str(prov.get("producer") or "unknown"),
                                  model=(model_name if producer else t.model),
                                  method=method or str(prov.get("method") or "agenteval run"),
                                  recorded_at=t.finished_at or utcnow(), prompt_hash=t.prompt_hash or "",
                                  request_model=t.model, notes=notes or f"from run {rd.run_id}"),
        ))
    return out
