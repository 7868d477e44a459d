"""A fake Anthropic API on 127.0.0.1 for tests, demos and benchmarks.

It speaks enough HTTP/1.1 (keep-alive, ``Content-Length`` or chunked bodies) for the official SDK to
parse every answer, on plain asyncio streams so that its own cost per request stays small (thousands of
requests a second at concurrency 256). Endpoints:

* ``POST /v1/messages`` (JSON, or server-sent events when ``"stream": true``);
* ``POST /v1/messages/count_tokens``;
* ``POST /v1/messages/batches``, ``GET /v1/messages/batches[/{id}]``, ``GET .../{id}/results`` (JSONL, via
  the batch's ``results_url``), ``POST .../{id}/cancel``, ``DELETE .../{id}``;
* ``GET /health``.

Behaviour, all set through :class:`FakeAPIConfig`:

* **Answers** come from ``recordings`` (a mapping keyed by :func:`prompt_key` of the request, i.e. the
  same ``sha256:`` hash as :meth:`agenteval.plan.prompt.LLMRequest.prompt_hash`, or by ``recording_key``), else
  from ``generator`` (request JSON -> text, or a dict with ``text``/``stop_reason``), else from
  :func:`default_generator`, which writes a plausible answer ending in the card's Output Envelope.
  A JSON-output-mode request (``output_config.format`` ``json_schema``) not in ``recordings`` is answered
  with ``judge_fn(request)`` (default :func:`structured_answer`: JSON fitting the schema); a forced
  ``tool_choice`` is answered 400, as the newest models do (``reject_forced_tool_choice``).
* **Latency**: lognormal around ``latency_ms`` (``latency_sigma`` 0 = fixed), or ``latency_fn``. The
  response "begins" (headers, ``message_start``) after ``ttfb_fraction`` of it.
* **Faults** by rate (``fault_429``, ``fault_529``, ``fault_500``, ``fault_hang``, ``fault_garbage``,
  ``fault_spend_limit``) or scripted for the next requests (:meth:`FakeAnthropicAPI.script`). Faults hit
  ``POST /v1/messages`` only.
* **Rate limits** (the budget-enforcing mode): token buckets per minute (``rpm_limit``, ``itpm_limit``,
  ``otpm_limit``; per ``ratelimit_period_s`` seconds, e.g. ``rpm_limit=40, ratelimit_period_s=1`` for 40
  requests per second: ``--rps 40`` on the command line) that refill continuously, as the API's do. With
  any bucket set, every ``POST /v1/messages`` is first checked against the budget: over it, 429 with
  ``retry-after`` (the seconds until the request would fit); within it, the request is *admitted*
  (counted in ``FakeCounters.admitted``) and takes its share, and only then may a random or scripted
  fault hit it. Every answer, faults included (``ratelimit_headers_on_faults``), carries the
  ``anthropic-ratelimit-{requests,input-tokens,output-tokens,tokens}-{limit,remaining,reset}`` headers.
  Counted like the API (https://docs.anthropic.com/en/api/rate-limits): input tokens are the uncached
  ones (cache reads do not count against ``itpm``), and output tokens are reserved at ``max_tokens``
  when a request is admitted and corrected to the tokens produced when it ends (a fault refunds them).
  ``concurrency_limit`` answers 429 to requests beyond that many in flight (a "429 storm" on demand).
* **Prompt caching**: a prefix ending at a ``cache_control`` block is billed as
  ``cache_read_input_tokens`` when it was seen within its TTL (5 min, or 1 h for ``ttl: "1h"``; hits
  refresh it), otherwise as ``cache_creation_input_tokens``. The entry only exists once the first
  response for that prefix has *begun*, so concurrent first requests all pay a write, as on the real API.
* **Tokens** are counted as ``ceil(len(text) / 4)`` per text block (a documented, deterministic estimate).
* **Batches** end ``batch_duration_s`` after creation; ``batch_outcome`` (mapping or callable on
  ``(custom_id, params)``) makes chosen requests end ``errored``, ``expired`` or ``canceled``.
* **Counters** (:class:`FakeCounters`) of requests received, faults, cache writes/reads per prefix and
  peak concurrency, for tests; :attr:`FakeAnthropicAPI.log` has one :class:`LogEntry` per
  ``POST /v1/messages`` (arrival time, status, fault, and ``key`` = :func:`prompt_key`, which attributes it
  to a plan cell).
* **Authentication**: ``require_api_key`` True answers 401 to a request without a key; a string answers
  401 (``invalid x-api-key``) to any other key.

In a test, run it in a background thread::

    with FakeAnthropicAPI(FakeAPIConfig(latency_ms=5)) as fake:
        client = AsyncAnthropic(base_url=fake.base_url, api_key="test")

By hand: ``python -m agenteval.testing.fake_api --port 8765 --latency-ms 200 --fault-429 0.1``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import math
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = ("429", "529", "500", "hang", "garbage", "spend_limit")
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
            413: "Payload Too Large", 429: "Too Many Requests", 500: "Internal Server Error",
            529: "Overloaded"}
_CUSTOM_ID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_BATCH_REQUESTS = 100_000

Generator = Callable[[dict[str, Any]], "str | dict[str, Any]"]


def count_tokens_text(text: str) -> int:
    """The fake's token estimate for one text: ``ceil(len(text) / 4)``."""
    return (len(text) + 3) // 4


def _canon(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _system_texts(body: Mapping[str, Any]) -> list[str]:
    system = body.get("system")
    if system is None:
        return []
    if isinstance(system, str):
        return [system]
    return [str(b.get("text", "")) for b in system if isinstance(b, dict)]


def prompt_key(body: Mapping[str, Any]) -> str:
    """Default recording key: the same hash as ``LLMRequest.prompt_hash()`` (system texts + messages)."""
    msgs = [{"role": m.get("role"), "content": m.get("content")} for m in body.get("messages", [])]
    payload = {"system": _system_texts(body), "messages": msgs}
    return "sha256:" + hashlib.sha256(_canon(payload)).hexdigest()


def default_generator(body: Mapping[str, Any]) -> str:
    """A plausible answer: the layout sections the directive asks for, then the Output Envelope.

    The envelope's field names are read from the run directive ("... Output Envelope (A, B, C)"); the
    confidence is picked deterministically from the request, so repeats give the same answer.
    """
    system = "\n".join(_system_texts(body))
    digest = hashlib.sha256(_canon(body.get("messages", [])) + system.encode()).digest()
    fields = ["Result", "Confidence", "Uncertainty Factors", "Verification"]
    # the run directive comes after the card body, which may mention "Output Envelope (Required)": last wins
    found = re.findall(r"Output Envelope \(([^)]*,[^)]*)\)", system)
    if found:
        fields = [f.strip() for f in found[-1].split(",") if f.strip()] or fields
    sections: list[str] = []
    found = re.findall(r"layout for [\w -]+ Mode \(([^)]*)\)", system)
    if found:
        sections = [s.strip() for s in found[-1].split(",") if s.strip()]
    confidence = ("high", "medium", "low")[digest[0] % 3]
    parts = []
    for s in sections:
        parts.append(f"## {s}\n\nConsidered the request and the files given; details for {s.lower()}.\n")
    parts.append("")
    for f in fields:
        if f.lower() == "confidence":
            value = confidence
        elif f.lower() == "result":
            value = "Proposed a staged approach with explicit checks (fake answer)."
        else:
            value = f"{f} noted (fake answer)."
        parts.append(f"**{f}**: {value}")
    return "\n".join(parts).strip() + "\n"


def json_schema_of(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The JSON schema of a JSON-output-mode request (``output_config.format.type == "json_schema"``)."""
    oc = body.get("output_config")
    fmt = oc.get("format") if isinstance(oc, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        return fmt["schema"]
    return None


def schema_instance(schema: Mapping[str, Any], pick: Callable[[list[str], list[Any]], Any],
                    path: list[str] | None = None, root: Mapping[str, Any] | None = None) -> Any:
    """A value conforming to ``schema`` (the subset the JSON output mode accepts): objects get every
    property, enums ``pick(path, enum)``, strings a note naming their path, numbers 0, arrays
    ``minItems`` items."""
    path, root = path or [], root or schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return schema_instance(root.get("$defs", {}).get(ref.split("/")[-1], {}), pick, path, root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return pick(path, list(schema["enum"]))
    for k in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(k), list) and schema[k]:
            return schema_instance(schema[k][0], pick, path, root)
    t = schema.get("type")
    t = t[0] if isinstance(t, list) and t else t
    if t == "object":
        return {k: schema_instance(v, pick, [*path, k], root) for k, v in (schema.get("properties") or {}).items()}
    if t == "array":
        return [schema_instance(schema.get("items") or {"type": "string"}, pick, path, root)
                for _ in range(int(schema.get("minItems") or 0))]
    if t in ("integer", "number"):
        return 0
    if t == "boolean":
        return True
    if t == "null":
        return None
    return f"fake: {'.'.join(path) or 'value'}"


def structured_answer(body: Mapping[str, Any]) -> dict[str, Any]:
    """The default answer to a JSON-output-mode request: an instance of its schema in which each enum takes
    its first value, unless the messages contain ``FAKE-VERDICT:<key>=<value>`` (for an enum under that
    property) or ``FAKE-VERDICT:<value>`` (for every enum holding that value)."""
    text = "\n".join(str(m.get("content")) for m in body.get("messages", []) if isinstance(m, dict))

    def pick(path: list[str], enum: list[Any]) -> Any:
        for v in enum:
            if any(f"FAKE-VERDICT:{k}={v}" in text for k in path):
                return v
        for v in enum:
            if f"FAKE-VERDICT:{v}" in text:
                return v
        return enum[0]

    return schema_instance(json_schema_of(body) or {"type": "object"}, pick)


def _rfc3339(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass
class FakeAPIConfig:
    """Settings of the fake API. Every field can be changed while it runs (simple values)."""

    latency_ms: float = 0.0
    latency_sigma: float = 0.0
    latency_fn: Callable[[random.Random], float] | None = None  # seconds; overrides latency_ms/sigma
    ttfb_fraction: float = 0.3
    fault_429: float = 0.0
    fault_529: float = 0.0
    fault_500: float = 0.0
    fault_hang: float = 0.0
    fault_garbage: float = 0.0
    fault_spend_limit: float = 0.0
    retry_after_s: float | None = 0.05  # sent with injected 429s (and storm/bucket 429s when computed <)
    retry_after_ms_header: bool = False  # also send ``retry-after-ms``
    retry_after_integer: bool = False  # round ``retry-after`` up to whole seconds, as the real API does
    hang_s: float = 3600.0
    concurrency_limit: int | None = None
    rpm_limit: int | None = None
    itpm_limit: int | None = None
    otpm_limit: int | None = None
    ratelimit_period_s: float = 60.0  # the buckets hold rpm/itpm/otpm per this many seconds
    ratelimit_headers_on_faults: bool = True  # injected faults carry the rate-limit headers too
    cache_ttl_s: float = 300.0
    cache_ttl_1h_s: float = 3600.0
    min_cache_tokens: int = 0
    generator: Generator | None = None
    recordings: Mapping[str, Any] | None = None
    recording_key: Callable[[dict[str, Any]], str] | None = None
    batch_duration_s: float = 0.5
    batch_progressive: bool = False
    batch_outcome: Mapping[str, str] | Callable[[str, dict[str, Any]], str | None] | None = None
    batch_cancel_delay_s: float = 0.05
    require_api_key: bool | str = False  # True: some key; a string: exactly this key (else 401)
    seed: int = 0
    # JSON output mode (output_config json_schema): request JSON -> the object to answer (default:
    # structured_answer); a forced tool_choice ({"type": "tool"|"any"}) is answered 400 like the newest models
    judge_fn: Callable[[dict[str, Any]], Any] | None = None
    reject_forced_tool_choice: bool = True


@dataclass
class FakeCounters:
    """What the fake saw. Read from any thread; reset with :meth:`reset`."""

    requests: int = 0
    messages: int = 0
    messages_ok: int = 0
    streamed: int = 0
    count_tokens: int = 0
    batch_create: int = 0
    batch_retrieve: int = 0
    batch_results: int = 0
    batch_cancel: int = 0
    batch_list: int = 0
    batch_requests: int = 0
    status: collections.Counter[int] = field(default_factory=collections.Counter)
    faults: collections.Counter[str] = field(default_factory=collections.Counter)
    rate_limited: int = 0
    admitted: int = 0  # requests that passed the budget check (budget mode) and took their share
    over_budget: int = 0  # 429s because a budget was spent (budget mode)
    first_at: float = 0.0  # time.monotonic() of the first POST /v1/messages since the last reset
    last_at: float = 0.0  # ... and of the end of the latest answer to one
    cache_writes: int = 0
    cache_reads: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    cache_writes_by_prefix: collections.Counter[str] = field(default_factory=collections.Counter)
    cache_reads_by_prefix: collections.Counter[str] = field(default_factory=collections.Counter)
    inflight: int = 0
    max_inflight: int = 0
    connections: int = 0

    def reset(self) -> None:
        """Zero every counter (except the live ``inflight``)."""
        inflight = self.inflight
        for f in dataclasses.fields(self):
            setattr(self, f.name, f.default_factory() if callable(f.default_factory) else f.default)  # type: ignore[misc]
        self.inflight = inflight

    def snapshot(self) -> dict[str, Any]:
        """A plain-dict copy."""
        return {f.name: (dict(v) if isinstance(v := getattr(self, f.name), collections.Counter) else v)
                for f in dataclasses.fields(self)}


@dataclass
class LogEntry:
    """One ``POST /v1/messages`` as the fake handled it."""

    t: float
    status: int
    fault: str | None
    key: str
    stream: bool


class _Bucket:
    """A token bucket of ``limit`` per ``period`` seconds (refills continuously at limit/period)."""

    def __init__(self, limit: int, period: float = 60.0) -> None:
        self.limit = limit
        self.period = period
        self.level = float(limit)
        self.t = time.monotonic()

    def _refill(self, now: float) -> None:
        if now > self.t:  # (a bucket made after the request's arrival time: no refill before it existed)
            self.level = min(self.limit, self.level + (now - self.t) * self.limit / self.period)
            self.t = now

    def wait_for(self, n: float, now: float) -> float:
        """Seconds until ``n`` is available (0 if now)."""
        self._refill(now)
        need = min(n, self.limit) - self.level
        return 0.0 if need <= 0 else need * self.period / self.limit

    def take(self, n: float, now: float) -> None:
        self._refill(now)
        self.level = min(float(self.limit), self.level - n)  # n < 0 gives back (never beyond full)

    def headers(self, name: str, now: float) -> dict[str, str]:
        self._refill(now)
        remaining = max(0, int(self.level))
        reset = time.time() + (self.limit - self.level) * self.period / self.limit
        return {f"anthropic-ratelimit-{name}-limit": str(self.limit),
                f"anthropic-ratelimit-{name}-remaining": str(remaining),
                f"anthropic-ratelimit-{name}-reset": _rfc3339(reset)}


@dataclass
class _Accounting:
    total: int
    read: int
    creation: int
    ttl_1h: bool
    hit_key: str | None
    write_key: str | None
    register: list[tuple[str, float]]  # (prefix key, ttl seconds) to create when the response begins


@dataclass
class _Batch:
    id: str
    requests: list[dict[str, Any]]
    created_wall: float
    created: float
    duration: float
    cancel_at: float | None = None
    cancel_wall: float | None = None
    ended_wall: float | None = None
    results: list[dict[str, Any]] | None = None
    counts: dict[str, int] | None = None


class _HTTPError(Exception):
    def __init__(self, status: int, etype: str, message: str) -> None:
        super().__init__(message)
        self.status, self.etype, self.message = status, etype, message


class FakeAnthropicAPI:
    """The fake server. Use :meth:`start`/:meth:`stop` (or ``with``) to run it in a background thread,
    or :meth:`serve` inside your own event loop."""

    def __init__(self, config: FakeAPIConfig | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 **overrides: Any) -> None:
        self.config = dataclasses.replace(config or FakeAPIConfig(), **overrides)
        self.host = host
        self.port = port
        self.counters = FakeCounters()
        self.log: collections.deque[LogEntry] = collections.deque(maxlen=100_000)
        self._rng = random.Random(self.config.seed)
        self._script: collections.deque[str | None] = collections.deque()
        self._cache: dict[str, float] = {}
        self._batches: dict[str, _Batch] = {}
        self._ids = itertools.count(1)
        self._buckets: dict[str, _Bucket] = {}
        self._server: asyncio.base_events.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._accepted_inflight = 0

    # ----------------------------------------------------------------- lifecycle
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (the bound port once started)."""
        return f"http://{self.host}:{self.port}"

    async def serve(self) -> None:
        """Bind and start serving in the running loop (returns once listening)."""
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._handle_conn, self.host, self.port, backlog=2048,
                                                  limit=1 << 20)
        self.port = self._server.sockets[0].getsockname()[1]

    async def aclose(self) -> None:
        """Stop listening and drop every connection."""
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            with contextlib.suppress(Exception):
                w.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    def serve_forever(self, banner: str = "fake Anthropic API listening on {url}", *, before: Any = None) -> int:
        """Serve in this thread until interrupted; prints ``banner`` (``{url}`` filled in) once listening.

        ``before``: an optional callable run first inside the new event loop's thread (e.g. to install uvloop).
        Returns 0 (an exit code for ``main`` functions).
        """
        if before is not None:
            before()

        async def run() -> None:
            await self.serve()
            print(banner.format(url=self.base_url), flush=True)
            try:
                await asyncio.Event().wait()
            finally:
                await self.aclose()

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run())
        return 0

    def start(self) -> FakeAnthropicAPI:
        """Run in a daemon thread with its own event loop; returns once listening."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.serve())
            except BaseException as e:  # pragma: no cover - bind failure
                errors.append(e)
                ready.set()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                pending = asyncio.all_tasks(loop)
                for t in pending:
                    t.cancel()
                with contextlib.suppress(Exception):
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-anthropic-api", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        """Stop the background thread started by :meth:`start`."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.aclose(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        self._thread = None

    def __enter__(self) -> FakeAnthropicAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- test helpers
    _agent_script: Any = None  # an agent_script.AgentScript, set with script_agent()

    def script_agent(self, script: Any) -> None:
        """Answer the agent runtime's requests from ``script`` (an :class:`agent_script.AgentScript`):
        content blocks (``text``, ``tool_use``) streamed as the real API streams them; None stops it."""
        self._agent_script = script

    def script(self, faults: Iterable[str | None]) -> None:
        """Queue faults for the next ``POST /v1/messages`` requests (None = answer normally)."""
        for f in faults:
            if f is not None and f not in FAULT_KINDS:
                raise ValueError(f"unknown fault '{f}' (known: {', '.join(FAULT_KINDS)})")
            self._script.append(f)

    def clear_prompt_cache(self) -> None:
        """Forget every prompt-cache entry."""
        self._cache.clear()

    def batch_ids(self) -> list[str]:
        """Ids of every batch created so far."""
        return list(self._batches)

    # ----------------------------------------------------------------- HTTP plumbing
    async def _handle_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counters.connections += 1
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
                    break
                lines = head.decode("latin-1").split("\r\n")
                try:
                    method, target, version = lines[0].split(" ", 2)
                except ValueError:
                    break
                headers: dict[str, str] = {}
                for ln in lines[1:]:
                    if ln:
                        k, _, v = ln.partition(":")
                        headers[k.strip().lower()] = v.strip()
                try:
                    if "content-length" in headers:
                        body = await reader.readexactly(int(headers["content-length"]))
                    elif headers.get("transfer-encoding", "").lower() == "chunked":
                        body = await self._read_chunked(reader)
                    else:
                        body = b""
                except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                    break
                keep = version.upper() == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                self.counters.requests += 1
                ok = await self._dispatch(method.upper(), target, headers, body, reader, writer)
                if not ok or not keep:
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        out = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return bytes(out)
            out += await reader.readexactly(size)
            await reader.readexactly(2)

    def _request_id(self) -> str:
        return f"req_fake{next(self._ids):012d}"

    async def _send(self, writer: asyncio.StreamWriter, status: int, body: bytes,
                    ctype: str = "application/json", headers: Mapping[str, str] | None = None,
                    request_id: str | None = None) -> None:
        self.counters.status[status] += 1
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"content-type: {ctype}",
                f"content-length: {len(body)}", f"request-id: {request_id or self._request_id()}"]
        for k, v in (headers or {}).items():
            head.append(f"{k}: {v}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()

    async def _send_json(self, writer: asyncio.StreamWriter, status: int, obj: Any,
                         headers: Mapping[str, str] | None = None) -> None:
        await self._send(writer, status, json.dumps(obj, separators=(",", ":")).encode(), headers=headers)

    async def _send_error(self, writer: asyncio.StreamWriter, status: int, etype: str, message: str,
                          headers: Mapping[str, str] | None = None, details: dict[str, Any] | None = None
                          ) -> None:
        err: dict[str, Any] = {"type": etype, "message": message}
        if details:
            err["details"] = details
        rid = self._request_id()
        body = json.dumps({"type": "error", "error": err, "request_id": rid}, separators=(",", ":")).encode()
        await self._send(writer, status, body, headers=headers, request_id=rid)

    async def _dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes,
                        reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        path = target.split("?", 1)[0].rstrip("/")
        try:
            if path == "/health":
                await self._send(writer, 200, b"ok", "text/plain")
                return True
            need = self.config.require_api_key
            given = headers.get("x-api-key") or headers.get("authorization")
            if need and not given:
                raise _HTTPError(401, "authentication_error", "x-api-key header is required")
            if isinstance(need, str) and given not in (need, f"Bearer {need}"):
                raise _HTTPError(401, "authentication_error", "invalid x-api-key")
            if path == "/v1/messages" and method == "POST":
                return await self._messages(self._json(body), headers, reader, writer)
            if path == "/v1/messages/count_tokens" and method == "POST":
                self.counters.count_tokens += 1
                req = self._json(body)
                self._validate_messages(req, need_max_tokens=False)
                await self._send_json(writer, 200, {"input_tokens": self._accounting(req, peek=True).total})
                return True
            if path.startswith("/v1/messages/batches"):
                await self._batches_route(method, path, headers, body, writer)
                return True
            raise _HTTPError(404, "not_found_error", f"no route for {method} {path}")
        except _HTTPError as e:
            await self._send_error(writer, e.status, e.etype, e.message)
            return True

    @staticmethod
    def _json(body: bytes) -> dict[str, Any]:
        try:
            obj = json.loads(body or b"null")
        except ValueError:
            raise _HTTPError(400, "invalid_request_error", "request body is not valid JSON") from None
        if not isinstance(obj, dict):
            raise _HTTPError(400, "invalid_request_error", "request body must be a JSON object")
        return obj

    @staticmethod
    def _validate_messages(req: Mapping[str, Any], *, need_max_tokens: bool = True) -> None:
        if not isinstance(req.get("model"), str) or not req["model"]:
            raise _HTTPError(400, "invalid_request_error", "model: field required")
        if need_max_tokens and not isinstance(req.get("max_tokens"), int):
            raise _HTTPError(400, "invalid_request_error", "max_tokens: field required")
        msgs = req.get("messages")
        if not isinstance(msgs, list) or not msgs:
            raise _HTTPError(400, "invalid_request_error", "messages: at least one message is required")

    # ----------------------------------------------------------------- answers and accounting
    def _latency(self) -> float:
        c = self.config
        if c.latency_fn is not None:
            return max(0.0, float(c.latency_fn(self._rng)))
        if c.latency_ms <= 0:
            return 0.0
        base = c.latency_ms / 1000.0
        return base * math.exp(self._rng.gauss(0.0, c.latency_sigma)) if c.latency_sigma > 0 else base

    def _answer(self, req: dict[str, Any]) -> tuple[str, str | None]:
        c = self.config
        out: Any = None
        if c.recordings is not None:
            key = (c.recording_key or prompt_key)(req)
            out = c.recordings.get(key)
        if out is None and json_schema_of(req) is not None:
            out = json.dumps((c.judge_fn or structured_answer)(req), ensure_ascii=False)
        if out is None:
            out = (c.generator or default_generator)(req)
        stop = "end_turn"
        if isinstance(out, dict):
            stop = out.get("stop_reason", stop)
            out = out.get("text", "")
        text = str(out)
        max_tokens = int(req.get("max_tokens") or 0)
        if max_tokens and count_tokens_text(text) > max_tokens:
            text, stop = text[: max_tokens * 4], "max_tokens"
        return text, stop

    def _accounting(self, req: Mapping[str, Any], *, peek: bool = False) -> _Accounting:
        """Tokens of a request and how the prompt cache bills them (looked up now)."""
        blocks: list[tuple[Any, int, dict[str, Any] | None]] = []
        for tool in req.get("tools") or []:
            blocks.append((tool, count_tokens_text(json.dumps(tool)), tool.get("cache_control")))
        system = req.get("system")
        if isinstance(system, str):
            blocks.append((system, count_tokens_text(system), None))
        elif isinstance(system, list):
            for b in system:
                text = str(b.get("text", ""))
                blocks.append((b.get("text", b), count_tokens_text(text), b.get("cache_control")))
        for m in req.get("messages") or []:
            content = m.get("content")
            if isinstance(content, str):
                blocks.append(((m.get("role"), content), count_tokens_text(content), None))
            elif isinstance(content, list):
                for b in content:
                    text = str(b.get("text")) if isinstance(b, dict) and "text" in b else json.dumps(b)
                    blocks.append(((m.get("role"), text), count_tokens_text(str(text)),
                                   b.get("cache_control") if isinstance(b, dict) else None))
        total = sum(n for _, n, _ in blocks)
        acc = _Accounting(total=max(total, 1), read=0, creation=0, ttl_1h=False, hit_key=None, write_key=None,
                          register=[])
        if peek:
            return acc
        now = time.monotonic()
        h = hashlib.sha256(str(req.get("model")).encode())
        running = 0
        breakpoints: list[tuple[str, int, float]] = []
        for content, n, cc in blocks:
            h.update(_canon(content))
            running += n
            if cc:
                ttl = self.config.cache_ttl_1h_s if cc.get("ttl") == "1h" else self.config.cache_ttl_s
                breakpoints.append(("sha256:" + h.copy().hexdigest(), running, ttl))
        breakpoints = [bp for bp in breakpoints if bp[1] >= self.config.min_cache_tokens]
        if not breakpoints:
            return acc
        hit_tokens = 0
        for key, n, ttl in reversed(breakpoints):
            exp = self._cache.get(key)
            if exp is not None and exp > now:
                hit_tokens, acc.hit_key = n, key
                self._cache[key] = now + ttl  # a hit refreshes the entry
                break
        last_key, last_n, last_ttl = breakpoints[-1]
        acc.read = hit_tokens
        acc.creation = max(0, last_n - hit_tokens)
        acc.ttl_1h = last_ttl >= self.config.cache_ttl_1h_s
        if acc.creation:
            acc.write_key = last_key
        acc.register = [(k, ttl) for k, n, ttl in breakpoints if n > hit_tokens]
        return acc

    def _begin(self, acc: _Accounting) -> None:
        """The response has begun: its prefixes now exist in the cache; count the write/read."""
        now = time.monotonic()
        for key, ttl in acc.register:
            self._cache[key] = now + ttl
        if acc.creation:
            self.counters.cache_writes += 1
            self.counters.cache_creation_tokens += acc.creation
            self.counters.cache_writes_by_prefix[acc.write_key or "?"] += 1
        if acc.read:
            self.counters.cache_reads += 1
            self.counters.cache_read_tokens += acc.read
            self.counters.cache_reads_by_prefix[acc.hit_key or "?"] += 1

    @staticmethod
    def _usage(acc: _Accounting, output_tokens: int) -> dict[str, Any]:
        return {
            "input_tokens": acc.total - acc.read - acc.creation,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": acc.creation,
            "cache_read_input_tokens": acc.read,
            "cache_creation": {"ephemeral_5m_input_tokens": 0 if acc.ttl_1h else acc.creation,
                               "ephemeral_1h_input_tokens": acc.creation if acc.ttl_1h else 0},
            "service_tier": "standard",
        }

    def _message_obj(self, req: Mapping[str, Any], text: str, stop: str | None, usage: dict[str, Any]
                     ) -> dict[str, Any]:
        return {"id": f"msg_fake{next(self._ids):016d}", "type": "message", "role": "assistant",
                "model": req.get("model"), "content": [{"type": "text", "text": text}],
                "stop_reason": stop, "stop_sequence": None, "usage": usage}

    # ----------------------------------------------------------------- rate limits and faults
    def _ratelimit_headers(self, now: float) -> dict[str, str]:
        out: dict[str, str] = {}
        for name in ("requests", "input-tokens", "output-tokens"):
            b = self._buckets.get(name)
            if b is not None:
                out.update(b.headers(name, now))
        if "input-tokens" in self._buckets:
            it = self._buckets["input-tokens"].headers("tokens", now)
            out.update(it)
        return out

    def _reserved(self, req: Mapping[str, Any]) -> int:
        """Output tokens a request reserves when admitted: its ``max_tokens`` (capped at the bucket)."""
        b = self._buckets.get("output-tokens")
        n = int(req.get("max_tokens") or 1)
        return min(n, b.limit) if b is not None else n

    def _sync_buckets(self) -> None:
        c = self.config
        for name, limit in (("requests", c.rpm_limit), ("input-tokens", c.itpm_limit),
                            ("output-tokens", c.otpm_limit)):
            b = self._buckets.get(name)
            if limit is None:
                self._buckets.pop(name, None)
            elif b is None or b.limit != limit or b.period != c.ratelimit_period_s:
                self._buckets[name] = _Bucket(limit, c.ratelimit_period_s)

    def _retry_after_headers(self, seconds: float | None) -> dict[str, str]:
        if seconds is None:
            return {}
        c = self.config
        h = {"retry-after": str(max(1, math.ceil(seconds))) if c.retry_after_integer else f"{seconds:.3f}"}
        if c.retry_after_ms_header:
            h["retry-after-ms"] = str(round(seconds * 1000))
        return h

    def _pick_fault(self) -> str | None:
        if self._script:
            return self._script.popleft()
        c = self.config
        r = self._rng.random()
        for kind, rate in (("429", c.fault_429), ("529", c.fault_529), ("500", c.fault_500),
                           ("hang", c.fault_hang), ("garbage", c.fault_garbage),
                           ("spend_limit", c.fault_spend_limit)):
            if r < rate:
                return kind
            r -= rate
        return None

    # ----------------------------------------------------------------- POST /v1/messages
    async def _messages(self, req: dict[str, Any], headers: dict[str, str], reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> bool:
        c = self.config
        self.counters.messages += 1
        if not self.counters.first_at:
            self.counters.first_at = time.monotonic()
        self.counters.inflight += 1
        self.counters.max_inflight = max(self.counters.max_inflight, self.counters.inflight)
        t0 = time.monotonic()
        stream = bool(req.get("stream"))
        status = 200
        fault: str | None = None
        try:
            self._validate_messages(req)
            tc = req.get("tool_choice")
            if c.reject_forced_tool_choice and isinstance(tc, dict) and tc.get("type") in ("tool", "any"):
                raise _HTTPError(400, "invalid_request_error", "tool_choice: forcing tool use is not supported "
                                 "with this model; use output_config.format for structured outputs")
            self._sync_buckets()
            budget = bool(self._buckets)
            fault = None if budget else self._pick_fault()
            if fault is not None:
                self.counters.faults[fault] += 1
                status = await self._fault(fault, reader, writer)
                return fault != "hang"
            if c.concurrency_limit is not None and self._accepted_inflight >= c.concurrency_limit:
                self.counters.rate_limited += 1
                status = 429
                await self._send_error(writer, 429, "rate_limit_error",
                                       f"Number of concurrent connections has exceeded your rate limit "
                                       f"({c.concurrency_limit}).",
                                       self._retry_after_headers(c.retry_after_s or 0.05))
                return True
            acc = self._accounting(req)
            if budget:
                wait = 0.0
                if "requests" in self._buckets:
                    wait = max(wait, self._buckets["requests"].wait_for(1, t0))
                if "input-tokens" in self._buckets:
                    wait = max(wait, self._buckets["input-tokens"].wait_for(acc.total - acc.read, t0))
                if "output-tokens" in self._buckets:
                    wait = max(wait, self._buckets["output-tokens"].wait_for(self._reserved(req), t0))
                if wait > 0:
                    self.counters.rate_limited += 1
                    self.counters.over_budget += 1
                    status = 429
                    hdrs = {**self._ratelimit_headers(t0), **self._retry_after_headers(wait)}
                    await self._send_error(writer, 429, "rate_limit_error",
                                           "This request would exceed your organization's rate limit.", hdrs)
                    return True
                self.counters.admitted += 1
                if "requests" in self._buckets:
                    self._buckets["requests"].take(1, t0)
                if "input-tokens" in self._buckets:
                    self._buckets["input-tokens"].take(acc.total - acc.read, t0)
                if "output-tokens" in self._buckets:
                    self._buckets["output-tokens"].take(self._reserved(req), t0)
                fault = self._pick_fault()
                if fault is not None:
                    self.counters.faults[fault] += 1
                    if "output-tokens" in self._buckets:  # nothing was produced: the reservation comes back
                        self._buckets["output-tokens"].take(-self._reserved(req), t0)
                    rl = self._ratelimit_headers(t0) if c.ratelimit_headers_on_faults else None
                    status = await self._fault(fault, reader, writer, rl)
                    return fault != "hang"
            self._accepted_inflight += 1
            try:
                await self._answer_message(req, acc, stream, writer, t0)
            finally:
                self._accepted_inflight -= 1
            self.counters.messages_ok += 1
            return True
        except _HTTPError as e:
            status = e.status
            await self._send_error(writer, e.status, e.etype, e.message)
            return True
        finally:
            self.counters.inflight -= 1
            self.counters.last_at = time.monotonic()
            try:
                key = prompt_key(req)
            except Exception:
                key = ""
            self.log.append(LogEntry(t=t0, status=status, fault=fault, key=key, stream=stream))

    async def _fault(self, fault: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     rl: Mapping[str, str] | None = None) -> int:
        c = self.config
        rl = rl or {}
        if fault == "429":
            await self._send_error(writer, 429, "rate_limit_error",
                                   "Number of request tokens has exceeded your per-minute rate limit.",
                                   {**rl, **self._retry_after_headers(c.retry_after_s)})
            return 429
        if fault == "spend_limit":
            await self._send_error(writer, 429, "rate_limit_error",
                                   "You have reached your specified API usage limits.",
                                   details={"error_code": "enforced_spend_limit_reached"})
            return 429
        if fault == "529":
            await self._send_error(writer, 529, "overloaded_error", "Overloaded", rl)
            return 529
        if fault == "500":
            await self._send_error(writer, 500, "api_error", "Internal server error", rl)
            return 500
        if fault == "garbage":
            garbage = b'{"id": "msg_garbage", "type": "mess\x00<html>garbage'
            await self._send(writer, 200, garbage, "application/json", rl)
            return 200
        # hang: say nothing until the client gives up (EOF) or hang_s passes, then drop the connection
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
            await asyncio.wait_for(reader.read(1), c.hang_s)
        return 0

    async def _answer_message(self, req: dict[str, Any], acc: _Accounting, stream: bool,
                              writer: asyncio.StreamWriter, t0: float) -> None:
        c = self.config
        latency = self._latency()
        ttfb = latency * min(max(c.ttfb_fraction, 0.0), 1.0)
        if ttfb > 0:
            await asyncio.sleep(ttfb)
        self._begin(acc)
        if self._agent_script is not None and self._agent_script.wants(req):  # scripted multi-turn tool use
            await self._answer_blocks(req, acc, stream, writer, latency - ttfb)
            return
        text, stop = self._answer(req)
        out_tokens = max(1, count_tokens_text(text))
        usage = self._usage(acc, out_tokens)
        now = time.monotonic()
        if "output-tokens" in self._buckets:  # the reservation (max_tokens) becomes what was produced
            self._buckets["output-tokens"].take(out_tokens - self._reserved(req), now)
        rl = self._ratelimit_headers(now) if self._buckets else {}
        if not stream:
            rest = latency - ttfb
            if rest > 0:
                await asyncio.sleep(rest)
                if self._buckets:  # the headers say what the buckets hold when they are sent
                    rl = self._ratelimit_headers(time.monotonic())
            await self._send_json(writer, 200, self._message_obj(req, text, stop, usage), rl)
            return
        self.counters.streamed += 1
        self.counters.status[200] += 1
        head = ["HTTP/1.1 200 OK", "content-type: text/event-stream", "transfer-encoding: chunked",
                "cache-control: no-cache", f"request-id: {self._request_id()}"]
        head += [f"{k}: {v}" for k, v in rl.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        msg = self._message_obj(req, "", None, {**usage, "output_tokens": 1})
        msg["content"] = []

        def ev(name: str, data: dict[str, Any]) -> None:
            payload = f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
            writer.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")

        ev("message_start", {"type": "message_start", "message": msg})
        ev("content_block_start", {"type": "content_block_start", "index": 0,
                                   "content_block": {"type": "text", "text": ""}})
        ev("ping", {"type": "ping"})
        await writer.drain()
        rest = latency - ttfb
        if rest > 0:
            await asyncio.sleep(rest)
        step = max(1, len(text) // 4 or 1)
        for i in range(0, len(text), step):
            ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": text[i:i + step]}})
        ev("content_block_stop", {"type": "content_block_stop", "index": 0})
        ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                             "usage": {"output_tokens": out_tokens}})
        ev("message_stop", {"type": "message_stop"})
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def _answer_blocks(self, req: dict[str, Any], acc: _Accounting, stream: bool,
                             writer: asyncio.StreamWriter, rest: float) -> None:
        """Answer with the agent script's content blocks; streamed: ``text_delta`` / ``input_json_delta``."""
        blocks, stop = self._agent_script.answer(req)
        blocks = [dict(b) for b in blocks]
        for b in blocks:
            if b.get("type") == "tool_use" and not b.get("id"):
                b["id"] = f"toolu_fake{next(self._ids):016d}"
        out_tokens = max(1, sum(count_tokens_text(json.dumps(b)) for b in blocks))
        usage = self._usage(acc, out_tokens)
        if rest > 0:
            await asyncio.sleep(rest)
        if not stream:
            msg = self._message_obj(req, "", stop, usage)
            msg["content"] = blocks
            await self._send_json(writer, 200, msg)
            return
        self.counters.streamed += 1
        self.counters.status[200] += 1
        head = ["HTTP/1.1 200 OK", "content-type: text/event-stream", "transfer-encoding: chunked",
                "cache-control: no-cache", f"request-id: {self._request_id()}"]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        msg = self._message_obj(req, "", None, {**usage, "output_tokens": 1})
        msg["content"] = []

        def ev(name: str, data: dict[str, Any]) -> None:
            payload = f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
            writer.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")

        ev("message_start", {"type": "message_start", "message": msg})
        for i, b in enumerate(blocks):
            if b.get("type") == "tool_use":
                raw = json.dumps(b.get("input") or {}, ensure_ascii=False)
                ev("content_block_start", {"type": "content_block_start", "index": i, "content_block": {
                    "type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}})
                step = max(1, len(raw) // 3)
                for j in range(0, len(raw), step):
                    ev("content_block_delta", {"type": "content_block_delta", "index": i,
                                               "delta": {"type": "input_json_delta", "partial_json": raw[j:j + step]}})
            else:
                text = str(b.get("text", ""))
                ev("content_block_start", {"type": "content_block_start", "index": i,
                                           "content_block": {"type": "text", "text": ""}})
                step = max(1, len(text) // 4 or 1)
                for j in range(0, len(text), step):
                    ev("content_block_delta", {"type": "content_block_delta", "index": i,
                                               "delta": {"type": "text_delta", "text": text[j:j + step]}})
            ev("content_block_stop", {"type": "content_block_stop", "index": i})
        ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                             "usage": {"output_tokens": out_tokens}})
        ev("message_stop", {"type": "message_stop"})
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    # ----------------------------------------------------------------- batches
    async def _batches_route(self, method: str, path: str, headers: dict[str, str], body: bytes,
                             writer: asyncio.StreamWriter) -> None:
        parts = path.split("/")[4:]  # after /v1/messages/batches
        base = f"http://{headers.get('host') or f'{self.host}:{self.port}'}"
        if not parts and method == "POST":
            self.counters.batch_create += 1
            await self._send_json(writer, 200, self._batch_create(self._json(body), base))
            return
        if not parts and method == "GET":
            self.counters.batch_list += 1
            data = [self._batch_view(b, base) for b in reversed(self._batches.values())]
            await self._send_json(writer, 200, {"data": data, "has_more": False,
                                                "first_id": data[0]["id"] if data else None,
                                                "last_id": data[-1]["id"] if data else None})
            return
        batch = self._batches.get(parts[0])
        if batch is None:
            raise _HTTPError(404, "not_found_error", f"message batch '{parts[0]}' not found")
        if len(parts) == 1 and method == "GET":
            self.counters.batch_retrieve += 1
            await self._send_json(writer, 200, self._batch_view(batch, base))
        elif len(parts) == 1 and method == "DELETE":
            self._batch_view(batch, base)
            if batch.results is None:
                raise _HTTPError(400, "invalid_request_error", "a batch must end before it is deleted")
            del self._batches[batch.id]
            await self._send_json(writer, 200, {"id": batch.id, "type": "message_batch_deleted"})
        elif parts[1:] == ["results"] and method == "GET":
            self.counters.batch_results += 1
            self._batch_view(batch, base)
            if batch.results is None:
                raise _HTTPError(404, "not_found_error", "batch results are not available until it ends")
            lines = b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in batch.results)
            await self._send(writer, 200, lines, "application/binary")
        elif parts[1:] == ["cancel"] and method == "POST":
            self.counters.batch_cancel += 1
            if batch.cancel_at is None and batch.results is None:
                batch.cancel_at = time.monotonic() + self.config.batch_cancel_delay_s
                batch.cancel_wall = time.time()
            await self._send_json(writer, 200, self._batch_view(batch, base))
        else:
            raise _HTTPError(405, "invalid_request_error", f"{method} not allowed on {path}")

    def _batch_create(self, body: dict[str, Any], base: str) -> dict[str, Any]:
        reqs = body.get("requests")
        if not isinstance(reqs, list) or not reqs:
            raise _HTTPError(400, "invalid_request_error", "requests: at least one request is required")
        if len(reqs) > MAX_BATCH_REQUESTS:
            raise _HTTPError(400, "invalid_request_error",
                             f"requests: at most {MAX_BATCH_REQUESTS} requests per batch")
        seen: set[str] = set()
        for i, r in enumerate(reqs):
            cid = r.get("custom_id") if isinstance(r, dict) else None
            if not isinstance(cid, str) or not _CUSTOM_ID_RE.match(cid):
                raise _HTTPError(400, "invalid_request_error",
                                 f"requests.{i}.custom_id: must match ^[a-zA-Z0-9_-]{{1,64}}$")
            if cid in seen:
                raise _HTTPError(400, "invalid_request_error", f"requests.{i}.custom_id: duplicate '{cid}'")
            seen.add(cid)
            if not isinstance(r.get("params"), dict):
                raise _HTTPError(400, "invalid_request_error", f"requests.{i}.params: field required")
            self._validate_messages(r["params"])
        bid = f"msgbatch_fake{next(self._ids):012d}{self._rng.getrandbits(32):08x}"
        b = _Batch(id=bid, requests=reqs, created_wall=time.time(), created=time.monotonic(),
                   duration=self.config.batch_duration_s)
        self._batches[bid] = b
        self.counters.batch_requests += len(reqs)
        return self._batch_view(b, base)

    def _outcome(self, cid: str, params: dict[str, Any]) -> str:
        o = self.config.batch_outcome
        if o is None:
            return "succeeded"
        res = o.get(cid) if isinstance(o, Mapping) else o(cid, params)
        return res or "succeeded"

    def _finish_batch(self, b: _Batch, now: float, canceled: bool) -> None:
        n = len(b.requests)
        done_n = n
        if canceled:
            progressive = self.config.batch_progressive and b.duration > 0
            done_n = int(n * min(1.0, (now - b.created) / b.duration)) if progressive else 0
        results: list[dict[str, Any]] = []
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for i, r in enumerate(b.requests):
            cid, params = r["custom_id"], r["params"]
            kind = "canceled" if i >= done_n else self._outcome(cid, params)
            if kind == "succeeded":
                acc = self._accounting(params)
                self._begin(acc)
                text, stop = self._answer(params)
                usage = {**self._usage(acc, max(1, count_tokens_text(text))), "service_tier": "batch"}
                msg = self._message_obj(params, text, stop, usage)
                res: dict[str, Any] = {"type": "succeeded", "message": msg}
            elif kind == "errored":
                res = {"type": "errored", "error": {
                    "type": "error", "request_id": self._request_id(),
                    "error": {"type": "invalid_request_error",
                              "message": f"fake: request '{cid}' was made to fail"}}}
            elif kind in ("expired", "canceled"):
                res = {"type": kind}
            else:
                raise ValueError(f"unknown batch outcome '{kind}'")
            counts[kind] += 1
            results.append({"custom_id": cid, "result": res})
        self._rng.shuffle(results)  # results are not in request order on the real API either
        b.results, b.counts = results, counts
        b.ended_wall = time.time()

    def _batch_view(self, b: _Batch, base: str) -> dict[str, Any]:
        now = time.monotonic()
        n = len(b.requests)
        if b.results is None:
            if b.cancel_at is not None and now >= b.cancel_at:
                self._finish_batch(b, now, canceled=True)
            elif now >= b.created + b.duration:
                self._finish_batch(b, now, canceled=False)
        if b.results is not None:
            status, counts = "ended", dict(b.counts or {})
        else:
            status = "canceling" if b.cancel_at is not None else "in_progress"
            counts = {"processing": n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
            if self.config.batch_progressive and b.duration > 0:
                done = int(n * min(1.0, (now - b.created) / b.duration))
                counts["processing"], counts["succeeded"] = n - done, done
        return {
            "id": b.id, "type": "message_batch", "processing_status": status, "request_counts": counts,
            "created_at": _rfc3339(b.created_wall), "expires_at": _rfc3339(b.created_wall + 86400),
            "ended_at": _rfc3339(b.ended_wall) if b.ended_wall else None,
            "cancel_initiated_at": _rfc3339(b.cancel_wall) if b.cancel_wall else None,
            "archived_at": None,
            "results_url": f"{base}/v1/messages/batches/{b.id}/results" if b.results is not None else None,
        }


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m agenteval.testing.fake_api",
                                description="Run the fake Anthropic API (for demos and benchmarks).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port (printed on start)")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--latency-sigma", type=float, default=0.0, help="lognormal shape; 0 = fixed latency")
    p.add_argument("--ttfb-fraction", type=float, default=0.3)
    for kind in FAULT_KINDS:
        p.add_argument(f"--fault-{kind.replace('_', '-')}", type=float, default=0.0, metavar="RATE")
    p.add_argument("--retry-after", type=float, default=1.0, help="seconds sent with injected 429s")
    p.add_argument("--retry-after-integer", action="store_true")
    p.add_argument("--concurrency-limit", type=int)
    p.add_argument("--rpm", type=int)
    p.add_argument("--rps", type=int, help="budget-enforcing mode: this many requests per second "
                   "(= --rpm N --ratelimit-period 1)")
    p.add_argument("--itpm", type=int)
    p.add_argument("--otpm", type=int)
    p.add_argument("--ratelimit-period", type=float, default=60.0,
                   help="seconds the rpm/itpm/otpm buckets cover")
    p.add_argument("--cache-ttl", type=float, default=300.0)
    p.add_argument("--min-cache-tokens", type=int, default=0)
    p.add_argument("--batch-duration", type=float, default=5.0)
    p.add_argument("--batch-progressive", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def config_from_args(ns: argparse.Namespace) -> FakeAPIConfig:
    """The :class:`FakeAPIConfig` described by parsed command-line arguments."""
    return FakeAPIConfig(
        latency_ms=ns.latency_ms, latency_sigma=ns.latency_sigma, ttfb_fraction=ns.ttfb_fraction,
        fault_429=ns.fault_429, fault_529=ns.fault_529, fault_500=ns.fault_500, fault_hang=ns.fault_hang,
        fault_garbage=ns.fault_garbage, fault_spend_limit=ns.fault_spend_limit, retry_after_s=ns.retry_after,
        retry_after_integer=ns.retry_after_integer, concurrency_limit=ns.concurrency_limit,
        rpm_limit=ns.rps or ns.rpm, itpm_limit=ns.itpm, otpm_limit=ns.otpm,
        ratelimit_period_s=1.0 if ns.rps else ns.ratelimit_period,
        cache_ttl_s=ns.cache_ttl,
        min_cache_tokens=ns.min_cache_tokens, batch_duration_s=ns.batch_duration,
        batch_progressive=ns.batch_progressive, seed=ns.seed)


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted; prints ``fake Anthropic API listening on URL`` once ready."""
    ns = _parse_args(argv)
    fake = FakeAnthropicAPI(config_from_args(ns), host=ns.host, port=ns.port)
    return fake.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
