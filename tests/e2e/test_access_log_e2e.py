"""The access log end to end through real processes: decisions, admin actions and lookups reach
ClickHouse (embedded chDB) through the Redis buffer and the shipper, are queryable per tenant,
and survive a SIGKILL of the authority."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from authority.client.accesslog import AccessLogClient, EventQuery
from authority.v1 import authority_pb2 as pb
from tests.support.processes import ServerProcess
from tests.support.world import build_world

pytestmark = pytest.mark.slow


def wait_for(predicate: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting for the access log"
        time.sleep(0.2)


def all_events(log: AccessLogClient, **filters: str) -> list[object]:
    now = datetime.now(UTC)
    query = EventQuery(start=now - timedelta(hours=1), end=now + timedelta(hours=1), **filters)
    return list(log.iter_events(query))


def test_events_reach_clickhouse_and_are_tenant_scoped(
    spawn: type[ServerProcess], tmp_path: Path
) -> None:
    server = spawn(tmp_path / "data")
    a = build_world(server.admin, door_id="door-a")
    b = build_world(server.admin, door_id="door-b")
    a.holder.request_unlock(a.door_id, os.urandom(16))
    a.holder.request_unlock("door-unknown")
    b.holder.request_unlock(b.door_id)
    admin_log = AccessLogClient(server.target, credential=server.admin._metadata[0][1][7:])
    org_a_log = AccessLogClient(server.target, credential=a.org._metadata[0][1][7:])

    wait_for(lambda: len(all_events(admin_log, kind="unlock")) == 3)
    unlocks = all_events(admin_log, kind="unlock")
    assert sorted((e.door_id, e.outcome) for e in unlocks) == [  # type: ignore[attr-defined]
        ("door-a", "allow"), ("door-b", "allow"), ("door-unknown", "deny"),
    ]  # fmt: skip
    # organisation A sees its own decisions only: nothing of B's, even when asking for B's door
    mine = all_events(org_a_log, kind="unlock")
    assert {e.door_id for e in mine} == {"door-a"}  # type: ignore[attr-defined]
    assert all_events(org_a_log, door_id=b.door_id) == []
    with pytest.raises(grpc.RpcError) as info:  # a holder filter outside the tenant: not found
        all_events(org_a_log, key_holder_id=b.holder_id)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    # the admin actions are there, and the queries themselves were logged as lookups
    actions = {e.action for e in all_events(admin_log, kind="admin")}  # type: ignore[attr-defined]
    assert {"organisation.create", "site.create", "door.create", "grant.issue"} <= actions
    wait_for(lambda: any(
        e.action == "logs.query" for e in all_events(admin_log, kind="lookup")  # type: ignore[attr-defined]
    ))  # fmt: skip
    admin_log.close()
    org_a_log.close()
    assert server.stop() == 0


def test_every_token_handed_out_is_in_the_log_after_sigkill(
    spawn: type[ServerProcess], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    server = spawn(data)
    w = build_world(server.admin)
    token_ids: list[str] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                resp = w.holder.request_unlock(w.door_id)
            except grpc.RpcError:
                return  # the server is gone
            if resp.decision == pb.DECISION_ALLOW:
                token_ids.append(resp.token_id)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    wait_for(lambda: len(token_ids) >= 200)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    stop.set()
    for t in threads:
        t.join(10)
    handed_out = set(token_ids)
    assert len(handed_out) >= 200

    again = spawn(data)  # same data directory: the buffer in Redis's AOF is shipped now
    admin_log = AccessLogClient(again.target, credential=again.admin._metadata[0][1][7:])

    def logged() -> set[str]:
        return {e.token_id for e in all_events(admin_log, kind="unlock", outcome="allow")}  # type: ignore[attr-defined]

    wait_for(lambda: handed_out <= logged(), timeout=60)
    tokens = [e.token_id for e in all_events(admin_log, kind="unlock", outcome="allow")]  # type: ignore[attr-defined]
    assert len(tokens) == len(set(tokens))  # and none twice
    admin_log.close()
    assert again.stop() == 0
