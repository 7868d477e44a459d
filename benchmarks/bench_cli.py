"""Benchmark 4 - CLI start: ``agenteval --help`` and ``agenteval validate`` wall time.

Run: ``python benchmarks/bench_cli.py [--quick] [--repeats 10]``

Each command runs ``--repeats`` times from the repository root through the ``agenteval`` console script
next to this interpreter (a pyenv shim in front of it adds its own ~0.1 s and is not measured), after one
untimed warm-up run (so the OS file cache is warm, as it is for anyone who just ran a command). Printed:
the median wall (min-max), the bare interpreter start (``python -c pass``) for reference, and the
modules each command imports that it should not need (the structural guarantee is tested by
``tests/test_imports.py``). Goal: ``--help`` <= 0.3 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, agenteval_exe, cli_env, header, median, spread

GOAL_HELP_S = 0.3
HEAVY = ("pandas", "matplotlib", "datasets", "scipy", "numpy", "anthropic", "httpx2", "jinja2", "rich")


def timed(cmd: list[str], repeats: int) -> list[float]:
    """Walls of ``repeats`` runs of ``cmd`` (after one warm-up run); raises if it fails."""
    env = cli_env()
    subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, check=True)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, check=True)
        out.append(time.perf_counter() - t0)
    return out


def heavy_imports(args: list[str]) -> list[str]:
    """Heavy top-level packages imported by ``agenteval ARGS`` (run in-process in a child interpreter)."""
    code = ("import json, sys\nfrom agenteval.cli import main\n"
            f"main({args!r})\n"
            f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=cli_env(), capture_output=True, text=True,
                       check=False)
    return json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else ["?"]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 repeats")
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args(argv)
    repeats = 3 if args.quick else args.repeats
    header("Benchmark 4: CLI start")
    exe = agenteval_exe()
    base = timed([sys.executable, "-c", "pass"], repeats)
    imp = timed([sys.executable, "-c", "import agenteval.cli"], repeats)
    helps = timed([*exe, "--help"], repeats)
    val = timed([*exe, "validate"], repeats)
    print(f"python -c pass (interpreter start):  {spread(base, '{:.3f}')} s")
    print(f"python -c 'import agenteval.cli':     {spread(imp, '{:.3f}')} s")
    verdict = "OK" if median(helps) <= GOAL_HELP_S else "ABOVE GOAL"
    print(f"agenteval --help:                     {spread(helps, '{:.3f}')} s (goal <= {GOAL_HELP_S} s) -> {verdict}")
    print(f"agenteval validate (28 scenarios):    {spread(val, '{:.3f}')} s")
    print(f"heavy modules imported by --help: {heavy_imports(['--help']) or 'none'}; "
          f"by validate: {heavy_imports(['validate']) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
