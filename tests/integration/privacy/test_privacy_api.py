"""The data subject's rights over the real gRPC API, on a real Redis and the embedded chDB."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
import redis

from authority.adapters.files.erasure_ledger import FileErasureLedger
from authority.cli.main import main
from authority.client.accesslog import AccessLogClient, EventQuery
from authority.client.authority import AuthorityClient
from authority.v1 import authority_pb2 as pb
from authority.v1 import privacy_pb2 as ppb
from tests.conftest import ServerHandle
from tests.support.world import World, build_world

NAME, PHONE, EMAIL = "Karen Blixen-Finecke", "+4520304050", "karen@example.dk"


def code_of(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details() or ""


def set_profile(client: AuthorityClient, holder_id: str, **fields: str) -> ppb.PersonProfile:
    return client.call(
        client.privacy.SetPersonProfile,
        ppb.SetPersonProfileRequest(key_holder_id=holder_id, profile=ppb.PersonProfile(**fields)),
    )


def get_profile(client: AuthorityClient, holder_id: str) -> ppb.PersonProfile:
    return client.call(
        client.privacy.GetPersonProfile, ppb.GetPersonProfileRequest(key_holder_id=holder_id)
    )


def export(client: AuthorityClient, holder_id: str) -> list[ppb.ExportPersonDataResponse]:
    return list(
        client.stream(
            client.privacy.ExportPersonData, ppb.ExportPersonDataRequest(key_holder_id=holder_id)
        )
    )


def erase(client: AuthorityClient, holder_id: str) -> ppb.RequestErasureResponse:
    return client.call(
        client.privacy.RequestErasure, ppb.RequestErasureRequest(key_holder_id=holder_id)
    )


def logged(server: ServerHandle, action: str, holder_id: str) -> list[object]:
    """The events with ``action`` about ``holder_id`` once they reached ClickHouse."""
    log = AccessLogClient(server.target, credential=server.admin_credential)
    now = datetime.now(UTC)
    query = EventQuery(start=now - timedelta(hours=1), end=now + timedelta(hours=1))
    try:
        deadline = time.monotonic() + 120  # a loaded machine ships slowly
        while True:
            found = [
                e
                for e in log.iter_events(query)
                if e.action == action and e.key_holder_id == holder_id  # type: ignore[attr-defined]
            ]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.3)
    finally:
        log.close()


@pytest.fixture
def world(server: ServerHandle) -> World:
    return build_world(server.admin)


def all_redis_bytes(redis_url: str) -> bytes:
    """Every key and value in Redis, as bytes (DUMP: the serialised value of any type)."""
    r = redis.Redis.from_url(redis_url)
    out = bytearray()
    for key in r.scan_iter(count=1000):
        out += key
        out += r.dump(key) or b""
    return bytes(out)


def test_the_profile_is_kept_apart_encrypted_and_only_for_those_who_may_see_it(
    server: ServerHandle, world: World, redis_url: str
) -> None:
    stored = set_profile(world.org, world.holder_id, name=NAME, phone="20 30 40 50", email=EMAIL)
    assert (stored.name, stored.phone, stored.email) == (NAME, PHONE, EMAIL)
    assert get_profile(world.holder, world.holder_id).name == NAME  # the person themself
    assert get_profile(server.admin, world.holder_id).phone == PHONE
    # nothing in Redis holds the name, phone or e-mail in clear: only ciphertext
    raw = all_redis_bytes(redis_url)
    for value in (NAME, PHONE, EMAIL, "20304050"):
        assert value.encode() not in raw
    # another organisation does not see the holder at all
    other = build_world(server.admin, door_id="door-2")
    assert code_of(lambda: get_profile(other.org, world.holder_id))[0] == grpc.StatusCode.NOT_FOUND
    # bad input names the field, never repeats the value
    code, message = code_of(lambda: set_profile(world.org, world.holder_id, phone="call me 12"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "phone" in message
    assert "call me" not in message
    code, message = code_of(lambda: set_profile(world.org, world.holder_id, cpr="1234"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "cpr" in message
    # the lookups and the change are in the access log, without the personal data
    events = logged(server, "person.profile.set", world.holder_id)
    assert events, "the profile change was not logged"
    assert NAME not in json.dumps([str(e) for e in events])
    assert json.loads(events[0].detail_json) == {"categories": ["name", "phone", "email"]}  # type: ignore[attr-defined]


def test_export_returns_profile_grants_consents_and_the_persons_log_events(
    server: ServerHandle, world: World
) -> None:
    set_profile(world.org, world.holder_id, name=NAME)
    world.holder.call(
        world.holder.privacy.GiveConsent,
        ppb.GiveConsentRequest(key_holder_id=world.holder_id, purpose="phone_lookup",
                               text_version="2027-01"),
    )  # fmt: skip
    assert world.holder.request_unlock(world.door_id).decision == pb.DECISION_ALLOW
    assert logged(server, "unlock", world.holder_id)  # shipped to ClickHouse
    messages = export(world.holder, world.holder_id)
    head = messages[0]
    assert head.key_holder.key_holder_id == world.holder_id
    assert head.profile.name == NAME
    assert [g.grant_id for g in head.grants] == [world.grant_id]
    assert [(c.purpose, c.text_version) for c in head.consents] == [("phone_lookup", "2027-01")]
    events = [e for m in messages[1:] for e in m.events]
    assert {e.action for e in events} >= {"unlock", "person.profile.set", "consent.give"}
    assert all(e.key_holder_id == world.holder_id for e in events)
    # the organisation may not export (only the person or the operator); the export is logged
    assert code_of(lambda: export(world.org, world.holder_id))[0] == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    assert logged(server, "person.export", world.holder_id)


def test_erasure_destroys_the_data_key_and_leaves_pseudonymous_log_rows(
    server: ServerHandle, world: World, redis_url: str
) -> None:
    set_profile(world.org, world.holder_id, name=NAME, phone=PHONE)
    assert world.holder.request_unlock(world.door_id).decision == pb.DECISION_ALLOW
    r = redis.Redis.from_url(redis_url)
    assert r.hexists(f"p:{{{world.holder_id}}}", "wk")
    done = erase(world.holder, world.holder_id)
    assert done.erased
    # the data key, profile, holder record, grants and credential are gone
    assert not r.exists(f"p:{{{world.holder_id}}}", f"h:{{{world.holder_id}}}")
    assert code_of(lambda: get_profile(server.admin, world.holder_id))[0] == (
        grpc.StatusCode.NOT_FOUND
    )
    assert code_of(lambda: world.holder.request_unlock(world.door_id))[0] == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    # the ledger (outside Redis) has it, and the log rows stay, pseudonymous
    ledger = FileErasureLedger.in_data_dir(server.running.process.settings.data_dir)
    assert [r.holder_id for r in ledger.records()] == [world.holder_id]
    assert logged(server, "unlock", world.holder_id)
    erased = logged(server, "person.erase", world.holder_id)
    assert erased
    assert erased[0].reason == "request"
    assert NAME.encode() not in all_redis_bytes(redis_url)


def test_a_door_unit_administrator_cannot_be_erased_until_they_dismount(
    server: ServerHandle, world: World
) -> None:
    unit = ppb.DoorUnitRequest(key_holder_id=world.holder_id, site_id=world.site_id)
    mounted = world.org.call(world.org.privacy.MountDoorUnit, unit)
    assert list(mounted.site_ids) == [world.site_id]
    code, message = code_of(lambda: erase(world.holder, world.holder_id))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert world.site_id in message
    assert "dismount" in message
    assert logged(server, "person.erase.request", world.holder_id)  # the refusal is logged
    assert get_profile(server.admin, world.holder_id) == ppb.PersonProfile()  # still there
    dismounted = world.holder.call(world.holder.privacy.DismountDoorUnit, unit)
    assert list(dismounted.site_ids) == []
    assert erase(world.holder, world.holder_id).erased
    # a key holder cannot attach units; unknown sites are NOT_FOUND
    again = build_world(server.admin, door_id="door-3")
    assert code_of(lambda: again.holder.call(again.holder.privacy.MountDoorUnit,
                   ppb.DoorUnitRequest(key_holder_id=again.holder_id, site_id=again.site_id))
    )[0] == grpc.StatusCode.PERMISSION_DENIED  # fmt: skip
    assert code_of(lambda: again.org.call(again.org.privacy.MountDoorUnit,
                   ppb.DoorUnitRequest(key_holder_id=again.holder_id, site_id="site_nope"))
    )[0] == grpc.StatusCode.NOT_FOUND  # fmt: skip


def test_restriction_denies_decisions_until_lifted(server: ServerHandle, world: World) -> None:
    set_profile(world.org, world.holder_id, name=NAME)
    request = ppb.RestrictProcessingRequest(key_holder_id=world.holder_id)
    restricted = world.holder.call(world.holder.privacy.RestrictProcessing, request)
    assert restricted.status == pb.KEY_HOLDER_STATUS_RESTRICTED
    denied = world.holder.request_unlock(world.door_id)
    assert (denied.decision, denied.reason) == (
        pb.DECISION_DENY,
        pb.DECISION_REASON_HOLDER_RESTRICTED,
    )
    # no processing beyond storage: the organisation can neither read nor reactivate
    assert code_of(lambda: get_profile(world.org, world.holder_id))[0] == (
        grpc.StatusCode.FAILED_PRECONDITION
    )
    assert (
        code_of(
            lambda: world.org.set_key_holder_status(world.holder_id, pb.KEY_HOLDER_STATUS_ACTIVE)
        )[0]
        == grpc.StatusCode.FAILED_PRECONDITION
    )
    assert get_profile(world.holder, world.holder_id).name == NAME  # kept, for the person
    lifted = world.holder.call(
        world.holder.privacy.LiftRestriction,
        ppb.LiftRestrictionRequest(key_holder_id=world.holder_id),
    )
    assert lifted.status == pb.KEY_HOLDER_STATUS_ACTIVE
    assert world.holder.request_unlock(world.door_id).decision == pb.DECISION_ALLOW
    assert logged(server, "person.restrict", world.holder_id)
    assert logged(server, "person.restriction_lifted", world.holder_id)


def test_consent_to_phone_lookup_works_until_withdrawn(server: ServerHandle, world: World) -> None:
    set_profile(world.org, world.holder_id, name=NAME, phone=PHONE)

    def find() -> pb.KeyHolder:
        return world.org.call(
            world.org.privacy.FindKeyHolderByPhone, ppb.FindKeyHolderByPhoneRequest(phone=PHONE)
        )

    assert code_of(find)[0] == grpc.StatusCode.NOT_FOUND  # no consent yet
    given = world.holder.call(
        world.holder.privacy.GiveConsent,
        ppb.GiveConsentRequest(key_holder_id=world.holder_id, purpose="phone_lookup",
                               text_version="v3"),
    )  # fmt: skip
    assert given.HasField("given_at")
    assert not given.HasField("withdrawn_at")
    assert find().key_holder_id == world.holder_id
    withdrawn = world.holder.call(
        world.holder.privacy.WithdrawConsent,
        ppb.WithdrawConsentRequest(key_holder_id=world.holder_id, purpose="phone_lookup"),
    )
    assert withdrawn.HasField("withdrawn_at")
    assert code_of(find)[0] == grpc.StatusCode.NOT_FOUND  # effective at once
    listed = world.holder.call(
        world.holder.privacy.ListConsents, ppb.ListConsentsRequest(key_holder_id=world.holder_id)
    )
    assert [(c.purpose, c.text_version, c.HasField("withdrawn_at")) for c in listed.consents] == [
        ("phone_lookup", "v3", True)
    ]
    code, message = code_of(
        lambda: world.holder.call(
            world.holder.privacy.WithdrawConsent,
            ppb.WithdrawConsentRequest(key_holder_id=world.holder_id, purpose="phone_lookup"),
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "phone_lookup" in message
    code, message = code_of(
        lambda: world.holder.call(
            world.holder.privacy.GiveConsent,
            ppb.GiveConsentRequest(
                key_holder_id=world.holder_id, purpose="Bad Purpose", text_version="v1"
            ),
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "purpose" in message
    assert logged(server, "consent.withdraw", world.holder_id)


def test_cli_sets_exports_and_erases(
    server: ServerHandle,
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    common = ["--target", server.target, "--credential", server.admin_credential, "--json"]
    holder = ["--holder", world.holder_id]
    assert main(["privacy", "profile", "set", *holder, "--name", NAME, "--phone", PHONE,
                 *common]) == 0  # fmt: skip
    assert world.holder.request_unlock(world.door_id).decision == pb.DECISION_ALLOW
    assert logged(server, "unlock", world.holder_id)
    capsys.readouterr()
    assert main(["privacy", "export", *holder, "--out", str(tmp_path / "x"), *common]) == 0
    summary = json.loads(capsys.readouterr().out)
    document = json.loads(Path(summary["json"]).read_text())
    assert document["profile"]["name"] == NAME
    assert [g["grant_id"] for g in document["grants"]] == [world.grant_id]
    with Path(summary["csv"]).open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert any(r["action"] == "unlock" and r["key_holder_id"] == world.holder_id for r in rows)
    assert Path(summary["json"]).stat().st_mode & 0o077 == 0
    assert main(["privacy", "report", *common]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["what is held"]["profiles"] >= 1
    assert main(["privacy", "erase", *holder, *common]) == 0
    assert json.loads(capsys.readouterr().out)["erased"] is True
    assert main(["privacy", "profile", "get", *holder, *common]) == 1
    assert "NOT_FOUND" in capsys.readouterr().out


def test_no_new_grants_while_processing_is_restricted(server: ServerHandle, world: World) -> None:
    from authority.client.authority import chunk_items, grant_item  # noqa: PLC0415

    world.holder.call(
        world.holder.privacy.RestrictProcessing,
        ppb.RestrictProcessingRequest(key_holder_id=world.holder_id),
    )
    until = datetime.now(UTC) + timedelta(days=10)
    code, message = code_of(
        lambda: world.org.issue_grant(
            key_holder_id=world.holder_id, site_id=world.site_id, valid_until=until
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "restricted" in message
    item = grant_item(
        idempotency_key="k-1", key_holder_id=world.holder_id, site_id=world.site_id,
        valid_until=until,
    )  # fmt: skip
    results = [r for m in world.org.issue_grants(chunk_items([item])) for r in m.results]
    assert [(r.status, r.code) for r in results] == [
        (pb.GRANT_ITEM_STATUS_REJECTED, "FAILED_PRECONDITION")
    ]
    assert "restricted" in results[0].reason
    # nor a new roster: replacing the holder's grants is processing too
    code, message = code_of(lambda: world.org.replace_holder_grants(world.holder_id, [item]))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "restricted" in message
