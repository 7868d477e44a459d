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
    judge: Annotated[str | None, typer.Option(
        "--judge", help="also score with an LLM judge MODEL (judge.* checks; needs ANTHROPIC_API_KEY)")] = None,
    max_rps: Annotated[float | None, typer.Option(
        "--max-rps", help="anthropic: never more than this many requests per second")] = None,
    max_itpm: Annotated[float | None, typer.Option(
        "--max-itpm", help="anthropic: never more than this many (uncached) input tokens per minute")] = None,
    max_otpm: Annotated[float | None, typer.Option(
        "--max-otpm", help="anthropic: never more than this many output tokens per minute")] = None,
) -> None:
    """Run the matrix scenario × mode × role × epoch and score it. Last stdout line: the run directory."""
    from agenteval import runner
    from agenteval.plan import build_plan, parse_list
    from agenteval.plan import shard as shard_items

    argv = ["agenteval", *sys.argv[1:]]
    if resume:
        rd, summary, code = runner.resume_run(resume, argv)
        _print_summary(rd, summary)
        raise typer.Exit(code)
    cfg = _cfg(config)
    backend_name = backend or cfg.backend
    if backend_name not in ("replay", "anthropic"):
        _fail(f"--backend: unknown backend '{backend_name}' (replay|anthropic)")
    card_path = card or cfg.card_path
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
    _set_budget(settings, max_rps, max_itpm, max_otpm)
    if judge:  # no key / unknown model: exit 2 before any work
        from agenteval.scorers.llm_judge import check_judge

        settings.judge = check_judge(judge)
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
              f"{settings.recordings}; " + (f"only the LLM judge ({settings.judge}) calls the API."
                                            if settings.judge else "no API calls are made and no key is needed."),
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
    main_card = card or (card_paths[0] if card_paths else cfg.card_path)
    c = load_card(main_card, strict=strict)
    for cp in card_paths:
        load_card(cp, strict=strict)
    n = 0
    if scen_paths:
        fixtures = cfg.fixtures_dir if not paths else None
        n = len(load_scenarios(scen_paths, c, fixtures_dir=fixtures))
    if cfg.scoring and not paths:
        from agenteval.scorers import ScoringConfig

        ScoringConfig.from_yaml(cfg.resolve(cfg.scoring))
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
    c = load_card(card or cfg.card_path, strict=cfg.strict_card)
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
    c = load_card(cfg.card_path, strict=cfg.strict_card)
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
    max_rps: Annotated[float | None, typer.Option(
        "--max-rps", help="live: never more than this many requests per second")] = None,
    max_itpm: Annotated[float | None, typer.Option(
        "--max-itpm", help="live: never more than this many (uncached) input tokens per minute")] = None,
    max_otpm: Annotated[float | None, typer.Option(
        "--max-otpm", help="live: never more than this many output tokens per minute")] = None,
) -> None:
    """Refresh golden/recordings: run live against the API (default), or import authored answers."""
    from agenteval.card import load_card
    from agenteval.recording import import_authored, write_recordings
    from agenteval.scenario import load_scenarios

    cfg = _cfg(config)
    out_dir = out or str(cfg.resolve(cfg.recordings))
    card_path = cfg.card_path
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
    _set_budget(settings, max_rps, max_itpm, max_otpm)

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
    judge: Annotated[str | None, typer.Option(
        "--judge", help="also score with an LLM judge MODEL (judge.* checks; needs ANTHROPIC_API_KEY)")] = None,
    cache_dir: Annotated[str | None, typer.Option("--cache-dir", help="judge answer cache folder")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="do not use the judge answer cache")] = False,
) -> None:
    """Score responses produced elsewhere."""
    from agenteval.scoring_io import score_file

    cfg = _cfg(config)
    paths: list[str] = []
    for p in scenario_paths or [str(cfg.resolve(p)) for p in cfg.scenarios]:
        paths.extend(x for x in p.split(",") if x)
    n = score_file(responses, out, card_path=card or cfg.card_path, scenario_paths=paths,
                   fixtures_dir=cfg.fixtures_dir if not scenario_paths else None,
                   scoring=str(cfg.resolve(cfg.scoring)) if cfg.scoring else None, judge=judge,
                   cache_dir=cache_dir, use_cache=not no_cache)
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
    code = main_validate_scorers(labels, cfg.card_path, [str(cfg.resolve(p)) for p in cfg.scenarios],
                                 **kwargs)
    raise typer.Exit(code)


# --------------------------------------------------------------------------- analysis and CI


def _write_out(path: str | None, text: str) -> None:
    if path:
        from agenteval.store import atomic_write_text

        atomic_write_text(Path(path), text)


@app.command("report")
def report_cmd(
    run_dir: Annotated[str, typer.Argument(help="run directory")],
    html: Annotated[str | None, typer.Option("--html", help="write the HTML report here")] = None,
    md: Annotated[str | None, typer.Option("--md", help="write the markdown summary here")] = None,
    n_boot: Annotated[int, typer.Option("--n-boot", help="bootstrap draws for ECE/AUROC SEs")] = 2000,
) -> None:
    """Write a run's report: self-contained HTML (plots embedded) and markdown. Default: into the run dir."""
    from agenteval.report import REPORT_HTML, REPORT_MD, write_report

    if n_boot < 100:
        _fail("--n-boot must be at least 100")
    if html is None and md is None:
        html, md = str(Path(run_dir) / REPORT_HTML), str(Path(run_dir) / REPORT_MD)
    h, m = write_report(run_dir, html=html, md=md, n_boot=n_boot)
    for p in (h, m):
        if p is not None:
            print(p)


@app.command("compare")
def compare_cmd(
    run_a: Annotated[str, typer.Argument(help="baseline run directory (A)")],
    run_b: Annotated[str, typer.Argument(help="candidate run directory (B); Δ = B − A")],
    json_out: Annotated[str | None, typer.Option("--json", help="write the full comparison as JSON")] = None,
    md: Annotated[str | None, typer.Option("--md", help="write a markdown summary (PR comment)")] = None,
    n_boot: Annotated[int, typer.Option("--n-boot", help="paired cluster-bootstrap draws")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="bootstrap seed")] = 0,
    alpha: Annotated[float, typer.Option("--alpha", help="significance level (Holm)")] = 0.05,
    card_a: Annotated[str | None, typer.Option("--card-a", help="card file of A (if changed)")] = None,
    card_b: Annotated[str | None, typer.Option("--card-b", help="card file of B (if changed)")] = None,
    fail_on_regression: Annotated[bool, typer.Option("--fail-on-regression",
                                                     help="exit 1 when B regressed significantly")] = False,
) -> None:
    """Paired comparison of two runs: Δ per metric with clustered SE, McNemar, bootstrap, cell changes."""
    from agenteval.compare import compare_runs, render_markdown, render_text

    if n_boot < 100:
        _fail("--n-boot must be at least 100")
    if not 0 < alpha < 1:
        _fail("--alpha must be in (0, 1)")
    res = compare_runs(run_a, run_b, n_boot=n_boot, seed=seed, alpha=alpha, card_a=card_a, card_b=card_b)
    _write_out(json_out, res.model_dump_json(indent=2) + "\n")
    _write_out(md, render_markdown(res))
    print(render_text(res))
    if fail_on_regression and res.regressions:
        raise typer.Exit(1)


@app.command("power")
def power_cmd(
    from_run: Annotated[str, typer.Option("--from", help="run whose variances to use")],
    delta: Annotated[float, typer.Option("--delta", help="difference to detect (e.g. 0.05 = 5 points)")],
    alpha: Annotated[float, typer.Option("--alpha", help="two-sided significance level")] = 0.05,
    power: Annotated[float, typer.Option("--power", help="desired power")] = 0.8,
    corr: Annotated[float, typer.Option("--corr", help="assumed A/B correlation of scenario means")] = 0.0,
    metric: Annotated[list[str] | None, typer.Option("--metric", help="metric(s) (repeatable; default all)")]
    = None,
    json_out: Annotated[str | None, typer.Option("--json", help="write the results as JSON")] = None,
) -> None:
    """Scenarios × epochs needed to detect Δ (Miller 2024, paired design, the run's own variances)."""
    import json as _json

    from agenteval.compare import power_analysis, render_power
    from agenteval.plan import parse_list
    from agenteval.report import read_run

    res = power_analysis(read_run(from_run), delta, alpha=alpha, power=power, correlation=corr,
                         metrics=parse_list(metric))
    _write_out(json_out, _json.dumps([r.model_dump() for r in res], indent=2) + "\n")
    print(render_power(res))


@app.command("trend")
def trend_cmd(
    runs_dir: Annotated[str, typer.Argument(help="folder of run directories (e.g. results/)")],
    html: Annotated[str | None, typer.Option("--html", help="write the HTML page (CI bands)")] = None,
    md: Annotated[str | None, typer.Option("--md", help="write a markdown summary here")] = None,
    json_out: Annotated[str | None, typer.Option("--json", help="write series, tests, alerts")] = None,
    parquet: Annotated[str | None, typer.Option("--parquet", help="write the time series as parquet")] = None,
    window: Annotated[int, typer.Option("--window", help="reference window: runs before the two latest")] = 5,
    alpha: Annotated[float, typer.Option("--alpha", help="family-wise level per run (Holm)")] = 0.05,
    backend: Annotated[str | None, typer.Option("--backend", help="only runs of this backend")] = None,
    last: Annotated[int | None, typer.Option("--last", help="only the last N runs")] = None,
    fail_on_alert: Annotated[bool, typer.Option("--fail-on-alert", help="exit 1 on a drift alert")] = False,
) -> None:
    """Metrics across runs with CI bands, and drift tests of the latest runs against a reference window."""
    from agenteval.trend import render_html, render_markdown, render_text, trend, write_parquet

    if window < 1:
        _fail("--window must be at least 1")
    if not 0 < alpha < 1:
        _fail("--alpha must be in (0, 1)")
    res = trend(runs_dir, window=window, alpha=alpha, backend=backend, last=last)
    if parquet:
        write_parquet(res, parquet)
    _write_out(json_out, res.model_dump_json(indent=2) + "\n")
    _write_out(md, render_markdown(res))
    if html:
        _write_out(html, render_html(res))
    print(render_text(res))
    if fail_on_alert and res.alerts:
        raise typer.Exit(1)


@app.command("gate")
def gate_cmd(
    run_dir: Annotated[str, typer.Argument(help="run directory to gate")],
    config: Annotated[str, typer.Option("--config", help="gate configuration")] = "gates.yaml",
    baseline: Annotated[str | None, typer.Option("--baseline", help="baseline run (regression gate)")] = None,
    junit: Annotated[str | None, typer.Option("--junit", help="write JUnit XML (testcase per cell)")] = None,
    md: Annotated[str | None, typer.Option("--md", help="write a markdown summary (PR comment)")] = None,
    json_out: Annotated[str | None, typer.Option("--json", help="write the verdict as JSON")] = None,
    card: Annotated[str | None, typer.Option("--card", help="card the run must have used")] = None,
    list_metrics: Annotated[bool, typer.Option("--list-metrics", help="print metric names, exit")] = False,
) -> None:
    """Pass/fail a run for CI. Exit 0 pass, 1 fail, 2 bad config or input."""
    from agenteval import gate as g

    if list_metrics:
        from agenteval.report import read_run

        for name in g.known_metrics(read_run(run_dir).lines):
            print(name)
        return
    cfg = g.load_gate_config(config)
    res = g.run_gate(run_dir, cfg, baseline=baseline, card=card, config_path=config)
    if junit:
        _write_out(junit, g.junit_xml(res))
    _write_out(md, g.render_markdown(res))
    _write_out(json_out, res.model_dump_json(indent=2) + "\n")
    print(g.render_text(res))
    raise typer.Exit(0 if res.passed else 1)


@app.command("export")
def export_cmd(
    run_dir: Annotated[str, typer.Argument(help="run directory")],
    fmt: Annotated[str, typer.Option("--format", help="parquet | csv | hf (datasets.save_to_disk)")],
    out: Annotated[str, typer.Option("--out", help="output file (parquet, csv) or folder (hf)")],
    no_responses: Annotated[bool, typer.Option("--no-responses", help="leave out the response text")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace an existing output")] = False,
) -> None:
    """Export a run as a table: one row per item, checks flattened to columns."""
    from agenteval.export import FORMATS, export_run

    if fmt not in FORMATS:
        _fail(f"--format must be one of {', '.join(FORMATS)}, got '{fmt}'")
    print(export_run(run_dir, fmt, out, responses=not no_responses, overwrite=overwrite))


@app.command("merge")
def merge_cmd(
    run_dirs: Annotated[list[str], typer.Argument(help="shard run directories")],
    out: Annotated[str, typer.Option("--out", help="new run directory to create")],
    allow_partial: Annotated[bool, typer.Option("--allow-partial", help="merge with shards missing")] = False,
    no_report: Annotated[bool, typer.Option("--no-report", help="write no report.html/report.md")] = False,
) -> None:
    """Merge the shards of a run (agenteval run --shard i/n) into one run directory."""
    from agenteval.merge import merge_runs
    from agenteval.runner import redact_argv
    from agenteval.summary import render_summary

    argv = redact_argv(["agenteval", *sys.argv[1:]])
    rd = merge_runs(run_dirs, out, command=argv, allow_partial=allow_partial, report=not no_report)
    print(render_summary(rd.read_summary(), str(rd.path)))
    print(str(rd.path))


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
