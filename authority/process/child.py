"""The entry point of a supervisor's child: ``python -m authority.process.child``.

A fresh interpreter (the supervisor never forks itself: it may run an event loop, and a forked
grpc is not safe). The supervisor hands over:

* the child's settings as JSON on stdin, in the form of ``Settings.environment()`` (exactly what
  the supervisor decided, and secrets stay out of ``/proc/<pid>/environ``);
* ``--ready-fd``: a pipe on which the child writes one JSON line once it serves (its ports);
* ``--parent``: the supervisor's pid. The child asks the kernel for SIGTERM when its parent dies
  (``PR_SET_PDEATHSIG``: a killed supervisor leaves nothing behind; SIGTERM, so the child still
  drains) and exits at once if the parent is already gone (the server's modules, grpc and chDB
  among them, are imported before that check: a parent that dies meanwhile is still noticed).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import signal
import sys

from authority.process.cluster_health import ClusterHealthFile, cluster_health_path
from authority.process.config import Settings
from authority.process.event_loop import run_event_loop
from authority.process.observability import configure_logging
from authority.process.roles import ProcessRole
from authority.process.serve import RunningServer, serve

_PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took effect
        sys.exit(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m authority.process.child")
    parser.add_argument("role", choices=[ProcessRole.WORKER.value, ProcessRole.LOG.value])
    parser.add_argument("--name", required=True, help="the supervisor's name for this child")
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--ready-fd", type=int, required=True)
    ns = parser.parse_args(argv)
    _die_with(ns.parent)
    environment = json.loads(sys.stdin.read())

    settings = Settings.load(environ=environment)
    fields = {"proc": ns.name, "pid": os.getpid()}
    configure_logging(fmt=settings.log_format, level=settings.log_level, fields=fields)
    role = ProcessRole(ns.role)
    ready = os.fdopen(ns.ready_fd, "w")

    def on_ready(running: RunningServer) -> None:
        ready.write(json.dumps({"port": running.port, "mtls_port": running.mtls_port}) + "\n")
        ready.close()

    gate = ClusterHealthFile(cluster_health_path(settings.data_dir))
    run_event_loop(
        serve(
            settings,
            on_ready=on_ready,
            process=role,
            health_gate=gate if role is ProcessRole.WORKER else None,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
