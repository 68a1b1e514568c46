"""``authority serve --workers N``: one supervisor, N workers on one port, one log process.

Python runs one core per process, so a host's cores serve unlocks through several processes
(grpc's own advice for multi-core Python: a server per process, SO_REUSEPORT). The supervisor
holds no gRPC server and no event store; it

* starts the embedded redis-server when there is no REDIS_URL (one for every child), stopping it
  last;
* starts the **log process** (``ProcessRole.LOG``, shipping 'only'): the one process that opens
  the embedded chDB, migrates it, ships the event buffer and runs the privacy sweep. It listens
  on a private loopback port; unlock traffic never reaches it. It starts first and alone, so the
  key files, the admin credential and the schema exist before the workers read them;
* starts N **workers** (``ProcessRole.WORKER``, shipping 'off'), each a normal ``serve()`` on the
  listen port (and mtls_listen) with SO_REUSEPORT: the kernel spreads connections over them.
  The supervisor reserves those ports first (bound with SO_REUSEPORT, never listening, for its
  whole life): port 0 becomes one concrete port for every worker, and a port nobody else takes
  while a worker restarts;
* restarts a child that dies (backoff doubling from 0.5 s to 10 s, reset once it ran 30 s; more
  than 5 crashes of one child in 60 s is a crash loop: everything stops, exit 1);
* aggregates health: its verdict on the whole (draining; the log process down longer than
  ``log_down_seconds``) is a file every worker reads on its health tick
  (``process.cluster_health``), so any worker a load balancer reaches answers for all;
* writes ``server.json`` (target, its pid, the workers' and the log process's pids);
* on SIGTERM/SIGINT: the verdict turns NOT_SERVING, the workers get SIGTERM and drain
  (``grace_seconds``), then the log process stops (shipping the last events), then Redis; exit 0.

Children are fresh interpreters (``python -m authority.process.child``), never forks of this
one, and die with it (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path

from authority.adapters.redis.embedded import EmbeddedRedis
from authority.process.cluster_health import ClusterVerdict, cluster_health_path, write_verdict
from authority.process.config import Settings
from authority.process.roles import ProcessRole
from authority.process.server_info import SERVER_INFO_FILE, local_target, write_server_info

log = logging.getLogger("authority.supervisor")

READY_TIMEOUT = 120.0
"""A child that does not serve within this is killed and counts as a crash (chDB's first start
and migrations on a loaded machine take seconds, not minutes)."""
STOP_MARGIN = 15.0
"""Beyond ``grace_seconds``: how long a child may take to close after draining before SIGKILL."""
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 10.0
STABLE_AFTER = 30.0
"""A child that served this long before dying starts its backoff afresh."""
CRASH_WINDOW, CRASH_LIMIT = 60.0, 5
VERDICT_INTERVAL = 0.5
LOG_LISTEN = "127.0.0.1:0"
"""The log process's own listener: loopback, a port of its own, no unlock traffic."""


def cpu_count() -> int:
    """The CPUs this process may run on (a container's or taskset's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def worker_count(settings: Settings) -> int:
    """How many workers ``authority serve`` runs: the setting, else one per CPU for a process that
    serves everything and ships; a bulk process or one with shipping 'off'/'only' is one process
    (it is itself a part of a split the operator composes)."""
    if settings.workers is not None:
        return settings.workers
    if settings.role != "all" or settings.ship_events != "on":
        return 0
    return cpu_count()


@dataclass(frozen=True, slots=True)
class SharedPorts:
    """The workers' concrete listen addresses, held bound (not listening) by the supervisor."""

    listen: str
    mtls_listen: str | None
    sockets: tuple[socket.socket, ...]

    @classmethod
    def reserve(cls, settings: Settings) -> SharedPorts:
        listen, listen_sock = _reserve(settings.listen)
        if settings.mtls_listen is None:
            return cls(listen=listen, mtls_listen=None, sockets=(listen_sock,))
        try:
            mtls_listen, mtls_sock = _reserve(settings.mtls_listen)
        except BaseException:
            listen_sock.close()
            raise
        return cls(listen=listen, mtls_listen=mtls_listen, sockets=(listen_sock, mtls_sock))

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


def _reserve(address: str) -> tuple[str, socket.socket]:
    """Bind ``host:port`` with SO_REUSEPORT (port 0: the kernel picks one) without listening: a
    bound socket that does not listen takes no connections, but keeps the port ours; the workers'
    listeners (SO_REUSEPORT too, same user) share it."""
    host, _, port = address.rpartition(":")
    bare = host.strip("[]")
    family, kind, proto, _, sockaddr = socket.getaddrinfo(
        bare or None, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(sockaddr)
    except BaseException:
        sock.close()
        raise
    return f"{host}:{sock.getsockname()[1]}", sock


DEFAULT_LOG_SOCKET = Path("log.sock")
"""The log process's socket for log reads, inside the data directory."""


def child_settings(
    settings: Settings,
    role: ProcessRole,
    *,
    redis_url: str,
    ports: SharedPorts,
    slot: int = 0,
) -> Settings:
    """The one place where a child's settings are decided from the supervisor's.

    Every child: the one Redis (the embedded server's socket, or REDIS_URL), no workers of its
    own. The log process: shipping 'only' (chDB, migrations, shipper, privacy sweep), a private
    loopback listener. A worker: shipping and the sweep off, the shared concrete ports, and a
    buffer stream of its own by slot (unless one is configured), so workers do not contend on
    one stream. With the embedded chDB (no CLICKHOUSE_URL), the log process serves log reads on
    a unix socket in the data directory and the workers answer log queries through it; with a
    ClickHouse server every process reads it directly."""
    log_socket = None if settings.clickhouse_url else (settings.log_socket or DEFAULT_LOG_SOCKET)
    common = replace(settings, redis_url=redis_url, workers=0, log_socket=log_socket)
    if role is ProcessRole.LOG:
        return replace(common, ship_events="only", listen=LOG_LISTEN, mtls_listen=None)
    if role is not ProcessRole.WORKER:
        raise ValueError(f"a supervisor starts workers and a log process, not {role}")
    shard = settings.event_shard
    return replace(
        common,
        ship_events="off",
        privacy_sweep_interval_seconds=0.0,
        listen=ports.listen,
        mtls_listen=ports.mtls_listen,
        event_shard=slot % settings.event_shards if shard is None else shard,
    )


class ChildFailed(Exception):
    """A child exited, or did not serve in time, before it was ready."""


@dataclass(eq=False)
class Child:
    """One supervised process slot: the process in it now, and its history of crashes."""

    name: str
    role: ProcessRole
    settings: Settings
    proc: asyncio.subprocess.Process | None = None
    ready_at: float | None = None
    down_since: float | None = field(default_factory=time.monotonic)
    """Since when this slot has had no serving process (monotonic); ``None`` while it serves."""
    crashes: deque[float] = field(default_factory=deque)
    consecutive: int = 0

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self, *, ready_within: float = READY_TIMEOUT) -> None:
        """Start the process and wait until it serves (its line on the ready pipe)."""
        loop = asyncio.get_running_loop()
        read_fd, write_fd = os.pipe()
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "authority.process.child", self.role.value,
                "--name", self.name, "--parent", str(os.getpid()), "--ready-fd", str(write_fd),
                stdin=asyncio.subprocess.PIPE,
                pass_fds=(write_fd,),
                # Its own process group: a terminal's Ctrl-C reaches the supervisor only, which
                # then stops the children in order (workers, log process, Redis).
                process_group=0,
            )  # fmt: skip
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        self.ready_at = None
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
        )
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(self.settings.environment()).encode())
            with contextlib.suppress(ConnectionError):  # it died at once: EOF below says so
                await self.proc.stdin.drain()
            self.proc.stdin.close()
            try:
                line = await asyncio.wait_for(reader.readline(), ready_within)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
                why = f"{self.name} did not serve within {ready_within:.0f} s"
                raise ChildFailed(why) from None
        finally:
            transport.close()
        if not line:
            code = await self.proc.wait()
            raise ChildFailed(f"{self.name} exited with {code} before serving")
        self.ready_at = time.monotonic()
        self.down_since = None

    def record_crash(self) -> None:
        now = time.monotonic()
        self.down_since = now
        self.crashes.append(now)
        while self.crashes and now - self.crashes[0] > CRASH_WINDOW:
            self.crashes.popleft()
        stable = self.ready_at is not None and now - self.ready_at >= STABLE_AFTER
        self.consecutive = 1 if stable else self.consecutive + 1

    @property
    def crash_looping(self) -> bool:
        return len(self.crashes) > CRASH_LIMIT

    @property
    def backoff(self) -> float:
        return float(min(BACKOFF_FIRST * 2 ** max(self.consecutive - 1, 0), BACKOFF_MAX))

    async def stop(self, *, kill_after: float) -> None:
        """SIGTERM (the child drains), SIGKILL after ``kill_after`` seconds."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        code: int | None = None
        with contextlib.suppress(TimeoutError):
            code = await asyncio.wait_for(proc.wait(), kill_after)
        if code is None:
            log.error("child did not stop in time: killed", extra={"child": self.name})
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            code = await proc.wait()
        if code != 0:
            log.warning("child stopped with an error", extra={"child": self.name, "code": code})


class Supervisor:
    def __init__(self, settings: Settings, *, workers: int) -> None:
        if workers < 1:
            raise ValueError("a supervisor runs at least one worker")
        self.settings = settings
        self._count = workers
        self._stop = asyncio.Event()
        self._stopping = False
        self._failure: str | None = None
        self._verdict: ClusterVerdict | None = None
        self._health_file = cluster_health_path(settings.data_dir)
        self._log: Child | None = None
        self._workers: list[Child] = []
        self._ports: SharedPorts | None = None

    async def run(self, *, install_signal_handlers: bool = True) -> int:
        """Serve until SIGTERM/SIGINT; 0 after an orderly stop, 1 when a child could not start
        or crash-looped."""
        if install_signal_handlers:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._stop.set)
        data_dir = self.settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        embedded: EmbeddedRedis | None = None
        self._ports = SharedPorts.reserve(self.settings)
        try:
            redis_url = self.settings.redis_url
            if not redis_url:
                embedded = EmbeddedRedis(
                    data_dir,
                    binary=self.settings.redis_server,
                    appendfsync=self.settings.redis_appendfsync,
                )
                redis_url = embedded.start()  # on the loop's thread: see ProcessCore.open
            self._publish(ClusterVerdict(serving=False, why="starting"))
            self._log = Child(
                "log",
                ProcessRole.LOG,
                child_settings(
                    self.settings, ProcessRole.LOG, redis_url=redis_url, ports=self._ports
                ),
            )
            self._workers = [
                Child(
                    f"worker-{slot}",
                    ProcessRole.WORKER,
                    child_settings(
                        self.settings,
                        ProcessRole.WORKER,
                        redis_url=redis_url,
                        ports=self._ports,
                        slot=slot,
                    ),
                )
                for slot in range(self._count)
            ]
            await self._serve()
        finally:
            self._ports.close()
            if embedded is not None:
                embedded.stop()
        if self._failure is not None:
            log.error("supervisor stopped", extra={"why": self._failure})
            return 1
        log.info("supervisor stopped")
        return 0

    async def _serve(self) -> None:
        assert self._log is not None
        children = [self._log, *self._workers]
        keepers: list[asyncio.Task[None]] = []
        watcher: asyncio.Task[None] | None = None
        startup = asyncio.ensure_future(self._start_all())
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({startup, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not startup.done():  # stopped while starting
                startup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await startup
                except ChildFailed as exc:
                    self._fail(str(exc))
            if self._stop.is_set():
                return
            keepers = [asyncio.create_task(self._keep(child)) for child in children]
            watcher = asyncio.create_task(self._judge_health())
            self._write_server_info()
            log.info(
                "supervisor serving",
                extra={
                    "target": local_target(self.settings.listen_host_port[0], self._port),
                    "workers": [w.pid for w in self._workers],
                    "log_pid": self._log.pid,
                },
            )
            await stopped
        finally:
            for task in (startup, stopped):
                task.cancel()
            await self._shutdown(keepers, watcher)

    @property
    def _port(self) -> int:
        assert self._ports is not None
        return self._ports.port

    async def _start_all(self) -> None:
        assert self._log is not None
        # The log process alone first: it creates the keys, the admin credential and the schema
        # that the workers then only read (no two processes racing to create a key file).
        await self._log.start()
        log.info("log process serving", extra={"pid": self._log.pid})
        # Each worker's health turns SERVING when it serves: none waits for its siblings.
        self._publish(ClusterVerdict(serving=True))
        await asyncio.gather(*(w.start() for w in self._workers))
        for w in self._workers:
            log.info("worker serving", extra={"child": w.name, "pid": w.pid})

    def _fail(self, why: str) -> None:
        if self._failure is None:
            self._failure = why
        self._stop.set()

    async def _keep(self, child: Child) -> None:
        """Restart ``child`` whenever it dies, until the supervisor stops."""
        while True:
            assert child.proc is not None
            old_pid = child.proc.pid
            code = await child.proc.wait()
            if self._stopping:
                return
            child.record_crash()
            crashes = len(child.crashes)
            log.error(
                "child died",
                extra={"child": child.name, "pid": old_pid, "code": code, "crashes": crashes},
            )
            if child.crash_looping:
                self._fail(f"{child.name} crash loop: {crashes} crashes in {CRASH_WINDOW:.0f} s")
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), child.backoff)
            if self._stop.is_set():
                return
            failed: ChildFailed | None = None
            try:
                await child.start()
            except ChildFailed as exc:
                failed = exc
            if failed is not None:  # its exit counts as the next crash
                log.error("child restart failed", extra={"child": child.name, "why": str(failed)})
                continue
            log.warning(
                "child restarted", extra={"child": child.name, "pid": child.pid, "old_pid": old_pid}
            )
            self._write_server_info()

    def _judgement(self) -> ClusterVerdict:
        if self._stopping:
            return ClusterVerdict(serving=False, why="supervisor draining")
        down_since = self._log.down_since if self._log is not None else None
        if down_since is not None:
            down = time.monotonic() - down_since
            if down >= self.settings.log_down_seconds:
                return ClusterVerdict(serving=False, why=f"log process down for {down:.0f} s")
        return ClusterVerdict(serving=True)

    async def _judge_health(self) -> None:
        while True:
            self._publish(self._judgement())
            await asyncio.sleep(VERDICT_INTERVAL)

    def _publish(self, verdict: ClusterVerdict) -> None:
        if verdict == self._verdict:
            return
        write_verdict(self._health_file, verdict)
        if self._verdict is not None:
            level = logging.INFO if verdict.serving else logging.ERROR
            log.log(level, "cluster health", extra={"serving": verdict.serving, "why": verdict.why})
        self._verdict = verdict

    def _write_server_info(self) -> None:
        assert self._log is not None
        write_server_info(
            self.settings.data_dir,
            target=local_target(self.settings.listen_host_port[0], self._port),
            tls=self.settings.tls_enabled,
            workers=[pid for w in self._workers if (pid := w.pid) is not None],
            log_pid=self._log.pid,
        )

    async def _shutdown(
        self, keepers: list[asyncio.Task[None]], watcher: asyncio.Task[None] | None
    ) -> None:
        self._stopping = True
        for task in [*keepers, *([watcher] if watcher is not None else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._publish(ClusterVerdict(serving=False, why="supervisor draining"))
        timeout = self.settings.grace_seconds + STOP_MARGIN
        log.info("draining workers", extra={"grace_seconds": self.settings.grace_seconds})
        await asyncio.gather(*(w.stop(kill_after=timeout) for w in self._workers))
        if self._log is not None:  # after the workers: it ships their last events
            await self._log.stop(kill_after=timeout)
        (self.settings.data_dir / SERVER_INFO_FILE).unlink(missing_ok=True)
        self._health_file.unlink(missing_ok=True)
