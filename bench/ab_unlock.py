"""A/B of unlock servers: settings or code versions against each other and the bare echo, in
one run with interleaved rounds (the machine is shared: compare only within a run).

    .venv/bin/python bench/ab_unlock.py default linger-off:AUTHORITY_COALESCE_LINGER_CALLS=100000
    .venv/bin/python bench/ab_unlock.py --open 1500 before@/work/old-checkout after
    .venv/bin/python bench/ab_unlock.py --rounds 4 a:AUTHORITY_COALESCE_LINGER_MS=3,X=Y@/tree

A variant is ``NAME[:ENV=VALUE,...][@TREE]``: a one-worker ``authority serve`` with those
settings, running the code of checkout ``TREE`` (default: this one; ``python -m
authority.cli.main``, or ``authority.cli`` in a checkout from before the CLI package). Every
variant gets the same fixture as ``bench_unlock.py`` (holders logged in with sessions, doors,
grants); h2load drives each in turn, closed loop (``--inflight``) or open loop at ``--open``
calls/s, and the program prints per variant the medians of the worker's CPU µs per call, its ratio
to the echo's and to the first variant's, Redis's µs per call (smaller when batches are larger),
p50 and p99.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bench_unlock as bu
from rich.table import Table


@dataclass(frozen=True)
class Variant:
    name: str
    env: dict[str, str]
    tree: Path

    @classmethod
    def parse(cls, text: str) -> Variant:
        spec, _, tree = text.partition("@")
        name, _, settings = spec.partition(":")
        env: dict[str, str] = {}
        for item in filter(None, settings.split(",")):
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise SystemExit(f"variant {text!r}: settings are ENV=VALUE, comma-separated")
            env[key] = value
        if not name or name == "echo-aio":
            raise SystemExit(f"variant {text!r}: needs a name of its own")
        root = Path(tree).resolve() if tree else bu.ROOT
        if (
            not (root / "authority" / "cli" / "main.py").exists()
            and not (root / "authority" / "cli.py").exists()
        ):
            raise SystemExit(f"variant {text!r}: {root} has no authority command")
        return cls(name, env, root)


class AB(bu.Bench):
    def __init__(self, ns: argparse.Namespace, variants: list[Variant], open_rate: float):
        super().__init__(ns)
        self.variants = variants
        self.open_rate = open_rate

    def setup(self) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="authab-", dir="/tmp"))
        for v in self.variants:
            self.start_authority(v.name, 1, extra_env=v.env, tree=v.tree)
        self.start_echo(like=self.variants[0].name)

    def execute(self) -> None:
        names = ["echo-aio", *(v.name for v in self.variants)]
        scenarios = [
            bu.Scenario(n, "open", rate=self.open_rate)
            if self.open_rate
            else bu.Scenario(n, "closed", self.ns.inflight)
            for n in names
        ]
        for rnd in range(self.ns.rounds):
            self.renew_sessions()
            k = rnd % len(scenarios)  # rotate: slow drifts of the machine spread evenly
            for sc in scenarios[k:] + scenarios[:k]:
                self.run(sc, rnd)

    def table(self) -> Table:
        by: dict[str, list[dict[str, Any]]] = {}
        for r in self.runs:
            by.setdefault(r["server"], []).append(r)

        def med(name: str, key: str) -> float:
            values = [r[key] for r in by[name] if r.get(key) is not None]
            return statistics.median(values) if values else float("nan")

        echo = med("echo-aio", "server_cpu_us_per_call")
        first = med(self.variants[0].name, "server_cpu_us_per_call")
        load = f"open {self.open_rate:.0f}/s" if self.open_rate else f"{self.ns.inflight} in flight"
        t = Table(title=f"unlock A/B, one worker each, h2load {load}, medians of {self.ns.rounds}")
        for col in ("server", "µs/call", "x echo", "x first", "redis µs/call", "p50 ms", "p99 ms"):
            t.add_column(col, justify="left" if col == "server" else "right")
        for name in ["echo-aio", *(v.name for v in self.variants)]:
            us = med(name, "server_cpu_us_per_call")
            t.add_row(
                name,
                f"{us:.0f}",
                f"{us / echo:.2f}",
                "-" if name == "echo-aio" else f"{us / first:.2f}",
                "-" if name == "echo-aio" else f"{med(name, 'redis_cpu_us_per_call'):.0f}",
                f"{med(name, 'p50_ms'):.2f}",
                f"{med(name, 'p99_ms'):.2f}",
            )
        return t


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("variants", nargs="+", help="NAME[:ENV=VALUE,...][@TREE]")
    ap.add_argument("--open", type=float, default=0.0, help="open loop at this rate (calls/s)")
    ap.add_argument("--rounds", type=int, default=4, help="rounds (default 4)")
    ap.add_argument("--duration", type=float, default=4.0, help="measured seconds per run")
    ap.add_argument("--inflight", type=int, default=128, help="closed loop: calls in flight")
    ns = ap.parse_args(argv)
    variants = [Variant.parse(v) for v in ns.variants]
    if len({v.name for v in variants}) != len(variants):
        raise SystemExit("variant names must differ")
    h2load = bu.shutil.which("h2load")
    if not h2load:
        raise SystemExit("h2load not found (apt install nghttp2-client)")
    bench_ns = bu.parse_args(
        ["--rounds", str(ns.rounds), "--duration", str(ns.duration), "--inflight", str(ns.inflight)]
    )
    ab = AB(bench_ns, variants, ns.open)
    ab.h2load = h2load
    try:
        ab.setup()
        ab.execute()
    finally:
        ab.close()
    bu.console.print(ab.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
