"""Many emulated relays on one virtual air: for ``relay-bridge emulate``, the demo, the tests
and the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from nacl.signing import SigningKey, VerifyKey

from relay_bridge.ble.air import VirtualAir
from relay_bridge.relay.emulator import EmulatedRelay, SimulatedDoor
from relay_bridge.relay.logic import RelayConfig, RelayLogic


@dataclass(frozen=True, slots=True)
class RelaySpec:
    relay_id: str
    door_id: str
    offline_allowed: bool = False
    relay_key: SigningKey | None = None
    """The relay's own result-signing key; generated when not given."""


class EmulatedFleet:
    def __init__(
        self, air: VirtualAir, relays: dict[str, EmulatedRelay], doors: dict[str, str]
    ) -> None:
        self.air = air
        self.relays = relays
        self._doors = doors  # relay id -> door id

    @classmethod
    async def start(
        cls,
        air: VirtualAir,
        specs: Iterable[RelaySpec],
        *,
        trusted_keys: Mapping[bytes, VerifyKey],
        issuer: str | None = None,
        clock: Callable[[], float] = time.time,
        clock_drift_s: int = 30,
    ) -> EmulatedFleet:
        relays: dict[str, EmulatedRelay] = {}
        doors: dict[str, str] = {}
        for spec in specs:
            config = RelayConfig(
                relay_id=spec.relay_id,
                trusted_keys=trusted_keys,
                issuer=issuer,
                offline_allowed=spec.offline_allowed,
                clock_drift_s=clock_drift_s,
            )
            door = SimulatedDoor(clock)
            logic = RelayLogic(
                config,
                relay_key=spec.relay_key or SigningKey.generate(),
                clock=clock,
                on_open=door.open,
            )
            device = await air.add_peripheral(f"SmartRelay-{spec.relay_id}"[:29])
            relay = EmulatedRelay(logic, device, door)
            await relay.start()
            relays[spec.relay_id] = relay
            doors[spec.relay_id] = spec.door_id
        return cls(air, relays, doors)

    def registry(self) -> list[dict[str, str]]:
        """What the installer records for the bridge: door, relay and the relay's public key
        (``relay_bridge.bridge.load_relay_registry`` reads it back)."""
        return [
            {
                "door_id": self._doors[relay_id],
                "relay_id": relay_id,
                "public_key": relay.logic.public_key.hex(),
            }
            for relay_id, relay in self.relays.items()
        ]

    def door(self, relay_id: str) -> SimulatedDoor:
        return self.relays[relay_id].door

    async def stop(self) -> None:
        for relay in self.relays.values():
            await relay.stop()
