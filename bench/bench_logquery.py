"""Access-log query benchmark: the owner query and an organisation aggregate over 10 million
events in embedded chDB, through the query layer, against a baseline measured in the same run.

    .venv/bin/python bench/bench_logquery.py              # 10 M events, ~5 minutes
    .venv/bin/python bench/bench_logquery.py --events 1000000 --samples 50   # quick look
    .venv/bin/python bench/bench_logquery.py --help

What it does:

1. opens chDB on a temporary directory and applies the schema
(``authority.adapters.clickhouse.schema``); 2. generates the events inside ClickHouse (``INSERT …
   SELECT … FROM numbers(N)``, in chunks): 36 months back from now, 100,000 doors (two per
   stairwell), 3,000 organisations. Traffic is skewed as in life: door popularity and organisation
   size follow a power law (a few national postal and parcel companies carry most openings), 90 %
   unlock decisions (5 % of them denied, with reasons), 8 % relay outcomes, 2 % administration and
   lookups; openings cluster on weekday mornings. Then ``OPTIMIZE … FINAL`` merges the parts, as
background merges would; 3. measures, through ``AccessLogQueries`` (validation, tenancy, the
   ClickHouse adapter, the lookup event, row conversion; the event recorder is an in-memory list):
   * **owner query**: a site owner reads one door of its stairwell for one week (the door and
     week drawn like real traffic: busy doors more often), target p50 <= 20 ms;
   * **organisation month**: an organisation counts its events per day over one month
     (AggregateEvents ORGANISATION_DAY), target p50 <= 200 ms; also for the largest
     organisation alone;
   * **holder month**: an organisation reads one of its key holders' events over the same
     month (QueryEvents with a holder filter; no target, it shows the holder projection);
4. the **baseline**, in the same run and through the same layer: the same queries with the
   sort key and the projections switched off (ClickHouse settings ``use_primary_key = 0``,
   ``optimize_use_projections = 0``, ``optimize_use_projection_filtering = 0``; partition
   pruning by month still applies), and a full
   scan (``count()`` over a non-key expression) for scale;
5. prints the figures and the machine, and writes ``bench/results/logquery.json``.

Queries run one at a time (latency, not throughput); samples interleave the measured and the
baseline variants so background load on this shared machine hits both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from authority.adapters.clickhouse.event_reader import ClickHouseEventLog
from authority.adapters.clickhouse.schema import EVENTS_TABLE, apply_schema
from authority.domain.accesslog import AggregateKind, EventFilter
from authority.domain.credentials import Principal, Role
from authority.domain.events import AccessEvent
from authority.domain.model import (
    Door,
    HolderStatus,
    KeyHolder,
    Organisation,
    OrganisationStatus,
    Purpose,
    Site,
)
from authority.usecases.accesslog_queries import AccessLogQueries

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results" / "logquery.json"
console = Console(width=None if sys.stdout.isatty() else 150)

OWNER_TARGET_MS = 20.0
ORG_TARGET_MS = 200.0
BASELINE_SETTINGS = {
    "use_primary_key": 0,
    "optimize_use_projections": 0,
    "optimize_use_projection_filtering": 0,
}


@dataclass(frozen=True)
class Shape:
    events: int
    doors: int
    organisations: int
    months: int
    chunk: int


# -- data ------------------------------------------------------------------------------------

# Every value is derived from `number` with independent hashes (cityHash64(number, salt)), so a
# chunk is reproducible and needs no Python per row. r(salt) is uniform in [0, 1).
_R = "(cityHash64(number, {salt}) / 18446744073709551616.0)"


def _r(salt: int) -> str:
    return _R.format(salt=salt)


def generate_sql(shape: Shape, *, start_ms: int, span_ms: int, first: int, count: int) -> str:
    """One chunk of synthetic events as INSERT … SELECT (numbers from ``first``)."""
    door = f"toUInt32(pow({_r(1)}, 2.5) * {shape.doors})"  # busy doors: low numbers
    org = (
        f"if({_r(2)} < 0.6, toUInt32(pow({_r(3)}, 3) * 12), "  # national fleets
        f"toUInt32({_r(4)} * {shape.organisations}))"
    )
    # mornings: half the events between 06:00 and 10:00 UTC, the rest through the day
    day_ms = f"toInt64(intDiv({_r(5)} * {span_ms}, 86400000) * 86400000)"
    hour_ms = (
        f"if({_r(6)} < 0.5, toInt64((5 + {_r(7)} * 4) * 3600000), toInt64({_r(8)} * 86400000))"
    )
    kind = (
        f"multiIf({_r(9)} < 0.90, 'unlock', {_r(9)} < 0.98, 'relay', "
        f"{_r(9)} < 0.995, 'admin', 'lookup')"
    )
    columns = (
        "event_id, ts, kind, action, outcome, reason, actor_role, actor_id, organisation_id, "
        "site_id, door_id, holder_id, grant_id, token_id, relay_id, detail, shard, seq"
    )
    return f"""
INSERT INTO {EVENTS_TABLE} ({columns})
SELECT
    generateUUIDv4(number) AS event_id,
    fromUnixTimestamp64Milli(toInt64({start_ms}) + least({day_ms} + {hour_ms}, {span_ms - 1}),
                             'UTC') AS ts,
    {kind} AS kind,
    multiIf(kind = 'unlock', 'unlock', kind = 'relay', 'relay.outcome',
            kind = 'admin', if({_r(10)} < 0.7, 'grant.issue', 'grant.revoke'),
            'logs.query') AS action,
    multiIf(kind = 'unlock', if({_r(11)} < 0.95, 'allow', 'deny'),
            kind = 'relay', if({_r(11)} < 0.99, 'opened', 'rejected'), 'ok') AS outcome,
    multiIf(outcome = 'allow', 'granted',
            outcome = 'deny', ['no_grant', 'outside_schedule', 'expired', 'revoked',
                               'organisation_blocked_by_site_owner'][1 + toUInt8({_r(12)} * 5)],
            outcome = 'rejected', 'bad_signature', '') AS reason,
    multiIf(kind IN ('unlock', 'relay'), 'key_holder', kind = 'admin', 'organisation',
            'analyst') AS actor_role,
    concat('kh_', toString({org}), '_', toString(toUInt32({_r(13)} * 400))) AS holder_id,
    concat('org_', toString({org})) AS organisation_id,
    concat('site_', toString(intDiv({door}, 2))) AS site_id,
    concat('door_', toString({door})) AS door_id,
    if(kind = 'lookup', '', holder_id) AS actor_id,
    if(kind = 'admin', concat('gr_', hex(cityHash64(number, 14))), '') AS grant_id,
    if(outcome = 'allow', hex(cityHash64(number, 15)), '') AS token_id,
    concat('relay_', toString({door})) AS relay_id,
    if(kind = 'lookup', '{{"rows":12}}', '') AS detail,
    toUInt16(number % 4) AS shard,
    number AS seq
FROM numbers({first}, {count})
"""


def load(client: Any, shape: Shape, *, now: datetime) -> dict[str, float]:
    start = now - timedelta(days=30 * shape.months)
    start_ms = int(start.timestamp() * 1000)
    span_ms = int((now - start).total_seconds() * 1000)
    t0 = time.perf_counter()
    done = 0
    while done < shape.events:
        count = min(shape.chunk, shape.events - done)
        client.command(
            generate_sql(shape, start_ms=start_ms, span_ms=span_ms, first=done, count=count)
        )
        done += count
        console.print(
            f"  loaded {done:,} / {shape.events:,} events ({time.perf_counter() - t0:.0f} s)",
            highlight=False,
        )
    inserted = time.perf_counter() - t0
    t1 = time.perf_counter()
    client.command(f"OPTIMIZE TABLE {EVENTS_TABLE} FINAL")
    merged = time.perf_counter() - t1
    return {"insert_s": inserted, "optimize_s": merged}


def table_stats(client: Any) -> dict[str, Any]:
    rows, parts, on_disk, raw = client.query(
        "SELECT sum(rows), count(), sum(bytes_on_disk), sum(data_uncompressed_bytes) "
        "FROM system.parts WHERE active AND table = {t:String}",
        parameters={"t": EVENTS_TABLE},
    ).result_rows[0]
    return {
        "rows": int(rows),
        "parts": int(parts),
        "bytes_on_disk": int(on_disk),
        "bytes_uncompressed": int(raw),
    }


# -- the directory the query layer checks ids against ----------------------------------------


class SyntheticDirectory:
    """Implements ``TenantDirectory`` for the generated ids: owner ``owner_<n>`` owns
    ``site_<n>``, whose doors are ``door_<2n>`` and ``door_<2n+1>``."""

    def __init__(self, shape: Shape, now: datetime) -> None:
        self._orgs = {
            f"org_{i}": Organisation(
                organisation_id=f"org_{i}", name=f"Organisation {i}", cvr="25680839", se=None,
                public_body=False, purpose=Purpose.DELIVERY, status=OrganisationStatus.APPROVED,
                status_reason="", created_at=now,
            )
            for i in range(shape.organisations)
        }  # fmt: skip
        self._doors = shape.doors

    async def sync(self) -> None:
        return None

    def site(self, site_id: str) -> Site | None:
        n = _number(site_id, "site_")
        if n is None or n >= self._doors // 2:
            return None
        return Site(site_id=site_id, address=f"Street {n}", owner_id=f"owner_{n}")

    def door(self, door_id: str) -> Door | None:
        n = _number(door_id, "door_")
        if n is None or n >= self._doors:
            return None
        return Door(door_id=door_id, site_id=f"site_{n // 2}", relay_id=f"relay_{n}")

    @property
    def organisations(self) -> Mapping[str, Organisation]:
        return self._orgs

    def sites_of_owner(self, owner_id: str) -> frozenset[str]:
        n = _number(owner_id, "owner_")
        return frozenset() if n is None else frozenset({f"site_{n}"})

    def doors_of_site(self, site_id: str) -> frozenset[str]:
        n = _number(site_id, "site_")
        return frozenset() if n is None else frozenset({f"door_{2 * n}", f"door_{2 * n + 1}"})


def _number(value: str, prefix: str) -> int | None:
    rest = value.removeprefix(prefix)
    return int(rest) if rest != value and rest.isdigit() else None


class SyntheticHolders:
    """The generated holders ``kh_<org>_<n>``, each of organisation ``org_<org>``."""

    async def get_holder(self, holder_id: str) -> KeyHolder | None:
        org, _, n = holder_id.removeprefix("kh_").partition("_")
        if not (org.isdigit() and n.isdigit()):
            return None
        return KeyHolder(
            key_holder_id=holder_id,
            organisation_id=f"org_{org}",
            status=HolderStatus.ACTIVE,
            created_at=datetime(2020, 1, 1, tzinfo=UTC),
        )


class CountingRecorder:
    def __init__(self) -> None:
        self.count = 0

    async def record(self, events: Sequence[AccessEvent]) -> None:
        self.count += len(events)


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


# -- measuring -------------------------------------------------------------------------------


@dataclass
class Series:
    name: str
    ms: list[float]
    rows: list[int]

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.ms)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        return {
            "n": len(ordered),
            "p50_ms": statistics.median(ordered),
            "p99_ms": p99,
            "mean_ms": statistics.fmean(ordered),
            "mean_rows": statistics.fmean(self.rows) if self.rows else 0.0,
        }


async def timed(fn: Callable[[], Awaitable[int]]) -> tuple[float, int]:
    t0 = time.perf_counter()
    rows = await fn()
    return (time.perf_counter() - t0) * 1000, rows


def sample_doors(client: Any, n: int, seed: int) -> list[tuple[str, str, datetime]]:
    """(door, site, event time) of random events: doors drawn as traffic draws them."""
    rows = client.query(
        f"SELECT door_id, site_id, ts FROM {EVENTS_TABLE} "
        "WHERE kind = 'unlock' ORDER BY cityHash64(event_id, {seed:UInt64}) LIMIT {n:UInt32}",
        parameters={"seed": seed, "n": n},
    ).result_rows
    return [(str(d), str(s), ts.replace(tzinfo=UTC)) for d, s, ts in rows]


async def run(ns: argparse.Namespace) -> dict[str, Any]:
    import clickhouse_connect  # noqa: PLC0415 - ~350 MB engine

    shape = Shape(ns.events, ns.doors, ns.organisations, ns.months, ns.chunk)
    now = datetime.now(UTC).replace(microsecond=0)
    work = Path(ns.data_dir) if ns.data_dir else Path(tempfile.mkdtemp(prefix="bench-logquery-"))
    client = clickhouse_connect.get_client(dsn=f"chdb://{work / 'chdb'}")
    try:
        apply_schema(client)
        existing = table_stats(client)["rows"]
        if existing and existing != shape.events:
            raise SystemExit(f"{work} holds {existing} events, not {shape.events}: use another dir")
        console.print(f"[bold]loading {shape.events:,} events into chDB at {work}[/]")
        timings = load(client, shape, now=now) if not existing else {"reused": True}
        stats = table_stats(client)
        console.print(
            f"  {stats['rows']:,} rows in {stats['parts']} parts, "
            f"{stats['bytes_on_disk'] / 2**20:.0f} MiB on disk "
            f"({stats['bytes_uncompressed'] / 2**20:.0f} MiB uncompressed)",
            highlight=False,
        )
        directory = SyntheticDirectory(shape, now)
        recorder = CountingRecorder()

        def queries(settings: Mapping[str, Any] | None) -> AccessLogQueries:
            return AccessLogQueries(
                log=ClickHouseEventLog(client, settings=settings), directory=directory,
                holders=SyntheticHolders(), recorder=recorder, clock=WallClock(),
            )  # fmt: skip

        fast, slow = queries(None), queries(BASELINE_SETTINGS)
        rng = random.Random(ns.seed)
        doors = sample_doors(client, ns.samples, ns.seed)
        series = {
            name: Series(name, [], [])
            for name in (
                "owner_week", "owner_week_baseline", "org_month", "org_month_baseline",
                "largest_org_month", "largest_org_month_baseline",
                "holder_month", "holder_month_baseline", "full_scan",
            )
        }  # fmt: skip

        async def owner_week(q: AccessLogQueries, door: str, site: str, start: datetime) -> int:
            owner = Principal(
                role=Role.SITE_OWNER,
                credential_id="acc_bench",
                owner_id=site.replace("site_", "owner_"),
            )
            page = await q.query_events(
                owner, EventFilter(start=start, end=start + timedelta(days=7), door_id=door)
            )
            return len(page.events)

        async def org_month(q: AccessLogQueries, org: str, month_start: date) -> int:
            principal = Principal(
                role=Role.ORGANISATION, credential_id="ak_bench", organisation_id=org
            )
            start = datetime(month_start.year, month_start.month, month_start.day, tzinfo=UTC)
            rows = await q.aggregate(
                principal,
                EventFilter(start=start, end=start + timedelta(days=30)),
                AggregateKind.ORGANISATION_DAY,
            )
            return len(rows)

        async def holder_month(q: AccessLogQueries, holder: str, month_start: date) -> int:
            org = "org_" + holder.split("_")[1]
            principal = Principal(
                role=Role.ORGANISATION, credential_id="ak_bench", organisation_id=org
            )
            start = datetime(month_start.year, month_start.month, month_start.day, tzinfo=UTC)
            page = await q.query_events(
                principal,
                EventFilter(start=start, end=start + timedelta(days=30), holder_id=holder),
            )
            return len(page.events)

        def random_month() -> date:
            back = rng.randrange(30, 30 * (shape.months - 1))
            return (now - timedelta(days=back)).date()

        # warm-up: the first queries load marks and columns into the page cache
        def week_around(at: datetime) -> datetime:
            return at - timedelta(days=rng.randrange(7), hours=rng.randrange(24))

        for door, site, at in doors[:5]:
            await owner_week(fast, door, site, week_around(at))
            await owner_week(slow, door, site, week_around(at))
        console.print(f"[bold]measuring {ns.samples} samples per query[/]")
        for i, (door, site, at) in enumerate(doors):
            pair = [("owner_week", fast), ("owner_week_baseline", slow)]
            rng.shuffle(pair)
            start = week_around(at)
            for name, q in pair:
                ms, rows = await timed(functools.partial(owner_week, q, door, site, start))
                series[name].ms.append(ms)
                series[name].rows.append(rows)
            if i % ns.aggregate_every == 0:
                org = f"org_{rng.randrange(shape.organisations)}"
                month = random_month()
                for name, q, o in (
                    ("org_month", fast, org),
                    ("org_month_baseline", slow, org),
                    ("largest_org_month", fast, "org_0"),
                    ("largest_org_month_baseline", slow, "org_0"),
                ):
                    ms, rows = await timed(functools.partial(org_month, q, o, month))
                    series[name].ms.append(ms)
                    series[name].rows.append(rows)
                # a holder of a national fleet (most events per holder) over the same month
                holder = f"kh_{rng.randrange(12)}_{rng.randrange(400)}"
                for name, q in (("holder_month", fast), ("holder_month_baseline", slow)):
                    ms, rows = await timed(functools.partial(holder_month, q, holder, month))
                    series[name].ms.append(ms)
                    series[name].rows.append(rows)
        for _ in range(ns.full_scans):
            t0 = time.perf_counter()
            n = client.query(
                f"SELECT count() FROM {EVENTS_TABLE} WHERE concat(door_id, '') = 'door_1'"
            ).result_rows[0][0]
            series["full_scan"].ms.append((time.perf_counter() - t0) * 1000)
            series["full_scan"].rows.append(int(n))
        summaries = {name: s.summary() for name, s in series.items() if s.ms}
        return {
            "shape": shape.__dict__,
            "load": timings,
            "table": stats,
            "lookup_events_recorded": recorder.count,
            "results": summaries,
            "data_dir": str(work),
        }
    finally:
        client.close()
        if not ns.keep and not ns.data_dir:
            shutil.rmtree(work, ignore_errors=True)


def machine_info() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    import chdb  # noqa: PLC0415
    import clickhouse_connect  # noqa: PLC0415

    return {
        "cpu_model": model or platform.processor(),
        "logical_cpus": os.cpu_count(),
        "memory_gib": round(mem / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "chdb": getattr(chdb, "__version__", "?"),
        "clickhouse_connect": clickhouse_connect.__version__,
        "load_average": os.getloadavg(),
    }


def report(out: dict[str, Any]) -> None:
    r = out["results"]
    table = Table(title=f"access-log queries over {out['table']['rows']:,} events (chDB)")
    for col in ("query", "n", "p50 ms", "p99 ms", "mean ms", "rows/answer", "baseline p50 ms",
                "baseline / measured", "target", "verdict"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("query", "verdict") else "right")
    for name, target in (
        ("owner_week", OWNER_TARGET_MS),
        ("org_month", ORG_TARGET_MS),
        ("largest_org_month", ORG_TARGET_MS),
        ("holder_month", None),
    ):
        if name not in r:
            continue
        s, b = r[name], r.get(name + "_baseline")
        ratio = b["p50_ms"] / s["p50_ms"] if b else float("nan")
        ok = target is None or s["p50_ms"] <= target
        table.add_row(
            name, str(s["n"]), f"{s['p50_ms']:.1f}", f"{s['p99_ms']:.1f}", f"{s['mean_ms']:.1f}",
            f"{s['mean_rows']:.1f}", f"{b['p50_ms']:.1f}" if b else "-", f"{ratio:.1f}x",
            f"p50 <= {target:.0f}" if target else "-",
            ("[green]met[/]" if ok else "[red]missed[/]") if target else "-",
        )  # fmt: skip
    if "full_scan" in r:
        s = r["full_scan"]
        table.add_row(
            "full scan count()", str(s["n"]), f"{s['p50_ms']:.1f}", f"{s['p99_ms']:.1f}",
            f"{s['mean_ms']:.1f}", "-", "-",
            f"{s['p50_ms'] / r['owner_week']['p50_ms']:.1f}x owner", "-", "reference",
        )  # fmt: skip
    console.print(table)
    m = out["machine"]
    console.print(
        f"machine: {m['cpu_model']}, {m['logical_cpus']} logical CPUs, {m['memory_gib']} GiB, "
        f"Linux {m['kernel']}, Python {m['python']}, chDB {m['chdb']}, "
        f"clickhouse-connect {m['clickhouse_connect']}, load average at start "
        f"{m['load_average'][0]:.2f}",
        highlight=False,
    )
    load = out["load"]
    if "insert_s" in load:
        console.print(
            f"load: insert {load['insert_s']:.0f} s, OPTIMIZE FINAL {load['optimize_s']:.0f} s; "
            f"{out['table']['bytes_on_disk'] / 2**20:.0f} MiB on disk",
            highlight=False,
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--doors", type=int, default=100_000)
    parser.add_argument("--organisations", type=int, default=3_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--chunk", type=int, default=2_000_000, help="events per INSERT")
    parser.add_argument("--samples", type=int, default=300, help="owner queries (and baselines)")
    parser.add_argument(
        "--aggregate-every", type=int, default=3, help="one organisation aggregate per N samples"
    )
    parser.add_argument("--full-scans", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", help="reuse/keep the chDB data here (default: temporary)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    ns = parser.parse_args(argv)
    started = time.time()
    machine = machine_info()
    out = asyncio.run(run(ns))
    out["machine"] = machine
    out["started_at"] = datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds")
    out["elapsed_s"] = round(time.time() - started, 1)
    report(out)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2, default=str))
    console.print(f"wrote {RESULTS.relative_to(BENCH.parent)} ({out['elapsed_s']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
