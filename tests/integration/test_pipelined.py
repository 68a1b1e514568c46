"""The lean unlock-path connection against a real Redis: ordering, errors, reconnects, timeouts."""

from __future__ import annotations

import asyncio

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from authority.adapters.redis.pipelined import PipelinedConnection


async def test_concurrent_batches_get_their_own_replies_in_order(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).mset({f"k{i}": str(i) for i in range(200)})
    conn = PipelinedConnection(redis_url)
    try:
        batches = [[("GET", f"k{i}"), ("GET", f"k{(i + 1) % 200}")] for i in range(200)]
        replies = await asyncio.gather(*(conn.execute(b) for b in batches))
        assert replies == [[str(i).encode(), str((i + 1) % 200).encode()] for i in range(200)]
    finally:
        conn.close()


async def test_error_replies_are_values_and_the_stream_stays_in_step(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).set("s", "x")
    conn = PipelinedConnection(redis_url)
    try:
        replies = await conn.execute([("HGET", "s", "f"), ("GET", "s")])
        assert isinstance(replies[0], ResponseError)
        assert "WRONGTYPE" in str(replies[0])
        assert replies[1] == b"x"
    finally:
        conn.close()


async def test_a_batch_in_flight_when_the_connection_dies_fails_cleanly(redis_url: str) -> None:
    admin = redis.Redis.from_url(redis_url)
    conn = PipelinedConnection(redis_url, timeout=5)
    try:
        await conn.execute([("CLIENT", "SETNAME", "victim")])
        pending = asyncio.ensure_future(conn.execute([("BLPOP", "never", "2")]))
        await asyncio.sleep(0.1)
        (victim,) = [c for c in admin.client_list() if c["name"] == "victim"]
        admin.client_kill_filter(_id=victim["id"])
        with pytest.raises(RedisConnectionError):
            await pending
        assert await conn.execute([("PING",)]) == [b"PONG"]
    finally:
        conn.close()


async def test_reconnects_after_the_server_drops_it(redis_url: str) -> None:
    admin = redis.Redis.from_url(redis_url)
    admin.set("a", "1")
    conn = PipelinedConnection(redis_url)
    try:
        assert await conn.execute([("CLIENT", "SETNAME", "unlock-path"), ("GET", "a")]) == [
            b"OK",
            b"1",
        ]
        for client in admin.client_list():
            if client["name"] == "unlock-path":
                admin.client_kill_filter(_id=client["id"])
        await asyncio.sleep(0.05)
        assert await conn.execute([("GET", "a")]) == [b"1"]  # transparently on a new connection
        assert "unlock-path" not in {c["name"] for c in admin.client_list()}
    finally:
        conn.close()


async def test_a_stalled_server_times_out_and_the_next_call_is_clean(redis_url: str) -> None:
    admin = redis.Redis.from_url(redis_url)
    admin.set("a", "1")
    conn = PipelinedConnection(redis_url, timeout=0.2)
    try:
        await conn.execute([("PING",)])
        admin.client_pause(500)
        with pytest.raises(RedisTimeoutError):
            await conn.execute([("GET", "a")])
        await asyncio.sleep(0.5)
        assert await conn.execute([("GET", "a")]) == [b"1"]
    finally:
        conn.close()


async def test_unreachable_server(tmp_path: object) -> None:
    conn = PipelinedConnection("redis://127.0.0.1:1/0", timeout=0.5)
    with pytest.raises(RedisConnectionError):
        await conn.execute([("PING",)])
