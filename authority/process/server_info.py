"""``<data_dir>/server.json``: how local tools (the CLI, the demo, the benchmark) find the server
on this machine. Written by whoever answers on the listen port: a single process, or the
supervisor of the workers (never a worker: it is one of several, and restarts)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

SERVER_INFO_FILE = "server.json"


def local_target(listen_host: str, port: int) -> str:
    return f"{listen_host or '127.0.0.1'}:{port}"


def write_server_info(
    data_dir: Path,
    *,
    target: str,
    tls: bool,
    workers: Sequence[int] | None = None,
    log_pid: int | None = None,
) -> Path:
    """Atomically (a reader never sees half a file), with this process's pid; ``workers`` and
    ``log_pid`` from a supervisor (what the benchmark sums CPU over)."""
    info: dict[str, object] = {"target": target, "pid": os.getpid(), "tls": tls}
    if workers is not None:
        info["workers"] = list(workers)
    if log_pid is not None:
        info["log_pid"] = log_pid
    path = data_dir / SERVER_INFO_FILE
    tmp = path.with_name(f".{SERVER_INFO_FILE}.{os.getpid()}")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, path)
    return path
