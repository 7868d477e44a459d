"""A fault storm against the fake API over real HTTP: the real CLI in a subprocess, 636 items at
concurrency 64, 30 % 429 (with retry-after), 10 % 529, 5 % 500, 1 % hangs past the timeout and 1 %
garbage bodies. Every item must end ``ok`` or ``error`` with its cause, none missing, exit 3, and a
resume must retry exactly the errored items (the fake's per-request log, keyed by prompt, proves it).
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agenteval.backends.ratelimit import AdaptiveLimiter
from agenteval.inputs.card import load_card
from agenteval.inputs.scenario import load_scenarios
from agenteval.plan.matrix import PlanItem
from agenteval.plan.prompt import build_request
from agenteval.testing.fake_api import FakeAnthropicAPI, FakeAPIConfig
from tests.conftest import REPO

KEY = "sk-ant-test-storm-key"
CAUSE = re.compile(r"^(429 rate_limit_error|529 overloaded_error|500 api_error|timeout|invalid response"
                   r"|connection error) after 3 attempts\b")


def _env(fake: FakeAnthropicAPI, tmp_path: Path, **knobs: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "AGENTEVAL_"))}
    env.update(ANTHROPIC_BASE_URL=fake.base_url, ANTHROPIC_API_KEY=KEY,
               AGENTEVAL_CACHE_DIR=str(tmp_path / "cache-home"), **knobs)
    return env


def _agenteval(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agenteval.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def prompt_keys(run_dir: Path) -> dict[str, str]:
    """item id -> the fake's ``prompt_key`` of the request that item sends (= ``LLMRequest.prompt_hash``)."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    card = load_card(manifest["card"]["path"])
    fixtures = Path(manifest["fixtures_dir"]) if manifest["fixtures_dir"] else None
    scenarios = {s.id: s for s in load_scenarios(manifest["scenario_paths"], card, fixtures_dir=fixtures)}
    out = {}
    for p in json.loads((run_dir / "plan.json").read_text()):
        it = PlanItem.model_validate(p)
        out[it.id] = build_request(card, scenarios[it.scenario_id], it.mode, it.role, model="m").prompt_hash()
    return out


@pytest.mark.slow
def test_fault_storm_every_item_accounted_for_then_resume_retries_only_the_errored(tmp_path: Path) -> None:
    cfg = FakeAPIConfig(latency_ms=5, fault_429=0.30, fault_529=0.10, fault_500=0.05, fault_hang=0.01,
                        fault_garbage=0.01, retry_after_s=0.01, seed=7)
    out = tmp_path / "results"
    with FakeAnthropicAPI(cfg) as fake:
        env = _env(fake, tmp_path, AGENTEVAL_TIMEOUT_S="0.5", AGENTEVAL_MAX_RETRIES="2",
                   AGENTEVAL_RETRY_AFTER_CAP_S="0.2")
        t0 = time.monotonic()
        p = _agenteval("run", "--backend", "anthropic", "--epochs", "3", "--concurrency", "64", "--no-cache",
                       "--no-report", "--output-dir", str(out), env=env)
        wall = time.monotonic() - t0
        assert p.returncode == 3, (p.returncode, p.stderr[-3000:])
        assert "Traceback" not in p.stderr
        run_dir = Path(p.stdout.strip().splitlines()[-1])
        assert run_dir.parent == out.resolve()

        plan_ids = [PlanItem.model_validate(x).id for x in json.loads((run_dir / "plan.json").read_text())]
        assert len(plan_ids) == len(set(plan_ids)) >= 600

        # every planned item ends ok or error, none missing, one score line each
        scores = _jsonl(run_dir / "scores.jsonl")
        assert [s["id"] for s in scores] == plan_ids
        assert {s["status"] for s in scores} <= {"ok", "error"}
        errored = [s for s in scores if s["status"] == "error"]
        assert errored, "a storm this heavy must exhaust the retries of some items"
        for s in errored:
            assert s["error"] and CAUSE.match(s["error"]), s["error"]
        journal = _jsonl(run_dir / "transcripts.jsonl")
        latest = {r["item_id"]: r for r in journal}
        assert set(latest) == set(plan_ids)
        for s in scores:
            r = latest[s["id"]]
            assert r["status"] == s["status"]
            if r["status"] == "error":
                assert r["error_type"] and r["attempts"] == 3 and r["error"] == s["error"]
            else:
                assert r["response"] and r["attempts"] >= 1
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["counts"]["planned"] == len(plan_ids)
        assert summary["counts"]["ok"] + summary["counts"]["error"] == len(plan_ids)
        assert summary["counts"]["error"] == len(errored)
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["status"] == "finished"
        assert manifest["backend"]["timeout_s"] == 0.5 and manifest["backend"]["max_retries"] == 2

        # every fault kind was injected, and every request the fake received is a recorded attempt (an
        # attempt the fake never read can only be one the client gave up on: a timeout)
        faults = dict(fake.counters.faults)
        assert all(faults.get(k, 0) > 0 for k in ("429", "529", "500", "hang", "garbage")), faults
        requests = fake.counters.messages
        attempts = sum(r["attempts"] for r in journal)
        stats = manifest["backend_stats"][0]
        assert stats["api_requests"] == attempts and stats["retries"] == attempts - len(plan_ids)
        assert stats["timeouts"] >= faults["hang"]
        assert 0 <= attempts - requests <= stats["timeouts"] - faults["hang"]
        print(f"\nSTORM: items {len(plan_ids)}, API requests {attempts}, retries {stats['retries']} "
              f"(rate-limited {stats['rate_limited']}, overloaded {stats['overloaded']}, "
              f"timeouts {stats['timeouts']}), faults {faults}, errored items {len(errored)}, "
              f"wall {wall:.1f} s, min window {stats['min_window']:.1f}")

        # resume: the storm is over; only the errored items are asked again, each exactly once
        for k in ("fault_429", "fault_529", "fault_500", "fault_hang", "fault_garbage"):
            setattr(fake.config, k, 0.0)
        time.sleep(0.2)  # let the fake log the hung connections the storm's exit closed
        before = fake.counters.messages
        t_resume = time.monotonic()
        p2 = _agenteval("run", "--resume", str(run_dir), env={**env, "AGENTEVAL_TIMEOUT_S": "30"})
        resume_wall = time.monotonic() - t_resume
        assert p2.returncode == 0, (p2.returncode, p2.stderr[-3000:])
        keys = prompt_keys(run_dir)
        asked = collections.Counter(e.key for e in list(fake.log) if e.t >= t_resume)
        assert fake.counters.messages - before == len(errored)
        assert asked == collections.Counter(keys[s["id"]] for s in errored)

        journal2 = _jsonl(run_dir / "transcripts.jsonl")
        assert journal2[: len(journal)] == journal  # append-only
        assert sorted(r["item_id"] for r in journal2[len(journal):]) == sorted(s["id"] for s in errored)
        scores2 = _jsonl(run_dir / "scores.jsonl")
        assert [s["id"] for s in scores2] == plan_ids and {s["status"] for s in scores2} == {"ok"}
        manifest2 = json.loads((run_dir / "manifest.json").read_text())
        assert manifest2["status"] == "finished" and len(manifest2["resumed"]) == 1
        print(f"STORM RESUME: retried {len(errored)} errored items with {len(errored)} requests, "
              f"wall {resume_wall:.1f} s")


def testbackend_env_knobs_are_checked(tmp_path: Path) -> None:
    with FakeAnthropicAPI(FakeAPIConfig()) as fake:
        env = _env(fake, tmp_path, AGENTEVAL_MAX_RETRIES="lots")
        p = _agenteval("run", "--backend", "anthropic", "--scenarios", "audit-broken-pipeline", "--no-cache",
                       "--output-dir", str(tmp_path / "r"), env=env)
        assert p.returncode == 2 and "AGENTEVAL_MAX_RETRIES" in p.stderr and "Traceback" not in p.stderr
        assert fake.counters.requests == 0


def test_a_late_ratelimit_snapshot_does_not_forget_requests_in_flight() -> None:
    """Answers carry the server's bucket as it was when *that* request was counted. Requests started
    after it may not be in that snapshot: the limiter must keep counting them, or one stale header
    arriving while many requests are in flight makes it overdraw the budget (the cause of 429s in
    ``test_ratelimit_headers_throttle_before_a_429`` when the machine is busy)."""
    now = [100.0]
    lim = AdaptiveLimiter(32, clock=lambda: now[0])
    hdr = {"anthropic-ratelimit-requests-limit": "10"}

    async def starts_without_waiting() -> int:
        n = 0
        while n < 20:
            try:
                await asyncio.wait_for(lim.acquire(), 0.05)
            except TimeoutError:
                return n
            n += 1
        return n

    async def go() -> None:
        a = await lim.acquire()
        lim.release(a, "ok", headers={**hdr, "anthropic-ratelimit-requests-remaining": "9"})
        starts = [await lim.acquire() for _ in range(8)]  # 8 of the 9 left, all in flight
        # the first of them answers with a snapshot taken before the other 7 reached the server
        lim.release(starts[0], "ok", headers={**hdr, "anthropic-ratelimit-requests-remaining": "8"})
        assert await starts_without_waiting() == 1  # 8 remaining - 7 unseen (was 8: an overdraft of 7)

    asyncio.run(go())
