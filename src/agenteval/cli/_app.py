"""The ``agenteval`` typer app and the helpers every command module shares.

Exit codes: 0 success, 1 a check failed (lint errors, coverage gaps, gate failed), 2 bad input or
usage (one line on stderr naming file and field, never a traceback), 3 a run finished with errored
items, 130 interrupted. Heavy libraries are imported inside the commands that need them so that
``agenteval --help`` starts fast.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, NoReturn

import typer

app = typer.Typer(
    name="agenteval",
    help=(
        "Benchmark how an LLM agent defined by a persona card behaves: envelope compliance, "
        "Never-rule violations, escalation calibration.\n\n"
        "The default backend is replay: recorded answers from golden/recordings, no API key, no network; "
        "Never-rule verdicts replay the LLM judge's recorded verdicts (golden/judgements). "
        "Use --backend anthropic for live calls, --backend agent for the Claude Code runtime, "
        "--judge MODEL for a live judge."
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
    from agenteval.inputs.config import load_config

    return load_config(config)


ConfigOpt = Annotated[str | None, typer.Option("--config", help="project config (default ./agenteval.yaml)")]


JudgeOpt = Annotated[str | None, typer.Option(
    "--judge", help="Never-rule judge: 'replay' (recorded verdicts, no key) or a MODEL (live); default from config")]
JudgementsOpt = Annotated[str | None, typer.Option(
    "--judgements", help="recorded judge verdicts folder for --judge replay (default from config)")]
NoJudgeOpt = Annotated[bool, typer.Option("--no-judge", help="screen only: ignore the config's judge")]


def judge_settings(cfg: Any, judge: str | None, judgements: str | None, no_judge: bool = False, *,
                   cache_dir: str | None = None, use_cache: bool = True, concurrency: int = 8) -> Any:
    """The judge settings the options and config ask for (None: no judge). A live judge is checked up front
    (key and model known) so a missing key is one line and exit 2 before any work."""
    from agenteval.run.judging import REPLAY, JudgeSettings, check_live_judge

    name = None if no_judge else (judge or cfg.judge)
    if not name or name.lower() in ("none", "off"):
        return None
    if name != REPLAY:
        name = check_live_judge(name)
    return JudgeSettings(name, judgements=str(cfg.resolve(judgements or cfg.judgements)),
                         policy=str(cfg.resolve(cfg.never_policy)) if cfg.never_policy else None,
                         cache_dir=cache_dir, use_cache=use_cache, concurrency=concurrency)


def _print_ref_notes(scenarios: Any) -> None:
    """Print, on stderr, how rule references resolved when not the plain positional match."""
    for s in scenarios:
        for n in getattr(s, "ref_notes", []):
            print(n.format(), file=sys.stderr)


def _show_version(value: bool) -> None:
    if value:
        from agenteval._version import __version__

        print(f"agenteval {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_show_version, help="print the version and exit")] = False,
) -> None:
    """Benchmark how an LLM agent defined by a persona card behaves."""


def scenario_paths(cfg: Any, given: list[str] | None) -> tuple[list[str], Any]:
    """Scenario files/folders from ``--scenarios`` (repeatable or comma-separated), else the config's, with the
    fixtures folder to check them against (the config's, when the config's scenarios are used)."""
    paths: list[str] = []
    for p in given or [str(cfg.resolve(p)) for p in cfg.scenarios]:
        paths.extend(x for x in p.split(",") if x)
    return paths, (cfg.fixtures_dir if not given else None)
