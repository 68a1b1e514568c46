"""The store contract (``authority.testing.store_contract``, shipped with the package) against
every store: the in-memory fake, a real Redis, a 3-node Redis Cluster; and what only the Redis
adapter has (a trimmed change log, a full access-log buffer)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis

from authority.adapters.redis.connect import connect
from authority.adapters.redis.event_buffer import stream_key
from authority.adapters.redis.once_events import RedisOnceEventRecorder, shard_of
from authority.adapters.redis.redis_store import DIR_LOG, RedisStore
from authority.domain.errors import Unavailable
from authority.domain.events import AccessEvent, EventKind, event
from authority.domain.model import Door
from authority.domain.ports.accesslog import OnceEventRecorder
from authority.testing import InMemoryStore, MemoryEventRecorder
from authority.testing.store_contract import (
    CHECKS,
    ContractStore,
    an_event_id_is_recorded_once,
    site,
)
from authority.wrappers.directory import DirectoryReplica

Store = InMemoryStore | RedisStore


@pytest.fixture(
    params=["memory", "redis", "redis-py-only", pytest.param("cluster", marks=pytest.mark.cluster)]
)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """The fake; a single Redis (lean unlock connection + redis-py); a single Redis through
    redis-py alone; a 3-node cluster."""
    if request.param == "memory":
        yield InMemoryStore()
        return
    url = request.getfixturevalue("cluster_url" if request.param == "cluster" else "redis_url")
    s = RedisStore(connect(url)) if request.param == "redis-py-only" else RedisStore.from_url(url)
    yield s
    await s.close()


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
async def test_store_contract(
    store: Store, check: Callable[[ContractStore], Awaitable[None]]
) -> None:
    await check(store)


async def test_replica_reloads_when_changelog_was_trimmed(redis_url: str) -> None:
    s = RedisStore.from_url(redis_url)
    try:
        replica = DirectoryReplica(s)
        await replica.load()
        site_a = site()
        await s.put_site(site_a, expected=None, create=True)
        for i in range(5):
            await s.put_door(Door(door_id=f"d{i}", site_id=site_a.site_id, relay_id="r"))
        redis.Redis.from_url(redis_url).xtrim(DIR_LOG, maxlen=1)  # simulate a far-behind replica
        await replica.sync_to(await s.directory_version())
        assert replica.version == 6
        assert replica.door("d0") is not None
        assert replica.door("d4") is not None
    finally:
        await s.close()


def _once_recorder(store: Store, *, max_backlog: int = 1000) -> OnceEventRecorder:
    if isinstance(store, InMemoryStore):
        return MemoryEventRecorder()
    return RedisOnceEventRecorder(store.client, shards=4, max_backlog=max_backlog)


async def test_an_event_id_is_recorded_once(store: Store) -> None:
    recorder = _once_recorder(store)

    async def recorded() -> list[AccessEvent]:
        if isinstance(recorder, MemoryEventRecorder):
            return recorder.events
        # in the access-log buffer stream the event id picks, in the buffer's entry format
        events: list[AccessEvent] = []
        for shard in range(4):
            for _, fields in await store.client.xrange(stream_key(shard)):
                raw = fields[b"e"]
                events.append(AccessEvent.from_dict(json.loads(raw)))
                assert raw == events[-1].canonical_bytes()
                assert shard == shard_of(events[-1].event_id, 4)
        return events

    await an_event_id_is_recorded_once(recorder, recorded)


async def test_record_once_refuses_when_the_buffer_is_full(redis_url: str) -> None:
    s = RedisStore.from_url(redis_url)
    try:
        recorder = RedisOnceEventRecorder(s.client, shards=1, max_backlog=1)
        first = event(EventKind.RELAY, "relay_result", "opened")
        assert await recorder.record_once(first) is True
        with pytest.raises(Unavailable):
            await recorder.record_once(event(EventKind.RELAY, "relay_result", "opened"))
        assert await recorder.record_once(first) is False  # a retry of what is there: fine
    finally:
        await s.close()
