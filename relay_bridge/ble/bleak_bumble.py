"""A bleak backend on a Bumble central, so bleak's public API runs against virtual peripherals.

bleak builds its backend objects itself (``BleakScanner(backend=...)``,
``BleakClient(..., backend=...)``), passing only its own arguments. The Bumble device the
backend must use is therefore bound to the backend *class*: a `BumbleCentral` hands out a
subclass of `BumbleScanner` and of `BumbleClient` per central::

    central = await air.add_central()
    device = await BleakScanner.find_device_by_name("relay", backend=central.scanner_backend)
    async with BleakClient(device, backend=central.client_backend) as client:
        await client.write_gatt_char(CHAR_UUID, payload, response=True)

Code written against bleak needs nothing else: it takes the two backend types (or ``None``
for the platform's own) where it builds its scanner and clients.

Bumble errors stop here: GATT errors become `BleakGATTProtocolError`, a dropped link
`BleakError`, Bumble's timeouts `TimeoutError`; an address that never advertises within the
connect timeout is `BleakDeviceNotFoundError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, Literal, TypeVar

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CHARACTERISTIC_PROPERTIES, CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import att, core, hci
from bumble.core import AdvertisingData
from bumble.device import Advertisement, Connection, Device
from bumble.gatt import GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR
from bumble.gatt_client import CharacteristicProxy, Client
from bumble.host import Host
from bumble.transport import open_transport
from bumble.transport.common import Transport

__all__ = ["BumbleCentral", "BumbleClient", "BumbleScanner"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

_UUID_LISTS = {
    AdvertisingData.Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
    AdvertisingData.Type.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
    AdvertisingData.Type.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS: 4,
    AdvertisingData.Type.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS: 4,
    AdvertisingData.Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
    AdvertisingData.Type.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
}
_SERVICE_DATA = {
    AdvertisingData.Type.SERVICE_DATA_16_BIT_UUID: 2,
    AdvertisingData.Type.SERVICE_DATA_32_BIT_UUID: 4,
    AdvertisingData.Type.SERVICE_DATA_128_BIT_UUID: 16,
}


class BumbleCentral:
    """A Bumble device acting as the Bluetooth adapter behind bleak.

    Its scanners share one scan (Bumble scans once per device) and its clients take turns to
    initiate connections (a controller initiates one at a time); once connected, clients
    run concurrently.
    """

    def __init__(self, device: Device, *, mtu: int = 247) -> None:
        self.device = device
        self.mtu = mtu
        self._transport: Transport | None = None
        self._scan_users = 0
        self._scan_lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()
        central = self

        class _Scanner(BumbleScanner):
            _bound_central = central

        class _Client(BumbleClient):
            _bound_central = central

        # bleak reports `backend.__name__` as the backend id.
        _Scanner.__name__ = _Scanner.__qualname__ = "BumbleScanner"
        _Client.__name__ = _Client.__qualname__ = "BumbleClient"
        self.scanner_backend: type[BumbleScanner] = _Scanner
        self.client_backend: type[BumbleClient] = _Client

    @classmethod
    async def open(
        cls, hci_transport: str, *, address: str, name: str = "central", mtu: int = 247
    ) -> BumbleCentral:
        """A central whose controller is elsewhere: ``VirtualAir.serve_central`` in another
        process gives `hci_transport` and `address`. `close` it when done."""
        transport = await open_transport(hci_transport)
        try:
            device = Device(
                name=name,
                address=hci.Address(address),
                host=Host(transport.source, transport.sink),
            )
            await device.power_on()
        except BaseException:
            await transport.close()
            raise
        central = cls(device, mtu=mtu)
        central._transport = transport
        return central

    async def close(self) -> None:
        """Close the HCI transport of a central made by `open` (a no-op otherwise)."""
        transport, self._transport = self._transport, None
        if transport is not None:
            await self.device.power_off()
            await transport.close()

    async def start_scanning(self) -> None:
        async with self._scan_lock:
            # Enabled again for every scanner that joins, so that a controller that prompts
            # advertisers when a scan starts (the virtual air's) does so for each of them.
            await self.device.start_scanning(active=True, filter_duplicates=False)
            self._scan_users += 1

    async def stop_scanning(self) -> None:
        async with self._scan_lock:
            self._scan_users -= 1
            if self._scan_users == 0 and self.device.is_scanning:
                await self.device.stop_scanning()

    async def connect(self, address: hci.Address) -> Connection:
        """Initiate an LE connection; cancellable (a cancelled initiation is withdrawn)."""
        async with self._connect_lock:
            if self.device.find_connection_by_bd_addr(address, core.PhysicalTransport.LE):
                raise BleakError(f"this central is already connected to {address}")
            try:
                return await self.device.connect(address, transport=core.PhysicalTransport.LE)
            except asyncio.CancelledError:
                await asyncio.shield(self._withdraw(address))
                raise

    async def _withdraw(self, address: hci.Address) -> None:
        # The controller may still be initiating (the usual case) or may have connected in
        # the meantime; either way no one is waiting for this link any more.
        with contextlib.suppress(hci.HCI_Error):
            await self.device.send_sync_command(hci.HCI_LE_Create_Connection_Cancel_Command())
        orphan = self.device.find_connection_by_bd_addr(address, core.PhysicalTransport.LE)
        if orphan is not None:
            await orphan.disconnect()


def _bound_central(backend: type[BumbleScanner | BumbleClient]) -> BumbleCentral:
    central = backend._bound_central
    if central is None:
        raise BleakError(
            f"{backend.__name__} is not bound to a central: pass `central.scanner_backend` "
            "or `central.client_backend` of a BumbleCentral as bleak's backend"
        )
    return central


def _uuid_str(value: core.UUID) -> str:
    return str(uuid.UUID(bytes=value.to_bytes(force_128=True)[::-1]))


def _advertisement_data(advertisement: Advertisement) -> AdvertisementData:
    local_name: str | None = None
    service_uuids: list[str] = []
    service_data: dict[str, bytes] = {}
    manufacturer_data: dict[int, bytes] = {}
    tx_power: int | None = None
    for ad_type, payload in advertisement.data.ad_structures:
        if (size := _UUID_LISTS.get(ad_type)) is not None:
            for start in range(0, len(payload) - size + 1, size):
                text = _uuid_str(core.UUID.from_bytes(payload[start : start + size]))
                # Bumble's stock controller answers scan requests with the advertising data,
                # so an active scan can see every structure twice.
                if text not in service_uuids:
                    service_uuids.append(text)
        elif (size := _SERVICE_DATA.get(ad_type)) is not None and len(payload) >= size:
            service_data[_uuid_str(core.UUID.from_bytes(payload[:size]))] = payload[size:]
        elif ad_type == AdvertisingData.Type.COMPLETE_LOCAL_NAME or (
            ad_type == AdvertisingData.Type.SHORTENED_LOCAL_NAME and local_name is None
        ):
            local_name = payload.decode(errors="replace")
        elif ad_type == AdvertisingData.Type.MANUFACTURER_SPECIFIC_DATA and len(payload) >= 2:
            manufacturer_data[int.from_bytes(payload[:2], "little")] = payload[2:]
        elif ad_type == AdvertisingData.Type.TX_POWER_LEVEL and len(payload) == 1:
            tx_power = int.from_bytes(payload, "little", signed=True)
    return AdvertisementData(
        local_name=local_name,
        manufacturer_data=manufacturer_data,
        service_data=service_data,
        service_uuids=service_uuids,
        tx_power=tx_power,
        rssi=advertisement.rssi,
        platform_data=(advertisement,),
    )


def _merged(before: AdvertisementData, now: AdvertisementData) -> AdvertisementData:
    return AdvertisementData(
        local_name=now.local_name or before.local_name,
        manufacturer_data={**before.manufacturer_data, **now.manufacturer_data},
        service_data={**before.service_data, **now.service_data},
        service_uuids=list(dict.fromkeys([*before.service_uuids, *now.service_uuids])),
        tx_power=now.tx_power if now.tx_power is not None else before.tx_power,
        rssi=now.rssi,
        platform_data=now.platform_data,
    )


class BumbleScanner(BaseBleakScanner):
    """bleak scanner backend over a `BumbleCentral`; use ``central.scanner_backend``.

    Scanning is always active, so scan responses are seen and merged into the advertisement.
    `BLEDevice.details` is the peer's Bumble `hci.Address`.
    """

    _bound_central: ClassVar[BumbleCentral | None] = None

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._central = _bound_central(type(self))
        self._scanning = False

    async def start(self) -> None:
        if self._scanning:
            return
        self.seen_devices = {}
        self._central.device.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        try:
            await self._central.start_scanning()
        except core.BaseBumbleError as error:
            self._central.device.remove_listener(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
            raise BleakError(f"cannot start scanning: {error}") from error
        self._scanning = True

    async def stop(self) -> None:
        if not self._scanning:
            return
        self._scanning = False
        self._central.device.remove_listener(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        await self._central.stop_scanning()

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        data = _advertisement_data(advertisement)
        address = advertisement.address.to_string(with_type_qualifier=False)
        # As BlueZ and CoreBluetooth do, a device's advertising data and scan response are
        # merged: a relay advertises its service UUID and sends its name in the scan response.
        seen = self.seen_devices.get(address)
        if seen is not None:
            data = _merged(seen[1], data)
        if not self.is_allowed_uuid(data.service_uuids):
            return
        device = self.create_or_update_device(
            address, address, data.local_name, advertisement.address, data
        )
        self.call_detection_callbacks(device, data)


class BumbleClient(BaseBleakClient):
    """bleak client backend over a `BumbleCentral`; use ``central.client_backend``.

    On connect it exchanges the ATT MTU (``central.mtu``) and discovers all services,
    characteristics and descriptors. The disconnected callback runs on every disconnection,
    requested or not, as with bleak's BlueZ backend. Pairing is not emulated.
    """

    _bound_central: ClassVar[BumbleCentral | None] = None

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None,
        timeout: float,
        services: set[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._central = _bound_central(type(self))
        self._seen = isinstance(address_or_ble_device, BLEDevice)
        self._peer: hci.Address | None = None
        self._name = self.address
        if isinstance(address_or_ble_device, BLEDevice):
            if isinstance(address_or_ble_device.details, hci.Address):
                self._peer = address_or_ble_device.details
            self._name = address_or_ble_device.name or self.address
        self._service_filter = services
        self._connection: Connection | None = None
        self._lost: asyncio.Future[int] | None = None
        self._mtu = att.ATT_DEFAULT_MTU
        self._subscribers: dict[int, Callable[[bytes], None]] = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else self._mtu

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self._connection is not None:
            return
        if pair:
            logger.warning("pairing is not emulated; connecting to %s without it", self.address)
        peer = self._peer or self._parse_address()
        timeout = float(kwargs.get("timeout", self._timeout))
        connection: Connection | None = None
        try:
            async with asyncio.timeout(timeout):
                connection = await self._central.connect(peer)
                self._attach(connection)
                await self._set_up(connection.gatt_client)
        except BaseException as error:
            if connection is not None:
                await asyncio.shield(self._drop(connection))
            if isinstance(error, TimeoutError) and connection is None and not self._seen:
                raise BleakDeviceNotFoundError(
                    self.address, f"{self.address} did not advertise within {timeout} s"
                ) from error
            raise

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        await self._drop(connection)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("pairing is not emulated by the Bumble backend")

    async def unpair(self) -> None:
        raise NotImplementedError("pairing is not emulated by the Bumble backend")

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return await self._read(characteristic.handle, use_cached=use_cached)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return await self._read(descriptor.handle, use_cached=use_cached)

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        value = bytes(data)
        if not response and len(value) > characteristic.max_write_without_response_size:
            raise BleakError(
                f"{len(value)} bytes do not fit a write without response "
                f"(at most {characteristic.max_write_without_response_size} at MTU "
                f"{self.mtu_size})"
            )
        client = self._client("write")
        await self._run(
            "write", client.write_value(characteristic.handle, value, with_response=response)
        )

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        client = self._client("write descriptor")
        await self._run(
            "write descriptor",
            client.write_value(descriptor.handle, bytes(data), with_response=True),
        )

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        proxy = _proxy(characteristic)
        if (
            not proxy.properties & (proxy.properties.NOTIFY | proxy.properties.INDICATE)
            or proxy.get_descriptor(GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR) is None
        ):
            raise BleakError(f"characteristic {characteristic.uuid} cannot notify or indicate")
        client = self._client("start notify")
        if (previous := self._subscribers.pop(characteristic.handle, None)) is not None:
            await self._run("start notify", client.unsubscribe(proxy, previous))

        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = on_value
        await self._run("start notify", client.subscribe(proxy, on_value, prefer_notify=True))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        subscriber = self._subscribers.pop(characteristic.handle, None)
        if subscriber is None:
            raise BleakError(f"notifications are not started on {characteristic.uuid}")
        client = self._client("stop notify")
        await self._run("stop notify", client.unsubscribe(_proxy(characteristic), subscriber))

    # --- internals -----------------------------------------------------------------------

    def _parse_address(self) -> hci.Address:
        try:
            return hci.Address(self.address)
        except (core.InvalidArgumentError, ValueError) as error:
            raise BleakDeviceNotFoundError(
                self.address, f"not a Bluetooth address: {error}"
            ) from error

    def _attach(self, connection: Connection) -> None:
        self._connection = connection
        self._lost = asyncio.get_running_loop().create_future()
        connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)

    def _on_disconnection(self, reason: int) -> None:
        self._connection = None
        self._subscribers.clear()
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(reason)
        if self._disconnected_callback is not None:
            asyncio.get_running_loop().call_soon(self._disconnected_callback)

    async def _set_up(self, client: Client) -> None:
        self._mtu = await self._run("MTU exchange", client.request_mtu(self._central.mtu))
        wanted = [core.UUID(u) for u in self._service_filter] if self._service_filter else []
        services = BleakGATTServiceCollection()
        for service in await self._run("service discovery", client.discover_services(wanted)):
            bleak_service = BleakGATTService(service, service.handle, _uuid_str(service.uuid))
            services.add_service(bleak_service)
            for characteristic in await self._run(
                "characteristic discovery", service.discover_characteristics()
            ):
                await self._run("descriptor discovery", characteristic.discover_descriptors())
                # Bumble would otherwise discover them again on every subscribe.
                characteristic.descriptors_discovered = True
                bleak_characteristic = BleakGATTCharacteristic(
                    characteristic,
                    characteristic.handle,
                    _uuid_str(characteristic.uuid),
                    _properties(characteristic.properties),
                    self._max_write_without_response_size,
                    bleak_service,
                )
                services.add_characteristic(bleak_characteristic)
                for descriptor in characteristic.descriptors:
                    services.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor,
                            descriptor.handle,
                            _uuid_str(descriptor.type),
                            bleak_characteristic,
                        )
                    )
        self.services = services

    def _max_write_without_response_size(self) -> int:
        return self.mtu_size - 3

    async def _drop(self, connection: Connection) -> None:
        if self._connection is not connection:
            return
        with contextlib.suppress(core.BaseBumbleError, hci.HCI_Error):
            await connection.disconnect()

    async def _read(self, handle: int, *, use_cached: bool) -> bytearray:
        client = self._client("read")
        if use_cached and (cached := client.cached_values.get(handle)) is not None:
            return bytearray(cached[1])
        return bytearray(await self._run("read", client.read_value(handle)))

    def _client(self, what: str) -> Client:
        if self._connection is None:
            raise BleakError(f"{what}: not connected to {self.address}")
        return self._connection.gatt_client

    async def _run(self, what: str, operation: Coroutine[Any, Any, _T]) -> _T:
        """Run a Bumble GATT operation; end it with a bleak error if the link drops first.

        Bumble fails only the request on the wire when a link drops; one queued behind it
        would wait for its 30 s ATT timeout, so every operation races the disconnection.
        """
        lost = self._lost
        if lost is None or lost.done():
            operation.close()
            raise BleakError(f"{what}: not connected to {self.address}")
        task = asyncio.ensure_future(operation)
        try:
            await asyncio.wait((task, lost), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, core.BaseBumbleError):
                await task
            raise BleakError(f"{what}: {self.address} disconnected")
        try:
            return task.result()
        except asyncio.CancelledError:
            # Bumble cancels the pending ATT response when the link drops.
            raise BleakError(f"{what}: {self.address} disconnected") from None
        except att.ATT_Error as error:
            raise BleakGATTProtocolError(error.error_code) from error
        except core.TimeoutError as error:
            raise TimeoutError(f"{what}: {error}") from error
        except core.BaseBumbleError as error:
            raise BleakError(f"{what}: {error}") from error


def _proxy(characteristic: BleakGATTCharacteristic) -> CharacteristicProxy[bytes]:
    proxy = characteristic.obj
    if not isinstance(proxy, CharacteristicProxy):
        raise BleakError(f"characteristic {characteristic.uuid} does not come from this backend")
    return proxy


def _properties(flags: int) -> list[CharacteristicPropertyName]:
    return [name for bit, name in CHARACTERISTIC_PROPERTIES.items() if flags & bit]
