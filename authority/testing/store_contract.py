"""The store contract, shipped with the package like the fakes: every check is a plain async
function over one fresh, empty store, so the in-memory fake (``authority.testing.InMemoryStore``),
``RedisStore`` on a single Redis and on a Redis Cluster, and any other adapter are held to the same
behaviour. ``tests/contract/test_store_contract.py`` runs ``CHECKS`` (and
``an_event_id_is_recorded_once``, which takes the store's ``OnceEventRecorder``) against each.

    for check in CHECKS:
        store = await make_store()  # empty
        await check(store)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pytest

from authority.domain.bulk import IdempotentGrant, IssueOutcome
from authority.domain.errors import AlreadyExists, Conflict, FailedPrecondition, NotFound
from authority.domain.events import AccessEvent, EventKind, event
from authority.domain.model import (
    Door,
    Grant,
    GrantTarget,
    HolderStatus,
    KeyHolder,
    Organisation,
    OrganisationStatus,
    Purpose,
    Site,
    new_id,
)
from authority.domain.ports.accesslog import OnceEventRecorder
from authority.domain.ports.credentials import CredentialStore
from authority.domain.ports.directory import DirectoryWriter, RevocationEpochs
from authority.domain.ports.grants import BulkGrantStore, DeviceKeyStore, GrantStore, HolderStore
from authority.domain.ports.unlock import HolderSnapshotReader
from authority.domain.relay import digest_event_id
from authority.domain.schedule import WeeklyWindow
from authority.wrappers.coalescing import CoalescingSnapshotReader, SnapshotBatchReader
from authority.wrappers.directory import DirectoryReplica, DirectorySource

NOW = datetime(2027, 1, 4, 7, 0, tzinfo=UTC)


class ContractStore(
    DirectoryWriter,
    DirectorySource,
    RevocationEpochs,
    DeviceKeyStore,
    HolderStore,
    GrantStore,
    BulkGrantStore,
    CredentialStore,
    HolderSnapshotReader,
    SnapshotBatchReader,
    Protocol,
):
    """What the contract exercises: the ports the application uses, the directory replica's
    source and the batched snapshot reads."""


def org(status: OrganisationStatus = OrganisationStatus.APPROVED) -> Organisation:
    return Organisation(
        organisation_id=new_id("org"), name="PostNord", cvr="25680839", se=None,
        public_body=False, purpose=Purpose.POSTAL, status=status, status_reason="", created_at=NOW,
    )  # fmt: skip


def site() -> Site:
    return Site(site_id=new_id("site"), address="Nørrebrogade 1", owner_id="owner-1")


def holder(org_id: str) -> KeyHolder:
    return KeyHolder(
        key_holder_id=new_id("kh"),
        organisation_id=org_id,
        status=HolderStatus.ACTIVE,
        created_at=NOW,
    )


def grant(h: KeyHolder, target: GrantTarget, org_id: str, **kw: object) -> Grant:
    fields: dict[str, object] = {
        "grant_id": new_id("gr"), "key_holder_id": h.key_holder_id, "target": target,
        "organisation_id": org_id, "purpose": Purpose.POSTAL, "valid_from": NOW,
        "valid_until": NOW + timedelta(days=30),
        "windows": (WeeklyWindow(frozenset({1, 2, 3, 4, 5}), 360, 540),),
    }  # fmt: skip
    fields.update(kw)
    return Grant(**fields)  # type: ignore[arg-type]


async def directory_create_get_and_conflicts(store: ContractStore) -> None:
    o, s = org(OrganisationStatus.PENDING), site()
    await store.put_organisation(o, expected=None, create=True)
    await store.put_site(s, expected=None, create=True)
    assert await store.get_organisation(o.organisation_id) == o
    assert await store.get_site(s.site_id) == s
    with pytest.raises(AlreadyExists):
        await store.put_organisation(o, expected=None, create=True)
    approved = replace(o, status=OrganisationStatus.APPROVED)
    await store.put_organisation(approved, expected=o, create=False)
    assert (await store.get_organisation(o.organisation_id)) == approved
    with pytest.raises(Conflict):  # expected is stale now
        await store.put_organisation(o, expected=o, create=False)
    door = Door(door_id="door-1", site_id=s.site_id, relay_id="relay-1", label="Front")
    await store.put_door(door)
    assert await store.get_door("door-1") == door
    with pytest.raises(AlreadyExists):
        await store.put_door(door)
    with pytest.raises(NotFound):
        await store.put_door(Door(door_id="door-2", site_id="site_missing", relay_id="r"))
    assert await store.get_door("door-2") is None
    assert await store.get_organisation("org_missing") is None


async def directory_replica_follows_changes(store: ContractStore) -> None:
    replica = DirectoryReplica(store)
    await replica.load()
    assert replica.version == 0
    s = site()
    await store.put_site(s, expected=None, create=True)
    for i in range(30):
        await store.put_door(Door(door_id=f"d{i}", site_id=s.site_id, relay_id=f"r{i}"))
    version = await store.directory_version()
    assert version == 31
    assert replica.door("d29") is None  # not yet synced
    await replica.sync_to(version)
    assert replica.version == 31
    assert replica.door("d29") == Door(door_id="d29", site_id=s.site_id, relay_id="r29")
    assert replica.site(s.site_id) == s
    other = DirectoryReplica(store)
    await other.load()
    assert other.version == 31
    assert other.counts() == {"organisations": 0, "sites": 1, "doors": 30}


async def holders_and_snapshot(store: ContractStore) -> None:
    o, s = org(), site()
    await store.put_site(s, expected=None, create=True)
    h = holder(o.organisation_id)
    await store.create_holder(h, b"digest")
    with pytest.raises(AlreadyExists):
        await store.create_holder(h, b"other")
    assert await store.get_holder(h.key_holder_id) == h
    g_door = grant(h, GrantTarget(door_id="door-1"), o.organisation_id)
    g_site = grant(h, GrantTarget(site_id=s.site_id), o.organisation_id)
    g_other = grant(h, GrantTarget(door_id="door-9"), o.organisation_id)
    for g in (g_door, g_site, g_other):
        await store.add_grant(g)
    await store.add_grant(g_door)  # idempotent: the same grant id is not added twice
    snap = await store.read_snapshot(h.key_holder_id, "door-1", s.site_id, "cred")
    assert snap is not None
    assert snap.status is HolderStatus.ACTIVE
    assert snap.credential_digest == b"digest"
    assert sorted(g.grant_id for g in snap.grants) == sorted([g_door.grant_id, g_site.grant_id])
    assert snap.directory_version == await store.directory_version()
    assert {g.grant_id: g for g in snap.grants}[g_door.grant_id] == g_door
    assert await store.read_snapshot("kh_nobody", "door-1", None, "cred") is None
    suspended = await store.set_holder_status(h.key_holder_id, HolderStatus.SUSPENDED)
    assert suspended.status is HolderStatus.SUSPENDED
    snap = await store.read_snapshot(h.key_holder_id, "door-1", None, "cred")
    assert snap is not None
    assert snap.status is HolderStatus.SUSPENDED
    with pytest.raises(NotFound):
        await store.set_holder_status("kh_nobody", HolderStatus.ACTIVE)
    listed = await store.list_grants(h.key_holder_id)
    assert [g.grant_id for g in listed] == sorted(g.grant_id for g in (g_door, g_site, g_other))


async def revoke_is_seen_by_the_next_read(store: ContractStore) -> None:
    o = org()
    h = holder(o.organisation_id)
    await store.create_holder(h, b"d")
    g = grant(h, GrantTarget(door_id="door-1"), o.organisation_id)
    await store.add_grant(g)
    revoked = await store.revoke_grant(g.grant_id, at=NOW + timedelta(minutes=1))
    assert revoked.revoked_at == NOW + timedelta(minutes=1)
    snap = await store.read_snapshot(h.key_holder_id, "door-1", None, "cred")
    assert snap is not None
    assert snap.grants[0].revoked_at == NOW + timedelta(minutes=1)
    again = await store.revoke_grant(g.grant_id, at=NOW + timedelta(hours=1))
    assert again.revoked_at == revoked.revoked_at  # revoking twice keeps the first time
    assert await store.get_grant(g.grant_id) == revoked
    with pytest.raises(NotFound):
        await store.revoke_grant("gr_missing", at=NOW)


async def concurrent_grants_for_one_holder_are_all_kept(store: ContractStore) -> None:
    o = org()
    h = holder(o.organisation_id)
    await store.create_holder(h, b"d")
    grants = [grant(h, GrantTarget(door_id="door-1"), o.organisation_id) for _ in range(20)]
    await asyncio.gather(*(store.add_grant(g) for g in grants))
    snap = await store.read_snapshot(h.key_holder_id, "door-1", None, "cred")
    assert snap is not None
    assert sorted(g.grant_id for g in snap.grants) == sorted(g.grant_id for g in grants)


async def grant_for_missing_holder_is_refused(store: ContractStore) -> None:
    h = holder("org_x")
    with pytest.raises(NotFound):
        await store.add_grant(grant(h, GrantTarget(door_id="door-1"), "org_x"))


async def credentials(store: ContractStore) -> None:
    await store.put_credential("ak_1", b"digest", '{"role":"organisation","org":"org_1"}')
    assert await store.get_credential("ak_1") == (
        b"digest",
        '{"role":"organisation","org":"org_1"}',
    )
    assert await store.get_credential("ak_2") is None


async def coalescing_batches_concurrent_reads(store: ContractStore) -> None:
    o = org()
    holders = [holder(o.organisation_id) for _ in range(50)]
    for h in holders:
        await store.create_holder(h, h.key_holder_id.encode())
        await store.add_grant(grant(h, GrantTarget(door_id="door-1"), o.organisation_id))
    reader = CoalescingSnapshotReader(store, max_batch=64)
    results = await asyncio.gather(
        *(reader.read_snapshot(h.key_holder_id, "door-1", None, "cred") for h in holders * 4)
    )
    assert [r.credential_digest if r else None for r in results] == [
        h.key_holder_id.encode() for h in holders * 4
    ]
    assert reader.requests == 200
    assert reader.batches < 200 / 8  # concurrent reads really shared round trips


async def door_relay_key_is_replaced_by_compare_and_set(store: ContractStore) -> None:
    s = site()
    await store.put_site(s, expected=None, create=True)
    replica = DirectoryReplica(store)
    await replica.load()
    door = Door(door_id="door-k", site_id=s.site_id, relay_id="relay-k")
    await store.put_door(door)
    keyed = replace(door, relay_public_key=b"\x01" * 32)
    await store.put_door(keyed, expected=door)
    assert await store.get_door("door-k") == keyed
    replaced = replace(keyed, relay_public_key=b"\x02" * 32, relay_id="relay-k2")
    with pytest.raises(Conflict):  # stale expected: someone replaced it first
        await store.put_door(replaced, expected=door)
    await store.put_door(replaced, expected=keyed)
    await replica.sync_to(await store.directory_version())
    assert replica.door("door-k") == replaced
    with pytest.raises(NotFound):
        await store.put_door(replace(door, door_id="door-none"), expected=door)
    assert await store.get_doors(["door-k", "door-none"]) == {"door-k": replaced}
    assert await store.get_doors([]) == {}


async def revocation_epochs_are_directory_changes(store: ContractStore) -> None:
    a = replace(site(), offline_allowed=True)
    b = replace(site(), offline_allowed=True)
    for s in (a, b):
        await store.put_site(s, expected=None, create=True)
    replica = DirectoryReplica(store)
    await replica.load()
    before = await store.directory_version()
    assert await store.bump_revocation_epochs([a.site_id, "site_missing", b.site_id]) == {
        a.site_id: 1,
        b.site_id: 1,
    }
    assert await store.bump_revocation_epochs([a.site_id]) == {a.site_id: 2}
    assert await store.bump_revocation_epochs([]) == {}
    assert await store.directory_version() == before + 3  # one change per raise
    assert (await store.get_site(a.site_id)) == replace(a, revocation_epoch=2)
    assert await store.get_sites([a.site_id, b.site_id, "site_missing"]) == {
        a.site_id: replace(a, revocation_epoch=2),
        b.site_id: replace(b, revocation_epoch=1),
    }
    # the next decision's sync sees the new epochs …
    await replica.sync_to(await store.directory_version())
    assert replica.site(a.site_id) == replace(a, revocation_epoch=2)
    # … an edit of the site record keeps the epoch (a counter of its own), in the store and the
    # replica, and a compare-and-set against the epoch-less record still matches
    blocked = replace(a, blocked_organisations=frozenset({"org_x"}))
    await store.put_site(blocked, expected=replace(a, revocation_epoch=2), create=False)
    assert await store.get_site(a.site_id) == replace(blocked, revocation_epoch=2)
    await replica.sync_to(await store.directory_version())
    assert replica.site(a.site_id) == replace(blocked, revocation_epoch=2)
    # and a fresh replica loads them from the snapshot
    fresh = DirectoryReplica(store)
    await fresh.load()
    assert fresh.site(a.site_id) == replace(blocked, revocation_epoch=2)
    assert fresh.site(b.site_id) == replace(b, revocation_epoch=1)


async def device_key_is_read_with_the_snapshot(store: ContractStore) -> None:
    o = org()
    h = holder(o.organisation_id)
    await store.create_holder(h, b"digest")
    snap = await store.read_snapshot(h.key_holder_id, "door-1", "site_1", "cred")
    assert snap is not None
    assert snap.device_key is None
    assert await store.set_device_key(h.key_holder_id, b"\x07" * 32) is None
    assert await store.set_device_key(h.key_holder_id, b"\x08" * 32) == b"\x07" * 32
    snap = await store.read_snapshot(h.key_holder_id, "door-1", None, "cred")
    assert snap is not None
    assert snap.device_key == b"\x08" * 32
    assert snap.credential_digest == b"digest"
    with pytest.raises(NotFound):
        await store.set_device_key("kh_nobody", b"\x07" * 32)
    assert await store.read_snapshot("kh_nobody", "door-1", None, "cred") is None


async def an_event_id_is_recorded_once(
    recorder: OnceEventRecorder, recorded: Callable[[], Awaitable[Sequence[AccessEvent]]]
) -> None:
    """``recorder`` is the store's ``OnceEventRecorder`` (fresh); ``recorded`` reads back what
    it recorded (for Redis: from the access-log buffer stream, checking the entry format)."""
    e = replace(
        event(EventKind.RELAY, "relay_result", "opened"), event_id=digest_event_id(b"x" * 32)
    )
    other = replace(e, event_id=digest_event_id(b"y" * 32))
    # (one call first: redis-py's cluster client races its own initialisation under concurrency)
    assert await recorder.record_once(other) is True
    results = await asyncio.gather(*(recorder.record_once(e) for _ in range(10)))
    assert sorted(results) == [False] * 9 + [True]  # concurrent reports: exactly one wins
    assert await recorder.record_once(replace(e, ts_ms=e.ts_ms + 5)) is False
    assert await recorder.record_once(other) is False
    assert sorted(r.event_id for r in await recorded()) == sorted([e.event_id, other.event_id])


# -- bulk: fleets ------------------------------------------------------------------------------


async def _bulk_world(store: ContractStore) -> tuple[Organisation, Site, list[KeyHolder]]:
    o, s = org(), site()
    await store.put_organisation(o, expected=None, create=True)
    await store.put_site(s, expected=None, create=True)
    await store.put_door(Door(door_id=f"door-{s.site_id}", site_id=s.site_id, relay_id="r"))
    holders = [holder(o.organisation_id) for _ in range(3)]
    for h in holders:
        await store.create_holder(h, b"digest")
    return o, s, holders


def _once(g: Grant, slot: str, fingerprint: str = "fp") -> IdempotentGrant:
    return IdempotentGrant(
        grant=g, slot=slot, fingerprint=fingerprint, site_id=g.target.site_id or "?"
    )


async def bulk_issue_is_idempotent_per_key_and_checks_the_holder(store: ContractStore) -> None:
    o, s, (h1, h2, _) = await _bulk_world(store)
    g1 = grant(h1, GrantTarget(site_id=s.site_id), o.organisation_id)
    g2 = grant(h2, GrantTarget(site_id=s.site_id), o.organisation_id)
    stranger = holder("org_other")
    await store.create_holder(stranger, b"digest")
    g3 = grant(stranger, GrantTarget(site_id=s.site_id), o.organisation_id)
    g4 = grant(holder(o.organisation_id), GrantTarget(site_id=s.site_id), o.organisation_id)
    outcomes = await store.issue_grants_once(
        o.organisation_id, [_once(g1, "a"), _once(g2, "a"), _once(g3, "a"), _once(g4, "a")]
    )
    assert outcomes == [
        IssueOutcome.CREATED,
        IssueOutcome.CREATED,  # the same key for another holder is another item
        IssueOutcome.HOLDER_OF_ANOTHER_ORGANISATION,
        IssueOutcome.HOLDER_MISSING,
    ]
    again = await store.issue_grants_once(
        o.organisation_id, [_once(g1, "a"), _once(g1, "a", fingerprint="other")]
    )
    assert again == [IssueOutcome.ALREADY_CREATED, IssueOutcome.KEY_REUSED]
    assert await store.list_grants(h1.key_holder_id) == [g1]
    assert await store.get_grant(g1.grant_id) == g1
    assert await store.list_grants(stranger.key_holder_id) == []
    indexed = set(await store.holders_of_organisation(o.organisation_id))
    assert {h1.key_holder_id, h2.key_holder_id} <= indexed
    assert h1.key_holder_id in await store.holders_with_grants_at(s.site_id)


async def bulk_revoke_by_organisation_and_fields(store: ContractStore) -> None:
    o, s, (h1, h2, h3) = await _bulk_world(store)
    door = f"door-{s.site_id}"
    site_grant = grant(h1, GrantTarget(site_id=s.site_id), o.organisation_id)
    door_grant = grant(h2, GrantTarget(door_id=door), o.organisation_id)
    foreign = grant(h3, GrantTarget(door_id=door), "org_foreign")
    ended = grant(
        h3,
        GrantTarget(site_id=s.site_id),
        o.organisation_id,
        valid_from=NOW - timedelta(days=9),
        valid_until=NOW - timedelta(days=1),
    )
    for g in (site_grant, door_grant, foreign, ended):
        await store.add_grant(g)
    holders = [h.key_holder_id for h in (h1, h2, h3)]
    assert sorted(await store.holders_with_grants_at(s.site_id)) == sorted(holders)
    at = NOW + timedelta(hours=1)
    by_door = await store.revoke_holders_grants(
        holders, at=at, organisation_id=o.organisation_id, fields=[f"d:{door}"]
    )
    assert [g.grant_id for g in by_door] == [door_grant.grant_id]
    assert by_door[0].revoked_at == at
    rest = await store.revoke_holders_grants(holders, at=at, organisation_id=None, fields=None)
    assert sorted(g.grant_id for g in rest) == sorted([site_grant.grant_id, foreign.grant_id])
    assert (
        await store.revoke_holders_grants(holders, at=at, organisation_id=None, fields=None) == []
    )
    decoded = await store.grants_of_holders(holders)
    assert {g.grant_id: g.revoked_at for g in decoded} == {
        site_grant.grant_id: at, door_grant.grant_id: at, foreign.grant_id: at,
        ended.grant_id: None,
    }  # fmt: skip
    snapshot = await store.read_snapshot(h2.key_holder_id, door, s.site_id, "cred")
    assert snapshot is not None
    assert [g.revoked_at for g in snapshot.grants] == [at]


async def roster_replace_is_one_atomic_change(store: ContractStore) -> None:
    o, s, (h1, _, _) = await _bulk_world(store)
    door = f"door-{s.site_id}"
    old_site = grant(h1, GrantTarget(site_id=s.site_id), o.organisation_id)
    keep = grant(h1, GrantTarget(door_id=door), o.organisation_id)
    foreign = grant(h1, GrantTarget(door_id=door), "org_foreign")
    for g in (old_site, keep, foreign):
        await store.add_grant(g)
    same_as_keep = replace(keep, grant_id=new_id("gr"), valid_from=NOW + timedelta(hours=3))
    new = grant(h1, GrantTarget(site_id=s.site_id), o.organisation_id, windows=())
    at = NOW + timedelta(hours=1)
    change = await store.replace_holder_grants(
        h1.key_holder_id, o.organisation_id, [(same_as_keep, False), (new, True)], at=at,
        site_ids=[s.site_id, s.site_id],
    )  # fmt: skip
    assert change.kept == [keep.grant_id]
    assert [g.grant_id for g in change.created] == [new.grant_id]
    assert [(g.grant_id, g.revoked_at) for g in change.revoked] == [(old_site.grant_id, at)]
    grants = {g.grant_id: g for g in await store.list_grants(h1.key_holder_id)}
    assert grants[foreign.grant_id].revoked_at is None  # another organisation's: untouched
    assert grants[new.grant_id] == new
    assert await store.get_grant(new.grant_id) == new
    with pytest.raises(FailedPrecondition):
        await store.replace_holder_grants(h1.key_holder_id, "org_foreign", [], at=at)
    with pytest.raises(NotFound):
        await store.replace_holder_grants("kh_missing", o.organisation_id, [], at=at)


CHECKS: tuple[Callable[[ContractStore], Awaitable[None]], ...] = (
    directory_create_get_and_conflicts,
    directory_replica_follows_changes,
    holders_and_snapshot,
    revoke_is_seen_by_the_next_read,
    concurrent_grants_for_one_holder_are_all_kept,
    grant_for_missing_holder_is_refused,
    credentials,
    coalescing_batches_concurrent_reads,
    door_relay_key_is_replaced_by_compare_and_set,
    revocation_epochs_are_directory_changes,
    device_key_is_read_with_the_snapshot,
    bulk_issue_is_idempotent_per_key_and_checks_the_holder,
    bulk_revoke_by_organisation_and_fields,
    roster_replace_is_one_atomic_change,
)
