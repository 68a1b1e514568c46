"""``authority health``: is the server SERVING (gRPC health checking)?"""

from __future__ import annotations

import argparse
from typing import Any

from authority.cli.output import EXIT_FAILED, EXIT_OK, print_json
from authority.cli.rpc import add_authority_command
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


def register(sub: Any) -> None:
    """``health``."""
    add_authority_command(sub, "health", "check the server's health (exit 0 when SERVING)", _health)
