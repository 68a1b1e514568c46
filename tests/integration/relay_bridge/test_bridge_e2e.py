"""App/bridge -> authority (real gRPC server, real Redis) -> bleak (our Bumble backend) ->
emulated relay (Bumble GATT server) -> door. Every attack is refused by the relay with its
reason, the door stays shut, and the relay's signed verdict is what the bridge reports."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from nacl.signing import SigningKey

from authority.adapters.crypto.keyring import verification_keys_from_jwks
from authority.client.accesslog import AccessLogClient, EventQuery
from authority.v1 import authority_pb2 as pb
from authority.v1 import identity_pb2 as ipb
from doorkey_wire.cwt import sign_claims
from doorkey_wire.protocol import Challenge, RejectReason, Submission
from relay_bridge.authority_link import AuthorityLink, UnlockRefused
from relay_bridge.ble.air import VirtualAir
from relay_bridge.bridge import BridgeConfig, RelayBridge, RelayEntry, Status, relay_entries
from relay_bridge.exchange import run_exchange, write_epoch_notice
from relay_bridge.mobile import find_relay, open_door, open_door_offline
from relay_bridge.radio import Radio
from relay_bridge.relay.fleet import EmulatedFleet, RelaySpec
from tests.conftest import ServerHandle

CVR = "25680839"


@dataclass
class Scene:
    server: ServerHandle
    holder_id: str
    holder_credential: str
    site_id: str
    doors: list[str]


@pytest.fixture
def scene(server: ServerHandle) -> Scene:
    admin = server.admin
    created = admin.create_organisation(name="PostNord", cvr=CVR, purpose=pb.PURPOSE_POSTAL)
    org_id = created.organisation.organisation_id
    admin.set_organisation_status(org_id, pb.ORGANISATION_STATUS_APPROVED)
    org = admin.with_credential(created.api_credential)
    site = admin.create_site(address="Nørrebrogade 1", owner_id="owner-1")
    doors = ["door-1", "door-2"]
    for door in doors:
        admin.create_door(door_id=door, site_id=site.site_id, relay_id=f"relay-{door}")
    h = org.create_key_holder()
    org.issue_grant(
        key_holder_id=h.key_holder.key_holder_id,
        site_id=site.site_id,
        valid_until=datetime.now(UTC) + timedelta(days=30),
    )
    # The phone enrols and logs in: its credential is a 15-minute session, as in the field.
    session = org.app_login(h.key_holder.key_holder_id, "the carrier's app password")
    return Scene(server, h.key_holder.key_holder_id, session.access_credential, site.site_id, doors)


@dataclass
class Radios:
    air: VirtualAir
    fleet: EmulatedFleet
    radio: Radio
    link: AuthorityLink
    entries: dict[str, RelayEntry]


@pytest.fixture
async def radios(scene: Scene) -> AsyncIterator[Radios]:
    jwks = json.loads(scene.server.admin.verification_keys().jwks_json)
    trusted = verification_keys_from_jwks(jwks)
    async with VirtualAir() as air:
        fleet = await EmulatedFleet.start(
            air,
            [RelaySpec(f"relay-{d}", d) for d in scene.doors],
            trusted_keys=trusted,
            issuer="authority",
        )
        central = await air.add_central()
        radio = Radio(central.client_backend, central.scanner_backend)
        link = AuthorityLink(scene.server.target, credential=scene.holder_credential)
        entries = relay_entries(fleet.registry())
        for entry in entries.values():  # the installer registers each relay's result key
            assert entry.public_key is not None
            scene.server.admin.set_door_relay_key(entry.door_id, entry.public_key)
        try:
            yield Radios(air, fleet, radio, link, entries)
        finally:
            await link.close()
            await fleet.stop()


async def test_bridge_opens_the_door_with_a_fresh_token(scene: Scene, radios: Radios) -> None:
    admin = scene.server.admin
    bridge_credential = admin.call(  # the bridge reports as itself (role bridge)
        admin.identity.CreateBridgeCredential, ipb.CreateBridgeCredentialRequest(name="b-1")
    ).credential
    with pytest.raises(grpc.RpcError) as info:  # ... and can do nothing but report
        await radios.link.with_credential(bridge_credential).request_unlock("door-1", b"c" * 16)
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
    report = radios.link.report_result_callback(bridge_credential)
    bridge = RelayBridge(radios.link, radios.radio, radios.entries, report=report)
    outcome = await bridge.open("door-1", scene.holder_credential)
    assert outcome.status is Status.OPENED, outcome
    assert outcome.reported
    assert outcome.result is not None
    # the authority verified the relay's signature; reporting it again is recognised
    again = await radios.link.report_result("door-1", outcome.result.signed)
    assert again.opened
    assert again.already_reported
    assert outcome.result.authenticated
    openings = radios.fleet.door("relay-door-1").openings
    assert [o.subject for o in openings] == [scene.holder_id]
    assert radios.fleet.door("relay-door-2").openings == []
    # the door unknown to the bridge, and a holder the authority refuses
    assert (await bridge.open("door-9", scene.holder_credential)).status is Status.UNKNOWN_DOOR
    scene.server.admin.set_key_holder_status(scene.holder_id, pb.KEY_HOLDER_STATUS_SUSPENDED)
    refused = await bridge.open("door-1", scene.holder_credential)
    assert (refused.status, refused.reason) == (
        Status.DENIED,
        "DECISION_REASON_HOLDER_SUSPENDED",
    )
    assert len(openings) == 1


async def test_phone_path_read_challenge_request_write_result(scene: Scene, radios: Radios) -> None:
    device = await find_relay(radios.radio, "relay-door-2")
    async with radios.radio.client(device, timeout=5) as client:
        result = await open_door(
            client, radios.link, "door-2", relay_public_key=radios.entries["door-2"].public_key
        )
    assert result.opened
    assert result.authenticated
    assert result.body.subject == scene.holder_id
    assert len(radios.fleet.door("relay-door-2").openings) == 1


async def attack(radios: Radios, relay_id: str, submission: Submission) -> RejectReason:
    """Write ``submission`` (whatever the challenge) and return the relay's signed reason."""

    async def obtain(_challenge: Challenge) -> Submission:
        return submission

    device = await find_relay(radios.radio, relay_id)
    async with radios.radio.client(device, timeout=5) as client:
        result = await run_exchange(
            client, obtain, relay_public_key=radios.entries["door-1"].public_key
        )
    assert not result.opened
    return result.body.reason


async def fresh_token(radios: Radios, door_id: str, relay_id: str) -> tuple[bytes, bytes]:
    """A genuine token for the relay's current challenge, obtained like the app would, but not
    written: (challenge nonce, token)."""
    device = await find_relay(radios.radio, relay_id)
    async with radios.radio.client(device, timeout=5) as client:
        from doorkey_wire.protocol import CHALLENGE_UUID  # noqa: PLC0415

        ch = Challenge.decode(bytes(await client.read_gatt_char(CHALLENGE_UUID)))
    issued = await radios.link.request_unlock(door_id, ch.nonce)
    return ch.nonce, issued.token


async def test_attacks_over_the_virtual_link_never_open(scene: Scene, radios: Radios) -> None:
    door = radios.fleet.door("relay-door-1")
    # replay: a token that opened once, written again
    device = await find_relay(radios.radio, "relay-door-1")
    used: list[bytes] = []

    async def obtain(ch: Challenge) -> Submission:
        issued = await radios.link.request_unlock("door-1", ch.nonce)
        used.append(issued.token)
        return Submission(issued.token)

    async with radios.radio.client(device, timeout=5) as client:
        assert (await run_exchange(client, obtain, relay_public_key=None)).opened
    assert len(door.openings) == 1
    assert await attack(radios, "relay-door-1", Submission(used[0])) is RejectReason.REPLAYED
    # a token for another relay
    _, other = await fresh_token(radios, "door-2", "relay-door-2")
    assert await attack(radios, "relay-door-1", Submission(other)) is RejectReason.WRONG_AUDIENCE
    # the wrong nonce: a genuine token for this relay, bound to a challenge it did not give
    issued = await radios.link.request_unlock("door-1", os.urandom(16))
    reason = await attack(radios, "relay-door-1", Submission(issued.token))
    assert reason is RejectReason.NONCE_MISMATCH
    # a changed byte in the signature
    tampered = bytearray((await radios.link.request_unlock("door-1", os.urandom(16))).token)
    tampered[-5] ^= 0x40
    reason = await attack(radios, "relay-door-1", Submission(bytes(tampered)))
    assert reason is RejectReason.BAD_SIGNATURE
    # signed by a key the relay does not trust
    from doorkey_wire.cwt import decode_unverified  # noqa: PLC0415

    kid, claims = decode_unverified(used[0])
    forged = sign_claims(claims, key=SigningKey.generate(), kid=b"mallory-key")
    assert await attack(radios, "relay-door-1", Submission(forged)) is RejectReason.UNKNOWN_KEY
    assert kid != b"mallory-key"
    assert len(door.openings) == 1  # only the genuine opening
    with pytest.raises(UnlockRefused):
        await radios.link.request_unlock("door-unknown", os.urandom(16))


async def test_expired_token_refused_by_a_relay_whose_clock_is_ahead(
    scene: Scene, radios: Radios
) -> None:
    relay = radios.fleet.relays["relay-door-1"]
    relay.logic.clock = lambda: time.time() + 3600
    bridge = RelayBridge(radios.link, radios.radio, radios.entries, config=BridgeConfig())
    outcome = await bridge.open("door-1", scene.holder_credential)
    assert (outcome.status, outcome.reason) == (Status.REJECTED, "expired")
    assert relay.door.openings == []


async def test_offline_is_refused_without_the_flag(scene: Scene, radios: Radios) -> None:
    device = await find_relay(radios.radio, "relay-door-1")
    _, token = await fresh_token(radios, "door-1", "relay-door-1")
    async with radios.radio.client(device, timeout=5) as client:
        result = await open_door_offline(client, token=token, device_key=SigningKey.generate())
    # an online token is bound to another challenge; the device proof changes nothing
    assert result.body.reason is RejectReason.NONCE_MISMATCH


async def test_offline_opening_and_revocation_reaching_the_relay(
    scene: Scene, radios: Radios
) -> None:
    """A site that allows offline opening: the phone fetches an offline token while online,
    opens with its device key at the door; after the phone is reported lost (holder suspended)
    the revocation epoch reaches the relay through a signed notice, and the token is dead."""
    admin = scene.server.admin
    site = admin.create_site(address="Jagtvej 3", owner_id="owner-2", offline_allowed=True)
    admin.create_door(
        door_id="door-off",
        site_id=site.site_id,
        relay_id="relay-door-off",
        relay_public_key=radios.entries["door-1"].public_key,  # replaced below
    )
    jwks = json.loads(admin.verification_keys().jwks_json)
    fleet = await EmulatedFleet.start(
        radios.air,
        [RelaySpec("relay-door-off", "door-off", offline_allowed=True)],
        trusted_keys=verification_keys_from_jwks(jwks),
        issuer="authority",
    )
    relay_key = bytes.fromhex(fleet.registry()[0]["public_key"])
    admin.set_door_relay_key("door-off", relay_key)
    # a holder of another organisation with a grant at the offline site
    created = admin.create_organisation(name="Hjemmeplejen", cvr=CVR, purpose=pb.PURPOSE_POSTAL)
    admin.set_organisation_status(
        created.organisation.organisation_id, pb.ORGANISATION_STATUS_APPROVED
    )
    org = admin.with_credential(created.api_credential)
    h = org.create_key_holder()
    org.issue_grant(
        key_holder_id=h.key_holder.key_holder_id,
        site_id=site.site_id,
        valid_until=datetime.now(UTC) + timedelta(days=1),
    )
    app = org.app_login(h.key_holder.key_holder_id, "the nurse's app password")
    phone = AuthorityLink(scene.server.target, credential=app.access_credential)
    device_key = SigningKey.generate()
    await phone.register_device_key(bytes(device_key.verify_key))
    offline_token = (await phone.request_unlock("door-off", offline=True)).token
    # the online-only site never hands out an offline token
    await radios.link.register_device_key(bytes(SigningKey.generate().verify_key))
    with pytest.raises(UnlockRefused, match="OFFLINE_NOT_ALLOWED"):
        await radios.link.request_unlock("door-1", offline=True)

    door = fleet.door("relay-door-off")
    device = await find_relay(radios.radio, "relay-door-off")
    async with radios.radio.client(device, timeout=5) as client:  # no network needed here
        result = await open_door_offline(
            client, token=offline_token, device_key=device_key, relay_public_key=relay_key
        )
    assert result.opened
    assert len(door.openings) == 1
    assert (await phone.report_result("door-off", result.signed)).opened  # later, online
    # without the device key the token is useless
    async with radios.radio.client(device, timeout=5) as client:
        stolen = await open_door_offline(
            client, token=offline_token, device_key=SigningKey.generate()
        )
    assert stolen.body.reason is RejectReason.DEVICE_PROOF_INVALID
    # the phone is lost: suspension raises the site's epoch; a bridge passing by hands the
    # relay the signed notice, and the offline token stops opening
    admin.set_key_holder_status(h.key_holder.key_holder_id, pb.KEY_HOLDER_STATUS_SUSPENDED)
    notice = await phone.revocation_notice("door-off")
    async with radios.radio.client(device, timeout=5) as client:
        await write_epoch_notice(client, notice)
        revoked = await open_door_offline(client, token=offline_token, device_key=device_key)
    assert revoked.body.reason is RejectReason.REVOKED
    assert len(door.openings) == 1
    await phone.close()
    await fleet.stop()


async def test_every_refusal_and_a_forged_result_are_in_the_access_log(
    scene: Scene, radios: Radios
) -> None:
    """The relay's verdicts reach the log through ReportRelayOutcome; an impostor relay's
    "opened" is not believed by the bridge and is logged as forged."""
    report = radios.link.report_result_callback()
    bridge = RelayBridge(radios.link, radios.radio, radios.entries, report=report)
    assert (await bridge.open("door-1", scene.holder_credential)).status is Status.OPENED
    _, other = await fresh_token(radios, "door-2", "relay-door-2")
    device = await find_relay(radios.radio, "relay-door-1")

    async def obtain(_challenge: Challenge) -> Submission:
        return Submission(other)

    async with radios.radio.client(device, timeout=5) as client:
        refused = await run_exchange(client, obtain, relay_public_key=None)
    assert (await radios.link.report_result("door-1", refused.signed)).reason == "wrong_audience"
    # an impostor advertising as relay-door-2, with a key nobody registered
    await radios.fleet.relays["relay-door-2"].stop()
    impostor = await EmulatedFleet.start(
        radios.air,
        [RelaySpec("relay-door-2", "door-2")],
        trusted_keys=radios.fleet.relays["relay-door-1"].logic.config.trusted_keys,
    )
    forged = await RelayBridge(radios.link, radios.radio, radios.entries, report=report).open(
        "door-2", scene.holder_credential
    )
    assert forged.status is Status.FORGED
    assert radios.fleet.door("relay-door-2").openings == []  # the real relay never saw it
    await impostor.stop()

    log = AccessLogClient(scene.server.target, credential=scene.server.admin_credential)
    now = datetime.now(UTC)
    query = EventQuery(start=now - timedelta(hours=1), end=now + timedelta(hours=1), kind="relay")
    deadline = time.monotonic() + 30
    seen: set[tuple[str, str, str]] = set()
    want = {
        ("door-1", "opened", ""),
        ("door-1", "rejected", "wrong_audience"),
        ("door-2", "forged", "bad_signature"),
    }
    while not want <= seen and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        events = await asyncio.to_thread(lambda: list(log.iter_events(query)))
        seen = {(e.door_id, e.outcome, e.reason) for e in events}
    log.close()
    assert want <= seen, seen


async def test_retries_before_the_write_but_never_after_it(scene: Scene, radios: Radios) -> None:
    """A relay not yet in range is retried with backoff; a relay that vanishes after taking
    the token (the door may have opened) is not retried, so the door opens at most once."""
    entries = dict(radios.entries)
    entries["door-9"] = RelayEntry("door-9", "relay-door-9", None)
    config = BridgeConfig(attempts=4, backoff_s=0.05, scan_timeout_s=0.3)
    bridge = RelayBridge(radios.link, radios.radio, entries, config=config)
    scene.server.admin.create_door(door_id="door-9", site_id=scene.site_id, relay_id="relay-door-9")
    trusted = radios.fleet.relays["relay-door-1"].logic.config.trusted_keys

    async def arrives_late() -> EmulatedFleet:
        await asyncio.sleep(0.5)  # the first attempt finds nothing
        return await EmulatedFleet.start(
            radios.air, [RelaySpec("relay-door-9", "door-9")], trusted_keys=trusted
        )

    late = asyncio.create_task(arrives_late())
    outcome = await bridge.open("door-9", scene.holder_credential)
    fleet9 = await late
    assert outcome.status is Status.OPENED, outcome
    assert outcome.attempts >= 2
    assert len(fleet9.door("relay-door-9").openings) == 1

    # the relay opens, then loses power before its result goes out
    relay = fleet9.relays["relay-door-9"]
    door_open = relay.logic._on_open

    def open_then_vanish(claims: object) -> None:
        assert door_open is not None
        door_open(claims)  # type: ignore[arg-type]
        asyncio.get_running_loop().create_task(radios.air.remove(relay.device))

    relay.logic._on_open = open_then_vanish
    lost = await bridge.open("door-9", scene.holder_credential)
    assert lost.status is Status.RESULT_LOST, lost
    assert lost.attempts == 1
    assert len(fleet9.door("relay-door-9").openings) == 2  # once more, not twice more
