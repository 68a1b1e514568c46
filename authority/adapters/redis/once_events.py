"""Access-log events recorded at most once per event id: relay results reported more than once.

A relay's signed result may reach the authority several times: a bridge retrying after a lost
answer, or the holder's phone and a bridge both reporting it. Its event id is derived from the
signed payload (``RelayResult.event_id``), and this recorder appends the event to the access-log
buffer (``authority.adapters.redis.event_buffer``: same streams, same entry format) only if no
event with that id was appended in the last ``window`` seconds. The guard key and the entry are
written by one script, so a crash leaves both or neither: a retry after a crash records the event,
a retry after success does not.

Why not rely on the log itself: the shipper's deduplication is per *batch* (an insert retried
after a crash), not per event; two reports are two buffer entries, two rows. Why the shard is
chosen from the event id rather than this process's shard: the guard must live in the stream's
cluster slot (one script, one slot), and two processes receiving the same result must consult the
same guard.

Memory: one ~90-byte key per result for ``window`` (24 h: at two million door openings a day,
~200 MB). A report later than that is recorded again, with the same event id, so readers can
still tell.
"""

from __future__ import annotations

import uuid
from typing import Any

import redis.exceptions as redis_errors

from authority.adapters.redis import scripts
from authority.adapters.redis.event_buffer import stream_key
from authority.adapters.redis.redis_store import RedisClient
from authority.domain.errors import Unavailable
from authority.domain.events import AccessEvent

DEFAULT_WINDOW_SECONDS = 86_400


def once_guard_key(shard: int, event_id: str) -> str:
    return f"{{log:{shard}}}:once:{event_id}"


def shard_of(event_id: str, shards: int) -> int:
    return uuid.UUID(event_id).int % shards


class RedisOnceEventRecorder:
    """Implements ``OnceEventRecorder`` on the access-log buffer streams."""

    def __init__(
        self,
        client: RedisClient,
        *,
        shards: int,
        max_backlog: int,
        window: int = DEFAULT_WINDOW_SECONDS,
    ) -> None:
        self._append = client.register_script(scripts.EVENT_APPEND_ONCE)
        self._shards = shards
        self._max_backlog = max_backlog
        self._window = window

    async def record_once(self, event: AccessEvent) -> bool:
        shard = shard_of(event.event_id, self._shards)
        try:
            result: Any = await self._append(
                keys=[once_guard_key(shard, event.event_id), stream_key(shard)],
                # the buffer's entry format: the event's canonical JSON (sorted keys)
                args=[event.canonical_bytes(), self._window, self._max_backlog],
            )
        except (redis_errors.RedisError, OSError) as exc:
            raise Unavailable("the access-log buffer is unreachable") from exc
        if int(result) == -1:
            raise Unavailable(
                f"the access-log buffer holds {self._max_backlog} events: ClickHouse is not "
                "keeping up; refusing to act without logging"
            )
        return int(result) == 1
