"""Bulk issuance's pipeline: batches in flight together still issue each key once, in item
order, with one event per grant created; a batch that fails in part is resent in part only."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import redis

from authority.adapters.redis import scripts
from authority.adapters.redis.redis_store import RedisStore, holder_key
from authority.client.authority import chunk_items, grant_item
from authority.v1 import authority_pb2 as pb
from tests.conftest import ServerHandle
from tests.support.world import build_world

UNTIL = datetime.now(UTC) + timedelta(days=30)


def _bulk_issue_events(redis_url: str) -> Counter[str]:
    """Grant ids of the bulk ``grant.issue`` events in the log buffer, with their counts."""
    r = redis.Redis.from_url(redis_url)
    ids: Counter[str] = Counter()
    for key in r.scan_iter(match="{log:*}:events"):
        for _, fields in r.xrange(key):
            event = json.loads(fields[b"e"])
            if event.get("action") == "grant.issue" and '"bulk"' in (event.get("detail") or ""):
                ids[event["grant_id"]] += 1
    return ids


def test_batches_in_flight_together_issue_each_key_once_in_item_order(
    server: ServerHandle, redis_url: str
) -> None:
    w = build_world(server.admin)
    holders = [w.org.create_key_holder().key_holder.key_holder_id for _ in range(30)]
    # 450 items in one message: five batches of 100, two in flight at a time. Items 300-349
    # repeat items 0-49 (same key, same content: a retry inside the stream, three batches
    # later), items 400-409 reuse keys of items 100-109 for other content.
    items = [
        grant_item(idempotency_key=f"k{i}", key_holder_id=holders[i % 30], site_id=w.site_id,
                   valid_until=UNTIL, row=i)
        for i in range(300)
    ]  # fmt: skip
    items += items[:50]
    items += [
        grant_item(idempotency_key=f"n{i}", key_holder_id=holders[i % 30], door_id=w.door_id,
                   valid_until=UNTIL, row=i)
        for i in range(350, 400)
    ]  # fmt: skip
    items += [
        grant_item(idempotency_key=f"k{i}", key_holder_id=holders[i % 30], door_id=w.door_id,
                   valid_until=UNTIL, row=i)
        for i in range(100, 110)
    ]  # fmt: skip
    items += [
        grant_item(idempotency_key=f"z{i}", key_holder_id=holders[i % 30], site_id=w.site_id,
                   valid_until=UNTIL, row=i)
        for i in range(40)
    ]  # fmt: skip
    results = [r for resp in w.org.issue_grants(chunk_items(items)) for r in resp.results]
    assert [r.index for r in results] == list(range(450))
    status = [r.status for r in results]
    assert status[:300] == [pb.GRANT_ITEM_STATUS_CREATED] * 300
    assert status[300:350] == [pb.GRANT_ITEM_STATUS_ALREADY_CREATED] * 50
    assert [r.grant_id for r in results[300:350]] == [r.grant_id for r in results[:50]]
    assert status[350:400] == [pb.GRANT_ITEM_STATUS_CREATED] * 50
    assert {(r.status, r.code) for r in results[400:410]} == {
        (pb.GRANT_ITEM_STATUS_REJECTED, "ALREADY_EXISTS")
    }
    assert status[410:] == [pb.GRANT_ITEM_STATUS_CREATED] * 40
    created = {r.grant_id for r in results if r.status == pb.GRANT_ITEM_STATUS_CREATED}
    assert len(created) == 390
    # One event per grant created, none for the repeats or the rejections.
    assert _bulk_issue_events(redis_url) == Counter(created)
    assert sum(len(w.org.list_grants(h).grants) for h in holders) == 390


def test_a_partly_failed_bulk_batch_is_resent_in_part_only(redis_url: str) -> None:
    """Redis lost the scripts (restart, SCRIPT FLUSH); another connection loads them while a
    batch runs, so part of it ran: only the commands that failed are sent again."""

    async def main() -> list[object]:
        store = RedisStore.from_url(redis_url)
        try:
            sha = hashlib.sha1(scripts.GRANT_ISSUE_ONCE.encode()).hexdigest()
            issue = ("EVALSHA", sha, "2", holder_key("kh_x"), "ik:x", "s:site", "{}",
                     '"id":"gr_x"', '"org":"org_x"', "fp", "60")  # fmt: skip
            return await store.bulk_round_trip(
                [("SCRIPT", "FLUSH"), issue, ("SCRIPT", "LOAD", scripts.GRANT_ISSUE_ONCE),
                 ("INCR", "ran"), issue]
            )  # fmt: skip
        finally:
            await store.close()

    replies = asyncio.run(main())
    # The first EVALSHA failed (NOSCRIPT) and was resent: no such holder (-1); the rest ran
    # once: INCR is not repeated.
    assert replies[1] == -1
    assert replies[3] == 1
    assert replies[4] == -1
    assert int(redis.Redis.from_url(redis_url).get("ran") or 0) == 1
