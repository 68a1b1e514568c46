"""Access-log events: every decision, relay outcome, administrative action and lookup.

An event carries pseudonyms and ids only, never personal data (names, phone numbers): the
holder is known by the ``kh_…`` pseudonym, callers by their credential or organisation id.
``canonical_bytes`` is the exact byte string the tamper-evidence chain hashes; it can be rebuilt
from a stored row, so the chain can be verified from ClickHouse alone.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from json.encoder import encode_basestring


class EventKind(StrEnum):
    UNLOCK = "unlock"
    """An unlock decision (allow or deny, with its reason)."""
    RELAY = "relay"
    """An outcome reported back from a door relay (opened, or rejected with the relay's reason)."""
    ADMIN = "admin"
    """An administrative action: grant issued/revoked, organisation approved/blocked, …"""
    LOOKUP = "lookup"
    """A read of protected data: grants listed, logs queried, data exported."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessEvent:
    event_id: str
    """UUIDv7 text: unique, and ordered by time so inserts stay local."""
    ts_ms: int
    """When it happened, POSIX milliseconds (UTC)."""
    kind: EventKind
    action: str
    """What was done, e.g. ``unlock``, ``grant.issue``, ``grant.revoke``, ``logs.query``."""
    outcome: str
    """``allow`` / ``deny`` for decisions, ``ok`` / ``refused`` for actions, ``opened`` /
    ``rejected`` for relay outcomes."""
    reason: str = ""
    """The decision reason, a relay's reason code, or why an action was refused."""
    actor_role: str = ""
    """``key_holder``, ``organisation``, ``admin``, ``site_owner``, ``analyst``, ``bridge``."""
    actor_id: str = ""
    """The caller's pseudonymous id (holder pseudonym, organisation id, credential id)."""
    organisation_id: str = ""
    site_id: str = ""
    door_id: str = ""
    holder_id: str = ""
    """The key holder concerned, as a pseudonym."""
    grant_id: str = ""
    token_id: str = ""
    relay_id: str = ""
    detail: str = ""
    """Small JSON object with action-specific facts (counts, filters); never personal data."""

    def to_dict(self) -> dict[str, str | int]:
        # Not dataclasses.asdict: it deep-copies every value (~4x slower), and a bulk import
        # builds one event per grant.
        d: dict[str, str | int] = {name: getattr(self, name) for name in EVENT_FIELDS}
        d["kind"] = self.kind.value
        return d

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> AccessEvent:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        values["kind"] = EventKind(str(values["kind"]))
        values["ts_ms"] = int(values["ts_ms"])  # type: ignore[call-overload]
        return cls(**values)  # type: ignore[arg-type]

    def canonical_bytes(self) -> bytes:
        """Deterministic serialisation for hashing: sorted keys, no spaces, UTF-8."""
        return json.dumps(
            self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()


EVENT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(AccessEvent))
CANONICAL_FIELDS: tuple[str, ...] = tuple(sorted(EVENT_FIELDS))
"""Event fields in the order of the canonical encoding (sorted)."""
_CANONICAL_TEMPLATE = "{" + ",".join(f'"{name}":%s' for name in CANONICAL_FIELDS) + "}"


def encode_canonical(values: Sequence[str | int]) -> bytes:
    """Canonical bytes from the field values in ``CANONICAL_FIELDS`` order (``ts_ms`` an int,
    the rest strings): byte-identical to ``json.dumps(sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` of the event's dict, which ``encode_basestring`` implements for
    strings; much faster than ``AccessEvent.canonical_bytes``. No validation: the audit hashes
    whatever a row holds. Here, not with the chain, because the buffer writes these bytes too."""
    parts = [encode_basestring(v) if isinstance(v, str) else str(v) for v in values]
    return (_CANONICAL_TEMPLATE % tuple(parts)).encode()


def new_event_id(now_ms: int | None = None) -> str:
    """A UUIDv7 (RFC 9562) in canonical text: 48-bit millisecond time, version 7, variant 0b10,
    74 random bits. Written as text directly (every decision makes one: half the cost of
    ``str(uuid.UUID(int=…))``; the layout is property-tested against ``uuid``)."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    t = f"{ms & 0xFFFFFFFFFFFF:012x}"
    r = os.urandom(10).hex()  # 80 bits: 12 + 2 + 12 + 48 used, with the version and variant
    variant = int(r[3], 16) & 0x3 | 0x8
    return f"{t[:8]}-{t[8:]}-7{r[:3]}-{variant:x}{r[4:7]}-{r[7:19]}"


def event(
    kind: EventKind, action: str, outcome: str, ts_ms: int | None = None, /, **facts: str
) -> AccessEvent:
    """Build an event with a fresh id (at ``ts_ms``, default now); ``facts`` are the optional
    fields."""
    now_ms = int(time.time() * 1000) if ts_ms is None else ts_ms
    return AccessEvent(
        event_id=new_event_id(now_ms),
        ts_ms=now_ms,
        kind=kind,
        action=action,
        outcome=outcome,
        **facts,
    )
