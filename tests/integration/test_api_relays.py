"""Relays and offline opening over a real gRPC server and a real Redis: relay keys, results
reported back (genuine, forged, twice), revocation epochs and notices, offline tokens (bound to
the device key, accepted by the reference relay logic, revoked through the epoch)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
import redis
from nacl.signing import SigningKey

from authority.adapters.crypto.keyring import verification_keys_from_jwks
from authority.adapters.redis.event_buffer import stream_key
from authority.cli.main import main
from authority.client.accesslog import AccessLogClient, EventQuery
from authority.client.authority import AuthorityClient
from authority.v1 import authority_pb2 as pb
from doorkey_wire.cwt import decode_unverified, sign_payload, verify_payload, verify_token
from doorkey_wire.protocol import (
    EpochNotice,
    Outcome,
    RejectReason,
    ResultBody,
    Submission,
    device_proof_message,
    result_kid,
)
from relay_bridge.relay.logic import RelayConfig, RelayLogic
from tests.conftest import ServerHandle
from tests.support.world import CVR, holder_app

OFFLINE_TTL = 12 * 3600


def code_and_details(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details() or ""  # type: ignore[attr-defined]


@dataclass
class Scene:
    server: ServerHandle
    org: AuthorityClient
    org_id: str
    site_id: str
    door_id: str
    relay_id: str
    relay_key: SigningKey
    holder: AuthorityClient
    holder_id: str
    grant_id: str

    def keys(self) -> dict[bytes, Any]:
        return verification_keys_from_jwks(
            json.loads(self.server.admin.verification_keys().jwks_json)
        )


def build_scene(
    server: ServerHandle,
    *,
    offline_allowed: bool = True,
    door_id: str = "door-1",
    register_relay_key: bool = True,
) -> Scene:
    admin = server.admin
    created = admin.create_organisation(name="Hjemmeplejen", cvr=CVR, purpose=pb.PURPOSE_POSTAL)
    org_id = created.organisation.organisation_id
    admin.set_organisation_status(org_id, pb.ORGANISATION_STATUS_APPROVED)
    org = admin.with_credential(created.api_credential)
    site = admin.create_site(
        address="Jagtvej 1", owner_id="kommune-1", offline_allowed=offline_allowed
    )
    relay_id, relay_key = f"relay-{door_id}", SigningKey.generate()
    admin.create_door(
        door_id=door_id,
        site_id=site.site_id,
        relay_id=relay_id,
        relay_public_key=bytes(relay_key.verify_key) if register_relay_key else b"",
    )
    h = org.create_key_holder()
    holder = holder_app(admin, h.key_holder.key_holder_id)
    grant = org.issue_grant(
        key_holder_id=h.key_holder.key_holder_id,
        site_id=site.site_id,
        valid_until=datetime.now(UTC) + timedelta(days=30),
    )
    return Scene(
        server, org, org_id, site.site_id, door_id, relay_id, relay_key, holder,
        h.key_holder.key_holder_id, grant.grant_id,
    )  # fmt: skip


def signed_result(
    scene: Scene,
    *,
    outcome: Outcome = Outcome.OPENED,
    reason: RejectReason = RejectReason.NONE,
    token_id: bytes = b"\x11" * 16,
    relay_id: str | None = None,
    key: SigningKey | None = None,
    kid: bytes | None = None,
    epoch: int = 0,
) -> bytes:
    body = ResultBody(
        relay_id=relay_id or scene.relay_id, nonce=os.urandom(16), outcome=outcome,
        reason=reason, token_id=token_id, subject=scene.holder_id,
        relay_time=int(time.time()), epoch=epoch,
    )  # fmt: skip
    return sign_payload(
        body.encode(), key=key or scene.relay_key, kid=kid or result_kid(scene.relay_id)
    )


def hold_shippers_off(server: ServerHandle) -> redis.Redis:
    """Keep every shard's shipper away (another 'holds' its lease) so the buffer keeps what we
    read."""
    core = server.running.process.core
    client = redis.Redis.from_url(core.settings.redis_url or "")
    for shard in range(core.settings.event_shards):
        client.set(f"{{log:{shard}}}:lease", "elsewhere", px=60_000)
    return client


def buffered_events(
    server: ServerHandle, client: redis.Redis, **match: str
) -> list[dict[str, Any]]:
    out = []
    for shard in range(server.running.process.settings.event_shards):
        for _, fields in client.xrange(stream_key(shard)):
            e = json.loads(fields[b"e"])
            if all(e.get(k) == v for k, v in match.items()):
                out.append(e)
    return sorted(out, key=lambda e: e["ts_ms"])


# -- relay keys ----------------------------------------------------------------------------------


def test_relay_keys_are_registered_with_the_door_and_replaced(server: ServerHandle) -> None:
    logs = hold_shippers_off(server)
    s = build_scene(server, register_relay_key=False)
    admin = server.admin
    assert admin.get_door(s.door_id).relay_public_key == b""
    code, details = code_and_details(
        lambda: admin.create_door(
            door_id="door-bad", site_id=s.site_id, relay_id="r", relay_public_key=b"\x01" * 31
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "relay_public_key" in details
    assert "32 bytes" in details
    first = SigningKey.generate()
    door = admin.set_door_relay_key(s.door_id, bytes(first.verify_key))
    assert (door.relay_public_key, door.relay_id) == (bytes(first.verify_key), s.relay_id)
    assert admin.get_door(s.door_id).relay_public_key == bytes(first.verify_key)
    # the relay is replaced by one with another identity
    second = SigningKey.generate()
    door = admin.set_door_relay_key(s.door_id, bytes(second.verify_key), relay_id="relay-new")
    assert (door.relay_public_key, door.relay_id) == (bytes(second.verify_key), "relay-new")
    assert s.holder.request_unlock(s.door_id).relay_id == "relay-new"  # tokens follow at once
    code, details = code_and_details(lambda: admin.set_door_relay_key(s.door_id, b"short"))
    assert (code, "relay_public_key" in details) == (grpc.StatusCode.INVALID_ARGUMENT, True)
    assert code_and_details(lambda: admin.set_door_relay_key("door-none", b"\x01" * 32))[0] == (
        grpc.StatusCode.NOT_FOUND
    )
    assert code_and_details(lambda: s.org.set_door_relay_key(s.door_id, b"\x01" * 32))[0] == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    changes = buffered_events(server, logs, action="door.relay_key")
    assert [(e["door_id"], e["relay_id"], e["actor_role"]) for e in changes] == [
        (s.door_id, s.relay_id, "admin"),
        (s.door_id, "relay-new", "admin"),
    ]
    assert json.loads(changes[1]["detail"])["replaced_relay_id"] == s.relay_id


# -- results reported back -----------------------------------------------------------------------


def test_a_genuine_result_is_logged_once_however_often_reported(server: ServerHandle) -> None:
    logs = hold_shippers_off(server)
    s = build_scene(server)
    signed = signed_result(s, outcome=Outcome.REJECTED, reason=RejectReason.REPLAYED)
    first = s.holder.report_relay_outcome(s.door_id, signed)  # the app, after the door
    assert first.outcome == pb.RELAY_OUTCOME_REJECTED
    assert first.reason == "replayed"
    assert (first.relay_id, first.key_holder_id) == (s.relay_id, s.holder_id)
    assert first.token_id == "11" * 16
    assert not first.already_reported
    # a bridge's retry, and another caller reporting the same result: the same event, once
    again = s.holder.report_relay_outcome(s.door_id, signed)
    by_org = s.org.report_relay_outcome(s.door_id, signed)
    assert again.already_reported
    assert by_org.already_reported
    assert again.event_id == by_org.event_id == first.event_id
    opened = s.org.report_relay_outcome(s.door_id, signed_result(s))
    assert (opened.outcome, opened.reason, opened.already_reported) == (
        pb.RELAY_OUTCOME_OPENED, "", False,
    )  # fmt: skip
    events = buffered_events(server, logs, kind="relay")
    assert [(e["outcome"], e["reason"]) for e in events] == [
        ("rejected", "replayed"), ("opened", ""),
    ]  # fmt: skip
    rejected = events[0]
    assert rejected["event_id"] == first.event_id
    assert rejected["action"] == "relay_result"
    assert (rejected["door_id"], rejected["site_id"], rejected["relay_id"]) == (
        s.door_id, s.site_id, s.relay_id,
    )  # fmt: skip
    assert (rejected["holder_id"], rejected["organisation_id"]) == (s.holder_id, s.org_id)
    assert rejected["token_id"] == "11" * 16
    assert (rejected["actor_role"], rejected["actor_id"]) == ("key_holder", s.holder_id)
    assert events[1]["actor_role"] == "organisation"


def test_forged_results_are_refused_and_logged(server: ServerHandle) -> None:
    logs = hold_shippers_off(server)
    s = build_scene(server)
    genuine = signed_result(s)
    altered = bytearray(genuine)
    altered[-70] ^= 0x01  # a byte of the payload (the signature is the last 64 bytes)
    cases: list[tuple[bytes, grpc.StatusCode, str]] = [
        (signed_result(s, key=SigningKey.generate()), grpc.StatusCode.PERMISSION_DENIED,
         "bad_signature"),
        (bytes(altered), grpc.StatusCode.PERMISSION_DENIED, "bad_signature"),
        (signed_result(s, kid=b"relay-elsewhere"), grpc.StatusCode.PERMISSION_DENIED,
         "unknown_key"),
        (b"\xd2\x84garbage", grpc.StatusCode.INVALID_ARGUMENT, "malformed"),
        (sign_payload(b"\xa1\x01\x02", key=s.relay_key, kid=result_kid(s.relay_id)),
         grpc.StatusCode.INVALID_ARGUMENT, "malformed"),
        (signed_result(s, relay_id="relay-other"), grpc.StatusCode.INVALID_ARGUMENT,
         "relay_mismatch"),
    ]  # fmt: skip
    for signed, code, _ in cases:
        got, details = code_and_details(
            lambda b=signed: s.holder.report_relay_outcome(s.door_id, b)
        )  # type: ignore[misc]
        assert got == code, details
        assert "forged" in details
    forged = buffered_events(server, logs, kind="relay", outcome="forged")
    assert [e["reason"] for e in forged] == [reason for _, _, reason in cases]
    assert all(e["door_id"] == s.door_id and e["actor_id"] == s.holder_id for e in forged)
    assert buffered_events(server, logs, kind="relay", outcome="opened") == []


def test_reports_need_a_known_door_with_a_relay_key_and_a_caller(server: ServerHandle) -> None:
    s = build_scene(server)
    keyless = build_scene(server, door_id="door-keyless", register_relay_key=False)
    signed = signed_result(s)
    code, details = code_and_details(lambda: s.holder.report_relay_outcome("door-none", signed))
    assert code == grpc.StatusCode.NOT_FOUND
    code, details = code_and_details(lambda: s.holder.report_relay_outcome(keyless.door_id, signed))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "SetDoorRelayKey" in details
    assert code_and_details(lambda: s.holder.report_relay_outcome(s.door_id, b""))[0] == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    nobody = server.client()
    assert code_and_details(lambda: nobody.report_relay_outcome(s.door_id, signed))[0] == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    assert code_and_details(lambda: nobody.revocation_notice(s.door_id))[0] == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    # the admin may report too (an operator's tool): any authenticated caller
    assert server.admin.report_relay_outcome(s.door_id, signed).outcome == pb.RELAY_OUTCOME_OPENED


# -- offline tokens ------------------------------------------------------------------------------


def test_offline_tokens_only_for_offline_sites_and_registered_devices(
    server: ServerHandle,
) -> None:
    logs = hold_shippers_off(server)
    s = build_scene(server)
    online = build_scene(server, offline_allowed=False, door_id="door-online")
    code, details = code_and_details(lambda: s.holder.request_unlock(s.door_id, offline=True))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "RegisterDeviceKey" in details
    device = SigningKey.generate()
    assert code_and_details(lambda: s.org.register_device_key(bytes(device.verify_key)))[0] == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    code, details = code_and_details(lambda: s.holder.register_device_key(b"\x01" * 33))
    assert (code, "device_public_key" in details) == (grpc.StatusCode.INVALID_ARGUMENT, True)
    registered = s.holder.register_device_key(bytes(device.verify_key))
    assert (registered.key_holder_id, registered.replaced) == (s.holder_id, False)
    assert code_and_details(
        lambda: s.holder.request_unlock(s.door_id, os.urandom(16), offline=True)
    )[0] == (grpc.StatusCode.INVALID_ARGUMENT)

    resp = s.holder.request_unlock(s.door_id, offline=True)
    assert (resp.decision, resp.reason) == (pb.DECISION_ALLOW, pb.DECISION_REASON_GRANTED)
    now = int(time.time())
    claims = verify_token(
        resp.token, keys=s.keys(), audience=s.relay_id, now=now + OFFLINE_TTL - 60, nonce=None,
        issuer="authority",
    )  # fmt: skip  # still valid hours later: it is meant for when the network is gone
    assert claims.confirmation_key == bytes(device.verify_key)
    assert claims.cnonce is None
    assert claims.expires_at - claims.issued_at == OFFLINE_TTL
    assert claims.revocation_epoch == resp.revocation_epoch == 0
    assert resp.expires_at.seconds == claims.expires_at
    assert len(resp.token) <= 300

    # the same holder at a site whose owner does not allow offline opening: DENY, logged
    other_device = SigningKey.generate()
    online.holder.register_device_key(bytes(other_device.verify_key))
    refused = online.holder.request_unlock(online.door_id, offline=True)
    assert (refused.decision, refused.reason, refused.token) == (
        pb.DECISION_DENY, pb.DECISION_REASON_OFFLINE_NOT_ALLOWED, b"",
    )  # fmt: skip
    normal = online.holder.request_unlock(online.door_id, os.urandom(16))
    assert normal.decision == pb.DECISION_ALLOW
    assert decode_unverified(normal.token)[1].confirmation_key is None
    assert decode_unverified(normal.token)[1].expires_at - int(time.time()) <= 61
    decisions = buffered_events(server, logs, kind="unlock")
    offline_logged = [e for e in decisions if e["detail"]]
    assert [(e["outcome"], e["reason"]) for e in offline_logged] == [
        ("allow", "granted"), ("deny", "offline_not_allowed"),
    ]  # fmt: skip
    assert all(json.loads(e["detail"])["offline"] is True for e in offline_logged)
    assert offline_logged[0]["token_id"] == claims.token_id.hex()


# -- revocation epochs ---------------------------------------------------------------------------


def test_revocations_raise_the_epoch_of_offline_sites_only(server: ServerHandle) -> None:
    s = build_scene(server)
    online = build_scene(server, offline_allowed=False, door_id="door-online")
    admin = server.admin
    device = SigningKey.generate()
    s.holder.register_device_key(bytes(device.verify_key))

    def epoch() -> int:
        return admin.get_site(s.site_id).revocation_epoch

    until = datetime.now(UTC) + timedelta(days=3)
    # a door grant for the offline site's door, revoked: the site's epoch rises
    door_grant = s.org.issue_grant(key_holder_id=s.holder_id, door_id=s.door_id, valid_until=until)
    s.org.revoke_grant(door_grant.grant_id)
    assert epoch() == 1
    token = s.holder.request_unlock(s.door_id, offline=True)
    assert decode_unverified(token.token)[1].revocation_epoch == token.revocation_epoch == 1
    online_token = s.holder.request_unlock(s.door_id)  # online tokens carry it too
    assert decode_unverified(online_token.token)[1].revocation_epoch == 1
    # the holder suspended (phone lost): raised again
    s.org.set_key_holder_status(s.holder_id, pb.KEY_HOLDER_STATUS_SUSPENDED)
    assert epoch() == 2
    s.org.set_key_holder_status(s.holder_id, pb.KEY_HOLDER_STATUS_ACTIVE)
    assert epoch() == 2  # reactivating revokes nothing
    # a new device registered: tokens bound to the old one must die
    assert s.holder.register_device_key(bytes(SigningKey.generate().verify_key)).replaced
    assert epoch() == 3
    assert s.holder.request_unlock(s.door_id, offline=True).revocation_epoch == 3
    # the notice for the relay says 3, signed with the token keys
    notice = s.holder.revocation_notice(s.door_id)
    kid, payload = verify_payload(notice.notice, keys=s.keys())
    assert kid == server.running.process.core.keyring.active.kid
    assert EpochNotice.decode(payload) == EpochNotice(
        relay_id=s.relay_id, epoch=3, issued_at=notice.issued_at.seconds
    )
    assert (notice.relay_id, notice.epoch) == (s.relay_id, 3)
    assert abs(notice.issued_at.seconds - time.time()) < 60
    # the grant revoked at the online-only site: no epoch change (its tokens live a minute)
    online.org.revoke_grant(online.grant_id)
    online.org.set_key_holder_status(online.holder_id, pb.KEY_HOLDER_STATUS_SUSPENDED)
    assert admin.get_site(online.site_id).revocation_epoch == 0
    assert s.org.revoke_grant(s.grant_id).revoked_at.seconds > 0
    assert epoch() == 4


def test_offline_token_at_the_reference_relay_and_its_revocation(server: ServerHandle) -> None:
    """The offline story against relay_bridge's relay logic: the token opens with the device's
    proof; the relay's signed results are reported back; after a revocation the relay, once it
    has the notice, refuses tokens of the older epoch."""
    s = build_scene(server)
    device = SigningKey.generate()
    s.holder.register_device_key(bytes(device.verify_key))
    relay = RelayLogic(
        RelayConfig(relay_id=s.relay_id, trusted_keys=s.keys(), offline_allowed=True),
        relay_key=s.relay_key, clock=time.time,
    )  # fmt: skip

    def submit(token: bytes, session: str) -> bytes:
        nonce = relay.challenge(session).nonce
        proof = device.sign(device_proof_message(s.relay_id, nonce)).signature
        return relay.submit(session, Submission(token, proof).encode()).signed

    first = s.holder.request_unlock(s.door_id, offline=True)
    opened = s.holder.report_relay_outcome(s.door_id, submit(first.token, "phone-1"))
    assert (opened.outcome, opened.key_holder_id) == (pb.RELAY_OUTCOME_OPENED, s.holder_id)
    assert opened.token_id == first.token_id
    # another holder's grant at this site is revoked: the site's epoch rises; the relay has not
    # heard yet (the offline token opens again: it is reusable until it expires), and its next
    # result says so
    other = s.org.create_key_holder()
    grant = s.org.issue_grant(
        key_holder_id=other.key_holder.key_holder_id, site_id=s.site_id,
        valid_until=datetime.now(UTC) + timedelta(days=1),
    )  # fmt: skip
    s.org.revoke_grant(grant.grant_id)
    behind = s.holder.report_relay_outcome(s.door_id, submit(first.token, "phone-2"))
    assert behind.outcome == pb.RELAY_OUTCOME_OPENED
    assert (behind.relay_epoch, behind.site_epoch) == (0, 1)  # behind: deliver a notice
    relay.apply_epoch_notice(s.holder.revocation_notice(s.door_id).notice)
    assert relay.epoch == 1
    kept = s.holder.request_unlock(s.door_id, offline=True)  # epoch 1: the phone keeps it
    assert kept.revocation_epoch == 1
    # the phone is lost: the holder is suspended, the relay gets the notice, the token is dead
    s.org.set_key_holder_status(s.holder_id, pb.KEY_HOLDER_STATUS_SUSPENDED)
    relay.apply_epoch_notice(s.org.revocation_notice(s.door_id).notice)
    revoked = s.org.report_relay_outcome(s.door_id, submit(kept.token, "phone-3"))
    assert (revoked.outcome, revoked.reason) == (pb.RELAY_OUTCOME_REJECTED, "revoked")
    assert (revoked.relay_epoch, revoked.site_epoch) == (2, 2)
    assert relay.events[-1].outcome is Outcome.REJECTED


# -- the log, end to end -------------------------------------------------------------------------


def test_a_result_reported_twice_is_one_event_in_clickhouse(server: ServerHandle) -> None:
    s = build_scene(server)
    signed = signed_result(s)
    first = s.holder.report_relay_outcome(s.door_id, signed)
    s.org.report_relay_outcome(s.door_id, signed)
    s.holder.report_relay_outcome(s.door_id, signed)
    log = AccessLogClient(server.target, credential=server.admin_credential)
    try:
        now = datetime.now(UTC)
        query = EventQuery(
            start=now - timedelta(hours=1), end=now + timedelta(hours=1), kind="relay"
        )
        deadline = time.monotonic() + 60
        while not (events := list(log.iter_events(query))):
            assert time.monotonic() < deadline, "the relay event never reached ClickHouse"
            time.sleep(0.3)
        time.sleep(1.5)  # the duplicates, had they been buffered, would ship meanwhile
        events = list(log.iter_events(query))
    finally:
        log.close()
    assert [(e.event_id, e.outcome, e.key_holder_id) for e in events] == [  # type: ignore[attr-defined]
        (first.event_id, "opened", s.holder_id)
    ]


def test_cli_registers_and_replaces_relay_keys(
    server: ServerHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    s = build_scene(server, register_relay_key=False)
    common = ["--target", server.target, "--credential", server.admin_credential, "--json"]
    key = SigningKey.generate().verify_key
    assert main(["door", "create", "--door-id", "door-cli", "--site", s.site_id, "--relay",
                 "relay-cli", "--relay-public-key", bytes(key).hex(), *common]) == 0  # fmt: skip
    assert server.admin.get_door("door-cli").relay_public_key == bytes(key)
    replacement = SigningKey.generate().verify_key
    assert main(["door", "set-relay-key", "door-cli", "--relay-public-key",
                 bytes(replacement).hex(), "--relay", "relay-cli-2", *common]) == 0  # fmt: skip
    door = server.admin.get_door("door-cli")
    assert (door.relay_public_key, door.relay_id) == (bytes(replacement), "relay-cli-2")
    capsys.readouterr()
    assert main(["door", "set-relay-key", "door-cli", "--relay-public-key", "abcd", *common]) == 1
    assert "relay_public_key" in capsys.readouterr().out
    assert main(["relay", "notice", "--door", "door-cli", *common]) == 0
    notice = json.loads(capsys.readouterr().out)
    assert (notice["relay_id"], notice["epoch"]) == ("relay-cli-2", 0)
    verify_payload(bytes.fromhex(notice["notice_hex"]), keys=s.keys())
