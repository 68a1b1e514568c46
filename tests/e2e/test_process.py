"""Whole processes: the embedded default, graceful SIGTERM, durability, several authority
processes sharing one Redis, and health following Redis."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
import redis
from grpc_health.v1 import health_pb2

from authority.client.authority import chunk_items, grant_item
from authority.process.config import Settings
from authority.v1 import authority_pb2 as pb
from tests.conftest import _start_redis, free_port, run_server_in_thread
from tests.support.processes import ServerProcess
from tests.support.world import build_world

pytestmark = pytest.mark.slow


def _redis_children(data_dir: Path) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"redis-server" in cmd and str(data_dir).encode() in cmd:
                out.append(int(entry.name))
    return out


def test_embedded_default_drains_on_sigterm_and_persists(
    spawn: type[ServerProcess], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    server = spawn(data)
    assert server.admin.check_health() == health_pb2.HealthCheckResponse.SERVING
    assert (data / "redis" / "appendonlydir").is_dir()  # AOF persistence is on
    assert oct((data / "admin.credential").stat().st_mode & 0o777) == "0o600"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in (data / "keys").glob("*.json"))
    w = build_world(server.admin)

    watch = server.admin.health.Watch(health_pb2.HealthCheckRequest(service=""))
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    # Stall the embedded Redis so that calls are in flight when SIGTERM arrives.
    redis.Redis(unix_socket_path=str(data / "redis" / "redis.sock")).client_pause(1500)
    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(w.holder.request_unlock, w.door_id) for _ in range(16)]
        time.sleep(0.4)
        server.proc.send_signal(signal.SIGTERM)
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        results = [f.result(timeout=20) for f in futures]
    assert [r.reason for r in results] == [pb.DECISION_REASON_GRANTED] * 16  # all finished
    assert server.proc.wait(30) == 0
    assert _redis_children(data) == []  # the private redis-server stopped with us
    assert not (data / "server.json").exists()

    again = spawn(data)  # restart on the same data directory: everything is still there
    holder = again.admin.with_credential(w.holder._metadata[0][1].removeprefix("Bearer "))
    assert holder.request_unlock(w.door_id).decision == pb.DECISION_ALLOW
    assert again.stop() == 0


def test_embedded_redis_dies_with_a_killed_authority(
    spawn: type[ServerProcess], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    server = spawn(data)
    assert _redis_children(data)
    server.proc.kill()
    server.proc.wait()
    deadline = time.monotonic() + 10
    while _redis_children(data) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _redis_children(data) == []


def test_revocation_is_seen_by_the_next_decision_on_every_process(
    spawn: type[ServerProcess], tmp_path: Path, redis_url: str
) -> None:
    a = spawn(tmp_path / "a", redis_url=redis_url)
    b = spawn(tmp_path / "b", redis_url=redis_url)
    w = build_world(a.admin)
    on_b = b.admin.with_credential(w.holder._metadata[0][1].removeprefix("Bearer "))
    assert on_b.request_unlock(w.door_id).decision == pb.DECISION_ALLOW
    w.org.revoke_grant(w.grant_id)  # through process A
    assert on_b.request_unlock(w.door_id).reason == pb.DECISION_REASON_REVOKED  # next call on B

    w2 = build_world(a.admin, door_id="door-2")
    on_b2 = b.admin.with_credential(w2.holder._metadata[0][1].removeprefix("Bearer "))
    assert on_b2.request_unlock("door-2").decision == pb.DECISION_ALLOW  # door created via A
    a.admin.set_organisation_status(w2.org_id, pb.ORGANISATION_STATUS_SUSPENDED, "lost phones")
    assert on_b2.request_unlock("door-2").reason == pb.DECISION_REASON_ORGANISATION_SUSPENDED
    assert a.stop() == 0
    assert b.stop() == 0


def test_a_bulk_process_serves_imports_beside_the_unlock_processes(
    spawn: type[ServerProcess], tmp_path: Path, redis_url: str
) -> None:
    """``serve --role bulk``: only the grant service, at a lower CPU priority (every thread), on
    the unlock processes' Redis; what it issues is decided by them at once."""
    a = spawn(tmp_path / "a", redis_url=redis_url)
    bulk = spawn(tmp_path / "bulk", redis_url=redis_url,
                 args=["--role", "bulk", "--ship-events", "off"])  # fmt: skip
    w = build_world(a.admin)
    org_on_bulk = bulk.admin.with_credential(w.org._metadata[0][1].removeprefix("Bearer "))
    until = datetime.now(UTC) + timedelta(days=30)
    items = [grant_item(idempotency_key="k1", key_holder_id=w.holder_id, door_id=w.door_id,
                        valid_until=until)]  # fmt: skip
    (created,) = [r for resp in org_on_bulk.issue_grants(chunk_items(items)) for r in resp.results]
    assert created.status == pb.GRANT_ITEM_STATUS_CREATED
    w.org.revoke_grant(w.grant_id)  # the world's own grant: the new one must be what allows
    allowed = w.holder.request_unlock(w.door_id)  # on process A
    assert (allowed.decision, allowed.grant_id) == (pb.DECISION_ALLOW, created.grant_id)
    holder_on_bulk = bulk.admin.with_credential(w.holder._metadata[0][1].removeprefix("Bearer "))
    with pytest.raises(grpc.RpcError) as info:
        holder_on_bulk.request_unlock(w.door_id)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    niceness = {
        int((task / "stat").read_text().rsplit(")", 1)[1].split()[16])
        for task in Path(f"/proc/{bulk.proc.pid}/task").iterdir()
    }
    assert niceness == {10}
    assert bulk.stop() == 0
    assert a.stop() == 0


def test_health_follows_redis(tmp_path: Path) -> None:
    port = free_port()
    proc = _start_redis(tmp_path / "r", port)
    settings = Settings.load(
        {}, data_dir=tmp_path / "data", listen="127.0.0.1:0", redis_url=f"redis://127.0.0.1:{port}",
        grace_seconds=1.0, log_level="ERROR",
    )  # fmt: skip
    gen = run_server_in_thread(settings)
    server = next(gen)
    try:
        w = build_world(server.admin)
        assert server.admin.check_health() == health_pb2.HealthCheckResponse.SERVING
        proc.terminate()
        proc.wait(10)
        deadline = time.monotonic() + 10
        while server.admin.check_health() != health_pb2.HealthCheckResponse.NOT_SERVING:
            assert time.monotonic() < deadline, "health never turned NOT_SERVING"
            time.sleep(0.1)
        with pytest.raises(grpc.RpcError) as info:
            w.holder.request_unlock(w.door_id)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE  # never INTERNAL
        proc = _start_redis(tmp_path / "r", port)
        deadline = time.monotonic() + 10
        while server.admin.check_health() != health_pb2.HealthCheckResponse.SERVING:
            assert time.monotonic() < deadline, "health never came back"
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(10)
        for _ in gen:
            pass
