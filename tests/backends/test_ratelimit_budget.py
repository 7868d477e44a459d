"""Issue 15: pacing by the rate-limit budget, over real HTTP against the fake API's budget-enforcing mode
(the official SDK is not mocked). No assertion here is about speed: the benchmark measures that
(``benchmarks/bench_budget.py``); these check what happens and what is counted."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import anthropic
import pytest

from agenteval.backends.ratelimit import AdaptiveLimiter, TokenCost
from agenteval.testing.fake_api import FakeAnthropicAPI
from fakeapi_fixtures import fake_api, make_backend, make_pair, run
from tests.conftest import REPO

KW = make_pair()[1].to_api()


def _stamp(seconds_from_now: float) -> str:
    t = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds_from_now)
    return t.isoformat().replace("+00:00", "Z")


# ----------------------------------------------------------------------------------------- the fake
def test_budget_mode_checks_the_budget_before_faults_and_every_answer_has_the_headers() -> None:
    with fake_api(rpm_limit=3, otpm_limit=100_000) as fake:
        fake.script(["529", "429"])

        async def go() -> None:
            c = anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="k", max_retries=0)
            with pytest.raises(anthropic.InternalServerError) as e529:  # admitted, then the fault
                await c.messages.create(**KW)
            assert e529.value.status_code == 529
            assert e529.value.response.headers["anthropic-ratelimit-requests-remaining"] == "2"
            with pytest.raises(anthropic.RateLimitError) as transient:  # admitted, then a random 429
                await c.messages.create(**KW)
            h = transient.value.response.headers
            assert h["anthropic-ratelimit-requests-remaining"] == "1" and h["retry-after"]
            assert "anthropic-ratelimit-output-tokens-remaining" in h
            await c.messages.create(**KW)
            with pytest.raises(anthropic.RateLimitError) as over:  # the budget is spent
                await c.messages.create(**KW)
            assert over.value.response.headers["anthropic-ratelimit-requests-remaining"] == "0"
            await c.close()

        run(go())
        c = fake.counters
        assert c.admitted == 3 and c.over_budget == 1 and c.messages == 4 and c.messages_ok == 1


def test_output_tokens_are_reserved_at_max_tokens_and_corrected_to_what_was_produced() -> None:
    with fake_api(otpm_limit=10_000) as fake:
        async def go() -> tuple[int, int]:
            c = anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="k", max_retries=0)
            raw = await c.messages.with_raw_response.create(**{**KW, "max_tokens": 4000})
            msg = await raw.parse()
            await c.close()
            return int(raw.headers["anthropic-ratelimit-output-tokens-remaining"]), msg.usage.output_tokens

        remaining, produced = run(go())
        assert produced < 4000 and remaining >= 10_000 - produced - 1  # not 10,000 - 4,000


# ----------------------------------------------------------------------------------------- 429s
def test_a_429_with_budget_left_is_retried_alone_and_pauses_nobody() -> None:
    pairs = [make_pair(f"s{i}") for i in range(12)]
    with fake_api(rpm_limit=1000, retry_after_s=1.0) as fake:
        fake.script(["429"])  # the first request: a 429 whose headers show 999 requests left

        async def go() -> None:
            b = make_backend(fake, concurrency=4, cache_aware=False)
            res = await asyncio.gather(*(b.generate(r, i) for i, r in pairs))
            assert all(x.status == "ok" for x in res)
            assert [x.attempts for x in res].count(2) == 1
            st = b.limiter.stats
            assert st.rate_limited == 1 and st.transient_429 == 1 and st.budget_429 == 0
            assert st.paused_s == 0 and st.decreases == 0 and b.limiter.effective_window == 4
            await b.aclose()

        run(go())
    log = list(fake.log)
    assert log[0].status == 429 and log[-1].key == log[0].key  # its retry (after 1 s) came after all others
    assert [e.status for e in log[1:]] == [200] * 12


def test_a_429_with_the_budget_spent_pauses_new_starts_until_the_headers_give_it_back() -> None:
    now = [100.0]
    lim = AdaptiveLimiter(8, clock=lambda: now[0])

    async def go() -> None:
        a = await lim.acquire(TokenCost(input=10))
        spent = {"anthropic-ratelimit-requests-limit": "60", "anthropic-ratelimit-requests-remaining": "0",
                 "anthropic-ratelimit-requests-reset": _stamp(30.0), "retry-after": "30"}
        lim.release(a, "rate_limited", retry_after=30.0, headers=spent)
        assert lim.stats.budget_429 == 1 and lim.stats.transient_429 == 0
        # the bucket is full in 30 s, so one request (1/60 of it) is back in about 0.5 s
        assert 0.3 < lim._pause_until - now[0] < 0.7
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(lim.acquire(), 0.05)  # the fake clock stands still: still paused
        now[0] += 1.0
        await asyncio.wait_for(lim.acquire(), 0.05)

    run(go())


def test_a_header_less_429_falls_back_to_aimd_only_when_no_headers_were_ever_seen() -> None:
    async def go() -> None:
        lim = AdaptiveLimiter(8)
        lim.release(await lim.acquire(), "rate_limited")
        assert lim.window == 4 and lim.stats.decreases == 1
        lim2 = AdaptiveLimiter(8)
        hdr = {"anthropic-ratelimit-requests-limit": "1000", "anthropic-ratelimit-requests-remaining": "900"}
        lim2.release(await lim2.acquire(), "ok", headers=hdr)
        lim2.release(await lim2.acquire(), "rate_limited")  # no headers on it, but the mirror shows budget
        assert lim2.window == 8 and lim2.stats.transient_429 == 1 and lim2._pause_until == 0

    run(go())


# ----------------------------------------------------------------------------------------- 529s
def test_529s_shrink_the_window_in_proportion_to_their_share_not_by_halving() -> None:
    async def go() -> None:
        lim = AdaptiveLimiter(64)
        for i in range(400):  # a steady 10 % of 529s
            lim.release(await lim.acquire(), "overloaded" if i % 10 == 0 else "ok")
        assert 0.8 * 64 <= lim.effective_window <= 64 and lim.stats.decreases == 0
        assert lim.backoff_scale() < 0.5  # isolated failures: a short retry backoff
        for _ in range(400):  # every answer a 529
            lim.release(await lim.acquire(), "overloaded")
        assert lim.effective_window < 4 and lim.backoff_scale() > 0.99
        for _ in range(400):
            lim.release(await lim.acquire(), "ok")
        assert lim.effective_window > 60

    run(go())


def test_ten_percent_529s_over_http_all_finish_and_the_window_stays_open() -> None:
    pairs = [make_pair(f"s{i}") for i in range(120)]
    with fake_api(latency_ms=2, fault_529=0.10, seed=3) as fake:
        async def go() -> None:
            b = make_backend(fake, concurrency=32, cache_aware=False, max_retries=10)
            res = await asyncio.gather(*(b.generate(r, i) for i, r in pairs))
            assert all(x.status == "ok" for x in res)
            st = b.stats()
            assert st.overloaded >= 5 and b.limiter.stats.decreases == 0
            assert st.min_window >= 0.7 * 32  # never halved
            await b.aclose()

        run(go())


# ----------------------------------------------------------------------------------------- tokens
def test_input_tokens_are_counted_as_the_api_counts_them_cache_reads_excluded() -> None:
    pairs = [make_pair(f"s{i}") for i in range(10)]
    with fake_api(itpm_limit=10_000_000) as fake:
        async def go() -> None:
            b = make_backend(fake, concurrency=4, max_itpm=10_000_000, max_otpm=10_000_000)
            res = await asyncio.gather(*(b.generate(r, i) for i, r in pairs))
            assert all(x.status == "ok" for x in res)
            counted = sum(x.usage.input_tokens + x.usage.cache_creation_input_tokens for x in res)
            reads = sum(x.usage.cache_read_input_tokens for x in res)
            produced = sum(x.usage.output_tokens for x in res)
            assert reads > counted  # the card prefix is read from the cache by 9 of them
            # the caps' accounting, corrected by each answer, is exactly what the API counts
            assert b.limiter._itpm_cap is not None and b.limiter._otpm_cap is not None
            assert b.limiter._itpm_cap.total == counted
            assert b.limiter._otpm_cap.total == produced
            await b.aclose()

        run(go())


# ----------------------------------------------------------------------------------------- caps
def _max_in_window(times: list[float], width: float) -> int:
    times = sorted(times)
    best = j = 0
    for i, t in enumerate(times):
        while times[j] <= t - width:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_max_rps_is_never_exceeded_even_when_the_server_allows_more() -> None:
    pairs = [make_pair(f"s{i}") for i in range(16)]
    with fake_api(rpm_limit=100_000) as fake:
        async def go() -> None:
            b = make_backend(fake, concurrency=16, cache_aware=False, max_rps=10)
            res = await asyncio.gather(*(b.generate(r, i) for i, r in pairs))
            assert all(x.status == "ok" for x in res)
            assert b.limiter.stats.capped_s > 0 and b.describe()["max_rps"] == 10
            await b.aclose()

        run(go())
    # the client spaces starts 1/10 s apart; at the server up to ~0.1 s of send jitter (the first request also
    # opens the connection) can bunch arrivals, so the server's windows are measured 0.9 s wide
    arrivals = [e.t for e in fake.log]
    assert len(arrivals) == 16 and _max_in_window(arrivals, 0.9) <= 10


def test_max_otpm_caps_output_tokens_per_minute() -> None:
    pairs = [make_pair(f"s{i}", max_tokens=512) for i in range(6)]
    with fake_api() as fake:
        async def go() -> None:
            b = make_backend(fake, concurrency=6, cache_aware=False, max_otpm=1024)
            tasks = [asyncio.ensure_future(b.generate(r, i)) for i, r in pairs]
            done, pending = await asyncio.wait(tasks, timeout=2.0)
            # each reserves 512 until its answer says how many it produced (far fewer): never more than
            # 1,024 reserved at once, and the answers' real counts then let the rest through
            assert b.limiter._otpm_cap is not None and b.limiter._otpm_cap.total <= 1024
            res = [t.result() for t in done] + list(await asyncio.gather(*pending))
            assert all(x.status == "ok" for x in res)
            await b.aclose()

        run(go())
    assert fake.counters.max_inflight <= 2


def test_cli_budget_flags_reach_the_backend_and_the_progress_line(tmp_path: Path) -> None:
    with FakeAnthropicAPI(latency_ms=1, rpm_limit=600, ratelimit_period_s=1.0) as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "AGENTEVAL_"))}
        env.update(ANTHROPIC_BASE_URL=fake.base_url, ANTHROPIC_API_KEY="sk-ant-budget-test",
                   AGENTEVAL_CACHE_DIR=str(tmp_path / "c"))
        bad = subprocess.run([sys.executable, "-m", "agenteval.cli", "run", "--backend", "anthropic",
                              "--max-rps", "0", "--output-dir", str(tmp_path / "r")], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2 and "--max-rps" in bad.stderr and fake.counters.requests == 0
        p = subprocess.run([sys.executable, "-m", "agenteval.cli", "run", "--backend", "anthropic", "--no-cache",
                            "--no-report", "--scenarios", "audit-broken-pipeline", "--concurrency", "8",
                            "--max-rps", "50", "--max-itpm", "5000000", "--max-otpm", "2000000",
                            "--output-dir", str(tmp_path / "r")], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=240)
        assert p.returncode == 0, p.stderr[-2000:]
    run_dir = Path(p.stdout.strip().splitlines()[-1])
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["backend"]["max_rps"] == 50 and manifest["backend"]["max_itpm"] == 5_000_000
    assert manifest["settings"]["max_otpm"] == 2_000_000
    last = [ln for ln in p.stderr.splitlines() if ln.startswith("run: ")][-1]
    assert "req/s" in last and "limit: " in last and "ETA" in last
    assert _max_in_window([e.t for e in fake.log], 0.98) <= 50
    assert "sk-ant-budget-test" not in (run_dir / "manifest.json").read_text()
