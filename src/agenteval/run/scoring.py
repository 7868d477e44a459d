"""``agenteval score``: score responses produced elsewhere (JSONL in, JSONL out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agenteval.inputs.card import load_card
from agenteval.inputs.responses import ResponseLine, read_responses
from agenteval.inputs.scenario import load_scenarios
from agenteval.results.store import atomic_write_jsonl

MAX_RESPONSES_BYTES = 512 * 1024 * 1024


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
