"""The long-lived site-owner and analyst credentials (``own_…``, ``ana_…``) are retired: one that
the old server issued and stored, with its right secret, is refused UNAUTHENTICATED on every
service it once reached, with a message that says what to do instead (log in with a staff
account); the same site owner and analyst, as staff accounts, log in and are served."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from authority.adapters.redis.redis_store import RedisStore
from authority.client.accesslog import AccessLogClient, EventQuery
from authority.domain.credentials import READER_LOGIN_REQUIRED, Principal, Role, new_credential
from authority.domain.model import new_id
from authority.v1 import identity_pb2 as ipb
from tests.conftest import ServerHandle
from tests.security.conftest import serve_module
from tests.support.world import World, build_world, staff_login


@pytest.fixture(scope="module")
def handle(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    yield from serve_module(redis_server, tmp_path_factory)


def stored_as_the_old_server_did(redis_url: str, principal: Principal) -> str:
    """A credential as CreateSiteOwnerCredential / CreateAnalystCredential made it: the digest of
    its secret and its principal in the credential store, written by the Redis adapter."""
    credential, digest = new_credential(principal.credential_id)

    async def put() -> None:
        store = RedisStore.from_url(redis_url)
        try:
            await store.put_credential(principal.credential_id, digest, principal.to_json())
        finally:
            await store.close()

    asyncio.run(put())
    return credential


def week() -> EventQuery:
    now = datetime.now(UTC)
    return EventQuery(start=now - timedelta(days=7), end=now)


def answers(handle: ServerHandle, w: World, credential: str) -> list[tuple[Any, str]]:
    """What site owners and analysts did with their credentials, and an unlock: each call's
    status code and message."""
    log = AccessLogClient(handle.target, credential=credential)
    app = handle.client(credential)
    calls: list[Callable[[], object]] = [
        lambda: list(log.iter_events(week())),
        lambda: log.aggregate(week(), "denial-reasons"),
        log.list_requests,
        lambda: log.site_organisations(w.site_id),
        lambda: app.set_site_organisation_blocked(w.site_id, w.org_id, blocked=True),
        lambda: app.request_unlock(w.door_id, b"c" * 16),
    ]
    out: list[tuple[Any, str]] = []
    try:
        for call in calls:
            try:
                call()
            except grpc.RpcError as e:
                err: Any = e
                out.append((err.code(), err.details()))
            else:
                out.append((grpc.StatusCode.OK, ""))
    finally:
        log.close()
        app.close()
    return out


def test_stored_reader_credentials_are_refused_and_staff_accounts_log_in(
    handle: ServerHandle, redis_server: str
) -> None:
    w = build_world(handle.admin, door_id=f"door-{secrets.token_hex(3)}")
    owner_id = handle.admin.get_site(w.site_id).owner_id
    retired = [
        Principal(role=Role.SITE_OWNER, credential_id=new_id("own"), owner_id=owner_id),
        Principal(role=Role.ANALYST, credential_id=new_id("ana"), organisation_id=w.org_id),
        Principal(role=Role.ANALYST, credential_id=new_id("ana")),  # an operator analyst
    ]
    for principal in retired:
        credential = stored_as_the_old_server_did(redis_server, principal)
        assert (
            answers(handle, w, credential)
            == [(grpc.StatusCode.UNAUTHENTICATED, READER_LOGIN_REQUIRED)] * 6
        ), principal
    assert "retired" in READER_LOGIN_REQUIRED
    assert "IdentityService.Login" in READER_LOGIN_REQUIRED
    assert handle.admin.get_site(w.site_id).blocked_organisation_ids == []

    # The same readers as staff accounts: they log in and are served.
    tag = secrets.token_hex(3)
    owner_session = staff_login(
        handle.admin, f"owner-{tag}", ipb.ACCOUNT_ROLE_SITE_OWNER, owner_id=owner_id
    )
    analyst_session = staff_login(
        handle.admin, f"analyst-{tag}", ipb.ACCOUNT_ROLE_ANALYST, organisation_id=w.org_id
    )
    owner = handle.client(owner_session)
    owner_log = AccessLogClient(handle.target, credential=owner_session)
    analyst_log = AccessLogClient(handle.target, credential=analyst_session)
    try:
        assert owner_log.list_requests() == []
        site = owner.set_site_organisation_blocked(w.site_id, w.org_id, blocked=True)
        assert list(site.blocked_organisation_ids) == [w.org_id]
        assert list(analyst_log.iter_events(week())) == []  # nothing shipped: served, empty
    finally:
        owner.close()
        owner_log.close()
        analyst_log.close()
