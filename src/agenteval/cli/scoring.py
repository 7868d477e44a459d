"""Commands that score answers produced elsewhere: ``score``, ``validate-scorers``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from agenteval.cli._app import ConfigOpt, JudgementsOpt, JudgeOpt, NoJudgeOpt, _cfg, app, judge_settings
from agenteval.cli._app import scenario_paths as scenario_paths_of


@app.command()
def score(
    responses: Annotated[str, typer.Option("--responses", help="input JSONL: id, scenario_id, mode, role, response")],
    out: Annotated[str, typer.Option("--out", help="output JSONL")],
    config: ConfigOpt = None,
    card: Annotated[str | None, typer.Option(help="card file (default from config)")] = None,
    scenario_paths: Annotated[list[str] | None, typer.Option(
        "--scenarios", help="scenario files/folders (repeatable or comma-separated; default from config)")] = None,
    judge: JudgeOpt = None,
    judgements: JudgementsOpt = None,
    no_judge: NoJudgeOpt = False,
    cache_dir: Annotated[str | None, typer.Option("--cache-dir", help="live judge answer cache folder")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="do not use the live judge answer cache")] = False,
) -> None:
    """Score responses produced elsewhere."""
    from agenteval.run.scoring import score_file

    cfg = _cfg(config)
    js = judge_settings(cfg, judge, judgements, no_judge, cache_dir=cache_dir, use_cache=not no_cache)
    paths, fixtures = scenario_paths_of(cfg, scenario_paths)
    n = score_file(responses, out, card_path=card or cfg.card_path, scenario_paths=paths, fixtures_dir=fixtures,
                   scoring=str(cfg.resolve(cfg.scoring)) if cfg.scoring else None, judge=js)
    print(f"scored {n} responses -> {out}")


@app.command("validate-scorers")
def validate_scorers_cmd(
    labels: Annotated[str, typer.Option("--labels", help="labelled golden set folder")] = "golden/labelled",
    config: ConfigOpt = None,
    judge: Annotated[str | None, typer.Option(
        "--judge", help="also measure the Never-rule judge: 'replay' (recorded verdicts) or a MODEL (live)")] = None,
    judgements: JudgementsOpt = None,
) -> None:
    """Measure the scorers against the labelled golden set: per check n, precision, recall, F1, accuracy."""
    from agenteval.run.validate import main_validate_scorers

    cfg = _cfg(config)
    kwargs: dict[str, Any] = {}
    if judge:
        kwargs["judge"] = judge_settings(cfg, judge, judgements)
    code = main_validate_scorers(labels, cfg.card_path, [str(cfg.resolve(p)) for p in cfg.scenarios],
                                 **kwargs)
    raise typer.Exit(code)
