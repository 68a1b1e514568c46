"""Nothing long-lived reaches a phone: CreateKeyHolder returns no credential, a long-lived one
is refused everywhere (even one whose digest the holder's record keeps), the retired switch
that once allowed them stops a server from starting, and the app logs in instead."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import grpc
import pytest
import redis

from authority.domain.credentials import digest
from authority.domain.errors import InvalidArgument
from authority.process.config import Settings
from authority.v1 import authority_pb2 as pb
from tests.conftest import ServerHandle
from tests.security.conftest import serve_module
from tests.support.world import build_world


@pytest.fixture(scope="module")
def handle(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    yield from serve_module(redis_server, tmp_path_factory)


def test_apps_only_log_in(handle: ServerHandle) -> None:
    w = build_world(handle.admin, door_id=f"door-{secrets.token_hex(3)}")
    made = w.org.create_key_holder()
    assert made.holder_credential == ""  # nothing long-lived to hand to a phone
    session = w.org.app_login(w.holder_id, "the app's password 1")
    app = handle.admin.with_credential(session.access_credential)
    assert app.request_unlock(w.door_id, b"c" * 16).decision == pb.DECISION_ALLOW
    # A long-lived credential is refused, even one the holder's record has the digest of.
    secret = "A" * 43
    settings = handle.running.process.settings
    redis.Redis.from_url(settings.redis_url or "").hset(
        f"h:{{{w.holder_id}}}", "cred", digest(secret)
    )
    long_lived = handle.admin.with_credential(f"{w.holder_id}.{secret}")
    for call in (
        lambda: long_lived.request_unlock(w.door_id, b"c" * 16),
        lambda: long_lived.list_grants(w.holder_id),
    ):
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert "Login" in (info.value.details() or "")  # type: ignore[attr-defined]


def test_the_retired_switch_stops_a_server_from_starting() -> None:
    with pytest.raises(InvalidArgument, match="AUTHORITY_HOLDER_APP_CREDENTIALS is retired"):
        Settings.load({"AUTHORITY_HOLDER_APP_CREDENTIALS": "true"})
    Settings.load({"AUTHORITY_HOLDER_APP_CREDENTIALS": "false"})  # off: what it is anyway
