"""Load-generator worker process for ``bench_unlock.py`` (not meant to be run by hand).

It reads one JSON command per line on stdin and answers one JSON line on stdout:

* ``{"op": "init", "pairs": [[credential, door_id, relay_id], ...]}`` pre-builds every request:
  the serialized ``RequestUnlockRequest`` (door, 16 random challenge bytes) and its metadata
  tuple, so a call costs no protobuf work and no string formatting on the client;
* ``{"op": "run", ...}`` drives one measurement (closed loop: ``concurrency`` calls always in
  flight; open loop: ``rate`` calls per second paced against a fixed schedule) over ``channels``
  separate HTTP/2 connections, and reports calls completed, errors by status code, responses
  that were not ALLOW, client-observed latencies and this process's CPU time, all restricted to
  the measurement window ``[start_at + warmup, start_at + warmup + duration)`` (epoch seconds);
* ``{"op": "quit"}``.

The client is kept as cheap as it gets in Python: ``grpc.aio`` on uvloop, multicallables without
(de)serializers (bytes in, bytes out), and ALLOW checked on the response's first two bytes
(field 1 ``decision`` = 1 is serialized first: ``08 01``).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from collections import Counter
from typing import Any

import grpc

from authority.v1 import authority_pb2 as pb

UNLOCK_METHOD = "/authority.v1.UnlockService/RequestUnlock"
ALLOW_PREFIX = b"\x08\x01"
CALL_TIMEOUT = 10.0

Request = tuple[bytes, tuple[tuple[str, str], ...]]


def build_requests(pairs: list[list[str]]) -> list[Request]:
    out: list[Request] = []
    for credential, door_id, _relay in pairs:
        payload = pb.RequestUnlockRequest(
            door_id=door_id, relay_challenge=secrets.token_bytes(16)
        ).SerializeToString()
        out.append((payload, (("authorization", f"Bearer {credential}"),)))
    return out


class Run:
    def __init__(self, cmd: dict[str, Any], requests: list[Request]) -> None:
        self.cmd = cmd
        self.requests = requests
        # epoch -> perf_counter
        shift = time.perf_counter() - time.time()
        self.t_start = float(cmd["start_at"]) + shift
        self.w0 = self.t_start + float(cmd["warmup"])
        self.w1 = self.w0 + float(cmd["duration"])
        self.lat: list[int] = []
        self.lat_sched: list[int] = []
        self.errors: Counter[str] = Counter()
        self.errors_total = 0
        self.not_allow = 0
        self.sent = 0
        self.skipped = 0
        self.cpu: dict[str, float] = {}
        self.stop = False

    async def open_channels(self) -> tuple[list[grpc.aio.Channel], list[Any]]:
        n = max(1, int(self.cmd.get("channels", 1)))
        channels = [
            grpc.aio.insecure_channel(
                self.cmd["target"],
                options=[
                    ("grpc.use_local_subchannel_pool", 1),  # one TCP connection per channel
                    ("grpc.enable_retries", 0),
                    ("bench.channel", i),
                ],
            )
            for i in range(n)
        ]
        calls = [ch.unary_unary(UNLOCK_METHOD) for ch in channels]
        await asyncio.wait_for(asyncio.gather(*(ch.channel_ready() for ch in channels)), timeout=10)
        return channels, calls

    def _record_error(self, exc: grpc.aio.AioRpcError, t: float) -> None:
        self.errors_total += 1
        if self.w0 <= t < self.w1:
            self.errors[exc.code().name] += 1

    async def _cpu_sampler(self) -> None:
        await asyncio.sleep(max(0.0, self.w0 - time.perf_counter()))
        p0, t0, c0 = time.process_time(), time.thread_time(), time.perf_counter()
        await asyncio.sleep(max(0.0, self.w1 - time.perf_counter()))
        p1, t1, c1 = time.process_time(), time.thread_time(), time.perf_counter()
        self.cpu = {"process_s": p1 - p0, "main_thread_s": t1 - t0, "wall_s": c1 - c0}

    async def closed_loop(self, calls: list[Any]) -> None:
        concurrency = int(self.cmd["concurrency"])
        n = len(self.requests)
        offset = int(self.cmd.get("offset", 0))
        perf = time.perf_counter

        async def worker(k: int) -> None:
            call = calls[k % len(calls)]
            i = offset + k * (n // max(concurrency, 1) or 1)
            w0, w1, reqs, lat = self.w0, self.w1, self.requests, self.lat
            while not self.stop:
                payload, metadata = reqs[i % n]
                i += 1
                t0 = perf()
                try:
                    resp = await call(payload, metadata=metadata, timeout=CALL_TIMEOUT)
                except grpc.aio.AioRpcError as exc:
                    t1 = perf()
                    self._record_error(exc, t1)
                    if t1 >= w1:  # a server that refuses every call ends the run too
                        self.stop = True
                    continue
                t1 = perf()
                if w0 <= t1 < w1:
                    lat.append(int((t1 - t0) * 1e6))
                    if resp[:2] != ALLOW_PREFIX:
                        self.not_allow += 1
                if t1 >= w1:
                    self.stop = True

        await asyncio.sleep(max(0.0, self.t_start - time.perf_counter()))
        sampler = asyncio.ensure_future(self._cpu_sampler())
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        await sampler

    async def open_loop(self, calls: list[Any]) -> None:
        rate = float(self.cmd["rate"])
        max_outstanding = int(self.cmd.get("max_outstanding", 4096))
        n = len(self.requests)
        offset = int(self.cmd.get("offset", 0))
        phase = float(self.cmd.get("phase", 0.0)) / rate  # spread several generators apart
        perf = time.perf_counter
        loop = asyncio.get_running_loop()
        outstanding: set[asyncio.Task[None]] = set()
        w0, w1 = self.w0, self.w1

        async def one(i: int, scheduled: float) -> None:
            payload, metadata = self.requests[(offset + i) % n]
            t0 = perf()
            try:
                resp = await calls[i % len(calls)](payload, metadata=metadata, timeout=CALL_TIMEOUT)
            except grpc.aio.AioRpcError as exc:
                self._record_error(exc, perf())
                return
            t1 = perf()
            if w0 <= t1 < w1:
                self.lat.append(int((t1 - t0) * 1e6))
                self.lat_sched.append(int((t1 - scheduled) * 1e6))
                if resp[:2] != ALLOW_PREFIX:
                    self.not_allow += 1

        start = self.t_start + phase
        await asyncio.sleep(max(0.0, start - perf()))
        sampler = asyncio.ensure_future(self._cpu_sampler())
        i = 0
        while True:
            now = perf()
            if now >= w1:
                break
            due = int((now - start) * rate) + 1
            while i < due:
                if len(outstanding) >= max_outstanding:
                    self.skipped += 1
                else:
                    task = loop.create_task(one(i, start + i / rate))
                    outstanding.add(task)
                    task.add_done_callback(outstanding.discard)
                    self.sent += 1
                i += 1
            # uvloop timers have millisecond resolution (a shorter sleep would spin): release
            # what is due each millisecond or so
            await asyncio.sleep(max(0.001, start + i / rate - perf()))
        if outstanding:
            await asyncio.wait(set(outstanding), timeout=CALL_TIMEOUT + 1)
        await sampler

    async def execute(self) -> dict[str, Any]:
        channels, calls = await self.open_channels()
        try:
            if self.cmd["mode"] == "open":
                await self.open_loop(calls)
            else:
                await self.closed_loop(calls)
        finally:
            await asyncio.gather(*(ch.close() for ch in channels), return_exceptions=True)
        return {
            "completed": len(self.lat),
            "errors": dict(self.errors),
            "errors_total": self.errors_total,
            "not_allow": self.not_allow,
            "sent": self.sent,
            "skipped": self.skipped,
            "lat_us": self.lat,
            "lat_sched_us": self.lat_sched,
            "cpu": self.cpu,
        }


async def serve() -> None:
    loop = asyncio.get_running_loop()
    requests: list[Request] = []
    out = sys.stdout
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "quit":
            return
        try:
            if op == "init":
                requests = build_requests(cmd["pairs"])
                reply: dict[str, Any] = {"ok": True, "requests": len(requests)}
            elif op == "run":
                reply = {"ok": True, **(await Run(cmd, requests).execute())}
            else:
                reply = {"ok": False, "error": f"unknown op {op!r}"}
        except Exception as exc:  # reported to the orchestrator, which fails the run
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


def main() -> int:
    import uvloop  # noqa: PLC0415

    try:
        uvloop.run(serve())
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
