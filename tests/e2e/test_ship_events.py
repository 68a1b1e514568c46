"""Where shippers run (``AUTHORITY_SHIP_EVENTS``): the setting, which combinations are valid with
the embedded chDB and with a ClickHouse server, and a real split: an unlock server with shipping
off and a separate process that only ships (and, owning the embedded chDB, serves the log)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from authority.api.accesslog_servicer import ACCESSLOG_SERVICE_NAMES
from authority.api.server import SERVICE_NAMES, SERVICES_OF
from authority.cli.main import main
from authority.client.accesslog import AccessLogClient, EventQuery
from authority.client.authority import AuthorityClient
from authority.domain.errors import InvalidArgument
from authority.process.config import Settings
from authority.process.roles import api_surface, holds_access_log
from authority.process.serve import ACCESS_LOG_HEALTH
from tests.conftest import free_port
from tests.support.world import build_world

# -- the setting -------------------------------------------------------------------------------


def test_shipping_is_on_unless_configured() -> None:
    assert Settings.load({}).ship_events == "on"
    assert Settings.load({"AUTHORITY_SHIP_EVENTS": "off"}).ship_events == "off"
    assert Settings.load({}, ship_events="off").ship_events == "off"  # the CLI flag


def test_an_unknown_value_names_the_variable() -> None:
    with pytest.raises(InvalidArgument, match="AUTHORITY_SHIP_EVENTS"):
        Settings.load({"AUTHORITY_SHIP_EVENTS": "sometimes"})


def test_only_shipping_needs_the_redis_of_the_serving_processes() -> None:
    with pytest.raises(InvalidArgument, match="REDIS_URL"):
        Settings.load({"AUTHORITY_SHIP_EVENTS": "only"})
    s = Settings.load({"AUTHORITY_SHIP_EVENTS": "only", "REDIS_URL": "unix:///run/r.sock"})
    assert s.ship_events == "only"


@pytest.mark.parametrize(
    ("clickhouse_url", "ship", "holds"),
    [
        (None, "on", True),
        (None, "only", True),
        (None, "off", False),  # the embedded chDB belongs to the process that ships
        ("https://ch.internal:8443", "off", True),  # a server takes any number of clients
        ("https://ch.internal:8443", "on", True),
    ],
)
def test_which_processes_open_the_access_log(
    clickhouse_url: str | None, ship: str, holds: bool
) -> None:
    env = {"AUTHORITY_SHIP_EVENTS": ship, "REDIS_URL": "redis://127.0.0.1:1"}
    if clickhouse_url:
        env["CLICKHOUSE_URL"] = clickhouse_url
    assert holds_access_log(Settings.load(env)) is holds


def test_a_process_that_only_ships_serves_the_log_services_alone() -> None:
    only = Settings.load({"AUTHORITY_SHIP_EVENTS": "only", "REDIS_URL": "redis://127.0.0.1:1"})
    assert SERVICES_OF[api_surface(only)] == ACCESSLOG_SERVICE_NAMES
    assert (
        SERVICES_OF[api_surface(Settings.load({"AUTHORITY_SHIP_EVENTS": "off"}))] == SERVICE_NAMES
    )
    assert SERVICES_OF[api_surface(Settings.load({}))] == SERVICE_NAMES


def test_serve_refuses_only_shipping_without_redis_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("AUTHORITY_SHIP_EVENTS", raising=False)
    assert main(["serve", "--data-dir", str(tmp_path), "--ship-events", "only"]) == 2
    assert "REDIS_URL" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # refused before anything started


# -- a real split ------------------------------------------------------------------------------


class Process:
    """``authority serve`` in a process of its own, found through its ``server.json``."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        port = free_port()
        data_dir.mkdir(parents=True)
        self.log = data_dir.parent / f"{data_dir.name}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "authority", "serve", "--data-dir", str(data_dir),
                 "--listen", f"127.0.0.1:{port}", *args],
                env=env, stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while not (data_dir / "server.json").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{self.log.read_text()}")
            time.sleep(0.05)
        self.target = json.loads((data_dir / "server.json").read_text())["target"]
        self.admin_credential = (data_dir / "admin.credential").read_text().strip()

    def health(self, service: str) -> grpc.StatusCode | int:
        """The service's serving status, or the status code of a failed check."""
        with grpc.insecure_channel(self.target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            except grpc.RpcError as exc:
                return exc.code()  # type: ignore[no-any-return]
            return reply.status  # type: ignore[no-any-return]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)  # generous: a loaded CI machine drains slowly


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    started: list[Process] = []
    base = {**os.environ, "AUTHORITY_LOG_FORMAT": "json"}
    for name in ("REDIS_URL", "CLICKHOUSE_URL", "AUTHORITY_SHIP_EVENTS"):
        base.pop(name, None)

    def _start(name: str, *args: str, **env: str) -> Process:
        p = Process(tmp_path / name, *args, env={**base, **env})
        started.append(p)
        return p

    yield _start
    for p in reversed(started):
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait()


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def events_of(log: AccessLogClient, kind: str) -> list[object]:
    now = datetime.now(UTC)
    query = EventQuery(start=now - timedelta(hours=1), end=now + timedelta(hours=1), kind=kind)
    return list(log.iter_events(query))


@pytest.mark.slow
def test_an_unlock_server_without_shipping_and_a_process_that_only_ships(
    start: Callable[..., Process],
) -> None:
    serving = start("serving", "--ship-events", "off")
    shipping = start(
        "shipping",
        "--ship-events",
        "only",
        REDIS_URL=f"unix://{serving.data_dir / 'redis' / 'redis.sock'}",
    )
    admin = AuthorityClient(serving.target, credential=serving.admin_credential)
    world = build_world(admin)
    assert world.holder.request_unlock(world.door_id, os.urandom(16)).token

    # The serving process neither ships nor holds the embedded chDB; it does not claim the
    # shipping health entry, and sends log readers to the process that does.
    assert not (serving.data_dir / "clickhouse").exists()
    assert serving.health("") == health_pb2.HealthCheckResponse.SERVING
    assert serving.health(ACCESS_LOG_HEALTH) == grpc.StatusCode.NOT_FOUND
    refused = AccessLogClient(serving.target, credential=serving.admin_credential)
    with pytest.raises(grpc.RpcError) as info:
        events_of(refused, "unlock")
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "does not serve the access log" in (info.value.details() or "")
    refused.close()

    # The shipping process ships the unlock into its chDB and answers log queries; it serves
    # no unlocks, and it reports the shipping health entry.
    log = AccessLogClient(shipping.target, credential=shipping.admin_credential)
    wait_for(lambda: len(events_of(log, "unlock")) == 1)
    (event,) = events_of(log, "unlock")
    assert (event.door_id, event.outcome) == (world.door_id, "allow")  # type: ignore[attr-defined]
    log.close()
    wait_for(lambda: shipping.health(ACCESS_LOG_HEALTH) == health_pb2.HealthCheckResponse.SERVING)
    assert shipping.health("authority.v1.UnlockService") == grpc.StatusCode.NOT_FOUND
    not_served = AuthorityClient(shipping.target)
    with pytest.raises(grpc.RpcError) as info:
        not_served.request_unlock(world.door_id, os.urandom(16))
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    not_served.close()

    admin.close()
    assert shipping.stop() == 0
    assert serving.stop() == 0
