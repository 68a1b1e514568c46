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

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table

from authority.cli.client import _output, _wrap
from authority.client.authority import AuthorityClient
from authority.v1 import privacy_pb2 as ppb

console = Console()
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
    _output(ns, c.call(c.privacy.SetPersonProfile, request), "profile stored (encrypted)")
    return 0


def _profile_get(c: AuthorityClient, ns: argparse.Namespace) -> int:
    request = ppb.GetPersonProfileRequest(key_holder_id=ns.holder)
    _output(ns, c.call(c.privacy.GetPersonProfile, request), f"profile of {ns.holder}")
    return 0


def _private_file(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def _dict(message: Message) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


def _export(c: AuthorityClient, ns: argparse.Namespace) -> int:
    request = ppb.ExportPersonDataRequest(key_holder_id=ns.holder)
    messages = list(c.stream(c.privacy.ExportPersonData, request))
    head = _dict(messages[0])
    events = [_dict(e) for m in messages[1:] for e in m.events]
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
    print(json.dumps(summary) if ns.json else f"exported {summary}")
    return 0


def _erase(c: AuthorityClient, ns: argparse.Namespace) -> int:
    request = ppb.RequestErasureRequest(key_holder_id=ns.holder)
    _output(ns, c.call(c.privacy.RequestErasure, request), "erasure")
    return 0


def _restrict(c: AuthorityClient, ns: argparse.Namespace) -> int:
    request = ppb.RestrictProcessingRequest(key_holder_id=ns.holder)
    _output(ns, c.call(c.privacy.RestrictProcessing, request), "processing restricted")
    return 0


def _lift(c: AuthorityClient, ns: argparse.Namespace) -> int:
    request = ppb.LiftRestrictionRequest(key_holder_id=ns.holder)
    _output(ns, c.call(c.privacy.LiftRestriction, request), "restriction lifted")
    return 0


def _consent_give(c: AuthorityClient, ns: argparse.Namespace) -> int:
    request = ppb.GiveConsentRequest(
        key_holder_id=ns.holder, purpose=ns.purpose, text_version=ns.text_version
    )
    _output(ns, c.call(c.privacy.GiveConsent, request), "consent recorded")
    return 0


def _consent_withdraw(c: AuthorityClient, ns: argparse.Namespace) -> int:
    request = ppb.WithdrawConsentRequest(key_holder_id=ns.holder, purpose=ns.purpose)
    _output(ns, c.call(c.privacy.WithdrawConsent, request), "consent withdrawn")
    return 0


def _consent_list(c: AuthorityClient, ns: argparse.Namespace) -> int:
    listed = c.call(c.privacy.ListConsents, ppb.ListConsentsRequest(key_holder_id=ns.holder))
    rows = [_dict(x) for x in listed.consents]
    if ns.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title=f"consents of {ns.holder}")
    for col in ("purpose", "text_version", "given_at", "withdrawn_at"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r.get(k, "")) for k in ("purpose", "text_version", "given_at",
                                                     "withdrawn_at")))  # fmt: skip
    console.print(table)
    return 0


def _find(c: AuthorityClient, ns: argparse.Namespace) -> int:
    request = ppb.FindKeyHolderByPhoneRequest(phone=ns.phone)
    _output(ns, c.call(c.privacy.FindKeyHolderByPhone, request), "key holder")
    return 0


def _unit(mount: bool) -> Callable[[AuthorityClient, argparse.Namespace], int]:
    def run(c: AuthorityClient, ns: argparse.Namespace) -> int:
        request = ppb.DoorUnitRequest(key_holder_id=ns.holder, site_id=ns.site)
        method = c.privacy.MountDoorUnit if mount else c.privacy.DismountDoorUnit
        _output(ns, c.call(method, request), "door units administered")
        return 0

    return run


def _sweep(c: AuthorityClient, ns: argparse.Namespace) -> int:
    _output(ns, c.call(c.privacy.RunPrivacySweep, ppb.RunPrivacySweepRequest()), "privacy sweep")
    return 0


def _report(c: AuthorityClient, ns: argparse.Namespace) -> int:
    report = c.call(c.privacy.GetPrivacyReport, ppb.GetPrivacyReportRequest())
    sections = {
        "what is held": report.categories,
        "key holders by time since last use": report.last_use_ages,
        "access-log events by age (deleted at 36 months)": report.log_event_ages,
    }
    if ns.json:
        print(json.dumps({k: {x.label: x.count for x in v} for k, v in sections.items()}, indent=2))
        return 0
    for title, counts in sections.items():
        table = Table(title=title)
        table.add_column("category")
        table.add_column("count", justify="right")
        for x in counts:
            table.add_row(x.label, str(x.count))
        console.print(table)
    return 0


def add_privacy_commands(sub: Any) -> None:
    privacy = sub.add_parser(
        "privacy", help="personal data: profiles, export, erasure, restriction, consent"
    ).add_subparsers(dest="privacy", required=True)

    def command(
        parent: Any,
        name: str,
        help_: str,
        fn: Callable[[AuthorityClient, argparse.Namespace], int],
        *,
        holder: bool = True,
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help_)
        p.add_argument("--target", help="server host:port (default: from <data-dir>/server.json)")
        p.add_argument("--credential", help="caller credential (default: the admin credential)")
        p.add_argument("--data-dir", type=Path, help="data directory of the local server")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        if holder:
            p.add_argument("--holder", required=True, help="the key holder's pseudonym (kh_…)")
        p.set_defaults(func=_wrap(fn))
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


# -- backup and restore (local: they talk to Redis and the data directory, not the server) -----


def _backup_settings(ns: argparse.Namespace) -> Any:
    from authority.process.config import Settings  # noqa: PLC0415

    return Settings.load(data_dir=ns.data_dir, redis_url=ns.redis_url)


async def _with_redis(settings: Any, *, restoring: bool, work: Callable[[Any], Any]) -> Any:
    """Run ``work(client)`` against REDIS_URL, or the embedded redis-server: the running
    server's (backup only), else one started here for the duration."""
    from authority.adapters.redis.connect import connect  # noqa: PLC0415
    from authority.adapters.redis.embedded import EmbeddedRedis  # noqa: PLC0415

    embedded = None
    url = settings.redis_url
    if not url:
        running = (settings.data_dir / "server.json").exists()
        if restoring and running:
            from authority.domain.errors import FailedPrecondition  # noqa: PLC0415

            raise FailedPrecondition(
                f"a server runs on {settings.data_dir} (server.json): stop it before restoring"
            )
        embedded = EmbeddedRedis(settings.data_dir, binary=settings.redis_server)
        url = embedded.url if running else embedded.start()
        if running:
            embedded = None  # the server's: not ours to stop
    client = connect(url)
    try:
        return await work(client)
    finally:
        await client.aclose()
        if embedded is not None:
            embedded.stop()


def _backup_key(settings: Any) -> bytes:
    from authority.adapters.crypto.keyring import b64url_decode  # noqa: PLC0415
    from authority.adapters.files.backup import load_or_create_backup_key  # noqa: PLC0415

    configured = settings.backup_key.reveal() if settings.backup_key else None
    return load_or_create_backup_key(
        settings.data_dir, b64url_decode(configured) if configured else None
    )


def cmd_backup(ns: argparse.Namespace) -> int:
    from authority.adapters.files.backup import backup  # noqa: PLC0415
    from authority.cli.main import run  # noqa: PLC0415

    settings = _backup_settings(ns)
    key = _backup_key(settings)

    async def work(client: Any) -> Any:
        return await backup(client, data_dir=settings.data_dir, out=ns.out, backup_key=key)

    summary: Any = run(_with_redis(settings, restoring=False, work=work))
    out = {"archive": str(summary.path), "redis_keys": summary.keys, "key_files": summary.key_files}
    print(json.dumps(out) if ns.json else f"backup written: {out}")
    return 0


def _erasure_records(settings: Any) -> list[Any]:
    """The ledger's records, plus erasures only the access log knows (appended to the ledger)."""
    from authority.adapters.clickhouse.connect import open_clickhouse  # noqa: PLC0415
    from authority.adapters.clickhouse.holder_history import logged_erasures  # noqa: PLC0415
    from authority.adapters.files.erasure_ledger import FileErasureLedger  # noqa: PLC0415
    from authority.domain.errors import AuthorityError  # noqa: PLC0415

    ledger = FileErasureLedger.in_data_dir(settings.data_dir)
    records = ledger.records()
    chdb = settings.data_dir / "clickhouse"
    if settings.clickhouse_url or chdb.exists():
        try:
            client = open_clickhouse(url=settings.clickhouse_url, path=chdb)
        except AuthorityError as exc:
            console.print(f"[yellow]access log not readable ({exc}); ledger file only[/]")
            return records
        try:
            known = {r.holder_id for r in records}
            for record in logged_erasures(client):
                if record.holder_id not in known:
                    ledger.append(record)
                    records.append(record)
        finally:
            client.close()
    return records


def cmd_restore(ns: argparse.Namespace) -> int:
    from authority.adapters.files.backup import restore  # noqa: PLC0415
    from authority.adapters.redis.person_store import RedisPersonStore  # noqa: PLC0415
    from authority.cli.main import run  # noqa: PLC0415
    from authority.domain.errors import InvalidArgument  # noqa: PLC0415
    from authority.process.wiring import key_sealer, load_person_keys  # noqa: PLC0415
    from authority.usecases.privacy import reapply_erasures  # noqa: PLC0415

    if not ns.yes:
        raise InvalidArgument("restore replaces the whole Redis state: confirm with --yes")
    settings = _backup_settings(ns)
    key = _backup_key(settings)
    records = _erasure_records(settings)

    async def work(client: Any) -> Any:
        async def reapply() -> int:
            persons = RedisPersonStore(client, load_person_keys(settings, key_sealer(settings)))
            return await reapply_erasures(persons, records)

        return await restore(
            client, archive=ns.archive, data_dir=settings.data_dir, backup_key=key, reapply=reapply
        )

    summary: Any = run(_with_redis(settings, restoring=True, work=work))
    out = {
        "redis_keys": summary.keys,
        "key_files": summary.key_files,
        "erasures_reapplied": summary.erasures_reapplied,
    }
    print(json.dumps(out) if ns.json else f"restored: {out}")
    return 0


def add_backup_commands(sub: Any) -> None:
    for name, help_, fn in (
        ("backup", "archive the Redis state and the keys (keys encrypted; 0600)", cmd_backup),
        (
            "restore",
            "restore an archive, then re-apply every erasure (server stopped)",
            cmd_restore,
        ),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--data-dir", type=Path, help="data directory (AUTHORITY_DATA_DIR)")
        p.add_argument("--redis-url", help="external Redis (REDIS_URL); default: the embedded one")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        if name == "backup":
            p.add_argument("--out", type=Path, required=True, help="the archive to write")
        else:
            p.add_argument("archive", type=Path, help="the archive to restore")
            p.add_argument("--yes", action="store_true", help="replace the Redis state")
        p.set_defaults(func=fn)
