"""The unlock path's one round trip per batch (``SharedRoundTrip``) on a real Redis: snapshot
reads and event appends of concurrent calls travel together, and a part that fails fails only
its own callers."""

from __future__ import annotations

import asyncio

import pytest
import redis

from authority.adapters.redis.connect import connect
from authority.adapters.redis.event_buffer import RedisEventBuffer, stream_key
from authority.adapters.redis.redis_store import RedisStore
from authority.domain.errors import Unavailable
from authority.domain.events import EventKind, event
from authority.domain.model import GrantTarget
from authority.testing.store_contract import grant, holder, org
from authority.wrappers.coalescing import SharedRoundTrip, SharedSnapshotReader

SHARD = 7


async def _world(store: RedisStore, n: int) -> list[str]:
    o = org()
    ids = []
    for _ in range(n):
        h = holder(o.organisation_id)
        await store.create_holder(h, h.key_holder_id.encode())
        await store.add_grant(grant(h, GrantTarget(door_id="door-1"), o.organisation_id))
        ids.append(h.key_holder_id)
    return ids


@pytest.fixture(params=["single", "cluster"])
def url(request: pytest.FixtureRequest) -> str:
    name = "redis_url" if request.param == "single" else "cluster_url"
    return str(request.getfixturevalue(name))


async def test_reads_and_appends_share_round_trips(url: str) -> None:
    store = RedisStore.from_url(url)
    try:
        ids = await _world(store, 40)
        shared = SharedRoundTrip(store, linger=0)
        reader = SharedSnapshotReader(store, shared)
        buffer = RedisEventBuffer(store, shard=SHARD, shared=shared)

        async def call(holder_id: str) -> bytes:
            snapshot = await reader.read_snapshot(holder_id, "door-1", None, "cred")
            assert snapshot is not None
            await buffer.record([event(EventKind.UNLOCK, "unlock", "allow", holder_id=holder_id)])
            return snapshot.credential_digest

        digests = await asyncio.gather(*(call(h) for h in ids * 3))
        assert digests == [h.encode() for h in ids * 3]
        # 120 reads and 120 appends: far fewer round trips than the 240 requests, and the
        # appends rode along with reads (no more batches than two per wave of calls).
        assert reader.requests == 120
        assert shared.requests == 240
        assert shared.batches <= 240 / 8
        (length,) = await store.round_trip([("XLEN", stream_key(SHARD))])
        assert length == 120
    finally:
        await store.close()


async def test_a_refused_append_fails_only_its_callers(url: str) -> None:
    store = RedisStore.from_url(url)
    try:
        ids = await _world(store, 5)
        # The shard's stream key holds a string: every XADD to it is refused (WRONGTYPE).
        await store.round_trip([("SET", stream_key(SHARD), "not a stream")])
        shared = SharedRoundTrip(store, linger=0)
        reader = SharedSnapshotReader(store, shared)
        broken = RedisEventBuffer(store, shard=SHARD, shared=shared)
        working = RedisEventBuffer(store, shard=SHARD + 1, shared=shared)
        one = [event(EventKind.UNLOCK, "unlock", "allow")]
        results = await asyncio.gather(
            *(reader.read_snapshot(h, "door-1", None, "cred") for h in ids),
            broken.record(one),
            working.record(one),
            return_exceptions=True,
        )
        snapshots, refused, stored = results[: len(ids)], results[-2], results[-1]
        assert all(s is not None and not isinstance(s, BaseException) for s in snapshots)
        assert isinstance(refused, Unavailable)
        assert "access-log buffer refused" in str(refused)
        assert stored is None
        (length,) = await store.round_trip([("XLEN", stream_key(SHARD + 1))])
        assert length == 1
    finally:
        await store.close()


async def test_a_full_buffer_fails_its_appends_not_the_reads(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url)
    try:
        ids = await _world(store, 3)
        shared = SharedRoundTrip(store, linger=0)
        reader = SharedSnapshotReader(store, shared)
        full = RedisEventBuffer(store, shard=SHARD, shared=shared, max_backlog=1)
        full.backlog = 1
        results = await asyncio.gather(
            *(reader.read_snapshot(h, "door-1", None, "cred") for h in ids),
            full.record([event(EventKind.UNLOCK, "unlock", "deny")]),
            return_exceptions=True,
        )
        assert all(r is not None and not isinstance(r, BaseException) for r in results[:-1])
        assert isinstance(results[-1], Unavailable)
        assert "access-log buffer holds" in str(results[-1])
        (length,) = await store.round_trip([("XLEN", stream_key(SHARD))])
        assert length == 0
    finally:
        await store.close()


async def test_a_stalled_redis_fails_the_batch_and_the_next_one_is_served(redis_url: str) -> None:
    """The batch written through the lean connection's callback hears the timeout as
    ``Unavailable`` (one watchdog per connection, not per batch); batching carries on."""
    admin = redis.Redis.from_url(redis_url)
    store = RedisStore(connect(redis_url), fast_url=redis_url, fast_timeout=0.2)
    try:
        ids = await _world(store, 2)
        shared = SharedRoundTrip(store, linger=0)
        reader = SharedSnapshotReader(store, shared)
        assert await reader.read_snapshot(ids[0], "door-1", None, "cred") is not None  # connected
        admin.client_pause(600)
        with pytest.raises(Unavailable):
            await reader.read_snapshot(ids[1], "door-1", None, "cred")
        assert not shared.busy
        await asyncio.sleep(0.7)
        assert await reader.read_snapshot(ids[1], "door-1", None, "cred") is not None
    finally:
        await store.close()
        admin.close()


class _Load:
    def __init__(self, saturated: bool) -> None:
        self.value = saturated

    def saturated(self) -> bool:
        return self.value


@pytest.mark.parametrize("saturated", [False, True])
async def test_batches_linger_only_while_the_loop_is_saturated(
    redis_url: str, saturated: bool
) -> None:
    store = RedisStore.from_url(redis_url)
    try:
        ids = await _world(store, 4)
        load = _Load(saturated)
        shared = SharedRoundTrip(store, linger=3600, linger_from=2, load=load)
        reader = SharedSnapshotReader(store, shared)
        # a batch of several: the next one may linger (if the loop is saturated)
        await asyncio.gather(*(reader.read_snapshot(h, "door-1", None, "cred") for h in ids))
        nxt = asyncio.create_task(reader.read_snapshot(ids[0], "door-1", None, "cred"))
        await asyncio.sleep(0.2)
        assert nxt.done() is not saturated
        nxt.cancel()
    finally:
        await store.close()


async def test_a_cancelled_callers_event_is_still_appended(redis_url: str) -> None:
    """A decision whose caller went away (a cancelled call) while its event waited for the next
    batch is logged all the same: what was decided is in the log, answered or not."""
    store = RedisStore.from_url(redis_url)
    try:
        shared = SharedRoundTrip(store, linger=0.3, linger_from=1, load=_Load(True))
        buffer = RedisEventBuffer(store, shard=SHARD, shared=shared)
        await buffer.record([event(EventKind.UNLOCK, "unlock", "allow")])  # now batches linger
        waiting = asyncio.create_task(buffer.record([event(EventKind.UNLOCK, "unlock", "deny")]))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        waiting.cancel()
        await asyncio.sleep(0.5)  # the lingering batch has left by now
        assert not shared.busy
        (length,) = await store.round_trip([("XLEN", stream_key(SHARD))])
        assert length == 2
    finally:
        await store.close()
