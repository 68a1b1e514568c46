"""A private redis-server owned by the authority process (the zero-configuration default).

It listens only on a unix socket inside the data directory (mode 0700: no network exposure, least
privilege), persists with an append-only file fsync'd before each reply (``appendfsync always``:
an acknowledged revocation survives a crash), and dies with its parent (``PR_SET_PDEATHSIG``), so a
SIGKILLed authority leaves no orphan holding the data directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from authority.domain.errors import FailedPrecondition, Unavailable

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedRedis:
    def __init__(
        self, data_dir: Path, *, binary: str = "redis-server", appendfsync: str = "always"
    ) -> None:
        # Absolute: redis-server changes into --dir before it opens --logfile and --pidfile, so a
        # relative data directory (the default, ``.authority``) would point them elsewhere.
        self.directory = (data_dir / "redis").absolute()
        self.socket_path = self.directory / "redis.sock"
        self._binary = binary
        self._appendfsync = appendfsync
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self, *, timeout: float = 15.0) -> str:
        exe = shutil.which(self._binary)
        if exe is None:
            raise FailedPrecondition(
                f"{self._binary} not found: run `make setup` (installs redis-server) "
                "or set REDIS_URL"
            )
        if len(str(self.socket_path)) > 100:
            raise FailedPrecondition(
                f"data directory path too long for a unix socket: {self.directory}"
            )
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.directory, 0o700)
        self._stop_stale()
        argv = [
            exe,
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.directory),
            "--appendonly", "yes",
            "--appendfsync", self._appendfsync,
            "--save", "",
            "--daemonize", "no",
            "--pidfile", str(self.directory / "redis.pid"),
            "--logfile", str(self.directory / "redis.log"),
            "--protected-mode", "yes",
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl(), no locks taken
            # Its own process group: a terminal's Ctrl-C reaches the authority, which drains
            # (its calls still need Redis) and then stops this server, not both at once.
            process_group=0,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise Unavailable(
                    f"redis-server exited with {self._proc.returncode}; "
                    f"see {self.directory}/redis.log"
                )
            if self._ping():
                log.info("embedded redis-server started", extra={"socket": str(self.socket_path)})
                return self.url
            time.sleep(0.02)
        self.stop()
        raise Unavailable(f"redis-server did not answer within {timeout:.0f}s")

    def _ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(0.5)
                s.connect(str(self.socket_path))
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _stop_stale(self) -> None:
        """A redis-server left from an earlier run on this directory is stopped first."""
        pidfile = self.directory / "redis.pid"
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return
        if b"redis-server" in cmdline and str(self.socket_path).encode() in cmdline:
            log.warning("stopping a stale embedded redis-server", extra={"pid": pid})
            os.kill(pid, signal.SIGTERM)
            for _ in range(250):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.02)

    def stop(self, *, timeout: float = 10.0) -> None:
        """SIGTERM makes redis-server flush and fsync its AOF, then exit."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.info("embedded redis-server stopped")
