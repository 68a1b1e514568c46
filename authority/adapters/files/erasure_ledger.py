"""The erasure ledger: an append-only JSON-lines file in the data directory, outside Redis.

Every erasure is appended (and fsync'd) *before* it is carried out, so no erasure is ever lost by
a crash, and because the file is not part of the Redis state, restoring a Redis backup taken
before an erasure cannot undo it: the ledger is re-applied (``PrivacyCommands.reapply_ledger``)
before the restored state is served. Each line holds a pseudonym, a time and a reason: no
personal data. The access log carries the same facts as ``person.erase`` events (ClickHouse;
never deleted), a second source for hosts that do not share this file.
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from authority.domain.errors import Unavailable
from authority.domain.privacy import ErasureReason, ErasureRecord

LEDGER_FILE = "erasure-ledger.jsonl"


class FileErasureLedger:
    """Implements ``ErasureLedger``; safe for several processes on one host (``flock``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> FileErasureLedger:
        directory = data_dir / "privacy"
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        return cls(directory / LEDGER_FILE)

    def append(self, record: ErasureRecord) -> None:
        line = json.dumps(
            {
                "holder_id": record.holder_id,
                "erased_at": record.erased_at.astimezone(UTC).isoformat(),
                "reason": record.reason.value,
            },
            separators=(",", ":"),
        )
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, (line + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise Unavailable(f"the erasure ledger {self.path} cannot be written: {exc}") from exc

    def records(self) -> list[ErasureRecord]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        out = []
        lines = text.splitlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                out.append(
                    ErasureRecord(
                        holder_id=str(d["holder_id"]),
                        erased_at=datetime.fromisoformat(d["erased_at"]),
                        reason=ErasureReason(d["reason"]),
                    )
                )
            except (ValueError, KeyError) as exc:  # a torn last line after a crash
                if number == len(lines) and not text.endswith("\n"):
                    break
                raise Unavailable(f"the erasure ledger {self.path} is corrupt") from exc
        return out
