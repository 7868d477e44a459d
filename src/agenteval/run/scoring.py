"""``agenteval score``: score responses produced elsewhere (JSONL in, JSONL out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from agenteval.inputs.card import load_card
from agenteval.errors import InputError
from agenteval.inputs.scenario import load_scenarios
from agenteval.results.store import atomic_write_jsonl, read_jsonl_numbered

MAX_RESPONSES_BYTES = 512 * 1024 * 1024


class ResponseLine(BaseModel):
    """One input line of ``agenteval score`` (and of the golden set, which adds labels)."""

    model_config = ConfigDict(extra="allow")
    id: str
    scenario_id: str
    mode: str
    role: str
    tool_mode: str | None = None
    response: str | None


def read_responses(path: str | Path, card: Any = None) -> list[ResponseLine]:
    """Read and validate a responses JSONL file (errors name file, line and field).

    With ``card``, every line's ``mode`` and ``role`` must be one the card defines.
    """
    p = Path(path)
    if p.is_file() and p.stat().st_size > MAX_RESPONSES_BYTES:
        raise InputError(f"file is too large (limit {MAX_RESPONSES_BYTES} bytes)", path=p)
    out: list[ResponseLine] = []
    seen: set[str] = set()
    for i, row in read_jsonl_numbered(p):
        try:
            line = ResponseLine.model_validate(row)
        except ValidationError as exc:
            err = exc.errors()[0]
            msg = "required field is missing" if err["type"] == "missing" else err["msg"]
            raise InputError(msg, path=p, line=i, field=".".join(str(x) for x in err["loc"])) from None
        if line.id in seen:
            raise InputError(f"duplicate id '{line.id}'", path=p, line=i, field="id")
        if card is not None and line.mode not in card.cognitive_modes:
            raise InputError(f"unknown mode '{line.mode}' (card modes: {', '.join(card.modes)})", path=p,
                             line=i, field="mode")
        if card is not None and line.role not in card.ensemble_roles:
            raise InputError(f"unknown role '{line.role}' (card roles: {', '.join(card.roles)})", path=p,
                             line=i, field="role")
        seen.add(line.id)
        out.append(line)
    return out


def score_lines_of(lines: list[ResponseLine], card: Any, scenarios: dict[str, Any],
                   config: Any = None) -> list[dict[str, Any]]:
    """Score parsed response lines; a scenario the suite does not know gets no scenario checks."""
    from agenteval.scorers import ScoreContext, score_response

    out: list[dict[str, Any]] = []
    for ln in lines:
        sc = scenarios.get(ln.scenario_id)
        tool_mode = ln.tool_mode or (sc.tool_mode if sc else None)
        rec = score_response(ln.response or "", ScoreContext(scenario_id=ln.scenario_id, mode=ln.mode,
                                                             role=ln.role, tool_mode=tool_mode), card, sc, config)
        out.append({"id": ln.id, "scenario_id": ln.scenario_id, "mode": ln.mode, "role": ln.role,
                    "tool_mode": tool_mode, **rec.model_dump(mode="json")})
    return out


def score_file(responses: str, out: str, *, card_path: str, scenario_paths: list[str],
               fixtures_dir: Path | None = None, scoring: str | None = None, judge: str | None = None,
               cache_dir: str | None = None, use_cache: bool = True) -> int:
    """Score ``responses`` into ``out``; returns the number of lines scored.

    With ``judge`` (a model), the LLM judge's answers for every line are fetched first (cached under
    ``cache_dir``; see :mod:`agenteval.scorers.llm_judge`) and its ``judge.*`` checks are added.
    """
    if judge:  # no key / unknown model: one-line error before any file is read
        from agenteval.scorers.llm_judge import check_judge

        judge = check_judge(judge)
    card = load_card(card_path)
    scs = {s.id: s for s in load_scenarios(scenario_paths, card, fixtures_dir=fixtures_dir)} if scenario_paths else {}
    lines = read_responses(responses, card)
    config = None
    if scoring:
        from agenteval.scorers import ScoringConfig

        config = ScoringConfig.from_yaml(scoring)
    if judge:
        from agenteval.scorers import ScoreContext
        from agenteval.scorers.llm_judge import JudgeItem, install_judge

        items = [JudgeItem(ln.response or "", ScoreContext(
            scenario_id=ln.scenario_id, mode=ln.mode, role=ln.role,
            tool_mode=ln.tool_mode or (scs[ln.scenario_id].tool_mode if ln.scenario_id in scs else None)),
            scs.get(ln.scenario_id)) for ln in lines]
        config = install_judge(judge, card, items, config, cache_dir=cache_dir, use_cache=use_cache, strict=True)
    rows = score_lines_of(lines, card, scs, config)
    atomic_write_jsonl(Path(out), rows)
    return len(rows)


class GoldenLabels(BaseModel):
    """Expected check outcomes of one golden item (names and meanings: docs/scoring-contract.md)."""

    model_config = ConfigDict(extra="forbid")
    envelope_ok: bool
    envelope_loose_ok: bool
    confidence_level: str | None
    escalated: bool
    never_violations: list[str]
    layout_ok: bool | None = None
    mode_adherence: bool | None = None
    role_adherence: bool | None = None
    elements_found: list[str] | None = None


class GoldenLine(ResponseLine):
    """One line of ``golden/labelled/*.jsonl``: a response line plus its labels and their rationale."""

    model_config = ConfigDict(extra="forbid")
    tool_mode: str | None
    response: str
    labels: GoldenLabels
    rationale: dict[str, str]


def read_golden(path: str | Path) -> list[GoldenLine]:
    """Read and validate one golden labelled file (errors name file, line and field)."""
    p = Path(path)
    out: list[GoldenLine] = []
    for i, row in read_jsonl_numbered(p):
        try:
            out.append(GoldenLine.model_validate(row))
        except ValidationError as exc:
            err = exc.errors()[0]
            raise InputError(err["msg"], path=p, line=i, field=".".join(str(x) for x in err["loc"])) from None
    return out
