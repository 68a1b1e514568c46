"""One unlock exchange with a relay over a connected ``bleak.BleakClient``.

Shared by the bridge and the phone library (``relay_bridge.mobile``): subscribe to RESULT, read
CHALLENGE, obtain a submission for it (from the authority, or an offline token plus the device's
proof), write TOKEN, wait for the relay's signed result. Whatever bleak backend the client uses
(BlueZ, CoreBluetooth, WinRT, or our Bumble backend in tests) this code is the same.

At most one opening per exchange: a failure *after* the token was written is reported as
``ResultLost`` and never retried with a fresh token, because the relay may have opened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakError

from doorkey_wire.cwt import payload_unverified
from doorkey_wire.errors import TokenError
from doorkey_wire.protocol import (
    CHALLENGE_UUID,
    EPOCH_UUID,
    RESULT_UUID,
    TOKEN_UUID,
    Challenge,
    Outcome,
    ProtocolError,
    ResultBody,
    Submission,
)
from relay_bridge.relay.logic import verify_result


class ExchangeError(Exception):
    """An exchange that did not end in a relay result."""


class RelayUnreachable(ExchangeError):
    """Bluetooth failed before the token was written: safe to retry with a new challenge."""


class ResultLost(ExchangeError):
    """The token was written but no result came back: the door may have opened; do not retry."""


class ForgedResult(ExchangeError):
    """A RESULT value that is not signed by the relay's registered key, or answers another
    challenge: never believed. ``signed`` is the offending value, for the authority's log."""

    def __init__(self, message: str, signed: bytes = b"") -> None:
        super().__init__(message)
        self.signed = signed


@dataclass(frozen=True, slots=True)
class RelayResult:
    challenge: Challenge
    body: ResultBody
    signed: bytes
    """The relay's COSE_Sign1 result, to report to the authority as it is."""
    authenticated: bool
    """Whether the relay's signature was checked (the relay's public key was known)."""

    @property
    def opened(self) -> bool:
        return self.body.outcome is Outcome.OPENED


ObtainSubmission = Callable[[Challenge], Awaitable[Submission]]


async def run_exchange(
    client: BleakClient,
    obtain: ObtainSubmission,
    *,
    relay_public_key: bytes | None,
    result_timeout: float = 5.0,
    expected_relay_id: str | None = None,
) -> RelayResult:
    """Run one exchange on a connected client. ``obtain`` turns the relay's challenge into a
    submission (for the bridge: ``RequestUnlock`` with the nonce). Raises ``RelayUnreachable``
    before the write, ``ResultLost`` / ``ForgedResult`` after it; the authority's own errors
    from ``obtain`` propagate unchanged (nothing was written)."""
    notified: asyncio.Queue[bytes] = asyncio.Queue()

    def on_result(_char: BleakGATTCharacteristic, data: bytearray) -> None:
        notified.put_nowait(bytes(data))

    try:
        await client.start_notify(RESULT_UUID, on_result)
        challenge = Challenge.decode(bytes(await client.read_gatt_char(CHALLENGE_UUID)))
    except (BleakError, TimeoutError, OSError) as exc:
        raise RelayUnreachable(f"relay did not give a challenge: {exc}") from exc
    except ProtocolError as exc:
        raise RelayUnreachable(f"relay's challenge is not protocol v1: {exc}") from exc
    if expected_relay_id is not None and challenge.relay_id != expected_relay_id:
        raise RelayUnreachable(
            f"connected to relay {challenge.relay_id!r}, expected {expected_relay_id!r}"
        )
    submission = await obtain(challenge)
    try:
        await client.write_gatt_char(TOKEN_UUID, submission.encode(), response=True)
    except (BleakError, TimeoutError, OSError) as exc:
        raise ResultLost(f"token write did not complete: {exc}") from exc
    signed, body = await _await_result(
        client, notified, challenge, relay_public_key, result_timeout
    )
    return RelayResult(challenge, body, signed, relay_public_key is not None)


async def _await_result(
    client: BleakClient,
    notified: asyncio.Queue[bytes],
    challenge: Challenge,
    key: bytes | None,
    wait_s: float,
) -> tuple[bytes, ResultBody]:
    """The first notification that is a genuine result for this challenge; notifications that
    are not (forged, another challenge, truncated by a small MTU) are skipped. Without one
    within ``wait_s`` the RESULT value is read (the relay keeps it whole)."""
    forged: ForgedResult | None = None
    try:
        async with asyncio.timeout(wait_s):
            while True:
                value = await notified.get()
                try:
                    return value, _check_result(value, challenge, key)
                except ForgedResult as exc:
                    if _answers(value, challenge):
                        forged = exc  # right nonce, wrong signature: someone is lying
    except TimeoutError:
        pass
    try:
        value = bytes(await client.read_gatt_char(RESULT_UUID))
    except (BleakError, TimeoutError, OSError) as exc:
        raise ResultLost(f"no result from relay {challenge.relay_id!r}: {exc}") from exc
    try:
        return value, _check_result(value, challenge, key)
    except ForgedResult as exc:
        if forged is not None or _answers(value, challenge):
            raise
        raise ResultLost(f"relay {challenge.relay_id!r} has no result for this challenge") from exc


def _answers(value: bytes, challenge: Challenge) -> bool:
    try:
        return ResultBody.decode(payload_unverified(value)).nonce == challenge.nonce
    except (TokenError, ProtocolError):
        return False


def _check_result(signed: bytes, challenge: Challenge, key: bytes | None) -> ResultBody:
    try:
        if key is None:
            body = ResultBody.decode(payload_unverified(signed))
        else:
            body = verify_result(signed, relay_id=challenge.relay_id, relay_public_key=key)
    except (TokenError, ProtocolError) as exc:
        raise ForgedResult(f"result is not genuine: {exc}", signed) from exc
    if body.nonce != challenge.nonce or body.relay_id != challenge.relay_id:
        raise ForgedResult("result answers another challenge or relay", signed)
    return body


async def write_epoch_notice(client: BleakClient, notice: bytes) -> None:
    """Hand an authority-signed revocation-epoch notice to a connected relay."""
    try:
        await client.write_gatt_char(EPOCH_UUID, notice, response=True)
    except (BleakError, TimeoutError, OSError) as exc:
        raise RelayUnreachable(f"relay refused or missed the epoch notice: {exc}") from exc
