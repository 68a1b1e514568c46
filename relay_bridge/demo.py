"""The relay part of ``authority demo``: an unlock travelling app → authority → bridge →
emulated relay → door opened → event in the access log, then the attacks a relay refuses.

Everything is real but the radio: the authority is the demo's gRPC server, the relays are
Bumble GATT servers on virtual controllers, the bridge talks to them through bleak with our
Bumble backend. The relays' clock is the demo's simulated clock, like the server's.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from nacl.signing import SigningKey
from rich.console import Console
from rich.table import Table

from authority.adapters.crypto.keyring import verification_keys_from_jwks
from authority.client.accesslog import AccessLogClient, EventQuery
from authority.client.authority import AuthorityClient
from authority.client.tls import ClientTls
from authority.v1 import identity_pb2 as ipb
from doorkey_wire.cwt import decode_unverified, sign_claims
from doorkey_wire.protocol import Challenge, Submission
from relay_bridge.authority_link import AuthorityLink
from relay_bridge.ble.air import VirtualAir
from relay_bridge.bridge import RelayBridge, relay_entries
from relay_bridge.exchange import run_exchange
from relay_bridge.mobile import find_relay
from relay_bridge.radio import Radio
from relay_bridge.relay.fleet import EmulatedFleet, RelaySpec


@dataclass
class RelayStep:
    action: str
    expected: str
    got: str

    @property
    def ok(self) -> bool:
        return self.expected == self.got


def run_relay_demo(
    *,
    target: str,
    tls: ClientTls | None = None,
    bridge_target: str | None = None,
    bridge_tls: ClientTls | None = None,
    admin_credential: str,
    site_id: str,
    organisation_credential: str,
    clock: Callable[[], float],
    console: Console,
) -> list[RelayStep]:
    return asyncio.run(
        _relay_demo(
            target=target,
            tls=tls,
            bridge_target=bridge_target or target,
            bridge_tls=bridge_tls or tls,
            admin_credential=admin_credential,
            site_id=site_id,
            organisation_credential=organisation_credential,
            clock=clock,
            console=console,
        )
    )


async def _relay_demo(
    *,
    target: str,
    tls: ClientTls | None,
    bridge_target: str,
    bridge_tls: ClientTls | None,
    admin_credential: str,
    site_id: str,
    organisation_credential: str,
    clock: Callable[[], float],
    console: Console,
) -> list[RelayStep]:
    console.rule("[bold]At the door: app → authority → bridge → relay (virtual Bluetooth)")
    admin = AuthorityClient(target, credential=admin_credential, tls=tls)
    org = admin.with_credential(organisation_credential)
    trusted = verification_keys_from_jwks(json.loads(admin.verification_keys().jwks_json))
    relay_keys = {d: SigningKey.generate() for d in ("nbg12-lobby", "nbg12-bikes")}
    for door_id, key in relay_keys.items():
        admin.create_door(
            door_id=door_id,
            site_id=site_id,
            relay_id=f"relay-{door_id}",
            label=door_id,
            relay_public_key=bytes(key.verify_key),
        )
    holder = org.create_key_holder()
    # The phone enrols with a one-time activation code and logs in: a short-lived session.
    credential = org.app_login(
        holder.key_holder.key_holder_id, "app password at the door"
    ).access_credential
    now = datetime.fromtimestamp(clock(), UTC)
    org.issue_grant(
        key_holder_id=holder.key_holder.key_holder_id,
        site_id=site_id,
        valid_from=now - timedelta(minutes=1),
        valid_until=now + timedelta(days=1),
    )
    steps: list[RelayStep] = []
    async with VirtualAir() as air:
        fleet = await EmulatedFleet.start(
            air,
            [RelaySpec(f"relay-{d}", d, relay_key=k) for d, k in relay_keys.items()],
            trusted_keys=trusted,
            clock=clock,
        )
        central = await air.add_central("bridge")
        radio = Radio(central.client_backend, central.scanner_backend)
        # The bridge: its own client certificate (mTLS) and the holder's session credential.
        link = AuthorityLink(bridge_target, credential=credential, tls=bridge_tls)
        entries = relay_entries(fleet.registry())
        # The bridge reports the relays' results with a credential of its own (role bridge).
        bridge_credential = admin.call(
            admin.identity.CreateBridgeCredential,
            ipb.CreateBridgeCredentialRequest(name="nbg12-bridge"),
        ).credential
        report = link.report_result_callback(bridge_credential)
        bridge = RelayBridge(link, radio, entries, report=report)
        outcome = await bridge.open("nbg12-lobby", credential)
        lobby = fleet.door("relay-nbg12-lobby")
        steps.append(
            RelayStep(
                "bridge opens nbg12-lobby for the carrier",
                "opened · door opened 1x",
                f"{outcome.status.value} · door opened {len(lobby.openings)}x",
            )
        )
        console.print(
            f"bridge: {outcome.status.value} in {outcome.elapsed_s * 1000:.1f} ms "
            f"(challenge → RequestUnlock → token written → signed result → reported)"
        )

        async def attack(relay_id: str, submission: Submission) -> str:
            async def obtain(_challenge: Challenge) -> Submission:
                return submission

            device = await find_relay(radio, relay_id)
            async with radio.client(device, timeout=5) as client:
                result = await run_exchange(client, obtain, relay_public_key=None)
            await link.report_result(entries["nbg12-lobby"].door_id, result.signed)
            return "opened" if result.opened else result.body.reason.name.lower()

        async def genuine(door_id: str, nonce: bytes | None = None) -> bytes:
            return (await link.request_unlock(door_id, nonce or os.urandom(16))).token

        async def fresh_for(relay_id: str, door_id: str) -> Submission:
            device = await find_relay(radio, relay_id)
            token = b""

            async def obtain(challenge: Challenge) -> Submission:
                nonlocal token
                token = await genuine(door_id, challenge.nonce)
                return Submission(token)

            async with radio.client(device, timeout=5) as client:
                await run_exchange(client, obtain, relay_public_key=None)
            return Submission(token)

        replayed = await fresh_for("relay-nbg12-lobby", "nbg12-lobby")
        tampered = bytearray(await genuine("nbg12-lobby"))
        tampered[-3] ^= 0x01
        _, claims = decode_unverified(await genuine("nbg12-lobby"))
        unknown = sign_claims(claims, key=SigningKey.generate(), kid=b"not-the-authority")
        attacks = [
            ("replay a token that already opened", replayed, "replayed"),
            ("token for another door's relay", Submission(await genuine("nbg12-bikes")),
             "wrong_audience"),
            ("token bound to another challenge", Submission(await genuine("nbg12-lobby")),
             "nonce_mismatch"),
            ("one byte of the token changed", Submission(bytes(tampered)), "bad_signature"),
            ("token signed by an unknown key", Submission(unknown), "unknown_key"),
        ]  # fmt: skip
        openings_before = len(lobby.openings)
        for label, submission, expected in attacks:
            steps.append(RelayStep(label, expected, await attack("relay-nbg12-lobby", submission)))
        # a relay whose clock runs an hour ahead sees the token as expired
        ahead = fleet.relays["relay-nbg12-bikes"].logic
        ahead.clock = lambda: clock() + 3600
        late = await bridge.open("nbg12-bikes", credential)
        steps.append(RelayStep("relay clock 1 h ahead: token expired", "expired", late.reason))
        ahead.clock = clock
        # an impostor relay advertising as the lobby relay, with its own key: the bridge does not
        # believe its "opened", and the authority logs the forged result
        await fleet.stop()
        impostor = await EmulatedFleet.start(
            air, [RelaySpec("relay-nbg12-lobby", "nbg12-lobby")], trusted_keys=trusted, clock=clock
        )
        bridge_again = RelayBridge(link, radio, entries, report=report)
        forged = await bridge_again.open("nbg12-lobby", credential)
        steps.append(RelayStep("impostor relay claims 'opened'", "forged", forged.status.value))
        steps.append(
            RelayStep(
                "the real door stayed shut through all of it",
                f"{openings_before} opening(s)",
                f"{len(lobby.openings)} opening(s)",
            )
        )
        await impostor.stop()
        await link.close()

    steps.append(
        _relay_events_logged(
            target=target, tls=tls, admin_credential=admin_credential, site_id=site_id,
            clock=clock, console=console,
        )
    )  # fmt: skip
    admin.close()
    return steps


def _relay_events_logged(
    *,
    target: str,
    tls: ClientTls | None,
    admin_credential: str,
    site_id: str,
    clock: Callable[[], float],
    console: Console,
) -> RelayStep:
    log = AccessLogClient(target, credential=admin_credential, tls=tls)
    now = datetime.fromtimestamp(clock(), UTC)
    query = EventQuery(
        start=now - timedelta(hours=2), end=now + timedelta(hours=2), site_id=site_id, kind="relay"
    )
    deadline = time.monotonic() + 30
    events = list(log.iter_events(query))
    while len(events) < 8 and time.monotonic() < deadline:  # the shipper runs every second
        time.sleep(0.3)
        events = list(log.iter_events(query))
    table = Table(title="access log: what the relays reported (signed by each relay)")
    for col in ("door", "relay", "outcome", "reason", "holder", "token"):
        table.add_column(col)
    for e in events:
        table.add_row(e.door_id, e.relay_id, e.outcome, e.reason, e.key_holder_id, e.token_id[:12])
    console.print(table)
    log.close()
    outcomes = sorted({e.outcome for e in events})
    return RelayStep(
        "relay outcomes are in the access log",
        "forged, opened, rejected",
        ", ".join(outcomes),
    )
