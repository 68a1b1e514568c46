"""Log reads through the log process (``AUTHORITY_LOG_SOCKET``): a server that holds the embedded
chDB and ships, and a server with shipping off on the same Redis and data directory that reads
the log through the first one's unix socket. Every log read answers the same on both; the
socket is private, runs read-only statements only, and its absence is UNAVAILABLE."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from authority.adapters.clickhouse.connect import RemoteClickHouseError, query_rows
from authority.client.accesslog import AccessLogClient, EventQuery
from authority.client.authority import AuthorityClient
from authority.domain.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from authority.process.config import Settings
from authority.process.log_socket import SocketLogClient
from authority.v1 import authority_pb2 as pb
from authority.v1 import identity_pb2 as ipb
from authority.v1 import privacy_pb2 as ppb
from tests.conftest import ServerHandle, run_server_in_thread
from tests.support.world import World, build_world, staff_login

pytestmark = pytest.mark.slow
OWNER_ID = "owner-1"  # the site owner of helpers.build_world


def settings_for(data_dir: Path, redis_url: str, socket: Path, ship_events: str) -> Settings:
    return Settings.load(
        {},
        data_dir=data_dir,
        listen="127.0.0.1:0",
        redis_url=redis_url,
        grace_seconds=2.0,
        log_format="console",
        log_level="WARNING",
        ship_events=ship_events,
        log_socket=socket,
    )


@dataclass
class Pair:
    owner: ServerHandle
    """Holds the embedded chDB, ships, serves log reads on the socket."""
    worker: ServerHandle
    """Shipping off: reads the log through the socket."""
    socket: Path
    stop_owner: Callable[[], None]


@pytest.fixture
def pair(redis_url: str, tmp_path: Path) -> Iterator[Pair]:
    # A short directory: a unix socket path has at most 107 bytes, pytest's tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="logsock") as short, contextlib.ExitStack() as stack:
        socket = Path(short) / "log.sock"
        data_dir = tmp_path / "data"
        serve = contextlib.contextmanager(run_server_in_thread)
        owner_stack = contextlib.ExitStack()
        stack.callback(owner_stack.close)
        owner = owner_stack.enter_context(serve(settings_for(data_dir, redis_url, socket, "on")))
        worker = stack.enter_context(serve(settings_for(data_dir, redis_url, socket, "off")))
        yield Pair(owner=owner, worker=worker, socket=socket, stop_owner=owner_stack.close)
        stack.close()  # the worker first, then the owner


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the access log"
        time.sleep(0.2)


def last_hour() -> EventQuery:
    now = datetime.now(UTC)
    return EventQuery(start=now - timedelta(hours=1), end=now + timedelta(minutes=5), kind="unlock")


def decisions(pair: Pair) -> World:
    """Two decisions through the worker's API (an allow and a deny), shipped by the owner."""
    world = build_world(pair.worker.admin)
    assert world.holder.request_unlock(world.door_id).decision == pb.DECISION_ALLOW
    assert world.holder.request_unlock("door-nowhere").decision == pb.DECISION_DENY
    log = AccessLogClient(pair.owner.target, credential=pair.owner.admin_credential)
    try:
        wait_for(lambda: len(list(log.iter_events(last_hour()))) == 2)
    finally:
        log.close()
    return world


def log_client(server: ServerHandle, credential: str | None = None) -> AccessLogClient:
    return AccessLogClient(server.target, credential=credential or server.admin_credential)


def test_queries_and_aggregates_answer_the_same_through_the_worker(pair: Pair) -> None:
    decisions(pair)
    query = last_hour()
    answers = []
    for server in (pair.owner, pair.worker):
        log = log_client(server)
        try:
            events = list(log.iter_events(query))
            aggregates = [
                log.aggregate(query, "organisation-day", time_zone="Europe/Copenhagen"),
                log.aggregate(query, "busiest-doors", top=5),
                log.aggregate(query, "denial-reasons"),
            ]
        finally:
            log.close()
        answers.append((events, aggregates))
    (owner_events, owner_aggregates), (worker_events, worker_aggregates) = answers
    assert sorted(e.outcome for e in worker_events) == ["allow", "deny"]
    assert worker_events == owner_events
    assert worker_aggregates == owner_aggregates
    assert [r.reason for r in worker_aggregates[2].reasons] == ["door_unknown"]


def test_an_owner_log_request_is_delivered_the_same_through_the_worker(pair: Pair) -> None:
    world = decisions(pair)
    time.sleep(0.01)  # the period must have ended before it is requested
    end = datetime.now(UTC)
    site_owner = staff_login(
        pair.owner.admin, "stairwell-owner", ipb.ACCOUNT_ROLE_SITE_OWNER, owner_id=OWNER_ID
    )
    delivered = []
    for server in (pair.owner, pair.worker):
        owner_log, operator = log_client(server, site_owner), log_client(server)
        try:
            filed = owner_log.file_request(
                site_id=world.site_id, start=end - timedelta(hours=1), end=end,
                purpose="who entered the stairwell?", suspected_crime=False,
            )  # fmt: skip
            request, entries = operator.deliver_request(filed.request_id)
        finally:
            owner_log.close()
            operator.close()
        assert request.delivered_entries == len(entries) == 1  # the allow; denials are no entry
        delivered.append(entries)
    assert delivered[1] == delivered[0]
    assert delivered[1][0].organisation_id == world.org_id


def export(client: AuthorityClient, holder_id: str) -> list[ppb.ExportPersonDataResponse]:
    request = ppb.ExportPersonDataRequest(key_holder_id=holder_id)
    return list(client.stream(client.privacy.ExportPersonData, request))


def test_a_person_data_export_is_the_same_through_the_worker(pair: Pair) -> None:
    world = decisions(pair)
    exports = []
    for server in (pair.owner, pair.worker):
        holder = server.client(world.holder._metadata[0][1].removeprefix("Bearer "))
        try:
            messages = export(holder, world.holder_id)
        finally:
            holder.close()
        # An export is itself logged: the first one's event may reach the second one's answer.
        events = [e for m in messages[1:] for e in m.events if e.action != "person.export"]
        exports.append((messages[0], events))
    (owner_head, owner_events), (worker_head, worker_events) = exports
    assert worker_head == owner_head
    assert "unlock" in {e.action for e in worker_events}
    assert worker_events == owner_events


def test_the_socket_is_private_runs_only_reads_and_errors_translate_as_direct(pair: Pair) -> None:
    mode = pair.socket.stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600
    direct: Any = pair.owner.running.process.access_log.client
    remote = SocketLogClient(pair.socket)
    try:
        sql = "SELECT {n:UInt32} + 1, toDate('2027-03-01'), [{s:String}]"
        params = {"n": 41, "s": "x"}
        assert query_rows(remote, sql, parameters=params, what="t") == [(42, *_date_and_list())]
        assert query_rows(remote, sql, parameters=params, what="t") == query_rows(
            direct, sql, parameters=params, what="t"
        )
        outfile = Path(tempfile.gettempdir()) / f"log-reader-{os.getpid()}.out"
        for statement in (
            "INSERT INTO access_events (kind) VALUES ('unlock')",
            "DROP TABLE access_events",
            "/* SELECT */ TRUNCATE TABLE access_events",
            f"SELECT 1 INTO OUTFILE '{outfile}'",
            "SELECT 1; DROP TABLE access_events",
        ):
            with pytest.raises(PermissionDenied, match="read-only statement"):
                query_rows(remote, statement, what="writing")
        assert not outfile.exists()
        # the read-only session holds even when a statement slips past the text check
        with pytest.raises(RemoteClickHouseError):
            remote.query("SELECT 1", settings={"readonly": 0})
        # ClickHouse's own refusals arrive as the direct client's, word for word
        for bad in ("SELECT nonsense(", "SELECT * FROM no_such_table", "SELECT {x:UInt8}"):
            errors = []
            for client in (direct, remote):
                with pytest.raises((InvalidArgument, FailedPrecondition)) as info:
                    query_rows(client, bad, parameters={"x": "many"}, what="reading")
                errors.append((type(info.value), str(info.value)))
            assert errors[1] == errors[0]
        assert query_rows(direct, "SELECT count() FROM access_events", what="t")[0][0] >= 0
    finally:
        remote.close()


def _date_and_list() -> tuple[Any, ...]:
    from datetime import date  # noqa: PLC0415

    return (date(2027, 3, 1), ["x"])


def test_with_the_log_process_stopped_the_worker_answers_unavailable(pair: Pair) -> None:
    decisions(pair)
    pair.stop_owner()
    assert not pair.socket.exists()  # removed on stop
    log = log_client(pair.worker)
    try:
        with pytest.raises(grpc.RpcError) as info:
            list(log.iter_events(last_hour()))
    finally:
        log.close()
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "does not answer on" in (info.value.details() or "")
    assert str(pair.socket) in (info.value.details() or "")
