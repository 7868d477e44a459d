"""The API key never appears in anything agenteval writes or prints.

Live runs with a recognisable fake key: against the fake API a good run (report and response cache on),
a dry run (count_tokens), a run failing on a spend limit and its resume (partly from the response cache);
then against an endpoint that quotes the key back in its 401 / spend-limit / 400 errors or drops the
connection, a failing run and a dry run. Every byte written under the test's folder (results, response
cache, cache home) and every byte of stdout/stderr is searched.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agenteval.inputs.card import load_card
from agenteval.plan.matrix import build_plan
from agenteval.run import runner
from agenteval.testing.fake_api import FakeAnthropicAPI, FakeAPIConfig
from tests.conftest import CARD, REPO
from tests.run.test_storm import _agenteval, _env

SMALL = "audit-broken-pipeline"
CANARY = secrets.token_hex(12)
KEY = f"sk-ant-api03-LEAKCANARY{CANARY}-xYz_AA"


def _with_key(env: dict[str, str], **extra: str) -> dict[str, str]:
    return {**env, "ANTHROPIC_API_KEY": KEY, **extra}


class _Hostile(BaseHTTPRequestHandler):
    """An endpoint that fails every request, quoting the credentials it was sent in the error message:
    in turn a 401, a spend-limit 429, a 400, and a dropped connection."""

    protocol_version = "HTTP/1.1"
    calls = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        key = self.headers.get("x-api-key") or self.headers.get("authorization") or ""
        assert KEY in key  # the client did send it: quoting it back is a real leak risk
        kind = _Hostile.calls % 4
        _Hostile.calls += 1
        if kind == 3:
            self.close_connection = True  # no answer at all: a connection error
            return
        status, etype, extra = ((401, "authentication_error", {}),
                                (429, "rate_limit_error", {"details": {"error_code": "enforced_spend_limit_reached"}}),
                                (400, "invalid_request_error", {}))[kind]
        err = {"type": etype, "message": f"request refused for credentials {key} (x-api-key: {key})", **extra}
        data = json.dumps({"type": "error", "error": err}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-should-retry", "false")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _hostile_server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def _scan(root: Path, outputs: list[str]) -> int:
    """Assert the key (or its secret part) is nowhere under ``root`` nor in ``outputs``; count the files."""
    needles = (KEY.encode(), CANARY.encode())
    n = 0
    for f in root.rglob("*"):
        if f.is_file():
            n += 1
            data = f.read_bytes()
            for needle in needles:
                assert needle not in data, f"the API key leaked into {f}"
    for i, text in enumerate(outputs):
        for needle in needles:
            assert needle.decode() not in text, f"the API key leaked into output #{i}: {text[-500:]}"
    return n


@pytest.mark.slow
def test_the_api_key_is_never_written_or_printed(tmp_path: Path) -> None:
    outputs: list[str] = []
    out = tmp_path / "results"
    rcache = tmp_path / "response-cache"

    def ok(p: subprocess.CompletedProcess, code: int = 0) -> Path:
        outputs.extend([p.stdout, p.stderr])
        assert p.returncode == code, (p.returncode, p.stderr[-2000:])
        return Path(p.stdout.strip().splitlines()[-1])

    live = ["run", "--backend", "anthropic", "--scenarios", SMALL, "--output-dir", str(out)]
    with FakeAnthropicAPI(FakeAPIConfig(require_api_key=KEY)) as fake:
        env = _with_key(_env(fake, tmp_path), AGENTEVAL_MAX_RETRIES="0")
        # a good run: journal, scores, summary, report and response cache all written
        good = ok(_agenteval(*live, "--modes", "critical,evaluative", "--cache-dir", str(rcache), env=env))
        assert (good / "report.html").is_file() and (good / "report.md").is_file()
        assert any(rcache.rglob("*.json")), "the response cache was written"
        # a dry run counts tokens with the API
        p = _agenteval(*live, "--dry-run", env=env)
        ok(p)
        assert fake.counters.count_tokens > 0 and "count_tokens" in p.stdout
        # a run failing on a spend limit (as the fake API words it), then resumed from the response cache
        # and the API once the limit is lifted (the manifest is rewritten with the resume's command line)
        fake.config.fault_spend_limit = 1.0
        spent = ok(_agenteval(*live, "--cache-dir", str(rcache), "--no-report", env=env), 3)
        spent_errors = [json.loads(ln)["error"] for ln in (spent / "scores.jsonl").read_text().splitlines()]
        fake.config.fault_spend_limit = 0.0
        ok(_agenteval("run", "--resume", str(spent), env=env))
        resumed = [json.loads(ln) for ln in (spent / "transcripts.jsonl").read_text().splitlines()]
        assert any(r["cached"] for r in resumed) and any(r["status"] == "ok" and not r["cached"] for r in resumed)
        assert json.loads((spent / "manifest.json").read_text())["command"][:3] == ["agenteval", "run", "--resume"]

    # an endpoint that quotes the key back in 401 / spend-limit / 400 errors, or drops the connection
    with _hostile_server() as url:
        hostile_env = {**env, "ANTHROPIC_BASE_URL": url}
        hostile = ok(_agenteval(*live, "--no-cache", env=hostile_env), 3)
        p = _agenteval(*live, "--dry-run", env=hostile_env)
        ok(p)
        assert "count_tokens failed" in p.stdout

    files = _scan(tmp_path, outputs)
    assert files >= 20, files
    spent_errors = [e for e in spent_errors if e]  # the cells of the good run came from the response cache
    assert spent_errors and all("spend limit reached" in e for e in spent_errors)
    errors = [json.loads(ln)["error"] for ln in (hostile / "scores.jsonl").read_text().splitlines()]
    for cause in ("401 authentication_error", "spend limit reached", "400 invalid_request_error",
                  "connection error"):
        assert any(cause in (e or "") for e in errors), (cause, errors[:4])
    assert any("***" in (e or "") for e in errors)  # the quoted key was redacted, the rest kept
    assert json.loads((good / "manifest.json").read_text())["backend"]["api_key_set"] is True


def test_the_command_line_in_the_manifest_is_redacted(tmp_path: Path, monkeypatch) -> None:
    """A key given on the command line (``--api-key K``, ``--token=K``, ``api_key=K``, bare) is redacted."""
    card = load_card(CARD)
    with FakeAnthropicAPI(FakeAPIConfig(require_api_key=KEY)) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        monkeypatch.setenv("AGENTEVAL_CACHE_DIR", str(tmp_path / "cache-home"))
        argv = ["agenteval", "run", "--api-key", KEY, f"--token={KEY}", f"api_key={KEY}", KEY,
                "--scenarios", SMALL]
        settings = runner.RunSettings(backend="anthropic", model=card.model or "sonnet", scenarios=[SMALL],
                                      modes=["critical"], roles=["solo"], use_cache=False, report=True)
        rd, summary, code = runner.start_run(
            card_path=str(CARD), scenario_paths=[str(REPO / "scenarios")],
            fixtures_dir=str(REPO / "scenarios" / "fixtures"), results_dir=str(tmp_path / "results"),
            settings=settings, command=argv,
            plan_builder=lambda c, s: build_plan(c, s, scenario_ids=[SMALL], modes=["critical"], roles=["solo"]))
        assert code == 0 and summary["counts"]["ok"] >= 1 and fake.counters.messages >= 1
    command = json.loads((rd.path / "manifest.json").read_text())["command"]
    assert command == ["agenteval", "run", "--api-key", "***", "--token=***", "api_key=***", "***",
                       "--scenarios", SMALL]
    _scan(tmp_path, [])
