"""Message Batches through the Anthropic backend against the fake API: round trip, chunking, resume."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from agenteval.backends.anthropic import BatchProgress, custom_id_for
from agenteval.backends.base import BackendResult
from agenteval.backends.pricing import cost_usd
from agenteval.plan.matrix import PlanItem
from fakeapi_fixtures import fake_api, make_backend, make_pair, run

PAIRS = [make_pair(f"s{i}", mode) for i in range(4) for mode in ("critical", "generative", "evaluative")]


def cid_of(pair: tuple[PlanItem, Any]) -> str:
    item, req = pair
    return custom_id_for(item, req.request_hash(item.epoch))


class Recorder:
    """Collects what run_batch reports, in order."""

    def __init__(self) -> None:
        self.results: dict[str, BackendResult] = {}
        self.submitted: list[str] = []
        self.progress: list[BatchProgress] = []
        self.events: list[str] = []

    async def on_result(self, item: PlanItem, result: BackendResult) -> None:
        assert item.id not in self.results, f"{item.id} delivered twice"
        self.results[item.id] = result
        self.events.append("result")

    def on_submitted(self, batch_id: str) -> None:
        self.submitted.append(batch_id)
        self.events.append("submitted")

    def on_progress(self, p: BatchProgress) -> None:
        self.progress.append(p)


def test_batch_round_trip_with_errored_and_expired_items(tmp_path: Path) -> None:
    outcomes = {cid_of(PAIRS[1]): "errored", cid_of(PAIRS[2]): "expired", cid_of(PAIRS[3]): "canceled"}
    with fake_api(batch_duration_s=0.3, batch_outcome=outcomes) as fake:
        rec = Recorder()

        async def go() -> None:
            b = make_backend(fake, tmp_path)
            summary = await b.run_batch(PAIRS, rec.on_result, on_submitted=rec.on_submitted,
                                        on_progress=rec.on_progress, poll_interval_s=0.05)
            assert summary.submitted == 12 and len(summary.batch_ids) == 1
            assert (summary.succeeded, summary.errored, summary.expired, summary.canceled) == (9, 1, 1, 1)
            assert summary.missing == 0 and summary.unmatched == 0
            assert summary.cost_usd == pytest.approx(sum(r.cost_usd or 0 for r in rec.results.values()))
            assert rec.submitted == summary.batch_ids
            await b.aclose()

        run(go())
        assert fake.counters.batch_create == 1 and fake.counters.messages == 0
        assert fake.counters.batch_requests == 12
    assert rec.events[0] == "submitted" and len(rec.submitted) == 1
    assert rec.progress[0].processing_status == "in_progress"
    assert rec.progress[-1].processing_status == "ended"
    assert rec.progress[-1].total == 12
    assert len(rec.results) == 12
    r_ok = rec.results[PAIRS[0][0].id]
    assert r_ok.status == "ok" and r_ok.text and r_ok.provenance
    assert r_ok.provenance["batch_id"] == summary_id(rec) and r_ok.provenance["custom_id"] == cid_of(PAIRS[0])
    assert r_ok.cost_usd == pytest.approx(cost_usd(r_ok.model or "", r_ok.usage, batch=True))
    assert r_ok.cost_usd == pytest.approx((cost_usd(r_ok.model or "", r_ok.usage) or 0) / 2)
    errored = rec.results[PAIRS[1][0].id]
    assert errored.status == "error" and errored.error_type == "batch_errored"
    assert errored.error and errored.error.startswith("batch request errored: invalid_request_error: ")
    assert rec.results[PAIRS[2][0].id].error_type == "batch_expired"
    assert rec.results[PAIRS[3][0].id].error_type == "batch_canceled"


def summary_id(rec: Recorder) -> str:
    return rec.submitted[0]


def test_batch_answers_fill_the_response_cache(tmp_path: Path) -> None:
    with fake_api(batch_duration_s=0.05) as fake:
        async def go() -> None:
            b = make_backend(fake, tmp_path)
            await b.run_batch(PAIRS[:3], Recorder().on_result, poll_interval_s=0.02)
            rec = Recorder()
            summary = await b.run_batch(PAIRS[:3], rec.on_result, poll_interval_s=0.02)
            assert summary.cached == 3 and summary.submitted == 0 and summary.batch_ids == []
            assert all(r.cached and r.status == "ok" for r in rec.results.values())
            live = await b.generate(PAIRS[0][1], PAIRS[0][0])
            assert live.cached
            await b.aclose()

        run(go())
        assert fake.counters.batch_create == 1 and fake.counters.messages == 0


def test_batches_are_split_at_the_request_limit() -> None:
    with fake_api(batch_duration_s=0.05) as fake:
        rec = Recorder()

        async def go() -> None:
            b = make_backend(fake)
            summary = await b.run_batch(PAIRS, rec.on_result, on_submitted=rec.on_submitted,
                                        on_progress=rec.on_progress, poll_interval_s=0.02,
                                        max_requests_per_batch=5)
            assert len(summary.batch_ids) == 3 and summary.succeeded == 12
            await b.aclose()

        run(go())
        sizes = {p.batch_id: p.total for p in rec.progress}
        assert [sizes[i] for i in rec.submitted] == [5, 5, 2]
        assert fake.counters.batch_create == 3 and fake.counters.batch_requests == 12


def test_resume_of_a_half_polled_batch_does_not_resubmit(tmp_path: Path) -> None:
    with fake_api(batch_duration_s=0.6) as fake:
        first = Recorder()

        async def interrupted() -> None:
            b = make_backend(fake, tmp_path)
            task = asyncio.create_task(b.run_batch(PAIRS, first.on_result, on_submitted=first.on_submitted,
                                                   on_progress=first.on_progress, poll_interval_s=0.05))
            while len(first.progress) < 2:  # half-polled: submitted and polled, not ended
                await asyncio.sleep(0.01)
            task.cancel()  # the process dies here
            with pytest.raises(asyncio.CancelledError):
                await task
            await b.aclose()

        run(interrupted())
        assert first.results == {} and len(first.submitted) == 1
        saved = list(first.submitted)  # what the run manifest kept

        second = Recorder()

        async def resumed() -> None:
            b = make_backend(fake, tmp_path)  # a new process: nothing in memory
            summary = await b.run_batch(PAIRS, second.on_result, on_submitted=second.on_submitted,
                                        resume_batch_ids=saved, poll_interval_s=0.05)
            assert summary.resumed_batch_ids == saved and summary.batch_ids == []
            assert summary.submitted == 0 and summary.succeeded == 12
            await b.aclose()

        run(resumed())
        assert fake.counters.batch_create == 1
        assert second.submitted == [] and len(second.results) == 12
        assert all(r.status == "ok" for r in second.results.values())


def test_resume_submits_what_the_old_batches_did_not_hold() -> None:
    with fake_api(batch_duration_s=0.05) as fake:
        async def go() -> None:
            b = make_backend(fake)
            rec = Recorder()
            await b.run_batch(PAIRS[:4], rec.on_result, on_submitted=rec.on_submitted, poll_interval_s=0.02)
            old = list(rec.submitted)
            rec2 = Recorder()
            summary = await b.run_batch(PAIRS, rec2.on_result, on_submitted=rec2.on_submitted,
                                        resume_batch_ids=[*old, "msgbatch_gone"], poll_interval_s=0.02)
            assert summary.succeeded == 12 and summary.submitted == 8
            assert len(rec2.submitted) == 1 and len(rec2.results) == 12
            await b.aclose()

        run(go())
        assert fake.counters.batch_create == 2 and fake.counters.batch_requests == 4 + 8


def test_cancel_batch_cancels_what_is_not_processed() -> None:
    with fake_api(batch_duration_s=5.0, batch_cancel_delay_s=0.05) as fake:
        rec = Recorder()

        async def go() -> None:
            b = make_backend(fake)

            async def cancel_when_submitted(batch_id: str) -> None:
                rec.on_submitted(batch_id)
                assert await b.cancel_batch(batch_id) == "canceling"

            summary = await b.run_batch(PAIRS[:3], rec.on_result, on_submitted=cancel_when_submitted,
                                        poll_interval_s=0.02)
            assert summary.canceled == 3
            await b.aclose()

        run(go())
        assert fake.counters.batch_cancel == 1
        assert {r.error_type for r in rec.results.values()} == {"batch_canceled"}


def test_batch_submission_failure_is_reported_per_item() -> None:
    bad = [(item, req.model_copy(update={"messages": []})) for item, req in PAIRS[:2]]
    with fake_api() as fake:
        rec = Recorder()

        async def go() -> None:
            b = make_backend(fake)
            summary = await b.run_batch(bad, rec.on_result, poll_interval_s=0.02)
            assert summary.failed_submission == 2 and summary.batch_ids == []
            await b.aclose()

        run(go())
        assert all(r.status == "error" and (r.error or "").startswith("batch submission failed: 400")
                   for r in rec.results.values())
