"""The shipper: drains the Redis Stream buffers into ClickHouse, hash-chained, exactly once.

Per shard (``{log:<shard>}:…`` keys, one cluster slot), one cycle is:

1. **begin** (a small Lua script): take or renew the shard's lease; read the chain head and the
   batch in flight, if any (``{log:<shard>}:head`` = seq, hash, batch_last, batch_count).
2. **read** with XRANGE: the batch in flight (a batch whose insert may or may not have committed
   before a crash or a failure) from the start of the stream to its recorded last id, else up to
   ``batch_max`` new entries, which are then **marked** as in flight (last id and count) before
   anything is inserted. The stream holds exactly the entries not yet shipped: shipped ones are
   trimmed when their batch is acknowledged, so it always starts with the next batch.
3. **prepare** (a worker thread): check and canonicalise each entry, extend the hash chain from
   the head, build one JSONEachRow body. Entries that are not valid events are set aside.
4. **insert** the batch in one INSERT with ``insert_deduplication_token`` =
   ``events:<shard>:<first seq>:<last seq>:<last hash>``.
5. **acknowledge** (Lua): if this shipper still holds the lease and the head and the batch in
   flight are still the ones it started from: XTRIM the stream up to the batch's last id, move
   rejected entries to ``{log:<shard>}:rejected``, store the new head, clear the mark, at once.
6. every ``checkpoint_events`` events or ``checkpoint_seconds``, sign the head with the audit
   key and insert the checkpoint.

Exactly once. After a crash or a failed insert the mark names the batch exactly (its last id and
size), so the retry reads the same entries from the same head, computes the same rows and the
same token, and ClickHouse drops the insert if it had already committed it (verified on chDB in
tests/integration/accesslog/test_shipper.py). The token covers the last hash, so different rows
can never share a token (e.g. after the head was lost). Tokens are tracked per partition, so a
batch whose insert committed only some partitions before failing is completed by the retry.

Why not a consumer group (XREADGROUP / XACK): a shard's chain admits one reader at a time, so a
group's load balancing buys nothing, while its per-entry bookkeeping (the pending list, an XCLAIM
propagated to the AOF per entry read, an XACK per entry) measured ~2x the Redis CPU of XRANGE +
XTRIM on these machines, and a pending list only names the last batch if nothing ever changes
the batch size. The mark is exact whatever ``batch_max`` was.

Leases. Every authority process may run a shipper; each shard is shipped by whoever holds its
lease (``{log:<shard>}:lease``, renewed every cycle). Two shippers on one shard would fork the
chain. A shipper that stalls beyond its lease can still insert the batch it holds, but it is the
batch its successor finds marked (same entries, same head), so that insert is deduplicated, and
the stalled shipper's acknowledgement is refused.

When ClickHouse fails, the cycle is retried with exponential backoff and the streams grow (the
buffer refuses new events past its ``max_backlog``: decisions fail closed rather than go
unlogged). If the head is missing from Redis (a new or reset Redis) while ClickHouse has rows for
the shard, the chain continues from ClickHouse's last row instead of restarting at seq 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import math
import os
import threading
import time
import uuid
from binascii import hexlify
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import redis.exceptions as redis_errors

from authority.adapters.clickhouse.chain import (
    GENESIS,
    AuditKey,
    ChainHead,
    Checkpoint,
    canonical_from_entry,
)
from authority.adapters.clickhouse.connect import clickhouse_errors, query_rows
from authority.adapters.clickhouse.schema import CHECKPOINTS_TABLE, EVENTS_TABLE, migrate
from authority.adapters.redis.event_buffer import stream_key
from authority.adapters.redis.round_trip import RoundTrip
from authority.domain.errors import AuthorityError, Conflict, InvalidArgument, Unavailable
from authority.domain.events import EVENT_FIELDS

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)


READ_CHUNK = 10_000
"""Most entries per XRANGE round trip (~4 MB)."""


def head_key(shard: int) -> str:
    return f"{{log:{shard}}}:head"


def lease_key(shard: int) -> str:
    return f"{{log:{shard}}}:lease"


def rejected_key(shard: int) -> str:
    return f"{{log:{shard}}}:rejected"


# -- the port, and its ClickHouse adapter ------------------------------------------------------


class EventSink(Protocol):
    """Where shipped batches go. Synchronous (the shipper calls it in a worker thread); errors
    are the product's (``Unavailable`` when the store is down)."""

    def prepare(self) -> None:
        """Make the store ready (the schema migrated); idempotent."""
        ...

    def insert_events(self, body: bytes, *, dedup_token: str) -> None:
        """Insert one JSONEachRow batch; an insert repeated with the same token is dropped."""
        ...

    def insert_checkpoint(self, checkpoint: Checkpoint) -> None: ...

    def chain_head(self, shard: int) -> ChainHead | None:
        """The shard's last stored (seq, hash), or ``None`` if it has no rows."""
        ...


INSERT_COLUMNS: tuple[str, ...] = (*EVENT_FIELDS, "shard", "seq", "hash_hex")
"""The columns of a shipped row: the event's canonical JSON plus the chain fields. ``ts_ms`` and
``hash_hex`` are EPHEMERAL inputs from which ClickHouse derives ``ts`` and ``hash``."""
CHECKPOINT_COLUMNS = ("shard", "seq", "hash", "ts", "kid", "signature")


class ClickHouseSink:
    """Implements ``EventSink`` on a clickhouse-connect client. The client is opened on first
    use and reopened after a failure (a restarted server, a closed chDB client)."""

    def __init__(
        self,
        opener: Callable[[], Client],
        *,
        events_table: str = EVENTS_TABLE,
        checkpoints_table: str = CHECKPOINTS_TABLE,
        insert_settings: Mapping[str, str | int] | None = None,
    ) -> None:
        """``insert_settings``: extra settings for event inserts, e.g.
        ``{"distributed_foreground_insert": 1}`` on a cluster (docs/accesslog.md)."""
        self._opener = opener
        self._events = events_table
        self._checkpoints = checkpoints_table
        self._insert_settings = dict(insert_settings or {})
        self._client: Client | None = None
        self._lock = threading.Lock()

    def _use(self, what: str, call: Callable[[Client], Any]) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._opener()
            client = self._client
        try:
            with clickhouse_errors(what):
                return call(client)
        except Unavailable:
            self._discard(client)
            raise

    def _discard(self, client: Client) -> None:
        with self._lock:
            if self._client is client:
                self._client = None
        try:
            client.close()
        except Exception:  # already broken; closing is best effort
            log.debug("closing a failed ClickHouse client failed", exc_info=True)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def prepare(self) -> None:
        self._use("migrating the access-log schema", migrate)

    def insert_events(self, body: bytes, *, dedup_token: str) -> None:
        settings = {
            "insert_deduplicate": 1,
            "insert_deduplication_token": dedup_token,
            "async_insert": 0,  # deduplication by token is for synchronous inserts
            "input_format_skip_unknown_fields": 0,
            # One thread parses each body: the shards' inserts already run side by side, and
            # parallel parsing of a 50,000-row body measured ~10-15 % more CPU for no speed.
            "input_format_parallel_parsing": 0,
            **self._insert_settings,
        }
        self._use(
            "inserting access events",
            lambda c: c.raw_insert(
                self._events, INSERT_COLUMNS, body, fmt="JSONEachRow", settings=settings
            ),
        )

    def insert_checkpoint(self, checkpoint: Checkpoint) -> None:
        cp = checkpoint
        row = [cp.shard, cp.seq, cp.hash, cp.ts_ms, cp.kid, cp.signature]
        token = f"checkpoint:{cp.shard}:{cp.seq}:{cp.ts_ms}"
        self._use(
            "inserting an access-log checkpoint",
            lambda c: c.insert(
                self._checkpoints,
                [row],
                column_names=CHECKPOINT_COLUMNS,
                settings={"insert_deduplication_token": token},
            ),
        )

    def chain_head(self, shard: int) -> ChainHead | None:
        rows = self._use(
            "reading the chain head",
            lambda c: query_rows(
                c,
                f"SELECT seq, hash FROM {self._events} WHERE shard = {{shard:UInt16}} "  # noqa: S608 - fixed table name
                "ORDER BY seq DESC LIMIT 1",
                parameters={"shard": shard},
                what="reading the chain head",
            ),
        )
        if not rows:
            return None
        seq, chain_hash = rows[0]
        return ChainHead(int(seq), bytes(chain_hash))


# -- preparing a batch (pure, CPU-bound: runs in a worker thread) ------------------------------


@dataclass(frozen=True, slots=True)
class Rejected:
    entry_id: bytes
    raw: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    shard: int
    last_id: bytes
    """The stream id of the batch's last entry (shipped or rejected)."""
    count: int
    """Entries in the batch, shipped or rejected."""
    body: bytes
    events: int
    start: ChainHead
    head: ChainHead
    """The chain head after the batch (``start`` if nothing was shippable)."""
    rejected: list[Rejected]

    @property
    def dedup_token(self) -> str:
        return f"events:{self.shard}:{self.start.seq + 1}:{self.head.seq}:{self.head.hash.hex()}"


Entry = Sequence[Any]
"""A stream entry as XRANGE returns it: ``[id, [field, value, ...]]`` (or, through redis-py's
cluster pipeline, ``(id, {field: value})``)."""


@dataclass(slots=True)
class Entries:
    """Stream entries in two flat lists: their ids, and their events (``None``: the entry has
    no field ``e``). XRANGE's reply is two lists per entry; held for a whole 50,000-entry batch
    on each of several shards, those lists made the garbage collector's passes (which traverse
    every live list) the shipper's largest cost (bench/README.md). Flattened as each chunk
    arrives, they die young and the collector has almost nothing to traverse."""

    ids: list[bytes] = field(default_factory=list)
    raws: list[bytes | None] = field(default_factory=list)

    def extend(self, reply: Sequence[Entry]) -> None:
        self.ids += [bytes(entry_id) for entry_id, _ in reply]
        # The buffer writes one field, so the entry is almost always [b"e", value].
        self.raws += [
            fields[1] if type(fields) is list and fields[0] == b"e" else _entry_value(fields)
            for _, fields in reply
        ]

    def __len__(self) -> int:
        return len(self.ids)


def _entry_value(fields: Any) -> bytes | None:
    if isinstance(fields, dict):
        value = fields.get(b"e")
    elif fields and fields[0] == b"e":
        value = fields[1]
    else:
        pairs = dict(zip(fields[::2], fields[1::2], strict=False)) if fields else {}
        value = pairs.get(b"e")
    return value if isinstance(value, bytes) else None


def prepare_batch(
    shard: int, start: ChainHead, entries: Entries, *, last_id: bytes | None = None
) -> PreparedBatch:
    """Chain ``entries`` (in stream order) onto ``start`` and build the insert body.
    ``last_id``: the batch's end if it is not the last entry's id (entries gone missing)."""
    sha256 = hashlib.sha256
    seq, chain_hash = start.seq, start.hash
    lines: list[bytes] = []
    rejected: list[Rejected] = []
    suffix = b',"shard":%d,"seq":%%d,"hash_hex":"%%s"}\n' % shard
    for entry_id, raw in zip(entries.ids, entries.raws, strict=True):
        if raw is None:
            rejected.append(Rejected(entry_id, b"", "the entry has no event (field 'e')"))
            continue
        try:
            canonical = canonical_from_entry(raw)
        except InvalidArgument as exc:
            rejected.append(Rejected(entry_id, raw, str(exc)))
            continue
        seq += 1
        chain_hash = sha256(chain_hash + canonical).digest()
        lines.append(canonical[:-1] + suffix % (seq, hexlify(chain_hash)))
    return PreparedBatch(
        shard=shard,
        last_id=last_id or entries.ids[-1],
        count=len(entries),
        body=b"".join(lines),
        events=len(lines),
        start=start,
        head=ChainHead(seq, chain_hash),
        rejected=rejected,
    )


def _after(stream_id: bytes) -> bytes:
    """The smallest stream id greater than ``stream_id`` (XTRIM MINID keeps ids >= it)."""
    ms, _, seq = stream_id.partition(b"-")
    if int(seq) == 2**64 - 1:
        return b"%d-0" % (int(ms) + 1)
    return b"%s-%d" % (ms, int(seq) + 1)


# -- Redis scripts (each touches one shard's keys: one cluster slot) ---------------------------

_BEGIN = """
-- KEYS: stream, head, lease. ARGV: owner, lease ms.
local length = redis.call('XLEN', KEYS[1])
local owner = redis.call('GET', KEYS[3])
if owner and owner ~= ARGV[1] then return {0, length} end
redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])
local h = redis.call('HMGET', KEYS[2], 'seq', 'hash', 'batch_last', 'batch_count')
return {1, length, h[1], h[2], h[3], h[4]}
"""

_MARK = """
-- KEYS: head, lease. ARGV: owner, head seq, head hash, batch last id, batch count.
-- Writes the head too: a batch in flight always has the head it is chained from.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('LEASE this shipper no longer holds the shard')
end
local h = redis.call('HMGET', KEYS[1], 'seq', 'batch_last')
if (h[1] or '0') ~= ARGV[2] or h[2] then
  return redis.error_reply('HEADMOVED the chain head or the batch in flight changed')
end
redis.call('HSET', KEYS[1], 'seq', ARGV[2], 'hash', ARGV[3],
           'batch_last', ARGV[4], 'batch_count', ARGV[5])
return 1
"""

_ACK = """
-- KEYS: stream, head, lease, rejected.
-- ARGV: owner, head seq, new seq, new hash, batch last id, trim below, n rejected,
--       then (id, raw, reason) per rejected entry.
if redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return redis.error_reply('LEASE this shipper no longer holds the shard')
end
local h = redis.call('HMGET', KEYS[2], 'seq', 'batch_last')
if (h[1] or '0') ~= ARGV[2] or h[2] ~= ARGV[5] then
  return redis.error_reply('HEADMOVED the chain head or the batch in flight changed')
end
local i = 8
for _ = 1, tonumber(ARGV[7]) do
  redis.call('XADD', KEYS[4], '*', 'id', ARGV[i], 'e', ARGV[i + 1], 'reason', ARGV[i + 2])
  i = i + 3
end
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[6])
redis.call('HSET', KEYS[2], 'seq', ARGV[3], 'hash', ARGV[4])
redis.call('HDEL', KEYS[2], 'batch_last', 'batch_count')
return redis.call('XLEN', KEYS[1])
"""

_SET_HEAD = """
-- KEYS: head, lease. ARGV: owner, seq, hash. Only where no head exists.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('LEASE this shipper no longer holds the shard')
end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'seq', ARGV[2], 'hash', ARGV[3])
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


# -- the shipper -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ShipperConfig:
    shards: int
    """Buffer streams to drain, 0 .. shards-1 (``event_shards`` in the settings)."""
    batch_max: int = 50_000
    """Most entries per batch (one INSERT)."""
    interval: float = 1.0
    """Pause after a batch that was not full, in seconds, shortened in proportion to how full
    it was: at low load ClickHouse gets about one insert per shard per interval (it wants few,
    large inserts); as load rises the pauses shrink (a burst does not wait a whole interval
    to be shipped), and at high load batches fill and follow each other at once."""
    checkpoint_events: int = 100_000
    """Sign a checkpoint after this many events on a shard ..."""
    checkpoint_seconds: float = 60.0
    """... or this long after the last one, whichever comes first (if events were shipped)."""
    lease_seconds: float = 30.0
    """How long a shard stays with a shipper that stopped renewing its lease (crashed)."""
    unhealthy_after: float = 60.0
    """``healthy()`` turns false when shipping has failed continuously for this long."""
    backoff_min: float = 0.1
    backoff_max: float = 5.0
    """Retry delays after a failure, doubling from min to max."""

    def __post_init__(self) -> None:
        if not 1 <= self.shards <= 256:
            raise InvalidArgument("shards must be 1-256")
        if self.batch_max < 1:
            raise InvalidArgument("batch_max must be at least 1")
        if self.lease_seconds <= 2 * max(self.backoff_max, self.interval):
            # The lease is renewed every cycle: waits between cycles must fit in it, twice.
            raise InvalidArgument("lease_seconds must exceed twice backoff_max and interval")


@dataclass(slots=True)
class ShardStatus:
    shard: int
    backlog: int = 0
    """Entries in the stream not yet shipped (XLEN), as of the last read or ack."""
    shipped: int = 0
    rejected: int = 0
    errors: int = 0
    checkpoints: int = 0
    head_seq: int = 0
    last_ship_ms: int | None = None
    """Wall-clock time (POSIX ms) of the last batch acknowledged."""
    last_error: str = ""
    leased: bool = False
    """Whether this shipper held the shard's lease at its last read."""


@dataclass(frozen=True, slots=True)
class ShipperMetrics:
    shards: tuple[ShardStatus, ...]
    healthy: bool
    failing_seconds: float
    """How long shipping has been failing without a success (0 when it works)."""

    @property
    def backlog(self) -> int:
        return sum(s.backlog for s in self.shards)

    @property
    def shipped(self) -> int:
        return sum(s.shipped for s in self.shards)

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.shards)


@dataclass(slots=True)
class _Shard:
    status: ShardStatus
    checkpointed_seq: int = 0
    since_checkpoint: int = 0
    checkpoint_at: float = -math.inf
    keys: tuple[str, str, str, str] = field(default=("", "", "", ""))


class Shipper:
    def __init__(
        self,
        *,
        redis: RoundTrip,
        sink: EventSink,
        audit_key: AuditKey,
        config: ShipperConfig,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        """``redis``: a ``RedisStore`` of its own (``round_trip`` sends raw commands and returns
        raw replies: a batch of 50,000 entries is not turned into dicts); ``clock_ms``: wall
        clock for checkpoint times (tests; default the system clock)."""
        self._redis = redis
        self._sink = sink
        self._key = audit_key
        self.config = config
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._shards = [
            _Shard(
                ShardStatus(s),
                keys=(stream_key(s), head_key(s), lease_key(s), rejected_key(s)),
            )
            for s in range(config.shards)
        ]
        self._prepared = False
        self._prepare_lock = asyncio.Lock()
        self._failing_since: float | None = None

    # -- observation -------------------------------------------------------------------------

    def healthy(self) -> bool:
        failing = self._failing_since
        return failing is None or time.monotonic() - failing <= self.config.unhealthy_after

    def metrics(self) -> ShipperMetrics:
        failing = self._failing_since
        return ShipperMetrics(
            shards=tuple(replace(s.status) for s in self._shards),
            healthy=self.healthy(),
            failing_seconds=0.0 if failing is None else time.monotonic() - failing,
        )

    # -- driving -----------------------------------------------------------------------------

    async def ship_once(self) -> int:
        """One cycle on every shard, one after the other; return the events shipped (entries
        set aside not counted). Errors propagate (after being counted)."""
        before = sum(s.status.shipped for s in self._shards)
        for shard in self._shards:
            await self._cycle(shard)
        return sum(s.status.shipped for s in self._shards) - before

    async def run(self, stop: asyncio.Event) -> None:
        """Ship until ``stop`` is set, each shard in its own task, retrying failures with
        backoff; then ``shutdown``."""
        tasks = [asyncio.create_task(self._run_shard(s, stop)) for s in self._shards]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.shutdown()

    async def shutdown(self) -> None:
        """Sign a last checkpoint where events were shipped since the previous one, and hand
        the leases back so another shipper can take over at once."""
        for shard in self._shards:
            if not shard.status.leased:
                continue
            try:
                await asyncio.wait_for(self._checkpoint_now(shard), timeout=5.0)
            except (AuthorityError, TimeoutError) as exc:
                log.warning(
                    "last checkpoint failed", extra={"shard": shard.status.shard, "error": str(exc)}
                )
            with contextlib.suppress(AuthorityError):
                await self._eval(_RELEASE, [shard.keys[2]], [self.owner])
            shard.status.leased = False

    async def _run_shard(self, shard: _Shard, stop: asyncio.Event) -> None:
        delay = 0.0
        while not stop.is_set():
            try:
                consumed = await self._cycle(shard)
            except AuthorityError as exc:
                delay = min(self.config.backoff_max, max(self.config.backoff_min, delay * 2))
                level = logging.INFO if isinstance(exc, Conflict) else logging.WARNING
                log.log(
                    level,
                    "access-log shipping failed; retrying",
                    extra={"shard": shard.status.shard, "error": str(exc), "retry_in": delay},
                )
                await _sleep(stop, delay)
                continue
            delay = 0.0
            if consumed < self.config.batch_max:  # a full batch: more are probably waiting
                await _sleep(stop, self.config.interval * (1 - consumed / self.config.batch_max))

    # -- one cycle ---------------------------------------------------------------------------

    async def _cycle(self, shard: _Shard) -> int:
        """One cycle on one shard; return the entries it consumed (shipped or set aside)."""
        status = shard.status
        try:
            consumed = await self._ship(shard)
        except Conflict as exc:
            status.leased = False
            status.last_error = str(exc)
            raise
        except AuthorityError as exc:
            status.errors += 1
            status.last_error = str(exc)
            if self._failing_since is None:
                self._failing_since = time.monotonic()
            raise
        self._failing_since = None
        return consumed

    async def _ship(self, shard: _Shard) -> int:
        status = shard.status
        stream, head_k, lease_k, rejected_k = shard.keys
        if not self._prepared:
            async with self._prepare_lock:
                if not self._prepared:
                    await asyncio.to_thread(self._sink.prepare)
                    self._prepared = True
        lease_ms = int(self.config.lease_seconds * 1000)
        begin = await self._eval(_BEGIN, [stream, head_k, lease_k], [self.owner, lease_ms])
        status.backlog = int(begin[1])
        if begin[0] == 0:  # another shipper holds the shard
            status.leased = False
            return 0
        status.leased = True
        _, length, raw_seq, raw_hash, in_flight, in_flight_count = begin
        head = GENESIS if raw_seq is None else ChainHead(int(raw_seq), bytes(raw_hash))
        status.head_seq = head.seq
        if int(length) == 0:
            await self._maybe_checkpoint(shard, head)
            return 0
        if in_flight is not None:
            last_id = bytes(in_flight)
            entries = await self._read(stream, b"-", last_id, None)
            if len(entries) != int(in_flight_count):
                # Someone deleted entries from Redis: ship what is left (the audit will show
                # whatever this does to rows already inserted) rather than stall the shard.
                log.error(
                    "entries of the batch in flight vanished from the stream",
                    extra={"shard": status.shard, "expected": int(in_flight_count)},
                )
        else:
            entries = await self._read(stream, b"-", b"+", self.config.batch_max)
            if not entries:
                return 0
            last_id = entries.ids[-1]
        if in_flight is None:
            if raw_seq is None:
                head = await self._recover_head(shard)
            await self._eval(
                _MARK,
                [head_k, lease_k],
                [self.owner, head.seq, head.hash, last_id, len(entries)],
            )
        batch = await asyncio.to_thread(prepare_batch, status.shard, head, entries, last_id=last_id)
        del entries
        if batch.events:
            await asyncio.to_thread(
                self._sink.insert_events, batch.body, dedup_token=batch.dedup_token
            )
        args: list[bytes | str | int] = [
            self.owner,
            head.seq,
            batch.head.seq,
            batch.head.hash,
            batch.last_id,
            _after(batch.last_id),
            len(batch.rejected),
        ]
        for r in batch.rejected:
            args += [r.entry_id, r.raw, r.reason]
        backlog = await self._eval(_ACK, [stream, head_k, lease_k, rejected_k], args)
        for r in batch.rejected:
            log.error(
                "access-log entry is not a valid event; moved aside",
                extra={"shard": status.shard, "entry": r.entry_id.decode(), "reason": r.reason},
            )
        status.backlog = int(backlog)
        status.shipped += batch.events
        status.rejected += len(batch.rejected)
        status.head_seq = batch.head.seq
        status.last_ship_ms = self._clock_ms()
        shard.since_checkpoint += batch.events
        log.debug(
            "shipped access events",
            extra={"shard": status.shard, "events": batch.events, "seq": batch.head.seq},
        )
        await self._maybe_checkpoint(shard, batch.head)
        return batch.count

    async def _read(self, stream: str, start: bytes, end: bytes, count: int | None) -> Entries:
        """XRANGE ``start``..``end`` (at most ``count`` entries) in round trips of at most
        ``READ_CHUNK`` entries: a 50,000-entry batch is ~20 MB, which as one reply can outlast
        a connection's timeout on a busy machine, and every retry would read it whole again."""
        entries = Entries()
        while count is None or len(entries) < count:
            chunk = READ_CHUNK if count is None else min(READ_CHUNK, count - len(entries))
            command = ("XRANGE", stream, start, end, "COUNT", chunk)
            with _COLLECTOR_PAUSE:
                (got,) = await self._redis_call(self._redis.round_trip([command]))  # type: ignore[list-item]
                entries.extend(got)
                got_all = len(got) == chunk
                del got  # the nested lists go now, while the collector is still paused
            if not got_all:
                break
            start = b"(" + entries.ids[-1]
        return entries

    async def _recover_head(self, shard: _Shard) -> ChainHead:
        """No head in Redis: continue ClickHouse's chain if it has one (a reset Redis), rather
        than restart at seq 1 and duplicate seqs."""
        stored = await asyncio.to_thread(self._sink.chain_head, shard.status.shard)
        if stored is None or stored.seq == 0:
            return GENESIS
        _, head_k, lease_k, _ = shard.keys
        written = await self._eval(
            _SET_HEAD, [head_k, lease_k], [self.owner, stored.seq, stored.hash]
        )
        log.warning(
            "access-log chain head missing in Redis; continuing from ClickHouse",
            extra={"shard": shard.status.shard, "seq": stored.seq, "written": bool(written)},
        )
        return stored

    async def _maybe_checkpoint(self, shard: _Shard, head: ChainHead) -> None:
        if head.seq <= shard.checkpointed_seq:
            return
        due = (
            shard.since_checkpoint >= self.config.checkpoint_events
            or time.monotonic() - shard.checkpoint_at >= self.config.checkpoint_seconds
        )
        if due:
            await self._sign_and_insert(shard, head)

    async def _checkpoint_now(self, shard: _Shard) -> None:
        ((seq, chain_hash),) = await self._redis_call(
            self._redis.round_trip([("HMGET", shard.keys[1], "seq", "hash")])
        )
        if seq is None:
            return
        head = ChainHead(int(seq), bytes(chain_hash))
        if head.seq > shard.checkpointed_seq:
            await self._sign_and_insert(shard, head)

    async def _sign_and_insert(self, shard: _Shard, head: ChainHead) -> None:
        checkpoint = self._key.sign(shard.status.shard, head, self._clock_ms())
        await asyncio.to_thread(self._sink.insert_checkpoint, checkpoint)
        shard.checkpointed_seq = head.seq
        shard.since_checkpoint = 0
        shard.checkpoint_at = time.monotonic()
        shard.status.checkpoints += 1

    async def _eval(self, script: str, keys: list[str], args: Sequence[Any]) -> Any:
        command = ("EVAL", script, len(keys), *keys, *args)
        (reply,) = await self._redis_call(self._redis.round_trip([command]))
        return reply

    async def _redis_call(self, call: Awaitable[list[Any]]) -> list[Any]:
        try:
            return await call
        except redis_errors.ResponseError as exc:
            text = str(exc)
            if text.startswith(("LEASE", "HEADMOVED")):
                raise Conflict(f"access-log shard: {text.split(' ', 1)[1]}") from exc
            raise Unavailable(f"the event buffer (Redis) failed: {text[:200]}") from exc
        except (redis_errors.RedisError, OSError) as exc:
            raise Unavailable(f"the event buffer (Redis) is unreachable: {exc}") from exc


class _CollectorPause:
    """Pauses Python's cyclic garbage collector while XRANGE replies are read.

    A reply of 10,000 entries is 20,000 small lists, built by hiredis across the ~20 socket
    reads the reply takes. The collector's passes in between find them alive, promote them to
    the oldest generation and soon run full collections over it: measured, ~1 s of full
    collections per million events, the largest single cost of shipping once the chDB insert
    was cheap (bench/README.md). The lists are acyclic and freed by reference counting as soon
    as ``Entries.extend`` has flattened them, so the collector has nothing to find in them.
    The pause is process-wide but lasts one round trip, and cyclic garbage made meanwhile
    (by anything else in the process) is only collected a little later. Nested pauses (several
    shards reading at once) count; used on the event loop's thread only."""

    def __init__(self) -> None:
        self._depth = 0
        self._resume = False

    def __enter__(self) -> None:
        if self._depth == 0:
            self._resume = gc.isenabled()
            gc.disable()
        self._depth += 1

    def __exit__(self, *_: object) -> None:
        self._depth -= 1
        if self._depth == 0 and self._resume:
            gc.enable()


_COLLECTOR_PAUSE = _CollectorPause()


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` or until ``stop`` is set."""
    if seconds <= 0 or stop.is_set():
        return
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return
