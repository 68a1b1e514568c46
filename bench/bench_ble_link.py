"""What bleak over the Bumble backend costs a relay exchange on the virtual air.

Bumble peripherals echo every write as a notification (the write is answered first, then the
notification sent, as a relay answers a token). Two centrals on the same air, each connected to
one of them, run the same round trip: a 105-byte write with response, then wait for the
notification.

* bleak: `bleak.BleakClient` with `relay_bridge.ble`'s backend (the bridge's code path);
* baseline: Bumble's own GATT client on the same kind of connection.

Both run in alternating blocks in one process; the figure is wall time per round trip (p50, p99)
and the ratio bleak / baseline.

    .venv/bin/python bench/bench_ble_link.py [--round-trips 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable

from bleak import BleakClient
from bumble.core import UUID
from bumble.device import Connection, Peer
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.hci import Address

from relay_bridge.ble import VirtualAir, advertising_data

SERVICE = "8e7d0001-5c36-4a5a-9d0b-6c1f0a1e2b3c"
TOKEN = "8e7d0003-5c36-4a5a-9d0b-6c1f0a1e2b3c"
RESULT = "8e7d0004-5c36-4a5a-9d0b-6c1f0a1e2b3c"
PAYLOAD = os.urandom(105)
BLOCK = 100

RoundTrip = Callable[[], Awaitable[None]]


async def echo_peripheral(air: VirtualAir, name: str) -> Address:
    device = await air.add_peripheral(name)
    result: Characteristic[bytes] = Characteristic(
        RESULT, Characteristic.Properties.NOTIFY, Characteristic.READABLE, b""
    )
    pending: set[asyncio.Task[None]] = set()

    def on_write(connection: Connection, value: bytes) -> None:
        task = asyncio.create_task(device.notify_subscriber(connection, result, value))
        pending.add(task)
        task.add_done_callback(pending.discard)

    token = Characteristic(
        TOKEN,
        Characteristic.Properties.WRITE,
        Characteristic.WRITEABLE,
        CharacteristicValue(write=on_write),
    )
    device.add_service(Service(SERVICE, [token, result]))
    await device.start_advertising(
        advertising_data=advertising_data(local_name=name, service_uuids=[SERVICE])
    )
    return device.static_address


async def bleak_round_trip(air: VirtualAir, address: str) -> tuple[RoundTrip, BleakClient]:
    central = await air.add_central("bleak")
    client = BleakClient(address, backend=central.client_backend, timeout=10)
    await client.connect()
    notified: asyncio.Queue[bytearray] = asyncio.Queue()
    await client.start_notify(RESULT, lambda _, data: notified.put_nowait(data))

    async def round_trip() -> None:
        await client.write_gatt_char(TOKEN, PAYLOAD, response=True)
        await notified.get()

    return round_trip, client


async def bumble_round_trip(air: VirtualAir, address: Address) -> RoundTrip:
    central = await air.add_central("bumble")
    connection = await central.device.connect(address, timeout=10)
    peer = Peer(connection)
    await peer.request_mtu(central.mtu)
    await peer.discover_services()
    for service in peer.services:
        await service.discover_characteristics()
    token = peer.get_characteristics_by_uuid(UUID(TOKEN))[0]
    result = peer.get_characteristics_by_uuid(UUID(RESULT))[0]
    notified: asyncio.Queue[bytes] = asyncio.Queue()
    await result.subscribe(notified.put_nowait)

    async def round_trip() -> None:
        await token.write_value(PAYLOAD, with_response=True)
        await notified.get()

    return round_trip


async def timed(round_trip: RoundTrip, count: int, into: list[float]) -> None:
    for _ in range(count):
        start = time.perf_counter()
        await round_trip()
        into.append(time.perf_counter() - start)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def main(round_trips: int) -> None:
    async with VirtualAir() as air:
        # A peripheral stops advertising once connected: one each.
        for_bleak = await echo_peripheral(air, "relay-1")
        for_bumble = await echo_peripheral(air, "relay-2")
        via_bleak, client = await bleak_round_trip(
            air, for_bleak.to_string(with_type_qualifier=False)
        )
        via_bumble = await bumble_round_trip(air, for_bumble)
        await timed(via_bleak, BLOCK, [])  # warm-up
        await timed(via_bumble, BLOCK, [])
        bleak_s: list[float] = []
        bumble_s: list[float] = []
        for _ in range(max(1, round_trips // BLOCK)):
            await timed(via_bleak, BLOCK, bleak_s)
            await timed(via_bumble, BLOCK, bumble_s)
        await client.disconnect()

    print(
        f"{platform.node()}: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"105-byte write with response + notification, {len(bleak_s)} round trips each")
    print(f"{'path':<34}{'p50 µs':>10}{'p99 µs':>10}{'mean µs':>10}")
    rows = [("bleak + BumbleClient", bleak_s), ("Bumble GATT client (baseline)", bumble_s)]
    for name, samples in rows:
        print(
            f"{name:<34}{percentile(samples, 0.5) * 1e6:>10.0f}"
            f"{percentile(samples, 0.99) * 1e6:>10.0f}{statistics.fmean(samples) * 1e6:>10.0f}"
        )
    ratio = percentile(bleak_s, 0.5) / percentile(bumble_s, 0.5)
    print(f"ratio bleak / baseline (p50): {ratio:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round-trips", type=int, default=2000)
    asyncio.run(main(parser.parse_args().round_trips))
