"""Benchmark 7 - budget utilisation against a budget-enforcing fake API (issue 15).

Run: ``python benchmarks/bench_budget.py [--quick] [--repeats 1] [--rps 40] [--no-inspect] [--venv PATH]``

The fake API (``agenteval.testing.fake_api`` in its budget-enforcing mode, in its own process) allows
``--rps`` requests per second (a token bucket of that many, refilled continuously; over it: 429 with
``retry-after`` and the ``anthropic-ratelimit-*`` headers, which every answer carries), 50 ms latency.
Two regimes: without faults, and with faults on admitted requests (5 % 429 with ``retry-after: 1``,
10 % 529, 5 % 500, 1 % garbage bodies). In each, ``agenteval run --backend anthropic --no-cache
--no-report --epochs 3 --concurrency 64`` (636 items of the default suite; ``max_tokens: 1024``), then the
same items through Inspect AI (``inspect eval``, ``--max-connections 64``; installed into its own venv as
in benchmark 2) when available (``--no-inspect`` skips it).

Printed per run, from the fake's own counters: requests admitted (passed the budget check), the request
phase (first request received to last answer sent), **budget utilisation = admitted / (phase x rps)**,
over-budget 429s as a share of all requests, the CLI's whole wall, and items lost (planned items not
``ok`` in ``scores.jsonl``; for Inspect, answers delivered vs items). Goals (issue 15): utilisation
>= 0.90 with faults, >= 0.95 without; over-budget 429s <= 1 %; nothing lost; never slower than Inspect.
``--quick``: 212 items (one epoch), no Inspect.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_TMP, agenteval_exe, cli_env, header, median
from _fakeserver import FakeServer

FAULTS = {"fault_429": 0.05, "fault_529": 0.10, "fault_500": 0.05, "fault_garbage": 0.01}


# --------------------------------------------------------------------------- the server process
def serve(port: int, rps: int, latency_ms: float, faults: bool, seed: int) -> int:
    """Run the budget-enforcing fake with ``/_bench/counters`` and ``/_bench/reset`` (prints its URL)."""
    from agenteval.testing.fake_api import FakeAnthropicAPI, FakeAPIConfig

    class BudgetFake(FakeAnthropicAPI):
        async def _dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes,
                            reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
            path = target.split("?", 1)[0].rstrip("/")
            if path == "/_bench/counters":
                await self._send_json(writer, 200, self.counters.snapshot())
                return True
            if path == "/_bench/reset":  # zero counters, empty the prompt cache, refill the buckets
                self.counters.reset()
                self.clear_prompt_cache()
                self._buckets.clear()
                self.log.clear()
                await self._send_json(writer, 200, {"ok": True})
                return True
            return await super()._dispatch(method, target, headers, body, reader, writer)

    cfg = FakeAPIConfig(latency_ms=latency_ms, rpm_limit=rps, ratelimit_period_s=1.0, retry_after_s=1.0,
                        seed=seed, **(FAULTS if faults else {}))
    fake = BudgetFake(cfg, host="127.0.0.1", port=port)
    fake.log = type(fake.log)(maxlen=1)
    return fake.serve_forever("listening on {url}")


class BudgetServer(FakeServer):
    """``with BudgetServer(rps=40, faults=True) as s: s.url``: the fake above in a subprocess (the process
    handling and the counters of :class:`_fakeserver.FakeServer`)."""

    def __init__(self, *, rps: int, latency_ms: float, faults: bool, seed: int = 1) -> None:
        super().__init__()
        self.args = ["--serve", "--rps", str(rps), "--latency-ms", str(latency_ms), "--seed", str(seed)]
        if faults:
            self.args.append("--faults")

    def command(self) -> list[str]:
        """This script in serve mode."""
        return [sys.executable, __file__, *self.args]


def _figures(c: dict[str, Any], rps: int, wall: float) -> dict[str, Any]:
    phase = max(1e-9, c["last_at"] - c["first_at"])
    return {"wall_s": wall, "phase_s": phase, "admitted": c["admitted"], "requests": c["messages"],
            "over_budget": c["over_budget"], "over_budget_share": c["over_budget"] / max(1, c["messages"]),
            "utilisation": c["admitted"] / (phase * rps), "answers": c["messages_ok"],
            "faults": sum(c["faults"].values())}


def run_agenteval(server: BudgetServer, config: Path, work: Path, rps: int, concurrency: int,
                  epochs: int) -> dict[str, Any]:
    server.reset()
    cmd = [*agenteval_exe(), "run", "--config", str(config), "--no-cache", "--no-report", "--epochs", str(epochs),
           "--concurrency", str(concurrency)]
    env = cli_env(ANTHROPIC_BASE_URL=server.url, ANTHROPIC_API_KEY="bench-key")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work, env=env, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 3):
        raise RuntimeError(f"agenteval run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    out = _figures(server.counters(), rps, wall)
    rd = Path(proc.stdout.strip().splitlines()[-1])
    scores = [json.loads(ln) for ln in (rd / "scores.jsonl").read_text().splitlines() if ln.strip()]
    plan = json.loads((rd / "plan.json").read_text())
    out.update(items=len(plan), ok=sum(s["status"] == "ok" for s in scores), exit=proc.returncode,
               lost=len(plan) - sum(s["status"] == "ok" for s in scores),
               progress=[ln for ln in proc.stderr.splitlines() if ln.startswith("run: ")][-2:])
    return out


def run_inspect(server: BudgetServer, exe: Path, task: Path, work: Path, model: str, rps: int, concurrency: int,
                items: int) -> dict[str, Any]:
    server.reset()
    cmd = [str(exe), "eval", task.name, "--model", f"anthropic/{model}", "--model-base-url", server.url,
           "-M", "streaming=false", "--max-tokens", "1024", "--max-connections", str(concurrency),
           "--log-dir", str(work / "inspect-logs"), "--display", "plain"]
    env = cli_env(ANTHROPIC_API_KEY="bench-key", AGENTEVAL_BENCH_PROMPTS=str(work / "prompts.jsonl"),
                  INSPECT_LOG_LEVEL="warning")
    env.pop("ANTHROPIC_BASE_URL", None)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work, env=env, check=False)
    wall = time.perf_counter() - t0
    out = _figures(server.counters(), rps, wall)
    out.update(items=items, exit=proc.returncode, lost=max(0, items - out["answers"]),
               tail=(proc.stderr or proc.stdout).strip().splitlines()[-3:])
    return out


def _line(label: str, r: dict[str, Any], rps: int) -> str:
    return (f"  {label:9s} utilisation {r['utilisation']:.3f}  phase {r['phase_s']:.2f} s (budget floor "
            f"{r['admitted'] / rps:.2f} s)  wall {r['wall_s']:.2f} s  admitted {r['admitted']}  requests "
            f"{r['requests']}  over-budget 429 {r['over_budget']} ({r['over_budget_share']:.2%})  faults "
            f"{r['faults']}  lost {r['lost']}/{r['items']}  exit {r['exit']}")


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--faults", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="212 items, no Inspect")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--rps", type=int, default=40)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--no-inspect", action="store_true", help="skip the Inspect AI comparison")
    ap.add_argument("--venv", type=Path, default=None, help="Inspect AI's venv (as benchmark 2)")
    args = ap.parse_args(argv)
    if args.serve:
        return serve(args.port, args.rps, args.latency_ms, args.faults, args.seed)

    from bench_inspect import DEFAULT_VENV, ensure_inspect, inspect_version, write_inputs

    header("Benchmark 7: budget utilisation against a budget-enforcing fake API")
    epochs = 1 if args.quick else 3
    exe: Path | None = None
    if not (args.quick or args.no_inspect):
        venv = args.venv or DEFAULT_VENV
        try:
            exe = ensure_inspect(venv)
            print(inspect_version(venv), "in", venv)
        except (OSError, subprocess.CalledProcessError, RuntimeError) as e:
            print(f"Inspect AI not available ({e}); agenteval only")
    BENCH_TMP.mkdir(parents=True, exist_ok=True)
    summary: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with tempfile.TemporaryDirectory(dir=BENCH_TMP) as tmp:
        work = Path(tmp)
        config, task, n, model, _ = write_inputs(work, epochs, args.concurrency)
        for faults in (False, True):
            name = "with faults" if faults else "no faults"
            print(f"\n-- {name}: budget {args.rps} requests/s, latency {args.latency_ms:g} ms, N = {n}, "
                  f"concurrency {args.concurrency}" + (f", faults {FAULTS}" if faults else ""), flush=True)
            runs: dict[str, list[dict[str, Any]]] = {"agenteval": [], "inspect": []}
            with BudgetServer(rps=args.rps, latency_ms=args.latency_ms, faults=faults) as server:
                for _ in range(args.repeats):
                    r = run_agenteval(server, config, work, args.rps, args.concurrency, epochs)
                    runs["agenteval"].append(r)
                    print(_line("agenteval", r, args.rps), flush=True)
                    print("            progress: " + " | ".join(r["progress"]), flush=True)
                    if exe is not None:
                        r = run_inspect(server, exe, task, work, model, args.rps, args.concurrency, n)
                        runs["inspect"].append(r)
                        print(_line("inspect", r, args.rps), flush=True)
                        if r["exit"] != 0 or r["lost"]:
                            print("            inspect said: " + " | ".join(r["tail"]), flush=True)
            summary[name] = runs
    print("\n== summary (medians)")
    for name, runs in summary.items():
        goal = 0.90 if name == "with faults" else 0.95
        for tool, rs in runs.items():
            if not rs:
                continue
            u = median(r["utilisation"] for r in rs)
            ob = median(r["over_budget_share"] for r in rs)
            lost = max(r["lost"] for r in rs)
            verdict = ("" if tool != "agenteval" else
                       f"  goal u >= {goal}: {'met' if u >= goal else 'NOT met'}; over-budget <= 1 %: "
                       f"{'met' if ob <= 0.01 else 'NOT met'}; nothing lost: {'met' if lost == 0 else 'NOT met'}")
            print(f"{name:11s} {tool:9s} utilisation {u:.3f}  over-budget {ob:.2%}  lost (max) {lost}  phase "
                  f"{median(r['phase_s'] for r in rs):.2f} s  wall {median(r['wall_s'] for r in rs):.2f} s{verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
