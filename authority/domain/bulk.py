"""Bulk issuance and roster changes: idempotency, item results, roster matching. Pure.

A partner streams thousands of grant items; a retried stream must create nothing twice. Each
item's grant id is *derived* from (organisation, key holder, idempotency key), so a retry names
the same grant, and a fingerprint of the item's content tells a retry (same content) from a key
reused for something else (refused). The store keeps ``idempotency key -> fingerprint`` next to
the holder's grants and writes both in one script.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from authority.domain.errors import AuthorityError, InvalidArgument
from authority.domain.model import Grant

IDEMPOTENCY_TTL_SECONDS = 7 * 86_400
MAX_IDEMPOTENCY_KEY = 128
MAX_ROSTER_ITEMS = 100
_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # as authority.domain.model.new_id


def validate_idempotency_key(key: str) -> str:
    if not key:
        raise InvalidArgument("idempotency_key is required for bulk items")
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidArgument(
            f"idempotency_key is {len(key)} characters; at most {MAX_IDEMPOTENCY_KEY}"
        )
    if not key.isprintable():
        raise InvalidArgument("idempotency_key must be printable characters only")
    return key


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x00".join(parts).encode()).digest()


def derived_grant_id(organisation_id: str, holder_id: str, idempotency_key: str) -> str:
    """``gr_`` + 16 characters (80 bits) of SHA-256 over the three: the same for every retry."""
    n = int.from_bytes(_digest("grant", organisation_id, holder_id, idempotency_key)[:10], "big")
    chars = []
    for _ in range(16):
        n, r = divmod(n, 32)
        chars.append(_ID_ALPHABET[r])
    return "gr_" + "".join(chars)


def idempotency_slot(organisation_id: str, idempotency_key: str) -> str:
    """The fixed-length name under which the store remembers a key (per holder)."""
    return _digest("key", organisation_id, idempotency_key)[:12].hex()


def fingerprint_from(grant: Grant, *, valid_from_given: bool) -> str:
    windows = ";".join(
        f"{','.join(map(str, sorted(w.days)))}/{w.start_minute}/{w.end_minute}"
        for w in grant.windows
    )
    start = str(int(grant.valid_from.timestamp())) if valid_from_given else "now"
    text = f"{grant.target.key}|{start}|{int(grant.valid_until.timestamp())}|{windows}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def roster_signature(grant: Grant) -> str:
    """How a roster item is matched with a grant the holder already has: same target, same end,
    same windows in the same order (``valid_from`` is compared apart, only when given). The
    store's replace script computes the same string from the stored grant."""
    windows = ";".join(
        f"{','.join(map(str, sorted(w.days)))}/{w.start_minute}/{w.end_minute}"
        for w in grant.windows
    )
    return f"{grant.target.key}|{int(grant.valid_until.timestamp())}|{windows}"


class ItemStatus(StrEnum):
    CREATED = "created"
    ALREADY_CREATED = "already_created"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What became of one bulk item (``index`` counts from 0 across the whole stream)."""

    index: int
    row: int
    idempotency_key: str
    status: ItemStatus
    grant_id: str = ""
    error: AuthorityError | None = None
    """REJECTED: the error a single issuance would have raised (``InvalidArgument``,
    ``NotFound``, ``FailedPrecondition``, ``AlreadyExists``); its message is the reason."""
    rule: str = ""
    """REJECTED by the access policy: the rule, e.g. ``postal.windows``."""


class IssueOutcome(StrEnum):
    """What the store did with one idempotent write."""

    CREATED = "created"
    ALREADY_CREATED = "already_created"
    HOLDER_MISSING = "holder_missing"
    HOLDER_OF_ANOTHER_ORGANISATION = "holder_of_another_organisation"
    KEY_REUSED = "key_reused"
    """The idempotency key was used before for other content."""
    HOLDER_RESTRICTED = "holder_restricted"
    """Processing of the holder's data is restricted at their request: no new grants."""


@dataclass(frozen=True, slots=True)
class IdempotentGrant:
    """One grant to write at most once: the store writes it unless ``slot`` is already
    remembered for the holder (then it compares ``fingerprint``)."""

    grant: Grant
    slot: str
    fingerprint: str
    site_id: str
    """The site the grant reaches (a door grant: the door's site), for the per-site index."""


@dataclass(frozen=True, slots=True)
class RosterChange:
    """What a roster replacement did."""

    created: list[Grant]
    kept: list[str]
    revoked: list[Grant]
