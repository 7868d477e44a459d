"""The ``agenteval`` command line.

Exit codes: 0 success, 1 a check failed (lint errors, coverage gaps, gate failed), 2 bad input or
usage (one line on stderr naming file and field, never a traceback), 3 a run finished with errored
items, 130 interrupted. Heavy libraries are imported inside the commands that need them so that
``agenteval --help`` starts fast.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from agenteval.errors import AgentEvalError

app = typer.Typer(
    name="agenteval",
    help=(
        "Benchmark how an LLM agent defined by a persona card behaves: envelope compliance, "
        "Never-rule violations, escalation calibration.\n\n"
        "The default backend is replay: recorded answers from golden/recordings, no API key, no network. "
        "Use --backend anthropic for live calls."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _fail(message: str, code: int = 2) -> NoReturn:
    print(f"agenteval: error: {' '.join(message.split())}", file=sys.stderr)
    raise typer.Exit(code)


def _cfg(config: str | None) -> Any:
    from agenteval.config import load_config

    return load_config(config)


ConfigOpt = Annotated[str | None, typer.Option("--config", help="project config (default ./agenteval.yaml)")]


# --------------------------------------------------------------------------- run


@app.command()
def run(
    config: ConfigOpt = None,
    card: Annotated[str | None, typer.Option(help="card file (default from config)")] = None,
    scenario_paths: Annotated[list[str] | None, typer.Option(
        "--scenario-path", help="scenario file or folder (repeatable; default from config)")] = None,
    scenarios: Annotated[str | None, typer.Option(help="only these scenario ids (comma-separated)")] = None,
    modes: Annotated[str | None, typer.Option(help="only these cognitive modes (comma-separated)")] = None,
    roles: Annotated[str | None, typer.Option(help="only these ensemble roles (comma-separated)")] = None,
    epochs: Annotated[int | None, typer.Option(help="repeats of every cell")] = None,
    concurrency: Annotated[int | None, typer.Option(help="max requests in flight (ceiling)")] = None,
    backend: Annotated[str | None, typer.Option(help="replay | anthropic")] = None,
    model: Annotated[str | None, typer.Option(help="model id or alias (default: the card's alias)")] = None,
    recordings: Annotated[str | None, typer.Option(help="replay recordings folder")] = None,
    output_dir: Annotated[str | None, typer.Option("--output-dir", help="results folder")] = None,
    resume: Annotated[str | None, typer.Option(help="finish an interrupted run in RUN_DIR")] = None,
    shard: Annotated[str | None, typer.Option(help="run only shard i/n of the matrix, e.g. 1/4")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="card lint warnings are errors")] = False,
    batch: Annotated[bool, typer.Option("--batch", help="anthropic: submit as Message Batches")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print plan, calls, tokens and cost; send nothing")]
    = False,
    cache_dir: Annotated[str | None, typer.Option("--cache-dir", help="anthropic response cache folder")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="anthropic: do not use the response cache")]
    = False,
    no_report: Annotated[bool, typer.Option("--no-report", help="do not write report.html/report.md")] = False,
) -> None:
    """Run the matrix scenario × mode × role × epoch and score it. Last stdout line: the run directory."""
    from agenteval import runner
    from agenteval.plan import build_plan, parse_list, shard as shard_items

    argv = ["agenteval", *sys.argv[1:]]
    if resume:
        rd, summary, code = runner.resume_run(resume, argv)
        _print_summary(rd, summary)
        raise typer.Exit(code)
    cfg = _cfg(config)
    backend_name = backend or cfg.backend
    if backend_name not in ("replay", "anthropic"):
        _fail(f"--backend: unknown backend '{backend_name}' (replay|anthropic)")
    card_path = card or str(cfg.resolve(cfg.card))
    paths = scenario_paths or [str(cfg.resolve(p)) for p in cfg.scenarios]
    fixtures = str(cfg.fixtures_dir)
    settings = runner.RunSettings(
        backend=backend_name,
        model="replay",
        epochs=epochs or cfg.epochs,
        concurrency=concurrency or cfg.concurrency,
        scenarios=parse_list(scenarios),
        modes=parse_list(modes),
        roles=parse_list(roles),
        shard=shard,
        max_tokens=cfg.max_tokens,
        temperature=cfg.temperature,
        recordings=str(recordings or cfg.resolve(cfg.recordings)),
        cache_dir=cache_dir,
        use_cache=not no_cache,
        batch=batch,
        report=cfg.report and not no_report,
        strict_card=strict or cfg.strict_card,
        scoring=str(cfg.resolve(cfg.scoring)) if cfg.scoring else None,
    )
    if settings.epochs < 1:
        _fail("--epochs must be at least 1")
    if settings.concurrency < 1:
        _fail("--concurrency must be at least 1")

    def plan_builder(c: Any, scs: Any) -> Any:
        items = build_plan(c, scs, scenario_ids=settings.scenarios, modes=settings.modes,
                           roles=settings.roles, epochs=settings.epochs)
        return shard_items(items, settings.shard)

    if backend_name == "anthropic":
        settings.model = _resolve_model(model or cfg.model, card_path, cfg)
    elif model:
        settings.model = model
    if backend_name == "replay":
        print("agenteval: backend replay — scoring recorded answers from "
              f"{settings.recordings}; no API calls are made and no key is needed.", file=sys.stderr)
    if dry_run:
        _dry_run(card_path, paths, fixtures, settings, plan_builder)
        return
    rd, summary, code = runner.start_run(
        card_path=card_path, scenario_paths=paths, fixtures_dir=fixtures, results_dir=str(
            output_dir or cfg.resolve(cfg.output_dir)), settings=settings, command=argv,
        plan_builder=plan_builder)
    _print_summary(rd, summary)
    raise typer.Exit(code)


def _resolve_model(model: str | None, card_path: str, cfg: Any) -> str:
    from agenteval.card import load_card

    alias = model or load_card(card_path).model
    if alias in cfg.models:
        return str(cfg.models[alias])
    try:
        from agenteval.pricing import resolve_model
    except ImportError:  # pragma: no cover
        return alias
    return str(resolve_model(alias))


def _dry_run(card_path: str, paths: list[str], fixtures: str, settings: Any, plan_builder: Any) -> None:
    from agenteval.card import load_card
    from agenteval.prompt import build_request
    from agenteval.scenario import load_scenarios

    card = load_card(card_path, strict=settings.strict_card)
    scs = load_scenarios(paths, card, fixtures_dir=Path(fixtures))
    items = plan_builder(card, scs)
    by_id = {s.id: s for s in scs}
    requests = [build_request(card, by_id[i.scenario_id], i.mode, i.role, model=settings.model,
                              max_tokens=settings.max_tokens) for i in items]
    print(f"plan: {len(items)} items ({len({i.cell for i in items})} cells × {settings.epochs} epoch(s)), "
          f"backend {settings.backend}, model {settings.model}")
    if settings.backend == "anthropic":
        from agenteval.backends.anthropic import dry_run_estimate

        est = dry_run_estimate(requests, settings.model)
        print(est.render() if hasattr(est, "render") else json.dumps(est, indent=2, default=str))
    else:
        print(f"calls: 0 (replay answers from {settings.recordings}); cost $0")


def _print_summary(rd: Any, summary: dict[str, Any]) -> None:
    from agenteval.summary import render_summary

    path = str(rd.path.resolve())
    print(render_summary(summary, path))
    print(path)


# --------------------------------------------------------------------------- inputs


@app.command()
def validate(
    paths: Annotated[list[str] | None, typer.Argument(help="scenario files/folders and cards (default: config)")]
    = None,
    config: ConfigOpt = None,
    card: Annotated[str | None, typer.Option(help="card to check scenarios against")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="card lint warnings are errors")] = False,
) -> None:
    """Check scenario files and cards; print one line per problem (exit 2 on the first bad file)."""
    from agenteval.card import load_card
    from agenteval.scenario import load_scenarios

    cfg = _cfg(config)
    card_paths = [p for p in (paths or []) if p.endswith(".md")]
    scen_paths = [p for p in (paths or []) if not p.endswith(".md")]
    if not paths:
        scen_paths = [str(cfg.resolve(p)) for p in cfg.scenarios]
    main_card = card or (card_paths[0] if card_paths else str(cfg.resolve(cfg.card)))
    c = load_card(main_card, strict=strict)
    for cp in card_paths:
        load_card(cp, strict=strict)
    n = 0
    if scen_paths:
        fixtures = cfg.fixtures_dir if not paths else None
        n = len(load_scenarios(scen_paths, c, fixtures_dir=fixtures))
    for f in c.lint:
        print(f.format(), file=sys.stderr)
    print(f"ok: card {main_card} ({c.name} {c.version}, {len(c.rules)} rules); {n} scenario(s) valid")


@app.command()
def schema() -> None:
    """Print the scenario JSON Schema (for editor completion)."""
    from agenteval.scenario import scenario_json_schema

    print(json.dumps(scenario_json_schema(), indent=2))


@app.command("lint-card")
def lint_card_cmd(
    path: Annotated[str, typer.Argument(help="card file")],
    strict: Annotated[bool, typer.Option("--strict", help="report warnings as errors")] = False,
) -> None:
    """Print card findings as PATH:LINE: level: message. Exit 0 warnings only, 1 errors, 2 unreadable."""
    from agenteval.card import lint_card, read_text_file

    read_text_file(path, what="card")  # unreadable -> InputError -> exit 2
    findings = lint_card(path)
    for f in findings:
        if strict and f.level == "warning":
            f = f.model_copy(update={"level": "error"})
        print(f.format())
    if any(f.level == "error" or strict for f in findings):
        raise typer.Exit(1)


@app.command()
def prompt(
    scenario: Annotated[str, typer.Option("--scenario", help="scenario id")],
    mode: Annotated[str, typer.Option("--mode", help="cognitive mode")],
    role: Annotated[str, typer.Option("--role", help="ensemble role")],
    config: ConfigOpt = None,
    card: Annotated[str | None, typer.Option(help="card file")] = None,
    model: Annotated[str | None, typer.Option(help="model id for the request body")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the request body as JSON only")] = False,
) -> None:
    """Print the exact request that would be sent for one cell."""
    from agenteval.card import load_card
    from agenteval.prompt import build_request
    from agenteval.scenario import load_scenarios

    cfg = _cfg(config)
    c = load_card(card or str(cfg.resolve(cfg.card)), strict=cfg.strict_card)
    scs = {s.id: s for s in load_scenarios([str(cfg.resolve(p)) for p in cfg.scenarios], c,
                                           fixtures_dir=cfg.fixtures_dir)}
    if scenario not in scs:
        _fail(f"--scenario: unknown scenario id '{scenario}'")
    if mode not in c.cognitive_modes:
        _fail(f"--mode: unknown mode '{mode}' (card modes: {', '.join(c.modes)})")
    if role not in c.ensemble_roles:
        _fail(f"--role: unknown role '{role}' (card roles: {', '.join(c.roles)})")
    req = build_request(c, scs[scenario], mode, role, model=model or cfg.model or c.model,
                        max_tokens=cfg.max_tokens, temperature=cfg.temperature)
    body = req.to_api()
    if as_json:
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return
    print(f"# prompt_hash: {req.prompt_hash()}")
    print(json.dumps(body, indent=2, ensure_ascii=False))


@app.command("scenarios")
def scenarios_cmd(
    coverage: Annotated[bool, typer.Option("--coverage", help="print the coverage table; exit 1 on gaps")]
    = False,
    config: ConfigOpt = None,
    minimum: Annotated[int, typer.Option("--min", help="scenarios required per cell")] = 2,
) -> None:
    """List scenarios, or with --coverage the rule/trigger/mode/role → scenario table."""
    from agenteval.card import load_card
    from agenteval.coverage import coverage_table, render_coverage
    from agenteval.scenario import load_scenarios

    cfg = _cfg(config)
    c = load_card(str(cfg.resolve(cfg.card)), strict=cfg.strict_card)
    scs = load_scenarios([str(cfg.resolve(p)) for p in cfg.scenarios], c, fixtures_dir=cfg.fixtures_dir)
    if not coverage:
        for s in scs:
            roles = ",".join(s.roles_for(c))
            print(f"{s.id}\t{s.tool_mode}\t{s.primary_mode or '-'}\t{roles}\tescalate={s.expect.should_escalate}")
        return
    table = coverage_table(c, scs)
    text, gaps = render_coverage(table, minimum)
    print(text)
    if gaps:
        raise typer.Exit(1)


@app.command()
def record(
    config: ConfigOpt = None,
    from_responses: Annotated[str | None, typer.Option(
        "--from-responses", help="import authored answers (JSONL: scenario_id, mode, role, [epoch], response)")]
    = None,
    producer: Annotated[str | None, typer.Option(help="who produced authored answers (required with --from-responses)")]
    = None,
    method: Annotated[str | None, typer.Option(help="how they were produced (required with --from-responses)")]
    = None,
    model_name: Annotated[str | None, typer.Option("--model-name", help="model that wrote authored answers")]
    = None,
    out: Annotated[str | None, typer.Option(help="recordings folder (default from config)")] = None,
    scenarios: Annotated[str | None, typer.Option(help="live: only these scenario ids")] = None,
    modes: Annotated[str | None, typer.Option(help="live: only these modes")] = None,
    roles: Annotated[str | None, typer.Option(help="live: only these roles")] = None,
    epochs: Annotated[int, typer.Option(help="live: epochs to record")] = 1,
    model: Annotated[str | None, typer.Option(help="live: model id or alias")] = None,
    concurrency: Annotated[int | None, typer.Option(help="live: max requests in flight")] = None,
) -> None:
    """Refresh golden/recordings: run live against the API (default), or import authored answers."""
    from agenteval.card import load_card
    from agenteval.recording import import_authored, write_recordings
    from agenteval.scenario import load_scenarios

    cfg = _cfg(config)
    out_dir = out or str(cfg.resolve(cfg.recordings))
    card_path = str(cfg.resolve(cfg.card))
    paths = [str(cfg.resolve(p)) for p in cfg.scenarios]
    if from_responses:
        if not producer or not method:
            _fail("--producer and --method are required with --from-responses (recordings carry provenance)")
        c = load_card(card_path, strict=cfg.strict_card)
        scs = load_scenarios(paths, c, fixtures_dir=cfg.fixtures_dir)
        recs = import_authored(from_responses, c, scs, producer=producer, method=method, model_name=model_name)
        n = write_recordings(recs, out_dir)
        print(f"recorded {n} authored answers into {out_dir}")
        return
    from agenteval import runner
    from agenteval.backends.replay import Provenance, Recording
    from agenteval.plan import build_plan, parse_list

    settings = runner.RunSettings(
        backend="anthropic", model=_resolve_model(model or cfg.model, card_path, cfg), epochs=epochs,
        concurrency=concurrency or cfg.concurrency, scenarios=parse_list(scenarios), modes=parse_list(modes),
        roles=parse_list(roles), max_tokens=cfg.max_tokens, temperature=cfg.temperature, report=False,
        strict_card=cfg.strict_card)

    def plan_builder(c: Any, scs: Any) -> Any:
        return build_plan(c, scs, scenario_ids=settings.scenarios, modes=settings.modes, roles=settings.roles,
                          epochs=settings.epochs)

    rd, summary, code = runner.start_run(
        card_path=card_path, scenario_paths=paths, fixtures_dir=str(cfg.fixtures_dir),
        results_dir=str(cfg.resolve(cfg.output_dir)), settings=settings, command=["agenteval", *sys.argv[1:]],
        plan_builder=plan_builder)
    recs = [
        Recording(scenario_id=t.scenario_id, mode=t.mode, role=t.role, epoch=t.epoch, response=t.response or "",
                  prompt_hash=t.prompt_hash or "",
                  provenance=Provenance(producer="anthropic-api", model=t.model, method="agenteval record (live "
                                        "Messages API call)", recorded_at=t.finished_at or "",
                                        prompt_hash=t.prompt_hash or "", request_model=settings.model,
                                        notes=f"run {rd.run_id}"))
        for t in rd.latest_transcripts().values() if t.status == "ok" and t.response
    ]
    n = write_recordings(recs, out_dir)
    _print_summary(rd, summary)
    print(f"recorded {n} live answers into {out_dir}", file=sys.stderr)
    raise typer.Exit(code)


# --------------------------------------------------------------------------- scoring


@app.command()
def score(
    responses: Annotated[str, typer.Option("--responses", help="input JSONL: id, scenario_id, mode, role, response")],
    out: Annotated[str, typer.Option("--out", help="output JSONL")],
    config: ConfigOpt = None,
    card: Annotated[str | None, typer.Option(help="card file (default from config)")] = None,
    scenario_paths: Annotated[list[str] | None, typer.Option(
        "--scenarios", help="scenario files/folders (repeatable or comma-separated; default from config)")] = None,
) -> None:
    """Score responses produced elsewhere."""
    from agenteval.scoring_io import score_file

    cfg = _cfg(config)
    paths: list[str] = []
    for p in scenario_paths or [str(cfg.resolve(p)) for p in cfg.scenarios]:
        paths.extend(x for x in p.split(",") if x)
    n = score_file(responses, out, card_path=card or str(cfg.resolve(cfg.card)), scenario_paths=paths,
                   fixtures_dir=cfg.fixtures_dir if not scenario_paths else None,
                   scoring=str(cfg.resolve(cfg.scoring)) if cfg.scoring else None)
    print(f"scored {n} responses -> {out}")


@app.command("validate-scorers")
def validate_scorers_cmd(
    labels: Annotated[str, typer.Option("--labels", help="labelled golden set folder")] = "golden/labelled",
    config: ConfigOpt = None,
    judge: Annotated[str | None, typer.Option("--judge", help="also score with an LLM judge MODEL (Cohen's κ)")]
    = None,
) -> None:
    """Measure the scorers against the labelled golden set: per check n, precision, recall, F1, accuracy."""
    from agenteval.scorers.validate import main_validate_scorers

    cfg = _cfg(config)
    kwargs: dict[str, Any] = {}
    if judge:
        kwargs["judge"] = judge
    code = main_validate_scorers(labels, str(cfg.resolve(cfg.card)), [str(cfg.resolve(p)) for p in cfg.scenarios],
                                 **kwargs)
    raise typer.Exit(code)


# --------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    """Console entry point: runs the app, turning agenteval errors into one line and exit 2."""
    try:
        rv = app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except AgentEvalError as exc:
        print(f"agenteval: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("agenteval: interrupted; finished items are saved — resume with "
              "`agenteval run --resume RUN_DIR`", file=sys.stderr)
        return 130
    except Exception as exc:  # click usage errors and anything unexpected
        import click

        if isinstance(exc, click.exceptions.Abort):
            return 130
        if isinstance(exc, click.ClickException):
            print(f"agenteval: error: {' '.join(exc.format_message().split())}", file=sys.stderr)
            return 2
        if os.environ.get("AGENTEVAL_DEBUG"):
            raise
        print(f"agenteval: internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
              "(set AGENTEVAL_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
