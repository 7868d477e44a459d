"""Benchmark 7 - the agent backend: the Claude Code runtime's own overhead per item, and memory per item.

Run: ``python benchmarks/bench_agent.py [--items 6] [--concurrency 1,2,4] [--latency-ms 0]``
(needs ``pip install -e '.[agent]'``)

Each item is the real runtime (the CLI bundled in claude-agent-sdk, under bubblewrap when installed) in a
fresh copy of a two-file workspace, answering a two-turn script from the project's fake API (no latency):
turn 1 reads a file, turn 2 answers. With ``--latency-ms 0`` the model costs nothing, so the wall time of an
item is the runtime's own overhead (start, tool execution, the two requests, workspace copy, snapshot and
cleanup); with a model latency it shows how many items in flight the machine keeps busy while they wait.

Printed per concurrency: items per second, the median and max item wall time, and the peak resident memory
of all the runtime processes (sampled every 50 ms from /proc) divided by the items in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import header, median

SCENARIO = """\
id: bench-agent
title: bench
tool_mode: audit
modes: [critical]
roles: [solo]
prompt: Review train.py in your working directory.
workspace: pipe
expect:
  should_escalate: false
"""


def _runtime_rss_kb(cli: str) -> tuple[int, int]:
    """(summed VmRSS in kB, count) of processes running the bundled CLI."""
    total = n = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{pid}/exe") != cli:
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    n += 1
        except OSError:
            continue
    return total, n


def bench(concurrency: int, items: int, tmp: Path, latency_ms: float = 0.0) -> dict[str, Any]:
    from agenteval.backends.agent import AgentBackend
    from agenteval.inputs.card import load_card
    from agenteval.inputs.scenario import load_scenario
    from agenteval.plan.matrix import PlanItem
    from agenteval.plan.prompt import build_request
    from agenteval.testing.agent_script import AgentScript, text, tool_use
    from agenteval.testing.fake_api import FakeAnthropicAPI, FakeAPIConfig

    root = Path(__file__).resolve().parent.parent
    card = load_card(root / "cards" / "mlops-engineer.md")
    fx = tmp / "fixtures"
    (fx / "pipe").mkdir(parents=True, exist_ok=True)
    (fx / "pipe" / "train.py").write_text("scaler.fit(X)\n" * 50)
    (fx / "pipe" / "deploy.yaml").write_text("replicas: 1\n")
    (tmp / "s.yaml").write_text(SCENARIO)
    sc = load_scenario(tmp / "s.yaml", fixtures_dir=fx)
    script = AgentScript([[tool_use("Read", file_path="{cwd}/train.py")], [text("train.py read.")]])
    with FakeAnthropicAPI(FakeAPIConfig(latency_ms=latency_ms)) as fake:
        fake.script_agent(script)
        backend = AgentBackend("claude-sonnet-4-5", base_url=fake.base_url, api_key="sk-bench-not-a-key-0000")
        backend.bind(card, {sc.id: sc})
        req = build_request(card, sc, "critical", "solo", model="claude-sonnet-4-5")
        cli = str(Path(backend.cli).resolve())
        peak = [0, 0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                kb, n = _runtime_rss_kb(cli)
                if kb > peak[0]:
                    peak[:] = [kb, n]
                time.sleep(0.05)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        times: list[float] = []
        statuses: list[str] = []

        async def main() -> None:
            sem = asyncio.Semaphore(concurrency)

            async def one(i: int) -> None:
                async with sem:
                    t0 = time.perf_counter()
                    res = await backend.generate(req, PlanItem(scenario_id=sc.id, mode="critical", role="solo",
                                                               epoch=i + 1, tool_mode="audit"))
                    times.append(time.perf_counter() - t0)
                    statuses.append(res.status)

            await asyncio.gather(*(one(i) for i in range(items)))

        t0 = time.perf_counter()
        asyncio.run(main())
        wall = time.perf_counter() - t0
        stop.set()
        th.join()
    in_flight = min(concurrency, items)
    return {"concurrency": concurrency, "items": items, "ok": statuses.count("ok"), "wall_s": wall,
            "items_per_s": items / wall, "median_item_s": median(times), "max_item_s": max(times),
            "peak_rss_mb": peak[0] / 1024, "rss_per_item_mb": peak[0] / 1024 / in_flight,
            "confinement": backend.confine}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--items", type=int, default=6)
    p.add_argument("--concurrency", default="1,2,4")
    p.add_argument("--latency-ms", type=float, default=0.0, help="the fake model's time per turn")
    ns = p.parse_args()
    header(f"7. Agent backend: runtime overhead and memory per item (model turn {ns.latency_ms:g} ms)")
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as d:
        for c in [int(x) for x in ns.concurrency.split(",")]:
            r = bench(c, ns.items, Path(d) / f"c{c}", ns.latency_ms)
            print(f"concurrency {r['concurrency']}: {r['ok']}/{r['items']} ok, {r['items_per_s']:.2f} items/s, "
                  f"item median {r['median_item_s']:.2f} s (max {r['max_item_s']:.2f}), peak RSS "
                  f"{r['peak_rss_mb']:.0f} MB = {r['rss_per_item_mb']:.0f} MB per item in flight "
                  f"[{r['confinement']}]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
