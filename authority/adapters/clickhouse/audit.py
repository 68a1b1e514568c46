"""Verify the access log: every shard's hash chain and every signed checkpoint, from ClickHouse.

``verify`` reads each shard's rows in ``seq`` order as a stream (ClickHouse sorts, spilling to
disk past ``SORT_SPILL_BYTES``; Python holds one block at a time, so millions of rows are fine),
recomputes the chain and compares it with every checkpoint. It reports, per shard, the first
break and what it means:

* ``missing``: a ``seq`` is absent (a row was deleted);
* ``altered``: a row no longer hashes to its stored hash (its content or hash was changed);
* ``reordered``: the event that belongs at this ``seq`` is stored at another one (seqs swapped);
* ``duplicate``: two rows share a ``seq`` (a row was inserted or copied);
* ``checkpoint_mismatch``: the rows chain consistently but disagree with a signed checkpoint
  (the chain was rewritten: rows deleted or changed and every later hash recomputed);
* ``bad_checkpoint``: a checkpoint's signature does not verify, or its key is unknown;
* ``truncated``: a checkpoint or the Redis head vouches for events after the last row.

Expiry is not deletion. Rows leave after 36 months (TTL on the event's ``ts``); a checkpoint is
kept a month longer. A run of missing seqs is accepted as expired when the checkpoint that
covers its last seq (the first checkpoint at or after it: every event it covers was shipped, so
happened, before the checkpoint's time) is older than the TTL cutoff plus ``expiry_margin``.
The margin absorbs shipping delays (ClickHouse down for days) at the price of not noticing a
deletion made within that margin of an event's expiry. The first row after an expired run is
an anchor: its own link cannot be checked (its predecessor is gone), the rows after it are
chained from it, and the next checkpoint authenticates the chain.

Audit keys live beside the token keys as ``<data_dir>/keys/audit-<kid hex>.json`` (0600), in
the keyring's file format; only the ``audit-`` prefix differs, so the token keyring never loads
them. Retired audit keys stay on disk: old checkpoints must remain verifiable.
"""

from __future__ import annotations

import bisect
import os
import time
from array import array
from collections import deque
from collections.abc import Generator, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nacl.signing import VerifyKey

from authority.adapters.clickhouse.chain import (
    GENESIS_HASH,
    AuditKey,
    ChainHead,
    Checkpoint,
    link,
    verify_checkpoint,
)
from authority.adapters.clickhouse.connect import query_rows, stream_rows
from authority.adapters.clickhouse.schema import (
    CHECKPOINTS_TABLE,
    EVENTS_RETENTION_MONTHS,
    EVENTS_TABLE,
)
from authority.adapters.crypto.keyring import (
    SigningKey,
    read_key_file,
    read_public_key,
    write_key_file,
)
from authority.adapters.crypto.sealing import KeySealer
from authority.domain.errors import FailedPrecondition, TokenError
from authority.domain.events import CANONICAL_FIELDS, encode_canonical

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

AUDIT_KEY_GLOB = "audit-*.json"
DAY_MS = 86_400_000
DEFAULT_EXPIRY_MARGIN_MS = 7 * DAY_MS
SORT_SPILL_BYTES = 256 * 1024 * 1024
LOOKAHEAD_ROWS = 1000
"""How far past a broken link the audit looks for the event that belongs there (reordering)."""


# -- audit keys on disk ------------------------------------------------------------------------


def load_or_create_audit_key(keys_dir: Path, sealer: KeySealer | None = None) -> AuditKey:
    """The newest unretired audit key in ``keys_dir``, generating one (0600, sealed with
    ``sealer`` if given) if there is none."""
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(keys_dir, 0o700)
    keys = [read_key_file(p, sealer) for p in sorted(keys_dir.glob(AUDIT_KEY_GLOB))]
    active = [k for k in keys if k.retired_at is None]
    if active:
        return AuditKey(max(active, key=lambda k: (k.created_at, k.kid)))
    key = SigningKey.generate(now=int(time.time()))
    # kids may contain '-' and '_': the file name uses their hex, like the keyring's.
    write_key_file(keys_dir / f"audit-{key.kid.hex()}.json", key, sealer)
    return AuditKey(key)


def load_audit_public_keys(keys_dir: Path) -> dict[str, VerifyKey]:
    """Every audit key's public half (retired ones too), by kid; no passphrase needed."""
    return dict(read_public_key(p) for p in sorted(keys_dir.glob(AUDIT_KEY_GLOB)))


# -- the report --------------------------------------------------------------------------------


class BreakKind(StrEnum):
    MISSING = "missing"
    ALTERED = "altered"
    REORDERED = "reordered"
    DUPLICATE = "duplicate"
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"
    BAD_CHECKPOINT = "bad_checkpoint"
    TRUNCATED = "truncated"

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_MEANINGS = {
    BreakKind.MISSING: "deletion",
    BreakKind.ALTERED: "alteration",
    BreakKind.REORDERED: "reordering",
    BreakKind.DUPLICATE: "insertion of a copy",
    BreakKind.CHECKPOINT_MISMATCH: "chain rewritten",
    BreakKind.BAD_CHECKPOINT: "forged checkpoint",
    BreakKind.TRUNCATED: "deletion of the newest events",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainBreak:
    shard: int
    seq: int
    """The first seq the break concerns (for ``missing``: the first absent one)."""
    kind: BreakKind
    event_id: str | None
    """The event stored at ``seq``, if there is one."""
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ShardReport:
    shard: int
    rows: int
    """Rows verified (up to the break, if any)."""
    first_seq: int | None
    last_seq: int | None
    checkpoints_verified: int
    checkpoints_expired: int
    """Checkpoints over events that have expired (nothing left to compare them with)."""
    expired_events: int
    """Seqs absent because their events expired (see the module's notes)."""
    anchors: int
    """Rows whose own link could not be checked because their predecessor expired."""
    chain_break: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.chain_break is None


@dataclass(frozen=True, slots=True)
class AuditReport:
    shards: tuple[ShardReport, ...]
    cutoff_ms: int
    """Events older than this (server time minus 36 months) have expired."""

    @property
    def intact(self) -> bool:
        return all(s.intact for s in self.shards)

    @property
    def breaks(self) -> list[ChainBreak]:
        return [s.chain_break for s in self.shards if s.chain_break is not None]

    def to_dict(self) -> dict[str, Any]:
        def shard(s: ShardReport) -> dict[str, Any]:
            out = asdict(s)
            if s.chain_break is not None:
                out["chain_break"]["meaning"] = s.chain_break.kind.meaning
            return out

        return {
            "intact": self.intact,
            "cutoff_ms": self.cutoff_ms,
            "shards": [shard(s) for s in self.shards],
        }


# -- verification ------------------------------------------------------------------------------


def _column(name: str) -> str:
    if name == "event_id":
        return "toString(event_id)"
    if name == "ts_ms":
        return "toUnixTimestamp64Milli(ts)"
    return name


_ROW_COLUMNS = ", ".join(["seq", "hash", *(_column(n) for n in CANONICAL_FIELDS)])
_EVENT_ID = 2 + CANONICAL_FIELDS.index("event_id")


def verify(
    client: Client,
    keys: Mapping[str, VerifyKey],
    *,
    heads: Mapping[int, ChainHead] | None = None,
    expiry_margin_ms: int = DEFAULT_EXPIRY_MARGIN_MS,
    events_table: str = EVENTS_TABLE,
    checkpoints_table: str = CHECKPOINTS_TABLE,
    block_rows: int = 65_536,
) -> AuditReport:
    """Verify every shard found in the events, the checkpoints or ``heads`` (the shipper's
    heads from Redis, if available: they also catch deletions after the last checkpoint).
    ``keys``: trusted audit public keys by kid."""
    ((cutoff_ms,),) = query_rows(
        client,
        "SELECT toUnixTimestamp64Milli(now64(3) - INTERVAL {months:UInt32} MONTH)",
        parameters={"months": EVENTS_RETENTION_MONTHS},
        what="reading the retention cutoff",
    )
    shards: set[int] = set(heads or {})
    for table in (events_table, checkpoints_table):
        rows = query_rows(
            client,
            f"SELECT DISTINCT shard FROM {table}",  # noqa: S608 - a fixed table name
            what="listing shards",
        )
        shards.update(int(s) for (s,) in rows)
    verifier = _ShardVerifier(
        client,
        keys,
        expired_before_ms=int(cutoff_ms) + expiry_margin_ms,
        events_table=events_table,
        checkpoints_table=checkpoints_table,
        block_rows=block_rows,
    )
    reports = tuple(verifier.run(s, (heads or {}).get(s)) for s in sorted(shards))
    return AuditReport(shards=reports, cutoff_ms=int(cutoff_ms))


class _Checkpoints:
    """One shard's verified checkpoints, ordered by seq, in compact arrays (~48 bytes each:
    37 months of one-a-minute checkpoints is ~75 MB)."""

    def __init__(self) -> None:
        self.seqs = array("Q")
        self.ts_ms = array("q")
        self.hashes = bytearray()

    def add(self, seq: int, chain_hash: bytes, ts_ms: int) -> None:
        self.seqs.append(seq)
        self.ts_ms.append(ts_ms)
        self.hashes += chain_hash

    def __len__(self) -> int:
        return len(self.seqs)

    def hash(self, i: int) -> bytes:
        return bytes(self.hashes[32 * i : 32 * i + 32])

    def first_at_or_after(self, seq: int) -> int:
        return bisect.bisect_left(self.seqs, seq)


class _Break(Exception):
    """Ends one shard's verification at its first break (control flow only)."""

    def __init__(self, chain_break: ChainBreak) -> None:
        self.chain_break = chain_break


@dataclass(slots=True)
class _Progress:
    rows: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    verified: int = 0
    expired_checkpoints: int = 0
    expired_events: int = 0
    anchors: int = 0


class _ShardVerifier:
    def __init__(
        self,
        client: Client,
        keys: Mapping[str, VerifyKey],
        *,
        expired_before_ms: int,
        events_table: str,
        checkpoints_table: str,
        block_rows: int,
    ) -> None:
        self._client = client
        self._keys = keys
        self._expired_before_ms = expired_before_ms
        self._events = events_table
        self._checkpoints = checkpoints_table
        self._settings = {
            "max_block_size": block_rows,
            "max_bytes_before_external_sort": SORT_SPILL_BYTES,
        }

    def run(self, shard: int, head: ChainHead | None) -> ShardReport:
        progress = _Progress()
        chain_break = None
        try:
            checkpoints = self._load_checkpoints(shard)
            self._verify_rows(shard, checkpoints, head, progress)
        except _Break as exc:
            chain_break = exc.chain_break
        return ShardReport(
            shard=shard,
            rows=progress.rows,
            first_seq=progress.first_seq,
            last_seq=progress.last_seq,
            checkpoints_verified=progress.verified,
            checkpoints_expired=progress.expired_checkpoints,
            expired_events=progress.expired_events,
            anchors=progress.anchors,
            chain_break=chain_break,
        )

    def _load_checkpoints(self, shard: int) -> _Checkpoints:
        out = _Checkpoints()
        rows = stream_rows(
            self._client,
            f"SELECT seq, hash, toUnixTimestamp64Milli(ts), kid, signature "  # noqa: S608
            f"FROM {self._checkpoints} WHERE shard = {{shard:UInt16}} ORDER BY seq, ts",
            parameters={"shard": shard},
            settings=self._settings,
            what="reading checkpoints",
        )
        for seq, chain_hash, ts_ms, kid, signature in rows:
            checkpoint = Checkpoint(
                shard=shard,
                seq=int(seq),
                hash=bytes(chain_hash),
                ts_ms=int(ts_ms),
                kid=str(kid),
                signature=bytes(signature),
            )
            try:
                verify_checkpoint(checkpoint, self._keys)
            except TokenError as exc:
                rows.close()
                raise _Break(
                    ChainBreak(
                        shard=shard,
                        seq=checkpoint.seq,
                        kind=BreakKind.BAD_CHECKPOINT,
                        event_id=None,
                        detail=str(exc),
                    )
                ) from exc
            out.add(checkpoint.seq, checkpoint.hash, checkpoint.ts_ms)
        return out

    def _verify_rows(
        self,
        shard: int,
        cps: _Checkpoints,
        head: ChainHead | None,
        progress: _Progress,
    ) -> None:
        stream = stream_rows(
            self._client,
            f"SELECT {_ROW_COLUMNS} FROM {self._events} "  # noqa: S608 - fixed names
            "WHERE shard = {shard:UInt16} ORDER BY seq, event_id",
            parameters={"shard": shard},
            settings=self._settings,
            what="reading access events",
        )
        rows = _Peekable(stream)
        expected, prev = 1, GENESIS_HASH
        prev_known = True
        cp = 0  # next checkpoint to compare
        try:
            for row in rows:
                seq, stored = int(row[0]), bytes(row[1])
                if seq < expected:
                    raise _Break(
                        ChainBreak(
                            shard=shard,
                            seq=seq,
                            kind=BreakKind.DUPLICATE,
                            event_id=str(row[_EVENT_ID]),
                            detail=f"two rows have seq {seq}",
                        )
                    )
                if seq > expected:
                    cp, prev_known, prev = self._gap(
                        shard, cps=cps, cp=cp, expected=expected, row=row, progress=progress
                    )
                if prev_known and link(prev, encode_canonical(row[2:])) != stored:
                    raise _Break(self._link_break(shard, seq, row, prev, rows))
                if not prev_known:
                    progress.anchors += 1
                while cp < len(cps) and cps.seqs[cp] <= seq:
                    if cps.seqs[cp] == seq and cps.hash(cp) != stored:
                        raise _Break(
                            ChainBreak(
                                shard=shard,
                                seq=seq,
                                kind=BreakKind.CHECKPOINT_MISMATCH,
                                event_id=str(row[_EVENT_ID]),
                                detail=(
                                    f"the checkpoint signed at {cps.ts_ms[cp]} ms says hash "
                                    f"{cps.hash(cp).hex()[:16]}…, the rows give "
                                    f"{stored.hex()[:16]}…: rows up to seq {seq} were changed "
                                    "and the hashes recomputed"
                                ),
                            )
                        )
                    progress.verified += 1
                    cp += 1
                if progress.first_seq is None:
                    progress.first_seq = seq
                progress.last_seq = seq
                progress.rows += 1
                expected, prev, prev_known = seq + 1, stored, True
        finally:
            rows.close()
        self._tail(shard, cps=cps, cp=cp, expected=expected, head=head, progress=progress)

    def _gap(
        self,
        shard: int,
        *,
        cps: _Checkpoints,
        cp: int,
        expected: int,
        row: Sequence[Any],
        progress: _Progress,
    ) -> tuple[int, bool, bytes]:
        """Seqs ``expected`` .. ``row``'s seq - 1 are absent: expired, or a deletion."""
        seq = int(row[0])
        last_missing = seq - 1
        covering = cps.first_at_or_after(last_missing)
        if covering >= len(cps) or cps.ts_ms[covering] >= self._expired_before_ms:
            raise _Break(
                ChainBreak(
                    shard=shard,
                    seq=expected,
                    kind=BreakKind.MISSING,
                    event_id=None,
                    detail=(
                        f"seq {expected}..{last_missing} missing within the retention period "
                        f"(next row: seq {seq}, event {row[_EVENT_ID]})"
                    ),
                )
            )
        progress.expired_events += seq - expected
        # Checkpoints over the expired events verify nothing now, except one at the very last
        # missing seq: its hash is the predecessor of this row.
        while cp < len(cps) and cps.seqs[cp] < last_missing:
            progress.expired_checkpoints += 1
            cp += 1
        if cp < len(cps) and cps.seqs[cp] == last_missing:
            progress.verified += 1
            return cp + 1, True, cps.hash(cp)
        return cp, False, b""

    def _link_break(
        self, shard: int, seq: int, row: Sequence[Any], prev: bytes, rows: _Peekable
    ) -> ChainBreak:
        """The row at ``seq`` does not follow from its predecessor. If a later row does, the
        events were reordered; otherwise this one was altered."""
        event_id = str(row[_EVENT_ID])
        for later in rows.peek(LOOKAHEAD_ROWS):
            if link(prev, encode_canonical(later[2:])) == bytes(later[1]):
                return ChainBreak(
                    shard=shard,
                    seq=seq,
                    kind=BreakKind.REORDERED,
                    event_id=event_id,
                    detail=(
                        f"the event stored at seq {later[0]} ({later[_EVENT_ID]}) is the one that "
                        f"follows seq {seq - 1}; event {event_id} was moved to seq {seq}"
                    ),
                )
        return ChainBreak(
            shard=shard,
            seq=seq,
            kind=BreakKind.ALTERED,
            event_id=event_id,
            detail=f"event {event_id} at seq {seq} does not hash to the chain (content or hash "
            "changed, or the event before it was)",
        )

    def _tail(
        self,
        shard: int,
        *,
        cps: _Checkpoints,
        cp: int,
        expected: int,
        head: ChainHead | None,
        progress: _Progress,
    ) -> None:
        """Checkpoints (or the Redis head) past the last row vouch for events that are gone."""
        for i in range(cp, len(cps)):
            if cps.ts_ms[i] < self._expired_before_ms:
                progress.expired_checkpoints += 1
                continue
            raise _Break(
                ChainBreak(
                    shard=shard,
                    seq=expected,
                    kind=BreakKind.TRUNCATED,
                    event_id=None,
                    detail=(
                        f"seq {expected}..{cps.seqs[i]} missing: a checkpoint signed at "
                        f"{cps.ts_ms[i]} ms covers them"
                    ),
                )
            )
        if head is None or head.seq < expected:
            return
        covering = cps.first_at_or_after(head.seq)
        if covering < len(cps) and cps.ts_ms[covering] < self._expired_before_ms:
            return
        raise _Break(
            ChainBreak(
                shard=shard,
                seq=expected,
                kind=BreakKind.TRUNCATED,
                event_id=None,
                detail=f"seq {expected}..{head.seq} missing: the shipper shipped them",
            )
        )


class _Peekable:
    """An iterator over rows with look-ahead (for classifying a break)."""

    def __init__(self, rows: Generator[Sequence[Any], None, None]) -> None:
        self._rows = rows
        self._ahead: deque[Sequence[Any]] = deque()

    def __iter__(self) -> _Peekable:
        return self

    def __next__(self) -> Sequence[Any]:
        if self._ahead:
            return self._ahead.popleft()
        return next(self._rows)

    def peek(self, n: int) -> list[Sequence[Any]]:
        while len(self._ahead) < n:
            try:
                self._ahead.append(next(self._rows))
            except StopIteration:
                break
        return list(self._ahead)[:n]

    def close(self) -> None:
        self._rows.close()


def latest_checkpoints(client: Client, *, table: str = CHECKPOINTS_TABLE) -> list[Checkpoint]:
    """Each shard's newest checkpoint (signatures not checked here)."""
    columns = "shard, seq, hash, toUnixTimestamp64Milli(ts), kid, signature"
    sql = f"SELECT {columns} FROM {table} ORDER BY shard, seq DESC, ts DESC LIMIT 1 BY shard"  # noqa: S608
    rows = query_rows(client, sql, what="reading checkpoints")
    return [
        Checkpoint(
            shard=int(shard),
            seq=int(seq),
            hash=bytes(chain_hash),
            ts_ms=int(ts_ms),
            kid=str(kid),
            signature=bytes(signature),
        )
        for shard, seq, chain_hash, ts_ms, kid, signature in rows
    ]


def require_keys(keys: Mapping[str, VerifyKey]) -> None:
    if not keys:
        raise FailedPrecondition(
            "no audit public keys: none in <data_dir>/keys/audit-*.json and none given"
        )
