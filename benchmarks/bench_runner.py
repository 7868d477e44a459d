"""Benchmark 1 - runner overhead against the fake API at a fixed latency.

An eval harness is I/O bound: its physical limit is N x latency / concurrency. This measures how close the
real runner (``runner.execute`` with the live ``AnthropicBackend``, its journal and progress output, cache-
aware scheduling on, response cache off) gets to it, with the fake API in a separate process.

Run: ``python benchmarks/bench_runner.py [--quick] [--repeats 3] [--latency-ms 100] [--no-cli]
[--no-baselines] [--no-aiohttp]``

* In-process runs: N = 600 at concurrency 32, and N = 5,000 at concurrency 256, the default suite's plan
  cut to exactly N (its cells with enough epochs). The wall is measured from the first request (the SDK
  already imported and the clients built: ``AnthropicBackend.prepare()``) to the last result. Printed:
  wall, ideal, ratio (goals <= 1.10 and <= 1.15), the client's and the server's CPU per item, the
  client's peak RSS (memory flat?), the CPU other processes took meanwhile, and a CPU floor
  ``max(ideal, client CPU, (client + server CPU) / cores)`` (a lower bound: client and server share the
  cores, and a client near 100 % of a core also queues).
* The same runner with the SDK's aiohttp transport (``AGENTEVAL_HTTP_TRANSPORT=aiohttp``; run from a venv
  under ``$AGENTEVAL_BENCH_TMP`` that adds aiohttp, so the project's environment is untouched).
* Baselines on the same request bodies: the bare SDK (``AsyncAnthropic.messages.create`` under a
  semaphore, no agenteval) and a raw keep-alive HTTP/1.1 client on asyncio streams (no SDK): what the
  SDK's per-request cost is, and what the machine allows without it.
* The CLI: ``agenteval run --backend anthropic --no-cache --epochs 3 --concurrency 32`` (636 items), with
  its fixed start-up (process start to first request), request phase (first request to last result, from
  the journal's timestamps) and finish (scoring, summary and report) reported separately.

``--quick``: one repeat, N = 600 only, no aiohttp run, CLI once. Each figure is the median of
``--repeats`` runs (each in a fresh process, so peak RSS is per configuration).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH_TMP,
    ROOT,
    agenteval_exe,
    card_model,
    child_json,
    cli_env,
    default_suite,
    header,
    loadavg,
    median,
    plan_of,
    spread,
    system_busy_s,
)
from _fakeserver import FakeServer

GOALS = {(600, 32): 1.10, (5000, 256): 1.15}


# --------------------------------------------------------------------------- child: one measured run
def child(url: str, n: int, concurrency: int, latency_s: float) -> dict[str, Any]:
    """One in-process run of ``n`` items; returns the measurements (printed as JSON)."""
    from agenteval.results.store import RunDir
    from agenteval.run import runner

    os.environ["ANTHROPIC_BASE_URL"] = url
    os.environ.setdefault("ANTHROPIC_API_KEY", "bench-key")
    cfg, card, scenarios = default_suite()
    plan = plan_of(card, scenarios, n)
    settings = runner.RunSettings(backend="anthropic", model=card_model(card), concurrency=concurrency,
                                  use_cache=False, max_tokens=cfg.max_tokens, report=False)
    ctx = runner.RunContext(card, scenarios, plan, settings)
    backend = runner.make_backend(settings)  # the CLI's own construction (base URL and key from the env)
    backend.prepare()  # type: ignore[attr-defined]
    BENCH_TMP.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BENCH_TMP) as tmp:
        rd = RunDir.create(tmp, card.name)
        journal = rd.journal()
        progress = runner._Progress(len(plan), "run")
        last = [0.0]
        seen = [0]

        def on_record(rec: Any) -> None:
            journal.append(rec)
            progress.advance(rec)
            seen[0] += 1
            last[0] = time.perf_counter()

        async def main() -> float:
            t0 = time.perf_counter()
            await runner.execute(ctx, plan, backend, on_record, concurrency=concurrency)
            await backend.aclose()
            return t0

        b0 = system_busy_s()
        c0 = time.process_time()
        t0 = asyncio.run(main())
        cpu = time.process_time() - c0
        busy = system_busy_s() - b0
        progress.close()
        journal.close()
        lines = sum(1 for _ in (rd.path / "transcripts.jsonl").open())
    st = backend.stats()  # type: ignore[attr-defined]
    wall = last[0] - t0
    ideal = n * latency_s / concurrency
    return {"n": n, "concurrency": concurrency, "wall_s": wall, "ideal_s": ideal, "ratio": wall / ideal,
            "cpu_s": cpu, "system_busy_s": busy, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "ok": st.ok, "errors": st.errors, "journal_lines": lines, "records": seen[0],
            "max_inflight": st.max_inflight, "prompt_cache_writes": st.prompt_cache_writes}


def child_baseline(kind: str, url: str, n: int, concurrency: int, latency_s: float) -> dict[str, Any]:
    """The same ``n`` request bodies without agenteval: the bare SDK (``kind`` "sdk": one
    ``AsyncAnthropic``, ``messages.create`` under a semaphore) or a minimal keep-alive HTTP/1.1 client on
    asyncio streams ("raw": no SDK at all). They show how much of the runner's time is the SDK's."""
    import json as _json
    from urllib.parse import urlsplit

    cfg, card, scenarios = default_suite()
    from agenteval.run.runner import RunContext, RunSettings

    plan = plan_of(card, scenarios, n)
    ctx = RunContext(card, scenarios, plan, RunSettings(backend="anthropic", model=card_model(card),
                                                        max_tokens=cfg.max_tokens))
    bodies = [ctx.request(it).to_api() for it in plan]
    sem_n = concurrency
    last = [0.0]
    ok = [0]

    if kind == "sdk":
        import anthropic
        import httpx2

        async def main() -> float:
            client = anthropic.AsyncAnthropic(
                base_url=url, api_key="bench-key", max_retries=0,
                http_client=anthropic.DefaultAsyncHttpxClient(limits=httpx2.Limits(
                    max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4)))
            sem = asyncio.Semaphore(sem_n)

            async def one(body: dict[str, Any]) -> None:
                async with sem:
                    msg = await client.messages.create(**body)
                    ok[0] += bool(msg.content)
                    last[0] = time.perf_counter()

            t0 = time.perf_counter()
            await asyncio.gather(*(one(b) for b in bodies))
            await client.close()
            return t0
    else:
        u = urlsplit(url)

        async def main() -> float:
            pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
            sem = asyncio.Semaphore(sem_n)

            async def one(body: dict[str, Any]) -> None:
                async with sem:
                    r, w = pool.pop() if pool else await asyncio.open_connection(u.hostname, u.port)
                    data = _json.dumps(body).encode()
                    w.write(b"POST /v1/messages HTTP/1.1\r\nhost: %s\r\ncontent-type: application/json\r\n"
                            b"x-api-key: bench-key\r\nanthropic-version: 2023-06-01\r\ncontent-length: %d\r\n\r\n"
                            % (u.netloc.encode(), len(data)) + data)
                    head = await r.readuntil(b"\r\n\r\n")
                    size = next(int(h.split(b":")[1]) for h in head.split(b"\r\n")
                                if h.lower().startswith(b"content-length:"))
                    msg = _json.loads(await r.readexactly(size))
                    pool.append((r, w))
                    ok[0] += bool(msg.get("content"))
                    last[0] = time.perf_counter()

            t0 = time.perf_counter()
            await asyncio.gather(*(one(b) for b in bodies))
            for _, w in pool:
                w.close()
            return t0

    b0 = system_busy_s()
    c0 = time.process_time()
    t0 = asyncio.run(main())
    cpu = time.process_time() - c0
    busy = system_busy_s() - b0
    wall = last[0] - t0
    ideal = n * latency_s / concurrency
    return {"n": n, "concurrency": concurrency, "wall_s": wall, "ideal_s": ideal, "ratio": wall / ideal,
            "cpu_s": cpu, "system_busy_s": busy, "ok": ok[0], "journal_lines": ok[0],
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# --------------------------------------------------------------------------- parent
def aiohttp_python() -> str:
    """An interpreter that sees this environment plus aiohttp (a ``--system-site-packages`` venv under
    ``$AGENTEVAL_BENCH_TMP``, created on first use), so the SDK's aiohttp transport can be measured without
    installing anything into the project's environment."""
    venv = BENCH_TMP / "aiohttp-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        print(f"creating {venv} (aiohttp for the transport comparison; first run only) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "aiohttp"], check=True)
    return str(py)


def run_config(server: FakeServer, n: int, concurrency: int, latency_s: float, repeats: int,
               kind: str = "runner", python: str = sys.executable, transport: str = "httpx") -> list[dict[str, Any]]:
    """``repeats`` child runs of one configuration, each with the server's CPU for it."""
    out = []
    for _ in range(repeats):
        server.reset()
        s0 = server.cpu_seconds()
        proc = subprocess.run([python, __file__, "--child", kind, server.url, str(n), str(concurrency),
                               str(latency_s)], capture_output=True, text=True, cwd=ROOT, check=False,
                              env=cli_env(AGENTEVAL_HTTP_TRANSPORT=transport))
        if proc.returncode != 0:
            raise RuntimeError(f"child failed: {proc.stderr[-2000:]}")
        r = child_json(proc.stdout)
        r["server_cpu_s"] = server.cpu_seconds() - s0
        cores = os.cpu_count() or 1
        r["floor_s"] = max(r["ideal_s"], r["cpu_s"], (r["cpu_s"] + r["server_cpu_s"]) / cores)
        r["load"] = loadavg()
        # CPU the rest of the machine used meanwhile, in cores (the server's is measured separately)
        r["others_cores"] = max(0.0, r["system_busy_s"] - r["cpu_s"] - r["server_cpu_s"]) / r["wall_s"]
        out.append(r)
        label = kind if transport == "httpx" or kind == "raw" else f"{kind}+{transport}"
        print(f"  {label} N={n} C={concurrency}: wall {r['wall_s']:.3f} s, ideal {r['ideal_s']:.3f} s, "
              f"ratio {r['ratio']:.3f}; client CPU {r['cpu_s'] / n * 1000:.2f} ms/item, server CPU "
              f"{r['server_cpu_s'] / n * 1000:.2f} ms/item; CPU floor {r['floor_s']:.3f} s "
              f"(ratio {r['floor_s'] / r['ideal_s']:.2f}); peak RSS {r['rss_mb']:.0f} MB; "
              f"ok {r['ok']}/{n}; other processes used {r['others_cores']:.2f} of {cores} cores", flush=True)
        if r["ok"] != n or r["journal_lines"] != n:
            print(f"  WARNING: {r['ok']} ok, {r['journal_lines']} journal lines for {n} items")
    return out


def summarize(n: int, concurrency: int, runs: list[dict[str, Any]]) -> None:
    """Print the medians of one configuration against its goal."""
    goal = GOALS.get((n, concurrency))
    ratio = median(r["ratio"] for r in runs)
    verdict = "" if goal is None else (" -> OK" if ratio <= goal else " -> ABOVE GOAL")
    print(f"N={n} C={concurrency}: wall {spread([r['wall_s'] for r in runs], '{:.3f}')} s, ideal "
          f"{runs[0]['ideal_s']:.3f} s, ratio {spread([r['ratio'] for r in runs], '{:.3f}')} "
          f"(goal <= {goal}){verdict}")
    print(f"  client CPU {median(r['cpu_s'] / n * 1000 for r in runs):.2f} ms/item, server CPU "
          f"{median(r['server_cpu_s'] / n * 1000 for r in runs):.2f} ms/item, CPU floor ratio "
          f"{median(r['floor_s'] / r['ideal_s'] for r in runs):.2f}, peak RSS "
          f"{median(r['rss_mb'] for r in runs):.0f} MB; other processes used "
          f"{median(r['others_cores'] for r in runs):.2f} cores meanwhile", flush=True)


def _ts(s: str) -> float:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def run_cli(server: FakeServer, latency_s: float, epochs: int, concurrency: int) -> dict[str, Any]:
    """``agenteval run --backend anthropic`` end to end, split into start-up, requests and finish."""
    server.reset()
    BENCH_TMP.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BENCH_TMP) as out:
        cmd = [*agenteval_exe(), "run", "--backend", "anthropic", "--no-cache", "--epochs", str(epochs),
               "--concurrency", str(concurrency), "--output-dir", out]
        t_spawn = time.time()
        p0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False,
                              env=cli_env(ANTHROPIC_BASE_URL=server.url, ANTHROPIC_API_KEY="bench-key"))
        total = time.perf_counter() - p0
        t_exit = t_spawn + total
        if proc.returncode != 0:
            raise RuntimeError(f"agenteval run failed ({proc.returncode}): {proc.stderr[-2000:]}")
        rd = Path(proc.stdout.strip().splitlines()[-1])
        recs = [json.loads(ln) for ln in (rd / "transcripts.jsonl").read_text().splitlines() if ln.strip()]
    first = min(_ts(r["started_at"]) for r in recs)
    last = max(_ts(r["finished_at"]) for r in recs)
    n = len(recs)
    ideal = n * latency_s / concurrency
    return {"n": n, "total_s": total, "startup_s": first - t_spawn, "requests_s": last - first,
            "finish_s": t_exit - last, "ideal_s": ideal, "ok": sum(r["status"] == "ok" for r in recs)}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one repeat, N=600 only")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--no-cli", action="store_true", help="skip the end-to-end CLI run")
    ap.add_argument("--no-baselines", action="store_true", help="skip the bare-SDK and raw-HTTP baselines")
    ap.add_argument("--no-aiohttp", action="store_true",
                    help="skip the runner with the SDK's aiohttp transport (needs a venv with aiohttp)")
    ap.add_argument("--child", nargs=5, metavar=("KIND", "URL", "N", "C", "LATENCY_S"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        kind, url, n, c, lat = args.child
        if kind == "runner":
            print(json.dumps(child(url, int(n), int(c), float(lat))))
        else:
            print(json.dumps(child_baseline(kind, url, int(n), int(c), float(lat))))
        return 0
    repeats = 1 if args.quick else args.repeats
    configs = [(600, 32)] if args.quick else [(600, 32), (5000, 256)]
    latency_s = args.latency_ms / 1000
    header(f"Benchmark 1: runner overhead (fake API at {args.latency_ms:g} ms fixed latency, separate process)")
    with FakeServer(args.latency_ms) as server:
        results = {}
        baselines: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
        aio_py = None if args.quick or args.no_aiohttp else aiohttp_python()
        for n, c in configs:
            results[(n, c)] = run_config(server, n, c, latency_s, repeats)
            if aio_py is not None:
                baselines[("aiohttp", n, c)] = run_config(server, n, c, latency_s, repeats, "runner", aio_py,
                                                          "aiohttp")
            if not args.no_baselines:
                for kind in ("sdk", "raw"):
                    baselines[(kind, n, c)] = run_config(server, n, c, latency_s, repeats, kind)
        print()
        for (n, c), runs in results.items():
            summarize(n, c, runs)
            for kind, label in (("aiohttp", "runner, SDK's aiohttp transport"), ("sdk", "bare SDK, no agenteval"),
                                ("raw", "raw asyncio HTTP, no SDK")):
                b = baselines.get((kind, n, c))
                if b:
                    print(f"  baseline {label}: ratio {spread([r['ratio'] for r in b], '{:.3f}')}, client CPU "
                          f"{median(r['cpu_s'] / n * 1000 for r in b):.2f} ms/item, other processes "
                          f"{median(r['others_cores'] for r in b):.2f} cores")
        if len(results) > 1:
            small, big = results[configs[0]], results[configs[-1]]
            print(f"memory: peak RSS {median(r['rss_mb'] for r in small):.0f} MB at N={configs[0][0]} vs "
                  f"{median(r['rss_mb'] for r in big):.0f} MB at N={configs[-1][0]}")
        if not args.no_cli:
            print()
            cli_runs = [run_cli(server, latency_s, 3, 32) for _ in range(1 if args.quick else 2)]
            n = cli_runs[0]["n"]
            print(f"CLI `agenteval run --backend anthropic --no-cache --epochs 3 --concurrency 32` ({n} items, "
                  f"ideal {cli_runs[0]['ideal_s']:.3f} s):")
            print(f"  total {spread([r['total_s'] for r in cli_runs])} s = start-up "
                  f"{spread([r['startup_s'] for r in cli_runs])} s + requests "
                  f"{spread([r['requests_s'] for r in cli_runs], '{:.3f}')} s (ratio "
                  f"{median(r['requests_s'] / r['ideal_s'] for r in cli_runs):.3f}) + finish (score, summary, "
                  f"report) {spread([r['finish_s'] for r in cli_runs])} s; "
                  f"ok {cli_runs[0]['ok']}/{n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
