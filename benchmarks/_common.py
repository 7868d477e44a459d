"""Shared helpers of the benchmarks: the machine, medians, the default suite as a plan of N items."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_TMP = Path(os.environ.get("AGENTEVAL_BENCH_TMP", "/tmp/agenteval-bench"))


def cpu_model() -> str:
    """The CPU model name (from /proc/cpuinfo), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> str:
    """The 1/5/15-minute load averages (other work on the machine skews wall times)."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def system_busy_s() -> float:
    """CPU-seconds the whole machine has spent busy since boot (all cores, from /proc/stat; 0 if absent).

    The difference over a run, minus the benchmark's own processes, is what other work on the machine
    took from it.
    """
    try:
        f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    return (sum(f[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def machine_line() -> str:
    """One line describing the machine and its current load."""
    return (f"machine: {os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}, "
            f"load average {loadavg()}")


def header(title: str) -> None:
    """Print a benchmark's title and the machine line."""
    print(f"== {title}")
    print(machine_line(), flush=True)


def median(xs: Iterable[float]) -> float:
    """The median (NaN for no values)."""
    v = list(xs)
    return statistics.median(v) if v else float("nan")


def spread(xs: Sequence[float], fmt: str = "{:.2f}") -> str:
    """``median (min-max, n=K)``."""
    if not xs:
        return "n/a"
    return f"{fmt.format(median(xs))} ({fmt.format(min(xs))}-{fmt.format(max(xs))}, n={len(xs)})"


def default_suite() -> tuple[Any, Any, list[Any]]:
    """(config, card, scenarios) of the repository's default suite (``agenteval.yaml``)."""
    from agenteval.inputs.config import load_config
    from agenteval.run.runner import _load_inputs

    cfg = load_config(ROOT / "agenteval.yaml")
    card, scenarios = _load_inputs(str(cfg.resolve(cfg.card)), [str(cfg.resolve(p)) for p in cfg.scenarios],
                                   str(cfg.fixtures_dir), False)
    return cfg, card, scenarios


def plan_of(card: Any, scenarios: Sequence[Any], n: int | None = None, *, epochs: int | None = None) -> list[Any]:
    """The default matrix with enough epochs for ``n`` items, cut to exactly ``n`` (or all of ``epochs``)."""
    from agenteval.plan.matrix import build_plan

    cells = len(build_plan(card, scenarios))
    if epochs is None:
        epochs = max(1, math.ceil((n or cells) / cells))
    plan = build_plan(card, scenarios, epochs=epochs)
    return plan if n is None else plan[:n]


def card_model(card: Any) -> str:
    """The model id the card's alias resolves to (what ``agenteval run --backend anthropic`` sends)."""
    from agenteval.backends.pricing import resolve_model

    return resolve_model(card.model)


def child_json(stdout: str) -> dict[str, Any]:
    """The last line of a child process's stdout, as JSON."""
    lines = [ln for ln in stdout.strip().splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"child printed no result: {stdout[-500:]!r}")
    return json.loads(lines[-1])


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a child ``agenteval`` process (no colour, no pager, plain progress)."""
    env = dict(os.environ)
    env.update({"NO_COLOR": "1", "TERM": "dumb", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def agenteval_exe() -> list[str]:
    """The ``agenteval`` console script next to this interpreter (not a pyenv shim), else ``-m``."""
    exe = Path(sys.executable).parent / "agenteval"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "agenteval.cli"]
