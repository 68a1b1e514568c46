"""Tamper evidence for the access log: one SHA-256 hash chain per shard, and signed checkpoints.

Pure code, no I/O. Per shard, events are numbered ``seq`` = 1, 2, … in stream order and

    hash_0 = 32 zero bytes                                   (genesis)
    hash_i = SHA-256(hash_{i-1} || canonical_bytes(event_i))

where ``canonical_bytes`` is ``AccessEvent.canonical_bytes()`` (sorted keys, no spaces, UTF-8).
Every row stores its ``seq`` and ``hash``, so the chain is verified from ClickHouse alone: a
deleted row leaves a gap in ``seq``, an altered row no longer hashes to its ``hash``, a moved
row breaks the links on both sides.

An attacker who can write to ClickHouse could recompute every hash after a change. Checkpoints
stop that: (shard, seq, hash, ts_ms) signed with the *audit key*, an Ed25519 key separate from
the token signing keys (a leaked token key cannot forge the log's history, and rotating one
leaves the other alone). A rewritten chain no longer matches the signed hashes.

Two encoders produce canonical bytes much faster than ``AccessEvent.canonical_bytes`` (which
goes through ``dataclasses.asdict``): ``canonical_from_entry`` for buffer entries on the
shipper's hot path, ``encode_canonical`` (``authority.domain.events``: the buffer writes it too)
for rows read back by the audit. Both are tested for byte equality with ``canonical_bytes``
(tests/unit/test_chain.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from authority.adapters.crypto.keyring import SigningKey, kid_for
from authority.domain.errors import BadSignature, InvalidArgument, UnknownKey
from authority.domain.events import CANONICAL_FIELDS, EVENT_FIELDS, EventKind, encode_canonical

HASH_SIZE = 32
GENESIS_HASH = bytes(HASH_SIZE)
MAX_TS_MS = 9_999_999_999_999
"""Largest accepted ``ts_ms`` (year 2286): inside ClickHouse's DateTime64 range (up to 2299)."""


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last event of a shard's chain: its ``seq`` and ``hash`` (genesis: 0, zeros)."""

    seq: int
    hash: bytes

    def __post_init__(self) -> None:
        if self.seq < 0 or len(self.hash) != HASH_SIZE:
            raise InvalidArgument("a chain head is a seq >= 0 and a 32-byte hash")


GENESIS = ChainHead(0, GENESIS_HASH)


def link(prev_hash: bytes, canonical: bytes) -> bytes:
    """``SHA-256(prev_hash || canonical)``: the hash of the next event in a chain."""
    return hashlib.sha256(prev_hash + canonical).digest()


def extend(head: ChainHead, canonicals: Sequence[bytes]) -> list[ChainHead]:
    """The heads after each of ``canonicals`` appended to ``head``, in order."""
    out: list[ChainHead] = []
    seq, h = head.seq, head.hash
    for canonical in canonicals:
        seq += 1
        h = link(h, canonical)
        out.append(ChainHead(seq, h))
    return out


# -- canonical bytes ---------------------------------------------------------------------------

_REQUIRED = frozenset({"event_id", "ts_ms", "kind", "action", "outcome"})
_KINDS = frozenset(k.value for k in EventKind)
_UUID_TEXT = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_UUID_RE = re.compile(_UUID_TEXT)


def canonical_event(fields: Mapping[str, object]) -> bytes:
    """Validate an event given as a mapping (a parsed buffer entry) and return its canonical
    bytes. Raises ``InvalidArgument`` naming the field and rule. Stricter than
    ``AccessEvent.from_dict``: unknown fields are refused rather than dropped, because the log
    must keep what was recorded, and every value must survive the round trip through
    ClickHouse unchanged (a canonical lowercase UUID, a timestamp DateTime64 can hold)."""
    unknown = set(fields) - set(EVENT_FIELDS)
    if unknown:
        raise InvalidArgument(f"unknown event field(s): {', '.join(sorted(unknown))}")
    missing = _REQUIRED - set(fields)
    if missing:
        raise InvalidArgument(f"missing event field(s): {', '.join(sorted(missing))}")
    values: list[str | int] = []
    for name in CANONICAL_FIELDS:
        value = fields.get(name, "")
        if name == "ts_ms":
            if type(value) is not int or not 0 <= value <= MAX_TS_MS:
                raise InvalidArgument(f"ts_ms must be an integer 0..{MAX_TS_MS}")
        elif not isinstance(value, str):
            raise InvalidArgument(f"{name} must be a string")
        values.append(value)
    if not _UUID_RE.fullmatch(str(fields["event_id"])):
        raise InvalidArgument("event_id must be a lowercase canonical UUID")
    if fields["kind"] not in _KINDS:
        raise InvalidArgument(f"kind must be one of {', '.join(sorted(_KINDS))}")
    try:
        return encode_canonical(values)
    except UnicodeEncodeError as exc:
        raise InvalidArgument("a string field holds a lone surrogate (not UTF-8)") from exc


# The fast path: a buffer entry whose JSON is already canonical apart from (perhaps) the key
# order, with every string in exactly the form json.dumps(ensure_ascii=False) writes it:
# anything but '"', '\' and control characters, or the escapes it emits (\" \\ \b \f \n \r \t,
# and \u00XX for the other control characters). Such an entry's canonical bytes are its own
# bytes, or its values re-assembled in sorted order; no JSON parsing is needed. Anything else
# (other escapes, spaces, unknown fields, other orders) takes the exact path through json.loads.
# The quantifiers are possessive (*+): a run of plain characters can only be followed by '\' or
# the closing '"', so giving characters back could never find another match, and not keeping
# backtracking state (nor capture groups where none are needed) halves the matching time.
_STRING = rb'[^"\\\x00-\x1f]*+(?:\\(?:["\\bfnrt]|u00(?:0[0-7bef]|1[0-9a-f]))[^"\\\x00-\x1f]*+)*+'
_FIELD_PATTERNS = {
    "event_id": _UUID_TEXT.encode(),
    "ts_ms": rb"(?:0|[1-9][0-9]{0,12})",
    "kind": b"(?:" + b"|".join(sorted(k.encode() for k in _KINDS)) + b")",
}


def _entry_pattern(order: Sequence[str], *, capture: bool) -> re.Pattern[bytes]:
    parts = []
    for name in order:
        value = _FIELD_PATTERNS.get(name, _STRING)
        if capture:
            value = b"(" + value + b")"
        quote = b"" if name == "ts_ms" else b'"'
        parts.append(b'"' + name.encode() + b'":' + quote + value + quote)
    return re.compile(b"{" + b",".join(parts) + b"}")


_SORTED_ENTRY = _entry_pattern(CANONICAL_FIELDS, capture=False)
_FIELD_ORDER_ENTRY = _entry_pattern(EVENT_FIELDS, capture=True)
"""``AccessEvent.to_dict()`` order: the buffer's encoding before it sorted keys (entries may
still wait in a stream after an upgrade); it now writes the canonical bytes themselves."""
_REORDER = tuple(EVENT_FIELDS.index(name) + 1 for name in CANONICAL_FIELDS)
"""Group numbers of ``_FIELD_ORDER_ENTRY`` in canonical order (``match.group(*_REORDER)``)."""
_BYTES_TEMPLATE = (
    "{"
    + ",".join(f'"{name}":%s' if name == "ts_ms" else f'"{name}":"%s"' for name in CANONICAL_FIELDS)
    + "}"
).encode()


def canonical_from_entry(raw: bytes) -> bytes:
    """The canonical bytes of the event a buffer entry (compact JSON) holds.

    Raises ``InvalidArgument`` if the entry is not a valid event (see ``canonical_event``)."""
    if not raw.isascii():  # the patterns accept any byte >= 0x80: make sure they form UTF-8
        try:
            raw.decode()
        except UnicodeDecodeError as exc:
            raise InvalidArgument("the entry is not UTF-8") from exc
    if _SORTED_ENTRY.fullmatch(raw):
        return raw
    match = _FIELD_ORDER_ENTRY.fullmatch(raw)
    if match:
        return _BYTES_TEMPLATE % match.group(*_REORDER)
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument("the entry is not JSON") from exc
    if not isinstance(parsed, dict):
        raise InvalidArgument("the entry is not a JSON object")
    return canonical_event(parsed)


# -- checkpoints -------------------------------------------------------------------------------

_CHECKPOINT_CONTEXT = b"door-authority/access-log/checkpoint/v1\x00"
_CHECKPOINT_LAYOUT = struct.Struct(">HQ32sq")
SIGNATURE_SIZE = 64


def checkpoint_message(shard: int, seq: int, chain_hash: bytes, ts_ms: int) -> bytes:
    """What a checkpoint signature covers: a fixed context string (so the signature cannot be
    taken for any other message the key might sign) then shard u16, seq u64, hash[32], ts_ms
    i64, big-endian."""
    if len(chain_hash) != HASH_SIZE:
        raise InvalidArgument("a checkpoint hash is 32 bytes")
    try:
        return _CHECKPOINT_CONTEXT + _CHECKPOINT_LAYOUT.pack(shard, seq, chain_hash, ts_ms)
    except struct.error as exc:
        raise InvalidArgument(f"checkpoint field out of range: {exc}") from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """A signed statement: shard ``shard``'s chain had ``hash`` at ``seq``, at ``ts_ms``."""

    shard: int
    seq: int
    hash: bytes
    ts_ms: int
    """When the checkpoint was made (POSIX ms): every event up to ``seq`` was shipped by then."""
    kid: str
    """The audit key that signed it."""
    signature: bytes

    def message(self) -> bytes:
        return checkpoint_message(self.shard, self.seq, self.hash, self.ts_ms)


class AuditKey:
    """The Ed25519 key that signs checkpoints. ``repr`` shows only the kid."""

    __slots__ = ("_key",)

    def __init__(self, key: SigningKey) -> None:
        self._key = key

    @classmethod
    def generate(cls, *, now: int) -> AuditKey:
        return cls(SigningKey.generate(now=now))

    @classmethod
    def from_seed(cls, seed: bytes, *, created_at: int = 0) -> AuditKey:
        return cls(SigningKey.from_seed(seed, created_at=created_at))

    @property
    def signing_key(self) -> SigningKey:
        return self._key

    @property
    def kid(self) -> str:
        return self._key.kid.decode("ascii")

    @property
    def public(self) -> VerifyKey:
        return self._key.public

    def __repr__(self) -> str:
        return f"AuditKey(kid={self.kid})"

    def sign(self, shard: int, head: ChainHead, ts_ms: int) -> Checkpoint:
        message = checkpoint_message(shard, head.seq, head.hash, ts_ms)
        signature = self._key.private.sign(message).signature
        return Checkpoint(
            shard=shard,
            seq=head.seq,
            hash=head.hash,
            ts_ms=ts_ms,
            kid=self.kid,
            signature=bytes(signature),
        )


def audit_kid(public_key: VerifyKey) -> str:
    """The kid of an audit public key (the same derivation as token keys' kids)."""
    return kid_for(bytes(public_key)).decode("ascii")


def verify_checkpoint(checkpoint: Checkpoint, keys: Mapping[str, VerifyKey]) -> None:
    """Return if ``checkpoint`` is signed by one of ``keys`` (kid -> public key); raise
    ``UnknownKey`` or ``BadSignature`` otherwise."""
    key = keys.get(checkpoint.kid)
    if key is None:
        raise UnknownKey(f"checkpoint signed by unknown audit key {checkpoint.kid!r}")
    if len(checkpoint.signature) != SIGNATURE_SIZE:
        raise BadSignature("a checkpoint signature is 64 bytes")
    try:
        key.verify(checkpoint.message(), checkpoint.signature)
    except (BadSignatureError, InvalidArgument) as exc:
        raise BadSignature(
            f"checkpoint shard {checkpoint.shard} seq {checkpoint.seq}: signature does not verify"
        ) from exc
