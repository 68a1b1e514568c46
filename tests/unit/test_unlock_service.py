"""The unlock use case over the shipped in-memory store: authentication, validation, and the
replica catching up when concurrent requests race a directory change."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from authority.adapters.crypto.keyring import Keyring, SigningKey
from authority.api.authz import UNLOCK_METHOD
from authority.domain.credentials import new_credential, parse_bearer
from authority.domain.decision import DecisionReason
from authority.domain.errors import (
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
)
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
)
from authority.domain.schedule import parse_window
from authority.testing import FixedClock, InMemoryStore, MemoryEventRecorder
from authority.usecases.unlock import UnlockService
from authority.wrappers.coalescing import CoalescingSnapshotReader
from authority.wrappers.directory import DirectoryReplica


async def make(store: InMemoryStore, clock: FixedClock) -> tuple[UnlockService, str, str]:
    """The service, the holder's app session credential, and a long-lived one whose digest the
    holder's record keeps (as CreateKeyHolder does; never shown, never accepted)."""
    replica = DirectoryReplica(store)
    await replica.load()
    org = Organisation(
        organisation_id="org_1", name="Post", cvr="25680839", se=None, public_body=False,
        purpose=Purpose.POSTAL, status=OrganisationStatus.APPROVED, status_reason="",
        created_at=clock.now(),
    )  # fmt: skip
    await store.put_organisation(org, expected=None, create=True)
    await store.put_site(
        Site(site_id="site_1", address="A", owner_id="o"), expected=None, create=True
    )
    holder = KeyHolder(
        key_holder_id="kh_1", organisation_id="org_1", status=HolderStatus.ACTIVE,
        created_at=clock.now(),
    )  # fmt: skip
    long_lived, cred_digest = new_credential("kh_1")
    await store.create_holder(holder, cred_digest)
    credential = store.open_app_session("kh_1", clock.now() + timedelta(minutes=15))
    await store.add_grant(
        Grant(
            grant_id="gr_1",
            key_holder_id="kh_1",
            target=GrantTarget(site_id="site_1"),
            organisation_id="org_1",
            purpose=Purpose.POSTAL,
            valid_from=clock.now(),
            valid_until=clock.now() + timedelta(days=1),
        )
    )
    ring = Keyring([SigningKey.generate(now=0)], publish_retired_for=60)
    service = UnlockService(
        directory=replica, snapshots=CoalescingSnapshotReader(store), signer=ring,
        clock=clock, events=MemoryEventRecorder(), issuer="authority", token_ttl=60,
        call_name=UNLOCK_METHOD,
    )  # fmt: skip
    return service, credential, long_lived


async def test_concurrent_unlocks_right_after_a_door_is_created_all_see_it() -> None:
    store, clock = InMemoryStore(), FixedClock()
    service, credential, _ = await make(store, clock)
    await store.put_door(Door(door_id="door-new", site_id="site_1", relay_id="relay-new"))
    presented = parse_bearer(f"Bearer {credential}")
    outcomes = await asyncio.gather(
        *(service.request_unlock(presented, "door-new", None) for _ in range(20))
    )
    assert [o.decision.reason for o in outcomes] == [DecisionReason.GRANTED] * 20
    assert all(o.claims is not None and o.claims.audience == "relay-new" for o in outcomes)
    assert len({o.claims.token_id for o in outcomes if o.claims}) == 20  # every cti is fresh


async def test_wrong_secret_wrong_kind_and_bad_input() -> None:
    store, clock = InMemoryStore(), FixedClock()
    service, credential, long_lived = await make(store, clock)
    await store.put_door(Door(door_id="d", site_id="site_1", relay_id="r"))
    forged = parse_bearer(f"Bearer {credential.rpartition('.')[0]}." + "A" * 43)
    with pytest.raises(Unauthenticated):
        await service.request_unlock(forged, "d", None)
    with pytest.raises(Unauthenticated):
        await service.request_unlock(parse_bearer("Bearer kh_nobody." + "A" * 43), "d", None)
    with pytest.raises(Unauthenticated, match="Login"):  # a long-lived app credential: never
        await service.request_unlock(parse_bearer(f"Bearer {long_lived}"), "d", None)
    with pytest.raises(PermissionDenied):
        await service.request_unlock(parse_bearer("Bearer ak_x." + "A" * 43), "d", None)
    presented = parse_bearer(f"Bearer {credential}")
    with pytest.raises(InvalidArgument, match="relay_challenge"):
        await service.request_unlock(presented, "d", b"1234567")
    with pytest.raises(InvalidArgument, match="door_id"):
        await service.request_unlock(presented, "", None)
    outcome = await service.request_unlock(presented, "d", b"12345678")
    assert outcome.claims is not None
    assert outcome.claims.cnonce == b"12345678"


async def test_offline_token_is_bound_to_the_device_and_ends_with_the_schedule_window() -> None:
    store, clock = InMemoryStore(), FixedClock()  # Monday 08:00 Copenhagen
    replica = DirectoryReplica(store)
    await replica.load()
    await store.put_organisation(
        Organisation(
            organisation_id="org_1", name="Post", cvr="25680839", se=None, public_body=False,
            purpose=Purpose.POSTAL, status=OrganisationStatus.APPROVED, status_reason="",
            created_at=clock.now(),
        ),
        expected=None, create=True,
    )  # fmt: skip
    await store.put_site(
        Site(site_id="site_off", address="A", owner_id="o", offline_allowed=True),
        expected=None,
        create=True,
    )
    await store.put_door(Door(door_id="d", site_id="site_off", relay_id="r"))
    await store.bump_revocation_epochs(["site_off"])
    _, cred_digest = new_credential("kh_1")
    await store.create_holder(
        KeyHolder(
            key_holder_id="kh_1", organisation_id="org_1", status=HolderStatus.ACTIVE,
            created_at=clock.now(),
        ),
        cred_digest,
    )  # fmt: skip
    credential = store.open_app_session("kh_1", clock.now() + timedelta(minutes=15))
    await store.add_grant(
        Grant(
            grant_id="gr_1", key_holder_id="kh_1", target=GrantTarget(door_id="d"),
            organisation_id="org_1", purpose=Purpose.POSTAL, valid_from=clock.now(),
            valid_until=clock.now() + timedelta(days=1), windows=(parse_window("Mon 06:00-09:00"),),
        )
    )  # fmt: skip
    events = MemoryEventRecorder()
    service = UnlockService(
        directory=replica, snapshots=CoalescingSnapshotReader(store),
        signer=Keyring([SigningKey.generate(now=0)], publish_retired_for=60), clock=clock,
        events=events, issuer="authority", token_ttl=60, offline_token_ttl=12 * 3600,
        call_name=UNLOCK_METHOD,
    )  # fmt: skip
    presented = parse_bearer(f"Bearer {credential}")
    with pytest.raises(FailedPrecondition, match="RegisterDeviceKey"):
        await service.request_unlock(presented, "d", None, offline=True)
    await store.set_device_key("kh_1", b"\x05" * 32)
    outcome = await service.request_unlock(presented, "d", None, offline=True)
    claims = outcome.claims
    assert claims is not None
    assert claims.confirmation_key == b"\x05" * 32
    assert claims.revocation_epoch == 1
    assert claims.cnonce is None
    # 09:00 Copenhagen (08:00 UTC), the end of the window: one hour, not twelve
    assert claims.expires_at - claims.issued_at == 3600
    online = await service.request_unlock(presented, "d", b"12345678")
    assert online.claims is not None
    assert online.claims.confirmation_key is None
    assert online.claims.expires_at - online.claims.issued_at == 60
    assert online.claims.revocation_epoch == 1
    assert json.loads(events.events[0].detail) == {
        "epoch": 1, "expires_at": claims.expires_at, "offline": True,
    }  # fmt: skip
    assert events.events[1].detail == ""
