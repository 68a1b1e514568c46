"""Events for the access-log tests, produced through the real buffer, and what ClickHouse holds."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from authority.adapters.clickhouse.chain import GENESIS, extend
from authority.adapters.redis.event_buffer import RedisEventBuffer
from authority.adapters.redis.redis_store import RedisStore
from authority.domain.events import AccessEvent, EventKind, new_event_id
from authority.wrappers.coalescing import SharedRoundTrip

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

_counter = itertools.count()
ODD_TEXT = 'Nørrebrogade "12" \\ 1/2\n\t\x01 😀'
"""Quotes, backslashes, control characters and non-ASCII: the exact (slow) path."""


def make_event(ts_ms: int | None = None, **fields: str) -> AccessEvent:
    i = next(_counter)
    ts = int(time.time() * 1000) if ts_ms is None else ts_ms
    defaults = {
        "actor_role": "key_holder",
        "actor_id": f"kh_{i % 97:08d}",
        "organisation_id": "org_post",
        "site_id": f"site_{i % 7}",
        "door_id": f"door_{i % 13}",
        "holder_id": f"kh_{i % 97:08d}",
        "token_id": f"{i:016x}",
        "reason": "granted",
    }
    if i % 10 == 3:
        defaults["detail"] = json.dumps({"note": ODD_TEXT}, ensure_ascii=False)
    return AccessEvent(
        event_id=new_event_id(ts),
        ts_ms=ts,
        kind=EventKind.UNLOCK,
        action="unlock",
        outcome="allow",
        **{**defaults, **fields},
    )


async def produce(redis_url: str, shard: int, events: Sequence[AccessEvent]) -> None:
    """Append through ``RedisEventBuffer``, as every authority process does."""
    store = RedisStore.from_url(redis_url)
    try:
        buffer = RedisEventBuffer(store, shard=shard, shared=SharedRoundTrip(store))
        await buffer.record(events)
    finally:
        await store.close()


def event_ids(client: Client, shard: int | None = None) -> list[str]:
    where = "" if shard is None else f"WHERE shard = {int(shard)}"
    sql = f"SELECT toString(event_id) FROM access_events {where} ORDER BY shard, seq"
    return [r[0] for r in client.query(sql).result_rows]


def chain_rows(client: Client, shard: int) -> list[tuple[Any, ...]]:
    """(seq, hash, event_id) of a shard, in seq order."""
    sql = (
        "SELECT seq, hash, toString(event_id) FROM access_events "
        "WHERE shard = {s:UInt16} ORDER BY seq"
    )
    return [tuple(r) for r in client.query(sql, parameters={"s": shard}).result_rows]


def assert_exactly_once(client: Client, shard: int, events: Sequence[AccessEvent]) -> None:
    """The shard holds these events, each once, in order, seq 1..n, chained from genesis."""
    rows = chain_rows(client, shard)
    assert [r[2] for r in rows] == [e.event_id for e in events]
    assert [r[0] for r in rows] == list(range(1, len(events) + 1))
    heads = extend(GENESIS, [e.canonical_bytes() for e in events])
    assert [bytes(r[1]) for r in rows] == [h.hash for h in heads]
