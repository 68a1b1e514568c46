"""The API end to end: a real grpc.aio server over a real Redis, called with real gRPC clients."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import redis
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from authority.adapters.crypto.keyring import verification_keys_from_jwks
from authority.domain.schedule import WeeklyWindow
from authority.v1 import authority_pb2 as pb
from doorkey_wire.cwt import decode_unverified, verify_token
from tests.conftest import ServerHandle
from tests.support.world import CVR, bearer_of, build_world


def code_of(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    return info.value.code()  # type: ignore[no-any-return]


def test_unlock_allows_with_a_token_the_relay_verifies(server: ServerHandle) -> None:
    w = build_world(server.admin)
    challenge = os.urandom(16)
    resp = w.holder.request_unlock(w.door_id, challenge)
    assert resp.decision == pb.DECISION_ALLOW
    assert resp.reason == pb.DECISION_REASON_GRANTED
    assert resp.grant_id == w.grant_id
    assert resp.relay_id == w.relay_id
    assert len(resp.token) <= 200
    keys = verification_keys_from_jwks(json.loads(server.admin.verification_keys().jwks_json))
    claims = verify_token(
        resp.token, keys=keys, audience=w.relay_id, now=int(time.time()), nonce=challenge,
        issuer="authority",
    )  # fmt: skip
    assert claims.subject == w.holder_id
    assert claims.token_id.hex() == resp.token_id
    assert claims.expires_at == resp.expires_at.seconds == claims.issued_at + 60
    _, unverified = decode_unverified(resp.token)
    assert unverified == claims


def test_unlock_without_challenge_has_no_cnonce(server: ServerHandle) -> None:
    w = build_world(server.admin)
    resp = w.holder.request_unlock(w.door_id)
    assert resp.decision == pb.DECISION_ALLOW
    assert decode_unverified(resp.token)[1].cnonce is None


def test_deny_reasons_over_the_wire(server: ServerHandle) -> None:
    w = build_world(server.admin)
    unknown = w.holder.request_unlock("door-unknown")
    assert (unknown.decision, unknown.reason) == (pb.DECISION_DENY, pb.DECISION_REASON_DOOR_UNKNOWN)
    assert unknown.token == b""
    w.org.revoke_grant(w.grant_id)
    revoked = w.holder.request_unlock(w.door_id)
    assert (revoked.decision, revoked.reason) == (pb.DECISION_DENY, pb.DECISION_REASON_REVOKED)


def test_outside_schedule(server: ServerHandle) -> None:
    # A window that is never now: one minute, on a weekday that is not today in Copenhagen.
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    today = datetime.now(ZoneInfo("Europe/Copenhagen")).isoweekday()
    other_day = today % 7 + 1
    w = build_world(server.admin, windows=[WeeklyWindow(frozenset({other_day}), 0, 1)])
    resp = w.holder.request_unlock(w.door_id)
    assert (resp.decision, resp.reason) == (pb.DECISION_DENY, pb.DECISION_REASON_OUTSIDE_SCHEDULE)


def test_suspensions_are_effective_for_the_next_decision(server: ServerHandle) -> None:
    w = build_world(server.admin)
    assert w.holder.request_unlock(w.door_id).decision == pb.DECISION_ALLOW
    server.admin.set_organisation_status(w.org_id, pb.ORGANISATION_STATUS_SUSPENDED, "audit")
    assert w.holder.request_unlock(w.door_id).reason == pb.DECISION_REASON_ORGANISATION_SUSPENDED
    server.admin.set_organisation_status(w.org_id, pb.ORGANISATION_STATUS_APPROVED)
    assert w.holder.request_unlock(w.door_id).decision == pb.DECISION_ALLOW
    w.org.set_key_holder_status(w.holder_id, pb.KEY_HOLDER_STATUS_SUSPENDED)
    assert w.holder.request_unlock(w.door_id).reason == pb.DECISION_REASON_HOLDER_SUSPENDED


def test_unapproved_organisation_cannot_issue(server: ServerHandle) -> None:
    w = build_world(server.admin, approve=False)
    assert code_of(lambda: w.org.issue_grant(
        key_holder_id=w.holder_id, site_id=w.site_id,
        valid_until=datetime.now(UTC) + timedelta(days=1),
    )) == grpc.StatusCode.FAILED_PRECONDITION  # fmt: skip


def test_bad_input_gets_clear_errors(server: ServerHandle) -> None:
    w = build_world(server.admin)
    with pytest.raises(grpc.RpcError) as info:
        w.holder.request_unlock("no spaces allowed")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "door_id" in (info.value.details() or "")
    assert (
        code_of(lambda: w.holder.request_unlock(w.door_id, b"short"))
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    with pytest.raises(grpc.RpcError) as info:
        server.admin.create_organisation(name="X", cvr="12345678", purpose=pb.PURPOSE_POSTAL)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "modulus-11" in (info.value.details() or "")
    assert code_of(
        lambda: server.admin.create_organisation(name="X", purpose=pb.PURPOSE_POSTAL)
    ) == (grpc.StatusCode.INVALID_ARGUMENT)
    assert code_of(lambda: server.admin.create_organisation(name="X", cvr=CVR)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    assert code_of(
        lambda: server.admin.create_door(door_id="d-x", site_id="site_missing", relay_id="r")
    ) == (grpc.StatusCode.NOT_FOUND)
    assert code_of(
        lambda: server.admin.create_door(door_id=w.door_id, site_id=w.site_id, relay_id="r")
    ) == (grpc.StatusCode.ALREADY_EXISTS)
    assert code_of(
        lambda: server.admin.create_site(address="A", owner_id="o", time_zone="Mars/Olympus")
    ) == (grpc.StatusCode.INVALID_ARGUMENT)
    until = datetime.now(UTC) + timedelta(days=1)
    assert (
        code_of(
            lambda: w.org.issue_grant(
                key_holder_id=w.holder_id, door_id=w.door_id, site_id=w.site_id, valid_until=until
            )
        )
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    assert code_of(
        lambda: w.org.issue_grant(
            key_holder_id=w.holder_id,
            door_id=w.door_id,
            valid_from=until,
            valid_until=until - timedelta(hours=1),
        )
    ) == (grpc.StatusCode.INVALID_ARGUMENT)
    bad_window = pb.IssueGrantRequest(
        key_holder_id=w.holder_id, door_id=w.door_id,
        windows=[pb.ScheduleWindow(days=[pb.WEEKDAY_MONDAY], start_minute=2000, end_minute=10)],
    )  # fmt: skip
    bad_window.valid_until.FromDatetime(until)
    with pytest.raises(grpc.RpcError) as info:
        w.org.grants.IssueGrant(bad_window, metadata=w.org._metadata)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "windows[0]" in (info.value.details() or "")
    assert code_of(lambda: w.org.revoke_grant("gr_missing")) == grpc.StatusCode.NOT_FOUND
    # nothing half-written: the holder still has exactly the one grant
    assert [g.grant_id for g in w.org.list_grants(w.holder_id).grants] == [w.grant_id]


def test_authentication_and_tenancy(server: ServerHandle) -> None:
    a = build_world(server.admin, door_id="door-a")
    b = build_world(server.admin, door_id="door-b")
    nobody = server.client()
    assert code_of(lambda: nobody.request_unlock(a.door_id)) == grpc.StatusCode.UNAUTHENTICATED
    forged = server.client(a.holder_id + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert code_of(lambda: forged.request_unlock(a.door_id)) == grpc.StatusCode.UNAUTHENTICATED
    assert (
        code_of(lambda: server.client("garbage").request_unlock(a.door_id))
        == grpc.StatusCode.UNAUTHENTICATED
    )
    # an organisation cannot do admin work, nor touch another tenant (which looks like absence)
    assert (
        code_of(lambda: a.org.create_site(address="x", owner_id="y"))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    assert code_of(lambda: a.org.revoke_grant(b.grant_id)) == grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: a.org.list_grants(b.holder_id)) == grpc.StatusCode.NOT_FOUND
    assert code_of(
        lambda: a.org.set_key_holder_status(b.holder_id, pb.KEY_HOLDER_STATUS_SUSPENDED)
    ) == (grpc.StatusCode.NOT_FOUND)
    assert code_of(
        lambda: a.org.issue_grant(
            key_holder_id=b.holder_id,
            door_id=a.door_id,
            valid_until=datetime.now(UTC) + timedelta(days=1),
        )
    ) == (grpc.StatusCode.NOT_FOUND)
    assert code_of(lambda: a.org.create_key_holder(b.org_id)) == grpc.StatusCode.NOT_FOUND
    # a key holder cannot issue keys; an admin key cannot open doors
    assert code_of(a.holder.create_key_holder) == grpc.StatusCode.PERMISSION_DENIED
    assert (
        code_of(lambda: server.admin.request_unlock(a.door_id)) == grpc.StatusCode.PERMISSION_DENIED
    )
    # b's grants were untouched by a's attempts
    assert b.holder.request_unlock(b.door_id).decision == pb.DECISION_ALLOW


def test_health_reflection_and_deadlines(server: ServerHandle) -> None:
    assert server.admin.check_health() == health_pb2.HealthCheckResponse.SERVING
    assert (
        server.admin.check_health("authority.v1.UnlockService")
        == health_pb2.HealthCheckResponse.SERVING
    )
    stub = reflection_pb2_grpc.ServerReflectionStub(server.admin.channel)
    reply = next(
        stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    )
    names = {s.name for s in reply.list_services_response.service}
    assert {
        "authority.v1.UnlockService",
        "authority.v1.GrantService",
        "grpc.health.v1.Health",
    } <= names
    w = build_world(server.admin)
    # Redis stalls (CLIENT PAUSE): the caller's deadline passes while the handler awaits it.
    redis.Redis.from_url(server.running.process.settings.redis_url or "").client_pause(800)
    with pytest.raises(grpc.RpcError) as info:
        w.holder.unlock_stub.RequestUnlock(
            pb.RequestUnlockRequest(door_id=w.door_id), metadata=w.holder._metadata, timeout=0.2
        )
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    time.sleep(0.7)
    assert w.holder.request_unlock(w.door_id).decision == pb.DECISION_ALLOW


def test_the_edge_counts_unlock_calls_in_progress(server: ServerHandle) -> None:
    """What the unlock round trip lingers on: calls are counted while they run, refused and
    failed ones included, and none is left counted once all have answered."""
    w = build_world(server.admin)
    calls = server.running.process.core.unlock_calls
    seen: list[int] = []
    done = threading.Event()

    async def watch() -> None:
        while not done.is_set():
            seen.append(calls.count)
            await asyncio.sleep(0.0005)

    watching = asyncio.run_coroutine_threadsafe(watch(), server.loop)
    stub = w.holder.unlock_stub
    futures = [
        stub.RequestUnlock.future(
            pb.RequestUnlockRequest(door_id=door, relay_challenge=os.urandom(16)),
            metadata=w.holder._metadata,
        )
        for door in [w.door_id] * 20 + ["door-unknown"] * 5 + ["bad id!"] * 5
    ]
    outcomes = []
    for f in futures:
        try:
            outcomes.append(f.result().decision)
        except grpc.RpcError as exc:
            outcomes.append(exc.code())  # type: ignore[attr-defined]
    done.set()
    watching.result(5)
    assert outcomes.count(pb.DECISION_ALLOW) == 20
    assert outcomes.count(pb.DECISION_DENY) == 5
    assert outcomes.count(grpc.StatusCode.INVALID_ARGUMENT) == 5
    assert max(seen) >= 1
    assert calls.count == 0


def test_key_holder_may_list_own_grants(server: ServerHandle) -> None:
    w = build_world(server.admin)
    assert [g.grant_id for g in w.holder.list_grants(w.holder_id).grants] == [w.grant_id]


def test_every_action_decision_and_lookup_is_buffered_for_the_log(server: ServerHandle) -> None:
    core = server.running.process.core
    client = redis.Redis.from_url(core.settings.redis_url or "")
    # Keep this shard's shipper away (another holds its lease) so the buffer keeps what we read.
    client.set(core.events.key.replace(":events", ":lease"), "elsewhere", px=60_000)
    w = build_world(server.admin)
    w.holder.request_unlock(w.door_id)
    w.holder.request_unlock("door-unknown")
    w.org.list_grants(w.holder_id)
    entries = client.xrange(core.events.key)
    events = [json.loads(fields[b"e"]) for _, fields in entries]
    actions = [(e["kind"], e["action"], e["outcome"]) for e in events]
    assert actions == [
        ("admin", "organisation.create", "ok"),
        ("admin", "organisation.approved", "ok"),
        ("admin", "site.create", "ok"),
        ("admin", "door.create", "ok"),
        ("admin", "holder.create", "ok"),
        ("admin", "grant.issue", "ok"),
        ("admin", "holder.activation", "ok"),  # the app enrols and logs in
        ("admin", "auth.activate", "ok"),
        ("admin", "auth.login", "ok"),
        ("unlock", "unlock", "allow"),
        ("unlock", "unlock", "deny"),
        ("lookup", "grants.list", "ok"),
    ]
    allow = events[9]
    assert allow["holder_id"] == w.holder_id
    assert allow["door_id"] == w.door_id
    assert allow["grant_id"] == w.grant_id
    assert allow["organisation_id"] == w.org_id
    assert allow["relay_id"] == w.relay_id
    assert len(allow["token_id"]) == 32
    assert events[10]["reason"] == "door_unknown"
    # pseudonyms only: nothing in any event looks like a name, a phone number or a credential
    raw = b"".join(fields[b"e"] for _, fields in entries).decode()
    assert "Nørrebrogade" not in raw
    assert "PostNord" not in raw
    assert server.admin_credential.split(".")[1] not in raw
    assert bearer_of(w.holder).split(".")[1] not in raw  # the app's session secret
