"""The identity store on a single Redis and on a 3-node Redis Cluster: every operation touches
one hash slot (accounts, login state, activation codes, sessions in the holder's own hash)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from authority.adapters.redis.identity_store import RedisIdentityStore
from authority.adapters.redis.redis_store import RedisStore
from authority.domain.credentials import (
    Principal,
    Role,
    digest,
    new_session_secrets,
    session_entry,
)
from authority.domain.login import LoginPolicy, LoginState
from authority.domain.model import HolderStatus, KeyHolder, new_id

NOW = 1_800_000_000


@pytest.fixture(params=["redis", "cluster"])
async def stores(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[RedisStore, RedisIdentityStore]]:
    url = request.getfixturevalue("cluster_url" if request.param == "cluster" else "redis_url")
    store = RedisStore.from_url(url)
    yield store, RedisIdentityStore(store)
    await store.close()


async def test_accounts_logins_and_activation(
    stores: tuple[RedisStore, RedisIdentityStore],
) -> None:
    _, ids = stores
    account = Principal(role=Role.ANALYST, credential_id=new_id("acc"), organisation_id="org_1")
    assert await ids.create_account(account.credential_id, "nlogin", account.to_json())
    assert not await ids.create_account(new_id("acc"), "nlogin", account.to_json())  # taken
    found = await ids.get_account(account.credential_id)
    assert found is not None
    assert Principal.from_json(account.credential_id, found.principal) == account
    assert (found.login, found.disabled) == ("nlogin", False)
    await ids.set_account_disabled(account.credential_id, True)
    disabled = await ids.get_account(account.credential_id)
    assert disabled is not None
    assert disabled.disabled
    code = digest("CODE1234567890ABCDEF").hex()
    await ids.put_activation(code, account.credential_id, "nlogin", 60)
    assert await ids.take_activation(code) == (account.credential_id, "nlogin")
    assert await ids.take_activation(code) is None  # one-time
    await ids.set_password("nlogin", account.credential_id, "hash", "SECRET")
    assert await ids.use_totp_step("nlogin", 100)
    assert not await ids.use_totp_step("nlogin", 100)  # no replay
    assert not await ids.use_totp_step("nlogin", 99)
    await ids.put_login_state("nlogin", LoginState(2, 0), forget_after=60)
    record = await ids.get_login("nlogin")
    assert (record["fails"], record["sub"]) == (b"2", account.credential_id.encode())
    await ids.put_policy("org:org_1", LoginPolicy(max_failed_logins=5, lockout_seconds=60))
    assert await ids.get_policy("org:org_1") == LoginPolicy(5, 60, False)
    assert await ids.get_policy("org:org_2") is None


async def test_holder_sessions_live_in_the_holder_hash(
    stores: tuple[RedisStore, RedisIdentityStore],
) -> None:
    store, ids = stores
    holder = KeyHolder(
        key_holder_id=new_id("kh"), organisation_id="org_1", status=HolderStatus.ACTIVE,
        created_at=datetime.fromtimestamp(NOW, UTC),
    )  # fmt: skip
    await store.create_holder(holder, digest("app"))
    hid = holder.key_holder_id
    assert not await ids.put_session("kh_nobody", "s1", b"a", b"r")  # no such holder
    first = new_session_secrets(hid)
    access = session_entry(NOW + 900, first.access_digest)
    refresh = session_entry(NOW + 86400, first.refresh_digest)
    assert await ids.put_session(hid, first.session_id, access, refresh)
    # The unlock path's read: the session entry in the same HMGET as status and grants.
    snap = await store.read_snapshot(hid, "door-1", None, f"a:{first.session_id}")
    assert snap is not None
    assert snap.credential_digest == access
    renewed = new_session_secrets(hid, first.session_id)
    new_refresh = session_entry(NOW + 86400, renewed.refresh_digest)
    new_access = session_entry(NOW + 900, renewed.access_digest)
    assert not await ids.rotate_session(
        hid, first.session_id, expected_refresh=new_refresh, access_entry=new_access,
        refresh_entry=new_refresh,
    )  # fmt: skip
    assert await ids.rotate_session(
        hid, first.session_id, expected_refresh=refresh, access_entry=new_access,
        refresh_entry=new_refresh,
    )  # fmt: skip
    assert await ids.refresh_entry(hid, first.session_id) == new_refresh
    stale = new_session_secrets(hid)
    assert await ids.put_session(
        hid, stale.session_id, session_entry(NOW - 10, stale.access_digest),
        session_entry(NOW - 1, stale.refresh_digest),
    )  # fmt: skip
    assert await ids.end_sessions(hid, expired_before=NOW) == 1  # only the expired one
    assert await ids.refresh_entry(hid, first.session_id) == new_refresh
    assert await ids.end_session(hid, first.session_id)
    assert await ids.end_sessions(hid, expired_before=2**52) == 0
    assert (await store.get_holder(hid)) == holder  # the holder's record is untouched
