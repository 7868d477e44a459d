"""Scoring a list of answers, with or without the judge: the one function every command uses.

:func:`score_responses` is what ``agenteval run`` (on its journal), ``agenteval score`` (on a responses file)
and ``agenteval validate-scorers`` (on labelled sets) call. It asks :mod:`agenteval.run.judging` for the
judge's verdicts first when a judge is set (live or replayed), then scores each answer purely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agenteval.errors import InputError
from agenteval.fileio import atomic_write_jsonl
from agenteval.inputs.card import AgentCard, load_card
from agenteval.inputs.responses import ResponseLine, read_responses
from agenteval.inputs.scenario import Scenario, load_scenarios
from agenteval.run.judging import JudgeReport, JudgeSettings, Subject, judge_outcomes, print_report
from agenteval.scorers import ScoreContext, ScoreRecord, ScoringConfig, score_response


def subjects_of(lines: Sequence[ResponseLine], scenarios: Mapping[str, Scenario]) -> list[Subject]:
    """Response lines as judge/scoring subjects (tool mode from the line, else its scenario)."""
    out = []
    for ln in lines:
        sc = scenarios.get(ln.scenario_id)
        out.append(Subject(ln.id, ln.response or "", ScoreContext(
            scenario_id=ln.scenario_id, mode=ln.mode, role=ln.role,
            tool_mode=ln.tool_mode or (sc.tool_mode if sc else None)), sc, getattr(ln, "task", None)))
    return out


def subjects_of_run(run_dir: str | Path, scenarios: Mapping[str, Scenario]) -> list[Subject]:
    """The ok answers of a run directory (latest journal record per item) as subjects."""
    from agenteval.results.store import RunDir

    path = Path(run_dir)
    if not (path / "transcripts.jsonl").is_file():
        raise InputError("not a run directory (no transcripts.jsonl)", path=path)
    out = []
    for rec in RunDir(path).latest_transcripts().values():
        if rec.status == "ok":
            out.append(Subject(rec.item_id, rec.response or "", ScoreContext(
                scenario_id=rec.scenario_id, mode=rec.mode, role=rec.role, tool_mode=rec.tool_mode),
                scenarios.get(rec.scenario_id)))
    return out


def score_responses(subjects: Sequence[Subject], card: AgentCard, config: ScoringConfig | None = None,
                    judge: JudgeSettings | None = None, *, quiet: bool = False
                    ) -> tuple[list[ScoreRecord], JudgeReport | None]:
    """Score every subject; with ``judge``, its Never verdicts decide ``never_violations`` where it has them."""
    report = None
    outcomes: list[Any] = [None] * len(subjects)
    if judge is not None and subjects:
        if config is not None:
            judge.max_scan_chars = config.max_scan_chars
        outcomes, report = judge_outcomes(subjects, card, judge)
        if not quiet:
            print_report(report)
    recs = [score_response(s.response, s.ctx, card, s.scenario, config, o)
            for s, o in zip(subjects, outcomes, strict=True)]
    return recs, report


def score_file(responses: str, out: str, *, card_path: str, scenario_paths: list[str],
               fixtures_dir: Path | None = None, scoring: str | None = None,
               judge: JudgeSettings | None = None) -> int:
    """Score ``responses`` into ``out``; returns the number of lines scored."""
    card = load_card(card_path)
    scs = {s.id: s for s in load_scenarios(scenario_paths, card, fixtures_dir=fixtures_dir)} if scenario_paths else {}
    lines = read_responses(responses, card)
    config = ScoringConfig.from_yaml(scoring) if scoring else None
    subjects = subjects_of(lines, scs)
    recs, _ = score_responses(subjects, card, config, judge)
    rows = [{"id": s.id, "scenario_id": s.ctx.scenario_id, "mode": s.ctx.mode, "role": s.ctx.role,
             "tool_mode": s.ctx.tool_mode, **r.model_dump(mode="json")} for s, r in zip(subjects, recs, strict=True)]
    atomic_write_jsonl(Path(out), rows)
    return len(rows)
