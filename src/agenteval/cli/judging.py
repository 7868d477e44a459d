"""``agenteval judge``: export the judge's exact requests, import verdicts answered anywhere, write a policy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from agenteval.cli._app import ConfigOpt, _cfg, app
from agenteval.cli._app import scenario_paths as scenario_paths_of

judge_app = typer.Typer(name="judge", no_args_is_help=True, add_completion=False,
                        help="The Never-rule judge: its requests and recorded verdicts (replayed by --judge replay).")
app.add_typer(judge_app)


def _subjects(responses: str, card_path: str, scenario_paths: list[str] | None, cfg: Any) -> tuple[Any, list[Any]]:
    """The answers of a responses JSONL file, or of a run directory's latest journal records."""
    from agenteval.inputs.card import load_card
    from agenteval.inputs.responses import read_responses
    from agenteval.inputs.scenario import load_scenarios
    from agenteval.run.scoring import subjects_of

    card = load_card(card_path)
    paths, fixtures = scenario_paths_of(cfg, scenario_paths)
    scs = {s.id: s for s in load_scenarios(paths, card, fixtures_dir=fixtures)} if paths else {}
    src = Path(responses)
    if src.is_dir():
        from agenteval.run.scoring import subjects_of_run

        return card, subjects_of_run(src, scs)
    return card, subjects_of(read_responses(src, card), scs)


@judge_app.command("export")
def export_cmd(
    responses: Annotated[str, typer.Option("--responses", help="responses JSONL (id, scenario_id, mode, role, "
                                                               "response) or a run directory")],
    out: Annotated[str, typer.Option("--out", help="requests JSONL to write")],
    card: Annotated[str | None, typer.Option("--card", help="card file (default from config)")] = None,
    scenarios: Annotated[list[str] | None, typer.Option(
        "--scenarios", help="scenario files/folders (repeatable or comma-separated; default from config)")] = None,
    config: ConfigOpt = None,
) -> None:
    """Write the judge's exact request for every answer: {"id", "request_hash", "request"} per line."""
    from agenteval.run.judging import export_requests

    cfg = _cfg(config)
    c, subjects = _subjects(responses, card or cfg.card_path, scenarios, cfg)
    n = export_requests(subjects, c, out, policy_path=str(cfg.resolve(cfg.never_policy)) if cfg.never_policy else None)
    print(f"exported {n} judge request(s) -> {out}")


@judge_app.command("import")
def import_cmd(
    requests: Annotated[str, typer.Option("--requests", help="the requests JSONL written by `judge export`")],
    verdicts: Annotated[str, typer.Option("--verdicts", help="verdicts JSONL: request_hash, verdicts")],
    producer: Annotated[str, typer.Option("--producer", help="who produced the verdicts (model, tool or person)")],
    method: Annotated[str, typer.Option("--method", help="how they were produced")],
    model: Annotated[str | None, typer.Option("--model", help="the model that answered, if any")] = None,
    to: Annotated[str | None, typer.Option("--to", help="folder to record into (default from config)")] = None,
    config: ConfigOpt = None,
) -> None:
    """Check verdicts against the exported requests and record them with provenance (all or nothing)."""
    from agenteval.run.judging import import_verdicts

    cfg = _cfg(config)
    path, n = import_verdicts(requests, verdicts, producer=producer, method=method, model=model,
                              to=to or str(cfg.resolve(cfg.judgements)))
    print(f"imported {n} verdict set(s) -> {path}")


@judge_app.command("policy")
def policy_cmd(
    card: Annotated[str | None, typer.Option("--card", help="card file (default from config)")] = None,
    out: Annotated[str | None, typer.Option("--out", help="write here instead of stdout")] = None,
    config: ConfigOpt = None,
) -> None:
    """Print a starting violation policy generated from the card's own Never rules (edit it, then set
    `never_policy:` in agenteval.yaml)."""
    from agenteval.fileio import atomic_write_text
    from agenteval.inputs.card import load_card
    from agenteval.run.judging import generated_policy

    cfg = _cfg(config)
    text = generated_policy(load_card(card or cfg.card_path))
    if out:
        atomic_write_text(Path(out), text)
        print(f"wrote {out}")
    else:
        print(text, end="")
