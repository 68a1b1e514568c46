"""``authority`` command line: run the server and every operator task.

Subcommands talk to a running server over gRPC (admin credential from the data directory or
``--credential``) except ``serve``, ``config`` and ``keys``, which work on the local data directory.

This module only builds the top-level parser from the command groups (one module each, with a
``register(subparsers)``) and dispatches to the handler the parsed command names.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from authority.cli import (
    audit,
    backup,
    demo,
    directory,
    fleet,
    grant,
    health,
    identity,
    keys,
    logs,
    privacy,
    serve,
)
from authority.cli.output import EXIT_INTERRUPTED, EXIT_USAGE, print_error
from authority.domain.errors import PRODUCT_ERRORS

COMMAND_GROUPS = (
    serve,
    keys,
    demo,
    directory,
    grant,
    health,
    fleet,
    identity,
    logs,
    audit,
    privacy,
    backup,
)
"""In the order ``authority --help`` lists their commands."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="authority", description="Access authority for digital door keys."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    try:
        return int(ns.func(ns))
    except PRODUCT_ERRORS as exc:
        print_error(exc)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
