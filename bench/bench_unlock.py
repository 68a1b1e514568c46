"""Unlock benchmark (issue 12): server CPU per decision against a bare grpc.aio echo and against
Cerbos, scaling from one worker process to two, and p99 at 75 % of one worker's maximum.

    .venv/bin/python bench/bench_unlock.py            # full run: 3 rounds, ~4 minutes
    .venv/bin/python bench/bench_unlock.py --quick    # 1 round, shorter runs, ~30-60 s
    .venv/bin/python bench/bench_unlock.py --help

Everything runs in one program, on loopback, with h2load (nghttp2's C HTTP/2 load generator,
speaking gRPC framing) as the only load generator, so every server sees the same client:

* ``authority serve --workers 1`` and ``authority serve --workers 2``, started as the README
  starts the server: app sessions (holders enrol with an activation code and log in; the
  15-minute access credential is renewed before every round), recording on, rate limits on at
  their defaults except the per-caller limit (see ``BENCH_CALLER_LIMIT``), the access-log
  shipper in its own log process;
* ``bench/echo_server.py --mode aio``: a bare grpc.aio server answering RequestUnlock with a
  pre-built response of a real ALLOW's size (the framework's cost, no decision);
* ``cerbos server`` (when its binary is found, see ``cerbos_pdp.py``) with GOMAXPROCS=1 and
  GOMAXPROCS=2, deciding the same question from a resource policy.

Closed loop: h2load with 128 calls in flight against each server, rounds interleaved in a
rotating order; then an open loop (h2load ``--rps``) against one worker at 75 % of its median
maximum. Server CPU per call is the user+system CPU time (all threads, from /proc via psutil) of
the worker processes over the measured window, divided by the calls completed in it; the log
process, redis-server and h2load are measured the same way and reported in their own columns.
Prints the tables (and writes them to ``bench/results/unlock.md``, all figures to ``unlock.json``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cerbos_pdp
import grpc
import psutil
from fixture import UNLOCK_METHOD, Fixture, UnlockPair, build_fixture, refresh_pair, verify_sample
from grpc_health.v1 import health_pb2
from rich.console import Console
from rich.table import Table

from authority.client.authority import AuthorityClient
from authority.v1 import authority_pb2 as pb

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results" / "unlock.json"
console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)

SERVER_SATURATED_PCT = 95.0  # a server process's CPU (% of one core) ...
SERVER_THREAD_SATURATED_PCT = 85.0  # ... or its busiest thread (the event loop / GIL holder)
CLIENT_SATURATED_PCT = 85.0  # h2load (one thread)
MACHINE_IDLE_SATURATED_PCT = 5.0
NOISY_OTHER_PCT = 20.0  # CPU taken by processes outside the benchmark, % of one core

BENCH_CALLER_LIMIT = 1_000_000_000
"""AUTHORITY_RATE_LIMIT_CALLER for the benchmark's servers. h2load sends one fixed request (one
body, one header set), so all its calls come from one holder, thousands a second: the default
(3,000 per 10 s) would refuse them. Raising only this limit, through its documented setting,
keeps the limiter's per-call work on the path (the caller's counter is still kept and compared,
the organisation's limit stays at its default); 0 would skip the caller's counter altogether."""

TARGET_ECHO_RATIO = 1.6
TARGET_CERBOS_RATIO = 1.3
TARGET_SCALING = 1.8
TARGET_P99_MS = 5.0
PEAK_DECISIONS_PER_S = 10_000


# -- processes -------------------------------------------------------------------------------


class Children:
    """Every process the benchmark starts; ``stop_all`` ends them (SIGTERM, then SIGKILL)."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen[Any]]] = []
        self.extra_pids: list[tuple[str, int, str]] = []  # (name, pid, cmdline marker)

    def start(
        self, name: str, argv: Sequence[str], *, cwd: Path = ROOT, **kw: Any
    ) -> subprocess.Popen[Any]:
        """``cwd``: also where ``python -m`` finds the code (it puts the cwd first on the path)."""
        wrapped = [sys.executable, str(BENCH / "pdeathsig_exec.py"), str(os.getpid()), *argv]
        proc = subprocess.Popen(wrapped, start_new_session=True, cwd=cwd, **kw)
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
    path: Path,
    proc: subprocess.Popen[Any],
    log: Path,
    timeout: float = 60,
    ready: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """The JSON ``proc`` writes to ``path`` once it serves (and, with ``ready``, once that says
    the contents are complete)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"{path.name}: process exited with {proc.returncode}\n{tail}")
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            info = json.loads(path.read_text())
            if int(info["pid"]) == proc.pid and (ready is None or ready(info)):
                return dict(info)
        time.sleep(0.05)
    raise RuntimeError(f"no (complete) {path} within {timeout:.0f}s (see {log})")


def start_product_server(
    children: Children, tmp: Path, env: dict[str, str]
) -> tuple[subprocess.Popen[Any], dict[str, Any]]:
    """``authority serve`` with shipping off in ``tmp/product`` (its log ``tmp/product.log``),
    for the benchmarks that add processes of their own beside it; the process and its
    ``server.json``."""
    with (tmp / "product.log").open("wb") as log:
        product = children.start(
            "product",
            [sys.executable, "-m", "authority.cli.main", "serve", "--data-dir",
             str(tmp / "product"), "--listen", "127.0.0.1:0", "--ship-events", "off"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return product, wait_for_info(tmp / "product" / "server.json", product, tmp / "product.log")


def wait_serving(target: str, proc: subprocess.Popen[Any], log: Path, timeout: float = 60) -> None:
    """Until the server's health says SERVING (with workers: the one answering this connection)."""
    client = AuthorityClient(target, timeout=2.0)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with contextlib.suppress(grpc.RpcError):
                if client.check_health() == health_pb2.HealthCheckResponse.SERVING:
                    return
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
                raise RuntimeError(f"{target} not SERVING within {timeout:.0f}s\n{tail}")
            time.sleep(0.1)
    finally:
        client.close()


def clean_environment() -> dict[str, str]:
    """This process's environment without the authority's settings: servers start with their
    defaults whatever the caller's shell exports."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AUTHORITY_", "CERBOS_")) and k not in ("REDIS_URL", "CLICKHOUSE_URL")
    }


# -- CPU accounting --------------------------------------------------------------------------


@dataclass
class CpuSnap:
    t: float
    procs: dict[str, tuple[float, dict[int, float]]]  # name -> (process cpu s, thread cpu s)
    machine_busy: float
    machine_total: float


def _proc_cpu(pid: int) -> tuple[float, dict[int, float]]:
    try:
        p = psutil.Process(pid)
        with p.oneshot():
            t = p.cpu_times()
            threads = {th.id: th.user_time + th.system_time for th in p.threads()}
        return t.user + t.system, threads
    except psutil.Error:
        return 0.0, {}


def cpu_snapshot(pids: dict[str, int]) -> CpuSnap:
    m = psutil.cpu_times()
    total = sum(m)
    busy = total - m.idle - getattr(m, "iowait", 0.0)
    procs = {n: _proc_cpu(p) for n, p in pids.items()}
    return CpuSnap(time.perf_counter(), procs, busy, total)


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


def latency_stats(us: list[int]) -> dict[str, float]:
    s = sorted(us)
    return {
        "p50_ms": percentile(s, 50) / 1000,
        "p90_ms": percentile(s, 90) / 1000,
        "p99_ms": percentile(s, 99) / 1000,
        "p999_ms": percentile(s, 99.9) / 1000,
        "max_ms": (s[-1] / 1000) if s else float("nan"),
    }


# -- the servers -----------------------------------------------------------------------------


@dataclass
class Target:
    """One server under test: where h2load sends what, and which processes do its work."""

    name: str  # echo-aio | cerbos-gomaxprocs1 | cerbos-gomaxprocs2 | unlock-workers1 | ...
    kind: str  # echo | cerbos | unlock
    target: str
    method: str
    request_file: Path
    response_len: int
    workers: list[int]  # the processes whose CPU is "server CPU"
    log_pid: int | None = None
    redis_pid: int | None = None
    helper_pids: list[int] = field(default_factory=list)  # e.g. the supervisor
    header: str | None = None  # "authorization: Bearer …" for the unlock servers
    pair: UnlockPair | None = None  # the h2load holder's session (renewed every round)
    check: Callable[[], str] | None = None  # one call outside the window; "ALLOW" expected
    note: str = ""

    def pids(self) -> dict[str, int]:
        out = {f"w{k}": pid for k, pid in enumerate(self.workers)}
        if self.log_pid:
            out["log"] = self.log_pid
        if self.redis_pid:
            out["redis"] = self.redis_pid
        out |= {f"helper{k}": pid for k, pid in enumerate(self.helper_pids)}
        return out


@dataclass
class Scenario:
    server: str
    mode: str  # closed | open
    inflight: int = 0
    rate: float = 0.0

    @property
    def key(self) -> str:
        load = f"rate={self.rate:.0f}/s" if self.mode == "open" else f"inflight={self.inflight}"
        return f"{self.server}|{self.mode}|{load}"


def grpc_frame(message: bytes) -> bytes:
    """A gRPC length-prefixed message (uncompressed), as h2load sends it as the body."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


@dataclass
class Bench:
    ns: argparse.Namespace
    children: Children = field(default_factory=Children)
    data_dir: Path | None = None
    targets: dict[str, Target] = field(default_factory=dict)
    fixtures: dict[str, Fixture] = field(default_factory=dict)
    h2load: str = ""
    cerbos: str | None = None
    notes: list[str] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)

    # -- setup --------------------------------------------------------------------------------

    def setup(self) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="authbench-", dir="/tmp"))
        self.notes.append(
            f"per-caller rate limit raised to {BENCH_CALLER_LIMIT:,} calls per window "
            "(AUTHORITY_RATE_LIMIT_CALLER): h2load's calls all come from one holder; the "
            "limiter still counts every call (organisation limit at its default)"
        )
        self.start_authority("unlock-workers1", 1)
        self.start_authority("unlock-workers2", 2)
        self.start_echo()
        self.cerbos = cerbos_pdp.find_binary(ROOT)
        if self.cerbos:
            self.start_cerbos(1)
            if not self.ns.no_cerbos_gomaxprocs2:
                self.start_cerbos(2)
        else:
            self.notes.append(
                "no Cerbos binary (CERBOS_BIN, node_modules/@cerbos/cerbos-linux-x64, "
                "/opt/cerbos, npm root -g; `npm install @cerbos/cerbos-linux-x64`): "
                "Cerbos scenarios skipped"
            )

    def start_authority(
        self,
        name: str,
        workers: int,
        *,
        extra_env: dict[str, str] | None = None,
        tree: Path = ROOT,
    ) -> None:
        """``extra_env``: settings of this server only; ``tree``: the checkout whose code it runs
        (``bench/ab_unlock.py`` compares settings and versions this way)."""
        ns = self.ns
        assert self.data_dir is not None
        d = self.data_dir / name
        argv = [
            sys.executable,
            "-m",
            # a checkout from before the CLI package (issue 13) has the command in authority.cli
            "authority.cli.main" if (tree / "authority/cli/main.py").exists() else "authority.cli",
            "serve",
            "--data-dir",
            str(d),
            "--listen",
            "127.0.0.1:0",
        ]
        argv += ["--workers", str(workers)]
        env = clean_environment() | {
            "AUTHORITY_RATE_LIMIT_CALLER": str(BENCH_CALLER_LIMIT),
            "AUTHORITY_GRACE_SECONDS": "1",  # shutdown only: the benchmark ends sooner
            "PYTHONPATH": str(tree),
            **(extra_env or {}),
        }
        log = self.data_dir / f"{name}.log"
        with log.open("wb") as out:
            proc = self.children.start(
                name,
                argv,
                cwd=tree,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

        def complete(info: dict[str, Any]) -> bool:
            return len(info.get("workers", [])) == workers

        info = wait_for_info(d / "server.json", proc, log, timeout=120, ready=complete)
        redis_pid = self._redis_pid(d, proc, info)
        if redis_pid:
            self.children.extra_pids.append(("redis", redis_pid, str(d)))
        worker_pids = [int(p) for p in info["workers"]]
        helpers = [proc.pid]  # the supervisor
        log_pid = int(info["log_pid"]) if info.get("log_pid") else None
        console.print(
            f"{name}: {info['target']} workers {worker_pids} log {log_pid} redis {redis_pid}"
        )

        wait_serving(info["target"], proc, log)
        admin_credential = (d / "admin.credential").read_text().strip()
        t0 = time.perf_counter()
        fixture = build_fixture(
            info["target"],
            admin_credential,
            holders=ns.holders,
            doors=ns.doors,
            sites=ns.sites,
            logins=ns.logins,
        )
        self.fixtures[name] = fixture
        response_len = verify_sample(info["target"], fixture.pairs, sample=ns.logins)
        console.print(
            f"  fixture: {ns.holders} holders ({ns.logins} logged in: activation code, "
            f"password, session), {ns.doors} doors in {ns.sites} sites, "
            f"{time.perf_counter() - t0:.1f}s; {ns.logins} unlocks ALLOW, tokens verify; "
            f"response {response_len} B"
        )
        pair = fixture.pairs[0]
        request_file = self.data_dir / f"{name}.request"
        request_file.write_bytes(
            grpc_frame(
                pb.RequestUnlockRequest(
                    door_id=pair.door_id, relay_challenge=os.urandom(16)
                ).SerializeToString()
            )
        )
        t = Target(
            name=name,
            kind="unlock",
            target=info["target"],
            method=UNLOCK_METHOD,
            request_file=request_file,
            response_len=response_len,
            workers=worker_pids,
            log_pid=log_pid,
            redis_pid=redis_pid,
            helper_pids=helpers,
            pair=pair,
            header=f"authorization: Bearer {pair.credential}",
        )
        t.check = lambda: self._unlock_check(t)
        self.targets[name] = t

    def _redis_pid(self, d: Path, proc: subprocess.Popen[Any], info: dict[str, Any]) -> int | None:
        if info.get("redis_pid"):
            return int(info["redis_pid"])
        path = d / "redis" / "redis.pid"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                return int(path.read_text().strip())
            time.sleep(0.05)
        self.notes.append(
            f"{d.name}: no {path.name} (nor redis_pid in server.json): no redis column"
        )
        return None

    @staticmethod
    def _unlock_check(t: Target) -> str:
        assert t.pair is not None
        client = AuthorityClient(t.target, credential=t.pair.credential)
        try:
            resp = client.request_unlock(t.pair.door_id, os.urandom(16))
        except grpc.RpcError as exc:
            return f"{exc.code().name}"  # type: ignore[attr-defined]
        finally:
            client.close()
        return "ALLOW" if resp.decision == pb.DECISION_ALLOW else pb.Decision.Name(resp.decision)

    def start_echo(self, like: str = "unlock-workers1") -> None:
        """The bare echo, answering with a real ALLOW of the unlock server ``like``."""
        assert self.data_dir is not None
        d = self.data_dir
        unlock = self.targets[like]
        assert unlock.pair is not None
        # the echo answers with a response of exactly a real ALLOW's size
        client = AuthorityClient(unlock.target, credential=unlock.pair.credential)
        try:
            real = client.request_unlock(unlock.pair.door_id, os.urandom(16))
        finally:
            client.close()
        (d / "response.bin").write_bytes(real.SerializeToString())
        name = "echo-aio"
        log = d / f"{name}.log"
        with log.open("wb") as out:
            proc = self.children.start(
                name,
                [
                    sys.executable,
                    str(BENCH / "echo_server.py"),
                    "--mode",
                    "aio",
                    "--info",
                    str(d / f"{name}.json"),
                    "--response-file",
                    str(d / "response.bin"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        info = wait_for_info(d / f"{name}.json", proc, log)
        self.targets[name] = Target(
            name=name,
            kind="echo",
            target=info["target"],
            method=UNLOCK_METHOD,
            request_file=unlock.request_file,
            response_len=len(real.SerializeToString()),
            workers=[proc.pid],
        )
        console.print(f"{name}: {info['target']} (pid {proc.pid})")

    def start_cerbos(self, gomaxprocs: int) -> None:
        assert self.data_dir is not None
        assert self.cerbos is not None
        d = self.data_dir
        name = f"cerbos-gomaxprocs{gomaxprocs}"
        messages = cerbos_pdp.compile_messages(d)
        setup = cerbos_pdp.write_setup(self.cerbos, d, name)
        env = clean_environment() | {"CERBOS_NO_TELEMETRY": "1", "GOMAXPROCS": str(gomaxprocs)}
        log = d / f"{name}.log"
        with log.open("wb") as out:
            proc = self.children.start(
                name,
                setup.argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        # the same holder and doors as the unlock fixture: 20 doors on the list, one asked for
        fixture = self.fixtures["unlock-workers1"]
        door = fixture.pairs[0].door_id
        others = sorted({p.door_id for p in fixture.pairs} - {door})
        doors = [*others[: cerbos_pdp.HOLDER_DOORS - 1], door]
        holder = fixture.pairs[0].key_holder_id or "kh_bench"
        valid_until = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        call = cerbos_pdp.CheckCall(
            messages,
            cerbos_pdp.check_request(
                messages, holder=holder, doors=doors, door=door, valid_until=valid_until
            ),
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                effect = call.effect(setup.target, timeout=1.0)
                break
            except grpc.RpcError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{name} did not answer:\n{tail}") from None
                time.sleep(0.1)
        # the policy's conditions are evaluated: a door off the list, or expired access, is denied
        denied_door = call.effect(
            setup.target,
            cerbos_pdp.check_request(
                messages,
                holder=holder,
                doors=doors,
                door="not-on-the-list",
                valid_until=valid_until,
            ),
        )
        denied_expired = call.effect(
            setup.target,
            cerbos_pdp.check_request(
                messages, holder=holder, doors=doors, door=door, valid_until="2020-01-01T00:00:00Z"
            ),
        )
        if (effect, denied_door, denied_expired) != ("EFFECT_ALLOW", "EFFECT_DENY", "EFFECT_DENY"):
            raise RuntimeError(
                f"{name}: listed door {effect}, unlisted {denied_door}, expired {denied_expired}"
            )
        request_file = d / f"{name}.request"
        request_file.write_bytes(grpc_frame(call.payload))
        self.targets[name] = Target(
            name=name,
            kind="cerbos",
            target=setup.target,
            method=cerbos_pdp.CHECK_METHOD,
            request_file=request_file,
            response_len=call.response_size(setup.target),
            workers=[proc.pid],
            check=lambda: "ALLOW" if call.effect(setup.target) == "EFFECT_ALLOW" else "DENY",
        )
        console.print(
            f"{name}: {setup.target} (pid {proc.pid}); listed door ALLOW, unlisted door and "
            f"expired access DENY; request {len(call.payload)} B"
        )

    def renew_sessions(self) -> None:
        """A new access credential for every unlock target's h2load holder (the session's
        refresh credential; access credentials last 15 minutes)."""
        for t in self.targets.values():
            if t.pair is not None:
                t.pair = refresh_pair(t.target, t.pair)
                t.header = f"authorization: Bearer {t.pair.credential}"

    # -- one run ------------------------------------------------------------------------------

    def all_pids(self) -> dict[str, int]:
        """Every process of every server: the idle ones' CPU is ours, not "other"."""
        return {f"{t.name}:{n}": pid for t in self.targets.values() for n, pid in t.pids().items()}

    def run(self, sc: Scenario, rnd: int) -> dict[str, Any]:
        ns, d = self.ns, self.data_dir
        assert d is not None
        t = self.targets[sc.server]
        clients = ns.h2load_clients
        if sc.mode == "open":
            # h2load --rps: each connection sends at a fixed rate (integer per second) whatever
            # the responses do, with up to 256 streams outstanding per connection
            rps = max(1, round(sc.rate / clients))
            streams = 256
        else:
            clients = max(1, min(clients, sc.inflight))
            streams = max(1, sc.inflight // clients)
            rps = 0
        logf = d / "h2load.tsv"
        logf.unlink(missing_ok=True)

        def argv(duration: float, log: bool) -> list[str]:
            cmd = [
                self.h2load,
                "-c",
                str(clients),
                "-m",
                str(streams),
                "-t",
                "1",
                "-D",
                f"{duration:g}",
                "-d",
                str(t.request_file),
                "-H",
                "content-type: application/grpc",
                "-H",
                "te: trailers",
            ]
            if t.header:
                cmd += ["-H", t.header]
            if rps:
                cmd += ["--rps", str(rps)]
            if log:
                cmd += ["--log-file", str(logf)]
            return [*cmd, f"http://{t.target}{t.method}"]

        before = t.check() if t.check else "ALLOW"
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
        pids = self.all_pids() | {"gen0": proc.pid}
        a = cpu_snapshot(pids)
        assert proc.stdout is not None
        out = proc.stdout.read()  # until h2load closes it: the end of its run
        b = cpu_snapshot(pids)
        rusage = self._wait4(proc)
        after = t.check() if t.check else "ALLOW"
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
        expected = t.response_len + 5
        ok_by_data = parsed["data_bytes"] // expected if expected else 0
        done = parsed["done"]
        # h2load cannot read each answer: the same request answered ALLOW just before and just
        # after the window, and every call returned a message of the ALLOW's size (a refusal
        # of the unlock server is shorter; Cerbos's DENY has the ALLOW's size, hence the checks)
        not_allow = 0 if before == after == "ALLOW" else done
        rec: dict[str, Any] = {
            "completed": done,
            "calls_per_s": parsed["req_per_s"],
            "errors": max(0, done - ok_by_data) + parsed["failed"] + parsed["errored"],
            "not_allow": not_allow,
            "checks": [before, after],
            "offered_per_s": rps * clients if rps else None,
            "h2load": {k: v for k, v in parsed.items() if k != "raw"}
            | {"clients": clients, "streams_per_client": streams},
            **latency_stats(lat),
        }
        return self._finish(sc, rnd, rec, cpu, t)

    def _wait4(self, proc: subprocess.Popen[Any]) -> float:
        """Reap ``proc`` and return its CPU time (user+system) from wait4's rusage."""
        _, status, rusage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        self.children.procs = [(n, p) for n, p in self.children.procs if p is not proc]
        return float(rusage.ru_utime + rusage.ru_stime)

    def _finish(
        self, sc: Scenario, rnd: int, rec: dict[str, Any], cpu: dict[str, Any], t: Target
    ) -> dict[str, Any]:
        n = max(rec["completed"], 1)

        def of(name: str) -> dict[str, float]:
            return cpu.get(f"{t.name}:{name}", {"cpu_s": 0.0, "pct": 0.0, "busiest_thread_pct": 0})

        workers = [of(f"w{k}") for k in range(len(t.workers))]
        server_s = sum(w["cpu_s"] for w in workers)
        log, redis, gen = of("log"), of("redis"), cpu["gen0"]
        saturated = [
            w["pct"] >= SERVER_SATURATED_PCT
            or w["busiest_thread_pct"] >= SERVER_THREAD_SATURATED_PCT
            for w in workers
        ]
        server_sat = all(saturated)
        client_sat = gen["pct"] >= CLIENT_SATURATED_PCT
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
                "kind": t.kind,
                "mode": sc.mode,
                "inflight": sc.inflight,
                "rate": sc.rate,
                "round": rnd,
                "workers": len(t.workers),
                "server_cpu_pct": 100 * server_s / cpu["wall_s"],
                "worker_cpu_pct": [w["pct"] for w in workers],
                "server_busiest_thread_pct": max(w["busiest_thread_pct"] for w in workers),
                # the least loaded worker's share of the workers' CPU (SO_REUSEPORT balance)
                "worker_min_share": min(w["cpu_s"] for w in workers) / max(server_s, 1e-9),
                "server_cpu_us_per_call": 1e6 * server_s / n,
                "log_cpu_pct": log["pct"],
                "log_cpu_us_per_call": 1e6 * log["cpu_s"] / n if t.log_pid else None,
                "redis_cpu_pct": redis["pct"],
                "redis_cpu_us_per_call": 1e6 * redis["cpu_s"] / n if t.redis_pid else None,
                "client_cpu_pct": gen["pct"],
                "client_cpu_us_per_call": 1e6 * gen["cpu_s"] / n,
                "other_cpu_pct": cpu["other_pct"],
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
        extra = ""
        if len(t.workers) > 1:
            extra += f" (least busy worker {100 * rec['worker_min_share']:.0f}%)"
        if t.log_pid or t.redis_pid:
            extra += (
                f" log {_f(rec['log_cpu_us_per_call'])} redis {_f(rec['redis_cpu_us_per_call'])}"
            )
        console.print(
            f"  r{rnd} {sc.server:<19} {load}: {rec['calls_per_s']:>6.0f}/s  "
            f"p50 {rec['p50_ms']:6.2f} ms  p99 {rec['p99_ms']:6.2f} ms  "
            f"server {rec['server_cpu_pct']:4.0f}% {rec['server_cpu_us_per_call']:5.0f} µs/call"
            f"{extra}  h2load {gen['pct']:3.0f}%  other {cpu['other_pct']:3.0f}%  "
            f"idle {cpu['machine_idle_pct']:3.0f}% -> {bottleneck}{flag}"
        )
        return rec

    # -- plan ---------------------------------------------------------------------------------

    def execute(self) -> None:
        ns = self.ns
        order = (
            "echo-aio",
            "cerbos-gomaxprocs1",
            "cerbos-gomaxprocs2",
            "unlock-workers1",
            "unlock-workers2",
        )
        closed = [Scenario(s, "closed", ns.inflight) for s in order if s in self.targets]
        console.rule(
            f"closed loop, h2load {ns.inflight} in flight: {len(closed)} servers x "
            f"{ns.rounds} rounds"
        )
        for rnd in range(ns.rounds):
            self.renew_sessions()
            # rotate the order each round so slow drifts of the shared machine spread evenly
            k = rnd % len(closed)
            for sc in closed[k:] + closed[:k]:
                self.run(sc, rnd)
        w1 = medians(self.runs)[closed_key("unlock-workers1", ns.inflight)]
        rate = ns.h2load_clients * max(
            1, round(ns.load_fraction * w1["calls_per_s"] / ns.h2load_clients)
        )
        console.rule(
            f"open loop, one worker, at {100 * ns.load_fraction:.0f}% of its max "
            f"({w1['calls_per_s']:.0f}/s): {rate}/s"
        )
        # the bare echo at the same offered rate: what grpc.aio alone gives open loop here
        opened = [Scenario(s, "open", rate=rate) for s in ("unlock-workers1", "echo-aio")]
        for rnd in range(ns.rounds):
            self.renew_sessions()
            for sc in opened[rnd % 2 :] + opened[: rnd % 2]:
                self.run(sc, rnd)

    def close(self) -> None:
        self.children.stop_all()
        if self.data_dir is not None and not self.ns.keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def closed_key(server: str, inflight: int) -> str:
    return Scenario(server, "closed", inflight).key


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
    "worker_min_share",
    "server_cpu_us_per_call",
    "log_cpu_pct",
    "log_cpu_us_per_call",
    "redis_cpu_pct",
    "redis_cpu_us_per_call",
    "client_cpu_pct",
    "client_cpu_us_per_call",
    "other_cpu_pct",
    "machine_idle_pct",
)


def medians(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    by: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        by.setdefault(r["scenario"], []).append(r)
    out: dict[str, dict[str, Any]] = {}
    for key, rs in by.items():
        first = rs[0]
        m: dict[str, Any] = {
            k: first[k]
            for k in ("scenario", "server", "kind", "mode", "inflight", "rate", "workers")
        }
        for k in NUMERIC:
            vals = [r[k] for r in rs if r.get(k) is not None]
            m[k] = statistics.median(vals) if vals else None
        m["rounds"] = len(rs)
        m["errors"] = sum(r["errors"] for r in rs)
        m["not_allow"] = sum(r["not_allow"] for r in rs)
        m["completed"] = sum(r["completed"] for r in rs)
        bns = [r["bottleneck"] for r in rs]
        m["bottleneck"] = max(set(bns), key=bns.count)
        m["bottlenecks"] = bns
        out[key] = m
    return out


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    value: float | None
    met: bool | None  # None: not measured


def summarize(med: dict[str, dict[str, Any]], ns: argparse.Namespace) -> dict[str, Any]:
    n = ns.inflight
    echo = med.get(closed_key("echo-aio", n))
    cerbos = med.get(closed_key("cerbos-gomaxprocs1", n))
    w1 = med.get(closed_key("unlock-workers1", n))
    w2 = med.get(closed_key("unlock-workers2", n))
    opened = {m["server"]: m for m in med.values() if m["mode"] == "open"}
    op = opened.get("unlock-workers1")
    echo_open = opened.get("echo-aio")
    verdicts: list[Verdict] = []

    def ratio_row(label: str, base: dict[str, Any] | None, limit: float, what: str) -> None:
        if not (w1 and base):
            verdicts.append(Verdict(label, f"not measured (no {what})", None, None))
            return
        r = w1["server_cpu_us_per_call"] / base["server_cpu_us_per_call"]
        verdicts.append(
            Verdict(
                label,
                f"{w1['server_cpu_us_per_call']:.0f} vs {base['server_cpu_us_per_call']:.0f} µs "
                f"per call = {r:.2f}x",
                r,
                r <= limit,
            )
        )

    ratio_row(
        f"unlock server CPU/call <= {TARGET_ECHO_RATIO}x bare grpc.aio echo (h2load, {n} in "
        "flight, one worker)",
        echo,
        TARGET_ECHO_RATIO,
        "echo",
    )
    ratio_row(
        f"unlock server CPU/call <= {TARGET_CERBOS_RATIO}x Cerbos's CPU per check "
        "(GOMAXPROCS=1, same load)",
        cerbos,
        TARGET_CERBOS_RATIO,
        "Cerbos",
    )
    label = f"2 workers serve >= {TARGET_SCALING}x the decisions/s of 1 worker (h2load, {n})"
    if w1 and w2:
        s = w2["calls_per_s"] / w1["calls_per_s"]
        # Decisions per second of worker CPU: what each worker gets done with a core of its
        # own, which 2 cores shared with h2load, redis-server and the log process cannot show.
        efficiency = w1["server_cpu_us_per_call"] / w2["server_cpu_us_per_call"]
        verdicts.append(
            Verdict(
                label,
                f"{w2['calls_per_s']:.0f} vs {w1['calls_per_s']:.0f}/s = {s:.2f}x (2 workers: "
                f"{w2['bottleneck']}, machine idle {w2['machine_idle_pct']:.0f}%, h2load "
                f"{w2['client_cpu_pct']:.0f}%); per worker CPU-second 2 workers do "
                f"{efficiency:.2f} of one's work ({w2['server_cpu_us_per_call']:.0f} vs "
                f"{w1['server_cpu_us_per_call']:.0f} µs/decision): {2 * efficiency:.2f}x with a "
                "core per worker",
                s,
                s >= TARGET_SCALING,
            )
        )
    else:
        verdicts.append(Verdict(label, "not measured (a 2-worker run failed)", None, None))
    label = (
        f"p99 <= {TARGET_P99_MS:.0f} ms at {100 * ns.load_fraction:.0f}% of the measured max "
        "(h2load open loop, one worker)"
    )
    if op:
        verdicts.append(
            Verdict(
                label,
                f"p99 {op['p99_ms']:.2f} ms, p50 {op['p50_ms']:.2f} ms at {op['calls_per_s']:.0f}"
                f"/s of {op['rate']:.0f}/s offered"
                + (
                    f"; bare echo at the same rate: p99 {echo_open['p99_ms']:.2f} ms, p50 "
                    f"{echo_open['p50_ms']:.2f} ms"
                    if echo_open
                    else ""
                ),
                op["p99_ms"],
                op["p99_ms"] <= TARGET_P99_MS,
            )
        )
    else:
        verdicts.append(Verdict(label, "not measured", None, None))
    return {
        "targets": [v.__dict__ for v in verdicts],
        "national_peak": national_peak(w1, w2) if w1 else None,
    }


def national_peak(w1: dict[str, Any], w2: dict[str, Any] | None) -> dict[str, Any]:
    """What 10,000 decisions/s needs, from one worker's measured cost per decision: the CPU of
    the workers, redis-server and the log process, and worker processes run at 75 % of one
    worker's maximum (the load at which the p99 target is measured)."""
    # None: not measured (no log process before branch `workers`: shipping is in the worker)
    us: dict[str, float | None] = {
        "workers": w1["server_cpu_us_per_call"],
        "redis": w1["redis_cpu_us_per_call"],
        "log": w1["log_cpu_us_per_call"],
    }
    total_us = sum(v for v in us.values() if v is not None)
    per_worker = w1["calls_per_s"]
    cores = {k: None if v is None else PEAK_DECISIONS_PER_S * v / 1e6 for k, v in us.items()}
    return {
        "decisions_per_s": PEAK_DECISIONS_PER_S,
        "us_per_decision": us | {"total": total_us},
        "cores": cores | {"total": PEAK_DECISIONS_PER_S * total_us / 1e6},
        "one_worker_max_per_s": per_worker,
        "worker_processes": math.ceil(PEAK_DECISIONS_PER_S / (0.75 * per_worker)),
        "two_worker_max_per_s": w2["calls_per_s"] if w2 else None,
    }


# -- output ----------------------------------------------------------------------------------


def machine_info(cerbos: str | None = None) -> dict[str, Any]:
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
        "cerbos": cerbos_pdp.version(cerbos) if cerbos else None,
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


@dataclass
class Report:
    """Tables built once, printed with rich and written as markdown (pasteable either way)."""

    tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, title: str, columns: list[str], rows: list[list[str]]) -> None:
        self.tables.append((title, columns, rows))

    def print(self) -> None:
        for title, columns, rows in self.tables:
            t = Table(title=title)
            for i, col in enumerate(columns):
                t.add_column(col, justify="left" if i == 0 else "right", no_wrap=i == 0)
            for row in rows:
                t.add_row(*(_rich_verdict(c) for c in row))
            console.print(t)
        for note in self.notes:
            console.print(f"[yellow]note:[/] {note}")

    def markdown(self) -> str:
        out: list[str] = []
        for title, columns, rows in self.tables:
            out += [f"**{title}**", "", "| " + " | ".join(columns) + " |"]
            out.append("|" + "|".join(["---"] + ["--:"] * (len(columns) - 1)) + "|")
            out += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows]
            out.append("")
        out += [f"Note: {n}" for n in self.notes]
        return "\n".join(out) + "\n"


def _rich_verdict(cell: str) -> str:
    return {"met": "[green]met[/]", "missed": "[red]missed[/]"}.get(cell, cell)


def build_report(
    machine: dict[str, Any],
    med: dict[str, dict[str, Any]],
    summary: dict[str, Any],
    notes: list[str],
    ns: argparse.Namespace,
) -> Report:
    r = Report(notes=list(notes))
    r.add(
        "machine",
        ["", ""],
        [
            ["CPU", f"{machine['cpu_model']}"],
            ["cores", f"{machine['logical_cpus']} logical / {machine['physical_cores']} physical"],
            [
                "code",
                f"{machine['git_commit']}"
                + (
                    " + uncommitted changes in authority/" if machine["git_dirty_authority"] else ""
                ),
            ],
            [
                "software",
                f"Python {machine['python']}, grpcio {machine['grpcio']}, "
                f"{machine['redis_server']}, {machine['h2load'] or 'no h2load'}, "
                f"{machine['cerbos'] or 'no Cerbos'}",
            ],
            ["load average at start", f"{machine['load_average_at_start'][0]:.2f}"],
            [
                "run",
                f"{ns.rounds} round(s), {ns.duration:g} s measured after {ns.warmup:g} s warm-up, "
                f"h2load {ns.h2load_clients} connections; medians over rounds",
            ],
        ],
    )
    rows = []
    order = {"echo": 0, "cerbos": 1, "unlock": 2}
    for m in sorted(med.values(), key=lambda m: (m["mode"], order[m["kind"]], m["server"])):
        load = f"{m['rate']:.0f}/s open" if m["mode"] == "open" else f"{m['inflight']} in flight"
        rows.append(
            [
                m["server"],
                load,
                _f(m["calls_per_s"]),
                _f(m["p50_ms"], "{:.2f}"),
                _f(m["p99_ms"], "{:.2f}"),
                _f(m["server_cpu_pct"], "{:.0f}%"),
                _f(m["server_cpu_us_per_call"]),
                _f(m["log_cpu_us_per_call"]),
                _f(m["redis_cpu_us_per_call"]),
                _f(m["client_cpu_pct"], "{:.0f}%"),
                _f(m["client_cpu_us_per_call"]),
                _f(m["other_cpu_pct"], "{:.0f}%"),
                _f(m["machine_idle_pct"], "{:.0f}%"),
                m["bottleneck"],
                str(m["errors"] + m["not_allow"]),
            ]
        )
    r.add(
        "h2load runs (medians over rounds; server = the worker processes)",
        [
            "server",
            "load",
            "calls/s",
            "p50 ms",
            "p99 ms",
            "server CPU",
            "server µs/call",
            "log µs/call",
            "redis µs/call",
            "h2load CPU",
            "h2load µs/call",
            "other CPU",
            "machine idle",
            "bottleneck",
            "errors",
        ],
        rows,
    )
    r.add(
        "targets (issue 12; ratios from this run)",
        ["target", "measured", "verdict"],
        [
            [
                v["target"],
                v["measured"],
                "-" if v["met"] is None else ("met" if v["met"] else "missed"),
            ]
            for v in summary["targets"]
        ],
    )
    peak = summary["national_peak"]
    if peak:
        us, cores = peak["us_per_decision"], peak["cores"]
        r.add(
            f"national morning peak: {peak['decisions_per_s']:,} decisions/s from this run's "
            "CPU per decision (one worker, h2load 128)",
            ["share", "CPU µs per decision", "cores at 10,000/s", "processes"],
            [
                [
                    "workers",
                    _f(us["workers"]),
                    _f(cores["workers"], "{:.1f}"),
                    f"{peak['worker_processes']} (each at 75 % of one worker's "
                    f"{peak['one_worker_max_per_s']:.0f}/s)",
                ],
                [
                    "redis-server",
                    _f(us["redis"]),
                    _f(cores["redis"], "{:.2f}"),
                    "1 (single-threaded: must stay under 1 core)",
                ],
                [
                    "log process",
                    _f(us["log"]),
                    _f(cores["log"], "{:.2f}"),
                    "1 per host (ships its workers' events)",
                ],
                ["total", _f(us["total"]), _f(cores["total"], "{:.1f}"), ""],
            ],
        )
    noisy = [m["scenario"] for m in med.values() if (m["other_cpu_pct"] or 0) > NOISY_OTHER_PCT]
    if noisy:
        r.notes.append(
            f"other processes used > {NOISY_OTHER_PCT:.0f}% CPU (of one core) during "
            f"{', '.join(noisy)}: throughput understated there, CPU per call less affected"
        )
    bad = [m["scenario"] for m in med.values() if m["errors"] + m["not_allow"]]
    if bad:
        r.notes.append(f"errors or non-ALLOW answers in {', '.join(bad)}")
    return r


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Issue 12: unlock CPU per call vs a bare echo and Cerbos, 1 vs 2 workers, "
        "p99 at 75 % of one worker's max (h2load throughout).",
    )
    ap.add_argument("--quick", action="store_true", help="1 round, shorter runs (~30-60 s)")
    ap.add_argument("--rounds", type=int, help="repetitions of every run (default 5; quick 1)")
    ap.add_argument("--duration", type=float, help="measured seconds per run (default 4; quick 2)")
    ap.add_argument("--warmup", type=float, help="seconds before measuring (default 1; quick 0.5)")
    ap.add_argument("--holders", type=int, help="key holders (default 2000; quick 300)")
    ap.add_argument("--logins", type=int, default=20, help="holders that log in (default 20)")
    ap.add_argument("--doors", type=int, help="doors (default 200; quick 60)")
    ap.add_argument("--sites", type=int, help="sites the doors are spread over (default 20)")
    ap.add_argument("--inflight", type=int, default=128, help="h2load calls in flight (128)")
    ap.add_argument(
        "--h2load-clients",
        type=int,
        default=8,
        help="h2load connections (8: SO_REUSEPORT spreads connections, not calls, over workers)",
    )
    ap.add_argument("--load-fraction", type=float, default=0.75, help="open-loop rate / max")
    ap.add_argument(
        "--no-cerbos-gomaxprocs2", action="store_true", help="skip the GOMAXPROCS=2 Cerbos run"
    )
    ap.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    ap.add_argument("--keep-data", action="store_true", help="keep the temporary data directory")
    ns = ap.parse_args(argv)
    quick = ns.quick
    defaults = {
        "rounds": 1 if quick else 5,
        "duration": 2.0 if quick else 4.0,
        "warmup": 0.5 if quick else 1.0,
        "holders": 300 if quick else 2000,
        "doors": 60 if quick else 200,
        "sites": 10 if quick else 20,
    }
    for k, v in defaults.items():
        if getattr(ns, k) is None:
            setattr(ns, k, v)
    ns.logins = max(1, min(ns.logins, ns.holders))
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
    h2load = shutil.which("h2load")
    if not h2load:
        console.print("[red]h2load is needed[/]: apt-get install -y nghttp2-client")
        return 2
    bench = Bench(ns, h2load=h2load)
    machine = machine_info(cerbos_pdp.find_binary(ROOT))
    console.print(
        f"[bold]unlock benchmark (issue 12)[/] on {machine['cpu_model']} "
        f"({machine['logical_cpus']} CPUs), load average {machine['load_average_at_start'][0]:.2f}"
    )
    try:
        with interrupts_as_keyboard():
            bench.setup()
            bench.execute()
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: stopping servers[/]")
        bench.close()
        return 130
    except Exception:
        bench.close()
        raise
    bench.close()
    med = medians(bench.runs)
    summary = summarize(med, ns)
    report = build_report(machine, med, summary, bench.notes, ns)
    report.print()
    elapsed = time.perf_counter() - started
    result = {
        "machine": machine,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(ns).items()},
        "fixture": {
            "holders": ns.holders,
            "logins": ns.logins,
            "doors": ns.doors,
            "sites": ns.sites,
        },
        "notes": report.notes,
        "summary": summary,
        "medians": list(med.values()),
        "runs": bench.runs,
        "elapsed_s": elapsed,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    ns.output.parent.mkdir(parents=True, exist_ok=True)
    ns.output.write_text(json.dumps(result, indent=2))
    md = ns.output.with_suffix(".md")
    md.write_text(
        f"Unlock benchmark (issue 12), {result['finished_at']}, "
        f"`bench/bench_unlock.py{' --quick' if ns.quick else ''}`, {elapsed:.0f} s\n\n"
        + report.markdown()
    )
    console.print(f"results: {ns.output}, {md}  ({elapsed:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
