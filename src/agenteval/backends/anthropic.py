"""The live Anthropic backend: Messages API with retries, adaptive concurrency, prompt-cache-aware
scheduling, cost accounting, an on-disk response cache, Message Batches and a dry-run estimator.

Design notes
------------
* **Retries are ours, not the SDK's.** The client is built with ``max_retries=0``: the SDK would sleep
  for any ``retry-after`` however long, and would retry spend-limit 429s. Our loop retries 408, 409, 429
  (not spend limits), 5xx/529, timeouts, connection errors and unparseable answers, up to
  ``max_retries`` times; it waits ``retry-after-ms`` / ``retry-after`` when given, capped at
  ``retry_after_cap_s`` (60 s), else exponential backoff with jitter. Other 4xx and spend-limit 429s
  (``error.details.error_code`` ``*_spend_limit_reached``) are reported at once, in one line.
* **Pacing** follows the ``anthropic-ratelimit-*`` headers of every answer: starts wait when a mirrored
  budget (requests, uncached input tokens, output tokens) would be overdrawn; a 429 with budget left is
  retried alone after its ``retry-after``, a 429 with a budget spent pauses new starts until its reset;
  529s shrink the window in proportion to their recent share; ``max_rps``/``max_itpm``/``max_otpm`` are
  hard client caps (:class:`~agenteval.backends.ratelimit.AdaptiveLimiter`). Requests are spread over
  several HTTP clients of at most 32 connections each, because the HTTP pool's cost per request grows with its size.
* **Prompt caching**: :class:`LLMRequest` marks the card body ``cache_control``. Requests that share
  that prefix pass a :class:`~agenteval.backends.ratelimit.PrefixGate`: the first (the primer) goes
  alone, *streamed*, so the others are released as soon as its ``message_start`` arrives (when the real
  API has written the cache entry), not when its whole answer is done. Cache writes ≈ one per prefix.
* **Cost**: every answer is priced from ``data/pricing.yaml`` (:mod:`agenteval.backends.pricing`); batch answers
  at the batch discount. :meth:`AnthropicBackend.stats` sums tokens, dollars, cache writes/reads and what
  caching saved.
* **Response cache**: answers are stored by ``request_hash(epoch)`` (after alias resolution); a hit
  returns ``cached=True``, ``cost_usd=0.0``, ``attempts=0`` and the original cost in
  ``provenance["original_cost_usd"]``. Errors are never cached.
* **The SDK is imported lazily** (it takes over a second): importing this module is cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import inspect
import json
import logging
import math
import os
import random
import time
import types
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field

from agenteval.backends.base import BackendResult, Usage
from agenteval.backends.pricing import PricingTable, estimate_tokens, load_pricing, resolve_model
from agenteval.backends.ratelimit import (
    AdaptiveLimiter,
    GateTicket,
    Outcome,
    PrefixGate,
    TokenCost,
    parse_retry_after,
)
from agenteval.backends.response_cache import (
    CachedResponse,
    ResponseCache,
    default_cache_dir,
    endpoint_namespace,
)
from agenteval.errors import AgentEvalError, UsageError
from agenteval.plan.matrix import PlanItem
from agenteval.plan.prompt import LLMRequest
from agenteval.redact import redact_text, register_secret

if TYPE_CHECKING:  # pragma: no cover
    from anthropic import AsyncAnthropic

log = logging.getLogger("agenteval.backends.anthropic")

DEFAULT_MAX_RETRIES = 6
MAX_BATCH_REQUESTS = 100_000
MAX_BATCH_BYTES = 256 * 1024 * 1024
CONNECTIONS_PER_CLIENT = 32
DEFAULT_EXPECTED_OUTPUT_TOKENS = 1000
_DETAIL_CHARS = 300

Pair = tuple[PlanItem, LLMRequest]
ResultCallback = Callable[[PlanItem, BackendResult], "Awaitable[None] | None"]


# ==================================================================== errors
class _BadResponse(Exception):
    """The API answered 2xx with something that is not a usable message."""


@dataclasses.dataclass
class _Failure:
    retryable: bool
    kind: str
    head: str  # "429 rate_limit_error", "timeout", ...
    detail: str
    limiter: Outcome = "error"
    retry_after: float | None = None
    headers: Mapping[str, str] | None = None
    final: str | None = None  # the whole message when it is not head + detail


def _one_line(text: str, limit: int = _DETAIL_CHARS) -> str:
    s = " ".join(redact_text(str(text)).split())  # an endpoint may quote the key back
    return s if len(s) <= limit else s[: limit - 1] + "…"


def classify_exception(exc: BaseException, *, timeout_s: float | None = None) -> _Failure:
    """Sort an exception from one API call into retryable or not, with a one-line description."""
    import anthropic
    import httpx2

    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        etype = exc.type or ("api_error" if status >= 500 else "error")
        detail = _one_line(exc.api_message or str(exc))
        headers = dict(exc.response.headers)
        code = exc.error_code
        if code and code.endswith("spend_limit_reached"):
            return _Failure(False, "spend_limit", f"{status} {etype}", detail, headers=headers,
                            final=f"spend limit reached ({code}); not retried: {detail}")
        limiter: Outcome = "error"
        retry_after = None
        if status == 429:
            retryable, limiter, retry_after = True, "rate_limited", parse_retry_after(headers)
        elif status == 529:
            retryable, limiter, retry_after = True, "overloaded", parse_retry_after(headers)
        else:
            retryable = status in (408, 409) or status >= 500
        should = headers.get("x-should-retry")
        if should == "false":
            retryable = False
        elif should == "true":
            retryable = True
        return _Failure(retryable, etype, f"{status} {etype}", detail, limiter, retry_after, headers)
    if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
        after = f" after {timeout_s:g} s" if timeout_s else ""
        return _Failure(True, "timeout", "timeout", f"no answer{after}")
    if isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError):
        detail = _one_line(str(exc) or type(exc).__name__)
        return _Failure(True, "connection_error", "connection error", detail)
    if isinstance(exc, anthropic.APIResponseValidationError | json.JSONDecodeError | _BadResponse):
        detail = _one_line(str(exc) or type(exc).__name__)
        return _Failure(True, "invalid_response", "invalid response", detail)
    if isinstance(exc, TypeError) and "authentication" in str(exc).lower():
        return _Failure(False, "authentication_error", "no credentials", "",
                        final="no Anthropic credentials: set ANTHROPIC_API_KEY (or pass api_key)")
    return _Failure(False, type(exc).__name__, type(exc).__name__, _one_line(str(exc)))


def _final_message(f: _Failure, attempts: int) -> str:
    if f.final:
        return f.final
    if not f.retryable:
        return f"{f.head}: {f.detail}; not retried" if f.detail else f"{f.head}; not retried"
    head = f"{f.head} after {attempts} attempt{'s' if attempts != 1 else ''}"
    return f"{head}: {f.detail}" if f.detail else head


# ==================================================================== report models
class BackendStats(BaseModel):
    """Running totals of one backend instance (see :meth:`AnthropicBackend.stats`)."""

    calls: int = 0
    ok: int = 0
    errors: int = 0
    api_requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    overloaded: int = 0
    timeouts: int = 0
    response_cache_hits: int = 0
    prompt_cache_writes: int = 0
    prompt_cache_reads: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cost_usd: float = 0.0
    cache_saving_usd: float = 0.0
    prefixes: int = 0
    primers: int = 0
    window: float = 0.0
    min_window: float = 0.0
    max_inflight: int = 0
    throttled_s: float = 0.0
    paused_s: float = 0.0
    capped_s: float = 0.0
    transient_429: int = 0
    budget_429: int = 0

    def cache_summary(self) -> str:
        """One line: prompt-cache writes, reads and the saving."""
        return (f"prompt cache: {self.prompt_cache_writes} writes "
                f"({self.cache_creation_input_tokens} tokens), "
                f"{self.prompt_cache_reads} reads ({self.cache_read_input_tokens} tokens), "
                f"saved ${self.cache_saving_usd:.4f}; response cache hits: {self.response_cache_hits}")


class BatchProgress(BaseModel):
    """One poll of one batch."""

    batch_id: str
    processing_status: str
    total: int
    processing: int
    succeeded: int
    errored: int
    canceled: int
    expired: int
    elapsed_s: float


class BatchSummary(BaseModel):
    """What :meth:`AnthropicBackend.run_batch` did."""

    batch_ids: list[str] = Field(default_factory=list)
    resumed_batch_ids: list[str] = Field(default_factory=list)
    submitted: int = 0
    succeeded: int = 0
    errored: int = 0
    canceled: int = 0
    expired: int = 0
    missing: int = 0
    cached: int = 0
    unmatched: int = 0
    failed_submission: int = 0
    cost_usd: float = 0.0


class DryRunEstimate(BaseModel):
    """Calls, tokens and dollars a run would take, computed without sending a message."""

    models: list[str]
    calls: int
    response_cache_hits: int = 0
    unique_prompts: int = 0
    unique_prefixes: int = 0
    token_method: str
    input_tokens: int = 0
    prefix_tokens: int = 0
    expected_output_tokens: int = 0
    max_output_tokens: int = 0
    cache_writes_expected: int = 0
    cache_reads_expected: int = 0
    live_usd: float | None = None
    live_usd_without_caching: float | None = None
    live_usd_max: float | None = None
    batch_usd: float | None = None
    batch_usd_worst: float | None = None
    unpriced_models: list[str] = Field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        def usd(x: float | None) -> str:
            return "n/a" if x is None else f"${x:,.2f}"

        out = [
            f"model(s): {', '.join(self.models)}",
            f"calls: {self.calls} ({self.response_cache_hits} more answered from the response cache)",
            f"input tokens: {self.input_tokens:,} ({self.token_method}); cacheable prefix share "
            f"{self.prefix_tokens:,} over {self.unique_prefixes} prefix(es)",
            f"output tokens: ~{self.expected_output_tokens:,} expected, {self.max_output_tokens:,} at most",
            f"prompt cache: ~{self.cache_writes_expected} writes, ~{self.cache_reads_expected} reads",
            f"live:  {usd(self.live_usd)} expected (without caching {usd(self.live_usd_without_caching)}; "
            f"at most {usd(self.live_usd_max)})",
            f"batch: {usd(self.batch_usd)} expected (no cache hits: {usd(self.batch_usd_worst)})",
        ]
        if self.unpriced_models:
            out.append(f"no price for: {', '.join(self.unpriced_models)}")
        return out

    def render(self) -> str:
        """The summary as text, one fact a line."""
        return "\n".join(self.lines())


# ==================================================================== helpers
def custom_id_for(item: PlanItem, request_hash: str) -> str:
    """The batch ``custom_id`` of an item: stable, ``[a-zA-Z0-9_-]{1,64}``, bound to the exact request."""
    return "ae_" + hashlib.sha256(f"{item.id}\n{request_hash}".encode()).hexdigest()[:48]


def _request_text(req: LLMRequest) -> str:
    return "\n".join([b.text for b in req.system] + [m.content for m in req.messages])


def _prefix_text(req: LLMRequest) -> str:
    # The API caches everything up to the last cache_control block.
    last = max((i for i, b in enumerate(req.system) if b.cache), default=-1)
    return "\n".join(b.text for b in req.system[: last + 1])


def _scrub_url(url: str | None) -> str | None:
    if not url:
        return url
    p = urlsplit(url)
    netloc = p.hostname or ""
    if p.port:
        netloc += f":{p.port}"
    return urlunsplit((p.scheme, netloc, p.path, "", ""))


async def _maybe_await(x: Any) -> None:
    if inspect.isawaitable(x):
        await x


def _usage_of(u: Any) -> Usage:
    return Usage(input_tokens=int(u.input_tokens or 0), output_tokens=int(u.output_tokens or 0),
                 cache_creation_input_tokens=int(getattr(u, "cache_creation_input_tokens", 0) or 0),
                 cache_read_input_tokens=int(getattr(u, "cache_read_input_tokens", 0) or 0))


def _text_of(msg: Any) -> str:
    content = getattr(msg, "content", None)
    if not isinstance(content, list):
        raise _BadResponse("answer has no content list")
    return "".join(getattr(b, "text", "") for b in content if getattr(b, "type", None) == "text")


def _lite_message(data: Any) -> Any:
    """A message object (attribute access, like the SDK's ``Message``) from the decoded JSON answer.

    Used instead of the SDK's model construction, which costs more per answer than the rest of the
    request; only the fields this backend reads are kept.
    """
    if not isinstance(data, dict) or data.get("type") != "message":
        raise _BadResponse("answer is not a message object")
    content = data.get("content")
    if isinstance(content, list):
        content = [types.SimpleNamespace(**b) if isinstance(b, dict) else b for b in content]
    usage = data.get("usage")
    return types.SimpleNamespace(
        id=data.get("id"), type="message", model=data.get("model"), stop_reason=data.get("stop_reason"),
        content=content, usage=types.SimpleNamespace(**usage) if isinstance(usage, dict) else usage)


@dataclasses.dataclass
class _Prepared:
    """What every attempt at one request needs, computed once per request object (epochs share it)."""

    source: LLMRequest  # the request as given (kept so that its id() stays unique while cached)
    req: LLMRequest  # after alias resolution
    kwargs: dict[str, Any]
    canon: bytes  # canonical JSON of ``kwargs``: request_hash(epoch) without re-serialising
    splice: bool  # every key sorts after "__epoch__": the hash payload is canon with the epoch in front
    timeout_s: float
    est_tokens: int
    prefix: tuple[str, str] | None
    prefix_tokens: int = 0  # estimated tokens of the cacheable prefix (read from the cache once warm)

    def request_hash(self, epoch: int | None) -> str:
        """Exactly :meth:`LLMRequest.request_hash` of the resolved request."""
        if not self.splice:
            return self.req.request_hash(epoch)
        head = b'{"__epoch__":' + json.dumps(epoch).encode()
        body = head + (b"," + self.canon[1:] if len(self.canon) > 2 else b"}")
        return "sha256:" + hashlib.sha256(body).hexdigest()


_PREPARED_MAX = 4096


HTTP_TRANSPORTS = ("auto", "httpx", "aiohttp")


def _http_transport(choice: str | None) -> str:
    """The SDK's HTTP transport: ``httpx`` (the SDK's default, and ours; ``$AGENTEVAL_HTTP_TRANSPORT``
    overrides it) or ``aiohttp`` (the SDK's ``aiohttp`` extra, about a fifth less client CPU per request,
    opt-in). ``auto`` takes aiohttp when it is installed.

    Raises:
        UsageError: an unknown choice, or ``aiohttp`` without aiohttp installed.
    """
    import importlib.util

    want = (choice or os.environ.get("AGENTEVAL_HTTP_TRANSPORT") or "httpx").strip().lower()
    if want not in HTTP_TRANSPORTS:
        raise UsageError(f"AGENTEVAL_HTTP_TRANSPORT: expected one of {', '.join(HTTP_TRANSPORTS)}, got '{want}'")
    has_aiohttp = importlib.util.find_spec("aiohttp") is not None
    if want == "aiohttp" and not has_aiohttp:
        raise UsageError("AGENTEVAL_HTTP_TRANSPORT=aiohttp needs aiohttp: pip install 'anthropic[aiohttp]'")
    if want == "auto":
        return "aiohttp" if has_aiohttp else "httpx"
    return want


# ==================================================================== the backend
class AnthropicBackend:
    """Answers requests with the Anthropic Messages API (see the module docstring).

    Args:
        model: default model (alias or id), used by :meth:`describe` and the dry run; each request's own
            ``model`` (alias or id) is what is sent.
        base_url: API root; default ``$ANTHROPIC_BASE_URL`` or the real API.
        api_key: default ``$ANTHROPIC_API_KEY``.
        concurrency: ceiling of requests in flight.
        max_retries: retries after the first attempt, per item.
        timeout_s: per-attempt read timeout; None: ``min(600, 60 + max_tokens / 25)`` seconds.
        connect_timeout_s: TCP/TLS connect timeout.
        retry_after_cap_s: the longest ``retry-after`` honoured (longer ones wait this long).
        backoff_base_s / backoff_max_s: exponential backoff when the server gives no ``retry-after``.
        cache_dir: response cache root (default :func:`default_cache_dir`); answers go in a
            sub-directory per endpoint.
        use_cache: False disables the response cache (no reads, no writes).
        cache_aware: gate requests by cacheable prefix (see :class:`PrefixGate`).
        stream_primer: stream the primer so the gate opens at ``message_start``.
        adaptive: False keeps the window at ``concurrency`` (headers still throttle).
        max_rps / max_itpm / max_otpm: hard caps on requests per second and on (uncached) input and output
            tokens per minute that the backend never exceeds, whatever budget the server reports.
        pricing: a pricing table (default: the packaged one).
        http_transport: ``httpx`` (default, or ``$AGENTEVAL_HTTP_TRANSPORT``), ``aiohttp`` or ``auto``: the
            SDK's HTTP client; ``auto`` takes the SDK's aiohttp transport when aiohttp is installed.

    Raises:
        UsageError: ``model`` is not a known alias or model id; ``http_transport`` is unknown or unavailable.
    """

    name = "anthropic"

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        concurrency: int = 8,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout_s: float | None = None,
        connect_timeout_s: float = 10.0,
        retry_after_cap_s: float = 60.0,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 30.0,
        cache_dir: Path | str | None = None,
        use_cache: bool = True,
        cache_aware: bool = True,
        stream_primer: bool = True,
        adaptive: bool = True,
        prime_timeout_s: float = 120.0,
        pricing: PricingTable | None = None,
        http_transport: str | None = None,
        max_rps: float | None = None,
        max_itpm: float | None = None,
        max_otpm: float | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.http_transport = _http_transport(http_transport)
        self.model = resolve_model(model) if model else None
        self.base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
        self._api_key = api_key or os.environ.get("ANTHROPIC_API_KEY") or None
        register_secret(self._api_key)
        self.concurrency = concurrency
        self.max_retries = max(0, max_retries)
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.retry_after_cap_s = retry_after_cap_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.cache_aware = cache_aware
        self.stream_primer = stream_primer
        self.pricing = pricing or load_pricing()
        self.cache_root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.response_cache: ResponseCache | None = (
            ResponseCache(self.cache_root / endpoint_namespace(self.base_url)) if use_cache else None)
        self.limiter = AdaptiveLimiter(concurrency, adaptive=adaptive, max_rps=max_rps, max_itpm=max_itpm,
                                       max_otpm=max_otpm, probe=True)
        self.gate = PrefixGate(prime_timeout_s=prime_timeout_s)
        self._stats = BackendStats()
        self._clients: list[AsyncAnthropic] = []
        self._load: list[int] = []
        self._warned_unpriced: set[str] = set()
        self._prepared: dict[int, _Prepared] = {}

    # ---------------------------------------------------------------- protocol
    def describe(self) -> dict[str, Any]:
        """Settings for the run manifest (no secrets)."""
        try:
            from importlib.metadata import version

            sdk = version("anthropic")
        except Exception:  # pragma: no cover
            sdk = None
        return {
            "backend": self.name,
            "model": self.model,
            "base_url": _scrub_url(self.base_url) or "https://api.anthropic.com",
            "api_key_set": bool(self._api_key),
            "concurrency": self.concurrency,
            "adaptive_concurrency": self.limiter.adaptive,
            "max_rps": self.limiter.max_rps,
            "max_itpm": self.limiter.max_itpm,
            "max_otpm": self.limiter.max_otpm,
            "max_retries": self.max_retries,
            "timeout_s": self.timeout_s,
            "retry_after_cap_s": self.retry_after_cap_s,
            "cache_aware": self.cache_aware,
            "stream_primer": self.stream_primer,
            "http_transport": self.http_transport,
            "response_cache": str(self.response_cache.root) if self.response_cache else None,
            "pricing_as_of": self.pricing.as_of,
            "sdk": f"anthropic {sdk}" if sdk else None,
        }

    async def aclose(self) -> None:
        """Close the HTTP clients."""
        clients, self._clients, self._load = self._clients, [], []
        for c in clients:
            with contextlib.suppress(Exception):
                await c.close()

    async def __aenter__(self) -> AnthropicBackend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def stats(self) -> BackendStats:
        """Totals so far: calls, retries, tokens, $ and prompt-cache writes/reads/saving."""
        s = self._stats.model_copy()
        ls = self.limiter.stats
        s.window, s.min_window, s.max_inflight = ls.window, ls.min_window, ls.max_inflight
        s.throttled_s, s.paused_s, s.capped_s = ls.throttled_s, ls.paused_s, ls.capped_s
        s.transient_429, s.budget_429 = ls.transient_429, ls.budget_429
        s.prefixes, s.primers = self.gate.prefixes, self.gate.primers
        return s

    def pacing_status(self) -> dict[str, Any]:
        """For the progress line: effective start rate (requests/s), the limiting budget, in flight."""
        return self.limiter.status()

    # ---------------------------------------------------------------- clients
    def prepare(self) -> None:
        """Import the SDK and build the HTTP clients now rather than on the first request (idempotent).

        Importing the SDK takes about a second; a caller that times requests calls this first.
        """
        self._ensure_clients()

    def _ensure_clients(self) -> None:
        if self._clients:
            return
        import anthropic
        import httpx2

        n = max(1, math.ceil(self.concurrency / CONNECTIONS_PER_CLIENT))
        per = math.ceil(self.concurrency / n) + 4
        http_client = (anthropic.DefaultAioHttpClient if self.http_transport == "aiohttp"
                       else anthropic.DefaultAsyncHttpxClient)
        for _ in range(n):
            http = http_client(limits=httpx2.Limits(max_connections=per, max_keepalive_connections=per))
            kwargs: dict[str, Any] = {"max_retries": 0, "http_client": http,
                                      "timeout": httpx2.Timeout(self.timeout_s or 600.0,
                                                                connect=self.connect_timeout_s)}
            if self._api_key:
                kwargs["api_key"] = self._api_key
            if self.base_url:
                kwargs["base_url"] = self.base_url
            self._clients.append(anthropic.AsyncAnthropic(**kwargs))
            self._load.append(0)

    @contextlib.contextmanager
    def _client(self) -> Any:
        self._ensure_clients()
        i = min(range(len(self._clients)), key=self._load.__getitem__)
        self._load[i] += 1
        try:
            yield self._clients[i]
        finally:
            if i < len(self._load):
                self._load[i] -= 1

    def _backoff(self, attempts: int) -> float:
        """Exponential backoff with jitter (50-100 %) after ``attempts`` failed attempts."""
        return min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempts - 1)) * random.uniform(0.5, 1.0)

    def _timeout_for(self, req: LLMRequest) -> float:
        return self.timeout_s if self.timeout_s is not None else min(600.0, 60.0 + req.max_tokens / 25.0)

    def _resolve(self, request: LLMRequest) -> LLMRequest:
        model = resolve_model(request.model)
        return request if model == request.model else request.model_copy(update={"model": model})

    def _prepare(self, request: LLMRequest) -> _Prepared:
        """Resolve, serialise and hash ``request`` once (the runner reuses one request per cell).

        Raises:
            AgentEvalError: the request's model is unknown.
        """
        p = self._prepared.get(id(request))
        if p is not None and p.source is request:
            return p
        req = self._resolve(request)
        kwargs = req.to_api()
        canon = json.dumps(kwargs, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        prefix = (req.model, req.prefix_hash()) if self.cache_aware and any(b.cache for b in req.system) else None
        p = _Prepared(source=request, req=req, kwargs=kwargs, canon=canon,
                      splice=all(k > "__epoch__" for k in kwargs), timeout_s=self._timeout_for(req),
                      est_tokens=estimate_tokens(_request_text(req)), prefix=prefix,
                      prefix_tokens=estimate_tokens(_prefix_text(req)) if prefix else 0)
        if len(self._prepared) >= _PREPARED_MAX:
            self._prepared.clear()
        self._prepared[id(request)] = p
        return p

    # ---------------------------------------------------------------- generate
    async def generate(self, request: LLMRequest, item: PlanItem) -> BackendResult:
        """Answer one request. Never raises for per-item failures: they come back as status "error"."""
        t0 = time.perf_counter()
        self._stats.calls += 1
        try:
            return await self._generate(request, item, t0)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug here must cost one item, not the run
            log.exception("internal error answering %s", item.id)
            self._stats.errors += 1
            msg = f"internal error: {type(e).__name__}: {_one_line(str(e))}"
            return BackendResult(status="error", error=msg, error_type="internal_error", model=request.model,
                                 latency_s=time.perf_counter() - t0)

    async def _generate(self, request: LLMRequest, item: PlanItem, t0: float) -> BackendResult:
        try:
            prep = self._prepare(request)
        except AgentEvalError as e:
            self._stats.errors += 1
            return BackendResult(status="error", error=str(e), error_type="usage", model=request.model,
                                 attempts=0, latency_s=time.perf_counter() - t0)
        key = prep.request_hash(item.epoch)
        if self.response_cache is not None:
            hit = self.response_cache.get(key)
            if hit is not None:
                self._stats.response_cache_hits += 1
                self._stats.ok += 1
                return self._cached_result(hit, t0)
        async with self.gate.enter(prep.prefix) as ticket:
            result = await self._generate_with_retries(prep, key, ticket, t0)
        if result.status == "ok":
            self._stats.ok += 1
            if self.response_cache is not None:
                self.response_cache.put(CachedResponse(
                    key=key, model=result.model, text=result.text or "", stop_reason=result.stop_reason,
                    usage=result.usage, cost_usd=result.cost_usd, latency_s=result.latency_s,
                    provenance={"item_id": item.id, **(result.provenance or {})}))
        else:
            self._stats.errors += 1
        return result

    def _cached_result(self, hit: CachedResponse, t0: float) -> BackendResult:
        prov = dict(hit.provenance or {})
        prov.update({"backend": self.name, "request_hash": hit.key, "response_cache": "hit",
                     "cached_at": hit.created_at, "original_cost_usd": hit.cost_usd})
        return BackendResult(status="ok", text=hit.text, model=hit.model, stop_reason=hit.stop_reason,
                             usage=hit.usage, cost_usd=0.0, latency_s=time.perf_counter() - t0, attempts=0,
                             cached=True, provenance=prov)

    async def _generate_with_retries(self, prep: _Prepared, key: str, ticket: GateTicket, t0: float
                                     ) -> BackendResult:
        req, kwargs, timeout_s, est_tokens = prep.req, prep.kwargs, prep.timeout_s, prep.est_tokens
        attempts = 0
        while True:
            attempts += 1
            self._stats.api_requests += 1
            stream = ticket.primer and self.stream_primer and not ticket.done
            # what the API counts (see ratelimit.TokenCost): cache reads are not input tokens for the limit,
            # so once the prefix is warm (not the primer) its share is left out; output is reserved at
            # max_tokens until the answer says how many were produced
            warm = prep.prefix is not None and not (ticket.primer and not ticket.done)
            cost = TokenCost(input=max(1, est_tokens - (prep.prefix_tokens if warm else 0)), output=req.max_tokens)
            started = await self.limiter.acquire(cost)
            outcome: Outcome = "error"
            failure: _Failure | None = None
            headers: Mapping[str, str] | None = None
            used: TokenCost | None = None
            try:
                with self._client() as client:
                    msg, headers = await self._call_once(client, kwargs, timeout_s, ticket, stream, started)
                outcome = "ok"
                with contextlib.suppress(Exception):
                    u = _usage_of(msg.usage)
                    used = TokenCost(input=u.input_tokens + u.cache_creation_input_tokens, output=u.output_tokens)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                failure = classify_exception(e, timeout_s=timeout_s)
                outcome, headers = failure.limiter, failure.headers
            finally:
                self.limiter.release(started, outcome, headers=headers, used=used,
                                     retry_after=min(failure.retry_after, self.retry_after_cap_s)
                                     if failure and failure.retry_after else None)
            if failure is None:
                return self._ok_result(req, key, msg, headers, attempts, t0, streamed=stream)
            if failure.limiter == "rate_limited":
                self._stats.rate_limited += 1
            elif failure.limiter == "overloaded":
                self._stats.overloaded += 1
            if failure.kind == "timeout":
                self._stats.timeouts += 1
            if not failure.retryable or attempts > self.max_retries:
                return BackendResult(status="error", error=_final_message(failure, attempts),
                                     error_type=failure.kind, model=req.model, attempts=attempts,
                                     latency_s=time.perf_counter() - t0,
                                     provenance={"backend": self.name, "request_hash": key,
                                                 "request_id": (failure.headers or {}).get("request-id")})
            self._stats.retries += 1
            if failure.retry_after is not None:
                delay = min(failure.retry_after, self.retry_after_cap_s)
            else:  # backoff in proportion to how often the server has been failing lately
                delay = min(self._backoff(attempts) * self.limiter.backoff_scale(), self.retry_after_cap_s)
            log.debug("retrying in %.2fs after %s", delay, failure.head)
            await asyncio.sleep(delay)

    async def _call_once(self, client: AsyncAnthropic, kwargs: dict[str, Any], timeout_s: float,
                         ticket: GateTicket, stream: bool, started: float | None = None
                         ) -> tuple[Any, Mapping[str, str]]:
        import httpx2

        timeout = httpx2.Timeout(timeout_s, connect=self.connect_timeout_s)
        if stream:
            raw = await client.messages.with_raw_response.create(**kwargs, stream=True, timeout=timeout)
            headers = dict(raw.headers.items())
            if started is not None:  # the budget is known now: before the stream ends and the gate opens
                self.limiter.observe_headers(headers, sent_at=started)
            msg = await self._read_stream(await raw.parse(), ticket)
        else:
            raw = await client.messages.with_raw_response.create(**kwargs, timeout=timeout)
            headers = dict(raw.headers.items())  # a plain dict: header lookups below are O(1)
            try:
                msg = _lite_message(json.loads(await raw.read()))
            except ValueError as e:  # not JSON, not UTF-8
                raise _BadResponse(f"answer is not JSON: {_one_line(str(e), 80)}") from e
        try:
            _text_of(msg)
            u = _usage_of(msg.usage)
        except (AttributeError, TypeError, ValueError) as e:
            raise _BadResponse(f"malformed message: {e}") from e
        if not stream:
            ticket.begun(cacheable=bool(u.cache_creation_input_tokens or u.cache_read_input_tokens))
        return msg, headers

    @staticmethod
    async def _read_stream(events: Any, ticket: GateTicket) -> Any:
        """Accumulate a streamed answer (the SDK's raw events) into a message; open the gate at
        ``message_start``. An ``error`` event raises the SDK's status error."""
        msg: Any = None
        texts: dict[int, list[str]] = {}
        try:
            async for ev in events:
                kind = getattr(ev, "type", None)
                if kind == "message_start":
                    m = ev.message
                    u = m.usage
                    msg = types.SimpleNamespace(
                        id=m.id, type="message", model=m.model, stop_reason=m.stop_reason, content=[],
                        usage=types.SimpleNamespace(
                            input_tokens=u.input_tokens, output_tokens=u.output_tokens,
                            cache_creation_input_tokens=getattr(u, "cache_creation_input_tokens", 0),
                            cache_read_input_tokens=getattr(u, "cache_read_input_tokens", 0)))
                    ticket.begun(cacheable=bool(msg.usage.cache_creation_input_tokens
                                                or msg.usage.cache_read_input_tokens))
                elif msg is None:
                    continue
                elif kind == "content_block_start":
                    block = ev.content_block
                    if getattr(block, "type", None) == "text":
                        texts[ev.index] = [block.text or ""]
                elif kind == "content_block_delta":
                    if getattr(ev.delta, "type", None) == "text_delta" and ev.index in texts:
                        texts[ev.index].append(ev.delta.text)
                elif kind == "message_delta":
                    msg.stop_reason = ev.delta.stop_reason
                    for f in ("input_tokens", "output_tokens", "cache_creation_input_tokens",
                              "cache_read_input_tokens"):
                        v = getattr(ev.usage, f, None)
                        if v is not None:
                            setattr(msg.usage, f, v)
        finally:
            with contextlib.suppress(Exception):
                await events.close()
        if msg is None:
            raise _BadResponse("stream ended without message_start")
        msg.content = [types.SimpleNamespace(type="text", text="".join(texts[i])) for i in sorted(texts)]
        return msg

    def _price(self, model: str, usage: Usage, *, batch: bool = False) -> float | None:
        cost = self.pricing.cost(model, usage, batch=batch)
        if cost is None and model not in self._warned_unpriced:
            self._warned_unpriced.add(model)
            log.warning("no price for model %s in pricing.yaml; cost not computed", model)
        return cost

    def _account(self, model: str, usage: Usage, cost: float | None, *, batch: bool = False) -> None:
        s = self._stats
        s.input_tokens += usage.input_tokens
        s.output_tokens += usage.output_tokens
        s.cache_creation_input_tokens += usage.cache_creation_input_tokens
        s.cache_read_input_tokens += usage.cache_read_input_tokens
        if usage.cache_creation_input_tokens:
            s.prompt_cache_writes += 1
        if usage.cache_read_input_tokens:
            s.prompt_cache_reads += 1
        if cost is not None:
            s.cost_usd += cost
        saving = self.pricing.cache_saving(model, usage, batch=batch)
        if saving is not None:
            s.cache_saving_usd += saving

    def _ok_result(self, req: LLMRequest, key: str, msg: Any, headers: Mapping[str, str] | None,
                   attempts: int, t0: float, *, streamed: bool) -> BackendResult:
        usage = _usage_of(msg.usage)
        model = getattr(msg, "model", None) or req.model
        cost = self._price(req.model, usage)
        self._account(req.model, usage, cost)
        return BackendResult(
            status="ok", text=_text_of(msg), model=model, stop_reason=getattr(msg, "stop_reason", None),
            usage=usage, cost_usd=cost, latency_s=time.perf_counter() - t0, attempts=attempts,
            provenance={"backend": self.name, "request_hash": key, "message_id": getattr(msg, "id", None),
                        "request_id": (headers or {}).get("request-id"), "streamed": streamed})

    # ---------------------------------------------------------------- dry run
    async def count_tokens(self, request: LLMRequest) -> int:
        """Input tokens of ``request`` by the API's ``count_tokens`` (no message is sent).

        Raises:
            Exception: whatever the SDK raises (the caller falls back to the local estimate).
        """
        req = self._resolve(request)
        kwargs = req.to_api()
        kwargs.pop("max_tokens", None)
        kwargs.pop("temperature", None)
        with self._client() as client:
            res = await client.messages.count_tokens(**kwargs)
        return int(res.input_tokens)

    async def dry_run(self, pairs: Sequence[Pair], *, count_tokens: bool = True,
                      expected_output_tokens: int | None = None) -> DryRunEstimate:
        """Estimate a run of ``pairs`` (see :func:`estimate_run`), counting tokens with the API when
        ``count_tokens`` (falling back to the local estimate if that fails) and skipping items the
        response cache already answers."""
        return await estimate_run(pairs, backend=self if count_tokens else None, pricing=self.pricing,
                                  response_cache=self.response_cache,
                                  expected_output_tokens=expected_output_tokens)

    # ---------------------------------------------------------------- batches
    async def _api_retry(self, what: str, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        """Call ``fn(client)`` with our retry policy; raises the last exception when it gives up."""
        attempts = 0
        while True:
            attempts += 1
            try:
                with self._client() as client:
                    return await fn(client)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                f = classify_exception(e, timeout_s=self.timeout_s)
                if not f.retryable or attempts > self.max_retries:
                    raise
                delay = f.retry_after if f.retry_after is not None else self._backoff(attempts)
                log.info("%s: %s; retrying in %.1fs", what, f.head, min(delay, self.retry_after_cap_s))
                await asyncio.sleep(min(delay, self.retry_after_cap_s))

    async def cancel_batch(self, batch_id: str) -> str:
        """Ask the API to cancel a batch; returns its processing status."""
        b = await self._api_retry("cancel batch", lambda c: c.messages.batches.cancel(batch_id))
        return str(b.processing_status)

    async def run_batch(
        self,
        pairs: Sequence[Pair],
        on_result: ResultCallback,
        *,
        on_submitted: Callable[[str], Awaitable[None] | None] | None = None,
        resume_batch_ids: Sequence[str] | None = None,
        poll_interval_s: float = 30.0,
        on_progress: Callable[[BatchProgress], Awaitable[None] | None] | None = None,
        max_requests_per_batch: int = MAX_BATCH_REQUESTS,
    ) -> BatchSummary:
        """Answer ``pairs`` through Message Batches; ``on_result(item, result)`` once per item.

        Items the response cache answers are delivered at once (``cached=True``) and not submitted.
        Batches in ``resume_batch_ids`` (the ids ``on_submitted`` reported to an interrupted run) are
        polled to the end first and their results matched by ``custom_id``; only items none of them
        answered are submitted, in batches of at most ``max_requests_per_batch`` requests and 256 MB.
        Every new batch's id is passed to ``on_submitted(batch_id)`` right after it is created, before
        any polling, so a caller that persists it can resume instead of resubmitting. Polling starts
        at 1 s and backs off to ``poll_interval_s``; ``on_progress`` gets each poll.

        Results: ``succeeded`` -> ok (priced at the batch discount, stored in the response cache);
        ``errored``, ``canceled``, ``expired`` -> status "error" with ``error_type`` ``batch_errored`` /
        ``batch_canceled`` / ``batch_expired``. Cancelling this coroutine leaves the remote batches
        running.
        """
        summary = BatchSummary()
        entries: dict[str, tuple[PlanItem, LLMRequest, str]] = {}
        delivered: set[str] = set()

        async def deliver(cid: str | None, item: PlanItem, result: BackendResult) -> None:
            if cid is not None:
                delivered.add(cid)
            if result.status == "ok":
                self._stats.ok += 1
            else:
                self._stats.errors += 1
            await _maybe_await(on_result(item, result))

        for item, request in pairs:
            self._stats.calls += 1
            t0 = time.perf_counter()
            try:
                req = self._resolve(request)
            except AgentEvalError as e:
                await deliver(None, item, BackendResult(status="error", error=str(e), error_type="usage",
                                                        attempts=0))
                continue
            key = req.request_hash(item.epoch)
            if self.response_cache is not None:
                hit = self.response_cache.get(key)
                if hit is not None:
                    self._stats.response_cache_hits += 1
                    summary.cached += 1
                    await deliver(None, item, self._cached_result(hit, t0))
                    continue
            cid = custom_id_for(item, key)
            if cid in entries:
                dup = BackendResult(status="error", error=f"duplicate plan item {item.id}",
                                    error_type="usage", attempts=0)
                await deliver(None, item, dup)
                continue
            entries[cid] = (item, req, key)

        started = time.monotonic()
        if resume_batch_ids:
            ids = list(dict.fromkeys(resume_batch_ids))
            summary.resumed_batch_ids = ids
            await self._await_batches(ids, entries, delivered, deliver, summary, poll_interval_s, on_progress,
                                      started)

        todo = [cid for cid in entries if cid not in delivered]
        new_ids: list[str] = []
        for chunk in self._chunks(todo, entries, max_requests_per_batch):
            requests = [{"custom_id": cid, "params": entries[cid][1].to_api()} for cid in chunk]
            try:
                def create(c: Any, r: list[dict[str, Any]] = requests) -> Awaitable[Any]:
                    return c.messages.batches.create(requests=r)  # type: ignore[no-any-return]

                batch = await self._api_retry("create batch", create)
            except Exception as e:
                f = classify_exception(e, timeout_s=self.timeout_s)
                msg = "batch submission failed: " + _final_message(f, 1)
                for cid in chunk:
                    item = entries[cid][0]
                    summary.failed_submission += 1
                    await deliver(cid, item, BackendResult(status="error", error=msg, error_type=f.kind,
                                                           attempts=1))
                continue
            new_ids.append(batch.id)
            summary.submitted += len(chunk)
            log.info("submitted batch %s (%d requests)", batch.id, len(chunk))
            if on_submitted is not None:
                await _maybe_await(on_submitted(batch.id))
        summary.batch_ids = new_ids
        if new_ids:
            await self._await_batches(new_ids, entries, delivered, deliver, summary, poll_interval_s,
                                      on_progress, started)
        for cid, (item, req, key) in entries.items():
            if cid not in delivered:
                summary.missing += 1
                await deliver(cid, item, BackendResult(
                    status="error", error="no result for this item in its batch", error_type="batch_missing",
                    model=req.model, attempts=1, provenance={"backend": self.name, "custom_id": cid,
                                                             "request_hash": key}))
        return summary

    @staticmethod
    def _chunks(cids: list[str], entries: Mapping[str, tuple[PlanItem, LLMRequest, str]], max_n: int
                ) -> list[list[str]]:
        out: list[list[str]] = []
        cur: list[str] = []
        size = 0
        for cid in cids:
            n = len(json.dumps(entries[cid][1].to_api())) + 100
            if cur and (len(cur) >= max_n or size + n > MAX_BATCH_BYTES):
                out.append(cur)
                cur, size = [], 0
            cur.append(cid)
            size += n
        if cur:
            out.append(cur)
        return out

    async def _await_batches(self, ids: list[str], entries: Mapping[str, tuple[PlanItem, LLMRequest, str]],
                             delivered: set[str], deliver: Callable[..., Awaitable[None]],
                             summary: BatchSummary, poll_interval_s: float,
                             on_progress: Callable[[BatchProgress], Awaitable[None] | None] | None,
                             started: float) -> None:
        import anthropic

        pending = list(ids)
        delay = min(poll_interval_s, 1.0)
        while pending:
            still: list[str] = []
            for bid in pending:
                try:
                    def poll(c: Any, i: str = bid) -> Awaitable[Any]:
                        return c.messages.batches.retrieve(i)  # type: ignore[no-any-return]

                    b = await self._api_retry("poll batch", poll)
                except anthropic.NotFoundError:
                    log.warning("batch %s not found; its items will be submitted again", bid)
                    continue
                except Exception as e:
                    f = classify_exception(e, timeout_s=self.timeout_s)
                    log.warning("batch %s: polling failed (%s); will try again", bid, _final_message(f, 1))
                    still.append(bid)
                    continue
                rc = b.request_counts
                total = rc.processing + rc.succeeded + rc.errored + rc.canceled + rc.expired
                if on_progress is not None:
                    await _maybe_await(on_progress(BatchProgress(
                        batch_id=bid, processing_status=b.processing_status, total=total,
                        processing=rc.processing, succeeded=rc.succeeded, errored=rc.errored,
                        canceled=rc.canceled, expired=rc.expired, elapsed_s=time.monotonic() - started)))
                if b.processing_status == "ended":
                    await self._collect(bid, entries, delivered, deliver, summary)
                else:
                    still.append(bid)
            pending = still
            if pending:
                await asyncio.sleep(delay)
                delay = min(poll_interval_s, delay * 2)

    async def _collect(self, bid: str, entries: Mapping[str, tuple[PlanItem, LLMRequest, str]],
                       delivered: set[str], deliver: Callable[..., Awaitable[None]], summary: BatchSummary
                       ) -> None:
        async def read(client: Any) -> None:
            async for row in await client.messages.batches.results(bid):
                cid = row.custom_id
                if cid not in entries or cid in delivered:
                    if cid not in entries:
                        summary.unmatched += 1
                    continue
                item, req, key = entries[cid]
                await deliver(cid, item, self._batch_result(bid, cid, row.result, req, key, item, summary))

        await self._api_retry("batch results", read)

    def _batch_result(self, bid: str, cid: str, res: Any, req: LLMRequest, key: str, item: PlanItem,
                      summary: BatchSummary) -> BackendResult:
        prov: dict[str, Any] = {"backend": self.name, "batch_id": bid, "custom_id": cid, "request_hash": key}
        kind = getattr(res, "type", None)
        if kind == "succeeded":
            msg = res.message
            usage = _usage_of(msg.usage)
            cost = self._price(req.model, usage, batch=True)
            self._account(req.model, usage, cost, batch=True)
            summary.succeeded += 1
            if cost is not None:
                summary.cost_usd += cost
            prov["message_id"] = msg.id
            result = BackendResult(status="ok", text=_text_of(msg), model=msg.model,
                                   stop_reason=msg.stop_reason, usage=usage, cost_usd=cost, attempts=1,
                                   provenance=prov)
            if self.response_cache is not None:
                self.response_cache.put(CachedResponse(
                    key=key, model=result.model, text=result.text or "", stop_reason=result.stop_reason,
                    usage=usage, cost_usd=cost, batch=True, provenance={"item_id": item.id, **prov}))
            return result
        if kind == "errored":
            summary.errored += 1
            err = getattr(getattr(res, "error", None), "error", None)
            etype = getattr(err, "type", "api_error")
            detail = _one_line(getattr(err, "message", "") or "")
            return BackendResult(status="error", error=f"batch request errored: {etype}: {detail}",
                                 error_type="batch_errored", model=req.model, attempts=1, provenance=prov)
        if kind in ("canceled", "expired"):
            if kind == "canceled":
                summary.canceled += 1
            else:
                summary.expired += 1
            return BackendResult(status="error", error=f"batch request {kind} before it was processed",
                                 error_type=f"batch_{kind}", model=req.model, attempts=1, provenance=prov)
        summary.errored += 1
        return BackendResult(status="error", error=f"unknown batch result type {kind!r}",
                             error_type="batch_errored", model=req.model, attempts=1, provenance=prov)


# ==================================================================== dry run
async def estimate_run(
    pairs: Sequence[Pair],
    *,
    backend: AnthropicBackend | None = None,
    pricing: PricingTable | None = None,
    response_cache: ResponseCache | None = None,
    expected_output_tokens: int | None = None,
) -> DryRunEstimate:
    """Plan call count, tokens and $ (live and batch) for ``pairs`` without sending a message.

    Tokens: with ``backend``, each distinct prompt is counted by the API's ``count_tokens`` endpoint; if
    that fails (offline, no key) or without a backend, by the local estimate ``ceil(chars / 3.5)``
    (:func:`agenteval.backends.pricing.estimate_tokens`). The cacheable prefix's share is taken in proportion to
    its characters. Output tokens are unknown before the run: the estimate assumes
    ``expected_output_tokens`` per call (default ``min(max_tokens, 1000)``) and the upper bound
    ``max_tokens``. Live cost assumes cache-aware scheduling (one cache write per prefix, reads after);
    batch cost applies the batch discount, with the same cache pattern (``batch_usd``) and with no cache
    hits at all (``batch_usd_worst``, as batch caching is best-effort). Items ``response_cache`` already
    answers are not counted as calls.
    """
    table = pricing or (backend.pricing if backend else load_pricing())
    est, todo, unique = _plan_calls(pairs, response_cache)
    counts: dict[str, int] = {k: estimate_tokens(_request_text(r)) for k, r in unique.items()}
    if backend is not None and unique:
        sem = asyncio.Semaphore(max(1, min(backend.concurrency, 16)))

        async def one(k: str, r: LLMRequest) -> tuple[str, int]:
            async with sem:
                return k, await backend.count_tokens(r)

        counted = await asyncio.gather(*(one(k, r) for k, r in unique.items()), return_exceptions=True)
        failed = next((c for c in counted if isinstance(c, BaseException)), None)
        if isinstance(failed, asyncio.CancelledError):
            raise failed
        if failed is not None:
            f = classify_exception(failed)
            est.token_method = f"local estimate (chars/3.5); count_tokens failed: {_final_message(f, 1)}"
        else:
            counts.update(dict(c for c in counted if isinstance(c, tuple)))
            est.token_method = "count_tokens"
    return _price_calls(est, todo, counts, table, expected_output_tokens)


def dry_run_estimate(
    requests: Sequence[LLMRequest | Pair],
    model: str | None = None,
    *,
    count_tokens: bool | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    expected_output_tokens: int | None = None,
    pricing: PricingTable | None = None,
) -> DryRunEstimate:
    """Synchronous dry run for the CLI: ``requests`` (or ``(item, request)`` pairs) -> calls, tokens, $.

    Tokens are counted with the API's ``count_tokens`` when ``count_tokens`` is True, or when it is None
    and an API key is at hand (``api_key`` or ``$ANTHROPIC_API_KEY``); otherwise, or if counting fails,
    the local estimate ``ceil(chars / 3.5)`` is used. No message is ever sent. ``model`` (alias or id)
    replaces an empty ``request.model``. Must not be called from a running event loop.
    """
    pairs: list[Pair] = []
    for i, r in enumerate(requests):
        if isinstance(r, tuple):
            item, req = r
        else:
            item, req = PlanItem(scenario_id=f"request{i}", mode="-", role="-", epoch=1, tool_mode="-"), r
        if not req.model and model:
            req = req.model_copy(update={"model": model})
        pairs.append((item, req))
    key = api_key or os.environ.get("ANTHROPIC_API_KEY")
    use_api = bool(key) if count_tokens is None else count_tokens
    if not use_api:
        return estimate_run_offline(pairs, pricing=pricing, expected_output_tokens=expected_output_tokens)

    async def go() -> DryRunEstimate:
        backend = AnthropicBackend(model, base_url=base_url, api_key=key, max_retries=0, timeout_s=30.0,
                                   use_cache=False, pricing=pricing)
        try:
            return await estimate_run(pairs, backend=backend, expected_output_tokens=expected_output_tokens)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def estimate_run_offline(pairs: Sequence[Pair], *, pricing: PricingTable | None = None,
                         response_cache: ResponseCache | None = None,
                         expected_output_tokens: int | None = None) -> DryRunEstimate:
    """:func:`estimate_run` with the local token estimate only: synchronous, no network, no SDK import."""
    est, todo, unique = _plan_calls(pairs, response_cache)
    counts = {k: estimate_tokens(_request_text(r)) for k, r in unique.items()}
    return _price_calls(est, todo, counts, pricing or load_pricing(), expected_output_tokens)


def _plan_calls(pairs: Sequence[Pair], response_cache: ResponseCache | None
                ) -> tuple[DryRunEstimate, list[tuple[LLMRequest, str]], dict[str, LLMRequest]]:
    est = DryRunEstimate(models=[], calls=0, token_method="local estimate (chars/3.5)")
    todo: list[tuple[LLMRequest, str]] = []
    models: dict[str, None] = {}
    for item, request in pairs:
        try:
            req = request.model_copy(update={"model": resolve_model(request.model)})
        except AgentEvalError:
            req = request
        if response_cache is not None and response_cache.get(req.request_hash(item.epoch)) is not None:
            est.response_cache_hits += 1
            continue
        todo.append((req, f"{req.model}\n{req.prompt_hash()}"))
        models[req.model] = None
    est.models = list(models)
    est.calls = len(todo)
    unique: dict[str, LLMRequest] = {}
    for req, k in todo:
        unique.setdefault(k, req)
    est.unique_prompts = len(unique)
    return est, todo, unique


def _price_calls(est: DryRunEstimate, todo: list[tuple[LLMRequest, str]], counts: Mapping[str, int],
                 table: PricingTable, expected_output_tokens: int | None) -> DryRunEstimate:
    seen_prefix: set[tuple[str, str]] = set()
    totals = [0.0] * 5  # live, live without caching, live max, batch, batch worst
    unpriced: dict[str, None] = {}
    for req, k in todo:
        total = counts[k]
        full_chars = len(_request_text(req)) or 1
        prefix_chars = len(_prefix_text(req))
        prefix = round(total * prefix_chars / full_chars) if prefix_chars else 0
        out_exp = min(req.max_tokens, expected_output_tokens or DEFAULT_EXPECTED_OUTPUT_TOKENS)
        est.input_tokens += total
        est.prefix_tokens += prefix
        est.expected_output_tokens += out_exp
        est.max_output_tokens += req.max_tokens
        first = False
        if prefix:
            pk = (req.model, req.prefix_hash())
            first = pk not in seen_prefix
            seen_prefix.add(pk)
            if first:
                est.cache_writes_expected += 1
            else:
                est.cache_reads_expected += 1
        rest = total - prefix
        u_live = Usage(input_tokens=rest, output_tokens=out_exp,
                       cache_creation_input_tokens=prefix if first else 0,
                       cache_read_input_tokens=0 if first else prefix)
        u_max = u_live.model_copy(update={"output_tokens": req.max_tokens})
        u_plain = Usage(input_tokens=total, output_tokens=out_exp)
        u_worst = Usage(input_tokens=rest, output_tokens=out_exp, cache_creation_input_tokens=prefix)
        parts = (table.cost(req.model, u_live), table.cost(req.model, u_plain), table.cost(req.model, u_max),
                 table.cost(req.model, u_live, batch=True), table.cost(req.model, u_worst, batch=True))
        if any(p is None for p in parts):
            unpriced[req.model] = None
            continue
        totals = [t + float(p or 0.0) for t, p in zip(totals, parts, strict=True)]
    est.unique_prefixes = len(seen_prefix)
    est.unpriced_models = list(unpriced)
    if not unpriced:
        (est.live_usd, est.live_usd_without_caching, est.live_usd_max, est.batch_usd,
         est.batch_usd_worst) = totals
    return est
