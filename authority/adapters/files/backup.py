"""``authority backup`` / ``authority restore``: the Redis state and the keys in one archive,
restored so that erased persons stay erased.

The archive (a gzip'd tar, 0600) holds:

* ``manifest.json``: format version, when, how many keys;
* ``redis.jsonl``: every key as ``DUMP`` payload and remaining TTL (SCAN over every node; each
  key is consistent by itself), except the access log's buffer (``{log:*}``): its events belong
  in ClickHouse, and an old copy of the shipper's chain head would fork the hash chain. Personal
  data in it is ciphertext under per-person data keys, which are there only *wrapped* by the
  person-store master key;
* ``keys.sealed``: the files of ``<data_dir>/keys`` (token signing keys, audit key, person-store
  master key), encrypted (XChaCha20-Poly1305) under the **backup key**, which never goes into an
  archive: ``<data_dir>/backup.key`` (made on the first backup, 0600) or
  ``AUTHORITY_BACKUP_KEY``. Whoever holds an archive without that key reads no personal data.

What the archive deliberately lacks: the erasure ledger. ``restore`` replaces the Redis state
(every key but the access log's buffer is deleted, then every archived key restored; a buffer
still there is shipped on, a lost one resumes the chain from ClickHouse's last row), writes the
keys back, and then re-applies every erasure the ledger (and, where the access log is
readable, its ``person.erase`` events) records, before anything is served: a person erased
after the backup was taken has their data key, profile, grants and credential destroyed again,
so the restore cannot bring them back.
"""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.secret
import nacl.utils
import redis.exceptions as redis_errors

from authority.adapters.redis.redis_store import RedisClient
from authority.domain.errors import FailedPrecondition, InvalidArgument, Unavailable

FORMAT = 1
BACKUP_KEY_FILE = "backup.key"
BATCH = 500
ACCESS_LOG_PREFIX = b"{log:"
"""The access log's buffer, chain head and shipping leases: never archived, never replaced."""


@dataclass(frozen=True, slots=True)
class BackupSummary:
    path: Path
    keys: int
    key_files: int


@dataclass(frozen=True, slots=True)
class RestoreSummary:
    keys: int
    key_files: int
    erasures_reapplied: int


def load_or_create_backup_key(data_dir: Path, configured: bytes | None) -> bytes:
    if configured is not None:
        if len(configured) != nacl.secret.Aead.KEY_SIZE:
            raise InvalidArgument("AUTHORITY_BACKUP_KEY must be 32 bytes (base64url)")
        return configured
    path = data_dir / BACKUP_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(nacl.utils.random(nacl.secret.Aead.KEY_SIZE))
    return path.read_bytes()


def _seal_keys(keys_dir: Path, backup_key: bytes) -> tuple[bytes, int]:
    files = {
        p.name: base64.b64encode(p.read_bytes()).decode()
        for p in sorted(keys_dir.glob("*"))
        if p.is_file()
    }
    sealed = nacl.secret.Aead(backup_key).encrypt(json.dumps(files).encode(), b"authority-keys")
    return bytes(sealed), len(files)


def _open_keys(sealed: bytes, backup_key: bytes) -> dict[str, bytes]:
    try:
        raw = nacl.secret.Aead(backup_key).decrypt(sealed, b"authority-keys")
    except nacl.exceptions.CryptoError as exc:
        raise FailedPrecondition(
            "the archive's keys do not open with this backup key: restore with the backup key "
            "of the host that made it (<data_dir>/backup.key or AUTHORITY_BACKUP_KEY)"
        ) from exc
    return {name: base64.b64decode(v) for name, v in json.loads(raw).items()}


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


async def _scan_state(client: RedisClient) -> list[bytes]:
    """Every key but the access log's buffer."""
    return [k async for k in client.scan_iter(count=1000) if not k.startswith(ACCESS_LOG_PREFIX)]


async def backup(
    client: RedisClient, *, data_dir: Path, out: Path, backup_key: bytes
) -> BackupSummary:
    """Write the archive to ``out`` (0600; replaced atomically)."""
    try:
        keys = await _scan_state(client)
        lines: list[bytes] = []
        for start in range(0, len(keys), BATCH):
            chunk = keys[start : start + BATCH]
            pipe = client.pipeline(transaction=False)
            for k in chunk:
                pipe.dump(k)
                pipe.pttl(k)
            replies = await pipe.execute()
            for k, payload, ttl in zip(chunk, replies[::2], replies[1::2], strict=True):
                if payload is None:  # expired or deleted meanwhile
                    continue
                record = {
                    "k": base64.b64encode(k).decode(),
                    "v": base64.b64encode(payload).decode(),
                    "t": max(int(ttl), 0),
                }
                lines.append(json.dumps(record, separators=(",", ":")).encode())
    except (redis_errors.RedisError, OSError) as exc:
        raise Unavailable(f"reading Redis for the backup failed: {type(exc).__name__}") from exc
    sealed, key_files = _seal_keys(data_dir / "keys", backup_key)
    manifest = {"format": FORMAT, "created_at": int(time.time()), "redis_keys": len(lines)}
    tmp = out.with_name(out.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f, tarfile.open(fileobj=f, mode="w:gz") as tar:
        _add(tar, "manifest.json", json.dumps(manifest).encode())
        _add(tar, "redis.jsonl", b"\n".join(lines) + b"\n")
        _add(tar, "keys.sealed", sealed)
    os.replace(tmp, out)
    return BackupSummary(out, len(lines), key_files)


def read_archive(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], bytes]:
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            members = {m.name: m for m in tar.getmembers()}
            needed = ("manifest.json", "redis.jsonl", "keys.sealed")
            if any(n not in members for n in needed):
                raise InvalidArgument(f"{path} is not an authority backup (missing members)")
            data = {n: tar.extractfile(members[n]).read() for n in needed}  # type: ignore[union-attr]
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InvalidArgument(f"{path} is not a readable authority backup: {exc}") from exc
    manifest = json.loads(data["manifest.json"])
    if manifest.get("format") != FORMAT:
        raise InvalidArgument(f"{path}: backup format {manifest.get('format')} is not {FORMAT}")
    records = [json.loads(line) for line in data["redis.jsonl"].splitlines() if line.strip()]
    return manifest, records, data["keys.sealed"]


async def restore(
    client: RedisClient,
    *,
    archive: Path,
    data_dir: Path,
    backup_key: bytes,
    reapply: Callable[[], Any],
) -> RestoreSummary:
    """Replace the Redis state and the keys by the archive's, then ``reapply`` the erasures
    (a coroutine function returning how many were applied)."""
    _, records, sealed = read_archive(archive)
    files = _open_keys(sealed, backup_key)
    keys_dir = data_dir / "keys"
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name, content in files.items():
        if "/" in name or name.startswith("."):
            raise InvalidArgument(f"archive key file name {name!r} is not allowed")
        tmp = keys_dir / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.replace(tmp, keys_dir / name)
    try:
        stale = await _scan_state(client)
        for start in range(0, len(stale), BATCH):
            pipe = client.pipeline(transaction=False)
            for k in stale[start : start + BATCH]:
                pipe.delete(k)
            await pipe.execute()
        for start in range(0, len(records), BATCH):
            pipe = client.pipeline(transaction=False)
            for r in records[start : start + BATCH]:
                pipe.restore(
                    base64.b64decode(r["k"]), int(r["t"]), base64.b64decode(r["v"]), replace=True
                )
            await pipe.execute()
    except (redis_errors.RedisError, OSError) as exc:
        raise Unavailable(f"writing Redis during the restore failed: {type(exc).__name__}") from exc
    reapplied = int(await reapply())
    return RestoreSummary(len(records), len(files), reapplied)
