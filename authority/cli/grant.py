"""``authority grant issue | revoke | list`` (one grant at a time; whole rosters are
``authority grants``, in ``fleet.py``) and ``authority unlock`` (the key holder's side of a
grant), over gRPC."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime

from authority.cli.iso_time import parse_iso_time
from authority.cli.output import (
    EXIT_OK,
    EXIT_REFUSED,
    message_dict,
    new_table,
    print_json,
    show,
    show_message,
)
from authority.cli.rpc import add_authority_command, calls_authority
from authority.client.authority import AuthorityClient
from authority.domain.schedule import parse_window
from authority.v1 import authority_pb2 as pb


def _time(text: str) -> datetime:
    return parse_iso_time(
        text, error=f"{text!r} is not an ISO 8601 time, e.g. 2027-01-31T00:00:00+01:00"
    )


def _grant_issue(c: AuthorityClient, ns: argparse.Namespace) -> int:
    grant = c.issue_grant(
        key_holder_id=ns.holder,
        door_id=ns.door or "",
        site_id=ns.site or "",
        organisation_id=ns.organisation or "",
        valid_until=_time(ns.until),
        valid_from=_time(ns.valid_from) if ns.valid_from else None,
        windows=[parse_window(w) for w in ns.window or []],
    )
    show_message(grant, "grant issued", as_json=ns.json)
    return EXIT_OK


def _grant_revoke(c: AuthorityClient, ns: argparse.Namespace) -> int:
    show_message(c.revoke_grant(ns.grant_id), "grant revoked", as_json=ns.json)
    return EXIT_OK


def _grant_list(c: AuthorityClient, ns: argparse.Namespace) -> int:
    resp = c.list_grants(ns.holder)
    rows = [message_dict(g) for g in resp.grants]
    if ns.json:
        print_json(rows)
        return EXIT_OK
    table = new_table(
        f"grants of {ns.holder}",
        ("grant_id", "door/site", "organisation", "valid_from", "valid_until", "revoked"),
    )
    for r in rows:
        table.add_row(
            r["grant_id"],
            r.get("door_id") or "site " + r.get("site_id", ""),
            r["organisation_id"],
            r["valid_from"],
            r["valid_until"],
            r.get("revoked_at", ""),
        )
    show(table)
    return EXIT_OK


def _unlock(c: AuthorityClient, ns: argparse.Namespace) -> int:
    resp = c.request_unlock(
        ns.door, bytes.fromhex(ns.challenge) if ns.challenge else b"", offline=ns.offline
    )
    show_message(resp, "unlock decision", as_json=ns.json)
    return EXIT_OK if resp.decision == pb.DECISION_ALLOW else EXIT_REFUSED


def _grant_commands(parent: argparse.ArgumentParser) -> None:
    grant = parent.add_subparsers(dest="grant", required=True)
    p = add_authority_command(grant, "issue", "issue a grant", _grant_issue)
    p.add_argument("--holder", required=True)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--door")
    target.add_argument("--site")
    p.add_argument("--organisation")
    p.add_argument("--from", dest="valid_from", help="ISO 8601 start (default now)")
    p.add_argument("--until", required=True, help="ISO 8601 end")
    p.add_argument(
        "--window", action="append", help="weekly window, e.g. 'Mon-Fri 06:00-09:00' (repeatable)"
    )
    p = add_authority_command(grant, "revoke", "revoke a grant", _grant_revoke)
    p.add_argument("grant_id")
    p = add_authority_command(grant, "list", "list a key holder's grants", _grant_list)
    p.add_argument("--holder", required=True)


def _unlock_options(p: argparse.ArgumentParser) -> None:
    calls_authority(p, _unlock)
    p.add_argument("--door", required=True)
    p.add_argument("--challenge", help="relay challenge, hex")
    p.add_argument(
        "--offline", action="store_true", help="ask for an offline token (device key registered)"
    )


COMMANDS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "grant": _grant_commands,
    "unlock": _unlock_options,
}
"""Each command's options and handler, on the parser ``authority.cli.main`` made for it."""
