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
    from agenteval.inputs.config import load_config

    return load_config(config)


ConfigOpt = Annotated[str | None, typer.Option("--config", help="project config (default ./agenteval.yaml)")]


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
