"""pytest plugin: each scenario × mode × role cell of a run becomes a test item.

    pytest --agenteval-run results/<run_id> -m agenteval
    pytest --agenteval-start "--scenarios s1,s2 --epochs 2" -m agenteval   # runs `agenteval run` first

A cell passes when at least ``--agenteval-k`` of its epochs (default: all) pass every applicable
compliance check (graded checks — task elements, rule coverage — only with ``--agenteval-graded``);
the failure message lists the failed checks with their reasons, epoch by epoch. Stale answers
(recorded for another card or scenario text) and errored items fail their cell unless
``--agenteval-allow-stale`` / ``--agenteval-allow-errors``; skipped items are reported as skipped.

The plugin is registered through the ``pytest11`` entry point, so it is loaded by every pytest
session in an environment where agenteval is installed. It therefore imports nothing but pytest at
module level and does nothing at all unless ``--agenteval-run`` or ``--agenteval-start`` is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

_RUN_KEY = pytest.StashKey[Path]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The plugin's command-line options (registering them is all it does when unused)."""
    group = parser.getgroup("agenteval", "agenteval run results as tests")
    group.addoption(
        "--agenteval-run",
        action="store",
        default=None,
        metavar="RUN_DIR",
        help="turn each scenario × mode × role cell of this agenteval run into a test item",
    )
    group.addoption(
        "--agenteval-start",
        action="store",
        default=None,
        metavar="ARGS",
        help="run `agenteval run ARGS` first (quoted, shell-split) and test the run it writes",
    )
    group.addoption(
        "--agenteval-k",
        action="store",
        type=int,
        default=None,
        metavar="K",
        help="a cell passes when at least K epochs pass (default: all)",
    )
    group.addoption(
        "--agenteval-graded",
        action="store_true",
        default=False,
        help="also fail on graded checks (task.* elements, rule coverage such as always.1)",
    )
    group.addoption(
        "--agenteval-allow-stale",
        action="store_true",
        default=False,
        help="evaluate stale replay answers instead of failing their cells",
    )
    group.addoption(
        "--agenteval-allow-errors",
        action="store_true",
        default=False,
        help="ignore errored items instead of failing their cells",
    )


def _active(config: pytest.Config) -> bool:
    return bool(config.getoption("--agenteval-run", None) or config.getoption("--agenteval-start", None))


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``agenteval`` marker (only when the plugin is active)."""
    if _active(config):
        config.addinivalue_line("markers", "agenteval: a scenario × mode × role cell of an agenteval run")


def _start_run(args: str, rootdir: Path) -> Path:
    import shlex
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "agenteval.cli", "run", *shlex.split(args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=rootdir, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if proc.returncode not in (0, 3) or not lines:
        raise pytest.UsageError(
            f"agenteval run failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()[-2000:]}"
        )
    path = Path(lines[-1].strip())
    return path if path.is_absolute() else rootdir / path


def _run_dir(config: pytest.Config) -> Path | None:
    cached = config.stash.get(_RUN_KEY, None)
    if cached is not None:
        return cached
    given = config.getoption("--agenteval-run", None)
    start = config.getoption("--agenteval-start", None)
    if given:
        path = Path(given)
    elif start:
        path = _start_run(start, Path(str(config.rootpath)))
    else:
        return None
    config.stash[_RUN_KEY] = path
    return path


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Append one item per cell of the run (nothing happens without the plugin's options).

    Runs first, so that ``-m``/``-k`` selection applies to the cells too; the run directory is
    collected through the regular collect-report hooks, so a bad run directory is a collection error.
    """
    if not _active(config):
        return
    path = _run_dir(config)
    if path is None:  # pragma: no cover - _active guarantees an option
        return
    collector = AgentevalRun.from_parent(
        session, path=path.resolve(), name=f"agenteval:{path.name}", nodeid=f"agenteval:{path.name}"
    )
    ihook = collector.ihook
    ihook.pytest_collectstart(collector=collector)
    rep = ihook.pytest_make_collect_report(collector=collector)
    ihook.pytest_collectreport(report=rep)
    if rep.passed:
        items.extend(x for x in rep.result if isinstance(x, pytest.Item))


class AgentevalRun(pytest.Collector):
    """The run directory, as a collector of cell items."""

    def __init__(self, *, path: Path, **kw: Any) -> None:
        super().__init__(**kw)
        self.run_path = path

    def collect(self) -> list[pytest.Item]:
        """One :class:`AgentevalCell` per scenario × mode × role, in plan order."""
        from agenteval.results.rundata import read_run

        run = read_run(self.run_path)
        cells: dict[tuple[str, str, str], list[Any]] = {}
        for s in run.lines:
            cells.setdefault((s.scenario_id, s.mode, s.role), []).append(s)
        out: list[pytest.Item] = []
        for (sc, mode, role), lines in cells.items():
            item = AgentevalCell.from_parent(self, name=f"{sc}/{mode}/{role}", lines=lines)
            item.add_marker("agenteval")
            out.append(item)
        return out

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str:  # type: ignore[override]
        """A bad run directory is reported in one line, without a traceback."""
        from agenteval.errors import AgentEvalError

        if isinstance(excinfo.value, AgentEvalError):
            return f"--agenteval-run: {excinfo.value}"
        return str(super().repr_failure(excinfo))


class CellFailure(Exception):
    """A cell failed; the message lists the failed checks with their reasons."""


class AgentevalCell(pytest.Item):
    """One scenario × mode × role cell across its epochs."""

    def __init__(self, *, lines: list[Any], **kw: Any) -> None:
        super().__init__(**kw)
        self.lines = sorted(lines, key=lambda s: s.epoch)

    def runtest(self) -> None:
        """Pass when enough epochs pass every applicable compliance check (the shared k-of-n verdict)."""
        from agenteval.analysis.verdict import cell_verdict

        cfg = self.config
        k = cfg.getoption("--agenteval-k")
        v = cell_verdict(
            self.lines,
            required=lambda scored: scored if k is None else min(k, scored),
            stale="score" if cfg.getoption("--agenteval-allow-stale") else "block",
            allow_errors=bool(cfg.getoption("--agenteval-allow-errors")),
            allow_skipped=True,  # a skipped epoch is reported as skipped, not failed
            graded=bool(cfg.getoption("--agenteval-graded")),
        )
        if v.outcome == "skipped":
            skipped = sum(1 for s in self.lines if s.status == "skipped")
            pytest.skip(f"no scored epoch ({skipped} skipped)")
        if v.outcome == "failed":
            msgs = [f for f in v.failures if f != v.headline]
            raise CellFailure("\n".join([f"{self.name}: {v.headline}", *msgs]))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """The failed checks, without a Python traceback."""
        if isinstance(excinfo.value, CellFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the cell comes from: the run's scores.jsonl."""
        return self.path, None, f"agenteval cell {self.name}"
