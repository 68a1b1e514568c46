"""Operator subcommands that talk to a running server over gRPC.

The server is found through ``<data_dir>/server.json`` (written by ``authority serve``) unless
``--target`` is given; the admin credential is read from ``<data_dir>/admin.credential`` unless
``--credential`` (or ``AUTHORITY_CREDENTIAL``) is given.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table

from authority.cli.fleet import add_fleet_commands, holders_create_many, site_block
from authority.client.authority import AuthorityClient, Connection, add_connection_arguments
from authority.domain.errors import InvalidArgument
from authority.domain.schedule import parse_window
from authority.v1 import authority_pb2 as pb

console = Console()
DEFAULT_DATA_DIR = Path(".authority")

PURPOSES = {
    "postal": pb.PURPOSE_POSTAL,
    "delivery": pb.PURPOSE_DELIVERY,
    "public_service": pb.PURPOSE_PUBLIC_SERVICE,
    "private": pb.PURPOSE_PRIVATE,
}
ORG_STATUSES = {
    "approved": pb.ORGANISATION_STATUS_APPROVED,
    "rejected": pb.ORGANISATION_STATUS_REJECTED,
    "suspended": pb.ORGANISATION_STATUS_SUSPENDED,
}
HOLDER_STATUSES = {
    "active": pb.KEY_HOLDER_STATUS_ACTIVE,
    "suspended": pb.KEY_HOLDER_STATUS_SUSPENDED,
}


def _client(ns: argparse.Namespace) -> AuthorityClient:
    conn = Connection.from_args(ns, os.environ)
    return AuthorityClient(conn.target, credential=conn.credential, tls=conn.tls)


def _output(ns: argparse.Namespace, message: Message, title: str) -> None:
    data = MessageToDict(message, preserving_proto_field_name=True)
    if ns.json:
        print(json.dumps(data, indent=2))
        return
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in data.items():
        table.add_row(key, value if isinstance(value, str) else json.dumps(value))
    console.print(table)


def _time(text: str) -> datetime:
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidArgument(
            f"{text!r} is not an ISO 8601 time, e.g. 2027-01-31T00:00:00+01:00"
        ) from exc
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _wrap(
    fn: Callable[[AuthorityClient, argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    def run(ns: argparse.Namespace) -> int:
        client = _client(ns)
        try:
            return fn(client, ns)
        except grpc.RpcError as exc:
            code = exc.code().name if hasattr(exc, "code") else "ERROR"
            detail = exc.details() if hasattr(exc, "details") else str(exc)
            console.print(f"[red]{code}[/]: {detail}")
            return 1
        finally:
            client.close()

    return run


def _org_create(c: AuthorityClient, ns: argparse.Namespace) -> int:
    resp = c.create_organisation(
        name=ns.name,
        cvr=ns.cvr or "",
        se=ns.se or "",
        public_body=ns.public_body,
        purpose=PURPOSES[ns.purpose],
    )
    _output(ns, resp, "organisation created (the API credential is shown only now)")
    return 0


def _org_status(c: AuthorityClient, ns: argparse.Namespace) -> int:
    _output(
        ns,
        c.set_organisation_status(ns.organisation_id, ORG_STATUSES[ns.status], ns.reason or ""),
        "organisation",
    )
    return 0


def _site_create(c: AuthorityClient, ns: argparse.Namespace) -> int:
    site = c.create_site(
        address=ns.address,
        owner_id=ns.owner,
        time_zone=ns.time_zone or "",
        offline_allowed=ns.offline,
    )
    _output(ns, site, "site created")
    return 0


def _hex_key(text: str | None, flag: str) -> bytes:
    if not text:
        return b""
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise InvalidArgument(f"{flag} must be hex (64 hex digits for an Ed25519 key)") from exc


def _door_create(c: AuthorityClient, ns: argparse.Namespace) -> int:
    door = c.create_door(
        door_id=ns.door_id,
        site_id=ns.site,
        relay_id=ns.relay,
        label=ns.label or "",
        relay_public_key=_hex_key(ns.relay_public_key, "--relay-public-key"),
    )
    _output(ns, door, "door created")
    return 0


def _door_set_relay_key(c: AuthorityClient, ns: argparse.Namespace) -> int:
    door = c.set_door_relay_key(
        ns.door_id, _hex_key(ns.relay_public_key, "--relay-public-key"), ns.relay or ""
    )
    _output(ns, door, "relay key set")
    return 0


def _relay_notice(c: AuthorityClient, ns: argparse.Namespace) -> int:
    resp = c.revocation_notice(ns.door)
    if ns.json:
        print(
            json.dumps(
                {
                    "relay_id": resp.relay_id,
                    "epoch": resp.epoch,
                    "issued_at": resp.issued_at.seconds,
                    "notice_hex": resp.notice.hex(),
                }
            )
        )
    else:
        print(resp.notice.hex())
    return 0


def _holder_create(c: AuthorityClient, ns: argparse.Namespace) -> int:
    if ns.count:
        if not ns.output:
            raise InvalidArgument("--count needs --output FILE for the key holder ids")
        return holders_create_many(c, ns)
    _output(
        ns,
        c.create_key_holder(ns.organisation or ""),
        "key holder created (its app logs in: issue it an activation code)",
    )
    return 0


def _holder_status(c: AuthorityClient, ns: argparse.Namespace) -> int:
    _output(ns, c.set_key_holder_status(ns.key_holder_id, HOLDER_STATUSES[ns.status]), "key holder")
    return 0


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
    _output(ns, grant, "grant issued")
    return 0


def _grant_revoke(c: AuthorityClient, ns: argparse.Namespace) -> int:
    _output(ns, c.revoke_grant(ns.grant_id), "grant revoked")
    return 0


def _grant_list(c: AuthorityClient, ns: argparse.Namespace) -> int:
    resp = c.list_grants(ns.holder)
    rows = [MessageToDict(g, preserving_proto_field_name=True) for g in resp.grants]
    if ns.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title=f"grants of {ns.holder}")
    for col in ("grant_id", "door/site", "organisation", "valid_from", "valid_until", "revoked"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["grant_id"],
            r.get("door_id") or "site " + r.get("site_id", ""),
            r["organisation_id"],
            r["valid_from"],
            r["valid_until"],
            r.get("revoked_at", ""),
        )
    console.print(table)
    return 0


def _unlock(c: AuthorityClient, ns: argparse.Namespace) -> int:
    resp = c.request_unlock(
        ns.door, bytes.fromhex(ns.challenge) if ns.challenge else b"", offline=ns.offline
    )
    _output(ns, resp, "unlock decision")
    return 0 if resp.decision == pb.DECISION_ALLOW else 3


def _health(c: AuthorityClient, ns: argparse.Namespace) -> int:
    status = c.check_health()
    name = {1: "SERVING", 2: "NOT_SERVING"}.get(status, "UNKNOWN")
    print(json.dumps({"status": name}) if ns.json else name)
    return 0 if status == 1 else 1


def add_client_commands(sub: Any) -> None:
    def client_parser(
        parent: Any, name: str, help_: str, fn: Callable[[AuthorityClient, argparse.Namespace], int]
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help_)
        add_connection_arguments(p)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(func=_wrap(fn))
        return p

    org = sub.add_parser("org", help="organisations").add_subparsers(dest="org", required=True)
    p = client_parser(
        org, "create", "register an organisation (PENDING until approved)", _org_create
    )
    p.add_argument("--name", required=True)
    ident = p.add_mutually_exclusive_group(required=True)
    ident.add_argument("--cvr")
    ident.add_argument("--se")
    ident.add_argument("--public-body", action="store_true")
    p.add_argument("--purpose", choices=sorted(PURPOSES), required=True)
    p = client_parser(org, "set-status", "approve, reject or suspend an organisation", _org_status)
    p.add_argument("organisation_id")
    p.add_argument("--status", choices=sorted(ORG_STATUSES), required=True)
    p.add_argument("--reason")

    site = sub.add_parser("site", help="sites (stairwells)").add_subparsers(
        dest="site", required=True
    )
    p = client_parser(site, "create", "register a site", _site_create)
    p.add_argument("--address", required=True)
    p.add_argument("--owner", required=True, help="site owner id")
    p.add_argument("--time-zone")
    p.add_argument("--offline", action="store_true", help="owner allows offline access")
    for verb, blocked in (("block", True), ("unblock", False)):
        p = client_parser(
            site,
            verb,
            f"{verb} an organisation at a site (site owner credential, or admin)",
            site_block,
        )
        p.add_argument("site_id")
        p.add_argument("--organisation", required=True)
        p.set_defaults(block=blocked)

    door = sub.add_parser("door", help="doors").add_subparsers(dest="door", required=True)
    p = client_parser(door, "create", "register a door and its relay", _door_create)
    p.add_argument("--door-id", required=True)
    p.add_argument("--site", required=True)
    p.add_argument("--relay", required=True)
    p.add_argument("--label")
    p.add_argument(
        "--relay-public-key", metavar="HEX", help="the relay's Ed25519 public key (32 bytes, hex)"
    )
    p = client_parser(
        door,
        "set-relay-key",
        "register or replace a door's relay key (relay installed or replaced)",
        _door_set_relay_key,
    )
    p.add_argument("door_id")
    p.add_argument("--relay-public-key", metavar="HEX", required=True, help="32 bytes, hex")
    p.add_argument("--relay", help="the new relay's id, if it has another identity")

    relay = sub.add_parser("relay", help="door relays").add_subparsers(dest="relay", required=True)
    p = client_parser(
        relay,
        "notice",
        "print the signed revocation-epoch notice for a door's relay (hex)",
        _relay_notice,
    )
    p.add_argument("--door", required=True)

    holder = sub.add_parser("holder", help="key holders").add_subparsers(
        dest="holder", required=True
    )
    p = client_parser(
        holder, "create", "register a key holder (or --count of them)", _holder_create
    )
    p.add_argument("--organisation")
    p.add_argument("--count", type=int, help="register this many (fleet onboarding)")
    p.add_argument(
        "--output", type=Path, help="with --count: CSV of the new key holder ids (created 0600)"
    )
    p = client_parser(holder, "set-status", "suspend or reactivate a key holder", _holder_status)
    p.add_argument("key_holder_id")
    p.add_argument("--status", choices=sorted(HOLDER_STATUSES), required=True)

    grant = sub.add_parser("grant", help="grants (keys)").add_subparsers(
        dest="grant", required=True
    )
    p = client_parser(grant, "issue", "issue a grant", _grant_issue)
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
    p = client_parser(grant, "revoke", "revoke a grant", _grant_revoke)
    p.add_argument("grant_id")
    p = client_parser(grant, "list", "list a key holder's grants", _grant_list)
    p.add_argument("--holder", required=True)

    p = client_parser(
        sub, "unlock", "request an unlock as a key holder (exit 0 on ALLOW, 3 on DENY)", _unlock
    )
    p.add_argument("--door", required=True)
    p.add_argument("--challenge", help="relay challenge, hex")
    p.add_argument(
        "--offline", action="store_true", help="ask for an offline token (device key registered)"
    )

    client_parser(sub, "health", "check the server's health (exit 0 when SERVING)", _health)
    add_fleet_commands(sub, client_parser)
    from authority.cli.identity import add_identity_commands  # noqa: PLC0415

    add_identity_commands(sub, client_parser)
