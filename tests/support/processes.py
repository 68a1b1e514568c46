"""``authority serve`` as a real process on a free port, its stderr kept in a log beside its
data directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from authority.client.authority import AuthorityClient
from tests.conftest import free_port


class ServerProcess:
    def __init__(
        self, data_dir: Path, *, redis_url: str | None = None, args: Sequence[str] = ()
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        env = {**os.environ, "AUTHORITY_LOG_FORMAT": "json", "AUTHORITY_GRACE_SECONDS": "10"}
        env.pop("REDIS_URL", None)
        if redis_url:
            env["REDIS_URL"] = redis_url
        self.log = data_dir.parent / f"server-{self.port}.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "server.json").unlink(missing_ok=True)  # left by a killed predecessor
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "authority", "serve", "--data-dir", str(data_dir),
                 "--listen", f"127.0.0.1:{self.port}", *args],
                env=env, stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        info: dict[str, object] | None = None
        while info is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{self.log.read_text()}")
            try:  # the server may be half-way through writing it
                info = json.loads((data_dir / "server.json").read_text())
            except (OSError, ValueError):
                time.sleep(0.05)
        self.target = str(info["target"])
        self.admin = AuthorityClient(
            self.target, credential=(data_dir / "admin.credential").read_text().strip()
        )

    def stop(self) -> int:
        self.admin.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)
