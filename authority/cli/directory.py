"""``authority org | site | door | relay | holder …``: the directory (organisations, sites and
their doors, door relays, key holders), over gRPC."""

from __future__ import annotations

import argparse
import csv
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from authority.cli.output import EXIT_OK, print_json, progress_bar, show, show_message
from authority.cli.rpc import add_authority_command
from authority.client.authority import AuthorityClient
from authority.domain.errors import InvalidArgument
from authority.v1 import authority_pb2 as pb

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


def _org_create(c: AuthorityClient, ns: argparse.Namespace) -> int:
    resp = c.create_organisation(
        name=ns.name,
        cvr=ns.cvr or "",
        se=ns.se or "",
        public_body=ns.public_body,
        purpose=PURPOSES[ns.purpose],
    )
    show_message(
        resp, "organisation created (the API credential is shown only now)", as_json=ns.json
    )
    return EXIT_OK


def _org_status(c: AuthorityClient, ns: argparse.Namespace) -> int:
    show_message(
        c.set_organisation_status(ns.organisation_id, ORG_STATUSES[ns.status], ns.reason or ""),
        "organisation",
        as_json=ns.json,
    )
    return EXIT_OK


def _site_create(c: AuthorityClient, ns: argparse.Namespace) -> int:
    site = c.create_site(
        address=ns.address,
        owner_id=ns.owner,
        time_zone=ns.time_zone or "",
        offline_allowed=ns.offline,
    )
    show_message(site, "site created", as_json=ns.json)
    return EXIT_OK


def _site_block(c: AuthorityClient, ns: argparse.Namespace) -> int:
    site = c.set_site_organisation_blocked(ns.site_id, ns.organisation, blocked=ns.block)
    show_message(site, "organisation blocked" if ns.block else "block lifted", as_json=ns.json)
    return EXIT_OK


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
    show_message(door, "door created", as_json=ns.json)
    return EXIT_OK


def _door_set_relay_key(c: AuthorityClient, ns: argparse.Namespace) -> int:
    door = c.set_door_relay_key(
        ns.door_id, _hex_key(ns.relay_public_key, "--relay-public-key"), ns.relay or ""
    )
    show_message(door, "relay key set", as_json=ns.json)
    return EXIT_OK


def _relay_notice(c: AuthorityClient, ns: argparse.Namespace) -> int:
    resp = c.revocation_notice(ns.door)
    if ns.json:
        print_json(
            {
                "relay_id": resp.relay_id,
                "epoch": resp.epoch,
                "issued_at": resp.issued_at.seconds,
                "notice_hex": resp.notice.hex(),
            },
            indent=None,
        )
    else:
        print(resp.notice.hex())
    return EXIT_OK


def _holder_create(c: AuthorityClient, ns: argparse.Namespace) -> int:
    if ns.count:
        if not ns.output:
            raise InvalidArgument("--count needs --output FILE for the key holder ids")
        return _holders_create_many(c, ns)
    show_message(
        c.create_key_holder(ns.organisation or ""),
        "key holder created (its app logs in: issue it an activation code)",
        as_json=ns.json,
    )
    return EXIT_OK


def _holders_create_many(c: AuthorityClient, ns: argparse.Namespace) -> int:
    """Register ``--count`` holders; their ids go to a 0600 CSV file (their apps log in with
    activation codes, IdentityService.IssueHolderActivation)."""
    path: Path = ns.output
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", newline="") as out, progress_bar() as bar:
        writer = csv.writer(out)
        writer.writerow(("key_holder_id",))
        task = bar.add_task("create holders", total=ns.count, rate=0.0)
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            created = pool.map(
                lambda _: c.create_key_holder(ns.organisation or ""), range(ns.count)
            )
            for done, resp in enumerate(created, start=1):
                writer.writerow((resp.key_holder.key_holder_id,))
                bar.update(task, completed=done, rate=done / max(time.monotonic() - started, 1e-6))
    show(f"{ns.count} key holders; their ids in {path} (mode 0600)")
    return EXIT_OK


def _holder_status(c: AuthorityClient, ns: argparse.Namespace) -> int:
    show_message(
        c.set_key_holder_status(ns.key_holder_id, HOLDER_STATUSES[ns.status]),
        "key holder",
        as_json=ns.json,
    )
    return EXIT_OK


def _org_commands(parent: argparse.ArgumentParser) -> None:
    org = parent.add_subparsers(dest="org", required=True)
    p = add_authority_command(
        org, "create", "register an organisation (PENDING until approved)", _org_create
    )
    p.add_argument("--name", required=True)
    ident = p.add_mutually_exclusive_group(required=True)
    ident.add_argument("--cvr")
    ident.add_argument("--se")
    ident.add_argument("--public-body", action="store_true")
    p.add_argument("--purpose", choices=sorted(PURPOSES), required=True)
    p = add_authority_command(
        org, "set-status", "approve, reject or suspend an organisation", _org_status
    )
    p.add_argument("organisation_id")
    p.add_argument("--status", choices=sorted(ORG_STATUSES), required=True)
    p.add_argument("--reason")


def _site_commands(parent: argparse.ArgumentParser) -> None:
    site = parent.add_subparsers(dest="site", required=True)
    p = add_authority_command(site, "create", "register a site", _site_create)
    p.add_argument("--address", required=True)
    p.add_argument("--owner", required=True, help="site owner id")
    p.add_argument("--time-zone")
    p.add_argument("--offline", action="store_true", help="owner allows offline access")
    for verb, blocked in (("block", True), ("unblock", False)):
        p = add_authority_command(
            site,
            verb,
            f"{verb} an organisation at a site (site owner credential, or admin)",
            _site_block,
        )
        p.add_argument("site_id")
        p.add_argument("--organisation", required=True)
        p.set_defaults(block=blocked)


def _door_commands(parent: argparse.ArgumentParser) -> None:
    door = parent.add_subparsers(dest="door", required=True)
    p = add_authority_command(door, "create", "register a door and its relay", _door_create)
    p.add_argument("--door-id", required=True)
    p.add_argument("--site", required=True)
    p.add_argument("--relay", required=True)
    p.add_argument("--label")
    p.add_argument(
        "--relay-public-key", metavar="HEX", help="the relay's Ed25519 public key (32 bytes, hex)"
    )
    p = add_authority_command(
        door,
        "set-relay-key",
        "register or replace a door's relay key (relay installed or replaced)",
        _door_set_relay_key,
    )
    p.add_argument("door_id")
    p.add_argument("--relay-public-key", metavar="HEX", required=True, help="32 bytes, hex")
    p.add_argument("--relay", help="the new relay's id, if it has another identity")


def _relay_commands(parent: argparse.ArgumentParser) -> None:
    relay = parent.add_subparsers(dest="relay", required=True)
    p = add_authority_command(
        relay,
        "notice",
        "print the signed revocation-epoch notice for a door's relay (hex)",
        _relay_notice,
    )
    p.add_argument("--door", required=True)


def _holder_commands(parent: argparse.ArgumentParser) -> None:
    holder = parent.add_subparsers(dest="holder", required=True)
    p = add_authority_command(
        holder, "create", "register a key holder (or --count of them)", _holder_create
    )
    p.add_argument("--organisation")
    p.add_argument("--count", type=int, help="register this many (fleet onboarding)")
    p.add_argument(
        "--output", type=Path, help="with --count: CSV of the new key holder ids (created 0600)"
    )
    p = add_authority_command(
        holder, "set-status", "suspend or reactivate a key holder", _holder_status
    )
    p.add_argument("key_holder_id")
    p.add_argument("--status", choices=sorted(HOLDER_STATUSES), required=True)


COMMANDS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "org": _org_commands,
    "site": _site_commands,
    "door": _door_commands,
    "relay": _relay_commands,
    "holder": _holder_commands,
}
"""Each command's options and handler, on the parser ``authority.cli.main`` made for it."""
