"""The rate limiter's decisions, with the in-memory counters and a settable clock: limits per
caller and organisation, the sliding window, retry information, several processes sharing the
counters, fairness, and aggregated refusal events."""

from __future__ import annotations

import asyncio
import json

import pytest

from authority.domain.errors import RateLimited
from authority.testing import InMemoryRateLimitStore, MemoryEventRecorder
from authority.usecases.ratelimit import RateLimiter, RateLimits


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiter(
    store: InMemoryRateLimitStore | None = None,
    clock: Clock | None = None,
    *,
    caller: int = 5,
    organisation: int = 0,
) -> tuple[RateLimiter, MemoryEventRecorder]:
    events = MemoryEventRecorder()
    limits = RateLimits(caller=caller, organisation=organisation, window_ms=10_000)
    clock = clock or Clock()
    return RateLimiter(
        limits, store or InMemoryRateLimitStore(), events, clock=clock, wall_clock=clock
    ), events


def refused(lim: RateLimiter, caller: str, org: str | None = None) -> RateLimited | None:
    try:
        lim.admit(caller, org)
    except RateLimited as exc:
        return exc
    return None


def test_a_caller_gets_its_limit_then_a_retry_time() -> None:
    clock = Clock(1_800_000_000.0)  # the start of a window
    lim, _ = limiter(clock=clock)
    for _ in range(5):
        assert refused(lim, "kh_a") is None
    exc = refused(lim, "kh_a")
    assert exc is not None
    # Nothing in the previous window: the count frees up when this window ends (10 s).
    assert 9_000 < exc.retry_after_ms <= 10_001
    assert "retry after" in str(exc)
    assert refused(lim, "kh_b") is None  # others are not affected
    assert lim.blocked("kh_a") > 0
    assert lim.blocked("kh_b") == 0


def test_the_window_slides() -> None:
    clock = Clock(1_800_000_000.0)
    lim, _ = limiter(clock=clock)
    for _ in range(5):
        lim.admit("kh_a", None)
    clock.now += 10.0  # next window: the previous 5 weigh 5 * (1 - 0) = 5: still full
    exc = refused(lim, "kh_a")
    assert exc is not None
    assert exc.retry_after_ms <= 2_001  # one call fits once 1/5 of the window has passed
    clock.now += exc.retry_after_ms / 1000
    assert refused(lim, "kh_a") is None
    clock.now += 20.0  # long idle: everything forgotten
    for _ in range(5):
        assert refused(lim, "kh_a") is None


def test_processes_share_the_counters_through_the_store() -> None:
    store, clock = InMemoryRateLimitStore(), Clock()
    one, _ = limiter(store, clock)
    two, _ = limiter(store, clock)
    for _ in range(3):
        one.admit("kh_a", None)
    for _ in range(2):
        two.admit("kh_a", None)

    async def sync() -> None:
        await one.sync_once()
        await two.sync_once()
        await one.sync_once()

    asyncio.run(sync())
    assert refused(one, "kh_a") is not None
    assert refused(two, "kh_a") is not None


def test_one_caller_over_its_limit_spends_nothing_of_its_organisation() -> None:
    lim, _ = limiter(caller=5, organisation=20)
    for _ in range(1000):  # an abusive holder
        refused(lim, "kh_abuser", "org_1")
    for n in range(15):  # its colleagues still have 15 of the organisation's 20
        assert refused(lim, f"kh_{n}", "org_1") is None, n
    exc = refused(lim, "kh_last", "org_1")
    assert exc is not None
    assert "organisation" in str(exc)


def test_refusals_become_one_event_per_caller_and_report() -> None:
    lim, events = limiter()
    for _ in range(500):
        refused(lim, "kh_a", "org_1")
    asyncio.run(lim.report())
    assert len(events.events) == 1
    e = events.events[0]
    assert (e.action, e.outcome, e.reason, e.actor_id) == (
        "ratelimit.exceeded", "refused", "caller", "kh_a",
    )  # fmt: skip
    assert json.loads(e.detail)["refused"] == 495
    asyncio.run(lim.report())
    assert len(events.events) == 1  # nothing new, nothing logged


def test_no_limits_when_zero() -> None:
    lim, _ = limiter(caller=0, organisation=0)
    for _ in range(10_000):
        lim.admit("kh_a", "org_1")
    assert lim.blocked("kh_a") == 0


@pytest.mark.parametrize("bad", [{"AUTHORITY_RATE_LIMIT_CALLER": "-1"},
                                 {"AUTHORITY_RATE_LIMIT_WINDOW_SECONDS": "0"},
                                 {"AUTHORITY_RATE_LIMIT_SYNC_MS": "1"}])  # fmt: skip
def test_settings_are_checked(bad: dict[str, str]) -> None:
    from authority.domain.errors import InvalidArgument  # noqa: PLC0415
    from authority.process.config import Settings  # noqa: PLC0415

    with pytest.raises(InvalidArgument):
        Settings.load(bad)


def test_a_flood_is_logged_at_once_then_summarised() -> None:
    lim, events = limiter()
    for _ in range(105):
        refused(lim, "kh_a", "org_1")
    asyncio.run(lim.report(first_only=True))  # the next sync: the flood's start
    for _ in range(1000):
        refused(lim, "kh_a", "org_1")
    asyncio.run(lim.report(first_only=True))  # later syncs of the interval: nothing
    assert [json.loads(e.detail)["refused"] for e in events.events] == [100]
    asyncio.run(lim.report())  # the interval's end: the rest
    assert [json.loads(e.detail)["refused"] for e in events.events] == [100, 1000]
    refused(lim, "kh_a", "org_1")
    asyncio.run(lim.report(first_only=True))  # a new interval: its first refusal at once
    assert [json.loads(e.detail)["refused"] for e in events.events] == [100, 1000, 1]


def test_between_full_exchanges_only_hot_keys_travel() -> None:
    store, clock = InMemoryRateLimitStore(), Clock()
    lim, _ = limiter(store, clock, caller=8)
    lim.admit("kh_cold", None)  # 1 of 8: far from its limit
    for _ in range(3):
        lim.admit("kh_hot", None)  # 3 of 8: past a quarter
    window = int(clock.now * 1000 // 10_000)
    asyncio.run(lim.sync_once(everything=False))
    assert store.counters == {("c:kh_hot", window): 3}
    asyncio.run(lim.sync_once())
    assert store.counters == {("c:kh_hot", window): 3, ("c:kh_cold", window): 1}
    # Another process's calls count here from the next exchange this process takes part in
    # for the key (a full one once it has new calls, every one once the key is hot).
    other, _ = limiter(store, clock, caller=8)
    for _ in range(4):
        other.admit("kh_cold", None)
    asyncio.run(other.sync_once())
    assert refused(lim, "kh_cold") is None  # 6th overall
    asyncio.run(lim.sync_once())  # learns the total of 6: hot from now on
    assert refused(lim, "kh_cold") is None  # 7th
    assert refused(lim, "kh_cold") is None  # 8th
    assert refused(lim, "kh_cold") is not None
