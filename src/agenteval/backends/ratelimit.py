"""Flow control for live backends: an adaptive concurrency limiter and a cache-aware prefix gate.

:class:`AdaptiveLimiter` bounds requests in flight by a window that is at most the user's
``--concurrency`` (the ceiling). It is AIMD, like TCP: each success adds ``1/window`` (about one slot per
window of successes), a 429 or 529 halves it, at most once per round trip (only a request started after
the last cut can cut again, so one burst of 429s counts once). A 429's ``retry-after`` pauses every new
start until then. It also reads the ``anthropic-ratelimit-*`` headers of each answer and mirrors the
server's token buckets (refilled at the rate implied by the ``-reset`` time, else ``limit/60`` per second,
minus what was sent since), so a start that
would overdraw the request or input-token budget waits *before* the server answers 429. "Sent since" counts
every request started after the one whose answer carried the headers: the server's snapshot may not include
them yet, so an old snapshot arriving while many requests are in flight must not make them be forgotten.

:class:`PrefixGate` implements cache-aware scheduling: of the requests that share a cacheable prompt
prefix, the first goes alone (the *primer*); the rest wait until its response has begun, at which point
the prompt cache holds the prefix and they all read it. So the cache is written about once per prefix
instead of once per concurrent request. A prefix that turns out not to be cacheable (the answer shows no
cache write or read, e.g. shorter than the model's minimum) is not gated again.

Everything here is single-event-loop asyncio; nothing blocks.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import email.utils
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Outcome = Literal["ok", "rate_limited", "overloaded", "error"]

_DIMENSIONS = ("requests", "input-tokens", "output-tokens", "tokens")
_MAX_STARTS = 100_000  # start times kept to count requests a header snapshot may not include


def parse_retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), else None."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        with contextlib.suppress(ValueError):
            return max(0.0, float(ms) / 1000.0)
    ra = headers.get("retry-after")
    if ra is None:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(ra)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - (now if now is not None else time.time()))


@dataclass
class _Budget:
    """The client's mirror of one server-side per-minute bucket."""

    limit: float
    remaining: float
    observed_at: float
    rate: float  # refill per second
    measured: bool = False  # rate was read from a -reset header (else limit/60)
    used_since: float = 0.0

    def available(self, now: float) -> float:
        refill = (now - self.observed_at) * self.rate
        return min(self.limit, self.remaining + refill) - self.used_since

    def wait_for(self, need: float, now: float) -> float:
        short = min(need, self.limit) - self.available(now)
        return 0.0 if short <= 0 else short / self.rate


@dataclass
class LimiterStats:
    """What the limiter did, for reports."""

    window: float
    ceiling: int
    min_window: float
    decreases: int = 0
    rate_limited: int = 0
    overloaded: int = 0
    paused_s: float = 0.0
    throttled_s: float = 0.0
    throttled_starts: int = 0
    max_inflight: int = 0


class AdaptiveLimiter:
    """AIMD concurrency window (``1 <= window <= ceiling``) plus header-driven pre-emptive throttling.

    Args:
        ceiling: the most requests in flight (the user's ``--concurrency``).
        adaptive: False keeps the window at the ceiling (a plain semaphore; headers still throttle).
        decrease: factor applied to the window on a 429/529.
        min_window: the window never goes below this.
        clock: monotonic clock (tests may pass their own).
    """

    def __init__(self, ceiling: int, *, adaptive: bool = True, decrease: float = 0.5, min_window: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if ceiling < 1:
            raise ValueError("concurrency must be at least 1")
        self.ceiling = ceiling
        self.adaptive = adaptive
        self.decrease = decrease
        self.min_window = min_window
        self.window = float(ceiling)
        self.inflight = 0
        self._clock = clock
        self._last_cut = -1e18
        self._pause_until = 0.0
        self._budgets: dict[str, _Budget] = {}
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        # (start time, input tokens) of the starts since the oldest request still in flight, oldest first;
        # start times are strictly increasing, so they identify the request
        self._starts: collections.deque[tuple[float, int]] = collections.deque()
        self._open: set[float] = set()  # start times of the requests in flight
        self.stats = LimiterStats(window=self.window, ceiling=ceiling, min_window=self.window)

    # ---------------------------------------------------------------- acquire / release
    def _time_block(self, now: float, tokens: int) -> tuple[float, bool]:
        """(seconds to wait, whether it is header throttling rather than a retry-after pause)."""
        wait = max(0.0, self._pause_until - now)
        throttle = 0.0
        b = self._budgets.get("requests")
        if b is not None:
            throttle = max(throttle, b.wait_for(1, now))
        b = self._budgets.get("input-tokens") or self._budgets.get("tokens")
        if b is not None and tokens > 0:
            throttle = max(throttle, b.wait_for(tokens, now))
        b = self._budgets.get("output-tokens")
        if b is not None:
            throttle = max(throttle, b.wait_for(1, now))
        return max(wait, throttle), throttle > wait

    async def acquire(self, tokens: int = 0) -> float:
        """Wait for a slot (and for rate budget for ``tokens`` input tokens); returns the start time."""
        while True:
            now = self._clock()
            delay, throttled = self._time_block(now, tokens)
            if delay > 0:
                if throttled:
                    self.stats.throttled_s += delay
                    self.stats.throttled_starts += 1
                else:
                    self.stats.paused_s += delay
                await asyncio.sleep(min(delay, 60.0))
                continue
            if self.inflight < max(1, int(self.window)):
                self.inflight += 1
                self.stats.max_inflight = max(self.stats.max_inflight, self.inflight)
                if self._starts and now <= self._starts[-1][0]:
                    now = self._starts[-1][0] + 1e-9  # unique start times: they identify the request
                self._starts.append((now, tokens))
                self._open.add(now)
                if "requests" in self._budgets:
                    self._budgets["requests"].used_since += 1
                b = self._budgets.get("input-tokens") or self._budgets.get("tokens")
                if b is not None:
                    b.used_since += tokens
                return now
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except BaseException:
                if fut in self._waiters:
                    self._waiters.remove(fut)
                elif fut.done() and not fut.cancelled():
                    self._wake()  # pass the wake-up on
                raise

    def release(self, started: float, outcome: Outcome, *, retry_after: float | None = None,
                headers: Mapping[str, str] | None = None) -> None:
        """Give the slot back and adapt the window to the outcome of the request started at ``started``."""
        self.inflight -= 1
        now = self._clock()
        if headers:
            self.observe_headers(headers, now=now, sent_at=started)
        self._open.discard(started)
        while self._starts and (self._starts[0][0] not in self._open or len(self._starts) > _MAX_STARTS):
            self._starts.popleft()  # no answer still to come was sent before it: it is never "unseen"
        if outcome == "ok":
            if self.adaptive and self.window < self.ceiling:
                self.window = min(float(self.ceiling), self.window + 1.0 / self.window)
        elif outcome in ("rate_limited", "overloaded"):
            if outcome == "rate_limited":
                self.stats.rate_limited += 1
                if retry_after:
                    self._pause_until = max(self._pause_until, now + retry_after)
            else:
                self.stats.overloaded += 1
            if self.adaptive and started >= self._last_cut:
                self.window = max(self.min_window, self.window * self.decrease)
                self._last_cut = now
                self.stats.decreases += 1
        self.stats.window = self.window
        self.stats.min_window = min(self.stats.min_window, self.window)
        self._wake()

    def _wake(self) -> None:
        free = max(1, int(self.window)) - self.inflight
        while free > 0 and self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                free -= 1

    @contextlib.asynccontextmanager
    async def slot(self, tokens: int = 0) -> AsyncIterator[_Slot]:
        """``async with limiter.slot(n) as s: ...; s.outcome = "ok"`` (default outcome: error)."""
        started = await self.acquire(tokens)
        s = _Slot()
        try:
            yield s
        finally:
            self.release(started, s.outcome, retry_after=s.retry_after, headers=s.headers)

    # ---------------------------------------------------------------- headers
    def observe_headers(self, headers: Mapping[str, str], *, now: float | None = None,
                        sent_at: float | None = None) -> None:
        """Update the bucket mirrors from ``anthropic-ratelimit-*-limit`` / ``-remaining`` headers.

        ``sent_at`` is the start time (as :meth:`acquire` returned it) of the request whose answer carried
        the headers: requests started after it are counted as not yet seen by the server. Without it, the
        snapshot is taken to include everything sent so far.
        """
        now = self._clock() if now is None else now
        unseen: tuple[int, int] | None = None
        for dim in _DIMENSIONS:
            lim = headers.get(f"anthropic-ratelimit-{dim}-limit")
            rem = headers.get(f"anthropic-ratelimit-{dim}-remaining")
            if lim is None or rem is None:
                continue
            try:
                limit, remaining = float(lim), float(rem)
            except ValueError:
                continue
            if limit <= 0:
                continue
            old = self._budgets.get(dim)
            same = old is not None and old.limit == limit
            rate = old.rate if old is not None and same else limit / 60.0
            measured = bool(old and same and old.measured)
            stamp = headers.get(f"anthropic-ratelimit-{dim}-reset")
            reset_in = _seconds_until(stamp)
            # a whole-second stamp is too coarse to time a reset less than a couple of seconds away
            min_reset = 0.001 if stamp and "." in stamp else 2.0
            if reset_in is not None and reset_in > min_reset and limit - remaining >= 1:
                # the bucket is full again at reset: its refill rate is what is missing over the time left
                new = (limit - remaining) / reset_in
                rate = (rate + new) / 2 if measured else new
                measured = True
            if unseen is None:
                unseen = self._started_after(sent_at)
            used = unseen[0] if dim == "requests" else 0 if dim == "output-tokens" else unseen[1]
            self._budgets[dim] = _Budget(limit=limit, remaining=remaining, observed_at=now, rate=rate,
                                         measured=measured, used_since=used)

    def _started_after(self, sent_at: float | None) -> tuple[int, int]:
        """(requests, input tokens) started after ``sent_at`` (none when it is None)."""
        n = tokens = 0
        if sent_at is not None:
            for t, tok in reversed(self._starts):
                if t <= sent_at:
                    break
                n += 1
                tokens += tok
        return n, tokens


def _seconds_until(stamp: str | None) -> float | None:
    """Seconds from now to an RFC 3339 time, or None if absent or unparseable."""
    if not stamp:
        return None
    try:
        when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp() - time.time()


@dataclass
class _Slot:
    outcome: Outcome = "error"
    retry_after: float | None = None
    headers: Mapping[str, str] | None = None


# ==================================================================== cache-aware prefix gate
@dataclass
class _PrefixState:
    warm_until: float = 0.0
    primer_active: bool = False
    event: asyncio.Event = field(default_factory=asyncio.Event)
    uncacheable: bool = False


class GateTicket:
    """Handed to a request that passed the gate; call :meth:`begun` when its response has begun."""

    def __init__(self, gate: PrefixGate | None, key: object, primer: bool) -> None:
        self._gate, self._key, self.primer = gate, key, primer
        self.done = False

    def begun(self, *, cacheable: bool = True) -> None:
        """The response has begun (the cache now holds the prefix); releases the waiters."""
        if self._gate is not None:
            self._gate._begun(self, cacheable)


class PrefixGate:
    """One request per cold prefix first; the others follow once its response has begun.

    Args:
        ttl_s: how long a prefix stays warm after a response (the cache TTL, 5 min by default).
        margin_s: treat the prefix as cold this long before the TTL runs out.
        prime_timeout_s: waiters stop waiting for a slow primer after this long (and go anyway).
    """

    def __init__(self, *, ttl_s: float = 300.0, margin_s: float = 20.0, prime_timeout_s: float = 120.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s, self.margin_s, self.prime_timeout_s = ttl_s, margin_s, prime_timeout_s
        self._clock = clock
        self._states: dict[object, _PrefixState] = {}
        self.primers = 0
        self.waited = 0
        self.timeouts = 0

    @contextlib.asynccontextmanager
    async def enter(self, key: object | None) -> AsyncIterator[GateTicket]:
        """Pass the gate for prefix ``key`` (None: no gating)."""
        if key is None:
            yield GateTicket(None, None, False)
            return
        st = self._states.setdefault(key, _PrefixState())
        deadline = self._clock() + self.prime_timeout_s
        ticket: GateTicket | None = None
        waited = False
        while ticket is None:
            now = self._clock()
            if st.uncacheable or st.warm_until > now:
                ticket = GateTicket(self, key, False)
            elif not st.primer_active:
                st.primer_active = True
                st.event = asyncio.Event()
                self.primers += 1
                ticket = GateTicket(self, key, True)
            elif now >= deadline:
                self.timeouts += 1
                ticket = GateTicket(self, key, False)
            else:
                waited = True
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(st.event.wait(), deadline - now)
        if waited:
            self.waited += 1
        try:
            yield ticket
        finally:
            if ticket.primer and not ticket.done:
                # the primer gave up without a response: let the next waiter prime
                st.primer_active = False
                st.event.set()

    def _begun(self, ticket: GateTicket, cacheable: bool) -> None:
        st = self._states.setdefault(ticket._key, _PrefixState())
        if not cacheable:
            st.uncacheable = True
        st.warm_until = max(st.warm_until, self._clock() + self.ttl_s - self.margin_s)
        if ticket.primer and not ticket.done:
            ticket.done = True
            st.primer_active = False
            st.event.set()
        ticket.done = True

    @property
    def prefixes(self) -> int:
        """Prefixes seen so far."""
        return len(self._states)
