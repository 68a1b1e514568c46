"""``authority backup`` and ``authority restore``: the Redis state and the keys, local (they talk
to Redis and the data directory, not to the server)."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from authority.adapters.clickhouse.connect import open_clickhouse
from authority.adapters.clickhouse.holder_history import logged_erasures
from authority.adapters.crypto.keyring import b64url_decode
from authority.adapters.files.backup import (
    BackupSummary,
    RestoreSummary,
    backup,
    load_or_create_backup_key,
    restore,
)
from authority.adapters.files.erasure_ledger import FileErasureLedger
from authority.adapters.redis.connect import connect
from authority.adapters.redis.embedded import EmbeddedRedis
from authority.adapters.redis.person_store import RedisPersonStore
from authority.adapters.redis.redis_store import RedisClient
from authority.cli.local_settings import add_data_dir_option, load_settings
from authority.cli.output import EXIT_OK, add_json_option, print_json, show
from authority.domain.errors import AuthorityError, FailedPrecondition, InvalidArgument
from authority.domain.privacy import ErasureRecord
from authority.process.config import Settings
from authority.process.event_loop import run_event_loop
from authority.process.wiring import key_sealer, load_person_keys
from authority.usecases.privacy import reapply_erasures

T = TypeVar("T")


async def _with_redis(
    settings: Settings, *, restoring: bool, work: Callable[[RedisClient], Awaitable[T]]
) -> T:
    """Run ``work(client)`` against REDIS_URL, or the embedded redis-server: the running
    server's (backup only), else one started here for the duration."""
    embedded = None
    url = settings.redis_url
    if not url:
        running = (settings.data_dir / "server.json").exists()
        if restoring and running:
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


def _backup_key(settings: Settings) -> bytes:
    configured = settings.backup_key.reveal() if settings.backup_key else None
    return load_or_create_backup_key(
        settings.data_dir, b64url_decode(configured) if configured else None
    )


def cmd_backup(ns: argparse.Namespace) -> int:
    settings = load_settings(ns)
    key = _backup_key(settings)

    async def work(client: RedisClient) -> BackupSummary:
        return await backup(client, data_dir=settings.data_dir, out=ns.out, backup_key=key)

    summary = run_event_loop(_with_redis(settings, restoring=False, work=work))
    out = {"archive": str(summary.path), "redis_keys": summary.keys, "key_files": summary.key_files}
    if ns.json:
        print_json(out, indent=None)
    else:
        print(f"backup written: {out}")
    return EXIT_OK


def _erasure_records(settings: Settings) -> list[ErasureRecord]:
    """The ledger's records, plus erasures only the access log knows (appended to the ledger)."""
    ledger = FileErasureLedger.in_data_dir(settings.data_dir)
    records = ledger.records()
    chdb = settings.data_dir / "clickhouse"
    if settings.clickhouse_url or chdb.exists():
        try:
            client = open_clickhouse(url=settings.clickhouse_url, path=chdb)
        except AuthorityError as exc:
            show(f"[yellow]access log not readable ({exc}); ledger file only[/]")
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
    if not ns.yes:
        raise InvalidArgument("restore replaces the whole Redis state: confirm with --yes")
    settings = load_settings(ns)
    key = _backup_key(settings)
    records = _erasure_records(settings)

    async def work(client: RedisClient) -> RestoreSummary:
        async def reapply() -> int:
            persons = RedisPersonStore(client, load_person_keys(settings, key_sealer(settings)))
            return await reapply_erasures(persons, records)

        return await restore(
            client, archive=ns.archive, data_dir=settings.data_dir, backup_key=key, reapply=reapply
        )

    summary = run_event_loop(_with_redis(settings, restoring=True, work=work))
    out: dict[str, Any] = {
        "redis_keys": summary.keys,
        "key_files": summary.key_files,
        "erasures_reapplied": summary.erasures_reapplied,
    }
    if ns.json:
        print_json(out, indent=None)
    else:
        print(f"restored: {out}")
    return EXIT_OK


def _redis_options(p: argparse.ArgumentParser) -> None:
    add_data_dir_option(p)
    p.add_argument("--redis-url", help="external Redis (REDIS_URL); default: the embedded one")
    add_json_option(p)


def _backup_options(p: argparse.ArgumentParser) -> None:
    _redis_options(p)
    p.add_argument("--out", type=Path, required=True, help="the archive to write")
    p.set_defaults(func=cmd_backup)


def _restore_options(p: argparse.ArgumentParser) -> None:
    _redis_options(p)
    p.add_argument("archive", type=Path, help="the archive to restore")
    p.add_argument("--yes", action="store_true", help="replace the Redis state")
    p.set_defaults(func=cmd_restore)


COMMANDS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "backup": _backup_options,
    "restore": _restore_options,
}
"""Each command's options and handler, on the parser ``authority.cli.main`` made for it."""
