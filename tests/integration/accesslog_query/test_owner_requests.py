"""Site owners through the use case: owner log requests stored in a real Redis, delivered from a
real chDB, every step logged; and which organisations hold keys to a site."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from authority.adapters.clickhouse.event_reader import ClickHouseEventLog
from authority.adapters.redis.owner_request_store import RedisOwnerRequestStore
from authority.adapters.redis.redis_store import RedisStore
from authority.adapters.redis.site_grants import RedisSiteGrants
from authority.domain.credentials import Principal
from authority.domain.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from authority.domain.events import EventKind
from authority.domain.model import Door, Site, new_id
from authority.domain.owner_requests import OwnerLogRequestStatus
from authority.testing import FixedClock
from authority.usecases.owner_requests import OwnerLogRequests, StairwellEntry
from authority.wrappers.owner_directory import OwnerIndexedDirectory
from tests.integration.accesslog_query.conftest import (
    BASE,
    ListRecorder,
    World,
    add_credentials,
    add_grant,
    build_world,
    insert_events,
    scenario_events,
)

_weeks = itertools.count(1)


@dataclass
class Env:
    world: World
    start: datetime
    clock: FixedClock
    requests: OwnerLogRequests
    recorder: ListRecorder
    store: RedisStore

    def p(self, name: str) -> Principal:
        return self.world.principals[name]

    async def file(self, name: str = "owner_x", *, days: float = 7, **kw: Any) -> Any:
        start = kw.pop("start", self.start)
        return await self.requests.file(
            self.p(name),
            site_id=kw.pop("site_id", self.world.site_x1),
            period_start=start,
            period_end=kw.pop("end", start + timedelta(days=days)),
            purpose=kw.pop("purpose", "graffiti in the stairwell"),
            suspected_crime=kw.pop("suspected_crime", True),
        )


@pytest.fixture
async def env(redis_url: str, clickhouse: Any) -> AsyncIterator[Env]:
    store = RedisStore.from_url(redis_url)
    try:
        world = await build_world(store)
        await add_credentials(store, world)
        start = BASE + timedelta(weeks=next(_weeks))
        insert_events(clickhouse, scenario_events(world, start))
        directory = OwnerIndexedDirectory(store)
        await directory.load()
        recorder = ListRecorder()
        clock = FixedClock(start + timedelta(days=20))
        requests = OwnerLogRequests(
            store=RedisOwnerRequestStore(store.client),
            directory=directory,
            grants=RedisSiteGrants(store.client, batch=3),
            log=ClickHouseEventLog(clickhouse),
            recorder=recorder,
            clock=clock,
        )
        yield Env(world, start, clock, requests, recorder, store)
    finally:
        await store.close()


# -- filing ----------------------------------------------------------------------------------


async def test_two_free_requests_a_year_then_a_fee(env: Env) -> None:
    first, second, third, fourth = [await env.file() for _ in range(4)]
    assert [r.sequence_in_year for r in (first, second, third, fourth)] == [1, 2, 3, 4]
    assert [r.fee.total_ore for r in (first, second, third, fourth)] == [0, 0, 93_750, 93_750]
    assert (third.fee.net_ore, third.fee.vat_ore) == (75_000, 18_750)
    stored = await env.requests.get(env.p("owner_x"), third.request_id)
    assert stored == third
    # another owner's count is its own
    assert (await env.file("owner_y", site_id=env.world.site_y)).fee.total_ore == 0
    # a new (Danish) calendar year starts the count again
    env.clock.set(datetime(env.start.year + 1, 1, 1, 0, 30, tzinfo=UTC))
    next_year = await env.file(start=datetime(env.start.year, 12, 20, tzinfo=UTC))
    assert (next_year.year, next_year.sequence_in_year, next_year.fee.total_ore) == (
        env.start.year + 1, 1, 0,
    )  # fmt: skip


async def test_concurrent_filings_are_counted_exactly_once_each(env: Env) -> None:
    filed = await asyncio.gather(*(env.file() for _ in range(6)))
    assert sorted(r.sequence_in_year for r in filed) == [1, 2, 3, 4, 5, 6]
    assert sorted(r.fee.total_ore for r in filed) == [0, 0] + [93_750] * 4


async def test_filing_limits_name_the_rule(env: Env) -> None:
    with pytest.raises(InvalidArgument, match=r"8 days requested.*at most one week"):
        await env.file(days=8)
    with pytest.raises(InvalidArgument, match="from and to are required"):
        await env.requests.file(
            env.p("owner_x"), site_id=env.world.site_x1, period_start=None,
            period_end=env.start, purpose="p", suspected_crime=False,
        )  # fmt: skip
    with pytest.raises(InvalidArgument, match="site_id must be"):
        await env.file(site_id=f"{env.world.site_x1},{env.world.site_x2}")
    # refused filings are not counted
    assert (await env.file()).sequence_in_year == 1


async def test_only_owners_file_and_only_for_their_own_sites(env: Env) -> None:
    w = env.world
    for site in (w.site_y, "site_zzzzzzzzzzzzzzzz"):
        with pytest.raises(NotFound, match=f"site {site} does not exist"):
            await env.file(site_id=site)
    for caller in ("admin", "org_a", "analyst_all"):
        with pytest.raises(PermissionDenied, match="filed by site owners"):
            await env.file(caller)


async def test_owners_see_only_their_own_requests(env: Env) -> None:
    mine = [await env.file() for _ in range(2)]
    theirs = await env.file("owner_y", site_id=env.world.site_y)
    with pytest.raises(NotFound):
        await env.requests.get(env.p("owner_x"), theirs.request_id)
    with pytest.raises(NotFound):
        await env.requests.get(env.p("owner_x"), "olr_zzzzzzzzzzzzzzzz")
    with pytest.raises(PermissionDenied):
        await env.requests.get(env.p("org_a"), theirs.request_id)
    listed = await env.requests.list_requests(env.p("owner_x"), owner_id="", year=0)
    assert [r.request_id for r in listed] == [r.request_id for r in reversed(mine)]
    assert await env.requests.list_requests(env.p("owner_x"), owner_id="", year=1999) == []
    with pytest.raises(NotFound):
        await env.requests.list_requests(env.p("owner_x"), owner_id=env.world.owner_y, year=0)
    by_admin = await env.requests.list_requests(env.p("admin"), owner_id=env.world.owner_y, year=0)
    assert [r.request_id for r in by_admin] == [theirs.request_id]


# -- refusal, payment, delivery --------------------------------------------------------------


async def test_refusal_is_stored_and_logged(env: Env) -> None:
    request = await env.file()
    with pytest.raises(PermissionDenied):
        await env.requests.refuse(env.p("owner_x"), request.request_id, "no")
    refused = await env.requests.refuse(env.p("admin"), request.request_id, "suspected harassment")
    assert refused.status is OwnerLogRequestStatus.REFUSED
    assert (await env.requests.get(env.p("owner_x"), request.request_id)) == refused
    with pytest.raises(FailedPrecondition, match="already refused"):
        await env.requests.deliver(env.p("admin"), request.request_id)
    event = env.recorder.events[-1]
    assert (event.kind, event.action, event.actor_role) == (
        EventKind.ADMIN, "owner_request.refuse", "admin",
    )  # fmt: skip
    assert event.site_id == env.world.site_x1
    assert json.loads(event.detail)["request_id"] == request.request_id
    open_now = await env.requests.list_requests(env.p("admin"), owner_id="", year=0)
    assert request.request_id not in {r.request_id for r in open_now}


async def test_delivery_lists_which_organisations_entered_and_when(env: Env) -> None:
    w = env.world
    request = await env.file(start=env.start, end=env.start + timedelta(days=3))
    assert request.request_id in {
        r.request_id for r in await env.requests.list_requests(env.p("admin"), owner_id="", year=0)
    }
    delivered, entries = await env.requests.deliver(env.p("admin"), request.request_id)
    assert delivered.status is OwnerLogRequestStatus.DELIVERED
    # 3 days x 2 doors x 2 organisations allowed at site_x1; the denials are not entries
    assert len(entries) == delivered.delivered_entries == 12
    assert {(e.organisation_id, e.organisation_name) for e in entries} == {
        (w.org_a, "Nordic Post A/S"), (w.org_b, "Care Services"),
    }  # fmt: skip
    assert {e.door_id for e in entries} == set(w.doors[w.site_x1])
    assert all(isinstance(e, StairwellEntry) for e in entries)
    assert [e.ts_ms for e in entries] == sorted(e.ts_ms for e in entries)
    end_ms = int((env.start + timedelta(days=3)).timestamp() * 1000)
    assert all(int(env.start.timestamp() * 1000) <= e.ts_ms < end_ms for e in entries)
    event = env.recorder.events[-1]
    assert (event.action, json.loads(event.detail)["entries"]) == ("owner_request.deliver", 12)
    with pytest.raises(FailedPrecondition, match="already delivered"):
        await env.requests.deliver(env.p("admin"), request.request_id)
    assert (await env.requests.get(env.p("owner_x"), request.request_id)).delivered_entries == 12


async def test_a_fee_is_paid_before_delivery(env: Env) -> None:
    for _ in range(2):
        await env.file()
    costly = await env.file()
    with pytest.raises(FailedPrecondition, match=r"937\.50 DKK incl\. VAT, payable before"):
        await env.requests.deliver(env.p("admin"), costly.request_id)
    with pytest.raises(PermissionDenied):
        await env.requests.record_payment(env.p("owner_x"), costly.request_id)
    paid = await env.requests.record_payment(env.p("admin"), costly.request_id)
    assert paid.paid_at == env.clock.now()
    delivered, entries = await env.requests.deliver(env.p("admin"), costly.request_id)
    assert delivered.status is OwnerLogRequestStatus.DELIVERED
    assert entries
    actions = [e.action for e in env.recorder.events]
    assert actions[-2:] == ["owner_request.pay", "owner_request.deliver"]
    assert actions.count("owner_request.file") == 3


async def test_no_delivery_once_the_site_changed_owner(env: Env) -> None:
    request = await env.file()
    site = await env.store.get_site(env.world.site_x1)
    assert site is not None
    await env.store.put_site(replace(site, owner_id="someone-else"), expected=site, create=False)
    with pytest.raises(FailedPrecondition, match="no longer owned"):
        await env.requests.deliver(env.p("admin"), request.request_id)


# -- who can enter ---------------------------------------------------------------------------


async def test_site_organisations_come_from_live_grants(env: Env) -> None:
    w = env.world
    s = env.store
    far = datetime.now(UTC) + timedelta(days=60)
    await add_grant(s, holder_id=w.holder_a, organisation_id=w.org_a, site_id=w.site_x1, until=far)
    await add_grant(
        s, holder_id=w.holder_b, organisation_id=w.org_b, door_id=w.doors[w.site_x1][1],
        until=far - timedelta(days=1),
    )  # fmt: skip
    revoked = await add_grant(
        s, holder_id=w.holder_a, organisation_id=w.org_a, door_id=w.doors[w.site_x1][0], until=far
    )
    await s.revoke_grant(revoked, at=datetime.now(UTC))
    await add_grant(s, holder_id=w.holder_b, organisation_id=w.org_b, site_id=w.site_y, until=far)
    # keys elsewhere, in more holders than one SCAN batch holds
    for _ in range(5):
        other = await build_world(s)
        await add_grant(
            s, holder_id=other.holder_a, organisation_id=other.org_a, site_id=other.site_x1,
            until=far,
        )  # fmt: skip
    site = await s.get_site(w.site_x1)
    assert site is not None
    await s.put_site(
        replace(site, blocked_organisations=frozenset({w.org_b})), expected=site, create=False
    )
    env.clock.set(datetime.now(UTC))

    got_site, orgs = await env.requests.site_organisations(env.p("owner_x"), w.site_x1)
    assert got_site.site_id == w.site_x1
    summary = {
        o.access.organisation_id: (
            o.access.grants, o.access.key_holders, o.access.whole_site, sorted(o.access.doors),
            o.blocked_by_site_owner, o.organisation.name if o.organisation else None,
        )
        for o in orgs
    }  # fmt: skip
    assert summary == {
        w.org_a: (1, 1, True, [], False, "Nordic Post A/S"),
        w.org_b: (1, 1, False, [w.doors[w.site_x1][1]], True, "Care Services"),
    }
    assert {o.access.organisation_id: o.access.valid_until for o in orgs} == {
        w.org_a: far.replace(microsecond=0),
        w.org_b: (far - timedelta(days=1)).replace(microsecond=0),
    }
    _, by_admin = await env.requests.site_organisations(env.p("admin"), w.site_x1)
    assert by_admin == orgs
    lookup = env.recorder.events[-1]
    assert (lookup.kind, lookup.action, lookup.site_id) == (
        EventKind.LOOKUP, "site.organisations", w.site_x1,
    )  # fmt: skip
    with pytest.raises(NotFound):
        await env.requests.site_organisations(env.p("owner_y"), w.site_x1)
    with pytest.raises(PermissionDenied):
        await env.requests.site_organisations(env.p("org_a"), w.site_x1)
    with pytest.raises(NotFound):
        await env.requests.site_organisations(env.p("admin"), "site_zzzzzzzzzzzzzzzz")
    assert (await env.requests.site_organisations(env.p("owner_x"), w.site_x2))[1] == []


async def test_site_organisations_see_sites_and_doors_created_after_start(env: Env) -> None:
    w = env.world
    site = Site(site_id=new_id("site"), address="Amagerbrogade 3", owner_id=w.owner_x)
    await env.store.put_site(site, expected=None, create=True)
    got, orgs = await env.requests.site_organisations(env.p("owner_x"), site.site_id)
    assert (got.site_id, orgs) == (site.site_id, [])
    door = Door(door_id=new_id("door"), site_id=site.site_id, relay_id="relay-late")
    await env.store.put_door(door)
    await add_grant(
        env.store, holder_id=w.holder_a, organisation_id=w.org_a, door_id=door.door_id,
        until=datetime.now(UTC) + timedelta(days=5),
    )  # fmt: skip
    env.clock.set(datetime.now(UTC))
    _, orgs = await env.requests.site_organisations(env.p("owner_x"), site.site_id)
    assert [(o.access.organisation_id, sorted(o.access.doors)) for o in orgs] == [
        (w.org_a, [door.door_id])
    ]
