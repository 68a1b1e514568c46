"""Unlock benchmark: decisions per second, latency and server CPU per call vs. a bare gRPC echo.

    .venv/bin/python bench/bench_unlock.py            # full run, ~3.5 minutes
    .venv/bin/python bench/bench_unlock.py --quick    # ~35 seconds
    .venv/bin/python bench/bench_unlock.py --help

What it does, all in one run and all on loopback:

1. starts ``authority serve`` (embedded redis-server) and two bare echo servers
   (``bench/echo_server.py``: grpc.aio on uvloop, and the sync thread-pool server), each as its
   own process;
2. builds a fixture through the public API (``bench/fixture.py``: 2,000 key holders with grants
   over 200 doors), and checks a sample of unlocks: ALLOW with a token that verifies under the
   published key, bound to the challenge;
3. closed-loop runs with the Python generator (``bench/loadgen.py`` worker processes,
   grpc.aio, pre-serialized requests) at several in-flight levels against the unlock server
   and the echo servers; optionally (when ``h2load`` is installed) closed-loop runs with h2load,
   a C HTTP/2 load generator that costs the client side almost nothing;
4. open-loop runs (a fixed request schedule; Python generator, and h2load if installed) at
   75 % of the highest unlock throughput measured;
5. prints tables and writes ``bench/results/unlock.json``.

Every run is repeated ``--rounds`` times, interleaved, and medians are reported. Server CPU per
call is the server process's CPU time (user+system, all threads, from /proc via psutil) over the
measurement window divided by the calls completed in that window; the embedded redis-server's CPU
is reported separately. Latencies are observed by the client (they include the server's time,
the loopback network and the client's own scheduling delays). Each run records which side was
saturated: the machine has 2 cores shared by server, redis, generator and whatever else runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import psutil
from fixture import UNLOCK_METHOD, Fixture, build_fixture, verify_sample
from rich.console import Console
from rich.table import Table

from authority.client import AuthorityClient
from authority.v1 import authority_pb2 as pb

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results" / "unlock.json"
console = Console(highlight=False, width=None if sys.stdout.isatty() else 180)

SERVER_SATURATED_PCT = 95.0  # server process CPU (% of one core) ...
SERVER_THREAD_SATURATED_PCT = 85.0  # ... or its busiest thread (the event loop / GIL holder)
CLIENT_SATURATED_PCT = 85.0  # a generator's busiest thread
MACHINE_IDLE_SATURATED_PCT = 5.0
NOISY_OTHER_PCT = 20.0  # CPU taken by processes outside the benchmark, % of one core


# -- processes -------------------------------------------------------------------------------


class Children:
    """Every process the benchmark starts; ``stop_all`` ends them (SIGTERM, then SIGKILL)."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen[Any]]] = []
        self.extra_pids: list[tuple[str, int, str]] = []  # (name, pid, cmdline marker)

    def start(self, name: str, argv: Sequence[str], **kw: Any) -> subprocess.Popen[Any]:
        wrapped = [sys.executable, str(BENCH / "pdeathsig_exec.py"), str(os.getpid()), *argv]
        proc = subprocess.Popen(wrapped, start_new_session=True, cwd=ROOT, **kw)
        self.procs.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen[Any], timeout: float = 15.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def stop_all(self) -> None:
        for _name, proc in reversed(self.procs):
            self.stop(proc)
        self.procs.clear()
        for _name, pid, marker in self.extra_pids:
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(pid)
                if marker in " ".join(p.cmdline()):
                    p.terminate()
                    try:
                        p.wait(10)
                    except psutil.TimeoutExpired:
                        p.kill()
        self.extra_pids.clear()


def wait_for_info(
    path: Path, proc: subprocess.Popen[Any], log: Path, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"{path.name}: process exited with {proc.returncode}\n{tail}")
        with contextlib.suppress(OSError, ValueError):
            info = json.loads(path.read_text())
            if int(info["pid"]) == proc.pid:
                return dict(info)
        time.sleep(0.05)
    raise RuntimeError(f"no {path} within {timeout:.0f}s (see {log})")


# -- CPU accounting --------------------------------------------------------------------------


@dataclass
class CpuSnap:
    t: float
    procs: dict[str, tuple[float, dict[int, float]]]  # name -> (process cpu s, thread cpu s)
    machine_busy: float
    machine_total: float
    redis_calls: dict[str, int] = field(default_factory=dict)


def _proc_cpu(pid: int) -> tuple[float, dict[int, float]]:
    try:
        p = psutil.Process(pid)
        with p.oneshot():
            t = p.cpu_times()
            threads = {th.id: th.user_time + th.system_time for th in p.threads()}
        return t.user + t.system, threads
    except psutil.Error:
        return 0.0, {}


def redis_command_calls(sock: Path) -> dict[str, int]:
    """``INFO commandstats`` of the embedded redis-server: calls per command."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(str(sock))
            s.sendall(b"INFO commandstats\r\n")
            buf = b""
            while chunk := s.recv(65536):  # a bulk string: $<length>\r\n<payload>\r\n
                buf += chunk
                header, sep, rest = buf.partition(b"\r\n")
                if sep and header.startswith(b"$") and len(rest) >= int(header[1:]) + 2:
                    break
    except OSError:
        return {}
    calls: dict[str, int] = {}
    for line in buf.decode(errors="replace").splitlines():
        if line.startswith("cmdstat_") and ":calls=" in line:
            name, _, stats = line[len("cmdstat_") :].partition(":")
            calls[name] = int(stats.split(",")[0].split("=")[1])
    return calls


def cpu_snapshot(pids: dict[str, int], redis_socket: Path | None = None) -> CpuSnap:
    m = psutil.cpu_times()
    total = sum(m)
    busy = total - m.idle - getattr(m, "iowait", 0.0)
    procs = {n: _proc_cpu(p) for n, p in pids.items()}
    calls = redis_command_calls(redis_socket) if redis_socket else {}
    return CpuSnap(time.perf_counter(), procs, busy, total, calls)


def cpu_delta(a: CpuSnap, b: CpuSnap) -> dict[str, Any]:
    """Per process: CPU seconds, % of one core, busiest thread %; machine busy % of all cores."""
    wall = max(b.t - a.t, 1e-9)
    out: dict[str, Any] = {"wall_s": wall}
    ours = 0.0
    for name, (cpu1, th1) in b.procs.items():
        cpu0, th0 = a.procs.get(name, (0.0, {}))
        busiest = max((v - th0.get(k, 0.0) for k, v in th1.items()), default=0.0)
        out[name] = {
            "cpu_s": cpu1 - cpu0,
            "pct": 100 * (cpu1 - cpu0) / wall,
            "busiest_thread_pct": 100 * busiest / wall,
        }
        ours += cpu1 - cpu0
    ncpu = psutil.cpu_count() or 1
    total = max(b.machine_total - a.machine_total, 1e-9)
    busy = b.machine_busy - a.machine_busy
    for cmd in ("get", "hmget"):
        if cmd in b.redis_calls:
            out[f"redis_{cmd}"] = b.redis_calls[cmd] - a.redis_calls.get(cmd, 0)
    out["machine_busy_pct"] = 100 * busy / total  # of all cores
    out["machine_idle_pct"] = 100 - out["machine_busy_pct"]
    # CPU used by processes that are not part of this benchmark (other users of the machine)
    out["other_pct"] = max(0.0, 100 * (busy / total * ncpu * wall - ours) / wall)
    return out


# -- percentiles -----------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return float(sorted_values[k])


def latency_stats(us: list[int], prefix: str = "") -> dict[str, float]:
    s = sorted(us)
    return {
        f"{prefix}p50_ms": percentile(s, 50) / 1000,
        f"{prefix}p90_ms": percentile(s, 90) / 1000,
        f"{prefix}p99_ms": percentile(s, 99) / 1000,
        f"{prefix}p999_ms": percentile(s, 99.9) / 1000,
        f"{prefix}max_ms": (s[-1] / 1000) if s else float("nan"),
    }


# -- the benchmark ---------------------------------------------------------------------------


@dataclass
class Target:
    name: str  # unlock | echo-aio | echo-sync
    target: str
    pid: int
    redis_pid: int | None = None
    redis_socket: Path | None = None


@dataclass
class Scenario:
    server: str
    generator: str  # python | h2load
    mode: str  # closed | open
    inflight: int = 0
    rate: float = 0.0

    @property
    def key(self) -> str:
        load = f"rate={self.rate:.0f}/s" if self.mode == "open" else f"inflight={self.inflight}"
        return f"{self.server}|{self.generator}|{self.mode}|{load}"


@dataclass
class Bench:
    ns: argparse.Namespace
    children: Children = field(default_factory=Children)
    data_dir: Path | None = None
    targets: dict[str, Target] = field(default_factory=dict)
    workers: list[subprocess.Popen[str]] = field(default_factory=list)
    fixture: Fixture | None = None
    response_len: int = 0
    h2load: str | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)

    # -- setup --------------------------------------------------------------------------------

    def setup(self) -> None:
        ns = self.ns
        self.data_dir = Path(tempfile.mkdtemp(prefix="authbench-", dir="/tmp"))
        d = self.data_dir
        env = {
            **os.environ,
            "AUTHORITY_LOG_LEVEL": "WARNING",
            "AUTHORITY_LOG_FORMAT": "json",
            "AUTHORITY_GRACE_SECONDS": "1",
            # h2load drives thousands of calls a second with one credential: the per-caller
            # rate limit would refuse them (bench_ratelimit.py measures the limiter's cost).
            "AUTHORITY_RATE_LIMIT_CALLER": "0",
        }
        log = d / "authority.log"
        with log.open("wb") as out:
            proc = self.children.start(
                "authority",
                [
                    sys.executable,
                    "-m",
                    "authority.cli",
                    "serve",
                    "--data-dir",
                    str(d),
                    "--listen",
                    "127.0.0.1:0",
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        info = wait_for_info(d / "server.json", proc, log)
        redis_pid = int((d / "redis" / "redis.pid").read_text().strip())
        self.children.extra_pids.append(("redis", redis_pid, str(d)))
        self.targets["unlock"] = Target(
            "unlock", info["target"], proc.pid, redis_pid, d / "redis" / "redis.sock"
        )
        console.print(f"authority serving on {info['target']} (pid {proc.pid}, redis {redis_pid})")

        admin_credential = (d / "admin.credential").read_text().strip()
        t0 = time.perf_counter()

        def progress(done: int, total: int) -> None:
            if console.is_terminal and (done % 500 == 0 or done == total):
                console.print(f"  fixture: {done}/{total} key holders", end="\r")

        self.fixture = build_fixture(
            info["target"],
            admin_credential,
            holders=ns.holders,
            doors=ns.doors,
            sites=ns.sites,
            progress=progress,
        )
        console.print(
            f"fixture: {ns.holders} holders, {ns.doors} doors in {ns.sites} sites, "
            f"{len(self.fixture.pairs)} ALLOW pairs in {time.perf_counter() - t0:.1f}s"
        )
        self.response_len = verify_sample(info["target"], self.fixture.pairs, sample=20)
        console.print(f"sanity: 20 unlocks ALLOW, tokens verify; response {self.response_len} B")
        # the echo servers answer with a response of exactly a real ALLOW's size
        pair = self.fixture.pairs[0]
        sample = AuthorityClient(info["target"], credential=pair.credential)
        try:
            real = sample.request_unlock(pair.door_id, os.urandom(16))
        finally:
            sample.close()
        (d / "response.bin").write_bytes(real.SerializeToString())

        for mode in ("aio", "sync"):
            name = f"echo-{mode}"
            log = d / f"{name}.log"
            with log.open("wb") as out:
                proc = self.children.start(
                    name,
                    [
                        sys.executable,
                        str(BENCH / "echo_server.py"),
                        "--mode",
                        mode,
                        "--info",
                        str(d / f"{name}.json"),
                        "--workers",
                        str(ns.sync_workers),
                        "--response-file",
                        str(d / "response.bin"),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            einfo = wait_for_info(d / f"{name}.json", proc, log)
            self.targets[name] = Target(name, einfo["target"], proc.pid)
            console.print(f"{name} serving on {einfo['target']} (pid {proc.pid})")

        pairs = [[p.credential, p.door_id, p.relay_id] for p in self.fixture.pairs]
        wlog = (d / "loadgen.log").open("ab")
        for _ in range(ns.procs):
            w = self.children.start(
                "loadgen",
                [sys.executable, str(BENCH / "loadgen.py")],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=wlog,
                text=True,
            )
            self.workers.append(w)
        wlog.close()
        for w in self.workers:
            self._send(w, {"op": "init", "pairs": pairs})
        for w in self.workers:
            self._recv(w)

        self.h2load = None if ns.no_h2load else shutil.which("h2load")
        if self.h2load:
            self._write_h2load_request()
        else:
            console.print("no h2load (apt-get install nghttp2-client): Python generator only")

    def _write_h2load_request(self) -> None:
        assert self.fixture is not None
        assert self.data_dir is not None
        pair = self.fixture.pairs[0]
        body = pb.RequestUnlockRequest(door_id=pair.door_id, relay_challenge=os.urandom(16))
        raw = body.SerializeToString()
        (self.data_dir / "request.grpc").write_bytes(b"\x00" + len(raw).to_bytes(4, "big") + raw)

    @staticmethod
    def _send(w: subprocess.Popen[str], cmd: dict[str, Any]) -> None:
        assert w.stdin is not None
        w.stdin.write(json.dumps(cmd) + "\n")
        w.stdin.flush()

    @staticmethod
    def _recv(w: subprocess.Popen[str]) -> dict[str, Any]:
        assert w.stdout is not None
        line = w.stdout.readline()
        if not line:
            raise RuntimeError(f"load generator {w.pid} exited ({w.poll()}); see loadgen.log")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise RuntimeError(f"load generator {w.pid}: {reply.get('error')}")
        return dict(reply)

    # -- one run ------------------------------------------------------------------------------

    def _server_pids(self, t: Target) -> dict[str, int]:
        pids = {"server": t.pid}
        if t.redis_pid:
            pids["redis"] = t.redis_pid
        return pids

    def run_python(self, sc: Scenario, rnd: int) -> dict[str, Any]:
        ns = self.ns
        t = self.targets[sc.server]
        if sc.mode == "open":
            nproc = len(self.workers)
        else:
            nproc = max(1, min(len(self.workers), sc.inflight // ns.min_inflight_per_proc))
        workers = self.workers[:nproc]
        start_at = time.time() + 0.3
        shares = [
            sc.inflight // nproc + (1 if k < sc.inflight % nproc else 0) for k in range(nproc)
        ]
        for k, w in enumerate(workers):
            per = shares[k]
            self._send(
                w,
                {
                    "op": "run",
                    "target": t.target,
                    "mode": sc.mode,
                    "concurrency": per,
                    "rate": sc.rate / nproc,
                    "phase": k / nproc,
                    "channels": max(1, min(ns.channels, per))
                    if sc.mode == "closed"
                    else ns.channels,
                    "start_at": start_at,
                    "warmup": ns.warmup,
                    "duration": ns.duration,
                    "offset": (rnd * 7919 + k * 104_729),
                    "max_outstanding": 4096,
                },
            )
        pids = self._server_pids(t) | {f"gen{k}": w.pid for k, w in enumerate(workers)}
        w0 = start_at + ns.warmup
        time.sleep(max(0.0, w0 - time.time()))
        a = cpu_snapshot(pids, t.redis_socket)
        time.sleep(max(0.0, w0 + ns.duration - time.time()))
        b = cpu_snapshot(pids, t.redis_socket)
        replies = [self._recv(w) for w in workers]
        cpu = cpu_delta(a, b)
        lat = [x for r in replies for x in r["lat_us"]]
        completed = sum(r["completed"] for r in replies)
        errors: dict[str, int] = {}
        for r in replies:
            for code, n in r["errors"].items():
                errors[code] = errors.get(code, 0) + n
        rec: dict[str, Any] = {
            "completed": completed,
            "calls_per_s": completed / ns.duration,
            "errors": sum(errors.values()),
            "errors_by_code": errors,
            "errors_outside_window": sum(r["errors_total"] for r in replies) - sum(errors.values()),
            "not_allow": sum(r["not_allow"] for r in replies),
            "generator_procs": nproc,
            **latency_stats(lat),
        }
        if sc.mode == "open":
            rec.update(latency_stats([x for r in replies for x in r["lat_sched_us"]], "sched_"))
            rec["skipped"] = sum(r["skipped"] for r in replies)
            rec["offered_per_s"] = sc.rate
        gens = [f"gen{k}" for k in range(nproc)]
        return self._finish(sc, rnd, rec, cpu, gens)

    def run_h2load(self, sc: Scenario, rnd: int) -> dict[str, Any]:
        ns, d = self.ns, self.data_dir
        assert self.h2load is not None
        assert d is not None
        assert self.fixture is not None
        t = self.targets[sc.server]
        if sc.mode == "open":
            # h2load --rps: each connection sends at a fixed rate (integer per second) whatever
            # the responses do, with up to 256 streams outstanding per connection
            clients = ns.h2load_clients
            rps = max(1, round(sc.rate / clients))
            streams = 256
        else:
            clients = max(1, min(ns.h2load_clients, sc.inflight))
            streams = max(1, sc.inflight // clients)
            rps = 0
        logf = d / "h2load.tsv"
        logf.unlink(missing_ok=True)

        def argv(duration: float, log: bool) -> list[str]:
            cmd = [self.h2load, "-c", str(clients), "-m", str(streams), "-t", "1",
                   "-D", f"{duration:g}", "-d", str(d / "request.grpc"),
                   "-H", "content-type: application/grpc", "-H", "te: trailers",
                   "-H", f"authorization: Bearer {self.fixture.pairs[0].credential}"]  # fmt: skip
            if rps:
                cmd += ["--rps", str(rps)]
            if log:
                cmd += ["--log-file", str(logf)]
            return [*cmd, f"http://{t.target}{UNLOCK_METHOD}"]

        # warm-up in a separate invocation, so the measured one's DATA byte count covers exactly
        # its own responses (a failed gRPC call is trailers-only: no DATA)
        warm = self.children.start(
            "h2load",
            argv(ns.warmup, log=False),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait4(warm)
        proc = self.children.start(
            "h2load",
            argv(ns.duration, log=True),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        pids = self._server_pids(t) | {"gen0": proc.pid}
        a = cpu_snapshot(pids, t.redis_socket)
        # sample the generator just before it exits: poll for its output to end
        assert proc.stdout is not None
        out = proc.stdout.read()
        b = cpu_snapshot(pids, t.redis_socket)
        rusage = self._wait4(proc)
        cpu = cpu_delta(a, b)
        # h2load may be gone before the second sample: take its CPU from wait4's rusage
        cpu["other_pct"] = max(
            0.0, cpu["other_pct"] - 100 * (rusage - cpu["gen0"]["cpu_s"]) / cpu["wall_s"]
        )
        cpu["gen0"] = {
            "cpu_s": rusage,
            "pct": 100 * rusage / cpu["wall_s"],
            "busiest_thread_pct": 100 * rusage / cpu["wall_s"],
        }
        parsed = parse_h2load(out)
        lat: list[int] = []
        with contextlib.suppress(OSError):
            for line in logf.read_text().splitlines():
                parts = line.split("\t")
                if len(parts) >= 3:
                    lat.append(int(parts[2]))
        expected = self.response_len + 5
        ok_by_data = parsed["data_bytes"] // expected if expected else 0
        done = parsed["done"]
        rec: dict[str, Any] = {
            "completed": done,
            "calls_per_s": parsed["req_per_s"],
            "errors": max(0, done - ok_by_data) + parsed["failed"] + parsed["errored"],
            "errors_by_code": {},
            "not_allow": 0,
            "generator_procs": 1,
            "offered_per_s": rps * clients if rps else None,
            "h2load": {k: v for k, v in parsed.items() if k != "raw"}
            | {"clients": clients, "streams_per_client": streams},
            **latency_stats(lat),
        }
        # CPU per call over the h2load process's lifetime (connection set-up included: tiny)
        return self._finish(sc, rnd, rec, cpu, ["gen0"])

    def _wait4(self, proc: subprocess.Popen[Any]) -> float:
        """Reap ``proc`` and return its CPU time (user+system) from wait4's rusage."""
        _, status, rusage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        self.children.procs = [(n, p) for n, p in self.children.procs if p is not proc]
        return float(rusage.ru_utime + rusage.ru_stime)

    def _finish(
        self, sc: Scenario, rnd: int, rec: dict[str, Any], cpu: dict[str, Any], gens: list[str]
    ) -> dict[str, Any]:
        n = max(rec["completed"], 1)
        server = cpu["server"]
        redis = cpu.get("redis", {"cpu_s": 0.0, "pct": 0.0})
        gen_pct = sum(cpu[g]["pct"] for g in gens)
        gen_busiest = max(cpu[g]["busiest_thread_pct"] for g in gens)
        gen_cpu_s = sum(cpu[g]["cpu_s"] for g in gens)
        server_sat = (
            server["pct"] >= SERVER_SATURATED_PCT
            or server["busiest_thread_pct"] >= SERVER_THREAD_SATURATED_PCT
        )
        client_sat = gen_busiest >= CLIENT_SATURATED_PCT
        machine_sat = cpu["machine_idle_pct"] < MACHINE_IDLE_SATURATED_PCT
        if server_sat:
            bottleneck = "server"
        elif client_sat:
            bottleneck = "client"
        elif machine_sat:
            bottleneck = "machine"
        elif sc.mode == "open":
            bottleneck = "none (paced)"
        else:
            bottleneck = "latency"
        rec.update(
            {
                "scenario": sc.key,
                "server": sc.server,
                "generator": sc.generator,
                "mode": sc.mode,
                "inflight": sc.inflight,
                "rate": sc.rate,
                "round": rnd,
                "server_cpu_pct": server["pct"],
                "server_busiest_thread_pct": server["busiest_thread_pct"],
                "server_cpu_us_per_call": 1e6 * server["cpu_s"] / n,
                "redis_cpu_pct": redis["pct"],
                "redis_cpu_us_per_call": 1e6 * redis["cpu_s"] / n,
                "client_cpu_pct": gen_pct,
                "client_busiest_thread_pct": gen_busiest,
                "client_cpu_us_per_call": 1e6 * gen_cpu_s / n,
                "other_cpu_pct": cpu["other_pct"],
                # one GET of the directory version per pipeline, one HMGET per decision
                "redis_pipelines": cpu.get("redis_get"),
                "lookups_per_pipeline": (
                    cpu["redis_hmget"] / cpu["redis_get"] if cpu.get("redis_get") else None
                ),
                "machine_idle_pct": cpu["machine_idle_pct"],
                "server_saturated": server_sat,
                "client_saturated": client_sat,
                "machine_saturated": machine_sat,
                "bottleneck": bottleneck,
            }
        )
        self.runs.append(rec)
        load = f"{sc.rate:>6.0f}/s" if sc.mode == "open" else f"{sc.inflight:>4} in flight"
        flag = "" if rec["errors"] == 0 and rec["not_allow"] == 0 else "  [red]ERRORS[/]"
        console.print(
            f"  r{rnd} {sc.server:<9} {sc.generator:<6} {load}: {rec['calls_per_s']:>6.0f}/s  "
            f"p50 {rec['p50_ms']:6.2f} ms  p99 {rec['p99_ms']:6.2f} ms  "
            f"server {rec['server_cpu_pct']:4.0f}% {rec['server_cpu_us_per_call']:5.0f} µs/call  "
            f"client {gen_pct:4.0f}%  other {cpu['other_pct']:3.0f}%  -> {bottleneck}{flag}"
        )
        return rec

    def run(self, sc: Scenario, rnd: int) -> dict[str, Any]:
        if sc.generator == "h2load":
            return self.run_h2load(sc, rnd)
        return self.run_python(sc, rnd)

    # -- plan ---------------------------------------------------------------------------------

    def closed_scenarios(self) -> list[Scenario]:
        ns = self.ns
        out = [Scenario("unlock", "python", "closed", n) for n in ns.levels]
        for server in ("echo-aio", "echo-sync"):
            out += [Scenario(server, "python", "closed", n) for n in ns.echo_levels]
        if self.h2load:
            for server in ("unlock", "echo-aio", "echo-sync"):
                out.append(Scenario(server, "h2load", "closed", ns.h2load_inflight))
        return out

    def execute(self) -> dict[str, Any]:
        ns = self.ns
        scenarios = self.closed_scenarios()
        console.rule(f"closed loop: {len(scenarios)} scenarios x {ns.rounds} rounds")
        for rnd in range(ns.rounds):
            # rotate the order each round so slow drifts of the shared machine spread evenly
            k = rnd % len(scenarios)
            for sc in scenarios[k:] + scenarios[:k]:
                self.run(sc, rnd)
        med = medians(self.runs)
        unlock_max = max(
            (m for m in med.values() if m["server"] == "unlock" and m["mode"] == "closed"),
            key=lambda m: m["calls_per_s"],
        )
        rate = ns.load_fraction * unlock_max["calls_per_s"]
        console.rule(
            f"open loop at {100 * ns.load_fraction:.0f}% of max ({unlock_max['calls_per_s']:.0f}/s"
            f" from {unlock_max['scenario']}): {rate:.0f}/s"
        )
        open_scs = [Scenario("unlock", "python", "open", rate=rate)]
        if self.h2load:
            # h2load paces per connection in whole requests per second
            rounded = ns.h2load_clients * max(1, round(rate / ns.h2load_clients))
            open_scs.append(Scenario("unlock", "h2load", "open", rate=rounded))
        for rnd in range(ns.rounds):
            for sc in open_scs:
                self.run(sc, rnd)
        med = medians(self.runs)
        return summarize(med, unlock_max, [sc.key for sc in open_scs], ns)

    def close(self) -> None:
        for w in self.workers:
            with contextlib.suppress(Exception):
                self._send(w, {"op": "quit"})
        self.children.stop_all()
        if self.data_dir is not None and not self.ns.keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def parse_h2load(out: str) -> dict[str, Any]:
    res: dict[str, Any] = {
        "done": 0,
        "failed": 0,
        "errored": 0,
        "req_per_s": 0.0,
        "data_bytes": 0,
        "seconds": 0.0,
    }
    for raw in out.splitlines():
        line = raw.strip()
        if line.startswith("finished in"):
            # finished in 4.00s, 2968.25 req/s, 1003.44KB/s
            parts = line.replace(",", "").split()
            res["seconds"] = float(parts[2].rstrip("s"))
            res["req_per_s"] = float(parts[3])
        elif line.startswith("requests:"):
            nums = [int(tok) for tok in line.replace(",", "").split() if tok.isdigit()]
            # total, started, done, succeeded, failed, errored, timeout
            res["done"], res["failed"], res["errored"] = nums[2], nums[4], nums[5]
        elif line.startswith("traffic:"):
            # traffic: 3.92MB (4110086) total, 46.35KB (47466) headers (...), 4.32MB (4527936) data
            res["data_bytes"] = int(line.rsplit("(", 1)[1].split(")")[0])
    if res["done"] == 0 and "finished in" not in out:
        raise RuntimeError(f"h2load failed:\n{out[-2000:]}")
    return res


# -- summaries -------------------------------------------------------------------------------

NUMERIC = (
    "calls_per_s",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
    "server_cpu_pct",
    "server_busiest_thread_pct",
    "server_cpu_us_per_call",
    "redis_cpu_pct",
    "redis_cpu_us_per_call",
    "client_cpu_pct",
    "client_busiest_thread_pct",
    "client_cpu_us_per_call",
    "other_cpu_pct",
    "machine_idle_pct",
    "sched_p50_ms",
    "sched_p99_ms",
    "sched_p999_ms",
    "lookups_per_pipeline",
)


def medians(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    by: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        by.setdefault(r["scenario"], []).append(r)
    out: dict[str, dict[str, Any]] = {}
    for key, rs in by.items():
        first = rs[0]
        m: dict[str, Any] = {
            k: first[k] for k in ("scenario", "server", "generator", "mode", "inflight", "rate")
        }
        for k in NUMERIC:
            vals = [r[k] for r in rs if r.get(k) is not None]
            if vals:
                m[k] = statistics.median(vals)
        m["rounds"] = len(rs)
        m["errors"] = sum(r["errors"] for r in rs)
        m["not_allow"] = sum(r["not_allow"] for r in rs)
        m["completed"] = sum(r["completed"] for r in rs)
        bns = [r["bottleneck"] for r in rs]
        m["bottleneck"] = max(set(bns), key=bns.count)
        m["bottlenecks"] = bns
        out[key] = m
    return out


def _find(
    med: dict[str, dict[str, Any]], server: str, generator: str, inflight: int
) -> dict[str, Any] | None:
    for m in med.values():
        if (m["server"], m["generator"], m["mode"], m["inflight"]) == (
            server,
            generator,
            "closed",
            inflight,
        ):
            return m
    return None


def summarize(
    med: dict[str, dict[str, Any]],
    unlock_max: dict[str, Any],
    open_keys: list[str],
    ns: argparse.Namespace,
) -> dict[str, Any]:
    comparisons = []
    for m in med.values():
        if m["server"] != "unlock" or m["mode"] != "closed":
            continue
        aio = _find(med, "echo-aio", m["generator"], m["inflight"])
        sync = _find(med, "echo-sync", m["generator"], m["inflight"])
        if aio is None:
            continue
        comparisons.append(
            {
                "generator": m["generator"],
                "inflight": m["inflight"],
                "unlock_us": m["server_cpu_us_per_call"],
                "unlock_with_redis_us": m["server_cpu_us_per_call"] + m["redis_cpu_us_per_call"],
                "echo_aio_us": aio["server_cpu_us_per_call"],
                "echo_sync_us": sync["server_cpu_us_per_call"] if sync else None,
                "ratio_vs_aio": m["server_cpu_us_per_call"] / aio["server_cpu_us_per_call"],
                "ratio_with_redis_vs_aio": (
                    m["server_cpu_us_per_call"] + m["redis_cpu_us_per_call"]
                )
                / aio["server_cpu_us_per_call"],
                "unlock_calls_per_s": m["calls_per_s"],
                "echo_aio_calls_per_s": aio["calls_per_s"],
                "echo_sync_calls_per_s": sync["calls_per_s"] if sync else None,
                "unlock_bottleneck": m["bottleneck"],
                "echo_aio_bottleneck": aio["bottleneck"],
            }
        )
    # the headline comparison: the cheapest client at the highest common level
    comparisons.sort(key=lambda c: (c["generator"] == "h2load", c["inflight"]), reverse=True)
    head = comparisons[0] if comparisons else None
    open_loops = [
        {
            "generator": med[k]["generator"],
            "offered_per_s": med[k]["rate"],
            "achieved_per_s": med[k]["calls_per_s"],
            "p50_ms": med[k]["p50_ms"],
            "p99_ms": med[k]["p99_ms"],
            "p999_ms": med[k]["p999_ms"],
            "sched_p50_ms": med[k].get("sched_p50_ms"),
            "sched_p99_ms": med[k].get("sched_p99_ms"),
            "server_cpu_pct": med[k]["server_cpu_pct"],
            "client_cpu_pct": med[k]["client_cpu_pct"],
            "bottleneck": med[k]["bottleneck"],
            "errors": med[k]["errors"] + med[k]["not_allow"],
        }
        for k in open_keys
    ]
    # the headline: the generator that takes the least CPU away from the server
    op = next((o for o in open_loops if o["generator"] == "h2load"), open_loops[0])
    return {
        "max_decisions_per_s": unlock_max["calls_per_s"],
        "max_from": unlock_max["scenario"],
        "max_bottleneck": unlock_max["bottleneck"],
        "max_lookups_per_pipeline": unlock_max.get("lookups_per_pipeline"),
        "target_decisions_per_s": 4000,
        "meets_throughput_target": unlock_max["calls_per_s"] >= 4000,
        "headline_comparison": head,
        "comparisons": comparisons,
        "target_ratio": 1.5,
        "meets_ratio_target": bool(head and head["ratio_vs_aio"] <= 1.5),
        "open_loop": op,
        "open_loops": open_loops,
        "target_p99_ms": 10.0,
        "meets_latency_target": op["p99_ms"] <= 10.0,
        "load_fraction": ns.load_fraction,
    }


# -- output ----------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break

    def version(argv: list[str]) -> str:
        try:
            return subprocess.run(
                argv, check=False, capture_output=True, text=True, timeout=5
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "cpu_model": model or platform.processor(),
        "logical_cpus": psutil.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "redis_server": version(["redis-server", "--version"]).split(" sha=")[0],
        "h2load": version(["h2load", "--version"]) if shutil.which("h2load") else None,
        "load_average_at_start": list(os.getloadavg()),
        # the code measured: the commit, and whether authority/ had uncommitted changes
        "git_commit": version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "git_dirty_authority": bool(
            version(["git", "-C", str(ROOT), "status", "--porcelain", "--", "authority"])
        ),
    }


def _f(v: Any, fmt: str = "{:.0f}") -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    return fmt.format(v)


def print_report(
    machine: dict[str, Any], med: dict[str, dict[str, Any]], summary: dict[str, Any]
) -> None:
    t = Table(title="machine", show_header=False)
    t.add_row("CPU", f"{machine['cpu_model']}")
    t.add_row("cores", f"{machine['logical_cpus']} logical / {machine['physical_cores']} physical")
    t.add_row(
        "code",
        f"{machine['git_commit']}"
        + (" + uncommitted changes in authority/" if machine["git_dirty_authority"] else ""),
    )
    t.add_row(
        "software",
        f"Python {machine['python']}, grpcio {machine['grpcio']}, "
        f"{machine['redis_server']}, {machine['h2load'] or 'no h2load'}",
    )
    console.print(t)

    t = Table(title="closed/open loop runs (medians over rounds)")
    for col in (
        "server",
        "generator",
        "load",
        "calls/s",
        "p50 ms",
        "p99 ms",
        "server CPU",
        "server µs/call",
        "redis µs/call",
        "lookups/pipeline",
        "client CPU",
        "other CPU",
        "bottleneck",
        "errors",
    ):
        t.add_column(
            col, justify="right" if col not in ("server", "generator", "bottleneck") else "left"
        )
    order = {"unlock": 0, "echo-aio": 1, "echo-sync": 2}
    for m in sorted(
        med.values(), key=lambda m: (m["mode"], m["generator"], order[m["server"]], m["inflight"])
    ):
        load = f"{m['rate']:.0f}/s open" if m["mode"] == "open" else f"{m['inflight']} in flight"
        t.add_row(
            m["server"],
            m["generator"],
            load,
            _f(m["calls_per_s"]),
            _f(m["p50_ms"], "{:.2f}"),
            _f(m["p99_ms"], "{:.2f}"),
            _f(m["server_cpu_pct"], "{:.0f}%"),
            _f(m["server_cpu_us_per_call"]),
            _f(m["redis_cpu_us_per_call"]) if m["server"] == "unlock" else "-",
            _f(m.get("lookups_per_pipeline"), "{:.1f}"),
            _f(m["client_cpu_pct"], "{:.0f}%"),
            _f(m["other_cpu_pct"], "{:.0f}%"),
            m["bottleneck"],
            str(m["errors"] + m["not_allow"]),
        )
    console.print(t)
    noisy = [m["scenario"] for m in med.values() if m.get("other_cpu_pct", 0) > NOISY_OTHER_PCT]
    if noisy:
        console.print(
            f"[yellow]note: other processes used > {NOISY_OTHER_PCT:.0f}% CPU (of one core) during "
            f"{len(noisy)} scenario(s): {', '.join(noisy)}; their throughput is understated, "
            "CPU per call is less affected[/]"
        )

    t = Table(title="server CPU per call: unlock vs bare echo (same generator, same load)")
    for col in (
        "generator",
        "in flight",
        "echo aio µs",
        "echo sync µs",
        "unlock µs",
        "unlock+redis µs",
        "unlock/echo-aio",
        "(+redis)",
    ):
        t.add_column(col, justify="right")
    for c in summary["comparisons"]:
        t.add_row(
            c["generator"],
            str(c["inflight"]),
            _f(c["echo_aio_us"]),
            _f(c["echo_sync_us"]),
            _f(c["unlock_us"]),
            _f(c["unlock_with_redis_us"]),
            _f(c["ratio_vs_aio"], "{:.2f}x"),
            _f(c["ratio_with_redis_vs_aio"], "{:.2f}x"),
        )
    console.print(t)

    head = summary["headline_comparison"]
    op = summary["open_loop"]

    def verdict(ok: bool) -> str:
        return "[green]met[/]" if ok else "[red]missed[/]"

    t = Table(title="targets")
    for col in ("target", "measured", ""):
        t.add_column(col)
    t.add_row(
        ">= 4,000 unlock decisions/s (one server process)",
        f"{summary['max_decisions_per_s']:.0f}/s ({summary['max_from']}; bottleneck: "
        f"{summary['max_bottleneck']})",
        verdict(summary["meets_throughput_target"]),
    )
    if head:
        t.add_row(
            "unlock server CPU/call <= 1.5x bare echo (aio)",
            f"{head['unlock_us']:.0f} vs {head['echo_aio_us']:.0f} µs "
            f"= {head['ratio_vs_aio']:.2f}x "
            f"({head['generator']}, {head['inflight']} in flight; with redis "
            f"{head['ratio_with_redis_vs_aio']:.2f}x)",
            verdict(summary["meets_ratio_target"]),
        )
    for o in summary["open_loops"]:
        headline = o is op or o == op
        sched = (
            f"; from schedule p99 {_f(o['sched_p99_ms'], '{:.2f}')} ms"
            if o["sched_p99_ms"] is not None
            else ""
        )
        t.add_row(
            f"p99 <= 10 ms at {100 * summary['load_fraction']:.0f}% of max"
            + ("" if headline else " (secondary)"),
            f"{o['generator']}: p99 {o['p99_ms']:.2f} ms, p50 {o['p50_ms']:.2f} ms{sched}; "
            f"{o['achieved_per_s']:.0f}/s of {o['offered_per_s']:.0f}/s offered, "
            f"server CPU {o['server_cpu_pct']:.0f}%, client CPU {o['client_cpu_pct']:.0f}%",
            verdict(o["p99_ms"] <= 10.0) if headline else "",
        )
    console.print(t)


# -- main ------------------------------------------------------------------------------------


def _levels(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Unlock decisions/s, latency and server CPU per call vs a bare gRPC echo.",
    )
    ap.add_argument("--quick", action="store_true", help="~1 minute: 1 round, shorter runs")
    ap.add_argument("--rounds", type=int, help="repetitions of every run (default 3; quick 1)")
    ap.add_argument("--duration", type=float, help="measured seconds per run (default 4; quick 2)")
    ap.add_argument("--warmup", type=float, help="seconds before measuring (default 1; quick 0.5)")
    ap.add_argument("--levels", type=_levels, help="unlock in-flight levels (default 1,8,32,128)")
    ap.add_argument("--echo-levels", type=_levels, help="echo in-flight levels (default 1,128)")
    ap.add_argument("--holders", type=int, help="key holders (default 2000; quick 500)")
    ap.add_argument("--doors", type=int, help="doors (default 200; quick 100)")
    ap.add_argument("--sites", type=int, help="sites the doors are spread over (default 20)")
    ap.add_argument("--procs", type=int, default=2, help="Python generator processes (default 2)")
    ap.add_argument("--channels", type=int, default=4, help="HTTP/2 connections per generator")
    ap.add_argument(
        "--min-inflight-per-proc",
        type=int,
        default=16,
        help="use a second generator process only from this many calls in flight",
    )
    ap.add_argument(
        "--sync-workers",
        type=int,
        default=4,
        help="sync echo server thread pool (4: about the cheapest per call, see README)",
    )
    ap.add_argument("--no-h2load", action="store_true", help="do not use h2load even if installed")
    ap.add_argument("--h2load-inflight", type=int, default=128, help="h2load calls in flight")
    ap.add_argument("--h2load-clients", type=int, default=4, help="h2load connections")
    ap.add_argument("--load-fraction", type=float, default=0.75, help="open-loop rate / max")
    ap.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    ap.add_argument("--keep-data", action="store_true", help="keep the temporary data directory")
    ns = ap.parse_args(argv)
    quick = ns.quick
    defaults = {
        "rounds": 1 if quick else 3,
        "duration": 2.0 if quick else 4.0,
        "warmup": 0.5 if quick else 1.0,
        "levels": [1, 32, 128] if quick else [1, 8, 32, 128],
        "echo_levels": [1, 128],
        "holders": 500 if quick else 2000,
        "doors": 100 if quick else 200,
        "sites": 10 if quick else 20,
    }
    for k, v in defaults.items():
        if getattr(ns, k) is None:
            setattr(ns, k, v)
    return ns


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def interrupts_as_keyboard() -> Iterator[None]:
    # SIGINT too: a shell starts background jobs with SIGINT ignored, and Python keeps it so
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.signal(s, _raise_interrupt) for s in signals}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def main(argv: Sequence[str] | None = None) -> int:
    ns = parse_args(argv)
    started = time.perf_counter()
    machine = machine_info()
    console.print(
        f"[bold]unlock benchmark[/] on {machine['cpu_model']} ({machine['logical_cpus']} CPUs), "
        f"load average {machine['load_average_at_start'][0]:.2f}"
    )
    bench = Bench(ns)
    try:
        with interrupts_as_keyboard():
            bench.setup()
            summary = bench.execute()
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: stopping servers and generators[/]")
        bench.close()
        return 130
    except Exception:
        bench.close()
        raise
    bench.close()
    med = medians(bench.runs)
    print_report(machine, med, summary)
    elapsed = time.perf_counter() - started
    result = {
        "machine": machine,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(ns).items()},
        "fixture": {
            "holders": ns.holders,
            "doors": ns.doors,
            "sites": ns.sites,
            "pairs": len(bench.fixture.pairs) if bench.fixture else 0,
            "response_bytes": bench.response_len,
        },
        "summary": summary,
        "medians": list(med.values()),
        "runs": bench.runs,
        "elapsed_s": elapsed,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    ns.output.parent.mkdir(parents=True, exist_ok=True)
    ns.output.write_text(json.dumps(result, indent=2))
    console.print(f"results: {ns.output}  ({elapsed:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
