"""The rate limiter's counters in Redis (``authority.usecases.ratelimit.RateLimitStore``).

Per key and window number, one counter ``{rl:<key>}:<window>``; the hash tag keeps a key's
windows in one cluster slot, so the script below (add this process's increment, read the
previous window's total) runs unchanged on Redis Cluster. All keys of one exchange travel in one
pipeline: one round trip per sync interval, whatever the number of callers.
"""

from __future__ import annotations

from typing import Any

from authority.adapters.redis.errors import unavailable_on_failure
from authority.adapters.redis.redis_store import RedisClient

# KEYS: this window's counter, the previous window's. ARGV: increment, time to live (ms).
RATE_EXCHANGE = """
local cur = redis.call('INCRBY', KEYS[1], ARGV[1])
if cur == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {tonumber(redis.call('GET', KEYS[2]) or '0'), cur}
"""

KEY_PREFIX = "{rl:"


def counter_key(key: str, window: int) -> str:
    return f"{KEY_PREFIX}{key}}}:{window}"


class RedisRateLimitStore:
    def __init__(self, client: RedisClient) -> None:
        self._client = client

    async def exchange(
        self, increments: dict[str, int], *, window: int, window_ms: int
    ) -> dict[str, tuple[int, int]]:
        keys = list(increments)
        pipe: Any = self._client.pipeline(transaction=False)
        ttl = 2 * window_ms + 1000
        for key in keys:
            # EVAL, not EVALSHA: nothing to reload after a Redis restart; Redis caches the
            # compiled script, so the cost is ~150 bytes per key per exchange.
            pipe.execute_command(
                "EVAL", RATE_EXCHANGE, 2, counter_key(key, window), counter_key(key, window - 1),
                increments[key], ttl,
            )  # fmt: skip
        with unavailable_on_failure("the rate limiter's counters"):
            replies = await pipe.execute()
        return {k: (int(r[0]), int(r[1])) for k, r in zip(keys, replies, strict=True)}
