"""Fixtures for the access log's read side: a real chDB per test module (chDB allows one engine
directory per process at a time, so each module opens and closes its own), rows inserted with
the schema from ``authority.adapters.clickhouse.schema``, a directory built in a real Redis, and a
small list-backed ``EventRecorder``."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from authority.adapters.clickhouse.connect import open_clickhouse
from authority.adapters.clickhouse.schema import EVENTS_TABLE, apply_schema
from authority.adapters.redis.redis_store import RedisStore
from authority.domain.credentials import (
    Principal,
    Role,
    new_admin_key,
    new_credential,
    new_organisation_key,
)
from authority.domain.events import EVENT_FIELDS, AccessEvent, EventKind, new_event_id
from authority.domain.model import (
    Door,
    GrantTarget,
    HolderStatus,
    KeyHolder,
    Organisation,
    OrganisationStatus,
    Purpose,
    Site,
    new_grant,
    new_id,
)
from authority.process.log_socket import LogReadListener, SocketLogClient

BASE = datetime(2027, 3, 1, tzinfo=UTC)
"""Monday 1 March 2027: the scenario's events happen in the week after it."""


@pytest.fixture(scope="module")
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import clickhouse_connect  # noqa: PLC0415 - ~350 MB engine: only where needed

    client = clickhouse_connect.get_client(dsn=f"chdb://{tmp_path_factory.mktemp('chdb')}")
    apply_schema(client)
    yield client
    client.close()


@pytest.fixture(params=["direct", "log-socket"])
async def log_reads(request: pytest.FixtureRequest, clickhouse: Any) -> AsyncIterator[Any]:
    """What the readers query: the module's chDB client, or the same chDB through the log
    socket (``authority.process.log_socket``) as a process with shipping off reads it: one suite,
    both paths."""
    if request.param == "direct":
        yield clickhouse
        return
    with tempfile.TemporaryDirectory(prefix="logsock") as short:  # sun_path: 107 bytes at most
        socket = Path(short) / "log.sock"
        source = open_clickhouse(url=None, path=Path(clickhouse.path), read_only=True)
        listener = await LogReadListener.start(socket, source)
        client = SocketLogClient(socket)
        try:
            yield client
        finally:
            client.close()
            await listener.stop(0)
            source.close()


COLUMNS = [("ts" if f == "ts_ms" else f) for f in EVENT_FIELDS] + ["shard", "seq", "hash"]


def insert_events(client: Any, events: Sequence[AccessEvent]) -> None:
    rows: list[list[Any]] = []
    for i, e in enumerate(events):
        d = e.to_dict()
        row: list[Any] = []
        for name in EVENT_FIELDS:
            if name == "event_id":
                row.append(uuid.UUID(e.event_id))
            elif name == "ts_ms":
                row.append(datetime.fromtimestamp(e.ts_ms / 1000, UTC))
            else:
                row.append(d[name])
        rows.append([*row, 0, i, b"\0" * 32])
    client.insert(EVENTS_TABLE, rows, column_names=COLUMNS)


def ev(
    at: datetime,
    *,
    kind: EventKind = EventKind.UNLOCK,
    action: str = "unlock",
    outcome: str = "allow",
    reason: str = "granted",
    **facts: str,
) -> AccessEvent:
    ms = int(at.timestamp() * 1000)
    return AccessEvent(
        event_id=new_event_id(ms),
        ts_ms=ms,
        kind=kind,
        action=action,
        outcome=outcome,
        reason=reason,
        actor_role=facts.pop("actor_role", "key_holder"),
        **facts,
    )


class ListRecorder:
    """An ``EventRecorder`` that keeps what it is given."""

    def __init__(self) -> None:
        self.events: list[AccessEvent] = []

    async def record(self, events: Sequence[AccessEvent]) -> None:
        self.events.extend(events)


@dataclass
class World:
    """Two organisations, two owners, three sites; ids are random so tests share one Redis
    and one chDB without seeing each other's rows."""

    org_a: str
    org_b: str
    owner_x: str
    owner_y: str
    site_x1: str
    site_x2: str
    site_y: str
    doors: dict[str, list[str]]
    holder_a: str
    holder_b: str
    credentials: dict[str, str] = field(default_factory=dict)
    """role name -> long-lived credential string, for the admin and the organisations (filled by
    ``add_credentials``); site owners and analysts log in instead (``test_api.Scene``)."""
    principals: dict[str, Principal] = field(default_factory=dict)
    """role name -> the caller, for every role (filled by ``add_credentials``)."""


def _org(name: str, now: datetime) -> Organisation:
    return Organisation(
        organisation_id=new_id("org"), name=name, cvr="25680839", se=None, public_body=False,
        purpose=Purpose.POSTAL, status=OrganisationStatus.APPROVED, status_reason="",
        created_at=now,
    )  # fmt: skip


async def build_world(store: RedisStore, *, now: datetime | None = None) -> World:
    now = now or datetime.now(UTC)
    a, b = _org("Nordic Post A/S", now), _org("Care Services", now)
    for org in (a, b):
        await store.put_organisation(org, expected=None, create=True)
    owner_x, owner_y = new_id("owner"), new_id("owner")
    sites = {new_id("site"): owner_x, new_id("site"): owner_x, new_id("site"): owner_y}
    doors: dict[str, list[str]] = {}
    for site_id, owner in sites.items():
        await store.put_site(
            Site(site_id=site_id, address="Nørrebrogade 12", owner_id=owner),
            expected=None,
            create=True,
        )
        doors[site_id] = []
        for label in ("front", "back"):
            door_id = f"{site_id}-{label}"
            await store.put_door(Door(door_id=door_id, site_id=site_id, relay_id="r-" + door_id))
            doors[site_id].append(door_id)
    holders = []
    for org in (a, b):
        holder = KeyHolder(
            key_holder_id=new_id("kh"), organisation_id=org.organisation_id,
            status=HolderStatus.ACTIVE, created_at=now,
        )  # fmt: skip
        await store.create_holder(holder, new_credential(holder.key_holder_id)[1])
        holders.append(holder.key_holder_id)
    site_x1, site_x2, site_y = list(sites)
    return World(
        org_a=a.organisation_id, org_b=b.organisation_id, owner_x=owner_x, owner_y=owner_y,
        site_x1=site_x1, site_x2=site_x2, site_y=site_y, doors=doors,
        holder_a=holders[0], holder_b=holders[1],
    )  # fmt: skip


async def add_grant(
    store: RedisStore,
    *,
    holder_id: str,
    organisation_id: str,
    site_id: str = "",
    door_id: str = "",
    until: datetime,
) -> str:
    org = await store.get_organisation(organisation_id)
    holder = await store.get_holder(holder_id)
    assert org is not None
    assert holder is not None
    target = GrantTarget(site_id=site_id) if site_id else GrantTarget(door_id=door_id)
    now = datetime.now(UTC)
    grant = new_grant(
        holder=holder, target=target, organisation=org, valid_from=now, valid_until=until,
        windows=(), now=now,
    )  # fmt: skip
    await store.add_grant(grant)
    return grant.grant_id


async def add_credentials(store: RedisStore, world: World) -> None:
    """One caller of each kind. The admin and the organisations: long-lived credentials, stored
    as the server stores them. Site owners and analysts are staff accounts: the ``Principal``
    their login session carries (``authority.usecases.accounts``), for the use cases to be
    called with directly; over the wire they log in (``test_api.Scene.credential``)."""
    made: list[tuple[str, tuple[str, str, bytes], Principal]] = []
    cid, cred, dig = new_admin_key()
    made.append(("admin", (cid, cred, dig), Principal(role=Role.ADMIN, credential_id=cid)))
    for name, org in (("org_a", world.org_a), ("org_b", world.org_b)):
        key = new_organisation_key()
        p = Principal(role=Role.ORGANISATION, credential_id=key[0], organisation_id=org)
        made.append((name, key, p))
    for name, (cid, cred, dig), principal in made:
        await store.put_credential(cid, dig, principal.to_json())
        world.credentials[name] = cred
        world.principals[name] = principal
    world.principals["analyst_a"] = Principal(
        role=Role.ANALYST, credential_id=new_id("acc"), organisation_id=world.org_a
    )
    world.principals["analyst_all"] = Principal(role=Role.ANALYST, credential_id=new_id("acc"))
    for name, owner in (("owner_x", world.owner_x), ("owner_y", world.owner_y)):
        world.principals[name] = Principal(
            role=Role.SITE_OWNER, credential_id=new_id("acc"), owner_id=owner
        )


def scenario_events(w: World, base: datetime = BASE) -> list[AccessEvent]:
    """A week of door events at every site by both organisations, some denials, an admin and a
    lookup event of organisation A, and 12 events in one millisecond (cursor tie-breaks)."""
    out: list[AccessEvent] = []
    hour = timedelta(hours=1)
    for day in range(7):
        for site_id, doors in w.doors.items():
            for i, door_id in enumerate(doors):
                for org, holder in ((w.org_a, w.holder_a), (w.org_b, w.holder_b)):
                    at = base + timedelta(days=day) + (6 + i) * hour
                    out.append(
                        ev(at, organisation_id=org, site_id=site_id, door_id=door_id,
                           holder_id=holder, actor_id=holder, token_id="t" * 8)
                    )  # fmt: skip
        out.append(
            ev(base + timedelta(days=day, hours=20), outcome="deny", reason="outside_schedule",
               organisation_id=w.org_b, site_id=w.site_x1, door_id=w.doors[w.site_x1][0],
               holder_id=w.holder_b, actor_id=w.holder_b)
        )  # fmt: skip
    out.append(
        ev(base + timedelta(days=2, hours=21), outcome="deny", reason="no_grant",
           organisation_id=w.org_a, site_id=w.site_y, door_id=w.doors[w.site_y][1],
           holder_id=w.holder_a, actor_id=w.holder_a)
    )  # fmt: skip
    out.append(
        ev(base + timedelta(days=1), kind=EventKind.ADMIN, action="grant.issue", outcome="ok",
           reason="", organisation_id=w.org_a, site_id=w.site_x1, holder_id=w.holder_a,
           actor_role="organisation", actor_id="ak_x")
    )  # fmt: skip
    out.append(
        ev(base + timedelta(days=1, hours=1), kind=EventKind.LOOKUP, action="logs.query",
           outcome="ok", reason="", organisation_id=w.org_a, actor_role="analyst",
           actor_id="acc_x")
    )  # fmt: skip
    same_ms = base + timedelta(days=3, hours=12)
    out.extend(
        ev(same_ms, organisation_id=w.org_a, site_id=w.site_x2, door_id=w.doors[w.site_x2][0],
           holder_id=w.holder_a)
        for _ in range(12)
    )  # fmt: skip
    return out
