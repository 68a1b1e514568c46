"""Create a redis-py asyncio client for a URL: a single server, a unix socket or a cluster.

``redis://`` / ``rediss://`` (TLS) / ``unix://`` select a single server; ``redis+cluster://`` and
``rediss+cluster://`` select Redis Cluster, with the URL naming any one seed node.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from authority.domain.errors import InvalidArgument

SOCKET_TIMEOUT = 2.0


def connect(url: str, *, max_connections: int = 64) -> Redis | RedisCluster:
    if url.startswith(("redis+cluster://", "rediss+cluster://")):
        return RedisCluster.from_url(
            url.replace("+cluster", "", 1),
            max_connections=max_connections,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
        )
    if url.startswith(("redis://", "rediss://", "unix://")):
        return Redis.from_url(
            url,
            max_connections=max_connections,
            health_check_interval=30,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
        )
    raise InvalidArgument(
        "REDIS_URL must start with redis://, rediss://, unix://, redis+cluster:// or rediss+cluster://"
    )
