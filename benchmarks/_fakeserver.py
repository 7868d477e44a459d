"""The fake Anthropic API in its own process, for the benchmarks, with two extra bench-only routes.

``python benchmarks/_fakeserver.py --port 0 --latency-ms 100`` prints ``listening on URL`` once ready.
Besides everything :class:`agenteval.testing.fake_api.FakeAnthropicAPI` serves:

* ``GET /_bench/counters``: the fake's :class:`FakeCounters` as JSON (cache writes/reads per prefix...);
* ``POST /_bench/reset``: zero the counters and forget the prompt cache (between benchmark repeats).

Also used as a library by the other benchmarks: :func:`start_server` / :class:`FakeServer`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _serve(ns: argparse.Namespace) -> int:
    from agenteval.testing.fake_api import FakeAnthropicAPI, FakeAPIConfig

    class BenchFake(FakeAnthropicAPI):
        async def _dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes,
                            reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
            path = target.split("?", 1)[0].rstrip("/")
            if path == "/_bench/counters":
                await self._send_json(writer, 200, self.counters.snapshot())
                return True
            if path == "/_bench/reset":
                self.counters.reset()
                self.clear_prompt_cache()
                self.log.clear()
                await self._send_json(writer, 200, {"ok": True})
                return True
            return await super()._dispatch(method, target, headers, body, reader, writer)

    cfg = FakeAPIConfig(latency_ms=ns.latency_ms, latency_sigma=ns.latency_sigma,
                        ttfb_fraction=ns.ttfb_fraction, batch_duration_s=ns.batch_duration)
    fake = BenchFake(cfg, host="127.0.0.1", port=ns.port)
    fake.log = type(fake.log)(maxlen=1)  # the benchmarks read counters, not the per-request log

    def install_uvloop() -> None:
        if ns.uvloop:
            with contextlib.suppress(ImportError):
                import uvloop  # type: ignore[import-not-found]

                uvloop.install()

    return fake.serve_forever("listening on {url}", before=install_uvloop)


class FakeServer:
    """A running ``_fakeserver.py`` subprocess (``with FakeServer(latency_ms=100) as s: s.url``)."""

    def __init__(self, latency_ms: float = 0.0, *, latency_sigma: float = 0.0, ttfb_fraction: float = 0.3,
                 batch_duration: float = 0.5, cpu: int | None = None) -> None:
        self.args = ["--latency-ms", str(latency_ms), "--latency-sigma", str(latency_sigma),
                     "--ttfb-fraction", str(ttfb_fraction), "--batch-duration", str(batch_duration)]
        self.cpu = cpu
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def command(self) -> list[str]:
        """The server process's command line (a subclass may serve another script)."""
        return [sys.executable, str(HERE / "_fakeserver.py"), "--port", "0", *self.args]

    def __enter__(self) -> FakeServer:
        cmd = self.command()
        if self.cpu is not None and hasattr(os, "sched_setaffinity"):
            cmd = ["taskset", "-c", str(self.cpu), *cmd]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            self.__exit__()
            raise RuntimeError(f"fake server did not start: {line!r}")
        self.url = line.split()[-1]
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def _call(self, method: str, path: str) -> dict[str, Any]:
        req = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def counters(self) -> dict[str, Any]:
        """The fake's counters (requests, cache writes/reads per prefix, ...)."""
        return self._call("GET", "/_bench/counters")

    def reset(self) -> None:
        """Zero the counters and empty the prompt cache."""
        self._call("POST", "/_bench/reset")

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (user + system), from /proc."""
        if self.proc is None:
            return 0.0
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0


def wait_healthy(url: str, timeout: float = 10.0) -> None:
    """Block until ``url``/health answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--latency-sigma", type=float, default=0.0)
    ap.add_argument("--ttfb-fraction", type=float, default=0.3)
    ap.add_argument("--batch-duration", type=float, default=0.5)
    ap.add_argument("--uvloop", action="store_true", help="serve on uvloop if installed")
    return _serve(ap.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
