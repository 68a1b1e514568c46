"""The virtual air: Bumble controllers on one shared link, so BLE peers meet with no radio.

A `VirtualAir` owns a Bumble `LocalLink` and builds full Bumble stacks (controller, host,
device) on it: peripherals that an emulator fills with GATT services, and centrals that the
bleak backend in `relay_bridge.ble.bleak_bumble` drives. Everything runs on the event loop
that created it; nothing touches a real adapter.

Departures from Bumble's stock link and controller, each for a reason:

* Advertising PDUs reach only controllers that are scanning or initiating a connection.
  The stock link schedules every PDU on every controller, which made 50 idle peripherals
  cost a third of a core; the filter brings that to a few percent.
* A controller that starts scanning or initiating asks every advertiser on the link (or the
  one it wants) for an advertising event soon, as one would arrive within an advertising
  interval anyway. Discovery and connection therefore take milliseconds whatever interval
  the peripherals advertise at. A scan's events come `SCAN_PROMPT_DELAY_S` after the scan
  starts, not at once: bleak registers its detection callbacks only after the scan has
  started, and an event delivered before would be lost until the next interval.
* LE Create Connection Cancel ends the pending initiation with a Connection Complete event
  carrying Unknown Connection Identifier, as the Core spec (Vol 4, Part E, 7.8.13) says. The
  stock controller answers the command but leaves the initiation pending, so a connection
  attempt that timed out hung the host and blocked every later connection.
* An active scan gets the advertiser's scan response data as the scan response; the stock
  controller repeats the advertising data instead.
* The controller offers 251-byte LE ACL packets (Data Length Extension, as most controllers
  since Bluetooth 4.2) and skips Bumble's per-packet debug formatting unless debug logging
  is on: together they halve the CPU of a GATT round trip.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, cast

from bumble import controller as bumble_controller
from bumble import hci, ll
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink, StreamPacketSource

from relay_bridge.ble.bleak_bumble import BumbleCentral

__all__ = ["CentralEndpoint", "VirtualAir", "advertising_data"]

_controller_logger = logging.getLogger(bumble_controller.__name__)

# Random static addresses (two top bits set) in a block of our own: C0:DE:00:xx:xx:xx.
_ADDRESS_PREFIX = "C0:DE:00"
_MAX_DEVICES = 1 << 24

# Bumble's default advertising interval: with prompted advertising it costs nothing in
# latency, and a slow beat keeps hundreds of idle peripherals cheap.
DEFAULT_ADVERTISING_INTERVAL_MS = 1000.0

# How long after a scan starts the prompted advertising events arrive.
SCAN_PROMPT_DELAY_S = 0.005


class _AirLink(LocalLink):
    """A `LocalLink` that delivers advertising only to controllers that listen to it."""

    def __init__(self) -> None:
        # LocalLink.__init__ carries no annotations in Bumble 0.0.236.
        super().__init__()  # type: ignore[no-untyped-call]

    def send_advertising_pdu(
        self, sender_controller: Controller, packet: ll.AdvertisingPdu
    ) -> None:
        loop = asyncio.get_running_loop()
        if isinstance(packet, ll.ConnectInd):
            # Only the advertiser at the target address acts on a CONNECT_IND.
            for controller in self.controllers:
                if controller is not sender_controller and _advertises_as(
                    controller, packet.advertiser_address
                ):
                    loop.call_soon(controller.on_ll_advertising_pdu, packet)
            return
        for controller in self.controllers:
            if controller is not sender_controller and _listens(controller):
                loop.call_soon(controller.on_ll_advertising_pdu, packet)

    def prompt_advertisers(self, address: hci.Address | None = None) -> None:
        """Make every enabled advertiser (or only the one at `address`) advertise now."""
        for controller in list(self.controllers):
            legacy = controller.le_legacy_advertiser
            if legacy.enabled and (address is None or legacy.address == address):
                legacy.send_advertising_data()
            for advertising_set in controller.advertising_sets.values():
                if advertising_set.enabled and (
                    address is None or advertising_set.address == address
                ):
                    advertising_set.send_extended_advertising_data()


def _listens(controller: Controller) -> bool:
    return (
        controller.le_scan_enable
        or controller.pending_le_connection is not None
        or bool(controller.pending_periodic_advertising_syncs)
        or bool(controller.established_periodic_advertising_syncs)
    )


def _advertises_as(controller: Controller, address: hci.Address) -> bool:
    if controller.le_legacy_advertiser.address == address:
        return True
    return any(s.address == address for s in controller.advertising_sets.values())


class _AirController(Controller):
    """Bumble's emulated controller with prompted advertising, a working connect cancel and
    real scan responses."""

    link: _AirLink
    # LE Data Length Extension's maximum, as most controllers since Bluetooth 4.2 offer: the
    # host then sends an ATT PDU of a 247-byte MTU in one ACL packet instead of ten.
    le_acl_data_packet_length = 251

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        packet = self._with_scan_responses(packet)
        if self.host is None or _controller_logger.isEnabledFor(logging.DEBUG):
            super().send_hci_packet(packet)
            return
        # Bumble formats every HCI packet into a debug log line, even with debug logging
        # off; on the controller's two packet paths that was a quarter of the CPU of a GATT
        # exchange.
        asyncio.get_running_loop().call_soon(self.host.on_packet, bytes(packet))

    def on_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if _controller_logger.isEnabledFor(logging.DEBUG):
            super().on_hci_packet(packet)
        elif isinstance(packet, hci.HCI_AclDataPacket):
            self.on_hci_acl_data_packet(packet)
        elif isinstance(packet, hci.HCI_Command):
            self.on_hci_command_packet(packet)
        else:
            super().on_hci_packet(packet)

    def _with_scan_responses(self, packet: hci.HCI_Packet) -> hci.HCI_Packet:
        # Bumble's controller answers an active scan with the advertising data again as the
        # scan response; a real one sends what the advertiser set as its scan response data
        # (where relays put their name: it does not fit beside a 128-bit service UUID).
        if isinstance(packet, hci.HCI_LE_Extended_Advertising_Report_Event):
            scan_rsp = hci.HCI_LE_Extended_Advertising_Report_Event.EventType.SCAN_RESPONSE
            packet = hci.HCI_LE_Extended_Advertising_Report_Event(
                [self._scan_response(r, bool(r.event_type & scan_rsp)) for r in packet.reports]
            )
        elif isinstance(packet, hci.HCI_LE_Advertising_Report_Event):
            legacy_rsp = hci.HCI_LE_Advertising_Report_Event.EventType.SCAN_RSP
            packet = hci.HCI_LE_Advertising_Report_Event(
                [self._scan_response(r, r.event_type == legacy_rsp) for r in packet.reports]
            )
        return packet

    def _scan_response(self, report: Any, is_scan_response: bool) -> Any:
        """``report``: a legacy or extended advertising report (their own dataclasses)."""
        if not is_scan_response:
            return report
        for controller in self.link.controllers:
            advertisers: list[Any] = [
                controller.le_legacy_advertiser,
                *controller.advertising_sets.values(),
            ]
            for advertiser in advertisers:
                if advertiser.address == report.address and advertiser.scan_response_data:
                    return dataclasses.replace(report, data=bytes(advertiser.scan_response_data))
        return report

    def on_hci_le_set_scan_enable_command(
        self, command: hci.HCI_LE_Set_Scan_Enable_Command
    ) -> hci.HCI_StatusReturnParameters:
        result = super().on_hci_le_set_scan_enable_command(command)
        self._prompt_scan()
        return result

    def on_hci_le_set_extended_scan_enable_command(
        self, command: hci.HCI_LE_Set_Extended_Scan_Enable_Command
    ) -> hci.HCI_StatusReturnParameters:
        result = super().on_hci_le_set_extended_scan_enable_command(command)
        self._prompt_scan()
        return result

    def _prompt_scan(self) -> None:
        if self.le_scan_enable:
            asyncio.get_running_loop().call_later(SCAN_PROMPT_DELAY_S, self.link.prompt_advertisers)

    def on_hci_le_create_connection_command(
        self, command: hci.HCI_LE_Create_Connection_Command
    ) -> None:
        super().on_hci_le_create_connection_command(command)
        if self.pending_le_connection is command:
            self.link.prompt_advertisers(command.peer_address)

    def on_hci_le_extended_create_connection_command(
        self, command: hci.HCI_LE_Extended_Create_Connection_Command
    ) -> None:
        super().on_hci_le_extended_create_connection_command(command)
        if self.pending_le_connection is command:
            self.link.prompt_advertisers(command.peer_address)

    def on_hci_le_create_connection_cancel_command(
        self, command: hci.HCI_LE_Create_Connection_Cancel_Command
    ) -> hci.HCI_StatusReturnParameters:
        pending = self.pending_le_connection
        if pending is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        self.pending_le_connection = None
        failure = hci.HCI_LE_Connection_Complete_Event(
            status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
            connection_handle=0,
            role=hci.Role.CENTRAL,
            peer_address_type=pending.peer_address_type,
            peer_address=pending.peer_address,
            connection_interval=0,
            peripheral_latency=0,
            supervision_timeout=0,
            central_clock_accuracy=0,
        )
        # After the Command Complete that our caller sends on return, as the spec orders them.
        asyncio.get_running_loop().call_soon(self.send_hci_packet, failure)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def vanish(self) -> None:
        """Fall silent: stop advertising and let every peer's supervision timeout expire."""
        self.le_legacy_advertiser.stop()
        for advertising_set in self.advertising_sets.values():
            advertising_set.stop()
        for connection in list(self.le_connections.values()):
            # A peer that left the air first has already dropped its side.
            if self.link.find_le_controller(connection.peer_address) is not None:
                self.link.send_ll_control_pdu(
                    sender_address=connection.self_address,
                    receiver_address=connection.peer_address,
                    packet=ll.TerminateInd(hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR),
                )
            self.on_le_disconnected(connection, hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR)
        self.link.remove_controller(self)


def advertising_data(
    *,
    local_name: str | None = None,
    service_uuids: Iterable[str] = (),
    manufacturer_data: Mapping[int, bytes] | None = None,
    flags: bool = True,
) -> bytes:
    """Advertising data with the usual fields (flags, complete local name, service UUIDs).

    Pass it as ``advertising_data`` or ``scan_response_data`` to ``start_advertising``; a
    bleak scanner merges the two. Nothing holds it to the 31 bytes of a legacy advertisement
    here; keep it within them if it must fit real radios. Pass ``flags=False`` for scan
    response data, which the spec keeps the flags out of.
    """
    structures: list[tuple[int, bytes]] = []
    if flags:
        general_le_only = (
            AdvertisingData.Flags.LE_GENERAL_DISCOVERABLE_MODE
            | AdvertisingData.Flags.BR_EDR_NOT_SUPPORTED
        )
        structures.append((AdvertisingData.Type.FLAGS, bytes([general_le_only])))
    if local_name is not None:
        structures.append((AdvertisingData.Type.COMPLETE_LOCAL_NAME, local_name.encode()))
    by_size: dict[int, bytes] = {2: b"", 4: b"", 16: b""}
    for uuid in service_uuids:
        uuid_bytes = UUID(uuid).to_bytes()
        by_size[len(uuid_bytes)] += uuid_bytes
    for size, ad_type in (
        (2, AdvertisingData.Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS),
        (4, AdvertisingData.Type.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS),
        (16, AdvertisingData.Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS),
    ):
        if by_size[size]:
            structures.append((ad_type, by_size[size]))
    for company_id, payload in (manufacturer_data or {}).items():
        structures.append(
            (
                AdvertisingData.Type.MANUFACTURER_SPECIFIC_DATA,
                company_id.to_bytes(2, "little") + payload,
            )
        )
    return bytes(AdvertisingData(structures))


class _HciPort(asyncio.Protocol):
    """One controller's HCI served to one TCP client, H4-framed like Bumble's ``tcp-client``.

    Bumble's own ``tcp-server`` transport leaves its listening socket and the accepted
    connection open when closed; this one closes both.
    """

    def __init__(self) -> None:
        self.source = StreamPacketSource()  # host -> controller
        self._server: asyncio.Server | None = None
        self._peer: asyncio.Transport | None = None

    async def serve(self, listener: socket.socket) -> None:
        self._server = await asyncio.get_running_loop().create_server(lambda: self, sock=listener)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._peer is not None:
            transport.close()  # a controller has one host
            return
        self._peer = cast(asyncio.Transport, transport)
        # HCI is a ping-pong of small packets: with Nagle on, each exchange waited for a
        # delayed ACK (40 ms). asyncio sets TCP_NODELAY itself only on sockets whose proto
        # is IPPROTO_TCP, which a socket accepted from a plain SOCK_STREAM listener is not.
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self._peer = None

    def data_received(self, data: bytes) -> None:
        self.source.data_received(data)

    def on_packet(self, packet: bytes) -> None:  # controller -> host
        if self._peer is not None:
            self._peer.write(packet)

    async def close(self) -> None:
        if self._peer is not None:
            self._peer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@dataclass(frozen=True)
class CentralEndpoint:
    """Where a central in another process joins an air: `BumbleCentral.open(**asdict(it))`."""

    hci_transport: str
    """Bumble transport spec of the central's controller (``tcp-client:<host>:<port>``)."""
    address: str
    """The random static address the air reserved for the central."""


class VirtualAir:
    """One shared virtual radio medium: every device made here can see and reach the others.

    Use as ``async with VirtualAir() as air:`` (or call `close`); it must be created and
    used on one running event loop. Addresses are random static addresses allocated from
    ``C0:DE:00:00:00:01`` upwards unless the caller names one.

    Another process joins through `serve_central`: the air keeps the controller and serves
    its HCI over TCP; the other process runs the host (`BumbleCentral.open`). Bumble 0.0.236
    has no link relay any more (``RemoteLink`` was removed), so HCI is the seam.
    """

    def __init__(self) -> None:
        self._link = _AirLink()
        self._controllers: dict[Device, _AirController] = {}
        self._addresses: set[hci.Address] = set()
        self._counter = itertools.count(1)
        self._served: list[tuple[_AirController, _HciPort]] = []
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def devices(self) -> list[Device]:
        """The devices currently on the air, in the order they were added."""
        return list(self._controllers)

    async def add_peripheral(
        self,
        name: str,
        *,
        address: str | None = None,
        advertising_interval_ms: float = DEFAULT_ADVERTISING_INTERVAL_MS,
    ) -> Device:
        """A powered-on Bumble device on the air, ready for GATT services and advertising.

        Its default advertising data carries `name` as the complete local name; pass
        `advertising_data(...)` to ``start_advertising`` to advertise service UUIDs too.
        """
        device = await self._add_device(name, address)
        device.advertising_data = advertising_data(local_name=name)
        device.advertising_interval_min = advertising_interval_ms
        device.advertising_interval_max = advertising_interval_ms
        return device

    async def add_central(
        self, name: str = "central", *, address: str | None = None, mtu: int = 247
    ) -> BumbleCentral:
        """A powered-on central for bleak: pass its ``scanner_backend`` / ``client_backend``
        as ``backend=`` to `bleak.BleakScanner` / `bleak.BleakClient`.

        `mtu` is the ATT MTU its clients request after connecting.
        """
        return BumbleCentral(await self._add_device(name, address), mtu=mtu)

    async def serve_central(
        self, name: str = "remote-central", *, host: str = "127.0.0.1"
    ) -> CentralEndpoint:
        """A controller on the air for a central in another process, served over TCP.

        It accepts one HCI client; the central keeps its place on the air until `close`.
        """
        if self._closed:
            raise RuntimeError("the air is closed")
        port = _HciPort()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind((host, 0))
            await port.serve(listener)
        except BaseException:
            listener.close()
            raise
        tcp_port = int(listener.getsockname()[1])
        address = self._allocate(None)
        controller = _AirController(name, host_source=port.source, host_sink=port, link=self._link)
        self._served.append((controller, port))
        return CentralEndpoint(
            hci_transport=f"tcp-client:{host}:{tcp_port}",
            address=address.to_string(with_type_qualifier=False),
        )

    async def remove(self, device: Device) -> None:
        """Take `device` off the air as if it lost power: peers see a supervision timeout."""
        controller = self._controllers.pop(device)
        self._addresses.discard(device.static_address)
        controller.vanish()
        # One loop turn delivers the disconnection events to the device's host before the
        # power-off flush, which would otherwise leave them for unknown handles.
        await asyncio.sleep(0)
        await device.power_off()

    async def close(self) -> None:
        """Take every device off the air. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for device in list(self._controllers):
            await self.remove(device)
        for controller, port in self._served:
            controller.vanish()
            await port.close()
        self._served.clear()

    async def _add_device(self, name: str, address: str | None) -> Device:
        if self._closed:
            raise RuntimeError("the air is closed")
        bd_address = self._allocate(address)
        controller = _AirController(name, link=self._link)
        device = Device(
            name=name, address=bd_address, host=Host(controller, AsyncPipeSink(controller))
        )
        self._controllers[device] = controller
        try:
            await device.power_on()
        except BaseException:
            await self.remove(device)
            raise
        return device

    def _allocate(self, address: str | None) -> hci.Address:
        if address is not None:
            chosen = hci.Address(address)
            if chosen in self._addresses:
                raise ValueError(f"address {address} is already on the air")
        else:
            while True:
                number = next(self._counter)
                if number >= _MAX_DEVICES:
                    raise RuntimeError("the air has run out of addresses")
                chosen = hci.Address(
                    f"{_ADDRESS_PREFIX}:{number >> 16:02X}:{(number >> 8) & 0xFF:02X}:"
                    f"{number & 0xFF:02X}"
                )
                if chosen not in self._addresses:
                    break
        self._addresses.add(chosen)
        return chosen
