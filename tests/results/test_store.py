from __future__ import annotations

import os
import subprocess
import sys

import pytest

from agenteval.errors import InputError, ResultsDirError, RunLockedError
from agenteval.results.store import RunDir, TranscriptRecord, atomic_write_json, check_writable, read_jsonl
from agenteval.run.runner import redact_argv


def rec(i: int, status: str = "ok") -> TranscriptRecord:
    return TranscriptRecord(item_id=f"s/m/r/{i}", scenario_id="s", mode="m", role="r", epoch=i, tool_mode="audit",
                            status=status, response="x")


def test_run_ids_are_unique(tmp_path):
    ids = {RunDir.create(tmp_path, "card").run_id for _ in range(50)}
    assert len(ids) == 50


def test_journal_torn_tail_and_latest(tmp_path):
    rd = RunDir.create(tmp_path, "c")
    j = rd.journal()
    j.append(rec(1, "error"))
    j.append(rec(2))
    j.append(rec(1))
    j.close()
    with open(rd.path / "transcripts.jsonl", "a") as fh:
        fh.write('{"item_id": "s/m/r/3", "scen')
    latest = rd.latest_transcripts()
    assert set(latest) == {"s/m/r/1", "s/m/r/2"}
    assert latest["s/m/r/1"].status == "ok"  # later attempt supersedes
    assert rd.repair_journal() > 0
    assert (rd.path / "transcripts.jsonl").read_bytes().endswith(b"\n")
    assert rd.repair_journal() == 0


def test_broken_line_in_middle_is_an_error(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"a": 1}\nnot json\n{"b": 2}\n')
    with pytest.raises(InputError) as ei:
        read_jsonl(p, tolerate_torn_tail=True)
    assert ei.value.line == 2


def test_atomic_write_leaves_no_temp(tmp_path):
    atomic_write_json(tmp_path / "m.json", {"a": 1})
    assert os.listdir(tmp_path) == ["m.json"]


def test_lock_refuses_second_live_holder(tmp_path):
    rd = RunDir.create(tmp_path, "c")
    (rd.path / "manifest.json").write_text("{}")
    with rd.locked():
        # another process holding the lock: simulate with a live child pid
        pass
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (rd.path / ".lock").write_text(str(child.pid))
        with pytest.raises(RunLockedError, match="in use"), rd.locked():
            pass
    finally:
        child.kill()
        child.wait()
    with rd.locked():  # stale lock of a dead process is taken over
        assert (rd.path / ".lock").read_text() == str(os.getpid())


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_unwritable_results_dir(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    with pytest.raises(ResultsDirError):
        check_writable(d)


def test_results_path_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ResultsDirError):
        check_writable(f)


def test_redact_argv(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-SECRETSECRET")
    argv = ["agenteval", "run", "--api-key", "abc", "--token=xyz", "sk-ant-api03-SECRETSECRET", "KEY=1",
            "api_key=zzz", "--modes", "critical"]
    out = redact_argv(argv)
    joined = " ".join(out)
    for secret in ("abc", "xyz", "SECRETSECRET", "zzz"):
        assert secret not in joined
    assert out[-2:] == ["--modes", "critical"]
