"""``authority health``: is the server SERVING (gRPC health checking)?"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from authority.cli.output import EXIT_FAILED, EXIT_OK, print_json
from authority.cli.rpc import calls_authority
from authority.client.authority import AuthorityClient

_SERVING = 1
_STATUS_NAMES = {_SERVING: "SERVING", 2: "NOT_SERVING"}


def _health(c: AuthorityClient, ns: argparse.Namespace) -> int:
    status = c.check_health()
    name = _STATUS_NAMES.get(status, "UNKNOWN")
    if ns.json:
        print_json({"status": name}, indent=None)
    else:
        print(name)
    return EXIT_OK if status == _SERVING else EXIT_FAILED


def _health_options(p: argparse.ArgumentParser) -> None:
    calls_authority(p, _health)


COMMANDS: dict[str, Callable[[argparse.ArgumentParser], None]] = {"health": _health_options}
"""Each command's options and handler, on the parser ``authority.cli.main`` made for it."""
