"""The access-log buffer is bounded: when it is full the authority refuses to act and says so."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from authority.client.authority import chunk_items, grant_item
from authority.process.config import Settings
from authority.v1 import authority_pb2 as pb
from tests.conftest import ServerHandle, run_server_in_thread
from tests.support.world import build_world


@pytest.fixture
def server(redis_url: str, tmp_path: Path) -> Iterator[ServerHandle]:
    """A server whose log buffer holds at most 50 unshipped events per shard."""
    settings = Settings.load(
        {}, data_dir=tmp_path / "data", listen="127.0.0.1:0",
        redis_url=redis_url,
        grace_seconds=1.0, log_level="ERROR", event_max_backlog=50,
    )  # fmt: skip
    yield from run_server_in_thread(settings)


OnServer = Callable[[list[tuple[str, ...]]], object]


def _fill_the_buffer(server: ServerHandle) -> tuple[OnServer, str]:
    """The shard's shipper is stuck elsewhere (another process holds its lease and does not
    ship: ClickHouse away), so the stream grows to its limit; returns once health says so.
    (A way to send commands on the server's loop, the stalled lease's key.)"""
    core = server.running.process.core

    def on_server(commands: list[tuple[str, ...]]) -> object:
        call = core.store.round_trip(commands)
        return asyncio.run_coroutine_threadsafe(call, server.loop).result(10)

    lease = core.events.key.replace(":events", ":lease")
    on_server([("SET", lease, "a-stalled-shipper", "PX", "60000")])
    on_server([("XADD", core.events.key, "*", "e", "{}")] * core.events.max_backlog)
    deadline = time.monotonic() + 10
    while server.admin.check_health() != health_pb2.HealthCheckResponse.NOT_SERVING:
        assert time.monotonic() < deadline, "health stayed SERVING with a full log buffer"
        time.sleep(0.1)
    return on_server, lease


def test_a_full_log_buffer_fails_closed(server: ServerHandle) -> None:
    w = build_world(server.admin)
    core = server.running.process.core
    on_server, lease = _fill_the_buffer(server)
    with pytest.raises(grpc.RpcError) as info:
        w.holder.request_unlock(w.door_id)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "access-log buffer" in (info.value.details() or "")
    on_server([("DEL", core.events.key, lease)])  # the stalled lease expires, the log drains
    deadline = time.monotonic() + 10
    while server.admin.check_health() != health_pb2.HealthCheckResponse.SERVING:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert w.holder.request_unlock(w.door_id).decision == pb.DECISION_ALLOW


def test_a_full_log_buffer_stops_bulk_issuance(server: ServerHandle) -> None:
    """Bulk issuance appends its events on a connection of its own, under the same limit."""
    w = build_world(server.admin)
    core = server.running.process.core
    on_server, _ = _fill_the_buffer(server)
    backlog = on_server([("XLEN", core.events.key)])
    until = datetime.now(UTC) + timedelta(days=30)
    item = grant_item(idempotency_key="k1", key_holder_id=w.holder_id, site_id=w.site_id,
                      valid_until=until)  # fmt: skip
    with pytest.raises(grpc.RpcError) as info:
        list(w.org.issue_grants(chunk_items([item])))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "access-log buffer" in (info.value.details() or "")
    assert on_server([("XLEN", core.events.key)]) == backlog  # no event appended
