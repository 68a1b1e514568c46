"""Access-log ingest benchmark: events per second from Redis Streams into embedded chDB through
the shipper, against a raw ``client.insert`` of the same rows, in one run.

    .venv/bin/python bench/bench_ingest.py            # 3 rounds of 1,000,000 events (~9 min)
    .venv/bin/python bench/bench_ingest.py --quick    # 1 round of 200,000 events (~45 s)
    .venv/bin/python bench/bench_ingest.py --help

What runs, all on this machine:

* a private ``redis-server`` (``EmbeddedRedis``: unix socket, AOF), started and stopped here,
  with ``appendfsync everysec`` unless ``--appendfsync`` says otherwise: with ``always`` (the
  production default) every XADD pipeline of the *producer* waits for an fsync, and on this
  machine's disk that caps the producer well below the shipper (see bench/README.md);
* a producer process (this file with ``--produce``): appends pre-built events to the
  ``{log:<shard>}:events`` streams exactly as ``RedisEventBuffer`` does (the same JSON
  encoding, XADD pipelines through ``RedisStore.round_trip``), one task per shard;
* the shipper (``authority.adapters.clickhouse.shipper.Shipper.run``) in this process, with its
  default configuration, into chDB on a temporary directory (``ClickHouseSink``, schema by
  ``migrate``).

Scenarios, repeated ``--rounds`` times in alternating order, medians reported:

* **drain**: the producer fills the streams first; then the shipper empties them;
* **sustained**: the producer appends as fast as it can while the shipper drains;
* **raw insert** (baseline): ``client.insert`` of the same rows, column-oriented, prepared in
  Python beforehand, in batches of ``batch_max``: no Redis, no parsing, no chain; only the
  insert calls are timed;
* **raw JSONEachRow** (second baseline): ``client.raw_insert`` of pre-built bodies in the
  shipper's own format: what chDB alone costs for the shipper's inserts;
* **drain-field-order** (on request, ``--scenarios``): drain with entries in ``AccessEvent``
  field order, the buffer's encoding before commit 401d26f, which the shipper has to re-sort.

A shipping rate is the run's events over the time from the start (the shipper's start for
drain, the producer's start for sustained) until the last event is shipped; "steady" excludes the
start-up (first read, schema check, first batch). CPU is process CPU time (user + system, all
threads) over the run, per event: the benchmark process (shipper + chDB), redis-server and the
producer. After the rounds the log is verified end to end (``audit.verify`` over every
shipped row), which also shows what a full audit costs. Everything started here is stopped on
exit, Ctrl-C or SIGTERM; children die with the benchmark even on SIGKILL (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table

from authority.adapters.clickhouse.chain import AuditKey
from authority.adapters.clickhouse.connect import open_clickhouse
from authority.adapters.clickhouse.schema import migrate
from authority.adapters.clickhouse.shipper import ClickHouseSink, Shipper, ShipperConfig
from authority.adapters.redis.embedded import EmbeddedRedis

# The buffer's own encoder: the producer writes exactly what RedisEventBuffer writes.
from authority.adapters.redis.event_buffer import _dumps as buffer_encode
from authority.adapters.redis.event_buffer import stream_key
from authority.adapters.redis.redis_store import RedisStore
from authority.domain.events import EVENT_FIELDS, new_event_id

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results" / "ingest.json"
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
_field_order_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
"""The buffer's encoding before commit 401d26f (keys in ``AccessEvent`` field order), which the
shipper must re-sort: the ``drain-field-order`` scenario."""


# -- events ------------------------------------------------------------------------------------


def event_dict(i: int, now_ms: int) -> dict[str, str | int]:
    """A realistic unlock decision, as ``AccessEvent.to_dict()`` would give it (same keys, same
    order): 2,000 doors over 200 sites, 20,000 holders of 4 organisations."""
    holder = f"kh_{i % 20_000:016x}"
    door = i % 2000
    values: dict[str, str | int] = {
        "event_id": new_event_id(now_ms),
        "ts_ms": now_ms,
        "kind": "unlock",
        "action": "unlock",
        "outcome": "allow" if i % 50 else "deny",
        "reason": "granted" if i % 50 else "outside_schedule",
        "actor_role": "key_holder",
        "actor_id": holder,
        "organisation_id": f"org_{i % 4:012x}",
        "site_id": f"site_{door // 10:012x}",
        "door_id": f"door_{door:012x}",
        "holder_id": holder,
        "grant_id": f"gr_{i % 60_000:016x}",
        "token_id": os.urandom(16).hex(),
        "relay_id": f"relay_{door:012x}",
        "detail": "",
    }
    assert tuple(values) == EVENT_FIELDS
    return values


# -- the producer process ----------------------------------------------------------------------


async def produce(url: str, shards: int, events: int, *, field_order: bool) -> None:
    now_ms = int(time.time() * 1000)
    dumps = _field_order_dumps if field_order else buffer_encode
    per_shard = [
        [dumps(event_dict(i, now_ms + i // 1000)) for i in range(s, events, shards)]
        for s in range(shards)
    ]
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()  # "go"
    store = RedisStore.from_url(url)
    started = time.perf_counter()

    async def one_shard(shard: int) -> None:
        key = stream_key(shard)
        entries = per_shard[shard]
        for lo in range(0, len(entries), 1000):
            await store.round_trip([("XADD", key, "*", "e", e) for e in entries[lo : lo + 1000]])

    await asyncio.gather(*(one_shard(s) for s in range(shards)))
    elapsed = time.perf_counter() - started
    await store.close()
    print(json.dumps({"events": events, "seconds": elapsed}), flush=True)


# -- processes ---------------------------------------------------------------------------------


class Children:
    """Processes started here; ``stop_all`` ends them."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, argv: Sequence[str]) -> subprocess.Popen[str]:
        wrapped = [sys.executable, str(BENCH / "pdeathsig_exec.py"), str(os.getpid()), *argv]
        proc = subprocess.Popen(
            wrapped,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        self.procs.clear()


def read_json_line(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"producer exited with {proc.wait()}")
    return dict(json.loads(line))


# -- measurement -------------------------------------------------------------------------------


@dataclass
class Run:
    scenario: str
    events: int
    rate: float
    """Events/s over the whole run: from the start (the shipper's, or the producer's 'go' in
    the sustained scenario) until the last event is shipped."""
    steady_rate: float = 0.0
    """Events/s from the first acknowledged batch to the last (start-up excluded)."""
    cpu_us: dict[str, float] = field(default_factory=dict)
    """CPU µs per event by process, over the whole run."""
    producer_rate: float | None = None
    max_backlog: int = 0
    errors: int = 0
    """Failed cycles, retried by the shipper (e.g. a Redis round trip that timed out)."""


class CpuClock:
    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}

    def snap(self) -> dict[str, float]:
        out = {}
        for name, proc in self.procs.items():
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                out[name] = t.user + t.system
        return out


async def ship_scenario(
    scenario: str,
    ns: argparse.Namespace,
    redis_url: str,
    sink: ClickHouseSink,
    key: AuditKey,
    children: Children,
    cpu_pids: dict[str, int],
) -> Run:
    producer = children.start(
        [sys.executable, str(Path(__file__)), "--produce", "--url", redis_url,
         "--shards", str(ns.shards), "--events", str(ns.events),
         *(["--field-order"] if scenario == "drain-field-order" else [])]
    )  # fmt: skip
    read_json_line(producer)  # events generated
    redis = RedisStore.from_url(redis_url)
    shipper = Shipper(
        redis=redis,
        sink=sink,
        audit_key=key,
        config=ShipperConfig(shards=ns.shards, batch_max=ns.batch_max),
    )
    cpu = CpuClock({**cpu_pids, "producer": producer.pid})
    stop = asyncio.Event()
    task: asyncio.Task[None] | None = None
    assert producer.stdin is not None
    if scenario in ("drain", "drain-field-order"):
        producer.stdin.write("go\n")
        producer.stdin.flush()
        produced = await asyncio.to_thread(read_json_line, producer)
        lengths = await redis.round_trip([("XLEN", stream_key(s)) for s in range(ns.shards)])
        max_backlog = sum(lengths)
    started = time.perf_counter()
    cpu_start = cpu.snap()
    task = asyncio.create_task(shipper.run(stop))
    if scenario == "sustained":
        producer.stdin.write("go\n")
        producer.stdin.flush()
        max_backlog = 0
    first_ack: tuple[float, int] | None = None
    try:
        while True:
            await asyncio.sleep(0.02)
            m = shipper.metrics()
            now = time.perf_counter() - started
            max_backlog = max(max_backlog, m.backlog)
            if task.done():  # the shipper only returns when told to stop: a bug, show it
                task.result()
                raise RuntimeError("the shipper stopped before shipping every event")
            if not m.healthy:
                raise RuntimeError(f"shipping failed for too long: {m.shards}")
            if first_ack is None and m.shipped:
                first_ack = (now, m.shipped)
            if m.shipped >= ns.events:
                break
            if now > 900:
                raise RuntimeError("the shipper did not finish within 15 minutes")
    finally:
        cpu_end = cpu.snap()
        errors = shipper.metrics().errors
        stop.set()
        await task
        await redis.close()
    if scenario == "sustained":
        produced = await asyncio.to_thread(read_json_line, producer)
    producer.wait(30)
    assert first_ack is not None
    steady = (ns.events - first_ack[1]) / (now - first_ack[0]) if now > first_ack[0] else 0.0
    cpu_us = {
        name: 1e6 * (cpu_end[name] - cpu_start.get(name, 0.0)) / ns.events
        for name in cpu_end
        if not (scenario != "sustained" and name == "producer")
    }
    return Run(
        scenario=scenario,
        events=ns.events,
        rate=ns.events / now,
        steady_rate=steady,
        cpu_us=cpu_us,
        producer_rate=produced["events"] / produced["seconds"],
        max_backlog=max_backlog,
        errors=errors,
    )


def columns_batch(lo: int, n: int, now_ms: int) -> list[list[Any]]:
    rows = [event_dict(i, now_ms) for i in range(lo, lo + n)]
    cols: list[list[Any]] = [[r[name] for r in rows] for name in EVENT_FIELDS]
    cols += [[0] * n, list(range(lo + 1, lo + n + 1)), [os.urandom(32) for _ in range(n)]]
    return cols


SCENARIOS = ("drain", "sustained", "raw insert", "raw JSONEachRow", "drain-field-order")
DEFAULT_SCENARIOS = SCENARIOS[:4]
RAW_COLUMNS = [("ts" if f == "ts_ms" else f) for f in EVENT_FIELDS] + ["shard", "seq", "hash"]


def raw_insert_scenario(ns: argparse.Namespace, client: Any, json_each_row: bool) -> Run:
    """The baselines: only the insert calls are timed, the batches are built beforehand."""
    now_ms = int(time.time() * 1000)
    elapsed = 0.0
    batch = ns.batch_max
    for lo in range(0, ns.events, batch):
        n = min(batch, ns.events - lo)
        if json_each_row:
            body = b"".join(
                buffer_encode(event_dict(i, now_ms)).encode()[:-1]
                + b',"shard":0,"seq":%d,"hash_hex":"%s"}\n' % (i + 1, os.urandom(32).hex().encode())
                for i in range(lo, lo + n)
            )
            t = time.perf_counter()
            client.raw_insert(
                "access_events", [*EVENT_FIELDS, "shard", "seq", "hash_hex"], body,
                fmt="JSONEachRow",
                settings={"insert_deduplication_token": uuid.uuid4().hex,
                          "input_format_parallel_parsing": 0},  # as the shipper's inserts
            )  # fmt: skip
        else:
            cols = columns_batch(lo, n, now_ms)
            t = time.perf_counter()
            client.insert(
                "access_events", cols, column_names=RAW_COLUMNS, column_oriented=True,
                settings={"insert_deduplication_token": uuid.uuid4().hex},
            )  # fmt: skip
        elapsed += time.perf_counter() - t
    name = "raw JSONEachRow" if json_each_row else "raw insert"
    return Run(scenario=name, events=ns.events, rate=ns.events / elapsed)


# -- reporting ---------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import chdb  # noqa: PLC0415
    import clickhouse_connect  # noqa: PLC0415

    redis_version = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=False
    ).stdout.split()[2:3]
    return {
        "cpu_model": model or platform.processor(),
        "logical_cpus": psutil.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "chdb": chdb.__version__,
        "clickhouse_connect": clickhouse_connect.__version__,
        "redis": redis_version[0].removeprefix("v=") if redis_version else "?",
        "load_average_at_start": os.getloadavg(),
    }


def report(runs: list[Run], ns: argparse.Namespace, machine: dict[str, Any]) -> dict[str, Any]:
    by: dict[str, list[Run]] = {}
    for r in runs:
        by.setdefault(r.scenario, []).append(r)
    raw = statistics.median(r.rate for r in by["raw insert"]) if "raw insert" in by else 0.0
    table = Table(title=f"access-log ingest, {ns.events:,} events per run, medians of {ns.rounds}")
    columns = (
        "scenario",
        "events/s",
        "steady events/s",
        "vs raw insert",
        "CPU µs/event (bench / redis / producer)",
        "producer events/s",
        "max backlog",
        "retries",
    )
    for col in columns:
        table.add_column(col, justify="left" if col == "scenario" else "right")
    summary: dict[str, Any] = {}
    for scenario, rs in by.items():
        rate = statistics.median(r.rate for r in rs)
        steady = statistics.median(r.steady_rate for r in rs)
        cpu = {k: statistics.median(r.cpu_us.get(k, 0.0) for r in rs) for k in rs[0].cpu_us}
        prod = [r.producer_rate for r in rs if r.producer_rate]
        summary[scenario] = {
            "rate": rate,
            "steady_rate": steady,
            "ratio_vs_raw_insert": rate / raw if raw else None,
            "cpu_us_per_event": cpu,
            "producer_rate": statistics.median(prod) if prod else None,
            "max_backlog": max(r.max_backlog for r in rs),
            "retries": sum(r.errors for r in rs),
            "rounds": [r.rate for r in rs],
        }
        table.add_row(
            scenario,
            f"{rate:,.0f}",
            f"{steady:,.0f}" if steady else "",
            f"{rate / raw:.2f}" if raw else "",
            " / ".join(f"{cpu[k]:.1f}" for k in ("bench", "redis", "producer") if k in cpu),
            f"{statistics.median(prod):,.0f}" if prod else "",
            f"{max(r.max_backlog for r in rs):,}" if rs[0].max_backlog else "",
            str(sum(r.errors for r in rs)) if rs[0].max_backlog else "",
        )
    console.print(table)
    return summary


@contextlib.contextmanager
def interrupts_as_keyboard() -> Iterator[None]:
    def _raise(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.signal(s, _raise) for s in signals}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


async def bench(ns: argparse.Namespace, work: Path, children: Children) -> dict[str, Any]:
    redis = EmbeddedRedis(work, appendfsync=ns.appendfsync)
    url = await asyncio.to_thread(redis.start)
    try:
        path = work / "chdb"
        shipped_client = open_clickhouse(url=None, path=path, database="shipped")
        raw_client = open_clickhouse(url=None, path=path, database="raw")
        for c in (shipped_client, raw_client):
            migrate(c)
        sink = ClickHouseSink(partial(open_clickhouse, url=None, path=path, database="shipped"))
        key = AuditKey.generate(now=int(time.time()))
        assert redis._proc is not None
        pids = {"bench": os.getpid(), "redis": redis._proc.pid}
        runs: list[Run] = []
        order = [x for x in SCENARIOS if x in ns.scenarios]
        for r in range(ns.rounds):
            for scenario in order if r % 2 == 0 else order[::-1]:
                if scenario in ("drain", "sustained", "drain-field-order"):
                    run = await ship_scenario(scenario, ns, url, sink, key, children, pids)
                else:
                    run = raw_insert_scenario(ns, raw_client, scenario == "raw JSONEachRow")
                runs.append(run)
                console.print(
                    f"round {r + 1}/{ns.rounds} {scenario:>16}: {run.rate:>9,.0f} events/s"
                    + (f" (steady {run.steady_rate:,.0f})" if run.steady_rate else "")
                )
        rows = shipped_client.query(
            "SELECT count(), uniqExact(event_id) FROM access_events"
        ).result_rows[0]
        shipping = ("drain", "sustained", "drain-field-order")
        expected = sum(x in ns.scenarios for x in shipping) * ns.rounds * ns.events
        console.print(
            f"shipped rows: {rows[0]:,} (expected {expected:,}), distinct ids {rows[1]:,}"
        )
        if tuple(rows) != (expected, expected):
            raise RuntimeError("the shipped table does not hold every event exactly once")
        audit: dict[str, Any] = {}
        if not ns.no_audit:
            from authority.adapters.clickhouse.audit import verify  # noqa: PLC0415

            t = time.perf_counter()
            result = await asyncio.to_thread(verify, shipped_client, {key.kid: key.public})
            seconds = time.perf_counter() - t
            audit = {"intact": result.intact, "rows": expected, "seconds": seconds}
            console.print(
                f"audit: {'intact' if result.intact else 'BROKEN'}, {expected:,} rows in "
                f"{seconds:.1f} s ({expected / seconds:,.0f} rows/s)"
            )
        sink.close()
        shipped_client.close()
        raw_client.close()
    except BaseException:
        log = work / "redis" / "redis.log"
        if log.exists():
            console.print("[red]redis-server log (tail):[/]\n" + log.read_text()[-3000:])
        raise
    else:
        return {"runs": runs, "audit": audit}
    finally:
        await asyncio.to_thread(redis.stop)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--events", type=int, default=1_000_000, help="events per run")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--shards", type=int, default=4, help="streams (event_shards)")
    p.add_argument("--batch-max", type=int, default=50_000, help="the shipper's batch_max")
    p.add_argument(
        "--appendfsync",
        choices=["always", "everysec", "no"],
        default="everysec",
        help="the private redis-server's AOF policy (production default: always; see README)",
    )
    p.add_argument("--no-audit", action="store_true", help="skip the final audit")
    p.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_SCENARIOS),
        help=f"comma-separated, from: {', '.join(SCENARIOS)} (drain-field-order: entries in "
        "AccessEvent field order, the buffer's encoding before 401d26f, which the shipper "
        "re-sorts; the buffer now writes sorted keys, i.e. the canonical bytes)",
    )
    p.add_argument("--field-order", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help="1 round of 200,000 events")
    p.add_argument("--produce", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    ns = p.parse_args(argv)
    ns.scenarios = [x.strip() for x in ns.scenarios.split(",")]
    if unknown := set(ns.scenarios) - set(SCENARIOS):
        p.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    if ns.quick:
        ns.events, ns.rounds = 200_000, 1
    return ns


def main(argv: Sequence[str] | None = None) -> int:
    ns = parse_args(argv)
    if ns.produce:
        asyncio.run(produce(ns.url, ns.shards, ns.events, field_order=ns.field_order))
        return 0
    machine = machine_info()
    console.print(
        f"[bold]access-log ingest benchmark[/] on {machine['cpu_model']} "
        f"({machine['logical_cpus']} CPUs), load average {machine['load_average_at_start'][0]:.2f}"
    )
    children = Children()
    started = time.perf_counter()
    try:
        with interrupts_as_keyboard(), tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            result = asyncio.run(bench(ns, Path(tmp), children))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        return 130
    finally:
        children.stop_all()
    summary = report(result["runs"], ns, machine)
    out = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine,
        "options": {k: v for k, v in vars(ns).items() if k not in ("produce", "url")},
        "seconds": time.perf_counter() - started,
        "summary": summary,
        "audit": result["audit"],
        "runs": [vars(r) for r in result["runs"]],
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2))
    console.print(f"{time.perf_counter() - started:.0f} s; results in {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
