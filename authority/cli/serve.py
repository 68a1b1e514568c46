"""``authority serve``: run the gRPC server, one process or a supervisor of workers."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable

from authority.cli.local_settings import add_data_dir_option, load_settings
from authority.cli.output import EXIT_OK
from authority.process.event_loop import run_event_loop
from authority.process.observability import configure_logging
from authority.process.serve import serve
from authority.process.supervisor import Supervisor, worker_count


def cmd_serve(ns: argparse.Namespace) -> int:
    """A supervisor of workers and a log process (the default: one worker per CPU), or with
    ``--workers 0`` (and for a bulk or shipping-split process) one process doing everything."""
    settings = load_settings(ns)
    workers = worker_count(settings)
    if workers:
        configure_logging(
            fmt=settings.log_format,
            level=settings.log_level,
            fields={"proc": "supervisor", "pid": os.getpid()},
        )
        # The standard loop: the supervisor serves no calls, and its children are spawned and
        # reaped through asyncio's subprocess support.
        return asyncio.run(Supervisor(settings, workers=workers).run())
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    run_event_loop(serve(settings))
    return EXIT_OK


def _serve_options(p: argparse.ArgumentParser) -> None:
    add_data_dir_option(p)
    p.add_argument("--listen", help="host:port (AUTHORITY_LISTEN), default 127.0.0.1:50051")
    p.add_argument("--redis-url", help="external Redis (REDIS_URL)")
    p.add_argument("--log-format", choices=["auto", "json", "console"])
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument(
        "--ship-events",
        choices=["on", "off", "only"],
        help="access-log shipping (AUTHORITY_SHIP_EVENTS): on (default) serve and ship; off "
        "serve, another process ships; only ship and serve log queries (needs REDIS_URL)",
    )
    p.add_argument(
        "--role",
        choices=["all", "bulk"],
        help="(AUTHORITY_ROLE) all (default) every service; bulk only the grant service, at a "
        "lower CPU priority, for imports beside the unlock processes (needs REDIS_URL)",
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="(AUTHORITY_WORKERS) worker processes on the listen port behind a supervisor, "
        "beside one log process; default one per CPU; 0: one process doing everything",
    )
    p.set_defaults(func=cmd_serve)


COMMANDS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "serve": _serve_options,
}
"""Each command's options and handler, on the parser ``authority.cli.main`` made for it."""
