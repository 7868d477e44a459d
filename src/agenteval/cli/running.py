"""Commands that call a backend: ``run`` (and its dry run), ``record``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from agenteval.cli._app import (
    ConfigOpt,
    JudgementsOpt,
    JudgeOpt,
    NoJudgeOpt,
    _cfg,
    _fail,
    _print_ref_notes,
    app,
    judge_settings,
)


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
    backend: Annotated[str | None, typer.Option(help="replay | anthropic | agent")] = None,
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
    judge: JudgeOpt = None,
    judgements: JudgementsOpt = None,
    no_judge: NoJudgeOpt = False,
    max_rps: Annotated[float | None, typer.Option(
        "--max-rps", help="anthropic: never more than this many requests per second")] = None,
    max_itpm: Annotated[float | None, typer.Option(
        "--max-itpm", help="anthropic: never more than this many (uncached) input tokens per minute")] = None,
    max_otpm: Annotated[float | None, typer.Option(
        "--max-otpm", help="anthropic: never more than this many output tokens per minute")] = None,
    keep_workspaces: Annotated[bool, typer.Option(
        "--keep-workspaces", help="agent: keep each item's temporary workspace (path in the transcript)")] = False,
) -> None:
    """Run the matrix scenario × mode × role × epoch and score it. Last stdout line: the run directory."""
    from agenteval.plan.matrix import build_plan, parse_list
    from agenteval.plan.matrix import shard as shard_items
    from agenteval.run import runner

    argv = ["agenteval", *sys.argv[1:]]
    if resume:
        rd, summary, code = runner.resume_run(resume, argv)
        if summary is None:
            print(f"agenteval: {rd.path}: the run is finished and every planned item has an answer: "
                  "nothing to resume (nothing was changed)", file=sys.stderr)
            print(rd.path)
            raise typer.Exit(0)
        _print_summary(rd, summary)
        raise typer.Exit(code)
    cfg = _cfg(config)
    backend_name = backend or cfg.backend
    if backend_name not in ("replay", "anthropic", "agent"):
        from agenteval.errors import did_you_mean

        _fail(f"--backend: unknown backend '{backend_name}'"
              f"{did_you_mean(backend_name, ('replay', 'anthropic', 'agent'))} (replay|anthropic|agent)")
    if backend_name == "agent":  # exit 2 naming the extra before anything else is done
        import shutil

        from agenteval.backends.agent import bundled_cli

        bundled_cli()
        if shutil.which("bwrap") is None:
            print("agenteval: warning: bubblewrap (bwrap) is not installed: the agent's tools run unconfined on "
                  "this machine (apt-get install bubblewrap); the manifest records confinement: none",
                  file=sys.stderr)
    card_path = card or cfg.card_path
    paths = scenario_paths or [str(cfg.resolve(p)) for p in cfg.scenarios]
    fixtures = str(cfg.fixtures_dir)
    settings = runner.RunSettings(
        backend=backend_name,
        model="replay",
        epochs=epochs or cfg.epochs,
        concurrency=concurrency or (cfg.agent_concurrency if backend_name == "agent" else cfg.concurrency),
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
        agent_max_turns=cfg.agent_max_turns,
        agent_timeout_s=cfg.agent_timeout_s,
        keep_workspaces=keep_workspaces,
    )
    _set_budget(settings, max_rps, max_itpm, max_otpm)
    js = judge_settings(cfg, judge, judgements, no_judge)  # live judge without a key: exit 2 before any work
    if js is not None:
        settings.judge = js.judge
        settings.judgements = str(js.judgements)
        settings.never_policy = str(js.policy) if js.policy else None
    if settings.epochs < 1:
        _fail("--epochs must be at least 1")
    if settings.concurrency < 1:
        _fail("--concurrency must be at least 1")

    def plan_builder(c: Any, scs: Any) -> Any:
        _print_ref_notes(scs)
        items = build_plan(c, scs, scenario_ids=settings.scenarios, modes=settings.modes,
                           roles=settings.roles, epochs=settings.epochs)
        return shard_items(items, settings.shard)

    if backend_name in ("anthropic", "agent"):
        settings.model = _resolve_model(model or cfg.model, card_path, cfg)
    elif model:
        settings.model = model
    if backend_name == "replay":
        live_judge = settings.judge and settings.judge != "replay"
        print("agenteval: backend replay — scoring recorded answers from "
              f"{settings.recordings}; " + (f"only the LLM judge ({settings.judge}) calls the API."
                                            if live_judge else "no API calls are made and no key is needed.")
              + (f" Never verdicts: recorded judge verdicts from {settings.judgements} (screen where none)."
                 if settings.judge == "replay" else ""),
              file=sys.stderr)
    if dry_run:
        _dry_run(card_path, paths, fixtures, settings, plan_builder)
        return
    rd, summary, code = runner.start_run(
        card_path=card_path, scenario_paths=paths, fixtures_dir=fixtures, results_dir=str(
            output_dir or cfg.resolve(cfg.output_dir)), settings=settings, command=argv,
        plan_builder=plan_builder)
    _print_summary(rd, summary)
    raise typer.Exit(code)


def _set_budget(settings: Any, max_rps: float | None, max_itpm: float | None, max_otpm: float | None) -> None:
    """``--max-rps`` / ``--max-itpm`` / ``--max-otpm`` into the settings (exit 2 unless > 0)."""
    for flag, value in (("--max-rps", max_rps), ("--max-itpm", max_itpm), ("--max-otpm", max_otpm)):
        if value is not None and not 0 < value < float("inf"):
            _fail(f"{flag} must be a number greater than 0")
    settings.max_rps, settings.max_itpm, settings.max_otpm = max_rps, max_itpm, max_otpm


def _resolve_model(model: str | None, card_path: str, cfg: Any) -> str:
    from agenteval.inputs.card import load_card

    alias = model or load_card(card_path).model
    if alias in cfg.models:
        return str(cfg.models[alias])
    try:
        from agenteval.backends.pricing import resolve_model
    except ImportError:  # pragma: no cover
        return alias
    return str(resolve_model(alias))


def _dry_run(card_path: str, paths: list[str], fixtures: str, settings: Any, plan_builder: Any) -> None:
    from agenteval.inputs.card import load_card
    from agenteval.inputs.scenario import load_scenarios
    from agenteval.plan.prompt import build_request

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
    elif settings.backend == "agent":
        print(f"agent: {len(items)} item(s), each a Claude Code conversation of up to {settings.agent_max_turns} "
              f"turns (scenario max_turns wins) and {settings.agent_timeout_s:g} s; the cost depends on the turns "
              "taken and is reported per item after the run")
    else:
        print(f"calls: 0 (replay answers from {settings.recordings}); cost $0")


def _print_summary(rd: Any, summary: dict[str, Any]) -> None:
    from agenteval.analysis.summary import render_summary
    from agenteval.backends.env import cost_note

    path = str(rd.path.resolve())
    print(render_summary(summary, path, cost_note=cost_note(rd.read_manifest().backend)))
    print(path)


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
    card: Annotated[str | None, typer.Option(help="card file to record for (default from config)")] = None,
    scenarios: Annotated[str | None, typer.Option(help="live: only these scenario ids")] = None,
    modes: Annotated[str | None, typer.Option(help="live: only these modes")] = None,
    roles: Annotated[str | None, typer.Option(help="live: only these roles")] = None,
    epochs: Annotated[int, typer.Option(help="live: epochs to record")] = 1,
    model: Annotated[str | None, typer.Option(help="live: model id or alias")] = None,
    concurrency: Annotated[int | None, typer.Option(help="live: max requests in flight")] = None,
    judge: Annotated[str | None, typer.Option(
        "--judge", help="live: also record the Never-rule judge's verdicts from this MODEL into the "
                        "judgements folder (replayed by --judge replay)")] = None,
    max_rps: Annotated[float | None, typer.Option(
        "--max-rps", help="live: never more than this many requests per second")] = None,
    max_itpm: Annotated[float | None, typer.Option(
        "--max-itpm", help="live: never more than this many (uncached) input tokens per minute")] = None,
    max_otpm: Annotated[float | None, typer.Option(
        "--max-otpm", help="live: never more than this many output tokens per minute")] = None,
    from_run: Annotated[str | None, typer.Option(
        "--from-run", help="import the ok items of a finished run (agent conversations included)")] = None,
) -> None:
    """Refresh golden/recordings: run live against the API (default), or import authored answers."""
    from agenteval.inputs.card import load_card
    from agenteval.inputs.scenario import load_scenarios
    from agenteval.run.recording import import_authored, write_recordings

    cfg = _cfg(config)
    out_dir = out or str(cfg.resolve(cfg.recordings))
    card_path = card or cfg.card_path
    paths = [str(cfg.resolve(p)) for p in cfg.scenarios]
    if from_run:
        from agenteval.run.recording import recordings_from_run

        n = write_recordings(recordings_from_run(from_run, producer=producer, method=method,
                                                 model_name=model_name), out_dir)
        print(f"recorded {n} answers from {from_run} into {out_dir}")
        return
    if from_responses:
        if not producer or not method:
            _fail("--producer and --method are required with --from-responses (recordings carry provenance)")
        c = load_card(card_path, strict=cfg.strict_card)
        scs = load_scenarios(paths, c, fixtures_dir=cfg.fixtures_dir)
        recs = import_authored(from_responses, c, scs, producer=producer, method=method, model_name=model_name)
        n = write_recordings(recs, out_dir)
        print(f"recorded {n} authored answers into {out_dir}")
        return
    from agenteval.backends.replay import Provenance, Recording
    from agenteval.plan.matrix import build_plan, parse_list
    from agenteval.run import runner

    settings = runner.RunSettings(
        backend="anthropic", model=_resolve_model(model or cfg.model, card_path, cfg), epochs=epochs,
        concurrency=concurrency or cfg.concurrency, scenarios=parse_list(scenarios), modes=parse_list(modes),
        roles=parse_list(roles), max_tokens=cfg.max_tokens, temperature=cfg.temperature, report=False,
        strict_card=cfg.strict_card)
    _set_budget(settings, max_rps, max_itpm, max_otpm)
    js = judge_settings(cfg, judge, None) if judge else None  # a live judge model: checked before any request
    if js is not None:
        if js.replay:
            _fail("record --judge: give a judge MODEL (replay has nothing new to record)")
        settings.judge = js.judge
        settings.never_policy = str(js.policy) if js.policy else None
        settings.record_judgements = str(js.judgements)

    def plan_builder(c: Any, scs: Any) -> Any:
        return build_plan(c, scs, scenario_ids=settings.scenarios, modes=settings.modes, roles=settings.roles,
                          epochs=settings.epochs)

    rd, summary, code = runner.start_run(
        card_path=card_path, scenario_paths=paths, fixtures_dir=str(cfg.fixtures_dir),
        results_dir=str(cfg.resolve(cfg.output_dir)), settings=settings, command=["agenteval", *sys.argv[1:]],
        plan_builder=plan_builder)
    from agenteval.backends.env import is_default_endpoint

    manifest = rd.read_manifest()
    base_url = str(manifest.backend.get("base_url") or "") or None
    real = is_default_endpoint(base_url)
    producer = "anthropic-api" if real else "non-default-endpoint"
    how = ("agenteval record (live Messages API call)" if real else
           f"agenteval record (Messages API call to the non-default endpoint {base_url}; "
           "not an Anthropic API answer)")
    scen_hash = {s.id: s.content_hash for s in manifest.scenarios}
    recs = [
        Recording(scenario_id=t.scenario_id, mode=t.mode, role=t.role, epoch=t.epoch, response=t.response or "",
                  prompt_hash=t.prompt_hash or "",
                  provenance=Provenance(producer=producer, model=t.model, method=how, recorded_at=t.finished_at or "",
                                        prompt_hash=t.prompt_hash or "", request_model=settings.model,
                                        notes=f"run {rd.run_id}", card_hash=manifest.card.content_hash,
                                        scenario_hash=scen_hash.get(t.scenario_id), base_url=base_url or
                                        "https://api.anthropic.com",
                                        endpoint="anthropic-api" if real else "non-default"))
        for t in rd.latest_transcripts().values() if t.status == "ok" and t.response
    ]
    n = write_recordings(recs, out_dir)
    _print_summary(rd, summary)
    print(f"recorded {n} live answers into {out_dir}", file=sys.stderr)
    raise typer.Exit(code)
