"""The fake Anthropic API, driven over real HTTP by the official SDK and by raw sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
import urllib.request

import anthropic
import pytest

from agenteval.testing.fake_api import FakeAnthropicAPI, count_tokens_text, default_generator, prompt_key
from fakeapi_fixtures import fake_api, make_pair, run

KW = make_pair()[1].to_api()


def client(fake: FakeAnthropicAPI, **kw: object) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="test-key", max_retries=0, **kw)


def test_message_parses_with_the_sdk_and_bills_the_prompt_cache() -> None:
    with fake_api() as fake:
        async def go() -> None:
            c = client(fake)
            raw = await c.messages.with_raw_response.create(**KW)
            first = await raw.parse()
            assert raw.headers["request-id"].startswith("req_")
            assert first.type == "message" and first.role == "assistant" and first.model == KW["model"]
            assert first.stop_reason == "end_turn"
            assert "**Confidence**:" in first.content[0].text
            card_tokens = count_tokens_text(KW["system"][0]["text"])
            assert first.usage.cache_creation_input_tokens == card_tokens
            assert first.usage.cache_read_input_tokens == 0
            assert first.usage.cache_creation.ephemeral_5m_input_tokens == card_tokens
            second = await c.messages.create(**KW)
            assert second.usage.cache_read_input_tokens == card_tokens
            assert second.usage.cache_creation_input_tokens == 0
            assert second.usage.input_tokens == first.usage.input_tokens
            await c.close()

        run(go())
        assert fake.counters.cache_writes == 1 and fake.counters.cache_reads == 1
        assert fake.counters.messages == 2


def test_streamed_message_accumulates_like_a_plain_one() -> None:
    with fake_api(latency_ms=20) as fake:
        async def go() -> None:
            c = client(fake)
            plain = await c.messages.create(**KW)
            async with c.messages.stream(**KW) as s:
                assert s.response.headers["content-type"].startswith("text/event-stream")
                msg = await s.get_final_message()
            assert msg.content[0].text == plain.content[0].text
            assert msg.usage.output_tokens == plain.usage.output_tokens
            assert msg.usage.cache_read_input_tokens > 0
            await c.close()

        run(go())
        assert fake.counters.streamed == 1


def test_cache_entry_exists_only_once_the_first_response_has_begun() -> None:
    with fake_api(latency_ms=100, ttfb_fraction=0.5) as fake:
        async def go() -> None:
            c = client(fake)
            # three at once: none of them finds an entry, all pay a write
            r = await asyncio.gather(*(c.messages.create(**KW) for _ in range(3)))
            assert all(m.usage.cache_creation_input_tokens > 0 for m in r)
            # once the first response has begun (ttfb = 50 ms), a later request reads
            fake.clear_prompt_cache()
            first = asyncio.create_task(c.messages.create(**KW))
            await asyncio.sleep(0.08)
            later = await c.messages.create(**KW)
            assert (await first).usage.cache_creation_input_tokens > 0
            assert later.usage.cache_read_input_tokens > 0
            await c.close()

        run(go())
        assert sum(fake.counters.cache_writes_by_prefix.values()) == 4


def test_cache_ttl_expires_and_one_hour_ttl_is_reported() -> None:
    with fake_api(cache_ttl_s=0.1) as fake:
        async def go() -> None:
            c = client(fake)
            await c.messages.create(**KW)
            assert (await c.messages.create(**KW)).usage.cache_read_input_tokens > 0
            await asyncio.sleep(0.15)
            assert (await c.messages.create(**KW)).usage.cache_creation_input_tokens > 0
            kw = json.loads(json.dumps(KW))
            kw["system"][0]["cache_control"] = {"type": "ephemeral", "ttl": "1h"}
            fake.clear_prompt_cache()
            m = await c.messages.create(**kw)
            assert m.usage.cache_creation.ephemeral_1h_input_tokens == m.usage.cache_creation_input_tokens > 0
            await c.close()

        run(go())


def test_short_prefix_below_minimum_is_not_cached() -> None:
    with fake_api(min_cache_tokens=100_000) as fake:
        async def go() -> None:
            c = client(fake)
            for _ in range(2):
                m = await c.messages.create(**KW)
                assert m.usage.cache_creation_input_tokens == 0 == m.usage.cache_read_input_tokens
            await c.close()

        run(go())


def test_count_tokens_is_the_documented_estimate() -> None:
    with fake_api() as fake:
        async def go() -> int:
            c = client(fake)
            kw = {k: v for k, v in KW.items() if k != "max_tokens"}
            res = await c.messages.count_tokens(**kw)
            await c.close()
            return res.input_tokens

        expected = sum(count_tokens_text(b["text"]) for b in KW["system"]) + count_tokens_text(
            KW["messages"][0]["content"])
        assert run(go()) == expected
        assert fake.counters.count_tokens == 1 and fake.counters.messages == 0


def test_recordings_and_generator_choose_the_answer() -> None:
    _item, req = make_pair()
    recordings = {req.prompt_hash(): "recorded answer"}
    with fake_api(recordings=recordings, generator=lambda body: "generated") as fake:
        async def go() -> tuple[str, str]:
            c = client(fake)
            a = await c.messages.create(**req.to_api())
            other = make_pair("s2")[1]
            b = await c.messages.create(**other.to_api())
            await c.close()
            return a.content[0].text, b.content[0].text

        assert run(go()) == ("recorded answer", "generated")
    assert prompt_key(req.to_api()) == req.prompt_hash()


def test_default_generator_writes_the_envelope_the_directive_names() -> None:
    text = default_generator(KW)
    for field in ("Result", "Confidence", "Verification"):
        assert f"**{field}**:" in text
    assert default_generator(KW) == text


def test_max_tokens_truncates_and_sets_stop_reason() -> None:
    with fake_api(generator=lambda body: "word " * 400) as fake:
        async def go() -> anthropic.types.Message:
            c = client(fake)
            m = await c.messages.create(**{**KW, "max_tokens": 10})
            await c.close()
            return m

        m = run(go())
        assert m.stop_reason == "max_tokens" and m.usage.output_tokens <= 10


@pytest.mark.parametrize(("fault", "exc", "status"), [
    ("429", anthropic.RateLimitError, 429),
    ("529", anthropic.OverloadedError, 529),
    ("500", anthropic.InternalServerError, 500),
])
def test_scripted_status_faults(fault: str, exc: type[Exception], status: int) -> None:
    with fake_api(retry_after_s=0.25, retry_after_ms_header=True) as fake:
        fake.script([fault])

        async def go() -> None:
            c = client(fake)
            with pytest.raises(exc) as info:
                await c.messages.create(**KW)
            assert info.value.status_code == status
            assert info.value.request_id and info.value.request_id.startswith("req_")
            if fault == "429":
                assert info.value.response.headers["retry-after"] == "0.250"
                assert info.value.response.headers["retry-after-ms"] == "250"
                assert info.value.type == "rate_limit_error"
            assert (await c.messages.create(**KW)).type == "message"
            await c.close()

        run(go())
        assert fake.counters.faults[fault] == 1


def test_spend_limit_fault_has_the_error_code() -> None:
    with fake_api() as fake:
        fake.script(["spend_limit"])

        async def go() -> None:
            c = client(fake)
            with pytest.raises(anthropic.RateLimitError) as info:
                await c.messages.create(**KW)
            assert info.value.error_code == "enforced_spend_limit_reached"
            assert "retry-after" not in info.value.response.headers
            await c.close()

        run(go())


def test_garbage_and_hang_faults() -> None:
    with fake_api() as fake:
        fake.script(["garbage", "hang"])

        async def go() -> None:
            c = client(fake, timeout=0.3)
            with pytest.raises(json.JSONDecodeError):
                await c.messages.create(**KW)
            t0 = time.perf_counter()
            with pytest.raises(anthropic.APITimeoutError):
                await c.messages.create(**KW)
            assert time.perf_counter() - t0 < 2
            assert (await c.messages.create(**KW)).type == "message"
            await c.close()

        run(go())
        assert fake.counters.faults == {"garbage": 1, "hang": 1}


def test_fault_rates_are_seeded() -> None:
    def statuses() -> list[int]:
        with fake_api(fault_429=0.3, fault_500=0.2, seed=7) as fake:
            async def go() -> None:
                c = client(fake)
                for _ in range(30):
                    with contextlib.suppress(anthropic.APIStatusError):
                        await c.messages.create(**KW)
                await c.close()

            run(go())
            return [e.status for e in fake.log]

    a, b = statuses(), statuses()
    assert a == b and 429 in a and 500 in a and 200 in a


def test_rate_limit_headers_and_bucket_429() -> None:
    with fake_api(rpm_limit=3, itpm_limit=1_000_000, otpm_limit=100_000) as fake:
        async def go() -> None:
            c = client(fake)
            raw = await c.messages.with_raw_response.create(**KW)
            h = raw.headers
            assert h["anthropic-ratelimit-requests-limit"] == "3"
            assert h["anthropic-ratelimit-requests-remaining"] == "2"
            assert h["anthropic-ratelimit-requests-reset"].endswith("Z")
            assert int(h["anthropic-ratelimit-input-tokens-remaining"]) < 1_000_000
            assert "anthropic-ratelimit-output-tokens-remaining" in h
            assert "anthropic-ratelimit-tokens-limit" in h
            await c.messages.create(**KW)
            await c.messages.create(**KW)
            with pytest.raises(anthropic.RateLimitError) as info:
                await c.messages.create(**KW)
            ra = float(info.value.response.headers["retry-after"])
            assert 0 < ra <= 20.5  # one request refills in 60/3 s
            assert info.value.response.headers["anthropic-ratelimit-requests-remaining"] == "0"
            await c.close()

        run(go())
        assert fake.counters.rate_limited == 1


def test_concurrency_limit_makes_a_429_storm() -> None:
    with fake_api(latency_ms=50, concurrency_limit=2) as fake:
        async def go() -> list[object]:
            c = client(fake)
            out = await asyncio.gather(*(c.messages.create(**KW) for _ in range(6)), return_exceptions=True)
            await c.close()
            return out

        out = run(go())
        assert sum(isinstance(o, anthropic.RateLimitError) for o in out) == 4
        assert fake.counters.messages_ok == 2


def test_invalid_request_is_a_400() -> None:
    with fake_api() as fake:
        async def go() -> None:
            c = client(fake)
            with pytest.raises(anthropic.BadRequestError) as info:
                await c.messages.create(model="m", max_tokens=5, messages=[])
            assert info.value.type == "invalid_request_error"
            await c.close()

        run(go())


def test_batch_round_trip_with_outcomes_and_cancel() -> None:
    outcomes = {"r1": "errored", "r2": "expired"}
    with fake_api(batch_duration_s=0.2, batch_outcome=outcomes) as fake:
        async def go() -> None:
            c = client(fake)
            reqs = [{"custom_id": f"r{i}", "params": KW} for i in range(4)]
            b = await c.messages.batches.create(requests=reqs)
            assert b.processing_status == "in_progress" and b.request_counts.processing == 4
            assert b.results_url is None
            with pytest.raises(anthropic.NotFoundError):
                await c.messages.with_raw_response.batches.retrieve("msgbatch_nope")
            await asyncio.sleep(0.25)
            b = await c.messages.batches.retrieve(b.id)
            assert b.processing_status == "ended" and b.ended_at is not None
            rc = b.request_counts
            assert (rc.succeeded, rc.errored, rc.expired, rc.canceled, rc.processing) == (2, 1, 1, 0, 0)
            rows = {r.custom_id: r.result async for r in await c.messages.batches.results(b.id)}
            assert rows["r0"].type == "succeeded" and rows["r0"].message.content[0].text
            assert rows["r1"].type == "errored" and rows["r1"].error.error.type == "invalid_request_error"
            assert rows["r2"].type == "expired"
            # cancel another one before it ends
            b2 = await c.messages.batches.create(requests=reqs)
            b2 = await c.messages.batches.cancel(b2.id)
            assert b2.processing_status == "canceling" and b2.cancel_initiated_at is not None
            await asyncio.sleep(0.1)
            b2 = await c.messages.batches.retrieve(b2.id)
            assert b2.processing_status == "ended" and b2.request_counts.canceled == 4
            page = await c.messages.batches.list()
            assert {x.id for x in page.data} == {b.id, b2.id}
            await c.close()

        run(go())
        assert fake.counters.batch_create == 2 and fake.counters.batch_results == 1


def test_batch_rejects_bad_custom_ids() -> None:
    with fake_api() as fake:
        async def go() -> None:
            c = client(fake)
            with pytest.raises(anthropic.BadRequestError):
                await c.messages.batches.create(requests=[{"custom_id": "s1/critical/solo/1", "params": KW}])
            with pytest.raises(anthropic.BadRequestError):
                await c.messages.batches.create(requests=[{"custom_id": "a", "params": KW}] * 2)
            await c.close()

        run(go())


def test_keep_alive_and_throughput_at_concurrency_256() -> None:
    body = json.dumps(KW).encode()
    head = (f"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode()

    async def conn(port: int, n: int) -> int:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        ok = 0
        for _ in range(n):
            w.write(head + body)
            await w.drain()
            h = await r.readuntil(b"\r\n\r\n")
            cl = next(x for x in h.split(b"\r\n") if x.lower().startswith(b"content-length"))
            length = int(cl.split(b":")[1])
            payload = json.loads(await r.readexactly(length))
            ok += payload["type"] == "message"
        w.close()
        return ok

    with fake_api() as fake:
        async def go() -> tuple[int, float]:
            t0 = time.perf_counter()
            counts = await asyncio.gather(*(conn(fake.port, 16) for _ in range(256)))
            return sum(counts), time.perf_counter() - t0

        ok, took = run(go())
        assert ok == 4096
        assert fake.counters.connections == 256  # keep-alive: one connection per client
        assert fake.counters.max_inflight <= 256
        assert took < 10, f"{took:.1f}s for 4096 requests"


def test_runs_as_a_process_with_python_m() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "agenteval.testing.fake_api", "--port", "0",
                             "--latency-ms", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert "listening on http://127.0.0.1:" in line, line + (proc.stderr.read() if proc.stderr else "")
        url = line.strip().rsplit(" ", 1)[-1]
        with urllib.request.urlopen(url + "/health", timeout=5) as r:
            assert r.read() == b"ok"
        req = urllib.request.Request(url + "/v1/messages", data=json.dumps(KW).encode(),
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert json.loads(r.read())["type"] == "message"
    finally:
        proc.terminate()
        proc.wait(10)
