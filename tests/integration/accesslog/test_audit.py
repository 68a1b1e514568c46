"""The audit finds and names every kind of tampering done directly in ClickHouse."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from authority.adapters.clickhouse.audit import AuditReport, BreakKind, ShardReport, verify
from authority.adapters.clickhouse.chain import AuditKey, ChainHead, link
from authority.adapters.clickhouse.shipper import ClickHouseSink, Shipper, ShipperConfig, head_key
from authority.adapters.redis.event_buffer import stream_key
from authority.adapters.redis.redis_store import RedisStore
from authority.domain.events import AccessEvent

from .workload import chain_rows, make_event, produce

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client
    from redis.asyncio import Redis

pytestmark = pytest.mark.timeout(60)
SYNC = {"mutations_sync": 2}


@dataclass
class Shipped:
    client: Client
    key: AuditKey
    events: dict[int, list[AccessEvent]]
    sink: ClickHouseSink

    def verify(self, **options: object) -> AuditReport:
        return verify(self.client, {self.key.kid: self.key.public}, **options)  # type: ignore[arg-type]

    def event_at(self, shard: int, seq: int) -> str:
        return self.events[shard][seq - 1].event_id

    def sql(self, statement: str) -> None:
        self.client.command(statement, settings=SYNC)


async def ship(
    redis_url: str,
    redis: Redis,
    store: RedisStore,
    sink: ClickHouseSink,
    key: AuditKey,
    events: dict[int, list[AccessEvent]],
    *,
    clock_ms: Callable[[], int] | None = None,
    checkpoint_events: int = 20,
) -> Shipper:
    for shard, evs in events.items():
        await produce(redis_url, shard, evs)
    shipper = Shipper(
        redis=store,
        sink=sink,
        audit_key=key,
        config=ShipperConfig(
            shards=max(events) + 1,
            batch_max=10,
            checkpoint_events=checkpoint_events,
            checkpoint_seconds=3600,
            lease_seconds=2.0,  # the next phase's shipper takes over; a slow insert keeps it
            backoff_max=0.1,
            interval=0.1,
        ),
        clock_ms=clock_ms,
    )
    while sum([await redis.xlen(stream_key(s)) for s in events]) > 0:
        await shipper.ship_once()
    return shipper


@pytest.fixture
async def shipped(
    redis_url: str,
    redis_client: Redis,
    store: RedisStore,
    clickhouse: Client,
    make_sink: Callable[..., ClickHouseSink],
    audit_key: AuditKey,
) -> Shipped:
    """Shard 0: 60 events, shard 1: 30; checkpoints at seq 10, 30, 50 (0) and 10, 30 (1)."""
    events = {0: [make_event() for _ in range(60)], 1: [make_event() for _ in range(30)]}
    sink = make_sink()
    await ship(redis_url, redis_client, store, sink, audit_key, events)
    return Shipped(clickhouse, audit_key, events, sink)


def only_break(report: AuditReport) -> tuple[ShardReport, ShardReport]:
    """Shard 0 is broken, shard 1 is intact."""
    zero, one = report.shards
    assert not report.intact
    assert zero.chain_break is not None
    assert one.intact
    assert (one.rows, one.checkpoints_verified) == (30, 2)
    return zero, one


# -- intact ------------------------------------------------------------------------------------


def test_an_untouched_log_is_intact_whatever_the_block_size(shipped: Shipped) -> None:
    for block_rows in (65_536, 7):  # 7: the rows arrive in many small blocks
        report = shipped.verify(block_rows=block_rows)
        assert report.intact
        zero, one = report.shards
        assert (zero.shard, zero.rows, zero.first_seq, zero.last_seq) == (0, 60, 1, 60)
        assert (zero.checkpoints_verified, zero.expired_events, zero.anchors) == (3, 0, 0)
        assert (one.rows, one.checkpoints_verified) == (30, 2)


def test_checkpoints_need_a_trusted_key(shipped: Shipped) -> None:
    stranger = AuditKey.generate(now=0)
    report = verify(shipped.client, {stranger.kid: stranger.public})
    assert [b.kind for b in report.breaks] == [BreakKind.BAD_CHECKPOINT] * 2


# -- tampering ---------------------------------------------------------------------------------


def test_a_deleted_row_is_named_missing(shipped: Shipped) -> None:
    shipped.sql("ALTER TABLE access_events DELETE WHERE shard = 0 AND seq = 25")
    zero, _ = only_break(shipped.verify())
    b = zero.chain_break
    assert b is not None
    assert (b.shard, b.seq, b.kind, b.event_id) == (0, 25, BreakKind.MISSING, None)
    assert b.kind.meaning == "deletion"
    assert shipped.event_at(0, 26) in b.detail
    assert zero.rows == 24


def test_an_altered_row_is_named_altered(shipped: Shipped) -> None:
    shipped.sql("ALTER TABLE access_events UPDATE outcome = 'deny' WHERE shard = 0 AND seq = 25")
    zero, _ = only_break(shipped.verify())
    b = zero.chain_break
    assert b is not None
    assert (b.seq, b.kind, b.event_id) == (25, BreakKind.ALTERED, shipped.event_at(0, 25))
    assert b.kind.meaning == "alteration"


def test_an_altered_hash_is_named_altered(shipped: Shipped) -> None:
    shipped.sql(
        "ALTER TABLE access_events UPDATE hash = unhex(repeat('00', 32)) "
        "WHERE shard = 0 AND seq = 41"
    )
    zero, _ = only_break(shipped.verify())
    assert zero.chain_break is not None
    assert (zero.chain_break.seq, zero.chain_break.kind) == (41, BreakKind.ALTERED)


def test_swapped_rows_are_named_reordered(shipped: Shipped) -> None:
    shipped.sql(
        "ALTER TABLE access_events UPDATE seq = if(seq = 25, 26, 25) "
        "WHERE shard = 0 AND seq IN (25, 26)"
    )
    zero, _ = only_break(shipped.verify())
    b = zero.chain_break
    assert b is not None
    # Stored at seq 25 now: the event shipped as 26. The one that belongs there sits at 26.
    assert (b.seq, b.kind, b.event_id) == (25, BreakKind.REORDERED, shipped.event_at(0, 26))
    assert shipped.event_at(0, 25) in b.detail
    assert b.kind.meaning == "reordering"


def test_a_copied_row_is_named_duplicate(shipped: Shipped) -> None:
    cols = (
        "event_id, ts, kind, action, outcome, reason, actor_role, actor_id, organisation_id, "
        "site_id, door_id, holder_id, grant_id, token_id, relay_id, detail, shard, seq, hash"
    )
    shipped.client.command(
        f"INSERT INTO access_events ({cols}) "
        f"SELECT {cols} FROM access_events WHERE shard = 0 AND seq = 33",
        settings={"insert_deduplicate": 0, "deduplicate_insert_select": "disable"},
    )
    zero, _ = only_break(shipped.verify())
    b = zero.chain_break
    assert b is not None
    assert (b.seq, b.kind, b.event_id) == (33, BreakKind.DUPLICATE, shipped.event_at(0, 33))


def test_a_deletion_with_every_later_hash_recomputed_contradicts_a_checkpoint(
    shipped: Shipped,
) -> None:
    """The attacker deletes seq 25, renumbers the rest and recomputes their hashes: the rows
    chain perfectly, but no longer match what the audit key signed at seq 30."""
    prev = bytes(chain_rows(shipped.client, 0)[23][1])  # hash of seq 24
    lines = []
    for new_seq, event in enumerate(shipped.events[0][25:], start=25):  # 26.. become 25..
        canonical = event.canonical_bytes()
        prev = link(prev, canonical)
        lines.append(
            canonical[:-1]
            + b',"shard":0,"seq":%d,"hash_hex":"%s"}\n' % (new_seq, prev.hex().encode())
        )
    shipped.sql("ALTER TABLE access_events DELETE WHERE shard = 0 AND seq >= 25")
    shipped.sink.insert_events(b"".join(lines), dedup_token="forged")
    zero, _ = only_break(shipped.verify())
    b = zero.chain_break
    assert b is not None
    assert (b.seq, b.kind) == (30, BreakKind.CHECKPOINT_MISMATCH)
    assert b.event_id == shipped.event_at(0, 31)  # what now sits at seq 30
    assert zero.rows == 29  # 1..29 chain and agree with the checkpoint at 10


def test_a_forged_checkpoint_is_named(shipped: Shipped) -> None:
    forger = AuditKey.generate(now=0)
    (h,) = shipped.client.query(
        "SELECT hash FROM access_events WHERE shard = 0 AND seq = 45"
    ).result_rows[0]
    ((now_ms,),) = shipped.client.query("SELECT toUnixTimestamp64Milli(now64(3))").result_rows
    forged = forger.sign(0, ChainHead(45, bytes(h)), now_ms)
    shipped.sink.insert_checkpoint(forged)
    zero, _ = only_break(shipped.verify())
    assert zero.chain_break is not None
    assert (zero.chain_break.seq, zero.chain_break.kind) == (45, BreakKind.BAD_CHECKPOINT)
    assert "unknown audit key" in zero.chain_break.detail


def test_deleting_the_newest_rows_is_caught_by_a_checkpoint(shipped: Shipped) -> None:
    shipped.sql("ALTER TABLE access_events DELETE WHERE shard = 0 AND seq > 42")
    zero, _ = only_break(shipped.verify())
    b = zero.chain_break
    assert b is not None
    assert (b.seq, b.kind) == (43, BreakKind.TRUNCATED)
    assert "43..50" in b.detail


async def test_rows_after_the_last_checkpoint_are_vouched_for_by_the_redis_head(
    shipped: Shipped, redis_client: Redis
) -> None:
    shipped.sql("ALTER TABLE access_events DELETE WHERE shard = 0 AND seq > 55")
    assert shipped.verify().intact  # no checkpoint after 50 (the limit of ClickHouse alone)
    heads = {}
    for shard in (0, 1):
        raw = await redis_client.hgetall(head_key(shard))
        heads[shard] = ChainHead(int(raw[b"seq"]), raw[b"hash"])
    zero, _ = only_break(shipped.verify(heads=heads))
    assert zero.chain_break is not None
    assert (zero.chain_break.seq, zero.chain_break.kind) == (56, BreakKind.TRUNCATED)


# -- expiry is not deletion --------------------------------------------------------------------


async def test_expired_events_are_not_reported_but_deletions_after_them_are(
    redis_url: str,
    redis_client: Redis,
    store: RedisStore,
    clickhouse: Client,
    make_sink: Callable[..., ClickHouseSink],
    audit_key: AuditKey,
) -> None:
    ((then,),) = clickhouse.query(
        "SELECT toUnixTimestamp64Milli(now64(3) - INTERVAL 36 MONTH - INTERVAL 10 DAY)"
    ).result_rows
    old = [make_event(then + i) for i in range(20)]
    await ship(
        redis_url,
        redis_client,
        store,
        make_sink(),
        audit_key,
        {0: old},
        clock_ms=lambda: then + 99,
        checkpoint_events=10,  # checkpoints at seq 10 and 20, signed back then
    )
    young = [make_event() for _ in range(20)]
    await ship(redis_url, redis_client, store, make_sink(), audit_key, {0: young})
    clickhouse.command("OPTIMIZE TABLE access_events FINAL")  # TTL: the old 20 go
    assert [r[0] for r in chain_rows(clickhouse, 0)] == list(range(21, 41))

    report = verify(clickhouse, {audit_key.kid: audit_key.public})
    assert report.intact, report.breaks
    (zero,) = report.shards
    assert (zero.rows, zero.first_seq, zero.expired_events) == (20, 21, 20)
    assert zero.checkpoints_expired == 1  # the one at 10; the one at 20 anchors seq 21
    assert zero.anchors == 0

    clickhouse.command("ALTER TABLE access_events DELETE WHERE seq = 21", settings=SYNC)
    (zero,) = verify(clickhouse, {audit_key.kid: audit_key.public}).shards
    assert zero.chain_break is not None
    assert (zero.chain_break.seq, zero.chain_break.kind) == (1, BreakKind.MISSING)
    assert "1..21 missing within the retention period" in zero.chain_break.detail
