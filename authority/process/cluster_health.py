"""What the supervisor tells its workers about the whole: one small file in the data directory.

Each worker's own health follows its own dependencies (Redis, the buffer). A load balancer checks
the *shared* port and reaches any worker, so every worker must also answer for the whole: NOT
SERVING while the supervisor drains, or while the log process has been down for long
(``log_down_seconds``). The supervisor decides and writes the verdict here (atomically, on
change); each worker reads it on every health tick (``server.HEALTH_INTERVAL``). A file, rather
than a Redis key, because the verdict is about this host's processes (several hosts may share one
Redis) and must be readable when Redis is not; a missing or unreadable file reads NOT_SERVING.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

CLUSTER_HEALTH_FILE = "cluster-health.json"


@dataclass(frozen=True, slots=True)
class ClusterVerdict:
    serving: bool
    why: str = ""
    """Why not, for the workers' logs (empty when serving)."""


def cluster_health_path(data_dir: Path) -> Path:
    return data_dir / CLUSTER_HEALTH_FILE


def write_verdict(path: Path, verdict: ClusterVerdict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps({"serving": verdict.serving, "why": verdict.why}))
    os.replace(tmp, path)


class ClusterHealthFile:
    """The workers' side: a ``server.HealthGate`` reading the supervisor's verdict."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def why_not_serving(self) -> str | None:
        # A read of a few bytes from the page cache once a second: not worth a thread hop.
        try:
            raw = json.loads(self._path.read_text())
        except (OSError, ValueError):
            return f"no verdict from the supervisor ({self._path.name} unreadable)"
        if raw.get("serving") is True:
            return None
        return str(raw.get("why") or "the supervisor says not serving")
