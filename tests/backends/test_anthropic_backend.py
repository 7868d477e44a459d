"""The live Anthropic backend against the fake API over real HTTP (no SDK internals are mocked)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agenteval.backends.anthropic import (
    AnthropicBackend,
    BackendStats,
    dry_run_estimate,
    estimate_run,
    estimate_run_offline,
)
from agenteval.backends.base import Backend, Usage
from agenteval.backends.pricing import cost_usd, estimate_tokens, load_models, load_pricing, resolve_model
from agenteval.backends.ratelimit import AdaptiveLimiter, PrefixGate, parse_retry_after
from agenteval.backends.response_cache import ResponseCache, endpoint_namespace
from agenteval.errors import InputError, UsageError
from agenteval.testing.fake_api import count_tokens_text
from fakeapi_fixtures import CARD, MODEL, fake_api, make_backend, make_pair, run


def test_ok_result_has_text_usage_cost_and_provenance(tmp_path: Path) -> None:
    item, req = make_pair()
    with fake_api() as fake:
        async def go() -> None:
            b = make_backend(fake, tmp_path)
            assert isinstance(b, Backend)
            r = await b.generate(req, item)
            assert r.status == "ok" and r.error is None
            assert "**Confidence**:" in (r.text or "")
            assert r.model == MODEL and r.stop_reason == "end_turn" and r.attempts == 1 and not r.cached
            assert r.usage.cache_creation_input_tokens == count_tokens_text(CARD)
            assert r.cost_usd == pytest.approx(cost_usd(MODEL, r.usage))
            assert r.provenance and r.provenance["request_id"].startswith("req_")
            assert r.provenance["request_hash"] == req.request_hash(1)
            d = b.describe()
            assert d["backend"] == "anthropic" and d["base_url"] == fake.base_url
            assert "test-key" not in repr(d)
            await b.aclose()

        run(go())


def test_retries_honour_retry_after() -> None:
    item, req = make_pair()
    with fake_api(retry_after_s=0.3) as fake:
        fake.script(["429", "429"])

        async def go() -> None:
            b = make_backend(fake, backoff_base_s=5.0)  # backoff would be far longer than retry-after
            t0 = time.perf_counter()
            r = await b.generate(req, item)
            took = time.perf_counter() - t0
            assert r.status == "ok" and r.attempts == 3
            assert 0.6 <= took < 3.0
            assert b.stats().rate_limited == 2 and b.stats().retries == 2
            await b.aclose()

        run(go())
        starts = [e.t for e in fake.log]
        assert len(starts) == 3
        assert starts[1] - starts[0] >= 0.29 and starts[2] - starts[1] >= 0.29


def test_retry_after_is_capped() -> None:
    item, req = make_pair()
    with fake_api(retry_after_s=30) as fake:
        fake.script(["429"])

        async def go() -> None:
            b = make_backend(fake, retry_after_cap_s=0.1)
            t0 = time.perf_counter()
            r = await b.generate(req, item)
            assert r.status == "ok" and r.attempts == 2
            assert time.perf_counter() - t0 < 2.0
            await b.aclose()

        run(go())


def test_retry_after_ms_wins_and_dates_parse() -> None:
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_spend_limit_is_not_retried() -> None:
    item, req = make_pair()
    with fake_api() as fake:
        fake.script(["spend_limit"])

        async def go() -> None:
            b = make_backend(fake)
            r = await b.generate(req, item)
            assert r.status == "error" and r.attempts == 1
            assert r.error_type == "spend_limit"
            assert r.error
            assert r.error.startswith("spend limit reached (enforced_spend_limit_reached); not retried")
            assert "\n" not in r.error
            await b.aclose()

        run(go())
        assert fake.counters.messages == 1


def test_4xx_is_not_retried_and_429_gives_up_after_max_retries() -> None:
    item, req = make_pair()
    bad = req.model_copy(update={"messages": []})
    with fake_api(retry_after_s=0.01) as fake:
        async def go() -> None:
            b = make_backend(fake, max_retries=2)
            r = await b.generate(bad, item)
            assert r.status == "error" and r.attempts == 1 and r.error_type == "invalid_request_error"
            assert r.error and r.error.startswith("400 invalid_request_error: ")
            assert r.error.endswith("not retried")
            fake.script(["429", "429", "429"])
            r = await b.generate(req, item)
            assert r.status == "error" and r.attempts == 3 and r.error_type == "rate_limit_error"
            assert r.error and r.error.startswith("429 rate_limit_error after 3 attempts: ")
            await b.aclose()

        run(go())
        assert fake.counters.messages == 4


def test_overload_server_error_garbage_and_hang_are_retried() -> None:
    item, req = make_pair()
    with fake_api() as fake:
        fake.script(["529", "500", "garbage", "hang"])

        async def go() -> None:
            b = make_backend(fake, timeout_s=0.3)
            r = await b.generate(req, item)
            assert r.status == "ok" and r.attempts == 5
            s = b.stats()
            assert s.overloaded == 1 and s.timeouts == 1 and s.retries == 4
            await b.aclose()

        run(go())


def test_streamed_primer_garbage_is_retried() -> None:
    item, req = make_pair()
    with fake_api() as fake:
        fake.script(["garbage"])

        async def go() -> None:
            b = make_backend(fake)
            r = await b.generate(req, item)
            assert r.status == "ok" and r.attempts == 2
            await b.aclose()

        run(go())
        assert [e.stream for e in fake.log] == [True, True]


def test_unreachable_server_is_an_error_result_not_an_exception() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    item, req = make_pair()

    async def go() -> None:
        b = AnthropicBackend(MODEL, base_url=f"http://127.0.0.1:{port}", api_key="k", max_retries=1,
                             backoff_base_s=0.01, use_cache=False)
        r = await b.generate(req, item)
        assert r.status == "error" and r.error_type == "connection_error" and r.attempts == 2
        assert r.error and r.error.startswith("connection error after 2 attempts")
        await b.aclose()

    run(go())


def test_adaptive_concurrency_stays_under_a_429_storm() -> None:
    pairs = [make_pair(f"s{i}") for i in range(100)]

    def storm(adaptive: bool) -> tuple[int, BackendStats]:
        with fake_api(latency_ms=20, concurrency_limit=4, retry_after_s=0.02) as fake:
            async def go() -> BackendStats:
                b = make_backend(fake, concurrency=32, adaptive=adaptive, max_retries=50, cache_aware=False)
                res = await asyncio.gather(*(b.generate(r, i) for i, r in pairs))
                assert all(x.status == "ok" for x in res)
                await b.aclose()
                return b.stats()

            st = run(go())
            return fake.counters.rate_limited, st

    adaptive_429s, st = storm(True)
    fixed_429s, _ = storm(False)
    assert st.min_window <= 4 and st.window < 32
    assert adaptive_429s < 100 and adaptive_429s * 4 < fixed_429s, (adaptive_429s, fixed_429s)


def test_ratelimit_headers_throttle_before_a_429() -> None:
    pairs = [make_pair(f"s{i}") for i in range(40)]
    with fake_api(latency_ms=5, rpm_limit=10, ratelimit_period_s=0.5) as fake:
        async def go() -> BackendStats:
            b = make_backend(fake, concurrency=32, cache_aware=False)
            for k in range(2):  # learn the budget (the first call also pays the SDK's lazy imports)
                assert (await b.generate(*reversed(make_pair(f"warmup{k}")))).status == "ok"
            res = await asyncio.gather(*(b.generate(r, i) for i, r in pairs))
            assert all(x.status == "ok" for x in res)
            await b.aclose()
            return b.stats()

        st = run(go())
        assert st.throttled_s > 0
        assert fake.counters.rate_limited <= 3


def test_cache_writes_per_prefix_is_one_in_a_4x5x3_matrix_at_concurrency_16() -> None:
    cards = [CARD + f"\nVariant {k}." for k in range(4)]
    pairs = [make_pair(f"s{k}", mode, role, card=cards[k])
             for k in range(4) for mode in ("m1", "m2", "m3", "m4", "m5") for role in ("r1", "r2", "r3")]

    def go(aware: bool) -> tuple[dict[str, int], BackendStats]:
        with fake_api(latency_ms=40) as fake:
            async def main() -> BackendStats:
                b = make_backend(fake, concurrency=16, cache_aware=aware)
                res = await asyncio.gather(*(b.generate(r, i) for i, r in pairs))
                assert all(x.status == "ok" for x in res)
                await b.aclose()
                return b.stats()

            st = run(main())
            return dict(fake.counters.cache_writes_by_prefix), st

    writes, st = go(True)
    assert len(writes) == 4 and set(writes.values()) == {1}
    assert st.prompt_cache_writes == 4 and st.prompt_cache_reads == 56 and st.primers == 4
    assert st.cache_saving_usd > 0
    assert "4 writes" in st.cache_summary()
    naive, _ = go(False)
    assert sum(naive.values()) > 4  # without the gate, concurrent first requests each write


def test_response_cache_hits_on_rerun_and_never_stores_errors(tmp_path: Path) -> None:
    pairs = [make_pair(f"s{i}") for i in range(5)]
    with fake_api() as fake:
        fake.script([None, None, "spend_limit"])

        async def first() -> None:
            b = make_backend(fake, tmp_path)
            res = [await b.generate(r, i) for i, r in pairs]
            assert [x.status for x in res] == ["ok", "ok", "error", "ok", "ok"]
            await b.aclose()

        async def rerun() -> None:
            b = make_backend(fake, tmp_path)
            res = [await b.generate(r, i) for i, r in pairs]
            assert all(x.status == "ok" for x in res)
            assert [x.cached for x in res] == [True, True, False, True, True]
            hit = res[0]
            assert hit.cost_usd == 0.0 and hit.attempts == 0
            assert hit.provenance and hit.provenance["original_cost_usd"] > 0
            assert b.stats().response_cache_hits == 4
            # another epoch is a real repeat
            item, req = make_pair("s0", epoch=2)
            assert not (await b.generate(req, item)).cached
            await b.aclose()

        run(first())
        assert fake.counters.messages == 5
        run(rerun())
        assert fake.counters.messages == 7
    # disabled cache neither reads nor writes
    async def disabled() -> None:
        with fake_api() as fake2:
            b = make_backend(fake2, tmp_path, use_cache=False)
            assert not (await b.generate(pairs[0][1], pairs[0][0])).cached
            await b.aclose()

    run(disabled())


def test_response_cache_is_namespaced_by_endpoint_and_survives_corruption(tmp_path: Path) -> None:
    assert endpoint_namespace(None) == "api.anthropic.com"
    assert endpoint_namespace("http://127.0.0.1:8765") == "127.0.0.1_8765"
    cache = ResponseCache(tmp_path)
    key = "sha256:" + "ab" * 32
    cache.path_for(key).parent.mkdir(parents=True)
    cache.path_for(key).write_text("{not json")
    assert cache.get(key) is None


def test_model_alias_is_resolved_before_sending() -> None:
    item, req = make_pair(model="sonnet")
    with fake_api() as fake:
        async def go() -> None:
            b = make_backend(fake)
            r = await b.generate(req, item)
            assert r.status == "ok" and r.model == resolve_model("sonnet") != "sonnet"
            bad = await b.generate(req.model_copy(update={"model": "sonet"}), item)
            assert bad.status == "error" and bad.error_type == "usage" and "sonet" in (bad.error or "")
            await b.aclose()

        run(go())


def test_pricing_and_aliases() -> None:
    aliases = load_models().aliases
    assert set(aliases) >= {"sonnet", "opus", "haiku"}
    assert resolve_model("Opus") == aliases["opus"]
    assert resolve_model("claude-future-9") == "claude-future-9"
    with pytest.raises(UsageError):
        resolve_model("sonet")
    table = load_pricing()
    u = Usage(input_tokens=1_000_000, output_tokens=1_000_000, cache_creation_input_tokens=1_000_000,
              cache_read_input_tokens=1_000_000)
    assert table.cost("claude-sonnet-4-6", u) == pytest.approx(3 + 15 + 3.75 + 0.30)
    assert table.cost("claude-sonnet-4-6", u, batch=True) == pytest.approx((3 + 15 + 3.75 + 0.30) / 2)
    assert table.cost("claude-sonnet-4-6", u, cache_ttl="1h") == pytest.approx(3 + 15 + 6 + 0.30)
    assert table.cost("claude-sonnet-4-5-20250929", u) == table.cost("claude-sonnet-4-5", u)
    assert table.cost("claude-unknown", u) is None
    small = Usage(input_tokens=1000, output_tokens=1000)
    big = Usage(input_tokens=200_000, output_tokens=1000)
    assert table.cost("claude-haiku-5-5", small) == pytest.approx((1000 * 0.10 + 1000 * 0.50) / 1e6)
    assert table.cost("claude-haiku-5-5", big) == pytest.approx((200_000 * 0.50 + 1000 * 2.50) / 1e6)
    saving = table.cache_saving("claude-sonnet-4-6", Usage(cache_read_input_tokens=1_000_000))
    assert saving == pytest.approx(3 - 0.30)
    for model in aliases.values():
        assert table.price(model) is not None, model
    assert estimate_tokens("x" * 35) == 10


def test_broken_pricing_file_is_an_input_error(tmp_path: Path) -> None:
    p = tmp_path / "pricing.yaml"
    p.write_text("as_of: x\nmodels:\n"
                 "  m: {input: -1, output: 1, cache_write_5m: 1, cache_write_1h: 1, cache_read: 1}\n")
    with pytest.raises(InputError) as info:
        load_pricing(p)
    assert "models.m.input" in str(info.value)


def test_dry_run_offline_and_with_count_tokens(tmp_path: Path) -> None:
    pairs = [make_pair(f"s{i}", mode) for i in range(3) for mode in ("a", "b")]
    est = estimate_run_offline(pairs)
    assert est.calls == 6 and est.unique_prefixes == 1
    assert est.cache_writes_expected == 1 and est.cache_reads_expected == 5
    assert est.token_method.startswith("local estimate")
    assert est.live_usd and est.live_usd_without_caching and est.batch_usd and est.batch_usd_worst
    assert est.live_usd < est.live_usd_without_caching
    assert est.batch_usd == pytest.approx(est.live_usd / 2)
    assert est.batch_usd < est.batch_usd_worst
    assert est.live_usd <= (est.live_usd_max or 0)
    assert any("batch" in line for line in est.lines())
    with fake_api() as fake:
        async def go() -> None:
            b = make_backend(fake, tmp_path)
            counted = await b.dry_run(pairs)
            assert counted.token_method == "count_tokens"
            expected = sum(sum(count_tokens_text(s.text) for s in r.system)
                           + count_tokens_text(r.messages[0].content) for _, r in pairs)
            assert counted.input_tokens == expected
            # answered items drop out of the estimate
            await b.generate(pairs[0][1], pairs[0][0])
            again = await b.dry_run(pairs, count_tokens=False)
            assert again.calls == 5 and again.response_cache_hits == 1
            await b.aclose()

        run(go())
        assert fake.counters.messages == 1 and fake.counters.count_tokens == 6


def test_sync_dry_run_estimate_for_the_cli() -> None:
    requests = [make_pair(f"s{i}", epoch=e)[1] for i in range(2) for e in (1, 2)]
    est = dry_run_estimate(requests, MODEL, count_tokens=False)
    assert est.calls == 4 and est.unique_prompts == 2 and est.token_method.startswith("local")
    text = est.render()
    assert "calls: 4" in text and "batch:" in text and "$" in text
    with fake_api() as fake:
        counted = dry_run_estimate(requests, MODEL, base_url=fake.base_url, api_key="k")
        assert counted.token_method == "count_tokens"
        assert fake.counters.count_tokens == 2 and fake.counters.messages == 0


def test_dry_run_falls_back_to_the_local_estimate_when_offline() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pairs = [make_pair()]

    async def go() -> None:
        b = AnthropicBackend(MODEL, base_url=f"http://127.0.0.1:{port}", api_key="k", max_retries=0,
                             use_cache=False)
        est = await estimate_run(pairs, backend=b)
        assert est.token_method.startswith(
            "local estimate (chars/3.5); count_tokens failed: connection error")
        assert est.calls == 1 and est.live_usd
        await b.aclose()

    run(go())


def test_limiter_cuts_once_per_burst_and_grows_back() -> None:
    async def go() -> None:
        lim = AdaptiveLimiter(8)
        starts = [await lim.acquire() for _ in range(8)]
        for s in starts[:4]:
            lim.release(s, "rate_limited")
        assert lim.window == 4 and lim.stats.decreases == 1
        for s in starts[4:]:
            lim.release(s, "ok")
        for _ in range(40):
            lim.release(await lim.acquire(), "ok")
        assert lim.window == 8

    run(go())


def test_prefix_gate_hands_priming_over_when_the_primer_fails() -> None:
    async def go() -> list[bool]:
        gate = PrefixGate()
        order: list[bool] = []

        async def worker(fail: bool) -> None:
            async with gate.enter("p") as t:
                order.append(t.primer)
                await asyncio.sleep(0.01)
                if not fail:
                    t.begun()

        await asyncio.gather(worker(True), worker(False), worker(False))
        return order

    assert run(go()) == [True, True, False]


def test_importing_the_backend_does_not_import_the_sdk() -> None:
    code = ("import sys, agenteval.backends.anthropic, agenteval.backends.pricing, agenteval.testing; "
            "assert 'anthropic' not in sys.modules, 'sdk imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
