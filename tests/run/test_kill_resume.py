"""``kill -9`` of a live run half way, a torn journal line, then ``agenteval run --resume`` twice at once.

The fake API logs every ``POST /v1/messages`` with the prompt's hash, which identifies the plan item
(every cell of the default suite has its own prompt; one epoch). That log proves that no item's answer
was requested twice except the ones in flight when the run was killed.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agenteval.plan.matrix import PlanItem
from agenteval.testing.fake_api import FakeAnthropicAPI, FakeAPIConfig, default_generator
from tests.conftest import REPO
from tests.run.test_storm import _env, _jsonl, prompt_keys

CONCURRENCY = 8


def _popen(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log.with_suffix(".out"), "w") as out, open(log.with_suffix(".err"), "w") as err:
        return subprocess.Popen([sys.executable, "-m", "agenteval.cli", *args], cwd=REPO, env=env, stdout=out,
                                stderr=err)


def _wait_for(pred: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_kill9_half_way_then_resume_requests_only_what_was_in_flight(tmp_path: Path) -> None:
    release = threading.Event()
    release.set()

    def generator(body: dict[str, Any]) -> str:  # lets the test hold the resumed run in mid-flight
        release.wait(60)
        return default_generator(body)

    out = tmp_path / "results"
    with FakeAnthropicAPI(FakeAPIConfig(latency_ms=60, generator=generator)) as fake:
        env = _env(fake, tmp_path, AGENTEVAL_TIMEOUT_S="60", AGENTEVAL_MAX_RETRIES="2")
        run = _popen(["run", "--backend", "anthropic", "--concurrency", str(CONCURRENCY), "--no-cache",
                      "--no-report", "--output-dir", str(out)], env, tmp_path / "run")
        try:
            run_dir = _wait_for(lambda: next(iter(out.glob("*/plan.json")), None), 60, "the run directory").parent
            planned = len(json.loads((run_dir / "plan.json").read_text()))
            journal = run_dir / "transcripts.jsonl"

            def lines() -> int:
                return journal.read_bytes().count(b"\n") if journal.exists() else 0

            _wait_for(lambda: lines() >= planned // 2, 120, "half of the plan in the journal")
            os.kill(run.pid, signal.SIGKILL)
        finally:
            run.kill()
            run.wait(30)
        assert run.returncode == -signal.SIGKILL
        time.sleep(0.3)  # the fake finishes (and logs) the requests the dead run had in flight

        data = journal.read_bytes()
        finished_before_kill = data.count(b"\n")
        assert planned // 2 <= finished_before_kill < planned
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["status"] == "running"  # nothing ran after the kill
        assert int((run_dir / ".lock").read_text()) == run.pid  # a stale lock, left by the dead process

        # a torn last line. A record is one write(), so SIGKILL seldom tears one by itself: cut the last
        # record in half, as a crash in the middle of writing it would have
        torn_item = None
        if data.endswith(b"\n"):
            last = data[:-1][data[:-1].rfind(b"\n") + 1:]
            torn_item = json.loads(last)["item_id"]
            journal.write_bytes(data[: len(data) - 1 - len(last)] + last[: len(last) // 2])
            finished_before_kill -= 1
        completed = {json.loads(ln)["item_id"] for ln in journal.read_bytes().split(b"\n")[:-1]}
        assert not journal.read_bytes().endswith(b"\n") and len(completed) == finished_before_kill

        # two resumes at once: exactly one runs, the other is refused by the lock
        release.clear()
        asked_before = fake.counters.messages
        t_resume = time.monotonic()
        first = _popen(["run", "--resume", str(run_dir)], env, tmp_path / "resume1")
        try:
            _wait_for(lambda: fake.counters.messages > asked_before, 60, "the first resume to send a request")
            assert (run_dir / ".lock").read_text() == str(first.pid)
            second = _popen(["run", "--resume", str(run_dir)], env, tmp_path / "resume2")
            assert second.wait(120) == 2
            assert first.poll() is None  # still held in mid-flight by the fake
        finally:
            release.set()
        assert first.wait(120) == 0, (tmp_path / "resume1.err").read_text()[-3000:]
        err2 = (tmp_path / "resume2.err").read_text()
        assert err2.startswith("agenteval: error: ") and len(err2.strip().splitlines()) == 1, err2
        assert f"in use by process {first.pid}" in err2 and ".lock" in err2 and "Traceback" not in err2

        # the fake's log: who was asked what, when
        keys = prompt_keys(run_dir)
        assert len(set(keys.values())) == planned  # the prompt identifies the item
        item_of = {v: k for k, v in keys.items()}
        entries = list(fake.log)
        phase1 = collections.Counter(item_of[e.key] for e in entries if e.t < t_resume)
        phase2 = collections.Counter(item_of[e.key] for e in entries if e.t >= t_resume)
        assert set(phase1.values()) == {1} and set(phase2.values()) == {1}  # nothing asked twice in a run
        in_flight = set(phase1) - completed  # asked before the kill, no complete record in the journal
        if torn_item is not None:
            assert torn_item in in_flight
        assert len(in_flight - {torn_item}) <= CONCURRENCY
        requested_twice = set(phase1) & set(phase2)
        assert requested_twice == in_flight
        assert set(phase2) == set(keys) - completed  # the resume asked for exactly what was not done
        assert all(e.status == 200 for e in entries)

        # exactly one result per planned item; the journal is whole again
        plan_ids = [PlanItem.model_validate(x).id for x in json.loads((run_dir / "plan.json").read_text())]
        final = _jsonl(journal)  # raises on a torn line anywhere
        assert sorted(r["item_id"] for r in final) == sorted(plan_ids)
        assert all(r["status"] == "ok" for r in final)
        scores = _jsonl(run_dir / "scores.jsonl")
        assert [s["id"] for s in scores] == plan_ids and {s["status"] for s in scores} == {"ok"}
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["status"] == "finished" and len(manifest["resumed"]) == 1
        assert not (run_dir / ".lock").exists()
        print(f"\nKILL -9: planned {planned}, finished before the kill {finished_before_kill} "
              f"(+ {'1 torn by the test' if torn_item else '1 torn by the kill'}), in flight at the kill "
              f"{len(in_flight - {torn_item})}, requested twice {len(requested_twice)} "
              f"(in flight + torn), requested once {len(set(keys) - requested_twice)}")
