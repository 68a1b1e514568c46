"""What recording every decision in the access log costs the unlock path.

Three authority processes share one Redis (the first one's embedded redis-server):

* the product, ``authority serve --ship-events off``: it appends every decision to the Redis
  Stream buffer before answering, and leaves shipping to
* the shipper, ``authority serve --ship-events only`` (its own data directory, so its own
  embedded chDB): it drains the buffer into chDB while the product is measured, as a dedicated
  shipping process would in production;
* the baseline, ``nolog_server.py --ship-events off``: the same code with recording replaced by
  a no-op.

h2load drives the servers in turn with the same request; the figure is server CPU per call
(process user+system time over the window / calls completed), medians over rounds, and the
ratio product / baseline (target <= 1.10). The product is measured twice per round:

* **product**: the shipper drains the buffer during the window, on the same 2 CPUs as
  everything else, so it competes with the server under test (and h2load, and Redis);
* **product, shipper paused**: the shipper is stopped (SIGSTOP) for the window and catches up
  after it: the unlock server's own cost of recording, as with a shipper on other cores.

Shipping's own cost is reported beside it (the shipper process's CPU per call of the product's
windows), not hidden in it. Every window starts with the buffer empty (the benchmark waits for
the shipper to catch up), so no window pays for another's shipping.

    .venv/bin/python bench/bench_event_overhead.py [--rounds 5] [--duration 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
from rich.console import Console
from rich.table import Table

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from bench_unlock import Children, _proc_cpu, start_product_server, wait_for_info  # noqa: E402
from fixture import build_fixture  # noqa: E402

from authority.adapters.redis.event_buffer import stream_key  # noqa: E402
from authority.v1 import authority_pb2 as pb  # noqa: E402

console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
METHOD = "/authority.v1.UnlockService/RequestUnlock"


def h2load(
    target: str, body: Path, credential: str, seconds: float, inflight: int
) -> dict[str, float]:
    clients = 4
    out = subprocess.run(
        ["h2load", "-c", str(clients), "-m", str(max(1, inflight // clients)), "-t", "1",
         "-D", f"{seconds:g}", "-d", str(body), "-H", "content-type: application/grpc",
         "-H", "te: trailers", "-H", f"authorization: Bearer {credential}",
         f"http://{target}{METHOD}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    line = next(x for x in out.splitlines() if x.startswith("requests:"))
    done = int(line.split(",")[2].split()[0])
    failed = int(line.split(",")[4].split()[0])
    return {"done": done, "failed": failed}


def unshipped(sock: Path) -> int:
    """Events left in the buffer streams (the shipper trims what it shipped)."""
    client = redis.Redis(unix_socket_path=str(sock))
    try:
        return sum(int(client.xlen(stream_key(s))) for s in range(256))
    finally:
        client.close()


def measure(
    target: str, pid: int, shipper: int, body: Path, credential: str, ns: argparse.Namespace
) -> dict[str, float]:
    h2load(target, body, credential, ns.warmup, ns.inflight)
    cpu0, _ = _proc_cpu(pid)
    ship0, _ = _proc_cpu(shipper)
    t0 = time.perf_counter()
    res = h2load(target, body, credential, ns.duration, ns.inflight)
    wall = time.perf_counter() - t0
    cpu1, _ = _proc_cpu(pid)
    ship1, _ = _proc_cpu(shipper)
    done = max(res["done"], 1)
    return {
        "calls_per_s": res["done"] / wall,
        "us_per_call": (cpu1 - cpu0) / done * 1e6,
        "server_pct": 100 * (cpu1 - cpu0) / wall,
        "shipper_us_per_call": (ship1 - ship0) / done * 1e6,
        "failed": res["failed"],
    }


def drained(sock: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while unshipped(sock):
        if time.monotonic() > deadline:
            raise RuntimeError("the shipper did not catch up within 2 minutes")
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--inflight", type=int, default=128)
    ns = parser.parse_args()
    if shutil.which("h2load") is None:
        console.print("h2load is needed: apt-get install -y nghttp2-client")
        return 2
    children = Children()
    tmp = Path(tempfile.mkdtemp(prefix="bench-events-"))
    try:
        env = {**os.environ, "AUTHORITY_LOG_LEVEL": "WARNING", "AUTHORITY_LOG_FORMAT": "json",
               # h2load sends every call with one credential: no per-caller limit here
               # (bench_ratelimit.py measures the limiter's cost).
               "AUTHORITY_RATE_LIMIT_CALLER": "0"}  # fmt: skip
        for name in ("REDIS_URL", "CLICKHOUSE_URL", "AUTHORITY_SHIP_EVENTS"):
            env.pop(name, None)
        product, pinfo = start_product_server(children, tmp, env)
        sock = tmp / "product" / "redis" / "redis.sock"
        shared = {**env, "REDIS_URL": f"unix://{sock}"}
        with (tmp / "shipper.log").open("wb") as log:
            shipper = children.start(
                "shipper", [sys.executable, "-m", "authority.cli.main", "serve", "--data-dir",
                            str(tmp / "shipper"), "--listen", "127.0.0.1:0",
                            "--ship-events", "only"],
                env=shared, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for_info(tmp / "shipper" / "server.json", shipper, tmp / "shipper.log")
        with (tmp / "baseline.log").open("wb") as log:
            baseline = children.start(
                "baseline", [sys.executable, str(BENCH / "nolog_server.py"), "--data-dir",
                             str(tmp / "baseline"), "--listen", "127.0.0.1:0",
                             "--ship-events", "off"],
                env=shared, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        binfo = wait_for_info(tmp / "baseline" / "server.json", baseline, tmp / "baseline.log")
        admin = (tmp / "product" / "admin.credential").read_text().strip()
        fixture = build_fixture(pinfo["target"], admin, holders=50, doors=10, sites=2)
        pair = fixture.pairs[0]
        msg = pb.RequestUnlockRequest(door_id=pair.door_id, relay_challenge=os.urandom(16))
        raw = msg.SerializeToString()
        body = tmp / "request.grpc"
        body.write_bytes(b"\x00" + struct.pack(">I", len(raw)) + raw)
        paused = "product, shipper paused"
        names = ["baseline", "product", paused]
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
        targets = {
            "product": (pinfo["target"], product.pid),
            paused: (pinfo["target"], product.pid),
            "baseline": (binfo["target"], baseline.pid),
        }
        for rnd in range(ns.rounds):
            for name in names[rnd % 3 :] + names[: rnd % 3]:
                target, pid = targets[name]
                drained(sock)
                if name == paused:
                    os.kill(shipper.pid, signal.SIGSTOP)
                try:
                    r = measure(target, pid, shipper.pid, body, pair.credential, ns)
                finally:
                    if name == paused:
                        os.kill(shipper.pid, signal.SIGCONT)
                runs[name].append(r)
                console.print(
                    f"  r{rnd} {name:24s} {r['calls_per_s']:7.0f}/s  "
                    f"{r['us_per_call']:6.0f} µs/call  server {r['server_pct']:4.0f}%  "
                    f"shipper {r['shipper_us_per_call']:5.1f} µs/call  failed {r['failed']:.0f}"
                )
        med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in runs.items()}
        ratios = {n: med[n]["us_per_call"] / med["baseline"]["us_per_call"] for n in names[1:]}
        table = Table(
            title="access-log recording overhead "
            f"(h2load, {ns.inflight} in flight, medians of {ns.rounds})"
        )
        for col in ("server", "calls/s", "server µs/call", "server CPU", "shipper µs/call"):
            table.add_column(col)
        for name in names:
            m = med[name]
            table.add_row(
                name,
                f"{m['calls_per_s']:.0f}",
                f"{m['us_per_call']:.0f}",
                f"{m['server_pct']:.0f}%",
                f"{m['shipper_us_per_call']:.1f}",
            )
        console.print(table)
        backlog = unshipped(sock)
        console.print(f"events still in the buffer at the end (not yet shipped): {backlog:,}")
        for name, ratio in ratios.items():
            verdict = "met" if ratio <= 1.10 else "missed"
            console.print(f"{name}: recording adds {100 * (ratio - 1):+.1f}% server CPU per "
                          f"unlock (ratio {ratio:.3f}; target <= 1.10: {verdict})")  # fmt: skip
        (BENCH / "results").mkdir(exist_ok=True)
        (BENCH / "results" / "event_overhead.json").write_text(
            json.dumps(
                {"medians": med, "ratios": ratios, "unshipped": backlog, "runs": runs}, indent=2
            )
        )
        return 0
    finally:
        children.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
