"""What rate limiting costs the unlock path (target: <= 5 % of the server's CPU per unlock).

Two authority processes share one redis-server started by the benchmark (neither owns it), both
with ``--ship-events off`` (no shipping competes for the CPUs):

* **limits off**: ``AUTHORITY_RATE_LIMIT_CALLER=0`` and ``..._ORGANISATION=0``;
* **limits on**: the defaults (3,000 calls per caller and 100,000 per organisation per 10 s,
  synced with Redis every 100 ms).

The same closed-loop client (grpc.aio, ``--inflight`` calls in flight, round-robin over
``--holders`` key holders so the limiter tracks that many callers, none of them near its limit)
drives each server in turn, alternating the order per round. The figure is server CPU per call
(process user+system time over the window / calls completed), medians over rounds, and the
ratio on / off, measured in the same run. On a shared machine that ratio carries the noise of
everything else running; so the limiter's per-call work (``blocked`` + ``admit``) is also timed
in-process over the same number of callers and set against the unlock's server CPU.

    .venv/bin/python bench/bench_ratelimit.py [--rounds 5] [--duration 5] [--holders 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from rich.console import Console
from rich.table import Table

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from bench_unlock import Children, _proc_cpu, wait_for_info  # noqa: E402
from fixture import build_fixture  # noqa: E402
from loadgen import ALLOW_PREFIX, UNLOCK_METHOD, build_requests  # noqa: E402

console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


async def drive(target: str, requests: list, seconds: float, inflight: int) -> tuple[int, int]:  # type: ignore[type-arg]
    """Closed loop for ``seconds``; (calls that were ALLOW, calls that were not)."""
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(UNLOCK_METHOD)
        ok = bad = 0
        stop_at = time.perf_counter() + seconds
        counter = iter(range(1 << 62))

        async def worker() -> None:
            nonlocal ok, bad
            while time.perf_counter() < stop_at:
                payload, metadata = requests[next(counter) % len(requests)]
                try:
                    reply = await call(payload, metadata=metadata, timeout=10)
                except grpc.aio.AioRpcError:
                    bad += 1
                    continue
                if reply.startswith(ALLOW_PREFIX):
                    ok += 1
                else:
                    bad += 1

        await asyncio.gather(*(worker() for _ in range(inflight)))
        return ok, bad


def measure(target: str, pid: int, requests: list, ns: argparse.Namespace) -> dict[str, float]:  # type: ignore[type-arg]
    asyncio.run(drive(target, requests, ns.warmup, ns.inflight))
    cpu0, _ = _proc_cpu(pid)
    t0 = time.perf_counter()
    ok, bad = asyncio.run(drive(target, requests, ns.duration, ns.inflight))
    wall = time.perf_counter() - t0
    cpu1, _ = _proc_cpu(pid)
    return {
        "calls_per_s": ok / wall,
        "us_per_call": (cpu1 - cpu0) / max(ok, 1) * 1e6,
        "server_pct": 100 * (cpu1 - cpu0) / wall,
        "failed": bad,
    }


def limiter_cost_us(callers: int, calls: int = 200_000) -> float:
    """The per-call work the limiter adds to an unlock (``blocked`` before the read, ``admit``
    after it), timed in this process over ``callers`` keys: no server, no noise from others."""
    from authority.testing import InMemoryRateLimitStore, MemoryEventRecorder  # noqa: PLC0415
    from authority.usecases.ratelimit import RateLimiter, RateLimits  # noqa: PLC0415

    limiter = RateLimiter(
        RateLimits(caller=3000, organisation=10**9),  # counted, never reached here
        InMemoryRateLimitStore(),
        MemoryEventRecorder(),
    )
    names = [f"kh_{i:06d}" for i in range(callers)]
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for i in range(calls):
            name = names[i % callers]
            limiter.blocked(name)
            limiter.admit(name, "org_1")
        best = min(best, (time.perf_counter() - t0) / calls * 1e6)
        asyncio.run(limiter.sync_once())  # as the server would between bursts
    return best


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--holders", type=int, default=500)
    ns = parser.parse_args()
    children = Children()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ratelimit-"))
    try:
        env = {**os.environ, "AUTHORITY_LOG_LEVEL": "WARNING", "AUTHORITY_LOG_FORMAT": "json"}
        inherited = [k for k in os.environ if k.startswith("AUTHORITY_RATE_LIMIT")]
        for name in ("REDIS_URL", "CLICKHOUSE_URL", "AUTHORITY_SHIP_EVENTS", *inherited):
            env.pop(name, None)
        servers: dict[str, tuple[str, int]] = {}
        # One redis-server of the benchmark's own: both servers are its clients alike (neither
        # owns it), so the only difference between them is the limiter.
        sock = tmp / "redis.sock"
        children.start(
            "redis", ["redis-server", "--port", "0", "--unixsocket", str(sock), "--save", "",
                      "--appendonly", "no", "--dir", str(tmp)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        for name in ("on", "off"):
            extra = {"REDIS_URL": f"unix://{sock}"} | (
                {"AUTHORITY_RATE_LIMIT_CALLER": "0", "AUTHORITY_RATE_LIMIT_ORGANISATION": "0"}
                if name == "off" else {}
            )  # fmt: skip
            with (tmp / f"{name}.log").open("wb") as log:
                proc = children.start(
                    name, [sys.executable, "-m", "authority.cli.main", "serve", "--data-dir",
                           str(tmp / name), "--listen", "127.0.0.1:0", "--ship-events", "off"],
                    env={**env, **extra}, stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip
            info = wait_for_info(tmp / name / "server.json", proc, tmp / f"{name}.log")
            servers[name] = (info["target"], proc.pid)
        admin = (tmp / "on" / "admin.credential").read_text().strip()
        fixture = build_fixture(servers["on"][0], admin, holders=ns.holders, doors=20, sites=4)
        requests = build_requests([[p.credential, p.door_id, p.relay_id] for p in fixture.pairs])
        callers = len({p.credential for p in fixture.pairs})
        console.print(
            f"{callers} callers, {len(requests)} holder/door pairs; "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        names = ["off", "on"]
        runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
        for rnd in range(ns.rounds):
            for name in names if rnd % 2 == 0 else names[::-1]:
                target, pid = servers[name]
                r = measure(target, pid, requests, ns)
                runs[name].append(r)
                console.print(
                    f"  r{rnd} limits {name:3s} {r['calls_per_s']:7.0f}/s  "
                    f"{r['us_per_call']:6.0f} µs/call  server {r['server_pct']:4.0f}%  "
                    f"not ALLOW {r['failed']:.0f}"
                )
        med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in runs.items()}
        table = Table(
            title=f"rate limiting on the unlock path ({ns.inflight} in flight, "
            f"{callers} callers, medians of {ns.rounds} rounds of {ns.duration:g} s)"
        )
        for col in ("limits", "calls/s", "server µs/call", "server CPU", "not ALLOW"):
            table.add_column(col)
        for name in names:
            m = med[name]
            table.add_row(
                name, f"{m['calls_per_s']:.0f}", f"{m['us_per_call']:.0f}",
                f"{m['server_pct']:.0f} %", f"{m['failed']:.0f}",
            )  # fmt: skip
        console.print(table)
        ratio = med["on"]["us_per_call"] / med["off"]["us_per_call"]
        per_call = limiter_cost_us(callers)
        console.print(
            f"in-process cost of the limiter per unlock (blocked + admit, {callers} callers): "
            f"{per_call:.2f} µs = {100 * per_call / med['off']['us_per_call']:.2f} % of an "
            "unlock's server CPU"
        )
        console.print(
            f"server CPU per unlock, limits on / off: [bold]{ratio:.3f}[/] (target <= 1.05)"
        )
        return 0
    finally:
        children.stop_all()


if __name__ == "__main__":
    sys.exit(main())
