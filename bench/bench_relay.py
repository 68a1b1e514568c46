"""Relay bridge benchmark: the full unlock round trip over virtual Bluetooth, and 100 relays.

    .venv/bin/python bench/bench_relay.py [--rounds 200] [--relays 100] [--waves 5]

A real authority (``authority serve``: embedded redis-server and chDB, its own process) is
populated through the API (bench/fixture.py). This process runs ``--relays`` emulated relays
(Bumble GATT servers on virtual controllers) and one bridge (bleak over our Bumble backend).

1. Round trip: ``--rounds`` sequential opens, each: scan-cached connect → read challenge →
   RequestUnlock (gRPC) → write token → signed result notified → ReportRelayOutcome. Reports
   p50/p99, and in the same run the two baselines it is made of: the authority's RequestUnlock
   alone (same gRPC channel) and the BLE exchange alone (connect, read, write, notify) with a
   pre-fetched token the relay refuses. Target: p50 ≤ 15 ms.
2. Concurrency: ``--waves`` waves of one open per relay, all relays at once (bridge pool = the
   number of relays). Reports unlocks/s and failures (target: zero failures).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fixture import build_fixture  # bench/ is on sys.path when run as a script
from rich.console import Console
from rich.table import Table

from authority.adapters.crypto.keyring import verification_keys_from_jwks
from authority.client.authority import AuthorityClient
from doorkey_wire.protocol import Challenge, Submission
from relay_bridge.authority_link import AuthorityLink
from relay_bridge.ble.air import VirtualAir
from relay_bridge.bridge import BridgeConfig, RelayBridge, Status, relay_entries
from relay_bridge.exchange import run_exchange
from relay_bridge.mobile import find_relay
from relay_bridge.radio import Radio
from relay_bridge.relay.fleet import EmulatedFleet, RelaySpec

ROOT = Path(__file__).resolve().parent.parent
console = Console(highlight=False)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_authority(data: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    env = {
        **os.environ,
        "AUTHORITY_DATA_DIR": str(data),
        "AUTHORITY_LISTEN": "127.0.0.1:0",
        "AUTHORITY_LOG_LEVEL": "WARNING",
    }
    log = (data.parent / "authority.log").open("wb")
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/authority"), "serve"], env=env, stdout=log, stderr=log, cwd=ROOT
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            info = json.loads((data / "server.json").read_text())
            if int(info["pid"]) == proc.pid:
                credential = (data / "admin.credential").read_text().strip()
                return proc, str(info["target"]), credential
        except (OSError, ValueError, KeyError):
            pass
        if proc.poll() is not None:
            raise SystemExit("authority serve exited; see authority.log")
        time.sleep(0.1)
    raise SystemExit("authority serve did not start within 90 s")


async def run(args: argparse.Namespace, target: str, admin_credential: str) -> dict[str, object]:
    fixture = build_fixture(
        target, admin_credential, holders=4 * args.relays, doors=args.relays, sites=10
    )
    # one (holder, door) pair per door
    by_door = {}
    for pair in fixture.pairs:
        by_door.setdefault(pair.door_id, pair)
    pairs = list(by_door.values())[: args.relays]
    admin = AuthorityClient(target, credential=admin_credential)
    trusted = verification_keys_from_jwks(json.loads(admin.verification_keys().jwks_json))
    async with VirtualAir() as air:
        fleet = await EmulatedFleet.start(
            air,
            [RelaySpec(p.relay_id, p.door_id) for p in pairs],
            trusted_keys=trusted,
        )
        for entry in fleet.registry():  # installation: each relay's result key is registered
            admin.set_door_relay_key(entry["door_id"], bytes.fromhex(entry["public_key"]))
        admin.close()
        central = await air.add_central()
        radio = Radio(central.client_backend, central.scanner_backend)
        link = AuthorityLink(target)
        entries = relay_entries(fleet.registry())
        report = link.report_result_callback()
        bridge = RelayBridge(
            link,
            radio,
            entries,
            config=BridgeConfig(max_connections=len(pairs)),
            report=report,
        )
        # warm up: discover every relay once (the bridge caches what it found)
        await bridge.open_many((p.door_id, p.credential) for p in pairs)

        full: list[float] = []
        authority_only: list[float] = []
        ble_only: list[float] = []
        failures = 0
        for i in range(args.rounds):
            pair = pairs[i % len(pairs)]
            holder = link.with_credential(pair.credential)
            t0 = time.perf_counter()
            await holder.request_unlock(pair.door_id, os.urandom(16))
            authority_only.append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            outcome = await bridge.open(pair.door_id, pair.credential)
            full.append(time.perf_counter() - t0)
            failures += outcome.status is not Status.OPENED

            token = (await holder.request_unlock(pair.door_id, os.urandom(16))).token
            device = await find_relay(radio, pair.relay_id)

            async def canned(_c: Challenge, token: bytes = token) -> Submission:
                return Submission(token)

            t0 = time.perf_counter()
            async with radio.client(device, timeout=5) as client:
                await run_exchange(client, canned, relay_public_key=None)
            ble_only.append(time.perf_counter() - t0)

        waves: list[float] = []
        wave_failures = 0
        for _ in range(args.waves):
            t0 = time.perf_counter()
            outcomes = await bridge.open_many((p.door_id, p.credential) for p in pairs)
            waves.append(len(pairs) / (time.perf_counter() - t0))
            wave_failures += sum(o.status is not Status.OPENED for o in outcomes)
        opened = sum(len(fleet.door(p.relay_id).openings) for p in pairs)
        await link.close()
        await fleet.stop()
    return {
        "round_trip_ms": {
            "p50": pct(full, 0.5) * 1e3,
            "p99": pct(full, 0.99) * 1e3,
            "mean": statistics.fmean(full) * 1e3,
        },
        "authority_only_ms": {"p50": pct(authority_only, 0.5) * 1e3},
        "ble_only_ms": {"p50": pct(ble_only, 0.5) * 1e3},
        "round_trip_failures": failures,
        "relays": len(pairs),
        "unlocks_per_s_waves": waves,
        "unlocks_per_s_median": statistics.median(waves),
        "wave_failures": wave_failures,
        "door_openings_recorded": opened,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--relays", type=int, default=100)
    parser.add_argument("--waves", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as tmp:
        proc, target, credential = start_authority(Path(tmp) / "data")
        try:
            figures = asyncio.run(run(args, target, credential))
        finally:
            proc.terminate()
            proc.wait(30)
    figures["machine"] = f"{platform.node()} · {os.cpu_count()} cpus · {platform.python_version()}"
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    rt = figures["round_trip_ms"]
    assert isinstance(rt, dict)
    auth = figures["authority_only_ms"]["p50"]  # type: ignore[index]
    ble = figures["ble_only_ms"]["p50"]  # type: ignore[index]
    table = Table(title=f"relay round trip ({args.rounds} sequential opens)")
    for col in ("measure", "p50 ms", "p99 ms", "ratio to full p50"):
        table.add_column(col)
    table.add_row(
        "full: BLE + RequestUnlock + report", f"{rt['p50']:.2f}", f"{rt['p99']:.2f}", "1.00"
    )
    table.add_row("baseline: RequestUnlock alone", f"{auth:.2f}", "", f"{auth / rt['p50']:.2f}")
    table.add_row("baseline: BLE exchange alone", f"{ble:.2f}", "", f"{ble / rt['p50']:.2f}")
    console.print(table)
    console.print(
        f"target p50 ≤ 15 ms: {'met' if rt['p50'] <= 15 else 'missed'} · "
        f"failures {figures['round_trip_failures']}"
    )
    console.print(
        f"{figures['relays']} relays at once: median {figures['unlocks_per_s_median']:.0f} "
        f"unlocks/s over {args.waves} waves "
        f"({', '.join(f'{w:.0f}' for w in figures['unlocks_per_s_waves'])}); "  # type: ignore[attr-defined]
        f"failures {figures['wave_failures']} · door openings {figures['door_openings_recorded']}"
    )
    console.print(figures["machine"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
