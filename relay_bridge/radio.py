"""Which bleak backend the bridge and the phone library use.

On real hardware both fields stay ``None`` and bleak picks its platform backend (BlueZ,
CoreBluetooth, WinRT). Tests, the demo and the benchmarks pass the project's Bumble backend
(``relay_bridge.ble``) so that the very same ``BleakScanner``/``BleakClient`` calls run over
virtual Bluetooth controllers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import BaseBleakScanner


@dataclass(frozen=True, slots=True)
class Radio:
    client_backend: type[BaseBleakClient] | None = None
    scanner_backend: type[BaseBleakScanner] | None = None
    client_kwargs: Mapping[str, Any] = field(default_factory=dict)
    """Extra keyword arguments bleak passes through to the client backend."""
    scanner_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def client(self, device: BLEDevice | str, *, timeout: float) -> BleakClient:
        return BleakClient(
            device, timeout=timeout, backend=self.client_backend, **self.client_kwargs
        )

    async def find_by_name(
        self, name: str, *, scan_s: float, service_uuids: list[str] | None = None
    ) -> BLEDevice | None:
        extra: dict[str, Any] = dict(self.scanner_kwargs)
        if self.scanner_backend is not None:
            extra["backend"] = self.scanner_backend
        if service_uuids:
            extra["service_uuids"] = service_uuids
        return await BleakScanner.find_device_by_name(name, timeout=scan_s, **extra)

    def scanner(self, **kwargs: Any) -> BleakScanner:
        return BleakScanner(backend=self.scanner_backend, **self.scanner_kwargs, **kwargs)
