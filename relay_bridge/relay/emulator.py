"""A SmartRelay emulator: ``RelayLogic`` behind a Bumble GATT server on a (virtual) controller.

The emulator is an adapter: Bluetooth in, the pure logic's verdicts out, a simulated door
actuator that records openings. It speaks exactly ``docs/relay-protocol.md``, so the bridge and
the phone library talk to it the way they would talk to a relay in an intercom.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from bumble import att, gatt
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device

from doorkey_wire.claims import UnlockClaims
from doorkey_wire.protocol import (
    ADVERTISED_NAME_PREFIX,
    CHALLENGE_UUID,
    EPOCH_UUID,
    RESULT_UUID,
    SERVICE_UUID,
    TOKEN_UUID,
)
from relay_bridge.relay.logic import EpochNoticeRejected, RelayLogic

log = logging.getLogger(__name__)

ATT_NOTICE_REJECTED = 0x80
"""Application ATT error for an EPOCH write that is not a genuine notice for this relay."""


@dataclass(frozen=True, slots=True)
class DoorOpening:
    time: float
    subject: str
    token_id: bytes


@dataclass(slots=True)
class SimulatedDoor:
    """The door actuator: records every opening (who, which token, when)."""

    clock: Callable[[], float]
    open_seconds: float = 3.0
    openings: list[DoorOpening] = field(default_factory=list)

    def open(self, claims: UnlockClaims) -> None:
        self.openings.append(DoorOpening(self.clock(), claims.subject, claims.token_id))

    @property
    def is_open(self) -> bool:
        return bool(self.openings) and self.clock() - self.openings[-1].time < self.open_seconds


def advertising_data(relay_id: str) -> tuple[bytes, bytes]:
    """(advertising data, scan response): the service UUID is advertised, the name
    ``SmartRelay-<relay id>`` (up to 29 bytes) comes in the scan response."""
    adv = AdvertisingData(
        [
            (AdvertisingData.FLAGS, bytes([0x06])),  # LE general discoverable, no BR/EDR
            (
                AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                UUID(SERVICE_UUID).to_bytes(),
            ),
        ]
    )
    name = (ADVERTISED_NAME_PREFIX + relay_id).encode()[:29]
    scan = AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME, name)])
    return bytes(adv), bytes(scan)


class EmulatedRelay:
    """One relay on one Bumble ``Device`` (already powered on, not yet advertising). Build the
    logic with ``on_open=door.open`` so openings reach the simulated door."""

    def __init__(self, logic: RelayLogic, device: Device, door: SimulatedDoor) -> None:
        self.logic = logic
        self.device = device
        self.door = door
        self._results: dict[int, bytes] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._result_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            RESULT_UUID,
            gatt.Characteristic.Properties.READ | gatt.Characteristic.Properties.NOTIFY,
            gatt.Characteristic.READABLE,
            gatt.CharacteristicValue(read=self._read_result),
        )
        service = gatt.Service(
            SERVICE_UUID,
            [
                gatt.Characteristic(
                    CHALLENGE_UUID,
                    gatt.Characteristic.Properties.READ,
                    gatt.Characteristic.READABLE,
                    gatt.CharacteristicValue(read=self._read_challenge),
                ),
                gatt.Characteristic(
                    TOKEN_UUID,
                    gatt.Characteristic.Properties.WRITE,
                    gatt.Characteristic.WRITEABLE,
                    gatt.CharacteristicValue(write=self._write_token),
                ),
                self._result_char,
                gatt.Characteristic(
                    EPOCH_UUID,
                    gatt.Characteristic.Properties.WRITE,
                    gatt.Characteristic.WRITEABLE,
                    gatt.CharacteristicValue(write=self._write_epoch),
                ),
            ],
        )
        device.add_service(service)
        device.on(Device.EVENT_CONNECTION, self._on_connection)

    @property
    def relay_id(self) -> str:
        return self.logic.config.relay_id

    async def start(self) -> None:
        adv, scan = advertising_data(self.relay_id)
        await self.device.start_advertising(
            advertising_data=adv, scan_response_data=scan, auto_restart=True
        )

    async def stop(self) -> None:
        await self.device.stop_advertising()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- GATT callbacks -------------------------------------------------------------------------

    def _on_connection(self, connection: Connection) -> None:
        handle = connection.handle

        def on_disconnection(_reason: int) -> None:
            self.logic.end_session(handle)
            self._results.pop(handle, None)

        connection.on(Connection.EVENT_DISCONNECTION, on_disconnection)

    def _read_challenge(self, connection: Connection) -> bytes:
        return self.logic.challenge(connection.handle).encode()

    def _read_result(self, connection: Connection) -> bytes:
        return self._results.get(connection.handle, b"")

    def _write_token(self, connection: Connection, value: bytes) -> None:
        verdict = self.logic.submit(connection.handle, bytes(value))
        self._results[connection.handle] = verdict.signed
        log.info(
            "relay verdict",
            extra={
                "relay_id": self.relay_id,
                "outcome": verdict.body.outcome.name,
                "reason": verdict.body.reason.name,
            },
        )
        # notify after the write response has gone out, so the central sees them in order
        task = asyncio.get_running_loop().create_task(self._notify(connection, verdict.signed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self, connection: Connection, value: bytes) -> None:
        try:
            await self.device.notify_subscriber(connection, self._result_char, value)
        except Exception as exc:  # the central went away: the result stays readable
            log.debug("result notification not delivered: %s", exc)

    def _write_epoch(self, _connection: Connection, value: bytes) -> None:
        try:
            epoch = self.logic.apply_epoch_notice(bytes(value))
        except EpochNoticeRejected as exc:
            log.warning("epoch notice refused", extra={"relay_id": self.relay_id})
            raise att.ATT_Error(ATT_NOTICE_REJECTED, message=str(exc)) from None
        log.info("relay epoch", extra={"relay_id": self.relay_id, "epoch": epoch})
