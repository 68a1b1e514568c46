"""Shared fixtures: a real redis-server and a real 3-node Redis Cluster on loopback, started once
per test session; an authority gRPC server on port 0 running in a background thread."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from hypothesis import settings

from authority.client.authority import AuthorityClient
from authority.client.tls import ClientTls
from authority.domain.ports.clock import Clock
from authority.process.config import Settings
from authority.process.serve import RunningServer, serve

REDIS_SERVER = shutil.which("redis-server") or "redis-server"

# Servers the tests start as processes (`authority serve`, the CLI) are one process each
# (`--workers 0`): those tests query the access log through the
# server they started, which workers cannot answer. tests/integration/test_workers.py asks for
# workers explicitly.
os.environ["AUTHORITY_WORKERS"] = "0"

# Hypothesis budgets: "ci" (default) keeps `make test` fast; HYPOTHESIS_PROFILE=fuzz runs the
# hostile-input tests (tests/security) at length. Tests with their own @settings keep theirs.
settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile("fuzz", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_cluster_port() -> int:
    """A free port whose cluster-bus port (port + 10000) is free and below 65536 too."""
    import random  # noqa: PLC0415

    for _ in range(1000):
        port = random.randint(20000, 45000)
        if _port_is_free(port) and _port_is_free(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def _start_redis(directory: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    directory.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port)
    for _ in range(1000):
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server on port {port} exited with {proc.returncode}")
        try:
            if client.ping():
                return proc
        except redis.ConnectionError:
            time.sleep(0.01)
    proc.kill()
    raise RuntimeError(f"redis-server on port {port} did not start")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    proc = _start_redis(tmp_path_factory.mktemp("redis"), port)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """A clean single Redis for this test."""
    redis.Redis.from_url(redis_server).flushall()
    return redis_server


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """Three masters with the 16384 slots split between them, formed with CLUSTER MEET."""
    base = tmp_path_factory.mktemp("cluster")
    ports = [free_cluster_port() for _ in range(3)]
    procs = [
        _start_redis(base / str(p), p, "--cluster-enabled", "yes",
                     "--cluster-config-file", f"nodes-{p}.conf", "--cluster-node-timeout", "2000")
        for p in ports
    ]  # fmt: skip
    try:
        clients = [redis.Redis(port=p) for p in ports]
        ranges = [(0, 5460), (5461, 10922), (10923, 16383)]
        for client, (lo, hi) in zip(clients, ranges, strict=True):
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", lo, hi)
        for p in ports[1:]:
            clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", p)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            infos = [c.execute_command("CLUSTER", "INFO") for c in clients]
            texts = [i.decode() if isinstance(i, bytes) else str(i) for i in infos]
            if all("cluster_state:ok" in t and "cluster_known_nodes:3" in t for t in texts):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("redis cluster did not become ready")
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


@pytest.fixture
def cluster_url(redis_cluster: list[int]) -> str:
    for p in redis_cluster:
        redis.Redis(port=p).flushall()
    return f"redis+cluster://127.0.0.1:{redis_cluster[0]}"


@dataclass
class ServerHandle:
    target: str
    admin: AuthorityClient
    admin_credential: str
    running: RunningServer
    loop: asyncio.AbstractEventLoop
    tls: ClientTls | None = None

    def client(self, credential: str | None = None) -> AuthorityClient:
        return AuthorityClient(self.target, credential=credential, tls=self.tls)


def run_server_in_thread(
    settings: Settings, *, tls: ClientTls | None = None, clock: Clock | None = None
) -> Iterator[ServerHandle]:
    """Serve ``settings`` on a thread of its own; clients connect with ``tls`` (the CA and, for
    mTLS, a client certificate) when the server speaks TLS. ``clock``: the server's clock."""
    ready = threading.Event()
    box: dict[str, object] = {}
    stop_holder: dict[str, asyncio.Event] = {}

    def on_ready(running: RunningServer) -> None:
        box["running"] = running
        ready.set()

    async def main() -> None:
        stop_holder["stop"] = asyncio.Event()
        box["loop"] = asyncio.get_running_loop()
        await serve(
            settings,
            on_ready=on_ready,
            stop=stop_holder["stop"],
            install_signal_handlers=False,
            clock=clock,
        )

    def thread_main() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced to the test below
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=thread_main, daemon=True)
    thread.start()
    if not ready.wait(30) or "error" in box:
        raise RuntimeError(f"server did not start: {box.get('error')!r}")
    running = box["running"]
    assert isinstance(running, RunningServer)
    loop = box["loop"]
    assert isinstance(loop, asyncio.AbstractEventLoop)
    credential = (settings.data_dir / "admin.credential").read_text().strip()
    target = f"127.0.0.1:{running.port}"
    admin = AuthorityClient(target, credential=credential, tls=tls)
    try:
        yield ServerHandle(target, admin, credential, running, loop, tls)
    finally:
        admin.close()
        loop.call_soon_threadsafe(stop_holder["stop"].set)
        thread.join(30)


@pytest.fixture
def server(redis_url: str, tmp_path: Path) -> Iterator[ServerHandle]:
    """A real gRPC server on port 0 over a real (clean) Redis."""
    settings = Settings.load(
        {},
        data_dir=tmp_path / "data",
        listen="127.0.0.1:0",
        redis_url=redis_url,
        grace_seconds=2.0,
        log_format="console",
        log_level="WARNING",
    )
    yield from run_server_in_thread(settings)
