"""``authority privacy …``: the data subject's rights and the privacy job, over gRPC.

Every command takes ``--holder`` (the pseudonym) where it concerns one person, and ``--json``
for scripts. ``export`` writes ``<holder>.json`` (everything held: profile, consents, grants, door
units, access-log events) and ``<holder>-events.csv`` (the log part) into ``--out``, both 0600.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.table import Table

from authority.cli.output import (
    EXIT_OK,
    add_json_option,
    message_dict,
    new_table,
    print_json,
    show,
    show_message,
)
from authority.cli.rpc import AuthorityCommand, authority_client, calling
from authority.client.authority import AuthorityClient
from authority.v1 import privacy_pb2 as ppb

EVENT_COLUMNS = (
    "event_id", "time", "kind", "action", "outcome", "reason", "actor_role", "actor_id",
    "organisation_id", "site_id", "door_id", "key_holder_id", "grant_id", "token_id",
    "relay_id", "detail_json",
)  # fmt: skip


def _profile_set(c: AuthorityClient, ns: argparse.Namespace) -> int:
    profile = ppb.PersonProfile(
        name=ns.name or "",
        phone=ns.phone or "",
        email=ns.email or "",
        cpr=ns.cpr or "",
        bluetooth_id=ns.bluetooth_id or "",
    )
    request = ppb.SetPersonProfileRequest(key_holder_id=ns.holder, profile=profile)
    show_message(
        c.call(c.privacy.SetPersonProfile, request), "profile stored (encrypted)", as_json=ns.json
    )
    return EXIT_OK


def _profile_get(c: AuthorityClient, ns: argparse.Namespace) -> int:
    request = ppb.GetPersonProfileRequest(key_holder_id=ns.holder)
    show_message(
        c.call(c.privacy.GetPersonProfile, request), f"profile of {ns.holder}", as_json=ns.json
    )
    return EXIT_OK


def _private_file(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def _export(c: AuthorityClient, ns: argparse.Namespace) -> int:
    request = ppb.ExportPersonDataRequest(key_holder_id=ns.holder)
    messages = list(c.stream(c.privacy.ExportPersonData, request))
    head = message_dict(messages[0])
    events = [message_dict(e) for m in messages[1:] for e in m.events]
    document = {
        "key_holder": head.get("key_holder", {}),
        "profile": head.get("profile", {}),
        "consents": head.get("consents", []),
        "grants": head.get("grants", []),
        "door_units": head.get("door_units", []),
        "erasure_due_at": head.get("erasure_due_at"),
        "events": events,
    }
    out: Path = ns.out
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    json_path, csv_path = out / f"{ns.holder}.json", out / f"{ns.holder}-events.csv"
    _private_file(json_path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    lines: list[str] = []

    class _Sink:
        def write(self, text: str) -> int:
            lines.append(text)
            return len(text)

    writer = csv.DictWriter(_Sink(), fieldnames=EVENT_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for e in events:
        writer.writerow({k: e.get(k, "") for k in EVENT_COLUMNS})
    _private_file(csv_path, "".join(lines))
    summary = {
        "json": str(json_path),
        "csv": str(csv_path),
        "grants": len(document["grants"]),
        "consents": len(document["consents"]),
        "events": len(events),
    }
    if ns.json:
        print_json(summary, indent=None)
    else:
        print(f"exported {summary}")
    return EXIT_OK


def _erase(c: AuthorityClient, ns: argparse.Namespace) -> int:
    request = ppb.RequestErasureRequest(key_holder_id=ns.holder)
    show_message(c.call(c.privacy.RequestErasure, request), "erasure", as_json=ns.json)
    return EXIT_OK


def _restrict(c: AuthorityClient, ns: argparse.Namespace) -> int:
    request = ppb.RestrictProcessingRequest(key_holder_id=ns.holder)
    show_message(
        c.call(c.privacy.RestrictProcessing, request), "processing restricted", as_json=ns.json
    )
    return EXIT_OK


def _lift(c: AuthorityClient, ns: argparse.Namespace) -> int:
    request = ppb.LiftRestrictionRequest(key_holder_id=ns.holder)
    show_message(c.call(c.privacy.LiftRestriction, request), "restriction lifted", as_json=ns.json)
    return EXIT_OK


def _consent_give(c: AuthorityClient, ns: argparse.Namespace) -> int:
    request = ppb.GiveConsentRequest(
        key_holder_id=ns.holder, purpose=ns.purpose, text_version=ns.text_version
    )
    show_message(c.call(c.privacy.GiveConsent, request), "consent recorded", as_json=ns.json)
    return EXIT_OK


def _consent_withdraw(c: AuthorityClient, ns: argparse.Namespace) -> int:
    request = ppb.WithdrawConsentRequest(key_holder_id=ns.holder, purpose=ns.purpose)
    show_message(c.call(c.privacy.WithdrawConsent, request), "consent withdrawn", as_json=ns.json)
    return EXIT_OK


def _consent_list(c: AuthorityClient, ns: argparse.Namespace) -> int:
    listed = c.call(c.privacy.ListConsents, ppb.ListConsentsRequest(key_holder_id=ns.holder))
    rows = [message_dict(x) for x in listed.consents]
    if ns.json:
        print_json(rows)
        return EXIT_OK
    columns = ("purpose", "text_version", "given_at", "withdrawn_at")
    table = new_table(f"consents of {ns.holder}", columns)
    for r in rows:
        table.add_row(*(str(r.get(k, "")) for k in columns))
    show(table)
    return EXIT_OK


def _find(c: AuthorityClient, ns: argparse.Namespace) -> int:
    request = ppb.FindKeyHolderByPhoneRequest(phone=ns.phone)
    show_message(c.call(c.privacy.FindKeyHolderByPhone, request), "key holder", as_json=ns.json)
    return EXIT_OK


def _unit(mount: bool) -> AuthorityCommand:
    def run(c: AuthorityClient, ns: argparse.Namespace) -> int:
        request = ppb.DoorUnitRequest(key_holder_id=ns.holder, site_id=ns.site)
        method = c.privacy.MountDoorUnit if mount else c.privacy.DismountDoorUnit
        show_message(c.call(method, request), "door units administered", as_json=ns.json)
        return EXIT_OK

    return run


def _sweep(c: AuthorityClient, ns: argparse.Namespace) -> int:
    show_message(
        c.call(c.privacy.RunPrivacySweep, ppb.RunPrivacySweepRequest()),
        "privacy sweep",
        as_json=ns.json,
    )
    return EXIT_OK


def _report(c: AuthorityClient, ns: argparse.Namespace) -> int:
    report = c.call(c.privacy.GetPrivacyReport, ppb.GetPrivacyReportRequest())
    sections = {
        "what is held": report.categories,
        "key holders by time since last use": report.last_use_ages,
        "access-log events by age (deleted at 36 months)": report.log_event_ages,
    }
    if ns.json:
        print_json({k: {x.label: x.count for x in v} for k, v in sections.items()})
        return EXIT_OK
    for title, counts in sections.items():
        table = Table(title=title)
        table.add_column("category")
        table.add_column("count", justify="right")
        for x in counts:
            table.add_row(x.label, str(x.count))
        show(table)
    return EXIT_OK


def _privacy_commands(parser: argparse.ArgumentParser) -> None:
    """``privacy profile | export | erase | restrict | lift-restriction | consent | find | unit |
    sweep | report``."""
    privacy = parser.add_subparsers(dest="privacy", required=True)

    def command(
        parent: Any,
        name: str,
        help_: str,
        fn: AuthorityCommand,
        *,
        holder: bool = True,
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help_)
        p.add_argument("--target", help="server host:port (default: from <data-dir>/server.json)")
        p.add_argument("--credential", help="caller credential (default: the admin credential)")
        p.add_argument("--data-dir", type=Path, help="data directory of the local server")
        add_json_option(p)
        if holder:
            p.add_argument("--holder", required=True, help="the key holder's pseudonym (kh_…)")
        p.set_defaults(func=calling(authority_client, fn))
        return p

    profile = privacy.add_parser("profile", help="a person's profile").add_subparsers(
        dest="profile", required=True
    )
    p = command(
        profile, "set", "set (replace) the profile; omitted fields are not held", _profile_set
    )
    for flag in ("--name", "--phone", "--email", "--cpr", "--bluetooth-id"):
        p.add_argument(flag)
    command(profile, "get", "show the profile (logged)", _profile_get)
    p = command(privacy, "export", "everything held about a person: JSON + CSV of the log", _export)
    p.add_argument("--out", type=Path, required=True, help="directory for the files (0600)")
    command(privacy, "erase", "right to be forgotten (refused while administering a unit)", _erase)
    command(privacy, "restrict", "restrict processing (every unlock denied)", _restrict)
    command(privacy, "lift-restriction", "lift a restriction (ACTIVE again)", _lift)
    consent = privacy.add_parser("consent", help="consents").add_subparsers(
        dest="consent", required=True
    )
    p = command(consent, "give", "record a consent (purpose, text version, now)", _consent_give)
    p.add_argument("--purpose", required=True, help="e.g. phone_lookup")
    p.add_argument("--text-version", required=True, help="version of the text shown")
    p = command(consent, "withdraw", "withdraw a consent, effective now", _consent_withdraw)
    p.add_argument("--purpose", required=True)
    command(consent, "list", "a person's consents", _consent_list)
    p = command(privacy, "find", "find a key holder by phone (consent needed)", _find, holder=False)
    p.add_argument("--phone", required=True)
    unit = privacy.add_parser("unit", help="door units a person administers").add_subparsers(
        dest="unit", required=True
    )
    for name, mount in (("mount", True), ("dismount", False)):
        p = command(unit, name, f"{name} a door unit (site) for the holder", _unit(mount))
        p.add_argument("--site", required=True)
    command(privacy, "sweep", "run the privacy job now (due erasures, one-year rule)", _sweep,
            holder=False)  # fmt: skip
    command(privacy, "report", "what is held, by category and age", _report, holder=False)


COMMANDS: dict[str, Callable[[argparse.ArgumentParser], None]] = {"privacy": _privacy_commands}
"""Each command's options and handler, on the parser ``authority.cli.main`` made for it."""
