"""``authority serve --workers N`` as real processes: a supervisor, its workers on one shared port
(SO_REUSEPORT) and its log process, on real Redis, real gRPC and the embedded chDB."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import psutil
import pytest
from grpc_health.v1 import health_pb2

from authority.client.accesslog import AccessLogClient, EventQuery
from authority.client.authority import AuthorityClient, ServerInfo
from authority.client.tls import ClientTls
from authority.process.tls import create_dev_certificates
from authority.usecases.peer import CertificateIdentity
from authority.v1 import authority_pb2 as pb
from tests.conftest import free_port
from tests.support.processes import ServerProcess
from tests.support.world import World, build_world

pytestmark = pytest.mark.slow

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
WORKERS = ["--workers", "2"]


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def info_of(server: ServerProcess) -> ServerInfo:
    info = ServerInfo.read(server.data_dir)
    assert info is not None
    return info


def port_of(server: ServerProcess) -> int:
    return int(server.target.rpartition(":")[2])


def connections_on(pid: int, port: int, status: str) -> int:
    """TCP sockets of process ``pid`` on local ``port`` in ``status`` (what the kernel says)."""
    return sum(
        1
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.laddr and c.laddr.port == port and c.status == status
    )


def own_connections(server: ServerProcess, n: int, credential: str = "") -> list[AuthorityClient]:
    """``n`` clients with a TCP connection each (grpc would share one), connected."""
    clients = [
        AuthorityClient(server.target, credential=credential or None, own_connection=True)
        for _ in range(n)
    ]
    for c in clients:
        assert c.check_health() == SERVING
    return clients


def holder_credential(world: World) -> str:
    return world.holder._metadata[0][1].removeprefix("Bearer ")


def log_lines(server: ServerProcess) -> list[dict[str, object]]:
    """The structured log lines of the supervisor and its children (they share its stderr)."""
    lines = server.log.read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_workers_share_the_port_and_server_json_names_them(
    spawn: type[ServerProcess], tmp_path: Path
) -> None:
    server = spawn(tmp_path / "data", args=WORKERS)
    info = info_of(server)
    assert info.pid == server.proc.pid  # the supervisor's
    assert len(info.workers) == 2
    assert info.log_pid is not None
    assert info.log_pid not in info.workers
    children = {p.pid for p in psutil.Process(server.proc.pid).children()}
    assert {*info.workers, info.log_pid} <= children
    assert server.admin.check_health() == SERVING

    world = build_world(server.admin)
    clients = own_connections(server, 16, holder_credential(world))
    assert {c.request_unlock(world.door_id).decision for c in clients} == {pb.DECISION_ALLOW}
    port = port_of(server)
    # The kernel spread the 16 connections over both workers (all on one hash: 2**-15).
    assert all(connections_on(pid, port, psutil.CONN_ESTABLISHED) > 0 for pid in info.workers)
    assert all(connections_on(pid, port, psutil.CONN_LISTEN) == 1 for pid in info.workers)
    # The log process takes no unlock traffic: it does not listen on the shared port.
    assert connections_on(info.log_pid, port, psutil.CONN_LISTEN) == 0
    assert connections_on(info.log_pid, port, psutil.CONN_ESTABLISHED) == 0
    for c in clients:
        c.close()
    assert server.stop() == 0


def test_a_killed_worker_is_restarted_and_no_answered_unlock_is_lost(
    spawn: type[ServerProcess], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    server = spawn(data, args=WORKERS)
    world = build_world(server.admin)
    credential = holder_credential(world)
    token_ids: list[str] = []
    failures: list[grpc.StatusCode] = []
    stop = threading.Event()

    def load() -> None:
        (client,) = own_connections(server, 1, credential)
        while not stop.is_set():
            try:
                resp = client.request_unlock(world.door_id)
            except grpc.RpcError as exc:
                failures.append(exc.code())
            else:
                if resp.decision == pb.DECISION_ALLOW:
                    token_ids.append(resp.token_id)
            time.sleep(0.02)  # light: well inside the caller's rate limit
        client.close()

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(token_ids) >= 60, "unlocks before the kill")
        (victim, survivor) = info_of(server).workers
        os.kill(victim, signal.SIGKILL)
        wait_for(
            lambda: (
                (i := ServerInfo.read(data)) is not None
                and victim not in i.workers
                and len(i.workers) == 2
            ),
            "the worker's restart",
        )
        before = len(token_ids)
        wait_for(lambda: len(token_ids) >= before + 60, "unlocks after the restart")
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    restarted = info_of(server).workers
    assert survivor in restarted
    (replacement,) = set(restarted) - {survivor}
    assert psutil.Process(replacement).ppid() == server.proc.pid
    assert set(failures) <= {grpc.StatusCode.UNAVAILABLE}  # the kill's calls; never INTERNAL

    # Every token answered OK is in the access log, asked on the shared port: a worker answers
    # through the log process, which ships every worker's events.
    handed_out = set(token_ids)
    assert len(handed_out) == len(token_ids) >= 120
    log = AccessLogClient(server.target, credential=server.admin._metadata[0][1][7:])
    now = datetime.now(UTC)
    query = EventQuery(start=now - timedelta(hours=1), end=now + timedelta(hours=1),
                       kind="unlock", outcome="allow")  # fmt: skip

    def logged() -> list[str]:
        return [e.token_id for e in log.iter_events(query)]

    wait_for(lambda: handed_out <= set(logged()), "every answered token in the log", 60)
    tokens = logged()
    assert len(tokens) == len(set(tokens))  # none twice
    log.close()
    assert server.stop() == 0
    lines = log_lines(server)
    assert any(
        e["msg"] == "child died" and e["pid"] == victim and e["code"] == -signal.SIGKILL
        for e in lines
    )
    assert any(
        e["msg"] == "child restarted" and e["old_pid"] == victim and e["pid"] == replacement
        for e in lines
    )


def test_sigterm_drains_every_worker_and_leaves_nothing(
    spawn: type[ServerProcess], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    server = spawn(data, args=WORKERS)
    info = info_of(server)
    world = build_world(server.admin)
    watchers = own_connections(server, 12)
    assert all(
        connections_on(pid, port_of(server), psutil.CONN_ESTABLISHED) for pid in info.workers
    )
    streams = [c.health.Watch(health_pb2.HealthCheckRequest(service="")) for c in watchers]
    assert [next(s).status for s in streams] == [SERVING] * len(streams)
    everything = [server.proc.pid, *(p.pid for p in psutil.Process(server.proc.pid).children())]
    assert len(everything) == 5  # supervisor, redis-server, log process, two workers

    answers: list[int] = []
    failures: list[grpc.StatusCode] = []
    stop = threading.Event()

    def load() -> None:
        (client,) = own_connections(server, 1, holder_credential(world))
        while not stop.is_set():
            try:
                answers.append(client.request_unlock(world.door_id).decision)
            except grpc.RpcError as exc:
                failures.append(exc.code())
            time.sleep(0.05)
        client.close()

    loader = threading.Thread(target=load)
    loader.start()
    try:
        wait_for(lambda: len(answers) >= 10, "light load")
        server.proc.send_signal(signal.SIGTERM)
        # Every connection's worker says NOT_SERVING (both workers hold some of them); the
        # watches end so the drain need not wait out its grace for them.
        for s in streams:
            assert next(s).status == NOT_SERVING
            s.cancel()
        assert server.proc.wait(60) == 0
    finally:
        stop.set()
        loader.join(10)
    assert set(answers) == {pb.DECISION_ALLOW}
    # Calls sent after SIGTERM reach a worker that is shutting down: grpc refuses them (never
    # INTERNAL, never a wrong answer).
    assert set(failures) <= {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}
    wait_for(lambda: not any(psutil.pid_exists(p) for p in everything), "every process gone", 10)
    assert not (data / "server.json").exists()
    assert not (data / "cluster-health.json").exists()
    for c in watchers:
        c.close()


def test_workers_report_not_serving_while_the_log_process_is_down(
    spawn: type[ServerProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Health answers for the whole: a log process down longer than ``log_down_seconds`` turns
    every worker NOT_SERVING until its replacement serves."""
    monkeypatch.setenv("AUTHORITY_LOG_DOWN_SECONDS", "0.2")
    server = spawn(tmp_path / "data", args=WORKERS)
    (log_pid, workers) = (info_of(server).log_pid, info_of(server).workers)
    assert log_pid is not None
    watchers = own_connections(server, 8)
    streams = [c.health.Watch(health_pb2.HealthCheckRequest(service="")) for c in watchers]
    assert [next(s).status for s in streams] == [SERVING] * len(streams)
    os.kill(log_pid, signal.SIGKILL)
    for s in streams:
        assert next(s).status == NOT_SERVING
    for s in streams:
        assert next(s).status == SERVING  # the log process is back
        s.cancel()
    info = info_of(server)
    assert info.log_pid not in (None, log_pid)
    assert info.workers == workers  # the workers kept serving unlocks meanwhile: not restarted
    for c in watchers:
        c.close()
    assert server.stop() == 0


def test_tls_and_the_mtls_listener_are_served_by_every_worker(
    spawn: type[ServerProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bridge = CertificateIdentity.parse("bridge:nbg-bridge-1")
    certs = create_dev_certificates(tmp_path / "certs", clients=[bridge])
    mtls_target = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("AUTHORITY_TLS_CERT_FILE", str(certs.server_cert))
    monkeypatch.setenv("AUTHORITY_TLS_KEY_FILE", str(certs.server_key))
    monkeypatch.setenv("AUTHORITY_TLS_CLIENT_CA_FILE", str(certs.ca))
    monkeypatch.setenv("AUTHORITY_MTLS_LISTEN", mtls_target)
    server = spawn(tmp_path / "data", args=WORKERS)
    info = info_of(server)
    assert info.tls
    admin_credential = (server.data_dir / "admin.credential").read_text().strip()
    admin = AuthorityClient(server.target, credential=admin_credential, tls=certs.client_tls())
    world = build_world(admin)
    credential = holder_credential(world)

    def clients(target: str, tls: ClientTls) -> list[AuthorityClient]:
        return [
            AuthorityClient(target, credential=credential, tls=tls, own_connection=True)
            for _ in range(12)
        ]

    phones = clients(server.target, certs.client_tls())  # TLS, no client certificate
    bridges = clients(mtls_target, certs.client_tls(bridge))  # the mTLS listener
    for c in [*phones, *bridges]:
        assert c.request_unlock(world.door_id).decision == pb.DECISION_ALLOW
    (no_cert,) = clients(mtls_target, certs.client_tls())[:1]
    with pytest.raises(grpc.RpcError) as refused:
        no_cert.request_unlock(world.door_id)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # the handshake wants a cert
    mtls_port = int(mtls_target.rpartition(":")[2])
    for pid in info.workers:  # both listeners of both workers took connections
        assert connections_on(pid, port_of(server), psutil.CONN_ESTABLISHED) > 0
        assert connections_on(pid, mtls_port, psutil.CONN_ESTABLISHED) > 0
    for c in [admin, *phones, *bridges, no_cert]:
        c.close()
    assert server.stop() == 0
