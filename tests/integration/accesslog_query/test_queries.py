"""Access-log queries through the use case: real chDB, real Redis, the owner-indexed directory;
every test twice, on the chDB client and through the log socket (``log_reads``).

Each test gets its own week (a test counter shifts the scenario) and its own random ids, so the
module's one chDB holds every test's rows without them seeing each other's.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from authority.adapters.clickhouse.event_reader import ClickHouseEventLog
from authority.adapters.redis.redis_store import RedisStore
from authority.domain.accesslog import (
    AggregateKind,
    DoorCount,
    EventFilter,
    EventSelection,
    OrganisationDayCount,
    ReasonCount,
)
from authority.domain.credentials import Principal, Role
from authority.domain.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable
from authority.domain.events import AccessEvent, EventKind
from authority.domain.model import Site, new_id
from authority.testing import FixedClock
from authority.usecases.accesslog_queries import AccessLogQueries
from authority.wrappers.owner_directory import OwnerIndexedDirectory
from tests.integration.accesslog_query.conftest import (
    BASE,
    ListRecorder,
    World,
    add_credentials,
    build_world,
    insert_events,
    scenario_events,
)

_weeks = itertools.count(1)


@dataclass
class Env:
    world: World
    events: list[AccessEvent]
    start: datetime
    queries: AccessLogQueries
    recorder: ListRecorder
    store: RedisStore
    directory: OwnerIndexedDirectory

    def p(self, name: str) -> Principal:
        return self.world.principals[name]

    def week(self, **kwargs: Any) -> EventFilter:
        return EventFilter(start=self.start, end=self.start + timedelta(days=7), **kwargs)

    async def all_events(self, name: str, f: EventFilter, *, limit: int = 0) -> list[AccessEvent]:
        out: list[AccessEvent] = []
        cursor = ""
        while True:
            page = await self.queries.query_events(self.p(name), f, cursor=cursor, limit=limit)
            out += page.events
            if not page.next_cursor:
                return out
            cursor = page.next_cursor


@pytest.fixture
async def env(redis_url: str, clickhouse: Any, log_reads: Any) -> AsyncIterator[Env]:
    store = RedisStore.from_url(redis_url)
    try:
        world = await build_world(store)
        await add_credentials(store, world)
        start = BASE + timedelta(weeks=next(_weeks))
        events = scenario_events(world, start)
        insert_events(clickhouse, events)
        directory = OwnerIndexedDirectory(store)
        await directory.load()
        recorder = ListRecorder()
        queries = AccessLogQueries(
            log=ClickHouseEventLog(log_reads),
            directory=directory,
            holders=store,
            recorder=recorder,
            clock=FixedClock(start + timedelta(days=30)),
        )
        yield Env(world, events, start, queries, recorder, store, directory)
    finally:
        await store.close()


def ids(events: list[AccessEvent]) -> list[str]:
    return [e.event_id for e in events]


# -- filters ---------------------------------------------------------------------------------

Given = Callable[[World], dict[str, Any]]
Wanted = Callable[[World, AccessEvent], bool]
FILTERS: list[tuple[str, Given, Wanted]] = [
    ("site", lambda w: {"site_id": w.site_x1}, lambda w, e: e.site_id == w.site_x1),
    ("door", lambda w: {"door_id": w.doors[w.site_y][1]},
     lambda w, e: e.door_id == w.doors[w.site_y][1]),
    ("organisation", lambda w: {"organisation_id": w.org_b},
     lambda w, e: e.organisation_id == w.org_b),
    ("holder", lambda w: {"holder_id": w.holder_a}, lambda w, e: e.holder_id == w.holder_a),
    ("kind", lambda w: {"kind": EventKind.ADMIN}, lambda w, e: e.kind is EventKind.ADMIN),
    ("outcome", lambda w: {"outcome": "deny"}, lambda w, e: e.outcome == "deny"),
    ("reason", lambda w: {"reason": "no_grant"}, lambda w, e: e.reason == "no_grant"),
    (
        "site+organisation+outcome",
        lambda w: {"site_id": w.site_x1, "organisation_id": w.org_b, "outcome": "allow"},
        lambda w, e: (e.site_id, e.organisation_id, e.outcome) == (w.site_x1, w.org_b, "allow"),
    ),
]  # fmt: skip


@pytest.mark.parametrize(("name", "given", "wanted"), FILTERS, ids=[f[0] for f in FILTERS])
async def test_filters_select_exactly_the_matching_events(
    env: Env,
    name: str,
    given: Given,
    wanted: Wanted,
) -> None:
    got = await env.all_events("admin", env.week(**given(env.world)))
    expected = [e for e in env.events if wanted(env.world, e)]
    assert expected, "the scenario must contain matching events"
    assert sorted(ids(got)) == sorted(ids(expected))
    assert got == sorted(got, key=lambda e: e.ts_ms)
    assert got[0] in expected  # whole rows come back


async def test_time_range_is_from_inclusive_to_exclusive(env: Env) -> None:
    first = min(env.events, key=lambda e: e.ts_ms)
    at = datetime.fromtimestamp(first.ts_ms / 1000, tz=env.start.tzinfo)
    page = await env.queries.query_events(
        env.p("admin"), EventFilter(start=at, end=at + timedelta(milliseconds=1))
    )
    assert first.event_id in ids(page.events)
    before = await env.queries.query_events(
        env.p("admin"), EventFilter(start=at - timedelta(hours=1), end=at)
    )
    assert first.event_id not in ids(before.events)


# -- pagination and limits -------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 5, 7, 12, 1000])
async def test_pages_neither_overlap_nor_skip(env: Env, limit: int) -> None:
    """12 events share one millisecond: the cursor's event-id tie-break must carry a page
    boundary that falls among them."""
    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        page = await env.queries.query_events(
            env.p("admin"), env.week(), cursor=cursor, limit=limit
        )
        pages += 1
        assert len(page.events) <= limit
        assert page.events or not page.next_cursor
        seen += ids(page.events)
        if not page.next_cursor:
            break
        assert len(page.events) == limit
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)) == len(env.events)
    assert set(seen) == set(ids(env.events))
    assert pages == -(-len(env.events) // limit)  # fetching limit+1 rows: no empty last page


async def test_default_limit_and_limit_bounds(env: Env) -> None:
    whole = await env.queries.query_events(env.p("admin"), env.week())
    assert len(whole.events) == len(env.events)
    assert not whole.next_cursor
    one = await env.queries.query_events(env.p("admin"), env.week(), limit=1)
    assert len(one.events) == 1
    assert one.next_cursor
    top = await env.queries.query_events(env.p("admin"), env.week(), limit=10_000)
    assert len(top.events) == len(env.events)
    for bad in (10_001, -1):
        with pytest.raises(InvalidArgument, match="limit must be 1-10000"):
            await env.queries.query_events(env.p("admin"), env.week(), limit=bad)


async def test_a_cursor_only_continues_its_own_filter(env: Env) -> None:
    page = await env.queries.query_events(env.p("admin"), env.week(), limit=3)
    other = env.week(site_id=env.world.site_x1)
    with pytest.raises(InvalidArgument, match="cursor is not a next_cursor"):
        await env.queries.query_events(env.p("admin"), other, cursor=page.next_cursor)
    for garbage in ("x", "eyJ0IjoxfQ", "%%%", page.next_cursor[:-2]):
        with pytest.raises(InvalidArgument, match="cursor"):
            await env.queries.query_events(env.p("admin"), env.week(), cursor=garbage)


# -- malformed input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start_delta", "end_delta", "message"),
    [
        (timedelta(days=1), timedelta(0), "must be after filter.from_time"),
        (timedelta(0), timedelta(0), "must be after filter.from_time"),
        (timedelta(0), timedelta(days=92, seconds=1), "at most 92 days"),
    ],
)
async def test_bad_ranges_are_invalid_arguments(
    env: Env, start_delta: timedelta, end_delta: timedelta, message: str
) -> None:
    f = EventFilter(start=env.start + start_delta, end=env.start + end_delta)
    with pytest.raises(InvalidArgument, match=message):
        await env.queries.query_events(env.p("admin"), f)
    with pytest.raises(InvalidArgument, match=message):
        await env.queries.aggregate(env.p("admin"), f, AggregateKind.BUSIEST_DOORS)


async def test_92_days_is_allowed(env: Env) -> None:
    f = EventFilter(start=env.start, end=env.start + timedelta(days=92), site_id=env.world.site_y)
    page = await env.queries.query_events(env.p("admin"), f)
    assert {e.site_id for e in page.events} == {env.world.site_y}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("site_id", "a b", "filter.site_id must be 1-64"),
        ("door_id", "x" * 65, "filter.door_id must be 1-64"),
        ("outcome", "DENY", "filter.outcome must be"),
        ("reason", "no grant'", "filter.reason must be"),
    ],
)
async def test_malformed_fields_are_invalid_arguments(
    env: Env, field: str, value: str, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        await env.queries.query_events(env.p("admin"), env.week(**{field: value}))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("organisation_id", "org_doesnotexist"),
        ("site_id", "site_doesnotexist"),
        ("door_id", "door-doesnotexist"),
        ("holder_id", "kh_doesnotexist"),
    ],
)
async def test_unknown_ids_are_not_found(env: Env, field: str, value: str) -> None:
    with pytest.raises(NotFound, match=f"{value} does not exist"):
        await env.queries.query_events(env.p("admin"), env.week(**{field: value}))


# -- tenancy ---------------------------------------------------------------------------------


async def test_an_organisation_sees_only_its_own_events(env: Env) -> None:
    w = env.world
    for name, org in (("org_a", w.org_a), ("analyst_a", w.org_a), ("org_b", w.org_b)):
        got = await env.all_events(name, env.week())
        assert sorted(ids(got)) == sorted(ids([e for e in env.events if e.organisation_id == org]))
        own = await env.all_events(name, env.week(organisation_id=org))
        assert sorted(ids(own)) == sorted(ids(got))
    # their own key holders' pseudonyms are theirs to see
    assert {e.holder_id for e in await env.all_events("org_a", env.week())} == {w.holder_a, ""}


@pytest.mark.parametrize("caller", ["org_a", "analyst_a"])
async def test_another_tenants_ids_look_like_unknown_ids(env: Env, caller: str) -> None:
    w = env.world
    foreign = {"organisation_id": w.org_b, "holder_id": w.holder_b}
    unknown = {"organisation_id": "org_zzzzzzzzzzzzzzzz", "holder_id": "kh_zzzzzzzzzzzzzzzz"}
    for field, value in foreign.items():
        with pytest.raises(NotFound) as theirs:
            await env.queries.query_events(env.p(caller), env.week(**{field: value}))
        with pytest.raises(NotFound) as nobodys:
            await env.queries.query_events(env.p(caller), env.week(**{field: unknown[field]}))
        assert str(theirs.value).replace(value, "ID") == str(nobodys.value).replace(
            unknown[field], "ID"
        )


async def test_an_organisation_may_filter_by_any_site_but_sees_only_its_events_there(
    env: Env,
) -> None:
    got = await env.all_events("org_b", env.week(site_id=env.world.site_x1))
    assert got
    assert {(e.organisation_id, e.site_id) for e in got} == {(env.world.org_b, env.world.site_x1)}


async def test_operator_analysts_and_admins_see_every_organisation(env: Env) -> None:
    for name in ("admin", "analyst_all"):
        got = await env.all_events(name, env.week())
        assert sorted(ids(got)) == sorted(ids(env.events))


async def test_a_site_owner_sees_door_events_at_its_own_sites_without_pseudonyms(
    env: Env,
) -> None:
    w = env.world
    got = await env.all_events("owner_x", env.week())
    expected = [
        e
        for e in env.events
        if e.site_id in (w.site_x1, w.site_x2) and e.kind in (EventKind.UNLOCK, EventKind.RELAY)
    ]
    assert sorted(ids(got)) == sorted(ids(expected))
    assert {e.organisation_id for e in got} == {w.org_a, w.org_b}
    assert all(e.holder_id == e.actor_id == e.token_id == e.grant_id == "" for e in got)
    assert any(e.holder_id for e in expected)  # i.e. the blanks are redaction, not the data
    y = await env.all_events("owner_y", env.week())
    assert {e.site_id for e in y} == {w.site_y}
    # the admin event at site_x1 is not shown to its owner, even when asked for
    admin_kind = await env.all_events("owner_x", env.week(kind=EventKind.ADMIN))
    assert admin_kind == []


async def test_a_site_owner_cannot_reach_other_owners_sites(env: Env) -> None:
    w = env.world
    for f, value in (
        ({"site_id": w.site_y}, w.site_y),
        ({"door_id": w.doors[w.site_y][0]}, w.doors[w.site_y][0]),
        ({"site_id": "site_zzzzzzzzzzzzzzzz"}, "site_zzzzzzzzzzzzzzzz"),
    ):
        with pytest.raises(NotFound, match=f"{value} does not exist"):
            await env.queries.query_events(env.p("owner_x"), env.week(**f))
    with pytest.raises(PermissionDenied, match="not key holders"):
        await env.queries.query_events(env.p("owner_x"), env.week(holder_id=w.holder_a))
    own = await env.all_events("owner_x", env.week(site_id=w.site_x2))
    assert own
    assert {e.site_id for e in own} == {w.site_x2}


async def test_an_owner_without_sites_sees_nothing_and_key_holders_see_no_logs(env: Env) -> None:
    nobody = Principal(role=Role.SITE_OWNER, credential_id="acc_q", owner_id="owner-nothing")
    page = await env.queries.query_events(nobody, env.week())
    assert page.events == []
    assert page.next_cursor == ""
    holder = Principal(
        role=Role.KEY_HOLDER, credential_id=env.world.holder_a, key_holder_id=env.world.holder_a
    )
    with pytest.raises(PermissionDenied):
        await env.queries.query_events(holder, env.week())


async def test_new_and_transferred_sites_are_seen_by_the_next_query(env: Env) -> None:
    w = env.world
    site = Site(site_id=new_id("site"), address="Vesterbrogade 1", owner_id=w.owner_x)
    await env.store.put_site(site, expected=None, create=True)
    page = await env.queries.query_events(env.p("owner_x"), env.week(site_id=site.site_id))
    assert page.events == []
    before = await env.store.get_site(w.site_x1)
    assert before is not None
    await env.store.put_site(replace(before, owner_id=w.owner_y), expected=before, create=False)
    with pytest.raises(NotFound):
        await env.queries.query_events(env.p("owner_x"), env.week(site_id=w.site_x1))
    moved = await env.all_events("owner_y", env.week(site_id=w.site_x1))
    assert moved
    assert env.directory.sites_of_owner(w.owner_y) == {w.site_x1, w.site_y}


# -- aggregates ------------------------------------------------------------------------------


async def test_counts_per_organisation_per_day(env: Env) -> None:
    rows = await env.queries.aggregate(
        env.p("admin"), env.week(), AggregateKind.ORGANISATION_DAY, time_zone="UTC"
    )
    expected: Counter[tuple[str, date]] = Counter()
    allowed: Counter[tuple[str, date]] = Counter()
    denied: Counter[tuple[str, date]] = Counter()
    for e in env.events:
        key = (e.organisation_id, datetime.fromtimestamp(e.ts_ms / 1000, env.start.tzinfo).date())
        expected[key] += 1
        allowed[key] += e.kind is EventKind.UNLOCK and e.outcome == "allow"
        denied[key] += e.kind is EventKind.UNLOCK and e.outcome == "deny"
    assert all(isinstance(r, OrganisationDayCount) for r in rows)
    got = {(r.organisation_id, r.day): r for r in rows if isinstance(r, OrganisationDayCount)}
    assert {k: r.events for k, r in got.items()} == dict(expected)
    assert {k: r.allowed for k, r in got.items()} == {k: allowed[k] for k in expected}
    assert {k: r.denied for k, r in got.items()} == {k: denied[k] for k in expected}
    days = [r.day for r in got.values()]
    assert days == sorted(days)


async def test_days_are_counted_in_the_requested_time_zone(env: Env) -> None:
    """At UTC+14 (Pacific/Kiritimati) the burst of 12 events at 12:00 UTC on day 3 falls on
    day 4 (and the 21:00 UTC denial of day 2 on day 3)."""
    utc = await env.queries.aggregate(
        env.p("org_a"), env.week(), AggregateKind.ORGANISATION_DAY, time_zone="UTC"
    )
    kiri = await env.queries.aggregate(
        env.p("org_a"), env.week(), AggregateKind.ORGANISATION_DAY, time_zone="Pacific/Kiritimati"
    )
    per_day_utc = {r.day: r.events for r in utc if isinstance(r, OrganisationDayCount)}
    per_day_kiri = {r.day: r.events for r in kiri if isinstance(r, OrganisationDayCount)}
    assert sum(per_day_utc.values()) == sum(per_day_kiri.values()) > 0
    zone = ZoneInfo("Pacific/Kiritimati")
    expected = Counter(
        datetime.fromtimestamp(e.ts_ms / 1000, zone).date()
        for e in env.events
        if e.organisation_id == env.world.org_a
    )
    assert per_day_kiri == dict(expected)
    day4 = (env.start + timedelta(days=4)).date()
    assert per_day_kiri[day4] == per_day_utc[day4] + 12
    with pytest.raises(InvalidArgument, match="IANA"):
        await env.queries.aggregate(
            env.p("admin"), env.week(), AggregateKind.ORGANISATION_DAY, time_zone="Mars/Base"
        )


async def test_busiest_doors(env: Env) -> None:
    w = env.world
    rows = await env.queries.aggregate(env.p("admin"), env.week(), AggregateKind.BUSIEST_DOORS)
    counts = Counter((e.site_id, e.door_id) for e in env.events if e.door_id)
    assert [(r.site_id, r.door_id, r.events) for r in rows if isinstance(r, DoorCount)] == sorted(
        ((s, d, n) for (s, d), n in counts.items()), key=lambda t: (-t[2], t[0], t[1])
    )[:10]
    top1 = await env.queries.aggregate(
        env.p("admin"), env.week(), AggregateKind.BUSIEST_DOORS, top=1
    )
    assert top1 == [DoorCount(w.site_x2, w.doors[w.site_x2][0], 14 + 12)]
    mine = await env.queries.aggregate(env.p("owner_y"), env.week(), AggregateKind.BUSIEST_DOORS)
    assert {r.site_id for r in mine if isinstance(r, DoorCount)} == {w.site_y}
    for bad in (1001, -1):
        with pytest.raises(InvalidArgument, match="top must be 1-1000"):
            await env.queries.aggregate(
                env.p("admin"), env.week(), AggregateKind.BUSIEST_DOORS, top=bad
            )


async def test_denial_reasons(env: Env) -> None:
    rows = await env.queries.aggregate(env.p("admin"), env.week(), AggregateKind.DENIAL_REASONS)
    assert rows == [ReasonCount("outside_schedule", 7), ReasonCount("no_grant", 1)]
    org_a = await env.queries.aggregate(env.p("org_a"), env.week(), AggregateKind.DENIAL_REASONS)
    assert org_a == [ReasonCount("no_grant", 1)]
    allow_only = await env.queries.aggregate(
        env.p("admin"), env.week(outcome="allow"), AggregateKind.DENIAL_REASONS
    )
    assert allow_only == []
    with pytest.raises(InvalidArgument, match="kind is required"):
        await env.queries.aggregate(env.p("admin"), env.week(), None)


async def test_aggregates_respect_tenancy(env: Env) -> None:
    with pytest.raises(NotFound):
        await env.queries.aggregate(
            env.p("org_a"), env.week(organisation_id=env.world.org_b), AggregateKind.BUSIEST_DOORS
        )
    rows = await env.queries.aggregate(env.p("org_b"), env.week(), AggregateKind.ORGANISATION_DAY)
    assert {r.organisation_id for r in rows if isinstance(r, OrganisationDayCount)} == {
        env.world.org_b
    }


# -- every lookup is logged ------------------------------------------------------------------


async def test_queries_and_refusals_are_logged_as_lookups(env: Env) -> None:
    w = env.world
    await env.queries.query_events(env.p("org_a"), env.week(site_id=w.site_x1), limit=5)
    await env.queries.aggregate(env.p("owner_x"), env.week(), AggregateKind.DENIAL_REASONS)
    with pytest.raises(NotFound):
        await env.queries.query_events(env.p("org_a"), env.week(holder_id=w.holder_b))
    with pytest.raises(InvalidArgument):
        await env.queries.query_events(env.p("org_a"), env.week(reason="BAD"))
    query, aggregate, probe, malformed = env.recorder.events
    assert all(e.kind is EventKind.LOOKUP for e in env.recorder.events)
    assert (query.action, query.outcome, query.actor_role, query.actor_id) == (
        "logs.query", "ok", "organisation", env.p("org_a").credential_id,
    )  # fmt: skip
    assert (query.organisation_id, query.site_id) == (w.org_a, w.site_x1)
    assert json.loads(query.detail)["rows"] == 5
    assert (aggregate.action, aggregate.actor_role) == ("logs.aggregate", "site_owner")
    assert json.loads(aggregate.detail)["owner_id"] == w.owner_x
    assert json.loads(aggregate.detail)["aggregate"] == "denial_reasons"
    assert (probe.outcome, probe.reason, probe.holder_id) == ("refused", "NotFound", w.holder_b)
    assert (malformed.outcome, malformed.reason) == ("refused", "InvalidArgument")


async def test_no_rows_without_a_lookup_event(env: Env) -> None:
    class Full(ListRecorder):
        async def record(self, events: Any) -> None:
            raise Unavailable("the access-log buffer is full")

    queries = AccessLogQueries(
        log=env.queries._log, directory=env.directory, holders=env.store, recorder=Full(),
        clock=FixedClock(env.start),
    )  # fmt: skip
    with pytest.raises(Unavailable, match="buffer is full"):
        await queries.query_events(env.p("admin"), env.week())


# -- the SQL carries no caller text ----------------------------------------------------------


async def test_the_adapter_does_not_read_pseudonyms_it_may_not_read(
    env: Env, log_reads: Any
) -> None:
    w = env.world
    sel = EventSelection(
        start_ms=int(env.start.timestamp() * 1000),
        end_ms=int((env.start + timedelta(days=7)).timestamp() * 1000),
        kinds=frozenset(EventKind),
        site_ids=frozenset({w.site_x1}),
    )
    log = ClickHouseEventLog(log_reads)
    full = await log.events(sel, after=None, limit=100)
    blind = await log.events(replace(sel, with_people=False), after=None, limit=100)
    assert [e.event_id for e in full] == [e.event_id for e in blind]
    assert any(e.holder_id and e.actor_id and e.token_id for e in full)
    assert all(
        e.holder_id == e.actor_id == e.token_id == e.grant_id == e.detail == "" for e in blind
    )
    assert [e.organisation_id for e in full] == [e.organisation_id for e in blind]
