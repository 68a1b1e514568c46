"""A real server for a whole security test module, with the access log kept in its Redis buffer
(the shipper's lease is held elsewhere) so tests can read the events they caused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from authority.adapters.redis.event_buffer import stream_key
from authority.domain.ports.clock import Clock
from authority.process.config import Settings
from tests.conftest import ServerHandle, run_server_in_thread


def serve_module(
    redis_server: str,
    tmp_path_factory: pytest.TempPathFactory,
    *,
    clock: Clock | None = None,
    **overrides: Any,
) -> Iterator[ServerHandle]:
    redis.Redis.from_url(redis_server).flushall()
    settings = Settings.load(
        {},
        data_dir=tmp_path_factory.mktemp("security") / "data",
        listen="127.0.0.1:0",
        redis_url=redis_server,
        grace_seconds=2.0,
        log_format="console",
        log_level="ERROR",
        **overrides,
    )
    client = redis.Redis.from_url(redis_server)
    for shard in range(settings.event_shards):  # nobody ships: the events stay readable
        client.set(f"{{log:{shard}}}:lease", "elsewhere", px=600_000)
    yield from run_server_in_thread(settings, clock=clock)


def buffered_events(handle: ServerHandle) -> list[dict[str, Any]]:
    settings = handle.running.process.settings
    client = redis.Redis.from_url(settings.redis_url or "")
    return [
        json.loads(f[b"e"])
        for shard in range(settings.event_shards)
        for _, f in client.xrange(stream_key(shard))
    ]
