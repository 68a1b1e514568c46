"""The shipper against a real Redis and chDB: exactly once through crashes and outages."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import pytest

from authority.adapters.clickhouse import shipper as shipper_module
from authority.adapters.clickhouse.audit import verify
from authority.adapters.clickhouse.chain import (
    GENESIS,
    AuditKey,
    ChainHead,
    extend,
    verify_checkpoint,
)
from authority.adapters.clickhouse.shipper import (
    ClickHouseSink,
    EventSink,
    Shipper,
    ShipperConfig,
    head_key,
    lease_key,
    rejected_key,
)
from authority.adapters.redis.event_buffer import stream_key
from authority.adapters.redis.redis_store import RedisStore
from authority.domain.errors import Unavailable
from authority.domain.events import AccessEvent

from .faults import Crashing, Failing, Recording, SimulatedCrash
from .workload import assert_exactly_once, chain_rows, event_ids, make_event, produce

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster

pytestmark = pytest.mark.timeout(60)

# The lease outlives a chDB insert on a loaded machine (at 0.3 s a slow insert lost it and the
# acknowledgement was refused); a crashed shipper's successor waits it out (``drain``).
FAST = {"interval": 0.01, "backoff_min": 0.01, "backoff_max": 0.05, "lease_seconds": 2.0}


def shipper(
    redis: RedisStore,
    sink: EventSink,
    key: AuditKey,
    *,
    shards: int = 1,
    batch_max: int = 100,
    **config: float,
) -> Shipper:
    options = {**FAST, **config}
    return Shipper(
        redis=redis,
        sink=sink,
        audit_key=key,
        config=ShipperConfig(shards=shards, batch_max=batch_max, **options),  # type: ignore[arg-type]
    )


async def eventually(check: Callable[[], Awaitable[bool] | bool]) -> None:
    """Poll ``check`` until it holds (at most 20 s: the tests' bound, not a speed claim)."""
    deadline = time.monotonic() + 20.0
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def drain(s: Shipper, redis: Redis | RedisCluster) -> None:
    """``ship_once`` until nothing is left in any stream (Redis says so, not the shipper)."""

    async def done() -> bool:
        await s.ship_once()
        lengths = [await redis.xlen(stream_key(n)) for n in range(s.config.shards)]
        return sum(lengths) == 0

    await eventually(done)


@contextlib.asynccontextmanager
async def running(s: Shipper) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(s.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


def audit_intact(client: Client, key: AuditKey) -> None:
    report = verify(client, {key.kid: key.public})
    assert report.intact, report.breaks


# -- the normal path ---------------------------------------------------------------------------


async def test_every_event_is_shipped_once_in_order_and_chained(
    redis_url: str,
    redis_client: Redis,
    store: RedisStore,
    clickhouse: Client,
    audit_key: AuditKey,
    make_sink: Callable[..., ClickHouseSink],
) -> None:
    per_shard = {0: [make_event() for _ in range(250)], 1: [make_event() for _ in range(120)]}
    for shard, events in per_shard.items():
        await produce(redis_url, shard, events)
    s = shipper(store, make_sink(), audit_key, shards=2)
    await drain(s, redis_client)

    for shard, events in per_shard.items():
        assert_exactly_once(clickhouse, shard, events)
        assert await redis_client.xlen(stream_key(shard)) == 0
        head = extend(GENESIS, [e.canonical_bytes() for e in events])[-1]
        stored = await redis_client.hgetall(head_key(shard))
        assert ChainHead(int(stored[b"seq"]), stored[b"hash"]) == head
        assert b"batch_last" not in stored  # nothing in flight
    metrics = s.metrics()
    assert metrics.shipped == 370
    assert metrics.errors == 0
    assert metrics.healthy
    assert all(st.last_ship_ms is not None and st.checkpoints >= 1 for st in metrics.shards)
    audit_intact(clickhouse, audit_key)


async def test_rows_read_back_equal_the_recorded_events(
    redis_url: str,
    redis_client: Redis,
    store: RedisStore,
    clickhouse: Client,
    audit_key: AuditKey,
    make_sink: Callable[..., ClickHouseSink],
) -> None:
    """Every field survives the trip (JSON in Redis, JSONEachRow into ClickHouse), odd
    characters included, so the audit can rebuild each event's canonical bytes."""
    events = [make_event() for _ in range(20)]
    await produce(redis_url, 0, events)
    await drain(shipper(store, make_sink(), audit_key), redis_client)
    columns = (
        "toString(event_id), toUnixTimestamp64Milli(ts), kind, action, outcome, reason, "
        "actor_role, actor_id, organisation_id, site_id, door_id, holder_id, grant_id, "
        "token_id, relay_id, detail"
    )
    rows = clickhouse.query(f"SELECT {columns} FROM access_events ORDER BY seq").result_rows
    stored = [AccessEvent.from_dict(dict(zip(events[0].to_dict(), r, strict=True))) for r in rows]
    assert stored == events
    assert any("😀" in e.detail for e in stored)


async def test_an_entry_that_is_not_an_event_is_moved_aside_and_the_chain_continues(
    redis_url: str,
    redis_client: Redis,
    store: RedisStore,
    clickhouse: Client,
    audit_key: AuditKey,
    make_sink: Callable[..., ClickHouseSink],
) -> None:
    before, after = [make_event() for _ in range(3)], [make_event() for _ in range(3)]
    await produce(redis_url, 0, before)
    await redis_client.xadd(stream_key(0), {"e": b'{"event_id":"nope"}'})
    await redis_client.xadd(stream_key(0), {"other": b"x"})
    await produce(redis_url, 0, after)
    s = shipper(store, make_sink(), audit_key)
    await drain(s, redis_client)

    assert_exactly_once(clickhouse, 0, before + after)
    rejected = await redis_client.xrange(rejected_key(0))
    reasons = [fields[b"reason"].decode() for _, fields in rejected]
    assert [fields[b"e"] for _, fields in rejected] == [b'{"event_id":"nope"}', b""]
    assert "missing event field" in reasons[0]
    assert "no event" in reasons[1]
    assert s.metrics().shards[0].rejected == 2
    audit_intact(clickhouse, audit_key)


# -- crashes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("after_insert", [True, False], ids=["after-insert", "before-insert"])
async def test_a_shipper_killed_before_acknowledging_loses_and_duplicates_nothing(
    after_insert: bool,
    redis_url: str,
    redis_client: Redis,
    store: RedisStore,
    clickhouse: Client,
    audit_key: AuditKey,
    make_sink: Callable[..., ClickHouseSink],
) -> None:
    events = [make_event() for _ in range(250)]
    await produce(redis_url, 0, events)
    crashing = Crashing(make_sink(), at=2, after_insert=after_insert)
    first = shipper(store, crashing, audit_key)
    assert await first.ship_once() == 100
    with pytest.raises(SimulatedCrash):
        await first.ship_once()  # batch 2 inserted (or not), then the process "dies"
    in_clickhouse = 200 if after_insert else 100
    assert len(event_ids(clickhouse)) == in_clickhouse
    marked = await redis_client.hmget(head_key(0), ["seq", "batch_count"])
    assert marked == [b"100", b"100"]  # batch 2 (100 entries after seq 100) is in flight
    assert await redis_client.xlen(stream_key(0)) == 150

    recording = Recording(make_sink())
    second = shipper(store, recording, audit_key)  # a new process: no shared state
    await drain(second, redis_client)  # waits out the dead shipper's lease, then takes over

    assert_exactly_once(clickhouse, 0, events)
    if after_insert:  # the retry really sent batch 2 again: ClickHouse dropped it
        assert recording.tokens[0] == crashing.tokens[1]
    audit_intact(clickhouse, audit_key)


@pytest.mark.parametrize("read_chunk", [10_000, 7], ids=["one-read", "chunked-reads"])
async def test_the_retry_is_the_batch_that_crashed_whatever_arrived_or_changed_since(
    read_chunk: int,
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    redis_client: Redis,
    store: RedisStore,
    clickhouse: Client,
    audit_key: AuditKey,
    make_sink: Callable[..., ClickHouseSink],
) -> None:
    """A partial batch (60 of at most 100) is inserted, then the process dies. Meanwhile 60
    more events arrive and the next shipper runs with another batch_max: it must still retry
    exactly those 60 (same rows, same token), or the overlap would be inserted twice. With
    ``read_chunk`` 7, every batch (and the batch in flight) is read in many round trips."""
    monkeypatch.setattr(shipper_module, "READ_CHUNK", read_chunk)
    first, later = [make_event() for _ in range(60)], [make_event() for _ in range(60)]
    await produce(redis_url, 0, first)
    crashing = Crashing(make_sink(), at=1, after_insert=True)
    with pytest.raises(SimulatedCrash):
        await shipper(store, crashing, audit_key, batch_max=100).ship_once()
    await produce(redis_url, 0, later)

    for batch_max in (100, 45):  # more than the batch, and less
        recording = Recording(make_sink())
        await drain(shipper(store, recording, audit_key, batch_max=batch_max), redis_client)
        assert recording.tokens[0] == crashing.tokens[0]
        assert_exactly_once(clickhouse, 0, first + later)
        if batch_max == 100:  # again, from the same state, with the smaller batch_max
            clickhouse.command("TRUNCATE TABLE access_events")
            await redis_client.delete(head_key(0), lease_key(0))
            await produce(redis_url, 0, first)
            crashing = Crashing(make_sink(), at=1, after_insert=True)
            with pytest.raises(SimulatedCrash):
                await shipper(store, crashing, audit_key, batch_max=100).ship_once()
            await produce(redis_url, 0, later)


# -- ClickHouse failures -----------------------------------------------------------------------


async def test_clickhouse_failing_under_load_delays_but_never_loses_or_duplicates(
    redis_url: str,
    redis_client: Redis,
    store: RedisStore,
    clickhouse: Client,
    opener: Callable[[], Client],
    audit_key: AuditKey,
    make_sink: Callable[..., ClickHouseSink],
) -> None:
    closed = opener()
    closed.close()
    sink = Failing(make_sink(), closed, failures=6)
    s = shipper(store, sink, audit_key, shards=2, batch_max=40)
    produced: dict[int, list[AccessEvent]] = {0: [], 1: []}

    async def producer(shard: int) -> None:
        for _ in range(25):
            batch = [make_event() for _ in range(12)]
            produced[shard] += batch
            await produce(redis_url, shard, batch)
            await asyncio.sleep(0.005)

    async with running(s):
        await asyncio.gather(producer(0), producer(1))
        await eventually(lambda: s.metrics().shipped == 600 and s.metrics().backlog == 0)

    assert sink.failed == 6
    assert s.metrics().errors >= 6
    for shard, events in produced.items():
        assert_exactly_once(clickhouse, shard, events)
    audit_intact(clickhouse, audit_key)


async def test_a_client_closed_under_the_sink_is_reopened(
    redis_url: str,
    redis_client: Redis,
    store: RedisStore,
    clickhouse: Client,
    opener: Callable[[], Client],
    audit_key: AuditKey,
    make_sink: Callable[..., ClickHouseSink],
) -> None:
    opened: list[Client] = []

    def tracking_opener() -> Client:
        opened.append(opener())
        return opened[-1]

    s = shipper(store, make_sink(tracking_opener), audit_key)
    first, second = [make_event() for _ in range(30)], [make_event() for _ in range(30)]
    await produce(redis_url, 0, first)
    await drain(s, redis_client)
    opened[-1].close()  # e.g. the engine was shut down under us (the sink closes the rest)
    await produce(redis_url, 0, second)
    with pytest.raises(Unavailable):
        await s.ship_once()
    await drain(s, redis_client)

    assert len(opened) == 2
    assert_exactly_once(clickhouse, 0, first + second)


async def test_health_turns_false_after_failing_longer_than_the_threshold_and_recovers(
    redis_url: str,
    redis_client: Redis,
    store: RedisStore,
    clickhouse: Client,
    opener: Callable[[], Client],
    audit_key: AuditKey,
    make_sink: Callable[..., ClickHouseSink],
) -> None:
    closed = opener()
    closed.close()
    sink = Failing(make_sink(), closed)
    s = shipper(store, sink, audit_key, unhealthy_after=0.2)
    await produce(redis_url, 0, [make_event() for _ in range(5)])
    async with running(s):
        await eventually(lambda: s.metrics().shipped == 5)
        sink.failing = True
        events = [make_event() for _ in range(7)]
        await produce(redis_url, 0, events)
        await eventually(lambda: not s.healthy())
        metrics = s.metrics()
        assert metrics.backlog == 7  # the stream holds what could not be shipped
        assert metrics.failing_seconds > 0.2
        assert "unreachable" in metrics.shards[0].last_error or metrics.shards[0].last_error
        sink.failing = False
        await eventually(lambda: s.healthy() and s.metrics().backlog == 0)
    assert s.metrics().shipped == 12


# -- leases, heads, checkpoints ----------------------------------------------------------------


async def test_two_shippers_on_the_same_shards_never_fork_a_chain(
    redis_url: str,
    redis_client: Redis,
    store: RedisStore,
    clickhouse: Client,
    audit_key: AuditKey,
    make_sink: Callable[..., ClickHouseSink],
) -> None:
    a = shipper(store, make_sink(), audit_key, shards=3, batch_max=20)
    b = shipper(store, make_sink(), audit_key, shards=3, batch_max=20)
    produced: dict[int, list[AccessEvent]] = {0: [], 1: [], 2: []}
    async with running(a), running(b):
        for _ in range(10):
            for shard in produced:
                batch = [make_event() for _ in range(10)]
                produced[shard] += batch
                await produce(redis_url, shard, batch)
            await asyncio.sleep(0.01)
        await eventually(lambda: a.metrics().shipped + b.metrics().shipped == 300)
    for shard, events in produced.items():
        assert_exactly_once(clickhouse, shard, events)
    for shard in produced:  # run() handed its leases back on the way out
        assert await redis_client.exists(lease_key(shard)) == 0
    audit_intact(clickhouse, audit_key)


async def test_a_lost_redis_head_continues_the_chain_stored_in_clickhouse(
    redis_url: str,
    redis_client: Redis,
    store: RedisStore,
    clickhouse: Client,
    audit_key: AuditKey,
    make_sink: Callable[..., ClickHouseSink],
) -> None:
    first, second = [make_event() for _ in range(40)], [make_event() for _ in range(15)]
    await produce(redis_url, 0, first)
    s = shipper(store, make_sink(), audit_key)
    await drain(s, redis_client)
    await redis_client.delete(head_key(0))  # e.g. a new, empty Redis
    await produce(redis_url, 0, second)
    await drain(s, redis_client)
    assert_exactly_once(clickhouse, 0, first + second)  # seq 41.. follows seq 40
    audit_intact(clickhouse, audit_key)


async def test_checkpoints_every_n_events_sign_the_chain_head(
    redis_url: str,
    redis_client: Redis,
    store: RedisStore,
    clickhouse: Client,
    audit_key: AuditKey,
    make_sink: Callable[..., ClickHouseSink],
) -> None:
    events = [make_event() for _ in range(350)]
    await produce(redis_url, 0, events)
    s = shipper(
        store,
        make_sink(),
        audit_key,
        batch_max=50,
        checkpoint_events=100,
        checkpoint_seconds=3600,
    )
    await drain(s, redis_client)
    rows = clickhouse.query(
        "SELECT shard, seq, hash, toUnixTimestamp64Milli(ts), kid, signature "
        "FROM access_checkpoints ORDER BY seq"
    ).result_rows
    # One after the first batch, then every 100 events.
    assert [r[1] for r in rows] == [50, 150, 250, 350]
    hashes = {seq: h for seq, h, _ in chain_rows(clickhouse, 0)}
    from authority.adapters.clickhouse.chain import Checkpoint  # noqa: PLC0415

    for shard, seq, chain_hash, ts_ms, kid, signature in rows:
        assert bytes(chain_hash) == bytes(hashes[seq])
        checkpoint = Checkpoint(
            shard=shard, seq=seq, hash=chain_hash, ts_ms=ts_ms, kid=kid, signature=signature
        )
        verify_checkpoint(checkpoint, {audit_key.kid: audit_key.public})
    assert s.metrics().shards[0].checkpoints == 4


@pytest.mark.cluster
async def test_shipping_through_a_redis_cluster_survives_a_crash(
    cluster_url: str,
    clickhouse: Client,
    audit_key: AuditKey,
    make_sink: Callable[..., ClickHouseSink],
) -> None:
    """Every script and read touches one shard's hash tag, so each runs on the node owning
    that slot; redis-py's cluster pipeline hands back XRANGE entries as dicts."""
    store = RedisStore.from_url(cluster_url)
    try:
        per_shard = {s: [make_event() for _ in range(70)] for s in range(3)}
        for shard, events in per_shard.items():
            await produce(cluster_url, shard, events)
        crashing = Crashing(make_sink(), at=2, after_insert=True)
        with pytest.raises(SimulatedCrash):
            await shipper(store, crashing, audit_key, shards=3, batch_max=50).ship_once()
        s = shipper(store, make_sink(), audit_key, shards=3, batch_max=50)

        async def done() -> bool:
            await s.ship_once()
            return s.metrics().shipped == 210 - 50  # batch 1 was acknowledged before the crash

        await eventually(done)
        for shard, events in per_shard.items():
            assert_exactly_once(clickhouse, shard, events)
        audit_intact(clickhouse, audit_key)
    finally:
        await store.close()
