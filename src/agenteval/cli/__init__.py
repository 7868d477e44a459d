"""The ``agenteval`` command line: one module per command group, registered on one typer app.

Exit codes: 0 success, 1 a check failed (lint errors, coverage gaps, gate failed), 2 bad input or
usage (one line on stderr naming file and field, never a traceback), 3 a run finished with errored
items, 130 interrupted. Heavy libraries are imported inside the commands that need them so that
``agenteval --help`` starts fast.
"""

from __future__ import annotations

import os
import sys

import typer

from agenteval.cli import inputs as _inputs  # noqa: F401  (registers commands)
from agenteval.cli import judging as _judging  # noqa: F401
from agenteval.cli import running as _running  # noqa: F401
from agenteval.cli import scoring as _scoring  # noqa: F401
from agenteval.cli import views as _views  # noqa: F401
from agenteval.cli._app import app
from agenteval.errors import AgentEvalError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    """Console entry point: runs the app, turning agenteval errors into one line and exit 2."""
    try:
        rv = app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except AgentEvalError as exc:
        lines = exc.lines() if hasattr(exc, "lines") else [str(exc)]  # several problems reported together
        for line in lines:
            print(f"agenteval: error: {line}", file=sys.stderr)
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
