"""The relay bridge: delivers unlock tokens to BLE door relays and reports what they did.

For each open request (a door, and the credential of the key holder it is for) the bridge finds
the door's relay, connects with bleak, reads the challenge, obtains a token for it from the
authority, writes it, awaits the relay's signed result and reports it to the authority, where
it becomes a RELAY event in the access log.

* Bounded: at most ``max_connections`` Bluetooth connections at once; one exchange per relay at
  a time (a relay serves one central).
* Retries with exponential backoff only while nothing has been written to the relay (no
  challenge, connection lost before the write, authority UNAVAILABLE); once the token is
  written the bridge never writes another for that request, so a retry cannot open twice.
* Every outcome is typed (``BridgeOutcome``); nothing raises out of ``open`` for Bluetooth or
  relay trouble.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

import grpc
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from doorkey_wire.protocol import Challenge, Submission
from relay_bridge.authority_link import AuthorityLink, UnlockRefused
from relay_bridge.exchange import (
    ForgedResult,
    RelayResult,
    RelayUnreachable,
    ResultLost,
    run_exchange,
)
from relay_bridge.mobile import find_relay
from relay_bridge.radio import Radio

log = logging.getLogger(__name__)

_RETRYABLE_GRPC = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeConfig:
    max_connections: int = 32
    """Bluetooth connections open at once (the bridge's pool)."""
    connect_timeout_s: float = 5.0
    scan_timeout_s: float = 3.0
    result_timeout_s: float = 3.0
    """How long to wait for the result notification before reading RESULT."""
    attempts: int = 3
    """Tries per request while nothing has been written to the relay."""
    backoff_s: float = 0.05
    """First retry delay; doubles per attempt up to ``backoff_max_s``."""
    backoff_max_s: float = 1.0

    def __post_init__(self) -> None:
        if self.max_connections < 1 or self.attempts < 1:
            raise ValueError("max_connections and attempts must be at least 1")


@dataclass(frozen=True, slots=True)
class RelayEntry:
    """A door's relay as registered at installation."""

    door_id: str
    relay_id: str
    public_key: bytes | None = None
    """The relay's Ed25519 result key; without it results cannot be authenticated here (the
    authority still verifies them when they are reported)."""


def load_relay_registry(path: Path) -> dict[str, RelayEntry]:
    """A registry file (``relay-bridge registry --json`` writes one) → entries by door id."""
    return relay_entries(json.loads(path.read_text()))


def relay_entries(raw: Iterable[Mapping[str, str]]) -> dict[str, RelayEntry]:
    """``[{"door_id", "relay_id", "public_key": hex}, …]`` → entries by door id."""
    entries = [
        RelayEntry(
            str(item["door_id"]),
            str(item["relay_id"]),
            bytes.fromhex(item["public_key"]) if item.get("public_key") else None,
        )
        for item in raw
    ]
    return {e.door_id: e for e in entries}


class Status(StrEnum):
    OPENED = "opened"
    REJECTED = "rejected"
    """The relay refused the token (its reason is in ``reason``)."""
    DENIED = "denied"
    """The authority refused (nothing was written to the relay)."""
    UNREACHABLE = "unreachable"
    """Bluetooth failed on every attempt before anything was written."""
    RESULT_LOST = "result_lost"
    """The token was written but no result came back; not retried (the door may be open)."""
    FORGED = "forged"
    """A result that is not signed by the door's relay: not believed, reported."""
    UNKNOWN_DOOR = "unknown_door"


@dataclass(frozen=True, slots=True)
class BridgeOutcome:
    door_id: str
    status: Status
    reason: str = ""
    attempts: int = 0
    elapsed_s: float = 0.0
    result: RelayResult | None = None
    reported: bool = False


ReportResult = Callable[[str, bytes, str], Awaitable[bool]]
"""(door_id, signed result, credential) -> reported. Wired to the authority's relay-outcome
RPC; tests and offline deployments may pass their own."""


class RelayBridge:
    def __init__(
        self,
        link: AuthorityLink,
        radio: Radio,
        relays: Mapping[str, RelayEntry],
        *,
        config: BridgeConfig | None = None,
        report: ReportResult | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._link = link
        self._radio = radio
        self._relays = dict(relays)
        self._config = config or BridgeConfig()
        self._report = report
        self._clock = clock
        self._slots = asyncio.Semaphore(self._config.max_connections)
        self._relay_locks: dict[str, asyncio.Lock] = {}
        self._devices: dict[str, BLEDevice] = {}

    @property
    def relays(self) -> Mapping[str, RelayEntry]:
        return self._relays

    async def open_many(self, requests: Iterable[tuple[str, str]]) -> list[BridgeOutcome]:
        """Serve many ``(door_id, credential)`` requests concurrently (bounded by the pool)."""
        return list(await asyncio.gather(*(self.open(d, c) for d, c in requests)))

    async def open(self, door_id: str, credential: str) -> BridgeOutcome:
        entry = self._relays.get(door_id)
        started = self._clock()
        if entry is None:
            return BridgeOutcome(door_id, Status.UNKNOWN_DOOR, f"no relay registered for {door_id}")
        lock = self._relay_locks.setdefault(entry.relay_id, asyncio.Lock())
        async with lock, self._slots:
            outcome = await self._attempts(entry, credential)
        outcome = replace(outcome, elapsed_s=self._clock() - started)
        log.info(
            "bridge open",
            extra={
                "door_id": door_id,
                "relay_id": entry.relay_id,
                "status": outcome.status.value,
                "reason": outcome.reason,
                "attempts": outcome.attempts,
            },
        )
        return outcome

    async def _attempts(self, entry: RelayEntry, credential: str) -> BridgeOutcome:
        config = self._config
        holder_link = self._link.with_credential(credential)
        last_error = ""
        for attempt in range(1, config.attempts + 1):
            try:
                result = await self._exchange(entry, holder_link)
            except UnlockRefused as exc:
                return BridgeOutcome(entry.door_id, Status.DENIED, exc.reason, attempt)
            except ResultLost as exc:
                return BridgeOutcome(entry.door_id, Status.RESULT_LOST, str(exc), attempt)
            except ForgedResult as exc:
                reported = bool(exc.signed) and await self._report_result(
                    entry.door_id, exc.signed, credential
                )
                return BridgeOutcome(
                    entry.door_id, Status.FORGED, str(exc), attempt, reported=reported
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in _RETRYABLE_GRPC:
                    return BridgeOutcome(
                        entry.door_id, Status.DENIED, f"{exc.code().name}: {exc.details()}", attempt
                    )
                last_error = f"authority {exc.code().name}"
            except (RelayUnreachable, BleakError, TimeoutError, OSError) as exc:
                self._devices.pop(entry.relay_id, None)  # rescan next time
                last_error = str(exc) or type(exc).__name__
            else:
                reported = await self._report_result(entry.door_id, result.signed, credential)
                status = Status.OPENED if result.opened else Status.REJECTED
                reason = "" if result.opened else result.body.reason.name.lower()
                return BridgeOutcome(entry.door_id, status, reason, attempt, 0.0, result, reported)
            if attempt < config.attempts:
                await asyncio.sleep(
                    min(config.backoff_s * 2 ** (attempt - 1), config.backoff_max_s)
                )
        return BridgeOutcome(entry.door_id, Status.UNREACHABLE, last_error, config.attempts)

    async def _exchange(self, entry: RelayEntry, link: AuthorityLink) -> RelayResult:
        device = self._devices.get(entry.relay_id)
        if device is None:
            device = await find_relay(
                self._radio, entry.relay_id, scan_s=self._config.scan_timeout_s
            )
            self._devices[entry.relay_id] = device

        async def obtain(challenge: Challenge) -> Submission:
            issued = await link.request_unlock(entry.door_id, challenge.nonce)
            return Submission(issued.token)

        client = self._radio.client(device, timeout=self._config.connect_timeout_s)
        await client.connect()
        try:
            return await run_exchange(
                client,
                obtain,
                relay_public_key=entry.public_key,
                result_timeout=self._config.result_timeout_s,
                expected_relay_id=entry.relay_id,
            )
        finally:
            try:
                await client.disconnect()
            except (BleakError, OSError) as exc:
                log.debug("disconnect failed: %s", exc)

    async def _report_result(self, door_id: str, signed: bytes, credential: str) -> bool:
        if self._report is None:
            return False
        try:
            return await self._report(door_id, signed, credential)
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "relay outcome not reported",
                extra={"door_id": door_id, "code": exc.code().name},
            )
            return False
