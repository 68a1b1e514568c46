"""Fleet benchmark: bulk issuance, organisation-wide revocation, unlock latency during an import.

    .venv/bin/python bench/bench_bulk.py            # 500,000 grants, 10,000-holder revocation
    .venv/bin/python bench/bench_bulk.py --quick    # 50,000 grants, 2,000 holders

One `authority serve` process (embedded redis-server, unix socket, appendfsync always; access-log
shipping off where the setting exists, as in production, where the shipper runs in its own
process: the events stay in the Redis buffer, whose size is reported). Measured in the same run:

1. **raw**: pipelined redis-py writes of the same keys a bulk item writes (the holder's grant
   field, the grant index, the idempotency key), 1,000 commands per round trip, no validation;
2. **bulk**: the same number of grants through one `GrantService.IssueGrants` client stream
   (1,000 items per message), every item validated, policy-checked, written by its idempotent
   script, one access-log event each; rate overall and sustained (10 %-90 % of the items);
3. **revoke**: `RevokeGrants(organisation_id)` for an organisation whose holders each hold one
   grant; then every one of them asks to unlock and must be denied REVOKED;
4. **unlock p99**: a separate process sends unlocks at a fixed rate, idle and during a second
   import (open loop, latency measured from the scheduled send).

Holders are written straight into Redis (their records and credential digests in the store's
format) because registering 50,000 holders one RPC at a time is not what is measured here.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import multiprocessing as mp
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import redis
import redis.asyncio as aioredis

from authority.app.credentials import digest
from authority.client import AuthorityClient, chunk_items, grant_item
from authority.config import Settings
from authority.domain.model import HolderStatus, KeyHolder
from authority.store import codec
from authority.v1 import authority_pb2 as pb
from authority.v1 import authority_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parent.parent
SECRET = "benchsecret-" + "x" * 32
CVR = "25680839"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def start_authority(data: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    env = {
        **os.environ,
        "AUTHORITY_DATA_DIR": str(data),
        "AUTHORITY_LISTEN": "127.0.0.1:0",
        "AUTHORITY_LOG_LEVEL": "WARNING",
    }
    if "ship_events" in {f.name for f in dataclasses.fields(Settings)}:
        env["AUTHORITY_SHIP_EVENTS"] = "off"
    log = (data.parent / "authority.log").open("wb")
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/authority"), "serve"], env=env, stdout=log, stderr=log, cwd=ROOT
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            info = json.loads((data / "server.json").read_text())
            if int(info["pid"]) == proc.pid:
                return proc, str(info["target"]), (data / "admin.credential").read_text().strip()
        except (OSError, ValueError, KeyError):
            pass
        if proc.poll() is not None:
            raise SystemExit("authority serve exited; see authority.log")
        time.sleep(0.1)
    raise SystemExit("authority serve did not start within 90 s")


def organisation(admin: AuthorityClient, name: str) -> tuple[str, AuthorityClient, str]:
    created = admin.create_organisation(name=name, cvr=CVR, purpose=pb.PURPOSE_POSTAL)
    org_id = created.organisation.organisation_id
    admin.set_organisation_status(org_id, pb.ORGANISATION_STATUS_APPROVED)
    return org_id, admin.with_credential(created.api_credential), created.api_credential


def write_holders(r: redis.Redis, org_id: str, prefix: str, n: int) -> list[str]:
    """Holders in the store's own format (record + credential digest), pipelined."""
    now = datetime.now(UTC)
    cred = digest(SECRET)
    ids = [f"kh_{prefix}{i}" for i in range(n)]
    for start in range(0, n, 5000):
        pipe = r.pipeline(transaction=False)
        for hid in ids[start : start + 5000]:
            record = codec.encode_holder(
                KeyHolder(
                    key_holder_id=hid,
                    organisation_id=org_id,
                    status=HolderStatus.ACTIVE,
                    created_at=now,
                )
            )
            pipe.hset(f"h:{{{hid}}}", mapping={"st": record, "cred": cred})
        pipe.execute()
    return ids


def bulk_items(
    holders: list[str], sites: list[str], per_holder: int, key: str
) -> list[pb.GrantItem]:
    until = datetime.now(UTC) + timedelta(days=90)
    return [
        grant_item(
            idempotency_key=f"{key}:{h}:{j}",
            key_holder_id=h,
            site_id=sites[(i + j * 37) % len(sites)],
            valid_until=until,
        )
        for i, h in enumerate(holders)
        for j in range(per_holder)
    ]


def import_stream(
    client: AuthorityClient, items: list[pb.GrantItem]
) -> tuple[float, float, dict[str, int]]:
    """(seconds, sustained grants/s between 10 % and 90 % of the items, counts by status)."""
    requests = list(chunk_items(items))
    counts = {"created": 0, "already": 0, "rejected": 0}
    marks: list[tuple[float, int]] = []
    started = time.perf_counter()
    done = 0
    first_reason = ""
    for response in client.issue_grants(iter(requests)):
        for r in response.results:
            if r.status == pb.GRANT_ITEM_STATUS_CREATED:
                counts["created"] += 1
            elif r.status == pb.GRANT_ITEM_STATUS_ALREADY_CREATED:
                counts["already"] += 1
            else:
                counts["rejected"] += 1
                first_reason = first_reason or r.reason
        done += len(response.results)
        marks.append((time.perf_counter(), done))
    elapsed = time.perf_counter() - started
    lo = next(m for m in marks if m[1] >= 0.1 * len(items))
    hi = next(m for m in marks if m[1] >= 0.9 * len(items))
    sustained = (hi[1] - lo[1]) / (hi[0] - lo[0]) if hi[0] > lo[0] else float("nan")
    if first_reason:
        print(f"  first rejection: {first_reason}")
    return elapsed, sustained, counts


async def raw_writes(url_path: str, holders: list[str], sites: list[str], per_holder: int) -> float:
    """The same keys, written by pipelined redis-py with nothing else: grants/s."""
    r = aioredis.Redis(unix_socket_path=url_path)
    vf = int(time.time())
    vu = vf + 90 * 86_400
    commands = []
    for i, h in enumerate(holders):
        for j in range(per_holder):
            site = sites[(i + j * 37) % len(sites)]
            gid = f"gr_raw{i}x{j}"
            grant = (
                f'{{"id":"{gid}","h":"{h}","d":null,"s":"{site}","o":"org_raw","p":"postal",'
                f'"vf":{vf},"vu":{vu},"w":[],"rv":null}}'
            )
            commands.append((f"h:{{{h}}}", f"s:{site}", grant, gid))
    started = time.perf_counter()
    for start in range(0, len(commands), 1000):
        pipe = r.pipeline(transaction=False)
        for key, field, grant, gid in commands[start : start + 1000]:
            pipe.hset(key, field, "[" + grant + "]")
            pipe.set(f"gi:{{{gid}}}", f'{{"h":"{key}","f":"{field}"}}', ex=90 * 86_400)
            pipe.set(f"ik:{{{key}}}:{gid}", "fingerprint", ex=7 * 86_400)
        await pipe.execute()
    elapsed = time.perf_counter() - started
    await r.aclose()
    return len(commands) / elapsed


def probe_unlocks(
    target: str, pairs: list[tuple[str, str]], rate: float, stop: object, out: object
) -> None:
    """Open-loop unlocks at ``rate``/s until ``stop`` is set; latencies (ms) to ``out``."""

    async def main() -> list[float]:
        channel = grpc.aio.insecure_channel(target)
        stub = pb_grpc.UnlockServiceStub(channel)
        latencies: list[float] = []
        tasks: list[asyncio.Task[None]] = []

        async def one(i: int, scheduled: float) -> None:
            cred, door = pairs[i % len(pairs)]
            resp = await stub.RequestUnlock(
                pb.RequestUnlockRequest(door_id=door),
                metadata=(("authorization", f"Bearer {cred}"),),
                timeout=10,
            )
            if resp.decision == pb.DECISION_ALLOW:
                latencies.append((time.perf_counter() - scheduled) * 1000)

        start = time.perf_counter()
        i = 0
        while not stop.is_set():  # type: ignore[attr-defined]
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, scheduled)))
            i += 1
        await asyncio.gather(*tasks, return_exceptions=True)
        await channel.close()
        return latencies

    out.put(asyncio.run(main()))  # type: ignore[attr-defined]


def measure_probe(
    target: str, pairs: list[tuple[str, str]], rate: float, during: object
) -> list[float]:
    ctx = mp.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=probe_unlocks, args=(target, pairs, rate, stop, out))
    proc.start()
    time.sleep(1.0)  # let it connect
    during()  # type: ignore[operator]
    stop.set()
    latencies: list[float] = out.get(timeout=120)
    proc.join(30)
    return latencies


async def sweep_denied(target: str, holders: list[str], door: dict[str, str]) -> dict[str, int]:
    channel = grpc.aio.insecure_channel(target)
    stub = pb_grpc.UnlockServiceStub(channel)
    reasons: dict[str, int] = {}
    sem = asyncio.Semaphore(64)

    async def one(h: str) -> None:
        async with sem:
            resp = await stub.RequestUnlock(
                pb.RequestUnlockRequest(door_id=door[h]),
                metadata=(("authorization", f"Bearer {h}.{SECRET}"),),
                timeout=30,
            )
        name = pb.DecisionReason.Name(resp.reason).removeprefix("DECISION_REASON_")
        reasons[name] = reasons.get(name, 0) + 1

    await asyncio.gather(*(one(h) for h in holders))
    await channel.close()
    return reasons


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--grants", type=int, default=500_000)
    parser.add_argument("--per-holder", type=int, default=10)
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--revoke-holders", type=int, default=10_000)
    parser.add_argument("--probe-rate", type=float, default=100.0, help="unlocks/s while probing")
    parser.add_argument(
        "--during-grants", type=int, default=200_000, help="import size while probing"
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.grants, args.revoke_holders, args.during_grants = 50_000, 2_000, 30_000
    tmp = Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    proc, target, admin_credential = start_authority(tmp / "data")
    results: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "grants": args.grants,
    }
    try:
        admin = AuthorityClient(target, credential=admin_credential, timeout=60)
        sock = str(tmp / "data" / "redis" / "redis.sock")
        r = redis.Redis(unix_socket_path=sock)
        org_id, org, _ = organisation(admin, "Fleet A")
        sites = [admin.create_site(address=f"Vej {i}", owner_id=f"own-{i % 50}").site_id
                 for i in range(args.sites)]  # fmt: skip
        doors = {}
        for i, s in enumerate(sites):
            admin.create_door(door_id=f"door-{i}", site_id=s, relay_id=f"relay-{i}")
            doors[s] = f"door-{i}"
        n_holders = args.grants // args.per_holder
        print(f"fixture: {len(sites)} sites, writing {n_holders} holders (+{n_holders} raw)…")
        holders = write_holders(r, org_id, "a", n_holders)
        raw_holders = [f"kh_raw{i}" for i in range(n_holders)]

        raw = asyncio.run(raw_writes(sock, raw_holders, sites, args.per_holder))
        print(f"raw pipelined redis-py: {raw:,.0f} grants/s")
        items = bulk_items(holders, sites, args.per_holder, "a")
        seconds, sustained, counts = import_stream(org, items)
        overall = len(items) / seconds
        print(f"bulk stream: {len(items):,} in {seconds:.1f} s = {overall:,.0f}/s overall, "
              f"{sustained:,.0f}/s sustained, {counts}")  # fmt: skip
        backlog = sum(int(r.xlen(k)) for k in r.scan_iter(match="{log:*}:events"))
        results.update(raw_per_s=raw, bulk_seconds=seconds, bulk_per_s=overall,
                       bulk_sustained_per_s=sustained, counts=counts,
                       ratio_vs_raw=sustained / raw, event_backlog=backlog)  # fmt: skip
        again_s, _, again = import_stream(org, items[: min(len(items), 50_000)])
        results["retry_50k"] = {"seconds": again_s, "counts": again}
        print(f"retry of 50,000 items: {again} in {again_s:.1f} s")

        # Unlock latency, idle and during an import.
        probe_holders = holders[:500]
        pairs = [
            (f"{h}.{SECRET}", doors[sites[i % len(sites)]]) for i, h in enumerate(probe_holders)
        ]
        idle = measure_probe(target, pairs, args.probe_rate, lambda: time.sleep(8))
        during_holders = write_holders(r, org_id, "d", args.during_grants // args.per_holder)
        during_items = bulk_items(during_holders, sites, args.per_holder, "d")
        box: dict[str, object] = {}
        busy = measure_probe(target, pairs, args.probe_rate,
                             lambda: box.update(r=import_stream(org, during_items)))  # fmt: skip
        results["unlock_idle_ms"] = {"n": len(idle), "p50": pct(idle, 0.5), "p99": pct(idle, 0.99)}
        results["unlock_during_import_ms"] = {"n": len(busy), "p50": pct(busy, 0.5),
                                              "p99": pct(busy, 0.99)}  # fmt: skip
        d_seconds = box["r"][0]  # type: ignore[index]
        results["during_import_per_s"] = len(during_items) / d_seconds
        print(f"unlock idle p50/p99 {pct(idle, .5):.1f}/{pct(idle, .99):.1f} ms (n={len(idle)}); "
              f"during import ({len(during_items) / d_seconds:,.0f} grants/s) "
              f"{pct(busy, .5):.1f}/{pct(busy, .99):.1f} ms (n={len(busy)})")  # fmt: skip

        # Revoke a whole organisation.
        b_id, b_org, _ = organisation(admin, "Fleet B")
        b_holders = write_holders(r, b_id, "b", args.revoke_holders)
        b_items = bulk_items(b_holders, sites, 1, "b")
        import_stream(b_org, b_items)
        door_of = {h: doors[sites[i % len(sites)]] for i, h in enumerate(b_holders)}
        before = asyncio.run(sweep_denied(target, b_holders[:200], door_of))
        t0 = time.perf_counter()
        resp = b_org.revoke_grants(organisation_id=b_id)
        revoke_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        after = asyncio.run(sweep_denied(target, b_holders, door_of))
        sweep_s = time.perf_counter() - t1
        results["revoke"] = {"holders": len(b_holders), "revoked": resp.revoked,
                             "seconds_until_all_denied": revoke_s, "sample_before": before,
                             "all_after": after, "verify_sweep_seconds": sweep_s}  # fmt: skip
        print(f"revoke organisation of {len(b_holders):,} holders: {resp.revoked:,} grants in "
              f"{revoke_s * 1000:.0f} ms; before {before}; after {after} "
              f"(verification sweep {sweep_s:.1f} s)")  # fmt: skip
        results["targets"] = {
            "sustained >= 50,000/s": sustained >= 50_000,
            "ratio vs raw >= 0.5": sustained / raw >= 0.5,
            "revoke <= 1 s": revoke_s <= 1.0 and after == {"REVOKED": len(b_holders)},
            "unlock p99 during import <= 2x idle": pct(busy, 0.99) <= 2 * pct(idle, 0.99),
        }
        print(json.dumps(results, indent=2, default=str))
        out = ROOT / "bench" / "results"
        out.mkdir(exist_ok=True)
        (out / "bulk.json").write_text(json.dumps(results, indent=2, default=str))
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
