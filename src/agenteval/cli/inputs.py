"""Commands about inputs: ``validate``, ``schema``, ``lint-card``, ``prompt``, ``scenarios``."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from agenteval.cli._app import ConfigOpt, _cfg, _fail, _print_ref_notes, app
from agenteval.errors import did_you_mean


@app.command()
def validate(
    paths: Annotated[list[str] | None, typer.Argument(help="scenario files/folders and cards (default: config)")]
    = None,
    config: ConfigOpt = None,
    card: Annotated[str | None, typer.Option(help="card to check scenarios against")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="card lint warnings are errors")] = False,
) -> None:
    """Check scenario files and cards; print one line per problem (exit 2; every bad file is reported)."""
    from agenteval.errors import InputError
    from agenteval.inputs.card import load_card
    from agenteval.inputs.scenario import InputErrors, load_scenarios

    cfg = _cfg(config)
    card_paths = [p for p in (paths or []) if p.endswith(".md")]
    scen_paths = [p for p in (paths or []) if not p.endswith(".md")]
    if not paths:
        scen_paths = [str(cfg.resolve(p)) for p in cfg.scenarios]
    main_card = card or (card_paths[0] if card_paths else cfg.card_path)
    errors: list[InputError] = []
    c = None
    try:
        c = load_card(main_card, strict=strict)
    except InputError as exc:
        errors.append(exc)
    for cp in card_paths:
        if cp == main_card:
            continue
        try:
            load_card(cp, strict=strict)
        except InputError as exc:
            errors.append(exc)
    n = 0
    if scen_paths:
        fixtures = cfg.fixtures_dir if not paths else None
        try:
            scs = load_scenarios(scen_paths, c, fixtures_dir=fixtures)
            _print_ref_notes(scs)
            n = len(scs)
        except InputError as exc:
            errors.extend(exc.errors if isinstance(exc, InputErrors) else [exc])
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InputErrors(errors)
    assert c is not None
    if cfg.scoring and not paths:
        from agenteval.scorers import ScoringConfig

        ScoringConfig.from_yaml(cfg.resolve(cfg.scoring))
    for f in c.lint:
        print(f.format(), file=sys.stderr)
    print(f"ok: card {main_card} ({c.name} {c.version}, {len(c.rules)} rules); {n} scenario(s) valid")


@app.command()
def schema() -> None:
    """Print the scenario JSON Schema (for editor completion)."""
    from agenteval.inputs.scenario import scenario_json_schema

    print(json.dumps(scenario_json_schema(), indent=2))


@app.command("lint-card")
def lint_card_cmd(
    path: Annotated[str, typer.Argument(help="card file")],
    strict: Annotated[bool, typer.Option("--strict", help="report warnings as errors")] = False,
) -> None:
    """Print card findings as PATH:LINE: level: message. Exit 0 warnings only, 1 errors, 2 unreadable."""
    from agenteval.inputs.card import lint_card, read_text_file

    read_text_file(path, what="card")  # unreadable -> InputError -> exit 2
    findings = lint_card(path)
    for f in findings:
        if strict and f.level == "warning":
            f = f.model_copy(update={"level": "error"})
        print(f.format())
    ref_errors = _lint_project_refs(path) if not any(f.level == "error" for f in findings) else 0
    if any(f.level == "error" or strict for f in findings) or ref_errors:
        raise typer.Exit(1)


def _lint_project_refs(path: str) -> int:
    """For a card the project's scenarios were written for (same name as the config's card): print how
    each rule reference resolves against it when not positional; return the number of errors."""
    from pathlib import Path

    from agenteval.errors import InputError
    from agenteval.inputs.card import load_card
    from agenteval.inputs.scenario import load_scenarios

    if not Path("agenteval.yaml").is_file():
        return 0
    try:
        cfg = _cfg(None)
        card = load_card(path)
        if load_card(cfg.card_path).name != card.name:
            return 0
        scs = load_scenarios([str(cfg.resolve(p)) for p in cfg.scenarios], card, fixtures_dir=cfg.fixtures_dir)
    except InputError as exc:
        lines = exc.lines() if hasattr(exc, "lines") else [exc.one_line()]
        for ln in lines:
            print(f"{ln}".replace(": ", ": error: ", 1) if ": " in ln else ln)
        return len(lines)
    for s in scs:
        for n in s.ref_notes:
            print(n.format())
    return 0


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
    from agenteval.inputs.card import load_card
    from agenteval.inputs.scenario import load_scenarios
    from agenteval.plan.prompt import build_request

    cfg = _cfg(config)
    c = load_card(card or cfg.card_path, strict=cfg.strict_card)
    scs = {s.id: s for s in load_scenarios([str(cfg.resolve(p)) for p in cfg.scenarios], c,
                                           fixtures_dir=cfg.fixtures_dir)}
    if scenario not in scs:
        _fail(f"--scenario: unknown scenario id '{scenario}'")
    if mode not in c.cognitive_modes:
        _fail(f"--mode: unknown mode '{mode}'{did_you_mean(mode, c.modes)} (card modes: {', '.join(c.modes)})")
    if role not in c.ensemble_roles:
        _fail(f"--role: unknown role '{role}'{did_you_mean(role, c.roles)} (card roles: {', '.join(c.roles)})")
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
    snapshot: Annotated[bool, typer.Option(
        "--snapshot", help="record the card's rule texts in card-snapshot.json beside the scenarios (run after "
        "the scenarios' references are checked against the card; later card versions resolve by these texts)")]
    = False,
) -> None:
    """List scenarios, or with --coverage the rule/trigger/mode/role → scenario table."""
    from pathlib import Path

    from agenteval.inputs.card import load_card
    from agenteval.inputs.coverage import coverage_table, render_coverage
    from agenteval.inputs.rulerefs import write_snapshot
    from agenteval.inputs.scenario import load_scenarios

    cfg = _cfg(config)
    c = load_card(cfg.card_path, strict=cfg.strict_card)
    if snapshot:
        first = Path(cfg.resolve(cfg.scenarios[0]))
        print(f"wrote {write_snapshot(c, first if first.is_dir() else first.parent)}")
        return
    scs = load_scenarios([str(cfg.resolve(p)) for p in cfg.scenarios], c, fixtures_dir=cfg.fixtures_dir)
    _print_ref_notes(scs)
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
def init(
    directory: Annotated[str, typer.Argument(help="project folder to create (default: here)")] = ".",
    card: Annotated[str, typer.Option("--card", help="the agent card to evaluate")] = "",
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing agenteval.yaml / scenarios")]
    = False,
    minimum: Annotated[int, typer.Option("--min", help="scenarios per coverage cell")] = 2,
) -> None:
    """Scaffold a project for any card: agenteval.yaml, a copy of the card, generated starter scenarios."""
    from agenteval.inputs.scaffold import init_project

    if not card:
        _fail("--card is required: the card file to evaluate")
    res = init_project(card, directory, force=force, minimum=minimum)
    for f in res["lint"]:
        print(f.format(), file=sys.stderr)
    print(f"wrote {res['config']}, {res['card']} and {len(res['scenarios'])} generated scenario(s) in "
          f"{directory}/scenarios (generated: edit them)")
    print(f"next: cd {directory} && agenteval scenarios --coverage && agenteval run --backend anthropic")
