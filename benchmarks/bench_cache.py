"""Benchmark 6 - prompt-cache efficiency of a full matrix: cache writes per unique prefix, and dollars.

Run: ``python benchmarks/bench_cache.py [--quick] [--repeats 3] [--latency-ms 100] [--concurrency 32]``

The full default matrix (every scenario x mode x role of the repository's suite, 1 epoch) is answered by
the live ``AnthropicBackend`` against the fake API (a separate process, ``--latency-ms`` per answer, the
response starting after 30 % of it), three ways:

* **live, cache-aware** (the default): the first request of a prefix primes the cache alone, streamed; the
  others wait for its ``message_start``;
* **naive fan-out** (``cache_aware=False``): every request goes as soon as a slot is free;
* **batch** (``run_batch``: Message Batches; the fake processes a batch in order, so its cache is warm after
  the first request - the real API's batch caching is best-effort).

Printed for each: the fake API's own accounting of cache writes and reads (and per unique system prefix:
goal 1.0 write per prefix for live cache-aware at concurrency 32), tokens written/read, and the dollars
(``data/pricing.yaml``; batch at the batch discount) against the same answers without caching (the
backend's ``cost_usd + cache_saving_usd``). ``--quick``: one repeat.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import card_model, default_suite, header, median, plan_of
from _fakeserver import FakeServer


async def _answer(mode: str, url: str, pairs: list[tuple[Any, Any]], concurrency: int) -> Any:
    from agenteval.backends.anthropic import AnthropicBackend
    from agenteval.run.runner import execute

    backend = AnthropicBackend(pairs[0][1].model, base_url=url, api_key="bench-key", concurrency=concurrency,
                               use_cache=False, cache_aware=(mode != "naive"))
    done: list[Any] = []
    try:
        if mode == "batch":
            await backend.run_batch(pairs, lambda item, res: done.append(res), poll_interval_s=0.5)
        else:
            class _Ctx:  # execute() only asks the context for each item's request
                def __init__(self) -> None:
                    self.by_id = {it.id: req for it, req in pairs}

                def request(self, item: Any) -> Any:
                    return self.by_id[item.id]

                def prompt_hash(self, item: Any) -> str:
                    return self.by_id[item.id].prompt_hash()

            await execute(_Ctx(), [it for it, _ in pairs], backend, lambda rec: done.append(rec),  # type: ignore[arg-type]
                          concurrency=concurrency)
    finally:
        await backend.aclose()
    ok = sum(getattr(r, "status", None) == "ok" for r in done)
    return backend.stats(), ok


def one(server: FakeServer, mode: str, pairs: list[tuple[Any, Any]], concurrency: int) -> dict[str, Any]:
    """Answer the matrix one way; the fake's counters and the backend's dollars."""
    server.reset()
    stats, ok = asyncio.run(_answer(mode, server.url, pairs, concurrency))
    c = server.counters()
    prefixes = set(c["cache_writes_by_prefix"]) | set(c["cache_reads_by_prefix"])
    return {"mode": mode, "ok": ok, "writes": c["cache_writes"], "reads": c["cache_reads"],
            "write_tokens": c["cache_creation_tokens"], "read_tokens": c["cache_read_tokens"],
            "prefixes": len(prefixes), "per_prefix": c["cache_writes"] / max(1, len(prefixes)),
            "usd": stats.cost_usd, "usd_no_cache": stats.cost_usd + stats.cache_saving_usd,
            "backend_writes": stats.prompt_cache_writes, "backend_reads": stats.prompt_cache_reads}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args(argv)
    from agenteval.run.runner import RunContext, RunSettings

    cfg, card, scenarios = default_suite()
    plan = plan_of(card, scenarios, epochs=1)
    ctx = RunContext(card, scenarios, plan, RunSettings(backend="anthropic", model=card_model(card),
                                                        max_tokens=cfg.max_tokens))
    pairs = [(it, ctx.request(it)) for it in plan]
    header(f"Benchmark 6: prompt-cache efficiency (full default matrix: {len(pairs)} requests, concurrency "
           f"{args.concurrency}, fake API {args.latency_ms:g} ms)")
    repeats = 1 if args.quick else args.repeats
    results: dict[str, list[dict[str, Any]]] = {}
    with FakeServer(args.latency_ms, batch_duration=0.5) as server:
        for mode in ("live", "naive", "batch"):
            results[mode] = [one(server, mode, pairs, args.concurrency) for _ in range(repeats)]
    labels = {"live": "live, cache-aware", "naive": "naive fan-out", "batch": "batch"}
    print(f"{'':20s} {'writes':>7s} {'reads':>7s} {'prefixes':>8s} {'writes/prefix':>13s} "
          f"{'tokens written':>14s} {'tokens read':>12s} {'$':>9s} {'$ no cache':>10s} {'saved':>7s}")
    for mode, runs in results.items():
        m = {k: median(r[k] for r in runs) for k in ("writes", "reads", "prefixes", "per_prefix", "write_tokens",
                                                        "read_tokens", "usd", "usd_no_cache")}
        saved = 1 - m["usd"] / m["usd_no_cache"] if m["usd_no_cache"] else 0.0
        print(f"{labels[mode]:20s} {m['writes']:7.0f} {m['reads']:7.0f} {m['prefixes']:8.0f} "
              f"{m['per_prefix']:13.2f} {m['write_tokens']:14,.0f} {m['read_tokens']:12,.0f} "
              f"{m['usd']:9.4f} {m['usd_no_cache']:10.4f} {saved:7.1%}")
        bad = [r for r in runs if r["ok"] != len(pairs)]
        if bad:
            print(f"  WARNING: {labels[mode]}: {bad[0]['ok']}/{len(pairs)} answered")
    live = results["live"]
    per = median(r["per_prefix"] for r in live)
    print(f"live cache-aware: {per:.2f} cache writes per unique system prefix (goal 1.0) -> "
          f"{'OK' if per <= 1.0 else 'ABOVE GOAL'}; saving vs no caching "
          f"${median(r['usd_no_cache'] - r['usd'] for r in live):.4f} "
          f"({median(1 - r['usd'] / r['usd_no_cache'] for r in live):.1%}); "
          f"all runs: {[round(r['per_prefix'], 2) for r in live]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
