"""What the supervisor decides before it starts anything: how many workers, each child's
settings, the shared ports (no processes here; tests/integration/test_workers.py runs them)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from authority.domain.errors import InvalidArgument
from authority.process.config import Secret, Settings
from authority.process.roles import ProcessRole
from authority.process.supervisor import LOG_LISTEN, SharedPorts, child_settings, worker_count

REDIS = "unix:///tmp/d/redis/redis.sock"


def test_settings_travel_to_a_child_unchanged() -> None:
    settings = Settings.load(
        {},
        data_dir=Path("/srv/authority"),
        signing_key=Secret("seed"),
        grace_seconds=2.5,
        event_shard=3,
        workers=4,
        log_format="json",
    )
    assert Settings.load(settings.environment()) == settings
    assert settings.environment()["AUTHORITY_SIGNING_KEY"] == "seed"  # for the child only
    assert "REDIS_URL" not in settings.environment()  # unset stays unset


def test_worker_count_defaults_to_the_cpus_for_a_whole_authority_only() -> None:
    assert worker_count(Settings.load({})) >= 1
    assert worker_count(Settings.load({"AUTHORITY_WORKERS": "0"})) == 0
    assert worker_count(Settings.load({"AUTHORITY_WORKERS": "3"})) == 3
    # a process that is itself one part of a split the operator composes: one process
    assert worker_count(Settings.load({"AUTHORITY_SHIP_EVENTS": "off"})) == 0
    bulk = {"AUTHORITY_ROLE": "bulk", "AUTHORITY_SHIP_EVENTS": "off", "REDIS_URL": REDIS}
    assert worker_count(Settings.load(bulk)) == 0
    with pytest.raises(InvalidArgument, match="AUTHORITY_WORKERS=0"):
        Settings.load({**bulk, "AUTHORITY_WORKERS": "2"})


def test_children_get_their_roles_settings() -> None:
    settings = Settings.load(
        {},
        listen="127.0.0.1:0",
        tls_cert_file=Path("/tls/server.pem"),
        tls_key_file=Path("/tls/server.key"),
        tls_client_ca_file=Path("/tls/ca.pem"),
        mtls_listen="127.0.0.1:0",
        workers=2,
    )
    ports = SharedPorts.reserve(settings)
    try:
        assert ports.listen != "127.0.0.1:0"
        assert ports.mtls_listen not in (None, "127.0.0.1:0", ports.listen)
        log = child_settings(settings, ProcessRole.LOG, redis_url=REDIS, ports=ports)
        assert (log.ship_events, log.listen, log.mtls_listen) == ("only", LOG_LISTEN, None)
        assert (log.redis_url, log.workers) == (REDIS, 0)
        workers = [
            child_settings(settings, ProcessRole.WORKER, redis_url=REDIS, ports=ports, slot=i)
            for i in range(2)
        ]
        for w in workers:
            assert (w.ship_events, w.privacy_sweep_interval_seconds, w.workers) == ("off", 0, 0)
            assert (w.listen, w.mtls_listen) == (ports.listen, ports.mtls_listen)  # concrete
            # TLS and mTLS exactly as configured, on every worker
            assert (w.tls_cert_file, w.tls_key_file, w.tls_client_ca_file) == (
                settings.tls_cert_file,
                settings.tls_key_file,
                settings.tls_client_ca_file,
            )
        assert [w.event_shard for w in workers] == [0, 1]  # a buffer stream each
    finally:
        ports.close()


def test_the_reserved_port_is_shared_with_reuseport_listeners_only() -> None:
    ports = SharedPorts.reserve(Settings.load({}, listen="127.0.0.1:0"))
    try:
        with socket.socket() as plain, pytest.raises(OSError):
            plain.bind(("127.0.0.1", ports.port))  # nobody else takes it
        with socket.socket() as worker:
            worker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            worker.bind(("127.0.0.1", ports.port))
            worker.listen()
            with socket.create_connection(("127.0.0.1", ports.port), timeout=5):
                conn, _ = worker.accept()  # the connection reached the listener
                conn.close()
    finally:
        ports.close()
