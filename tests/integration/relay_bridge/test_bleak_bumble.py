"""bleak's public API against plain Bumble GATT servers on the virtual air.

Every peripheral here is an ordinary Bumble `Device` with a GATT service; every central-side
call goes through `bleak.BleakScanner` / `bleak.BleakClient` with the Bumble backend.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import (
    BleakCharacteristicNotFoundError,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
    BleakGATTProtocolErrorCode,
)
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service

from relay_bridge.ble import BumbleCentral, BumbleScanner, VirtualAir, advertising_data

SERVICE = "8e7d0001-5c36-4a5a-9d0b-6c1f0a1e2b3c"
CHALLENGE = "8e7d0002-5c36-4a5a-9d0b-6c1f0a1e2b3c"  # read: 600 bytes, longer than any MTU
TOKEN = "8e7d0003-5c36-4a5a-9d0b-6c1f0a1e2b3c"  # write (with and without response)
RESULT = "8e7d0004-5c36-4a5a-9d0b-6c1f0a1e2b3c"  # notify
CCCD = "00002902-0000-1000-8000-00805f9b34fb"
OTHER_SERVICE = "0000180f-0000-1000-8000-00805f9b34fb"
MANUFACTURER = 0xFFFF  # reserved for testing by the Bluetooth SIG

READ_VALUE = bytes(range(256)) * 2 + bytes(range(88))  # 600 bytes


@dataclass
class Relay:
    """A plain Bumble GATT server: records writes, echoes them as notifications if asked."""

    name: str
    device: Device
    result: Characteristic[bytes]
    echo: bool
    writes: list[bytes] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    release_read: asyncio.Event = field(default_factory=asyncio.Event)
    hold_reads: bool = False

    @property
    def address(self) -> str:
        return self.device.static_address.to_string(with_type_qualifier=False)

    async def on_write(self, connection: Connection, value: bytes) -> None:
        self.writes.append(value)
        if self.echo:
            await self.device.notify_subscriber(connection, self.result, value)

    async def on_read(self, connection: Connection) -> bytes:
        if self.hold_reads:
            await self.release_read.wait()
        return READ_VALUE


async def add_relay(air: VirtualAir, name: str, *, echo: bool = False) -> Relay:
    device = await air.add_peripheral(name)
    result: Characteristic[bytes] = Characteristic(
        RESULT, Characteristic.Properties.NOTIFY, Characteristic.READABLE, b""
    )
    relay = Relay(name=name, device=device, result=result, echo=echo)
    device.add_service(
        Service(
            SERVICE,
            [
                Characteristic(
                    CHALLENGE,
                    Characteristic.Properties.READ,
                    Characteristic.READABLE,
                    CharacteristicValue(read=relay.on_read),
                ),
                Characteristic(
                    TOKEN,
                    Characteristic.Properties.WRITE
                    | Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
                    Characteristic.WRITEABLE,
                    CharacteristicValue(write=relay.on_write),
                ),
                result,
            ],
        )
    )
    device.on(Device.EVENT_CONNECTION, relay.connections.append)
    await device.start_advertising(
        advertising_data=advertising_data(
            local_name=name,
            service_uuids=[SERVICE],
            manufacturer_data={MANUFACTURER: name.encode()},
        )
    )
    return relay


@pytest.fixture
async def air() -> AsyncIterator[VirtualAir]:
    async with VirtualAir() as air:
        yield air


@pytest.fixture
async def central(air: VirtualAir) -> BumbleCentral:
    return await air.add_central()


async def connected(
    central: BumbleCentral,
    relay: Relay,
    disconnected_callback: Callable[[BleakClient], None] | None = None,
) -> BleakClient:
    device = await BleakScanner.find_device_by_name(
        relay.name, timeout=5, backend=central.scanner_backend
    )
    assert device is not None
    client = BleakClient(device, disconnected_callback, backend=central.client_backend, timeout=5)
    await client.connect()
    return client


async def test_scan_filters_on_service_uuid_and_reports_advertisement(
    air: VirtualAir, central: BumbleCentral
) -> None:
    relay = await add_relay(air, "relay-1")
    bystander = await air.add_peripheral("bystander")
    await bystander.start_advertising(
        advertising_data=advertising_data(local_name="bystander", service_uuids=[OTHER_SERVICE])
    )

    everything = await BleakScanner.discover(
        timeout=0.1, return_adv=True, backend=central.scanner_backend
    )
    filtered = await BleakScanner.discover(
        timeout=0.1, return_adv=True, service_uuids=[SERVICE], backend=central.scanner_backend
    )

    assert {adv.local_name for _, adv in everything.values()} == {"relay-1", "bystander"}
    assert list(filtered) == [relay.address]
    device, adv = filtered[relay.address]
    assert device.name == "relay-1"
    assert adv.local_name == "relay-1"
    assert adv.service_uuids == [SERVICE]
    assert adv.manufacturer_data == {MANUFACTURER: b"relay-1"}
    assert adv.rssi == -50  # what Bumble's emulated controller reports


async def test_scan_response_is_merged_into_the_advertisement(
    air: VirtualAir, central: BumbleCentral
) -> None:
    # A relay's 128-bit service UUID fills the advertisement; its name goes in the scan response.
    peripheral = await air.add_peripheral("relay-sr")
    await peripheral.start_advertising(
        advertising_data=advertising_data(service_uuids=[SERVICE]),
        scan_response_data=advertising_data(local_name="relay-sr", flags=False),
    )

    found = await BleakScanner.discover(
        timeout=0.1, return_adv=True, service_uuids=[SERVICE], backend=central.scanner_backend
    )
    by_name = await BleakScanner.find_device_by_name(
        "relay-sr", timeout=5, backend=central.scanner_backend
    )

    [(device, adv)] = found.values()
    assert (adv.local_name, adv.service_uuids) == ("relay-sr", [SERVICE])
    assert by_name is not None
    assert by_name.address == device.address


async def test_find_device_by_name_and_by_filter(air: VirtualAir, central: BumbleCentral) -> None:
    relays = [await add_relay(air, f"relay-{i}") for i in range(3)]

    by_name = await BleakScanner.find_device_by_name(
        "relay-2", timeout=5, backend=central.scanner_backend
    )
    by_filter = await BleakScanner.find_device_by_filter(
        lambda _, adv: adv.manufacturer_data.get(MANUFACTURER) == b"relay-1",
        timeout=5,
        backend=central.scanner_backend,
    )
    missing = await BleakScanner.find_device_by_name(
        "relay-9", timeout=0.1, backend=central.scanner_backend
    )

    assert by_name is not None
    assert by_name.address == relays[2].address
    assert by_filter is not None
    assert by_filter.address == relays[1].address
    assert missing is None


async def test_connect_exchanges_mtu_and_discovers_services(
    air: VirtualAir, central: BumbleCentral
) -> None:
    relay = await add_relay(air, "relay-1")

    async with await connected(central, relay) as client:
        assert client.is_connected
        assert client.mtu_size == 247
        assert client.name == "relay-1"
        service = client.services.get_service(SERVICE)
        assert service is not None
        properties = {c.uuid: sorted(c.properties) for c in service.characteristics}
        assert properties == {
            CHALLENGE: ["read"],
            TOKEN: ["write", "write-without-response"],
            RESULT: ["notify"],
        }
        result = service.get_characteristic(RESULT)
        assert result is not None
        assert [d.uuid for d in result.descriptors] == [CCCD]
        token = service.get_characteristic(TOKEN)
        assert token is not None
        assert token.max_write_without_response_size == 244
        assert len(relay.connections) == 1

    assert not client.is_connected


async def test_service_filter_limits_discovery(air: VirtualAir, central: BumbleCentral) -> None:
    relay = await add_relay(air, "relay-1")

    client = BleakClient(
        relay.address, services=[SERVICE], backend=central.client_backend, timeout=5
    )
    async with client:
        assert [s.uuid for s in client.services] == [SERVICE]


async def test_long_read_returns_the_whole_value(air: VirtualAir, central: BumbleCentral) -> None:
    relay = await add_relay(air, "relay-1")

    async with await connected(central, relay) as client:
        value = await client.read_gatt_char(CHALLENGE)
        cached = await client.read_gatt_char(CHALLENGE, use_cached=True)

    assert value == READ_VALUE
    assert cached == READ_VALUE


async def test_writes_arrive_whole_and_once(air: VirtualAir, central: BumbleCentral) -> None:
    relay = await add_relay(air, "relay-1")
    long_value = os.urandom(500)  # > MTU - 3: prepared writes, committed once
    short_value = os.urandom(100)
    unacknowledged = os.urandom(244)

    async with await connected(central, relay) as client:
        await client.write_gatt_char(TOKEN, long_value, response=True)
        await client.write_gatt_char(TOKEN, short_value, response=True)
        await client.write_gatt_char(TOKEN, unacknowledged, response=False)
        await client.read_gatt_char(CHALLENGE)  # a round trip: the command has arrived

        with pytest.raises(BleakGATTProtocolError) as too_long:
            await client.write_gatt_char(TOKEN, bytes(513), response=True)
        with pytest.raises(BleakError, match="do not fit"):
            await client.write_gatt_char(TOKEN, bytes(245), response=False)

    assert relay.writes == [long_value, short_value, unacknowledged]
    assert too_long.value.code == BleakGATTProtocolErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH


async def test_notifications_reach_the_callback_until_stopped(
    air: VirtualAir, central: BumbleCentral
) -> None:
    relay = await add_relay(air, "relay-1")
    received: asyncio.Queue[tuple[BleakGATTCharacteristic, bytearray]] = asyncio.Queue()
    subscriptions: list[tuple[bool, bool]] = []
    relay.result.on(
        Characteristic.EVENT_SUBSCRIPTION,
        lambda _bearer, notify, indicate: subscriptions.append((notify, indicate)),
    )

    async with await connected(central, relay) as client:
        await client.start_notify(RESULT, lambda char, data: received.put_nowait((char, data)))
        await relay.device.notify_subscribers(relay.result, b"first")
        characteristic, data = await asyncio.wait_for(received.get(), 5)
        await client.stop_notify(RESULT)
        await relay.device.notify_subscribers(relay.result, b"second")
        await client.read_gatt_char(CHALLENGE)  # a round trip after the second notification

        with pytest.raises(BleakError, match="cannot notify"):
            await client.start_notify(TOKEN, lambda _c, _d: None)

    assert characteristic.uuid == RESULT
    assert data == bytearray(b"first")
    assert received.empty()
    assert subscriptions == [(True, False), (False, False)]


async def test_peripheral_disconnect_calls_the_disconnected_callback(
    air: VirtualAir, central: BumbleCentral
) -> None:
    relay = await add_relay(air, "relay-1")
    disconnected: asyncio.Future[BleakClient] = asyncio.get_running_loop().create_future()
    client = await connected(central, relay, disconnected_callback=disconnected.set_result)

    await relay.connections[0].disconnect()

    assert await asyncio.wait_for(disconnected, 5) is client
    assert not client.is_connected
    with pytest.raises(BleakError, match="not connected"):
        await client.read_gatt_char(CHALLENGE)


async def test_vanished_peripheral_fails_operations_in_flight_and_new_connections(
    air: VirtualAir, central: BumbleCentral
) -> None:
    relay = await add_relay(air, "relay-1")
    device = await BleakScanner.find_device_by_name(
        "relay-1", timeout=5, backend=central.scanner_backend
    )
    assert device is not None
    disconnected = asyncio.Event()
    client = BleakClient(
        device, lambda _: disconnected.set(), backend=central.client_backend, timeout=5
    )
    await client.connect()
    relay.hold_reads = True
    # Two reads: one on the wire, one queued behind it in Bumble's ATT client.
    reads = [asyncio.create_task(client.read_gatt_char(CHALLENGE)) for _ in range(2)]
    await asyncio.sleep(0.01)

    await air.remove(relay.device)

    results = await asyncio.wait_for(asyncio.gather(*reads, return_exceptions=True), 5)
    assert all(isinstance(r, BleakError) and "disconnected" in str(r) for r in results)
    await asyncio.wait_for(disconnected.wait(), 5)
    with pytest.raises(TimeoutError):
        await BleakClient(device, backend=central.client_backend, timeout=0.2).connect()


async def test_unknown_characteristic_is_a_bleak_error(
    air: VirtualAir, central: BumbleCentral
) -> None:
    relay = await add_relay(air, "relay-1")

    async with await connected(central, relay) as client:
        with pytest.raises(BleakCharacteristicNotFoundError):
            await client.read_gatt_char("8e7d00ff-5c36-4a5a-9d0b-6c1f0a1e2b3c")


async def test_silent_address_is_not_found_and_the_central_stays_usable(
    air: VirtualAir, central: BumbleCentral
) -> None:
    relay = await add_relay(air, "relay-1")

    with pytest.raises(BleakDeviceNotFoundError):
        await BleakClient(
            "C0:DE:00:FF:FF:FF", backend=central.client_backend, timeout=0.2
        ).connect()

    # The withdrawn initiation no longer blocks the controller.
    async with BleakClient(relay.address, backend=central.client_backend, timeout=5) as client:
        assert await client.read_gatt_char(CHALLENGE) == READ_VALUE


async def test_backend_must_be_bound_to_a_central() -> None:
    with pytest.raises(BleakError, match="not bound to a central"):
        BleakScanner(backend=BumbleScanner)


async def test_fifty_peripherals_served_concurrently_by_one_central(
    air: VirtualAir, central: BumbleCentral
) -> None:
    relays = [await add_relay(air, f"relay-{i:02}", echo=True) for i in range(50)]
    found = await BleakScanner.discover(
        timeout=0.1, return_adv=True, service_uuids=[SERVICE], backend=central.scanner_backend
    )
    assert set(found) == {relay.address for relay in relays}

    async def round_trip(relay: Relay) -> bytearray:
        payload = os.urandom(105)
        echoed: asyncio.Future[bytearray] = asyncio.get_running_loop().create_future()
        device, _ = found[relay.address]
        async with BleakClient(device, backend=central.client_backend, timeout=30) as client:
            await client.start_notify(RESULT, lambda _, data: echoed.set_result(data))
            await client.write_gatt_char(TOKEN, payload, response=True)
            assert await asyncio.wait_for(echoed, 10) == payload
            assert relay.writes == [payload]
        return bytearray(payload)

    payloads = await asyncio.gather(*(round_trip(relay) for relay in relays))

    assert len(set(map(bytes, payloads))) == 50
    assert all(len(relay.connections) == 1 for relay in relays)


async def test_central_over_hci_on_tcp_reaches_the_air(air: VirtualAir) -> None:
    # What a bridge in another process does; here over a real socket within one process.
    relay = await add_relay(air, "relay-1", echo=True)
    endpoint = await air.serve_central("bridge")
    central = await BumbleCentral.open(endpoint.hci_transport, address=endpoint.address)
    try:
        echoed: asyncio.Future[bytearray] = asyncio.get_running_loop().create_future()
        async with await connected(central, relay) as client:
            assert client.mtu_size == 247
            await client.start_notify(RESULT, lambda _, data: echoed.set_result(data))
            await client.write_gatt_char(TOKEN, b"token", response=True)
            assert await asyncio.wait_for(echoed, 5) == b"token"
            assert await client.read_gatt_char(CHALLENGE) == READ_VALUE
        assert relay.connections[0].peer_address.to_string(False) == endpoint.address
    finally:
        await central.close()


BRIDGE_PROCESS = """
import asyncio, sys
from bleak import BleakClient, BleakScanner
from relay_bridge.ble import BumbleCentral

async def main(hci_transport, address):
    central = await BumbleCentral.open(hci_transport, address=address)
    try:
        device = await BleakScanner.find_device_by_name(
            "relay-1", timeout=5, backend=central.scanner_backend
        )
        async with BleakClient(device, backend=central.client_backend, timeout=5) as client:
            await client.write_gatt_char(sys.argv[3], b"from another process", response=True)
            print(len(await client.read_gatt_char(sys.argv[4])))
    finally:
        await central.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_central_in_another_process_reaches_the_air(air: VirtualAir) -> None:
    relay = await add_relay(air, "relay-1")
    endpoint = await air.serve_central("bridge")

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        BRIDGE_PROCESS,
        endpoint.hci_transport,
        endpoint.address,
        TOKEN,
        CHALLENGE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().split() == [str(len(READ_VALUE))]
    assert relay.writes == [b"from another process"]
