"""``authority audit …``: verify the access log from ClickHouse, show the latest checkpoints.

    authority audit verify [--data-dir D] [--clickhouse-url URL] [--public-key=KEY]… [--json]
    authority audit checkpoint [--data-dir D] [--clickhouse-url URL] [--json]

``verify`` exits 0 when every shard's chain and checkpoints are intact, 1 when something is
broken (the table or JSON names the shard, seq, event and what the break means), 2 on errors
(ClickHouse unreachable, no audit keys). ``checkpoint`` prints each shard's newest signed
checkpoint: record them outside the system (a ticket, an e-mail to the site owner) and a later
rewrite of the log is detectable even by someone who obtained the audit key afterwards.

Without ``--clickhouse-url`` (or ``CLICKHOUSE_URL``) the embedded chDB in ``<data_dir>/clickhouse``
is read; chDB admits one process per directory, so stop ``authority serve`` first, or audit
through a ClickHouse server.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from nacl.signing import VerifyKey

from authority.adapters.clickhouse.audit import (
    AuditReport,
    latest_checkpoints,
    load_audit_public_keys,
    require_keys,
    verify,
)
from authority.adapters.clickhouse.chain import audit_kid, verify_checkpoint
from authority.adapters.clickhouse.connect import open_clickhouse
from authority.adapters.crypto.keyring import b64url_decode
from authority.cli.local_settings import add_data_dir_option, load_settings
from authority.cli.output import EXIT_FAILED, EXIT_OK, add_json_option, new_table, print_json, show
from authority.domain.errors import InvalidArgument, TokenError
from authority.process.config import Settings

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

CHDB_DIRECTORY = "clickhouse"
"""The embedded chDB lives in ``<data_dir>/clickhouse``."""


def _audit_commands(parent: argparse.ArgumentParser) -> None:
    """``audit verify`` and ``audit checkpoint``."""
    audit = parent.add_subparsers(dest="audit", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        add_data_dir_option(p)
        p.add_argument(
            "--clickhouse-url",
            help="ClickHouse server (CLICKHOUSE_URL); default: embedded chDB in the data dir",
        )
        add_json_option(p)

    p = audit.add_parser(
        "verify", help="check every event and checkpoint; exit 0 if intact, 1 if not"
    )
    common(p)
    p.add_argument(
        "--public-key",
        action="append",
        default=[],
        metavar="KEY",
        help="also trust this audit public key (base64url, 32 bytes; write --public-key=KEY, "
        "a key may start with '-'); repeatable",
    )
    p.set_defaults(func=cmd_audit_verify)

    p = audit.add_parser("checkpoint", help="show each shard's newest signed checkpoint")
    common(p)
    p.set_defaults(func=cmd_audit_checkpoint)


def _open(ns: argparse.Namespace) -> tuple[Settings, Client]:
    settings = load_settings(ns)
    client = open_clickhouse(url=settings.clickhouse_url, path=settings.data_dir / CHDB_DIRECTORY)
    return settings, client


def _trusted_keys(settings: Settings, extra: list[str]) -> dict[str, VerifyKey]:
    keys_dir = settings.data_dir / "keys"
    keys = load_audit_public_keys(keys_dir) if keys_dir.is_dir() else {}
    for text in extra:
        try:
            raw = b64url_decode(text)
        except ValueError as exc:
            raise InvalidArgument("--public-key must be base64url") from exc
        if len(raw) != 32:
            raise InvalidArgument("--public-key must be a 32-byte Ed25519 public key")
        key = VerifyKey(raw)
        keys[audit_kid(key)] = key
    require_keys(keys)
    return keys


def cmd_audit_verify(ns: argparse.Namespace) -> int:
    settings, client = _open(ns)
    try:
        keys = _trusted_keys(settings, ns.public_key)
        report = verify(client, keys)
    finally:
        client.close()
    if ns.json:
        print_json(report.to_dict())
    else:
        _print_report(report)
    return EXIT_OK if report.intact else EXIT_FAILED


def _print_report(report: AuditReport) -> None:
    table = new_table(
        "access-log audit",
        ("shard", "rows", "seq", "checkpoints", "expired", "status", "first break"),
        overflow=True,
    )
    for s in report.shards:
        seq = "" if s.first_seq is None else f"{s.first_seq}..{s.last_seq}"
        expired = f"{s.expired_events} events, {s.checkpoints_expired} checkpoints"
        b = s.chain_break
        status = "[green]intact[/]" if b is None else f"[red]{b.kind.value}[/] ({b.kind.meaning})"
        where = "" if b is None else f"seq {b.seq}, event {b.event_id or '-'}: {b.detail}"
        table.add_row(
            str(s.shard), str(s.rows), seq, str(s.checkpoints_verified), expired, status, where
        )
    show(table, highlight=False)
    if not report.shards:
        show("the access log is empty", highlight=False)
    elif report.intact:
        show("[green]intact:[/] every chain and checkpoint verifies", highlight=False)
    else:
        show(f"[red]BROKEN:[/] {len(report.breaks)} shard(s) show tampering", highlight=False)


def cmd_audit_checkpoint(ns: argparse.Namespace) -> int:
    settings, client = _open(ns)
    try:
        keys = _trusted_keys(settings, [])
        checkpoints = latest_checkpoints(client)
    finally:
        client.close()
    rows: list[dict[str, Any]] = []
    for cp in checkpoints:
        try:
            verify_checkpoint(cp, keys)
            verified = True
        except TokenError:
            verified = False
        rows.append(
            {
                "shard": cp.shard,
                "seq": cp.seq,
                "hash": cp.hash.hex(),
                "ts": datetime.fromtimestamp(cp.ts_ms / 1000, UTC).isoformat(),
                "kid": cp.kid,
                "signature": cp.signature.hex(),
                "verified": verified,
            }
        )
    if ns.json:
        print_json(rows)
        return EXIT_OK
    columns = ("shard", "seq", "hash", "ts", "kid", "verified")
    table = new_table("newest signed checkpoint per shard", columns, overflow=True)
    for r in rows:
        table.add_row(*(str(r[c]) for c in columns))
    show(table, highlight=False)
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.ArgumentParser], None]] = {"audit": _audit_commands}
"""Each command's options and handler, on the parser ``authority.cli.main`` made for it."""
