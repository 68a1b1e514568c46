"""What the phone app does at the door (the usual case: the phone is the BLE central).

    device = await find_relay(radio, relay_id)               # scan for SmartRelay-<relay id>
    async with radio.client(device, timeout=5) as client:
        result = await open_door(client, link, door_id)       # challenge -> authority -> token
    result.opened, result.body.reason                         # signed by the relay

Online: read the challenge, ``RequestUnlock`` with its nonce, write the token, read the signed
result, report it to the authority (which verifies it and logs it). Offline (sites with
``offline_allowed``): a token fetched earlier with ``offline=True`` plus the device key's
signature over the challenge; the result is reported when the phone is next online.
"""

from __future__ import annotations

from bleak import BleakClient
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
from nacl.signing import SigningKey

from doorkey_wire.protocol import (
    ADVERTISED_NAME_PREFIX,
    SERVICE_UUID,
    Challenge,
    Submission,
    device_proof_message,
)
from relay_bridge.authority_link import AuthorityLink
from relay_bridge.exchange import RelayResult, RelayUnreachable, run_exchange
from relay_bridge.radio import Radio


async def find_relay(radio: Radio, relay_id: str, *, scan_s: float = 5.0) -> BLEDevice:
    """The advertising relay named ``SmartRelay-<relay_id>``, or ``RelayUnreachable``."""
    name = (ADVERTISED_NAME_PREFIX + relay_id)[:29]
    try:
        device = await radio.find_by_name(name, scan_s=scan_s, service_uuids=[SERVICE_UUID])
    except (BleakError, OSError) as exc:
        raise RelayUnreachable(f"scanning for relay {relay_id!r} failed: {exc}") from exc
    if device is None:
        raise RelayUnreachable(f"relay {relay_id!r} is not advertising nearby")
    return device


async def open_door(
    client: BleakClient,
    link: AuthorityLink,
    door_id: str,
    *,
    relay_public_key: bytes | None = None,
    result_timeout: float = 5.0,
) -> RelayResult:
    """Open ``door_id`` through its relay on the connected ``client`` (a ``BleakClient``) with
    the holder's authority link."""

    async def obtain(challenge: Challenge) -> Submission:
        issued = await link.request_unlock(door_id, challenge.nonce)
        return Submission(issued.token)

    return await run_exchange(
        client,
        obtain,
        relay_public_key=relay_public_key,
        result_timeout=result_timeout,
    )


def device_proof(device_key: SigningKey, challenge: Challenge) -> bytes:
    """The phone's signature over the relay's challenge, for an offline token."""
    return device_key.sign(device_proof_message(challenge.relay_id, challenge.nonce)).signature


async def open_door_offline(
    client: BleakClient,
    *,
    token: bytes,
    device_key: SigningKey,
    relay_public_key: bytes | None = None,
    result_timeout: float = 5.0,
) -> RelayResult:
    """Open with an offline token fetched earlier: no network needed at the door."""

    async def obtain(challenge: Challenge) -> Submission:
        return Submission(token, device_proof(device_key, challenge))

    return await run_exchange(
        client,
        obtain,
        relay_public_key=relay_public_key,
        result_timeout=result_timeout,
    )
