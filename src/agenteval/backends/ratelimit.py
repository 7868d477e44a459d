"""Flow control for live backends: budget pacing, an adaptive concurrency window, and a cache-aware prefix gate.

:class:`AdaptiveLimiter` decides when a request may start. Its primary signal is what the server says it
has: the ``anthropic-ratelimit-{requests,input-tokens,output-tokens}-{limit,remaining,reset}`` headers of
every answer (429s included). It mirrors each server bucket (refilled at the rate implied by the
``-reset`` time, else ``limit/60`` per second, minus what was started since the snapshot), so a start
that would overdraw a budget waits *before* the server answers 429. "Started since" counts every request
started after the one whose answer carried the headers: the server's snapshot may not include them yet.

What a 429 means depends on the headers:

* **budget left** (the 429's own headers, or a fresh mirror when it has none, show room for the request):
  a transient for that request only. It is retried after its own ``retry-after``; nobody else waits and
  the window is not cut.
* **budget spent**: new starts pause until the reset the headers give for the spent dimension (or the
  429's ``retry-after`` when that is sooner: the buckets refill continuously, so one request's worth is
  back before the whole bucket is).
* **no headers at all, and none seen** (a server that does not send them): the old AIMD fallback, a pause
  until ``retry-after`` and a halved window, at most once per round trip.

529 (overloaded) shrinks the window in proportion to the recent share of 529s (an exponentially weighted
average of outcomes), not by halving on each one: at a steady 10 % of 529s the window is 90 % of the
ceiling; when every answer is a 529 it falls to ``min_window``; successes bring it back.

Client-side caps (``max_rps``, ``max_itpm``, ``max_otpm``, for accounts shared with production traffic)
are hard limits that hold whatever the headers say: requests are spaced at least ``1/max_rps`` apart (so
no window of one second holds more than ``max_rps`` starts) and the tokens started in any 60 seconds
never exceed ``max_itpm`` / ``max_otpm``. Tokens are counted the way the API counts them (see
:class:`TokenCost`): uncached input only, and output reserved at ``max_tokens`` until the answer says
how many were produced.

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
_MIRROR_FRESH_S = 30.0  # a mirror older than this does not decide what a header-less 429 means
_RATE_WINDOW_S = 10.0  # the effective rate is measured over this many seconds
_JITTER_S = 0.025  # the mirror keeps this many seconds of refill in hand (see _Budget.wait_for)
TOKEN_WINDOW_S = 60.0  # max_itpm / max_otpm hold over any window of this length


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


@dataclass(frozen=True)
class TokenCost:
    """What one request costs against the token budgets, counted the way the API counts it.

    Per the Anthropic rate-limit docs (https://docs.anthropic.com/en/api/rate-limits, "Cache-aware ITPM"):
    ``input_tokens`` and ``cache_creation_input_tokens`` count toward the input-tokens-per-minute limit,
    while for most current models ``cache_read_input_tokens`` do not (only older models, marked † in the
    docs' tables, count them). So ``input`` is the request's *uncached* input. Output tokens per minute
    are estimated from ``max_tokens`` when a request starts and corrected to the tokens actually produced
    when it ends: ``output`` is that reservation.
    """

    input: int = 0
    output: int = 0


@dataclass
class _Budget:
    """The client's mirror of one server-side bucket."""

    limit: float
    remaining: float
    observed_at: float
    rate: float  # refill per second
    measured: bool = False  # rate was read from a -reset header (else limit/60)
    used_since: float = 0.0
    deficit_sum: float = 0.0  # sums of (limit - remaining) and of the seconds to reset over observations:
    reset_sum: float = 0.0  # their ratio is the refill rate, robust to resets a few ms away

    def available(self, now: float) -> float:
        refill = (now - self.observed_at) * self.rate
        return min(self.limit, self.remaining + refill) - self.used_since

    def wait_for(self, need: float, now: float) -> float:
        # plus a margin of what refills in _JITTER_S: requests sent a few ms apart may reach the server
        # closer together. A constant margin costs no throughput: the bucket is just never drained to zero
        margin = self.rate * _JITTER_S if self.measured else 0.0  # (a measured refill rate: timing matters)
        short = min(need + margin, self.limit) - self.available(now)
        return 0.0 if short <= 0 else short / self.rate


class _Spacing:
    """``max_rps``: starts at least ``1/rate`` apart, so any one-second window holds at most ``rate``."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.next_at = -1e18

    def wait(self, now: float) -> float:
        return max(0.0, self.next_at - now)

    def take(self, now: float) -> None:
        self.next_at = max(self.next_at, now) + 1.0 / self.rate


class _Window:
    """A token cap over a sliding window: what was started in the last ``period`` s plus the next start
    never exceeds ``limit``. Entries are ``[time, cost]`` and can be corrected when the answer says what
    the request really cost."""

    def __init__(self, limit: float, period: float = TOKEN_WINDOW_S) -> None:
        self.limit, self.period = limit, period
        self.entries: collections.deque[list[float]] = collections.deque()
        self.total = 0.0

    def _expire(self, now: float) -> None:
        while self.entries and self.entries[0][0] <= now - self.period:
            self.total -= self.entries.popleft()[1]

    def wait(self, now: float, cost: float) -> float:
        self._expire(now)
        excess = self.total + min(cost, self.limit) - self.limit
        if excess <= 1e-9:
            return 0.0
        for t, c in self.entries:
            excess -= c
            if excess <= 1e-9:
                return max(1e-3, t + self.period - now)
        return self.period  # pragma: no cover - entries always cover the excess

    def take(self, now: float, cost: float) -> list[float]:
        entry = [now, float(cost)]
        self.entries.append(entry)
        self.total += cost
        return entry

    def correct(self, entry: list[float], cost: float) -> None:
        if self.entries and entry[0] >= self.entries[0][0]:  # not expired yet (they expire in time order)
            self.total += cost - entry[1]
        entry[1] = float(cost)


@dataclass
class LimiterStats:
    """What the limiter did, for reports."""

    window: float
    ceiling: int
    min_window: float
    decreases: int = 0
    rate_limited: int = 0
    transient_429: int = 0  # 429s while the headers showed budget left: only that request waited
    budget_429: int = 0  # 429s with a budget spent: new starts paused until its reset
    overloaded: int = 0
    overload_share: float = 0.0  # the recent share of 529s the window follows
    paused_s: float = 0.0
    throttled_s: float = 0.0
    throttled_starts: int = 0
    capped_s: float = 0.0  # waits imposed by max_rps / max_itpm / max_otpm
    max_inflight: int = 0
    started: int = 0


class AdaptiveLimiter:
    """Budget pacing from the rate-limit headers, client caps, and a concurrency window (see the module
    docstring).

    Args:
        ceiling: the most requests in flight (the user's ``--concurrency``).
        adaptive: False keeps the window at the ceiling (a plain semaphore; headers still pace).
        decrease: factor applied to the window on a 429 without any rate-limit headers.
        min_window: the window never goes below this.
        max_rps / max_itpm / max_otpm: hard client-side caps (None: none).
        overload_alpha: weight of each outcome in the recent share of 529s.
        probe: start with one request in flight until the first answer (or its headers) arrives, so the
            first wave does not overdraw a budget nobody has seen yet (costs one round trip).
        clock: monotonic clock (tests may pass their own).
    """

    def __init__(self, ceiling: int, *, adaptive: bool = True, decrease: float = 0.5, min_window: float = 1.0,
                 max_rps: float | None = None, max_itpm: float | None = None, max_otpm: float | None = None,
                 overload_alpha: float = 1 / 32, probe: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if ceiling < 1:
            raise ValueError("concurrency must be at least 1")
        for name, v in (("max_rps", max_rps), ("max_itpm", max_itpm), ("max_otpm", max_otpm)):
            if v is not None and not v > 0:
                raise ValueError(f"{name} must be greater than 0")
        self.ceiling = ceiling
        self.adaptive = adaptive
        self.decrease = decrease
        self.min_window = min_window
        self.window = float(ceiling)  # the AIMD window (cut only by 429s without headers)
        self.overload_alpha = overload_alpha
        self.max_rps, self.max_itpm, self.max_otpm = max_rps, max_itpm, max_otpm
        self._rps_cap = _Spacing(max_rps) if max_rps else None
        self._itpm_cap = _Window(max_itpm) if max_itpm else None
        self._otpm_cap = _Window(max_otpm) if max_otpm else None
        self.inflight = 0
        self._clock = clock
        self._last_cut = -1e18
        self._pause_until = 0.0
        self._overload = 0.0
        self._failing = 0.0  # recent share of answers that failed (529, 5xx, garbage, timeouts)
        self._budgets: dict[str, _Budget] = {}
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        # (start time, input tokens, output tokens) of the starts since the oldest request still in flight,
        # oldest first; start times are strictly increasing, so they identify the request
        self._starts: collections.deque[tuple[float, int, int]] = collections.deque()
        self._open: dict[float, tuple[TokenCost, list[float] | None, list[float] | None]] = {}
        self._recent: collections.deque[float] = collections.deque()  # start times, for the effective rate
        self._limit_reason = ""
        self._limit_at = -1e18
        self._probing = probe  # one request in flight until the first answer says what budget there is
        self.stats = LimiterStats(window=self.window, ceiling=ceiling, min_window=self.window)

    # ---------------------------------------------------------------- the window
    @property
    def effective_window(self) -> float:
        """The requests allowed in flight now: the AIMD window, shrunk by the recent share of 529s."""
        if not self.adaptive:
            return float(self.ceiling)
        by_overload = self.ceiling * (1.0 - self._overload)
        return max(self.min_window, min(self.window, by_overload))

    def backoff_scale(self) -> float:
        """How much of the full exponential backoff a retry after a server failure (529, 5xx, garbage)
        waits: in proportion to the recent share of failed answers (at least 5 %). Isolated failures are
        retried soon; a server failing every answer gets the whole backoff."""
        return min(1.0, max(0.05, self._failing))

    def _slots(self) -> int:
        return 1 if self._probing else max(1, int(self.effective_window))

    # ---------------------------------------------------------------- acquire / release
    def _time_block(self, now: float, cost: TokenCost) -> tuple[float, str, str]:
        """(seconds to wait, kind: "pause" | "throttle" | "cap", the limiting budget's name)."""
        best, kind, reason = max(0.0, self._pause_until - now), "pause", "429 pause"
        for dim, need in (("requests", 1), ("input-tokens", cost.input), ("output-tokens", cost.output)):
            b = self._budgets.get(dim) or (self._budgets.get("tokens") if dim == "input-tokens" else None)
            if b is None or (need <= 0 and dim != "output-tokens"):
                continue
            w = b.wait_for(max(need, 1), now)
            if w > best:
                best, kind, reason = w, "throttle", f"server {dim} {_per(b.rate, dim)}"
        if self._rps_cap is not None and (w := self._rps_cap.wait(now)) > best:
            best, kind, reason = w, "cap", f"--max-rps {self.max_rps:g}"
        if self._itpm_cap is not None and (w := self._itpm_cap.wait(now, cost.input)) > best:
            best, kind, reason = w, "cap", f"--max-itpm {self.max_itpm:g}"
        if self._otpm_cap is not None and (w := self._otpm_cap.wait(now, cost.output)) > best:
            best, kind, reason = w, "cap", f"--max-otpm {self.max_otpm:g}"
        return best, kind, reason

    async def acquire(self, tokens: int | TokenCost = 0) -> float:
        """Wait for a slot and for budget for the request; returns its start time (its handle).

        ``tokens`` is the request's :class:`TokenCost` (an int: uncached input tokens only).
        """
        cost = tokens if isinstance(tokens, TokenCost) else TokenCost(input=int(tokens))
        while True:
            now = self._clock()
            delay, kind, reason = self._time_block(now, cost)
            if delay > 0:
                if kind == "throttle":
                    self.stats.throttled_s += delay
                    self.stats.throttled_starts += 1
                elif kind == "cap":
                    self.stats.capped_s += delay
                else:
                    self.stats.paused_s += delay
                self._limit_reason, self._limit_at = reason, now
                await asyncio.sleep(min(delay, 60.0))
                continue
            if self.inflight < self._slots():
                self.inflight += 1
                self.stats.max_inflight = max(self.stats.max_inflight, self.inflight)
                self.stats.started += 1
                if self._starts and now <= self._starts[-1][0]:
                    now = self._starts[-1][0] + 1e-9  # unique start times: they identify the request
                self._starts.append((now, cost.input, cost.output))
                self._recent.append(now)
                while self._recent and self._recent[0] < now - _RATE_WINDOW_S:
                    self._recent.popleft()
                for dim, used in (("requests", 1), ("input-tokens", cost.input), ("output-tokens", cost.output)):
                    b = self._budgets.get(dim) or (self._budgets.get("tokens") if dim == "input-tokens" else None)
                    if b is not None:
                        b.used_since += used
                if self._rps_cap:
                    self._rps_cap.take(now)
                ein = self._itpm_cap.take(now, cost.input) if self._itpm_cap else None
                eout = self._otpm_cap.take(now, cost.output) if self._otpm_cap else None
                self._open[now] = (cost, ein, eout)
                return now
            self._limit_reason, self._limit_at = f"concurrency {self._slots()}/{self.ceiling}", now
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
                headers: Mapping[str, str] | None = None, used: TokenCost | None = None) -> None:
        """Give the slot back and adapt to the outcome of the request started at ``started``.

        ``used``: what the answer says the request cost (uncached input, output produced); corrects the
        client caps' accounting. Without it a failed request keeps its input and frees its output
        reservation; a successful one keeps both estimates.
        """
        self.inflight -= 1
        self._probing = False
        now = self._clock()
        opened = self._open.pop(started, None)
        cost = opened[0] if opened else TokenCost()
        if opened is not None:
            actual = used or (TokenCost(cost.input, 0) if outcome != "ok" else cost)
            if opened[1] is not None and self._itpm_cap is not None:
                self._itpm_cap.correct(opened[1], actual.input)
            if opened[2] is not None and self._otpm_cap is not None:
                self._otpm_cap.correct(opened[2], actual.output)
        had_mirror = bool(self._budgets)
        if headers:
            self.observe_headers(headers, now=now, sent_at=started)
        while self._starts and (self._starts[0][0] not in self._open or len(self._starts) > _MAX_STARTS):
            self._starts.popleft()  # no answer still to come was sent before it: it is never "unseen"
        overloaded = outcome == "overloaded"
        if outcome in ("ok", "overloaded"):
            self._overload += self.overload_alpha * (float(overloaded) - self._overload)
            self.stats.overload_share = self._overload
        if outcome != "rate_limited":  # 429s are the budget's business, not the server's health
            self._failing += self.overload_alpha * (float(outcome != "ok") - self._failing)
        if outcome == "ok":
            if self.adaptive and self.window < self.ceiling:
                self.window = min(float(self.ceiling), self.window + 1.0 / self.window)
        elif overloaded:
            self.stats.overloaded += 1
        elif outcome == "rate_limited":
            self.stats.rate_limited += 1
            self._on_429(started, now, cost, retry_after, headers, had_mirror)
        self.stats.window = self.effective_window
        self.stats.min_window = min(self.stats.min_window, self.stats.window)
        self._wake()

    def _on_429(self, started: float, now: float, cost: TokenCost, retry_after: float | None,
                headers: Mapping[str, str] | None, had_mirror: bool) -> None:
        verdict = _spent_in(headers, cost) if headers else None
        if verdict is None and had_mirror and now - max(b.observed_at for b in self._budgets.values()) \
                < _MIRROR_FRESH_S:
            # no headers on this 429: ask the mirror (the budget it shows, before this request is returned)
            short = [dim for dim, need in (("requests", 1), ("input-tokens", cost.input))
                     if (b := self._budgets.get(dim)) is not None and b.available(now) + (
                         1 if dim == "requests" else cost.input) < min(max(need, 1), b.limit)]
            verdict = (bool(short), None)
        if verdict is not None:
            spent, reset_in = verdict
            if not spent:
                self.stats.transient_429 += 1  # only this request waits (its own retry-after)
                return
            self.stats.budget_429 += 1
            waits = [w for w in (reset_in, retry_after) if w is not None and w > 0]
            if waits:
                self._pause_until = max(self._pause_until, now + min(waits))
            return
        # no rate-limit headers, now or before: the AIMD fallback
        if retry_after:
            self._pause_until = max(self._pause_until, now + retry_after)
        if self.adaptive and started >= self._last_cut:
            self.window = max(self.min_window, self.window * self.decrease)
            self._last_cut = now
            self.stats.decreases += 1

    def _wake(self) -> None:
        free = self._slots() - self.inflight
        while free > 0 and self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                free -= 1

    @contextlib.asynccontextmanager
    async def slot(self, tokens: int | TokenCost = 0) -> AsyncIterator[_Slot]:
        """``async with limiter.slot(n) as s: ...; s.outcome = "ok"`` (default outcome: error)."""
        started = await self.acquire(tokens)
        s = _Slot()
        try:
            yield s
        finally:
            self.release(started, s.outcome, retry_after=s.retry_after, headers=s.headers)

    # ---------------------------------------------------------------- progress
    def status(self) -> dict[str, object]:
        """For a progress line: the effective start rate (requests/s over the last 10 s) and the limiting
        budget (what made the latest start wait, if within the last 5 s; else "none")."""
        now = self._clock()
        while self._recent and self._recent[0] < now - _RATE_WINDOW_S:
            self._recent.popleft()
        span = min(_RATE_WINDOW_S, max(1e-3, now - self._recent[0])) if self._recent else _RATE_WINDOW_S
        rate = len(self._recent) / span if len(self._recent) > 1 else 0.0
        limiting = self._limit_reason if now - self._limit_at < 5.0 else "none"
        return {"rate": rate, "limiting": limiting, "inflight": self.inflight, "window": self.effective_window}

    # ---------------------------------------------------------------- headers
    def observe_headers(self, headers: Mapping[str, str], *, now: float | None = None,
                        sent_at: float | None = None) -> None:
        """Update the bucket mirrors from ``anthropic-ratelimit-*-limit`` / ``-remaining`` headers.

        ``sent_at`` is the start time (as :meth:`acquire` returned it) of the request whose answer carried
        the headers: requests started after it are counted as not yet seen by the server. Without it, the
        snapshot is taken to include everything sent so far.
        """
        now = self._clock() if now is None else now
        if self._probing:
            self._probing = False
            self._wake()
        unseen: tuple[int, int, int] | None = None
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
            dsum, rsum = (old.deficit_sum, old.reset_sum) if old is not None and same else (0.0, 0.0)
            stamp = headers.get(f"anthropic-ratelimit-{dim}-reset")
            reset_in = _seconds_until(stamp)
            # a whole-second stamp is too coarse to time a reset less than a couple of seconds away
            min_reset = 0.001 if stamp and "." in stamp else 2.0
            # a deficit of a unit or two is mostly rounding: it says little about the rate
            if reset_in is not None and reset_in > min_reset and limit - remaining >= max(2.0, 0.05 * limit):
                # the bucket is full again at reset: its refill rate is what is missing over the time left.
                # ``remaining`` is a whole number rounded down (the level is half a unit more on average);
                # a ratio of decayed sums keeps one reset a few ms away from swinging the rate
                dsum = dsum * 0.9 + (limit - remaining - 0.5)
                rsum = rsum * 0.9 + reset_in
                rate = dsum / rsum
                measured = True
            if unseen is None:
                unseen = self._started_after(sent_at)
            used = unseen[0] if dim == "requests" else unseen[2] if dim == "output-tokens" else unseen[1]
            self._budgets[dim] = _Budget(limit=limit, remaining=remaining, observed_at=now, rate=rate,
                                         measured=measured, used_since=used, deficit_sum=dsum, reset_sum=rsum)

    def _started_after(self, sent_at: float | None) -> tuple[int, int, int]:
        """(requests, input tokens, output tokens) started after ``sent_at`` (none when it is None)."""
        n = tin = tout = 0
        if sent_at is not None:
            for t, i, o in reversed(self._starts):
                if t <= sent_at:
                    break
                n += 1
                tin += i
                tout += o
        return n, tin, tout


def _per(rate: float, dim: str) -> str:
    """A refill rate for people: requests per second, tokens per minute."""
    return f"{rate:.3g}/s" if dim == "requests" else f"{rate * 60:,.0f}/min"


def _spent_in(headers: Mapping[str, str], cost: TokenCost) -> tuple[bool, float | None] | None:
    """From a 429's own headers: (whether a budget the request needs is spent, seconds until the headers'
    reset gives it back); None when the headers say nothing about any budget."""
    seen = False
    resets: list[float] = []
    for dim, need in (("requests", 1), ("input-tokens", cost.input), ("tokens", cost.input),
                      ("output-tokens", 1)):
        lim, rem = headers.get(f"anthropic-ratelimit-{dim}-limit"), headers.get(f"anthropic-ratelimit-{dim}-remaining")
        if lim is None or rem is None:
            continue
        try:
            limit, remaining = float(lim), float(rem)
        except ValueError:
            continue
        seen = True
        want = min(max(need, 1), limit)
        if remaining < want:
            r = _seconds_until(headers.get(f"anthropic-ratelimit-{dim}-reset"))
            # the bucket is full at reset and refills evenly until then: the request's share is back after
            # the part of that time its shortfall takes
            resets.append(max(0.0, r) * (want - remaining) / (limit - remaining) if r is not None else 0.0)
    if not seen:
        return None
    if not resets:
        return False, None
    return True, (max(resets) or None)


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
