"""Rate limits against a real server and real Redis: a flooding holder gets RESOURCE_EXHAUSTED
with retry information while a colleague's unlocks still succeed, an organisation's API calls
are limited too, the refusal is in the access log, and the counters work the same on a single
Redis and a cluster."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
import redis

from authority.adapters.redis.connect import connect
from authority.adapters.redis.ratelimit import RedisRateLimitStore
from authority.api.errors import RETRY_AFTER_MS
from authority.process.config import Settings
from tests.conftest import ServerHandle, run_server_in_thread
from tests.integration.test_api_relays import buffered_events, hold_shippers_off
from tests.support.world import build_world, holder_app

LIMIT = 8


@pytest.fixture
def limited(redis_url: str, tmp_path: Path) -> Iterator[ServerHandle]:
    settings = Settings.load(
        {}, data_dir=tmp_path / "data", listen="127.0.0.1:0",
        redis_url=redis_url,
        grace_seconds=1.0, log_level="WARNING", rate_limit_caller=LIMIT,
        rate_limit_window_seconds=60, rate_limit_sync_ms=20,
    )  # fmt: skip
    yield from run_server_in_thread(settings)


def _code_and_retry(call: object) -> tuple[grpc.StatusCode, int | None]:
    try:
        call()  # type: ignore[operator]
    except grpc.RpcError as exc:
        trailing = dict(exc.trailing_metadata() or ())  # type: ignore[attr-defined]
        retry = trailing.get(RETRY_AFTER_MS)
        return exc.code(), int(retry) if retry is not None else None
    return grpc.StatusCode.OK, None


def test_a_flooding_holder_is_limited_and_its_colleague_is_not(limited: ServerHandle) -> None:
    logs = hold_shippers_off(limited)
    w = build_world(limited.admin)
    colleague = w.org.create_key_holder()
    w.org.issue_grant(
        key_holder_id=colleague.key_holder.key_holder_id, site_id=w.site_id,
        valid_until=datetime.now(UTC) + timedelta(days=1),
    )  # fmt: skip
    outcomes = [_code_and_retry(lambda: w.holder.request_unlock(w.door_id)) for _ in range(40)]
    codes = [c for c, _ in outcomes]
    assert codes.count(grpc.StatusCode.OK) <= LIMIT + 2  # the sync's slack on one process
    refusals = [r for c, r in outcomes if c == grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert len(refusals) >= 40 - LIMIT - 2
    assert all(r is not None and r > 0 for r in refusals)
    # Its colleague of the same organisation is not starved.
    other = holder_app(w.org, colleague.key_holder.key_holder_id, via=limited.client())
    for _ in range(LIMIT):
        code, _ = _code_and_retry(lambda: other.request_unlock(w.door_id))
        assert code == grpc.StatusCode.OK
    # The organisation's own API credential has its own budget, and is limited the same way.
    org_codes = [_code_and_retry(lambda: w.org.list_grants(w.holder_id))[0] for _ in range(20)]
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in org_codes
    assert org_codes[0] == grpc.StatusCode.OK
    # The flood is in the access log (reported within a sync interval) as one or two aggregated
    # events (its start, then the interval's summary), not one per refusal.
    events: list[dict[str, object]] = []
    deadline = time.monotonic() + 10
    while not events and time.monotonic() < deadline:
        time.sleep(0.05)
        events = buffered_events(limited, logs, action="ratelimit.exceeded", actor_id=w.holder_id)
    assert 1 <= len(events) <= 2
    assert events[0]["outcome"] == "refused"
    assert events[0]["organisation_id"] == w.org_id


@pytest.mark.parametrize("which", ["single", "cluster"])
def test_counters_on_redis_and_cluster(which: str, redis_url: str, cluster_url: str) -> None:
    url = redis_url if which == "single" else cluster_url

    async def run() -> None:
        client = connect(url)
        try:
            store = RedisRateLimitStore(client)
            first = await store.exchange({"c:kh_a": 3, "o:org_1": 5}, window=100, window_ms=10_000)
            assert first == {"c:kh_a": (0, 3), "o:org_1": (0, 5)}
            assert await store.exchange({"c:kh_a": 2}, window=100, window_ms=10_000) == {
                "c:kh_a": (0, 5)
            }
            assert await store.exchange({"c:kh_a": 0}, window=101, window_ms=10_000) == {
                "c:kh_a": (5, 0)
            }
        finally:
            await client.aclose()

    asyncio.run(run())
    if which == "single":
        ttl = redis.Redis.from_url(url).pttl("{rl:c:kh_a}:100")
        assert 0 < ttl <= 21_000
