"""What authentication and authorization cost the unlock path (target: <= 15 % server CPU).

Two authority processes share one Redis (the first one's embedded redis-server), both with
``--ship-events off`` (decisions are still appended to the log buffer; nothing ships):

* the product, ``authority serve``: every call passes the authorization interceptor; the unlock
  parses the app's login-session credential, hashes its secret (SHA-256), reads the session's
  entry in the same HMGET as the holder's grants and checks expiry and digest;
* the baseline, ``noauth_server.py``: the same code with no interceptor, the credential split
  for the holder id only, and every stored credential accepted.

The fixture is built through the public API: key holders with grants, each activated and logged
in (``IssueHolderActivation``, ``Activate``, ``Login``), so the product is measured with real
session credentials. The load is closed-loop from ``bench/loadgen.py`` worker processes (grpc.aio,
pre-serialized requests, ALLOW checked on every response). The figure is server CPU per call
(process user+system time over the window / calls completed); the rounds interleave the two
servers and the medians are compared: ratio = product / baseline.

    .venv/bin/python bench/bench_auth.py [--rounds 5] [--duration 5] [--inflight 64]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from bench_unlock import Children, _proc_cpu, machine_info, start_product_server, wait_for_info  # noqa: E402
from fixture import build_fixture  # noqa: E402

console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
TARGET_RATIO = 1.15


class Load:
    """``loadgen.py`` workers, initialised with one list of (credential, door, relay)."""

    def __init__(self, children: Children, n: int, pairs: list[list[str]], log: Path) -> None:
        with log.open("ab") as err:
            self.workers = [
                children.start(
                    "loadgen",
                    [sys.executable, str(BENCH / "loadgen.py")],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    text=True,
                )
                for _ in range(n)
            ]
        for w in self.workers:
            self._send(w, {"op": "init", "pairs": pairs})
        for w in self.workers:
            self._recv(w)

    @staticmethod
    def _send(w: subprocess.Popen[str], cmd: dict[str, Any]) -> None:
        assert w.stdin is not None
        w.stdin.write(json.dumps(cmd) + "\n")
        w.stdin.flush()

    @staticmethod
    def _recv(w: subprocess.Popen[str]) -> dict[str, Any]:
        assert w.stdout is not None
        reply = json.loads(w.stdout.readline() or '{"ok": false, "error": "exited"}')
        if not reply.get("ok"):
            raise RuntimeError(f"load generator {w.pid}: {reply.get('error')}")
        return dict(reply)

    def measure(self, target: str, pid: int, ns: argparse.Namespace, rnd: int) -> dict[str, float]:
        start_at = time.time() + 0.3
        per = max(1, ns.inflight // len(self.workers))
        for k, w in enumerate(self.workers):
            self._send(
                w,
                {
                    "op": "run", "target": target, "mode": "closed", "concurrency": per,
                    "rate": 0, "phase": 0, "channels": 2, "start_at": start_at,
                    "warmup": ns.warmup, "duration": ns.duration,
                    "offset": rnd * 7919 + k * 104_729, "max_outstanding": 4096,
                },
            )  # fmt: skip
        w0 = start_at + ns.warmup
        time.sleep(max(0.0, w0 - time.time()))
        cpu0, _ = _proc_cpu(pid)
        t0 = time.perf_counter()
        time.sleep(max(0.0, w0 + ns.duration - time.time()))
        cpu1, _ = _proc_cpu(pid)
        wall = time.perf_counter() - t0
        replies = [self._recv(w) for w in self.workers]
        done = sum(r["completed"] for r in replies)
        lat = sorted(x for r in replies for x in r["lat_us"])
        return {
            "calls_per_s": done / wall,
            "us_per_call": (cpu1 - cpu0) / max(done, 1) * 1e6,
            "server_pct": 100 * (cpu1 - cpu0) / wall,
            "p50_ms": lat[len(lat) // 2] / 1000 if lat else 0.0,
            "errors": float(sum(r["errors_total"] for r in replies)),
            "not_allow": float(sum(r["not_allow"] for r in replies)),
        }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--holders", type=int, default=100)
    parser.add_argument("--procs", type=int, default=2, help="load generator processes")
    ns = parser.parse_args()
    children = Children()
    tmp = Path(tempfile.mkdtemp(prefix="bench-auth-"))
    try:
        env = {
            **os.environ,
            "AUTHORITY_LOG_LEVEL": "WARNING",
            "AUTHORITY_LOG_FORMAT": "json",
            "AUTHORITY_SESSION_TTL_SECONDS": "3600",  # outlives the run
        }
        for name in ("REDIS_URL", "CLICKHOUSE_URL", "AUTHORITY_SHIP_EVENTS"):
            env.pop(name, None)
        product, pinfo = start_product_server(children, tmp, env)
        sock = tmp / "product" / "redis" / "redis.sock"
        shared = {**env, "REDIS_URL": f"unix://{sock}"}
        with (tmp / "baseline.log").open("wb") as log:
            baseline = children.start(
                "baseline", [sys.executable, str(BENCH / "noauth_server.py"), "--data-dir",
                             str(tmp / "baseline"), "--listen", "127.0.0.1:0",
                             "--ship-events", "off"],
                env=shared, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        binfo = wait_for_info(tmp / "baseline" / "server.json", baseline, tmp / "baseline.log")
        admin = (tmp / "product" / "admin.credential").read_text().strip()
        console.print(f"fixture: {ns.holders} key holders, each logged in (argon2id) ...")
        fixture = build_fixture(pinfo["target"], admin, holders=ns.holders, doors=20, sites=2)
        # the fixture's holders enrolled and logged in: the pairs carry session credentials
        pairs = [[p.credential, p.door_id, p.relay_id] for p in fixture.pairs]
        load = Load(children, ns.procs, pairs, tmp / "loadgen.log")
        names = ["baseline (no authn/authz)", "product (session + authz)"]
        targets = {
            names[0]: (binfo["target"], baseline.pid),
            names[1]: (pinfo["target"], product.pid),
        }
        runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
        for rnd in range(ns.rounds):
            for name in names[rnd % 2 :] + names[: rnd % 2]:
                target, pid = targets[name]
                r = load.measure(target, pid, ns, rnd)
                runs[name].append(r)
                console.print(
                    f"  r{rnd} {name:28s} {r['calls_per_s']:6.0f}/s"
                    f"  {r['us_per_call']:6.0f} µs/call"
                    f"  server {r['server_pct']:4.0f}%  p50 {r['p50_ms']:.2f} ms"
                    f"  errors {r['errors']:.0f}  not ALLOW {r['not_allow']:.0f}"
                )
        med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in runs.items()}
        ratio = med[names[1]]["us_per_call"] / med[names[0]]["us_per_call"]
        per_round = [
            p["us_per_call"] / b["us_per_call"]
            for b, p in zip(runs[names[0]], runs[names[1]], strict=True)
        ]
        table = Table(
            title=f"authentication + authorization on the unlock path ({ns.inflight} in flight, "
            f"medians of {ns.rounds})"
        )
        for col in ("server", "calls/s", "server µs/call", "server CPU", "p50 ms", "errors"):
            table.add_column(col)
        for name in names:
            m = med[name]
            table.add_row(
                name, f"{m['calls_per_s']:.0f}", f"{m['us_per_call']:.0f}",
                f"{m['server_pct']:.0f}%", f"{m['p50_ms']:.2f}", f"{m['errors']:.0f}",
            )  # fmt: skip
        console.print(table)
        verdict = "met" if ratio <= TARGET_RATIO else "missed"
        console.print(
            f"authentication + authorization add {100 * (ratio - 1):+.1f}% server CPU per unlock "
            f"(ratio of medians {ratio:.3f}; per round {', '.join(f'{x:.3f}' for x in per_round)};"
            f" target <= {TARGET_RATIO}: {verdict})"
        )
        (BENCH / "results").mkdir(exist_ok=True)
        (BENCH / "results" / "auth.json").write_text(
            json.dumps(
                {
                    "medians": med,
                    "ratio": ratio,
                    "per_round": per_round,
                    "runs": runs,
                    "machine": machine_info(),
                },
                indent=2,
            )
        )
        return 0
    finally:
        children.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
