"""``authority`` command line: run the server and every operator task.

Subcommands talk to a running server over gRPC (admin credential from the data directory or
``--credential``) except ``serve``, ``config`` and ``keys``, which work on the local data directory.

This module builds the top-level parser (every command's name and one-line help, from
``COMMANDS``) and dispatches. Each command belongs to a group module (``authority.cli.serve``,
``…keys``, ``…logs``, …) whose ``COMMANDS`` add the command's options and handler to its parser;
only the module of the command being run is imported (with ``importlib``, by name), so that
``authority --help`` and each command start without loading what the other commands need
(the gRPC server, Redis, ClickHouse and chDB, PyNaCl, Bumble).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from authority.cli.output import EXIT_INTERRUPTED, EXIT_USAGE, print_error
from authority.domain.errors import PRODUCT_ERRORS


@dataclass(frozen=True)
class Command:
    group: str
    """The module that defines the command's options and runs it (its ``COMMANDS[name]``)."""
    help: str
    """The line ``authority --help`` shows for it."""


COMMANDS: dict[str, Command] = {
    "serve": Command(
        "authority.cli.serve", "run the gRPC server (embedded Redis unless REDIS_URL)"
    ),
    "config": Command(
        "authority.cli.config", "print the effective configuration, secrets redacted"
    ),
    "keys": Command("authority.cli.keys", "token signing keys"),
    "dev-certs": Command(
        "authority.cli.dev_certs",
        "create a local CA, a server certificate and mTLS client certificates (development)",
    ),
    "demo": Command("authority.cli.demo", "run a scripted scenario against a real server"),
    "org": Command("authority.cli.directory", "organisations"),
    "site": Command("authority.cli.directory", "sites (stairwells)"),
    "door": Command("authority.cli.directory", "doors"),
    "relay": Command("authority.cli.directory", "door relays"),
    "holder": Command("authority.cli.directory", "key holders"),
    "grant": Command("authority.cli.grant", "grants (keys)"),
    "unlock": Command(
        "authority.cli.grant", "request an unlock as a key holder (exit 0 on ALLOW, 3 on DENY)"
    ),
    "health": Command("authority.cli.health", "check the server's health (exit 0 when SERVING)"),
    "grants": Command("authority.cli.fleet", "fleet operations on grants (CSV)"),
    "policy": Command("authority.cli.fleet", "the access policy"),
    "authz": Command(
        "authority.cli.identity", "print the authorization table (who may call which RPC)"
    ),
    "account": Command("authority.cli.identity", "staff accounts"),
    "login": Command("authority.cli.identity", "log in (prints a session credential)"),
    "logout": Command("authority.cli.identity", "end the session of --credential"),
    "session": Command("authority.cli.identity", "login sessions"),
    "activation": Command(
        "authority.cli.identity", "a one-time activation code for a key holder's app"
    ),
    "login-policy": Command("authority.cli.identity", "lockout and two-factor rules"),
    "credential": Command("authority.cli.identity", "API and bridge credentials"),
    "logs": Command(
        "authority.cli.logs", "the access log: queries, aggregates, a site's organisations"
    ),
    "owner-requests": Command("authority.cli.logs", "site owners' requests for access logs"),
    "audit": Command(
        "authority.cli.audit", "verify the access log's hash chains and signed checkpoints"
    ),
    "privacy": Command(
        "authority.cli.privacy", "personal data: profiles, export, erasure, restriction, consent"
    ),
    "backup": Command(
        "authority.cli.backup", "archive the Redis state and the keys (keys encrypted; 0600)"
    ),
    "restore": Command(
        "authority.cli.backup", "restore an archive, then re-apply every erasure (server stopped)"
    ),
}
"""Every command, in the order ``authority --help`` lists them."""


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``authority`` parser. With ``argv``, only the command it names (if any) gets its
    options, and only that command's group module is imported; without, every command does."""
    parser = argparse.ArgumentParser(
        prog="authority", description="Access authority for digital door keys."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    chosen = None if argv is None else (argv[0] if argv else "")
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.help)
        if chosen is None or chosen == name:
            importlib.import_module(command.group).COMMANDS[name](p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    ns = build_parser(args).parse_args(args)
    try:
        return int(ns.func(ns))
    except PRODUCT_ERRORS as exc:
        print_error(exc)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
