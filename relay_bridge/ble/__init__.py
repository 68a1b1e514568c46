"""Bluetooth LE on Bumble's virtual radio: a shared air for emulated peers, a bleak backend."""

from relay_bridge.ble.air import CentralEndpoint, VirtualAir, advertising_data
from relay_bridge.ble.bleak_bumble import BumbleCentral, BumbleClient, BumbleScanner

__all__ = [
    "BumbleCentral",
    "BumbleClient",
    "BumbleScanner",
    "CentralEndpoint",
    "VirtualAir",
    "advertising_data",
]
