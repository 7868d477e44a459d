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


def _is_click(exc: BaseException, name: str) -> bool:
    """Whether ``exc`` is click's exception class ``name`` (click or the copy typer vendors)."""
    return any(c.__name__ == name and "click" in c.__module__ for c in type(exc).__mro__)


def _suggest(word: str, candidates: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidates, or nothing."""
    from agenteval.errors import did_you_mean

    return did_you_mean(word, candidates)


def usage_message(exc: BaseException) -> str:
    """One line for a click usage error: what was wrong, where, and the nearest valid spelling."""
    import re

    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "agenteval"
    if _is_click(exc, "NoSuchOption"):
        opt = str(getattr(exc, "option_name", ""))
        names = [o for prm in (ctx.command.params if ctx is not None else []) for o in getattr(prm, "opts", [])
                 + getattr(prm, "secondary_opts", []) if o.startswith("-")]
        names += ["--help"]
        return f"{where}: no such option '{opt}'{_suggest(opt, names)}"
    msg = " ".join(str(getattr(exc, "message", "") or exc).split())
    m = re.match(r"No such command '([^']+)'", msg)
    if m and ctx is not None and hasattr(ctx.command, "list_commands"):
        commands = ctx.command.list_commands(ctx)
        hint = _suggest(m.group(1), commands) or f" (commands: {', '.join(commands)})"
        return f"{where}: no such command '{m.group(1)}'{hint}"
    param = getattr(exc, "param", None)
    choices = getattr(getattr(param, "type", None), "choices", None)
    if _is_click(exc, "BadParameter") and choices:
        bad = re.search(r"'([^']*)' is not", msg)
        hint = _suggest(bad.group(1), [str(c) for c in choices]) if bad else ""
        return f"{where}: {msg}{hint}"
    return f"{where}: {msg}"


def main(argv: list[str] | None = None) -> int:
    """Console entry point: runs the app, turning agenteval errors into one line and exit 2.

    Usage errors (unknown command, option or value, missing argument) are one line with the nearest
    valid spelling, exit 2, whatever click's flavour (typer vendors its own copy).
    """
    try:
        rv = app(args=argv, prog_name="agenteval", standalone_mode=False)
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
        if _is_click(exc, "Abort"):
            return 130
        if _is_click(exc, "NoArgsIsHelpError"):  # bare `agenteval` or a group without a command: its help
            ctx = getattr(exc, "ctx", None)
            print(ctx.get_help() if ctx is not None else str(exc))
            return 0
        if _is_click(exc, "UsageError"):
            print(f"agenteval: error: {usage_message(exc)}", file=sys.stderr)
            return 2
        if _is_click(exc, "ClickException"):
            print(f"agenteval: error: {' '.join(str(exc.format_message()).split())}", file=sys.stderr)  # type: ignore[attr-defined]
            return 2
        if os.environ.get("AGENTEVAL_DEBUG"):
            raise
        print(f"agenteval: internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
              "(set AGENTEVAL_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1
    return rv if isinstance(rv, int) else 0
