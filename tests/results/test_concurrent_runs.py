"""Runs that share a results directory, atomic JSON writes, the run lock, and results directories that
cannot take a run (a path under a regular file, a full or nearly full disk): a clear error before any API
call is spent."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agenteval.errors import ResultsDirError, RunLockedError
from agenteval.results import store
from agenteval.results.store import RunDir
from agenteval.testing.fake_api import FakeAnthropicAPI, FakeAPIConfig
from tests.conftest import REPO
from tests.run.test_storm import _agenteval, _env, _jsonl

SMALL = "audit-broken-pipeline"  # one scenario of the default suite: a handful of items


# ----------------------------------------------------------------------------- concurrent runs


def test_concurrent_runs_into_one_results_dir_get_distinct_run_ids(tmp_path: Path) -> None:
    out = tmp_path / "results"
    env = {**os.environ, "AGENTEVAL_CACHE_DIR": str(tmp_path / "cache")}
    procs = [subprocess.Popen([sys.executable, "-m", "agenteval.cli", "run", "--scenarios", SMALL, "--no-report",
                               "--output-dir", str(out)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [e for _, e in results]
    dirs = [Path(o.strip().splitlines()[-1]) for o, _ in results]
    assert len(set(dirs)) == 3 and sorted(dirs) == sorted(d.resolve() for d in out.iterdir())
    for d in dirs:
        manifest = json.loads((d / "manifest.json").read_text())
        assert manifest["run_id"] == d.name and manifest["status"] == "finished"
        plan = json.loads((d / "plan.json").read_text())
        assert len(_jsonl(d / "scores.jsonl")) == len(plan) == manifest["plan_size"]
        assert len(_jsonl(d / "transcripts.jsonl")) == len(plan)  # no run wrote into another's journal


def test_run_dirs_created_at_the_same_instant_are_distinct(tmp_path: Path) -> None:
    barrier = threading.Barrier(16)

    def make(_: int) -> list[str]:
        barrier.wait()
        return [RunDir.create(tmp_path, "card").run_id for _ in range(10)]

    with ThreadPoolExecutor(16) as ex:
        ids = [i for chunk in ex.map(make, range(16)) for i in chunk]
    assert len(ids) == len(set(ids)) == 160 and len(list(tmp_path.iterdir())) == 160


# ----------------------------------------------------------------------------- atomic writes


def _manifest(run_id: str, n: int) -> store.RunManifest:
    return store.RunManifest(run_id=run_id, started_at=store.utcnow(), agenteval_version="t",
                             card=store.CardInfo(path="c.md", name="c", version="1", content_hash="h"),
                             scenarios=[store.ScenarioInfo(id=f"s{i}", path=None, content_hash="h" * 40)
                                        for i in range(n)], backend={"name": "x"}, model="m")


def test_manifest_and_summary_are_written_via_temp_file_and_rename(tmp_path: Path, monkeypatch) -> None:
    rd = RunDir.create(tmp_path, "c")
    replaced: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        replaced.append((Path(src), Path(dst)))
        assert Path(src).exists() and Path(src).stat().st_size > 0  # written in full before the rename
        real_replace(src, dst)

    monkeypatch.setattr(store.os, "replace", spy)
    rd.write_manifest(_manifest(rd.run_id, 3))
    rd.write_summary({"counts": {"planned": 3}})
    assert [(s.parent, s.name.startswith(f".{d.name}."), d.name) for s, d in replaced] == [
        (rd.path, True, "manifest.json"), (rd.path, True, "summary.json")]
    assert sorted(os.listdir(rd.path)) == ["manifest.json", "summary.json"]


def test_a_write_that_fails_half_way_leaves_the_old_manifest_and_no_temp(tmp_path: Path, monkeypatch) -> None:
    rd = RunDir.create(tmp_path, "c")
    rd.write_manifest(_manifest(rd.run_id, 2))
    before = (rd.path / "manifest.json").read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "fsync", full)
    with pytest.raises(ResultsDirError, match=r"manifest\.json: cannot write: No space left on device"):
        rd.write_manifest(_manifest(rd.run_id, 50))
    assert (rd.path / "manifest.json").read_bytes() == before
    assert os.listdir(rd.path) == ["manifest.json"]


def test_readers_never_see_a_partial_manifest_or_summary(tmp_path: Path) -> None:
    rd = RunDir.create(tmp_path, "c")
    rd.write_manifest(_manifest(rd.run_id, 1))
    rd.write_summary({"n": 0})
    stop = threading.Event()
    bad: list[str] = []
    reads = [0]

    def reader() -> None:
        while not stop.is_set():
            for name in ("manifest.json", "summary.json"):
                text = (rd.path / name).read_text()
                reads[0] += 1
                try:
                    json.loads(text)
                except ValueError:
                    bad.append(text[-80:])

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(150):
            rd.write_manifest(_manifest(rd.run_id, 1 + (i * 37) % 200))  # sizes go up and down
            rd.write_summary({"n": i, "pad": "x" * ((i * 911) % 20000)})
    finally:
        stop.set()
        t.join()
    assert not bad and reads[0] > 0


# ----------------------------------------------------------------------------- the run lock


def test_two_processes_finding_the_same_stale_lock_do_not_both_take_it(tmp_path: Path, monkeypatch) -> None:
    """Both see the dead pid; without a guard the second deletes the first one's fresh lock and both run."""
    rd = RunDir.create(tmp_path, "c")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (rd.path / store.LOCK).write_text(str(dead.pid))
    real_read_pid = store._read_pid

    def slow_read_pid(lock: Path) -> int | None:  # widen the window between reading and taking over
        pid = real_read_pid(lock)
        time.sleep(0.2)
        return pid

    monkeypatch.setattr(store, "_read_pid", slow_read_pid)
    held, refused, peak = [0], [], [0]
    mu = threading.Lock()

    def worker() -> None:
        try:
            with rd.locked():
                with mu:
                    held[0] += 1
                    peak[0] = max(peak[0], held[0])
                time.sleep(0.4)
                with mu:
                    held[0] -= 1
        except RunLockedError as e:
            refused.append(str(e))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 1 and len(refused) == 1 and "in use by process" in refused[0]
    assert not (rd.path / store.LOCK).exists()


# ----------------------------------------------------------------------------- results dir checks


def _one_line_error(p: subprocess.CompletedProcess, *needles: str) -> None:
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agenteval: error: "), p.stderr
    for n in needles:
        assert n.lower() in p.stderr.lower(), p.stderr


def test_results_path_under_a_regular_file_fails_before_any_api_call(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with FakeAnthropicAPI(FakeAPIConfig()) as fake:
        p = _agenteval("run", "--backend", "anthropic", "--scenarios", SMALL, "--no-cache",
                       "--output-dir", str(blocker / "results"), env=_env(fake, tmp_path))
        _one_line_error(p, str(blocker / "results"), "cannot be created")
        assert fake.counters.requests == 0


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    if not shutil.which("mount"):
        pytest.skip("no `mount` command: cannot make a small filesystem to fill")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                       text=True)
    if p.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here ({p.stderr.strip() or p.returncode})")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(fs: Path) -> None:
    """Write zeros until the filesystem is full (unbuffered: nothing is left to flush on close)."""
    fd = os.open(fs / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                os.write(fd, b"\0" * 65536)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    finally:
        os.close(fd)
    assert shutil.disk_usage(fs).free < 65536


@pytest.mark.slow
def test_full_or_nearly_full_disk_fails_before_any_api_call(tmp_path: Path) -> None:
    with FakeAnthropicAPI(FakeAPIConfig(fault_500=1.0)) as fake, _tmpfs(tmp_path / "fs", "16m") as fs:
        env = _env(fake, tmp_path, AGENTEVAL_MAX_RETRIES="0")
        results = fs / "results"
        # a run that can start (16 MiB free) and ends with every item errored: something to resume
        p = _agenteval("run", "--backend", "anthropic", "--scenarios", SMALL, "--no-cache", "--no-report",
                       "--output-dir", str(results), env=env)
        assert p.returncode == 3, p.stderr[-2000:]
        run_dir = Path(p.stdout.strip().splitlines()[-1])
        journal = (run_dir / "transcripts.jsonl").read_bytes()

        _fill(fs)
        fake.config.fault_500 = 0.0
        asked = fake.counters.requests
        p = _agenteval("run", "--backend", "anthropic", "--scenarios", SMALL, "--no-cache",
                       "--output-dir", str(results), env=env)
        _one_line_error(p, str(results), "no space left on device")
        p = _agenteval("run", "--resume", str(run_dir), env=env)
        _one_line_error(p, "no space left on device")
        assert fake.counters.requests == asked  # not one API call spent
        assert (run_dir / "transcripts.jsonl").read_bytes() == journal
        assert sorted(x.name for x in results.iterdir()) == [run_dir.name]  # no new run directory

        (fs / "filler").unlink()  # space again: the resume now runs (and the failed one left no stale lock)
        p = _agenteval("run", "--resume", str(run_dir), env=env)
        assert p.returncode == 0, p.stderr[-2000:]

    with FakeAnthropicAPI(FakeAPIConfig()) as fake, _tmpfs(tmp_path / "fs2", "1m") as fs:
        p = _agenteval("run", "--backend", "anthropic", "--scenarios", SMALL, "--no-cache",
                       "--output-dir", str(fs / "results"), env=_env(fake, tmp_path))
        _one_line_error(p, "bytes free on the device (need")
        assert fake.counters.requests == 0
