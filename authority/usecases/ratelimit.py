"""Rate limits per caller and per organisation, cluster-wide, at no Redis round trip per call.

A sliding window of ``window_ms``: the estimate is ``previous * (1 - elapsed fraction) + current``
(the classic two-counter approximation). Counters live in Redis, one pair per key, so every
process and every host shares them; each process decides locally from the last figures it read
plus what it admitted since, and exchanges its increments for the fresh totals every
``sync_ms`` in one pipelined round trip (``RateLimitStore.exchange``): the keys past a quarter
of their limit every time, the keys with new calls every ``FULL_SYNC_EVERY`` syncs, idle keys
never (they expire). The per-call cost is two dict look-ups and some arithmetic. Overshoot: a
hot key's processes together admit at most one sync interval's worth beyond the limit; a key
below a quarter of its limit on every process can reach the limit only by calls spread over
them, each learning the others' within a second of its own next call.

Fairness: each caller has its own counter; an organisation's counter only sees calls its
callers' own limits admitted (a caller over its limit spends nothing of the organisation's
budget), so one abusive client cannot starve its colleagues unless ``organisation`` is set below
one caller's share. Refusals are counted per key and reported as access-log events
(``ratelimit.exceeded``, the number refused in ``detail``): a key's first refusal within one
sync interval, then one summary per ``log_interval_s``; a flood becomes at most two events per
key and interval, not a flood of events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from authority.domain.errors import AuthorityError, RateLimited
from authority.domain.events import AccessEvent, EventKind, event
from authority.domain.ports.accesslog import EventRecorder
from authority.domain.ports.ratelimit import CallLimiter, RateLimitStore

log = logging.getLogger("authority.ratelimit")
FULL_SYNC_EVERY = 10
"""Keys far from their limit are exchanged every this many syncs (1 s by default): with
hundreds of thousands of callers the exchange stays a small share of the server's CPU."""


class _NoLimits:
    def admit(self, caller: str, organisation: str | None) -> None:
        return None

    def blocked(self, caller: str) -> int:
        return 0


NO_LIMITS: CallLimiter = _NoLimits()


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimits:
    caller: int
    """Calls per window per caller credential (0: no limit)."""
    organisation: int
    """Calls per window per organisation, all its callers together (0: no limit)."""
    window_ms: int = 10_000
    sync_ms: int = 100
    log_interval_s: float = 10.0

    @property
    def enabled(self) -> bool:
        return self.caller > 0 or self.organisation > 0


@dataclass(slots=True)
class _Counter:
    limit: int
    window: int = -1
    previous: int = 0
    """The cluster-wide totals as last read (window number ``window``)."""
    current: int = 0
    pending: int = 0
    """Admitted here since the last exchange (already counted in ``current``)."""
    refused: int = 0
    """Refused since the last access-log report."""
    reported: bool = False
    """A refusal of this key was reported in the current log interval."""
    organisation: str = ""


@dataclass(slots=True)
class _Report:
    caller: str
    organisation: str
    scope: str
    refused: int


@dataclass
class RateLimiter:
    limits: RateLimits
    store: RateLimitStore
    events: EventRecorder
    clock: Callable[[], float] = time.monotonic
    """For the background task's intervals."""
    wall_clock: Callable[[], float] = time.time
    """For the windows, which every process must agree on."""
    _counters: dict[str, _Counter] = field(default_factory=dict)
    _hot: set[str] = field(default_factory=set)
    """Keys past a quarter of their limit (as of their last admit or exchange)."""

    def _counter(self, key: str, limit: int, now_ms: float) -> _Counter:
        c = self._counters.get(key)
        if c is None:
            c = self._counters[key] = _Counter(limit)
        window = int(now_ms // self.limits.window_ms)
        if window != c.window:  # roll over locally until the next exchange says better
            c.previous = c.current if window == c.window + 1 else 0
            c.current = 0
            c.window = window
        return c

    def _estimate(self, c: _Counter, now_ms: float) -> float:
        fraction = (now_ms % self.limits.window_ms) / self.limits.window_ms
        return c.previous * (1.0 - fraction) + c.current

    def _retry_after_ms(self, c: _Counter, now_ms: float) -> int:
        """How long until one more call would fit, if nothing else is admitted meanwhile."""
        w = self.limits.window_ms
        into = now_ms % w
        if c.current < c.limit and c.previous > 0:
            # previous * (1 - f) + current < limit  <=>  f > 1 - (limit - current) / previous
            f = 1.0 - (c.limit - c.current) / c.previous
            return max(1, math.ceil(f * w - into) + 1)
        if c.current == 0:
            return 1
        f = max(0.0, 1.0 - c.limit / c.current)  # in the next window, current becomes previous
        return max(1, math.ceil(w - into + f * w) + 1)

    def admit(self, caller: str, organisation: str | None) -> None:
        """Count one call of ``caller`` (and its organisation), or raise ``RateLimited``."""
        limits = self.limits
        if not limits.enabled:
            return
        now_ms = self.wall_clock() * 1000.0
        c = o = None
        if limits.caller:
            key = "c:" + caller
            c = self._counter(key, limits.caller, now_ms)
            c.organisation = organisation or ""
            estimate = self._estimate(c, now_ms)
            if estimate * 4 >= limits.caller:
                self._hot.add(key)
            if estimate >= limits.caller:
                c.refused += 1
                raise RateLimited(
                    f"rate limit: more than {limits.caller} calls in {limits.window_ms // 1000} s "
                    "from this caller",
                    retry_after_ms=self._retry_after_ms(c, now_ms),
                )
        if organisation and limits.organisation:
            key = "o:" + organisation
            o = self._counter(key, limits.organisation, now_ms)
            o.organisation = organisation
            estimate = self._estimate(o, now_ms)
            if estimate * 4 >= limits.organisation:
                self._hot.add(key)
            if estimate >= limits.organisation:
                o.refused += 1
                raise RateLimited(
                    f"rate limit: more than {limits.organisation} calls in "
                    f"{limits.window_ms // 1000} s from this organisation",
                    retry_after_ms=self._retry_after_ms(o, now_ms),
                )
        for counter in (c, o):
            if counter is not None:
                counter.current += 1
                counter.pending += 1

    def blocked(self, caller: str) -> int:
        """Milliseconds until ``caller`` may call again (0: it may), counting nothing: lets the
        unlock path refuse a caller known to be over its limit before reading Redis."""
        if not self.limits.caller:
            return 0
        c = self._counters.get("c:" + caller)
        if c is None:
            return 0
        now_ms = self.wall_clock() * 1000.0
        c = self._counter("c:" + caller, self.limits.caller, now_ms)
        if self._estimate(c, now_ms) < self.limits.caller:
            return 0
        c.refused += 1
        return self._retry_after_ms(c, now_ms)

    async def sync_once(self, *, everything: bool = True) -> None:
        """Exchange this process's increments for the cluster-wide totals (one round trip):
        of the hot keys, those past a quarter of their limit (the only ones other processes'
        calls could push over it before the next full exchange), and with ``everything`` of
        every key that admitted calls since the last exchange. Keys idle for two windows are
        forgotten (their Redis counters expire by themselves)."""
        now_ms = self.wall_clock() * 1000.0
        window = int(now_ms // self.limits.window_ms)
        increments: dict[str, int] = {}
        # Between full exchanges only the hot keys are looked at (a handful, not every caller).
        keys = list(self._counters) if everything else list(self._hot)
        for key in keys:
            c = self._counters.get(key)
            if c is None:
                self._hot.discard(key)
                continue
            if c.window < window - 1 and not c.pending and not c.refused:
                del self._counters[key]
                self._hot.discard(key)
                continue
            # Hot keys also when nothing was admitted here: other processes' calls count.
            hot = self._estimate(c, now_ms) * 4 >= c.limit
            if not hot:
                self._hot.discard(key)
            if hot or (everything and c.pending):
                # Calls admitted in an earlier window than the exchange's are counted in this
                # one (at most one sync interval's worth, at a window's edge).
                increments[key] = c.pending
        if not increments:
            return
        totals = await self.store.exchange(
            increments, window=window, window_ms=self.limits.window_ms
        )
        for key, (previous, current) in totals.items():
            counter = self._counters.get(key)
            if counter is None:
                continue
            counter.pending -= increments[key]  # admitted during the round trip: still pending
            if counter.window <= window:
                counter.window, counter.previous = window, previous
                counter.current = current + counter.pending
            if self._estimate(counter, now_ms) * 4 >= counter.limit:
                self._hot.add(key)  # other processes' calls made it hot

    def take_reports(self, *, first_only: bool = False) -> list[_Report]:
        """Refusals to report: every key's (a log interval ended), or ``first_only`` those of
        keys not reported yet in this interval (a flood's start is logged within a sync)."""
        reports = []
        for key, c in self._counters.items():
            if first_only and c.reported:
                continue
            c.reported = first_only and c.refused > 0
            if c.refused:
                scope = "caller" if key.startswith("c:") else "organisation"
                caller = key[2:] if scope == "caller" else ""
                reports.append(_Report(caller, c.organisation, scope, c.refused))
                c.refused = 0
        return reports

    async def report(self, *, first_only: bool = False) -> None:
        """One access-log event per key refused since the last report (see ``take_reports``)."""
        reports = self.take_reports(first_only=first_only)
        if not reports:
            return
        now = int(self.wall_clock() * 1000)
        events: list[AccessEvent] = [
            event(
                EventKind.ADMIN,
                "ratelimit.exceeded",
                "refused",
                now,
                reason=r.scope,
                actor_id=r.caller,
                organisation_id=r.organisation,
                detail=json.dumps(
                    {"refused": r.refused, "window_s": self.limits.window_ms / 1000},
                    sort_keys=True,
                ),
            )
            for r in reports
        ]
        await self.events.record(events)

    async def run(self, stop: asyncio.Event) -> None:
        """Exchange every ``sync_ms`` and report every ``log_interval_s`` until ``stop``."""
        next_report = self.clock() + self.limits.log_interval_s
        syncs = 0
        while not stop.is_set():
            try:
                # Hot keys every sync; all keys every FULL_SYNC_EVERY syncs (cheap per call).
                await self.sync_once(everything=syncs % FULL_SYNC_EVERY == 0)
                syncs += 1
                if self.clock() >= next_report:
                    next_report = self.clock() + self.limits.log_interval_s
                    await self.report()
                else:
                    await self.report(first_only=True)
            except AuthorityError as exc:  # Redis away: keep deciding from local figures
                log.warning("rate-limit sync failed", extra={"error": str(exc)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.limits.sync_ms / 1000)
        try:
            await self.report()
        except AuthorityError:
            log.warning("rate-limit report not logged at stop")
