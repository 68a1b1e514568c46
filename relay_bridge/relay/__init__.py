"""The SmartRelay: its pure acceptance logic (``logic``) and, in ``emulator``, a Bumble GATT
peripheral that runs it on virtual Bluetooth."""

from relay_bridge.relay.logic import (
    EpochNoticeRejected,
    RelayConfig,
    RelayEvent,
    RelayLogic,
    Verdict,
    verify_result,
)

__all__ = [
    "EpochNoticeRejected",
    "RelayConfig",
    "RelayEvent",
    "RelayLogic",
    "Verdict",
    "verify_result",
]
