"""AccessLogService and SiteOwnerService over the wire: a real grpc.aio server built with
``register_accesslog_services``, over a real Redis and the module's chDB, recording lookups into
the real Redis Stream buffer, called with real gRPC clients and real credentials: the admin's and
the organisations' long-lived ones, and the site owners' login sessions (staff accounts created,
activated and logged in through IdentityService, served on the same Redis by a whole authority
with shipping off)."""

from __future__ import annotations

import asyncio
import csv
import json
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import grpc
import pytest
import redis
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.timestamp_pb2 import Timestamp

from authority.adapters.clickhouse.event_reader import ClickHouseEventLog
from authority.adapters.redis.event_buffer import RedisEventBuffer, stream_key
from authority.adapters.redis.identity_store import RedisIdentityStore
from authority.adapters.redis.owner_request_store import RedisOwnerRequestStore
from authority.adapters.redis.redis_store import RedisStore
from authority.adapters.redis.site_grants import RedisSiteGrants
from authority.api.accesslog_servicer import register_accesslog_services
from authority.api.authz import AuthorizationInterceptor
from authority.cli.main import build_parser
from authority.domain.events import EventKind
from authority.domain.ports.accesslog import EventRecorder
from authority.process.config import Settings
from authority.usecases.accesslog_queries import AccessLogQueries
from authority.usecases.auth import Authenticator
from authority.usecases.owner_requests import OwnerLogRequests
from authority.v1 import accesslog_pb2 as lpb
from authority.v1 import accesslog_pb2_grpc as lpb_grpc
from authority.v1 import identity_pb2 as ipb
from authority.wrappers.coalescing import SharedRoundTrip
from authority.wrappers.owner_directory import OwnerIndexedDirectory
from tests.conftest import ServerHandle, run_server_in_thread
from tests.integration.accesslog_query.conftest import (
    ListRecorder,
    World,
    add_credentials,
    add_grant,
    build_world,
    ev,
    insert_events,
    scenario_events,
)
from tests.support.world import staff_login

T = TypeVar("T")
SHARD = 0


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Served:
    target: str
    loop: asyncio.AbstractEventLoop
    store: RedisStore
    clickhouse: Any
    redis_url: str

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def stubs(
        self, credential: str | None
    ) -> tuple[lpb_grpc.AccessLogServiceStub, lpb_grpc.SiteOwnerServiceStub, Any]:
        channel = grpc.insecure_channel(self.target)
        meta = (("authorization", f"Bearer {credential}"),) if credential else ()
        return lpb_grpc.AccessLogServiceStub(channel), lpb_grpc.SiteOwnerServiceStub(channel), meta

    def logged(self) -> list[dict[str, Any]]:
        entries = redis.Redis.from_url(self.redis_url).xrange(stream_key(SHARD))
        return [json.loads(fields[b"e"]) for _, fields in entries]


@pytest.fixture(scope="module")
def served(redis_server: str, clickhouse: Any) -> Iterator[Served]:
    redis.Redis.from_url(redis_server).flushall()
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        stop = asyncio.Event()
        store = RedisStore.from_url(redis_server)
        directory = OwnerIndexedDirectory(store)
        await directory.load()
        recorder = RedisEventBuffer(store, shard=SHARD, shared=SharedRoundTrip(store))
        log = ClickHouseEventLog(clickhouse)
        clock = WallClock()
        server = grpc.aio.server(
            interceptors=[
                AuthorizationInterceptor(
                    Authenticator(store, store, RedisIdentityStore(store)), recorder
                )
            ]
        )
        register_accesslog_services(
            server,
            queries=AccessLogQueries(
                log=log, directory=directory, holders=store, recorder=recorder, clock=clock
            ),
            owner_requests=OwnerLogRequests(
                store=RedisOwnerRequestStore(store.client),
                directory=directory,
                grants=RedisSiteGrants(store.client),
                log=log,
                recorder=recorder,
                clock=clock,
            ),
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        box.update(stop=stop, port=port, store=store, loop=asyncio.get_running_loop())
        ready.set()
        await stop.wait()
        await server.stop(1)
        await store.close()

    def thread_main() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced below
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=thread_main, daemon=True)
    thread.start()
    assert ready.wait(30)
    assert "error" not in box, box.get("error")
    loop = box["loop"]
    try:
        yield Served(f"127.0.0.1:{box['port']}", loop, box["store"], clickhouse, redis_server)
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(30)


@pytest.fixture(scope="module")
def identity(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """IdentityService for the staff accounts: a whole authority on the same Redis, with shipping
    off (the module's chDB is the one engine directory this process may open), so the sessions
    its logins store are the ones ``served`` authenticates."""
    settings = Settings.load(
        {},
        data_dir=tmp_path_factory.mktemp("identity") / "data",
        listen="127.0.0.1:0",
        redis_url=served.redis_url,
        ship_events="off",
        grace_seconds=2.0,
        log_format="console",
        log_level="WARNING",
    )
    yield from run_server_in_thread(settings)


@dataclass
class Scene:
    world: World
    start: datetime
    events: list[Any]
    identity: ServerHandle

    def credential(self, name: str) -> str:
        """What caller ``name`` sends: the admin's or an organisation's long-lived credential,
        or a site owner's login session (its staff account created by the admin, activated and
        logged in at first use: each argon2 login costs ~50 ms, and a test uses few owners)."""
        w = self.world
        if name not in w.credentials:
            owner_id = {"owner_x": w.owner_x, "owner_y": w.owner_y}[name]
            w.credentials[name] = staff_login(
                self.identity.admin, owner_id, ipb.ACCOUNT_ROLE_SITE_OWNER, owner_id=owner_id
            )
        return w.credentials[name]


@pytest.fixture
def scene(served: Served, identity: ServerHandle) -> Scene:
    world = served.run(build_world(served.store))
    served.run(add_credentials(served.store, world))
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=10
    )
    events = scenario_events(world, start)
    insert_events(served.clickhouse, events)
    return Scene(world, start, events, identity)


def ts(dt: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(dt)
    return out


def week(scene: Scene, **fields: Any) -> lpb.EventFilter:
    return lpb.EventFilter(
        from_time=ts(scene.start), to_time=ts(scene.start + timedelta(days=7)), **fields
    )


def code_of(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    err: Any = info.value
    return err.code(), err.details()


# -- credentials -----------------------------------------------------------------------------


def test_long_lived_reader_credentials_are_no_longer_issued(served: Served, scene: Scene) -> None:
    """Site owners and analysts are staff accounts that log in (IdentityService.CreateAccount);
    the retired RPCs answer so, to the admin, and stay the admin's (the others are denied)."""
    w = scene.world
    logs, _, admin = served.stubs(scene.credential("admin"))
    for call in (
        lambda: logs.CreateSiteOwnerCredential(
            lpb.CreateSiteOwnerCredentialRequest(owner_id=w.owner_y), metadata=admin
        ),
        lambda: logs.CreateAnalystCredential(
            lpb.CreateAnalystCredentialRequest(organisation_id=w.org_b), metadata=admin
        ),
    ):
        code, details = code_of(call)
        assert code is grpc.StatusCode.FAILED_PRECONDITION
        assert "CreateAccount" in details
    _, _, org = served.stubs(scene.credential("org_a"))
    assert code_of(lambda: logs.CreateAnalystCredential(
        lpb.CreateAnalystCredentialRequest(all_organisations=True), metadata=org))[0] is (
        grpc.StatusCode.PERMISSION_DENIED
    )  # fmt: skip


# -- queries ---------------------------------------------------------------------------------


def test_query_events_streams_chunks_and_pages(served: Served, scene: Scene) -> None:
    w = scene.world
    site = w.site_x2
    door = w.doors[site][1]
    bulky = [
        ev(scene.start + timedelta(hours=2, milliseconds=i), organisation_id=w.org_a,
           site_id=site, door_id=door, detail=json.dumps({"pad": "x" * 600, "i": i}))
        for i in range(700)
    ]  # fmt: skip
    insert_events(served.clickhouse, bulky)
    expected = {e.event_id for e in scene.events + bulky if e.door_id == door}
    logs, _, admin = served.stubs(scene.credential("admin"))

    first = list(
        logs.QueryEvents(
            lpb.QueryEventsRequest(filter=week(scene, door_id=door), limit=600), metadata=admin
        )
    )
    assert len(first) >= 3  # 600 events of ~700 bytes do not fit one 128 KiB message
    assert [bool(m.next_cursor) for m in first] == [False] * (len(first) - 1) + [True]
    page1 = [e for m in first for e in m.events]
    assert len(page1) == 600
    assert json.loads(page1[0].detail_json)["i"] == 0
    second = list(
        logs.QueryEvents(
            lpb.QueryEventsRequest(
                filter=week(scene, door_id=door), limit=600, cursor=first[-1].next_cursor
            ),
            metadata=admin,
        )
    )
    page2 = [e for m in second for e in m.events]
    assert not second[-1].next_cursor
    got = [e.event_id for e in page1 + page2]
    assert len(got) == len(set(got))
    assert set(got) == expected
    times = [e.time.ToMilliseconds() for e in page1 + page2]
    assert times == sorted(times)
    assert page1[0].kind == lpb.EVENT_KIND_UNLOCK
    assert page1[0].time.ToMilliseconds() == int(
        (scene.start + timedelta(hours=2)).timestamp() * 1000
    )


def test_empty_result_is_one_empty_message(served: Served, scene: Scene) -> None:
    logs, _, admin = served.stubs(scene.credential("admin"))
    replies = list(
        logs.QueryEvents(
            lpb.QueryEventsRequest(filter=week(scene, reason="nothing_like_this")), metadata=admin
        )
    )
    assert [(list(r.events), r.next_cursor) for r in replies] == [([], "")]


def test_callers_mistakes_are_never_internal(served: Served, scene: Scene) -> None:
    w = scene.world
    s = scene.start
    logs, _, admin = served.stubs(scene.credential("admin"))
    _, _, org_a = served.stubs(scene.credential("org_a"))
    _, _, nobody = served.stubs(None)
    _, _, forged = served.stubs("ak_zzzzzzzzzzzzzzzz.c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0")

    def query(f: lpb.EventFilter, meta: Any = admin, **kw: Any) -> Any:
        return lambda: list(logs.QueryEvents(lpb.QueryEventsRequest(filter=f, **kw), metadata=meta))

    cases = [
        (query(lpb.EventFilter(to_time=ts(s))), grpc.StatusCode.INVALID_ARGUMENT, "required"),
        (query(lpb.EventFilter(from_time=ts(s + timedelta(days=1)), to_time=ts(s))),
         grpc.StatusCode.INVALID_ARGUMENT, "must be after filter.from_time"),
        (query(lpb.EventFilter(from_time=ts(s), to_time=ts(s + timedelta(days=93)))),
         grpc.StatusCode.INVALID_ARGUMENT, "at most 92 days"),
        (query(week(scene, kind=99)), grpc.StatusCode.INVALID_ARGUMENT, "filter.kind"),
        (query(week(scene), limit=20_000), grpc.StatusCode.INVALID_ARGUMENT, "limit"),
        (query(week(scene), cursor="bm9wZQ"), grpc.StatusCode.INVALID_ARGUMENT, "cursor"),
        (query(week(scene, site_id="site_zzzzzzzzzzzzzzzz")), grpc.StatusCode.NOT_FOUND,
         "does not exist"),
        (query(week(scene, organisation_id=w.org_b), org_a), grpc.StatusCode.NOT_FOUND,
         "does not exist"),
        (query(week(scene, key_holder_id=w.holder_b), org_a), grpc.StatusCode.NOT_FOUND,
         "does not exist"),
        (query(week(scene), nobody), grpc.StatusCode.UNAUTHENTICATED, "missing credential"),
        (query(week(scene), forged), grpc.StatusCode.UNAUTHENTICATED, "invalid credential"),
        (lambda: logs.AggregateEvents(lpb.AggregateEventsRequest(filter=week(scene)),
                                      metadata=admin),
         grpc.StatusCode.INVALID_ARGUMENT, "kind is required"),
        (lambda: logs.AggregateEvents(lpb.AggregateEventsRequest(
            filter=week(scene), kind=lpb.AGGREGATE_KIND_ORGANISATION_DAY, time_zone="Nowhere/X"),
            metadata=admin),
         grpc.StatusCode.INVALID_ARGUMENT, "IANA"),
    ]  # fmt: skip
    for call, code, text in cases:
        got_code, details = code_of(call)
        assert (got_code, text in details) == (code, True), details


def test_aggregates_over_the_wire(served: Served, scene: Scene) -> None:
    w = scene.world
    logs, _, owner = served.stubs(scene.credential("owner_x"))
    doors = logs.AggregateEvents(
        lpb.AggregateEventsRequest(
            filter=week(scene), kind=lpb.AGGREGATE_KIND_BUSIEST_DOORS, top=2
        ),
        metadata=owner,
    )
    assert [d.door_id for d in doors.doors] == [w.doors[w.site_x2][0], w.doors[w.site_x1][0]]
    assert not doors.organisation_days
    assert not doors.reasons
    days = logs.AggregateEvents(
        lpb.AggregateEventsRequest(filter=week(scene), kind=lpb.AGGREGATE_KIND_ORGANISATION_DAY),
        metadata=owner,
    )
    assert len(days.organisation_days) == 14  # two organisations, seven days
    assert {d.organisation_id for d in days.organisation_days} == {w.org_a, w.org_b}
    reasons = logs.AggregateEvents(
        lpb.AggregateEventsRequest(filter=week(scene), kind=lpb.AGGREGATE_KIND_DENIAL_REASONS),
        metadata=owner,
    )
    assert [(r.reason, r.events) for r in reasons.reasons] == [("outside_schedule", 7)]


def test_every_query_is_logged_in_the_event_buffer(served: Served, scene: Scene) -> None:
    w = scene.world
    logs, _, org_a = served.stubs(scene.credential("org_a"))
    list(logs.QueryEvents(lpb.QueryEventsRequest(filter=week(scene), limit=3), metadata=org_a))
    foreign = lpb.QueryEventsRequest(filter=week(scene, organisation_id=w.org_b))
    code_of(lambda: list(logs.QueryEvents(foreign, metadata=org_a)))
    mine = [e for e in served.logged() if e["actor_id"] == w.principals["org_a"].credential_id]
    assert [(e["kind"], e["action"], e["outcome"]) for e in mine] == [
        (EventKind.LOOKUP.value, "logs.query", "ok"),
        (EventKind.LOOKUP.value, "logs.query", "refused"),
    ]
    assert json.loads(mine[0]["detail"])["rows"] == 3
    assert mine[0]["organisation_id"] == w.org_a


# -- site owners -----------------------------------------------------------------------------


def test_one_stairwell_per_request_by_construction() -> None:
    fields = lpb.FileOwnerLogRequestRequest.DESCRIPTOR.fields
    site_fields = [f for f in fields if "site" in f.name]
    assert [f.name for f in site_fields] == ["site_id"]
    assert not site_fields[0].is_repeated
    assert site_fields[0].type == FieldDescriptor.TYPE_STRING


def test_owner_log_requests_over_the_wire(served: Served, scene: Scene) -> None:
    w = scene.world
    _, owners, owner = served.stubs(scene.credential("owner_x"))
    _, _, admin = served.stubs(scene.credential("admin"))
    _, _, owner_y = served.stubs(scene.credential("owner_y"))

    def file(days: float, site: str = w.site_x1) -> lpb.OwnerLogRequest:
        return owners.FileOwnerLogRequest(
            lpb.FileOwnerLogRequestRequest(
                site_id=site, from_time=ts(scene.start),
                to_time=ts(scene.start + timedelta(days=days)),
                purpose="bicycle theft from the stairwell", suspected_crime=True,
            ),
            metadata=owner,
        )  # fmt: skip

    code, details = code_of(lambda: file(8))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert "at most one week (7 days)" in details
    assert code_of(lambda: file(7, w.site_y))[0] is grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: file(7, f"{w.site_x1},{w.site_x2}"))[0] is (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    first, second, third = file(7), file(2), file(1)
    assert [r.fee_total_ore for r in (first, second, third)] == [0, 0, 93_750]
    assert (third.fee_net_ore, third.fee_vat_ore, third.sequence_in_year) == (75_000, 18_750, 3)
    assert third.status == lpb.OWNER_LOG_REQUEST_STATUS_FILED
    assert not third.HasField("paid_at")

    refused = owners.RefuseOwnerLogRequest(
        lpb.RefuseOwnerLogRequestRequest(request_id=first.request_id, reason="not lawful"),
        metadata=admin,
    )
    assert (refused.status, refused.refusal_reason) == (
        lpb.OWNER_LOG_REQUEST_STATUS_REFUSED, "not lawful",
    )  # fmt: skip
    assert code_of(lambda: owners.RefuseOwnerLogRequest(
        lpb.RefuseOwnerLogRequestRequest(request_id=second.request_id, reason="x"),
        metadata=owner))[0] is grpc.StatusCode.PERMISSION_DENIED  # fmt: skip

    delivery = list(
        owners.DeliverOwnerLogRequest(
            lpb.DeliverOwnerLogRequestRequest(request_id=second.request_id), metadata=admin
        )
    )
    assert delivery[0].request.status == lpb.OWNER_LOG_REQUEST_STATUS_DELIVERED
    assert all(not m.HasField("request") for m in delivery[1:])
    entries = [e for m in delivery for e in m.entries]
    assert len(entries) == delivery[0].request.delivered_entries == 2 * 2 * 2
    assert {e.organisation_name for e in entries} == {"Nordic Post A/S", "Care Services"}
    assert {e.door_id for e in entries} == set(w.doors[w.site_x1])

    deliver_third = lambda: list(  # noqa: E731
        owners.DeliverOwnerLogRequest(
            lpb.DeliverOwnerLogRequestRequest(request_id=third.request_id), metadata=admin
        )
    )
    code, details = code_of(deliver_third)
    assert (code, "payable before delivery" in details) == (
        grpc.StatusCode.FAILED_PRECONDITION, True,
    )  # fmt: skip
    owners.RecordOwnerLogRequestPayment(
        lpb.RecordOwnerLogRequestPaymentRequest(request_id=third.request_id), metadata=admin
    )
    assert deliver_third()[0].request.HasField("paid_at")

    got = owners.GetOwnerLogRequest(
        lpb.GetOwnerLogRequestRequest(request_id=third.request_id), metadata=owner
    )
    assert got.status == lpb.OWNER_LOG_REQUEST_STATUS_DELIVERED
    assert code_of(lambda: owners.GetOwnerLogRequest(
        lpb.GetOwnerLogRequestRequest(request_id=third.request_id), metadata=owner_y))[0] is (
        grpc.StatusCode.NOT_FOUND
    )  # fmt: skip
    listed = owners.ListOwnerLogRequests(lpb.ListOwnerLogRequestsRequest(), metadata=owner)
    assert [r.request_id for r in listed.requests] == [
        third.request_id, second.request_id, first.request_id,
    ]  # fmt: skip

    actions = [
        (e["action"], json.loads(e["detail"]).get("request_id"))
        for e in served.logged()
        if e["kind"] == "admin" and e["site_id"] == w.site_x1
    ]
    assert ("owner_request.refuse", first.request_id) in actions
    assert ("owner_request.deliver", second.request_id) in actions
    assert ("owner_request.pay", third.request_id) in actions
    assert ("owner_request.deliver", third.request_id) in actions


def test_site_organisations_over_the_wire(served: Served, scene: Scene) -> None:
    w = scene.world
    far = datetime.now(UTC) + timedelta(days=90)
    served.run(
        add_grant(
            served.store, holder_id=w.holder_b, organisation_id=w.org_b,
            door_id=w.doors[w.site_y][0], until=far,
        )
    )  # fmt: skip
    _, owners, owner_y = served.stubs(scene.credential("owner_y"))
    got = owners.ListSiteOrganisations(
        lpb.ListSiteOrganisationsRequest(site_id=w.site_y), metadata=owner_y
    )
    assert got.site_id == w.site_y
    assert [
        (o.organisation_id, o.name, o.purpose, o.status, o.grants, o.whole_site, list(o.door_ids))
        for o in got.organisations
    ] == [(w.org_b, "Care Services", "postal", "approved", 1, False, [w.doors[w.site_y][0]])]
    _, _, owner_x = served.stubs(scene.credential("owner_x"))
    assert code_of(lambda: owners.ListSiteOrganisations(
        lpb.ListSiteOrganisationsRequest(site_id=w.site_y), metadata=owner_x))[0] is (
        grpc.StatusCode.NOT_FOUND
    )  # fmt: skip


def test_list_recorder_is_a_recorder() -> None:
    """The tests' in-memory recorder satisfies the port (checked by mypy at this call)."""
    recorder: EventRecorder = ListRecorder()
    asyncio.run(recorder.record([]))
    assert isinstance(recorder, ListRecorder)


# -- the command line ------------------------------------------------------------------------


def run_cli(served: Served, credential: str, *args: str) -> int:
    ns = build_parser(list(args)).parse_args(args)
    ns.target, ns.credential = served.target, credential
    return int(ns.func(ns))


def test_cli_query_follows_cursors_up_to_the_limit(
    served: Served,
    scene: Scene,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # rich folds wide tables at 80 columns otherwise
    w = scene.world
    period = ["--from", scene.start.isoformat(), "--to", f"{scene.start + timedelta(days=7):%F}"]
    code = run_cli(
        served, scene.credential("admin"), "logs", "query", *period, "--site", w.site_x1,
        "--page-size", "5", "--limit", "30", "--format", "csv",
    )  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    rows = list(csv.DictReader(out))
    assert len(rows) == 30
    assert len({r["event_id"] for r in rows}) == 30
    assert {r["site_id"] for r in rows} == {w.site_x1}
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)

    code = run_cli(
        served, scene.credential("owner_y"), "logs", "query", *period, "--outcome", "allow",
        "--format", "json",
    )  # fmt: skip
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert len(lines) == 7 * 2 * 2
    assert {(r["site_id"], r["key_holder_id"]) for r in lines} == {(w.site_y, "")}

    code = run_cli(served, scene.credential("org_a"), "logs", "query", *period, "--limit", "3")
    table = capsys.readouterr()
    assert code == 0
    assert "access log" in table.out
    assert table.out.count(w.org_a) == 3
    assert w.org_b not in table.out
    assert "stopped at --limit 3" in table.err


def test_cli_aggregate_and_errors(
    served: Served, scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    w = scene.world
    period = ["--from", scene.start.isoformat(), "--to", f"{scene.start + timedelta(days=7):%F}"]
    code = run_cli(
        served, scene.credential("admin"), "logs", "aggregate", *period, "--site", w.site_x1,
        "--by", "denial-reasons", "--format", "json",
    )  # fmt: skip
    assert code == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [
        {"reason": "outside_schedule", "events": 7}
    ]
    code = run_cli(
        served, scene.credential("org_a"), "logs", "query", *period, "--organisation", w.org_b
    )
    assert code == 1
    assert "NOT_FOUND" in capsys.readouterr().err


def test_cli_owner_requests(
    served: Served, scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    w = scene.world
    start = scene.start.isoformat()

    def file(days: int) -> int:
        return run_cli(
            served, scene.credential("owner_x"), "owner-requests", "file", "--site", w.site_x2,
            "--from", start, "--to", (scene.start + timedelta(days=days)).isoformat(),
            "--purpose", "a stolen pram", "--suspected-crime", "--format", "json",
        )  # fmt: skip

    assert file(8) == 1
    assert "INVALID_ARGUMENT" in capsys.readouterr().err
    assert file(1) == 0
    filed = json.loads(capsys.readouterr().out)
    assert (filed["status"], filed["fee_dkk_incl_vat"], filed["site_id"]) == (
        "filed", "0.00", w.site_x2,
    )  # fmt: skip
    code = run_cli(
        served, scene.credential("admin"), "owner-requests", "deliver", filed["request_id"],
        "--format", "csv",
    )  # fmt: skip
    assert code == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    # day 0 at site_x2: two doors, two organisations
    assert len(rows) == 4
    assert {r["organisation"] for r in rows} == {"Nordic Post A/S", "Care Services"}
    code = run_cli(
        served, scene.credential("owner_x"), "owner-requests", "list", "--format", "json"
    )
    assert code == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["request_id"], r["status"]) for r in listed] == [(filed["request_id"], "delivered")]


def test_an_empty_delivery_is_one_message(served: Served, scene: Scene) -> None:
    w = scene.world
    _, owners, owner_y = served.stubs(scene.credential("owner_y"))
    _, _, admin = served.stubs(scene.credential("admin"))
    quiet = scene.start - timedelta(days=20)
    filed = owners.FileOwnerLogRequest(
        lpb.FileOwnerLogRequestRequest(
            site_id=w.site_y, from_time=ts(quiet), to_time=ts(quiet + timedelta(days=7)),
            purpose="was anybody here?",
        ),
        metadata=owner_y,
    )  # fmt: skip
    replies = list(
        owners.DeliverOwnerLogRequest(
            lpb.DeliverOwnerLogRequestRequest(request_id=filed.request_id), metadata=admin
        )
    )
    assert len(replies) == 1
    assert replies[0].request.status == lpb.OWNER_LOG_REQUEST_STATUS_DELIVERED
    assert replies[0].request.delivered_entries == 0
    assert list(replies[0].entries) == []
