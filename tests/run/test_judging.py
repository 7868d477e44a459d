"""Judge verdicts that replay: export the exact requests, import verdicts answered elsewhere (checked, with
provenance), replay them offline in ``run``/``score``/``validate-scorers``; a live judge through the backend
layer over real HTTP against the loopback fake; bad verdict files are one-line exit-2 errors that import
nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agenteval.cli import main
from agenteval.testing.fake_api import FakeAnthropicAPI, FakeAPIConfig
from tests.conftest import REPO

SCENARIO = "audit-broken-pipeline"


def _responses(path: Path, texts: dict[str, str]) -> Path:
    rows = [{"id": k, "scenario_id": SCENARIO, "mode": "critical", "role": "solo", "response": v}
            for k, v in texts.items()]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _answer(req_line: dict[str, Any], fail: set[str] = frozenset()) -> dict[str, Any]:
    keys = req_line["request"]["output_config"]["format"]["schema"]["required"]
    return {"request_hash": req_line["request_hash"],
            "verdicts": {k: {"reason": f"because {k}", "verdict": "fail" if k in fail else "pass"} for k in keys}}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture
def exported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.chdir(REPO)
    resp = _responses(tmp_path / "in.jsonl", {"a": "## Summary\nAll fine, ship it.", "b": "## Summary\nNo rollback."})
    req = tmp_path / "requests.jsonl"
    assert main(["judge", "export", "--responses", str(resp), "--out", str(req)]) == 0
    return resp, req


def test_export_writes_the_exact_request_and_its_hash(exported: tuple[Path, Path]) -> None:
    from agenteval.scorers.judge import request_hash

    _, req = exported
    rows = _jsonl(req)
    assert [r["id"] for r in rows] == ["a", "b"]
    for r in rows:
        assert set(r) == {"id", "request_hash", "request"}
        assert {"system", "messages", "output_config", "model", "max_tokens"} <= set(r["request"])
        assert r["request_hash"] == request_hash(r["request"])
        assert "never-policy.md" in r["request"]["system"][0]["text"]  # the config's policy is in the request


def test_import_then_replay_score_uses_recorded_verdicts(exported: tuple[Path, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    resp, req = exported
    rows = _jsonl(req)
    verdicts = _write(tmp_path / "v.jsonl", [_answer(rows[0]), _answer(rows[1], {"never_5"})])
    store = tmp_path / "judgements"
    assert main(["judge", "import", "--requests", str(req), "--verdicts", str(verdicts), "--producer", "a person",
                 "--method", "read each answer", "--to", str(store)]) == 0
    (f,) = store.glob("*.jsonl")
    rec = _jsonl(f)
    assert {r["producer"] for r in rec} == {"a person"} and {r["method"] for r in rec} == {"read each answer"}
    assert all(r["imported_at"] and r["id"] in ("a", "b") for r in rec)
    out = tmp_path / "scores.jsonl"
    assert main(["score", "--responses", str(resp), "--out", str(out), "--judge", "replay",
                 "--judgements", str(store)]) == 0
    got = {r["id"]: r for r in _jsonl(out)}
    assert got["a"]["never_source"] == "judge" and got["a"]["never_violations"] == []
    assert got["b"]["never_violations"] == ["never.5"] and "never_screen" in got["b"]
    assert "recorded: a person" in next(c["reason"] for c in got["b"]["checks"] if c["id"] == "never.5")
    # a new answer text is never given another's verdict: it falls back to the screen, judge_missing
    resp2 = _responses(tmp_path / "in2.jsonl", {"a": "## Summary\nAll fine, ship it!"})
    assert main(["score", "--responses", str(resp2), "--out", str(out), "--judge", "replay",
                 "--judgements", str(store)]) == 0
    (row,) = _jsonl(out)
    assert row["never_source"] == "screen" and row["judge_missing"] is True
    assert "1 without a verdict (judge_missing)" in capsys.readouterr().err


@pytest.mark.parametrize(("bad", "needle"), [
    ("unknown_key", "unknown rubric key"),
    ("missing_key", "missing rubric key"),
    ("bad_verdict", "verdict"),
    ("not_json", "not valid JSON"),
    ("foreign_hash", "is not in requests.jsonl"),
])
def test_bad_verdict_lines_are_exit_2_and_import_nothing(exported: tuple[Path, Path], tmp_path: Path, bad: str,
                                                         needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    _, req = exported
    rows = _jsonl(req)
    good, second = _answer(rows[0]), _answer(rows[1])
    if bad == "unknown_key":
        second["verdicts"]["never_99"] = {"reason": "x", "verdict": "pass"}
    elif bad == "missing_key":
        del second["verdicts"]["never_3"]
    elif bad == "bad_verdict":
        second["verdicts"]["never_3"]["verdict"] = "maybe"
    elif bad == "not_json":
        second = "{this is not json"
    elif bad == "foreign_hash":
        second["request_hash"] = "sha256:" + "0" * 64
    verdicts = _write(tmp_path / "v.jsonl", [good, second])
    store = tmp_path / "judgements"
    code = main(["judge", "import", "--requests", str(req), "--verdicts", str(verdicts), "--producer", "p",
                 "--method", "m", "--to", str(store)])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and "v.jsonl:2" in lines[0] and needle in lines[0] and "Traceback" not in err
    assert not store.exists() or not list(store.iterdir())


def test_replay_run_reports_judge_missing_in_the_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    out = tmp_path / "results"
    empty = tmp_path / "none"
    code = main(["run", "--scenarios", SCENARIO, "--modes", "critical", "--output-dir", str(out), "--no-report",
                 "--judge", "replay", "--judgements", str(empty)])
    assert code == 0
    (rd,) = out.iterdir()
    summary = json.loads((rd / "summary.json").read_text())
    lines = _jsonl(rd / "scores.jsonl")
    ok = [ln for ln in lines if ln["status"] == "ok"]
    assert ok and all(ln["judge_missing"] and ln["never_source"] == "screen" for ln in ok)
    assert summary["counts"]["judge_missing"] == len(ok)
    assert summary["never_source"] == {"screen": len(ok)}


def test_live_judge_goes_through_the_backend_and_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    resp = _responses(tmp_path / "in.jsonl", {"a": "## Summary\nShip it now. FAKE-VERDICT:never_5=fail",
                                               "b": "## Summary\nFine."})
    out = tmp_path / "out.jsonl"
    with FakeAnthropicAPI(FakeAPIConfig(require_api_key="test-key-123", retry_after_s=0.01)) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-123")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        fake.script(["429", None])  # the backend's retry policy applies to the judge too
        args = ["score", "--responses", str(resp), "--out", str(out), "--judge", "sonnet",
                "--cache-dir", str(tmp_path / "cache")]
        assert main(args) == 0
        sent = fake.counters.messages
        assert sent == 3  # two answers, one retried after a 429
        assert main(args) == 0
        assert fake.counters.messages == sent  # answered from the backend's response cache
    got = {r["id"]: r for r in _jsonl(out)}
    assert got["a"]["never_violations"] == ["never.5"] and got["a"]["never_source"] == "judge"
    assert got["b"]["never_violations"] == [] and got["b"]["never_source"] == "judge"


def test_record_judgements_mark_a_non_default_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agenteval.inputs.card import load_card
    from agenteval.run.judging import JudgeSettings, Subject, judge_outcomes
    from agenteval.scorers import ScoreContext

    card = load_card(REPO / "cards" / "mlops-engineer.md")
    store = tmp_path / "judgements"
    with FakeAnthropicAPI(FakeAPIConfig()) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        subj = [Subject("x", "text", ScoreContext(scenario_id="s", mode="critical", role="solo"))]
        outs, rep = judge_outcomes(subj, card, JudgeSettings("sonnet", record_to=store, use_cache=False,
                                                             policy=REPO / "docs" / "never-policy.md"))
    assert rep.answered == 1 and outs[0].verdicts is not None
    (f,) = store.glob("*.jsonl")
    (line,) = _jsonl(f)
    assert line["producer"].startswith("endpoint http://127.0.0.1") and "not the Anthropic API" in line["method"]
    # and it replays offline, matched by the request hash
    outs2, rep2 = judge_outcomes(subj, card, JudgeSettings("replay", judgements=store,
                                                           policy=REPO / "docs" / "never-policy.md"))
    assert rep2.answered == 1 and outs2[0].verdicts == outs[0].verdicts


def test_live_judge_without_key_is_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    resp = _responses(tmp_path / "in.jsonl", {"a": "x"})
    for argv in (["score", "--responses", str(resp), "--out", str(tmp_path / "o.jsonl"), "--judge", "sonnet"],
                 ["run", "--judge", "sonnet", "--output-dir", str(tmp_path / "results")],
                 ["validate-scorers", "--judge", "sonnet"]):
        assert main(argv) == 2
        err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
        assert len(err) == 1 and "ANTHROPIC_API_KEY" in err[0]
    assert not (tmp_path / "o.jsonl").exists() and not (tmp_path / "results").exists()
