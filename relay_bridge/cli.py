"""``relay-bridge``: operate door relays and the bridge.

    relay-bridge emulate  --keys jwks.json --relay relay-1=door-1 --state relays.json
    relay-bridge registry --state relays.json [--json]            # what installers register
    relay-bridge register --state relays.json --authority HOST:PORT --credential ADMIN
    relay-bridge open     --authority HOST:PORT --credential HOLDER --door door-1 \\
                          --emulated relays.json --keys jwks.json
    relay-bridge scan     --emulated relays.json --keys jwks.json

Without ``--emulated`` the bridge uses bleak's platform backend (BlueZ, CoreBluetooth, WinRT)
and real relays; with it, the relays of the state file run in this process as Bumble GATT
peripherals on virtual controllers, and the bridge reaches them through bleak with the project's
Bumble backend: the same code path, no hardware.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import grpc
from nacl.signing import SigningKey, VerifyKey
from rich.console import Console
from rich.table import Table

from authority.adapters.crypto.keyring import verification_keys_from_jwks
from authority.client.authority import AuthorityClient
from authority.client.tls import ClientTls
from doorkey_wire.protocol import SERVICE_UUID
from relay_bridge.authority_link import AuthorityLink
from relay_bridge.bridge import (
    BridgeConfig,
    RelayBridge,
    RelayEntry,
    load_relay_registry,
    relay_entries,
)
from relay_bridge.radio import Radio

console = Console()
err = Console(stderr=True)


class UsageError(Exception):
    """A command line the user must fix (printed without a traceback, exit code 2)."""


# -- relay state: what each relay keeps in its flash ---------------------------------------------


def _load_state(path: Path) -> list[dict[str, Any]]:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{path}: no such relay state file (create it with `emulate`)") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not JSON: {exc}") from None
    if not isinstance(raw, list):
        raise UsageError(f"{path}: expected a list of relays")
    return raw


def _parse_relays(specs: Sequence[str], offline: bool) -> list[dict[str, Any]]:
    out = []
    for spec in specs:
        relay_id, sep, door_id = spec.partition("=")
        door_id = door_id if sep else relay_id
        if not relay_id or not door_id:
            raise UsageError(f"--relay {spec!r}: expected RELAY_ID[=DOOR_ID]")
        out.append(
            {
                "relay_id": relay_id,
                "door_id": door_id,
                "offline_allowed": offline,
                "relay_key": SigningKey.generate().encode().hex(),
            }
        )
    return out


def _write_state(path: Path, relays: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(relays, indent=2))
    tmp.chmod(0o600)  # the relays' private result keys
    tmp.replace(path)


def _registry(relays: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {
            "door_id": r["door_id"],
            "relay_id": r["relay_id"],
            "public_key": bytes(SigningKey(bytes.fromhex(r["relay_key"])).verify_key).hex(),
        }
        for r in relays
    ]


def _trusted(path: Path | None) -> dict[bytes, VerifyKey]:
    if path is None:
        raise UsageError("--keys is required: the authority's JWK Set (`authority keys export`)")
    try:
        return verification_keys_from_jwks(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        raise UsageError(f"--keys {path}: {exc}") from None


@contextlib.asynccontextmanager
async def _emulated(state: Path, keys: Path | None) -> AsyncIterator[tuple[Radio, Any]]:
    # Bumble (a whole BLE stack, a third of a second to import) only when emulating.
    from relay_bridge.ble.air import VirtualAir  # noqa: PLC0415
    from relay_bridge.relay.fleet import EmulatedFleet, RelaySpec  # noqa: PLC0415

    relays = _load_state(state)
    trusted = _trusted(keys)
    async with VirtualAir() as air:
        fleet = await EmulatedFleet.start(
            air,
            [
                RelaySpec(
                    r["relay_id"],
                    r["door_id"],
                    bool(r.get("offline_allowed")),
                    SigningKey(bytes.fromhex(r["relay_key"])),
                )
                for r in relays
            ],
            trusted_keys=trusted,
        )
        central = await air.add_central("bridge")
        try:
            yield Radio(central.client_backend, central.scanner_backend), fleet
        finally:
            await fleet.stop()


@contextlib.asynccontextmanager
async def _radio(ns: argparse.Namespace) -> AsyncIterator[Radio]:
    """The radio a command uses: emulated relays in this process (``--emulated``), a central
    on another process's virtual air (``--central``), or the platform's Bluetooth."""
    if ns.emulated is not None:
        async with _emulated(ns.emulated, ns.keys) as (radio, _fleet):
            yield radio
    elif ns.central is not None:
        # Bumble only when a remote virtual central is used.
        from relay_bridge.ble.bleak_bumble import BumbleCentral  # noqa: PLC0415

        transport, sep, address = ns.central.rpartition("@")
        if not sep or not transport or not address:
            raise UsageError("--central: expected TRANSPORT@ADDRESS as `emulate` prints it")
        try:
            central = await BumbleCentral.open(transport, address=address)
        except (OSError, ValueError) as exc:
            raise UsageError(f"--central {ns.central}: {exc}") from None
        try:
            yield Radio(central.client_backend, central.scanner_backend)
        finally:
            await central.close()
    else:
        yield Radio()


# -- commands --------------------------------------------------------------------------------------


async def cmd_emulate(ns: argparse.Namespace) -> int:
    if ns.relay:
        relays = _parse_relays(ns.relay, ns.offline)
        if ns.state.exists() and not ns.force:
            raise UsageError(f"{ns.state} exists; pass --force to replace its relays")
        _write_state(ns.state, relays)
    async with _emulated(ns.state, ns.keys) as (_radio, fleet):
        endpoints = [
            await fleet.air.serve_central(f"remote-central-{i}") for i in range(ns.centrals)
        ]
        if endpoints:
            specs = [f"{e.hci_transport}@{e.address}" for e in endpoints]
            ns.centrals_file.write_text(json.dumps(specs, indent=2))
            for spec in specs:
                console.print(f"bridge endpoint (one process each): --central {spec}")
        table = Table(title=f"{len(fleet.relays)} emulated relays advertising {SERVICE_UUID}")
        for col in ("relay", "door", "offline", "result key"):
            table.add_column(col)
        for entry in fleet.registry():
            relay = fleet.relays[entry["relay_id"]]
            table.add_row(
                entry["relay_id"],
                entry["door_id"],
                "yes" if relay.logic.config.offline_allowed else "no",
                entry["public_key"][:16] + "…",
            )
        console.print(table)
        if ns.seconds is not None:
            await asyncio.sleep(ns.seconds)
        else:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            console.print("running; Ctrl-C to stop")
            await stop.wait()
        for relay_id, relay in fleet.relays.items():
            console.print(f"{relay_id}: door opened {len(relay.door.openings)}x")
    return 0


def cmd_registry(ns: argparse.Namespace) -> int:
    registry = _registry(_load_state(ns.state))
    if ns.json:
        print(json.dumps(registry, indent=2))
        return 0
    table = Table(title="relay registry (register each public key with the authority)")
    for col in ("door", "relay", "relay public key"):
        table.add_column(col)
    for entry in registry:
        table.add_row(entry["door_id"], entry["relay_id"], entry["public_key"])
    console.print(table)
    return 0


def _tls(ns: argparse.Namespace) -> ClientTls | None:
    if ns.ca_file is None:
        if ns.client_cert is not None:
            raise SystemExit("--client-cert needs --ca-file (the authority's CA)")
        return None
    return ClientTls.from_files(ns.ca_file, ns.client_cert, ns.client_key)


def _authority_arguments(p: argparse.ArgumentParser, credential_help: str) -> None:
    p.add_argument("--authority", required=True, help="host:port of the authority")
    p.add_argument("--credential", required=True, help=credential_help)
    p.add_argument("--ca-file", type=Path, help="CA certificate of the authority (TLS)")
    p.add_argument("--client-cert", type=Path, help="the bridge's client certificate (mTLS)")
    p.add_argument("--client-key", type=Path, help="its private key")


def cmd_register(ns: argparse.Namespace) -> int:
    client = AuthorityClient(ns.authority, credential=ns.credential, tls=_tls(ns))
    try:
        for entry in _registry(_load_state(ns.state)):
            client.set_door_relay_key(
                entry["door_id"], bytes.fromhex(entry["public_key"]), entry["relay_id"]
            )
            console.print(f"{entry['door_id']}: relay {entry['relay_id']} key registered")
    finally:
        client.close()
    return 0


async def cmd_open(ns: argparse.Namespace) -> int:
    link = AuthorityLink(ns.authority, credential=ns.credential, tls=_tls(ns))
    config = BridgeConfig(attempts=ns.attempts, result_timeout_s=ns.result_timeout)
    if ns.emulated is not None:
        entries = relay_entries(_registry(_load_state(ns.emulated)))
    elif ns.registry is not None:
        entries = load_relay_registry(ns.registry)
    else:
        raise UsageError("--registry (door → relay map) is required without --emulated")
    try:
        async with _radio(ns) as radio:
            outcomes = await _open(link, radio, entries, config, ns)
    finally:
        await link.close()
    if ns.json:
        print(
            json.dumps(
                [
                    {
                        "door_id": o.door_id,
                        "status": o.status.value,
                        "reason": o.reason,
                        "attempts": o.attempts,
                        "elapsed_ms": round(o.elapsed_s * 1000, 2),
                        "reported": o.reported,
                    }
                    for o in outcomes
                ],
                indent=2,
            )
        )
    else:
        table = Table(title="relay bridge")
        for col in ("door", "status", "reason", "attempts", "ms", "logged"):
            table.add_column(col)
        for o in outcomes:
            table.add_row(
                o.door_id,
                o.status.value,
                o.reason,
                str(o.attempts),
                f"{o.elapsed_s * 1000:.1f}",
                "yes" if o.reported else "no",
            )
        console.print(table)
    return 0 if all(o.status.value == "opened" for o in outcomes) else 1


async def _open(
    link: AuthorityLink,
    radio: Radio,
    entries: dict[str, RelayEntry],
    config: BridgeConfig,
    ns: argparse.Namespace,
) -> list[Any]:
    report = link.report_result_callback(ns.bridge_credential)
    bridge = RelayBridge(link, radio, entries, config=config, report=report)
    return await bridge.open_many((door, ns.credential) for door in ns.door)


async def cmd_scan(ns: argparse.Namespace) -> int:
    async def scan(radio: Radio) -> list[tuple[str, str, int]]:
        scanner = radio.scanner(service_uuids=[SERVICE_UUID])
        await scanner.start()
        await asyncio.sleep(ns.seconds)
        await scanner.stop()
        return [
            (address, adv.local_name or "", adv.rssi)
            for address, (_device, adv) in scanner.discovered_devices_and_advertisement_data.items()
        ]

    async with _radio(ns) as radio:
        found = await scan(radio)
    if ns.json:
        print(json.dumps([{"address": a, "name": n, "rssi": r} for a, n, r in found], indent=2))
        return 0
    table = Table(title="relays advertising nearby")
    for col in ("address", "name", "rssi"):
        table.add_column(col)
    for address, name, rssi in sorted(found):
        table.add_row(address, name, str(rssi))
    console.print(table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relay-bridge",
        description="Deliver unlock tokens to BLE door relays; run emulated relays.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("emulate", help="run emulated relays (Bumble GATT servers)")
    p.add_argument("--keys", type=Path, help="the authority's JWK Set (authority keys export)")
    p.add_argument(
        "--relay",
        "--relay-id",
        dest="relay",
        action="append",
        default=[],
        metavar="RELAY_ID[=DOOR_ID]",
        help="a relay to create (repeatable; the door id defaults to the relay id); "
        "omit to run the relays in --state",
    )
    p.add_argument(
        "--state",
        type=Path,
        default=Path("relays.json"),
        help="the relays' state file (ids and private result keys; mode 0600)",
    )
    p.add_argument("--offline", action="store_true", help="relays allow offline tokens")
    p.add_argument("--force", action="store_true", help="replace an existing state file")
    p.add_argument("--seconds", type=float, help="stop after this long (default: Ctrl-C)")
    p.add_argument(
        "--centrals",
        type=int,
        default=0,
        help="serve this many centrals over HCI/TCP for bridges in other processes",
    )
    p.add_argument(
        "--centrals-file",
        type=Path,
        default=Path("centrals.json"),
        help="where the --central endpoints are written",
    )
    p.set_defaults(func=cmd_emulate, is_async=True)

    p = sub.add_parser("registry", help="door, relay id and relay public key of each relay")
    p.add_argument("--state", type=Path, default=Path("relays.json"))
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_registry, is_async=False)

    p = sub.add_parser("register", help="register the relays' public keys with the authority")
    p.add_argument("--state", type=Path, default=Path("relays.json"))
    _authority_arguments(p, "platform admin credential")
    p.set_defaults(func=cmd_register, is_async=False)

    p = sub.add_parser("open", help="open doors through their relays for a key holder")
    _authority_arguments(p, "the key holder's credential")
    p.add_argument("--door", action="append", required=True, help="door to open (repeatable)")
    p.add_argument(
        "--bridge-credential",
        help="the bridge's own credential (brg_…, `authority credential bridge`) for reporting "
        "the relays' results; default: report as the key holder",
    )
    p.add_argument("--registry", type=Path, help="door → relay registry (real relays)")
    p.add_argument(
        "--emulated",
        type=Path,
        metavar="STATE",
        help="run the relays of this state file in-process (virtual Bluetooth)",
    )
    p.add_argument("--keys", type=Path, help="JWK Set for emulated relays")
    p.add_argument(
        "--central",
        metavar="TRANSPORT@ADDRESS",
        help="a central on another process's virtual air (printed by `emulate --centrals`)",
    )
    p.add_argument("--attempts", type=int, default=3)
    p.add_argument("--result-timeout", type=float, default=3.0)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_open, is_async=True)

    p = sub.add_parser("scan", help="list relays advertising nearby")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--emulated", type=Path, metavar="STATE")
    p.add_argument("--keys", type=Path)
    p.add_argument(
        "--central",
        metavar="TRANSPORT@ADDRESS",
        help="a central on another process's virtual air (printed by `emulate --centrals`)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_scan, is_async=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    try:
        if ns.is_async:
            return int(asyncio.run(ns.func(ns)))
        return int(ns.func(ns))
    except UsageError as exc:
        err.print(f"[red]error:[/] {exc}")
        return 2
    except grpc.RpcError as exc:  # the authority's answer, for the operator to act on
        err.print(f"[red]authority:[/] {exc.code().name}: {exc.details()}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
