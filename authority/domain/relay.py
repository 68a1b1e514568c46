"""What the authority knows about door relays: their keys, and the results they sign.

A relay signs every result (OPENED, or REJECTED with its reason) with its own Ed25519 key, whose
public half is registered with the door at installation. A result is therefore authenticated by
the relay, not by whoever carries it to the authority (a bridge, or the holder's phone), and a
bystander cannot forge an "opened". The encoding of results lives in the relay protocol
(``doorkey_wire.protocol``); here is only what a result *says*.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from enum import StrEnum

from authority.domain.errors import InvalidArgument

ED25519_PUBLIC_KEY_BYTES = 32


class RelayOutcome(StrEnum):
    OPENED = "opened"
    REJECTED = "rejected"


FORGED = "forged"
"""The access-log outcome of a reported result that is not a genuine result of the door's relay
(bad signature, unknown key, malformed, or naming another relay)."""


def validate_ed25519_public_key(value: bytes, *, field_name: str) -> bytes:
    """An Ed25519 public key is exactly 32 bytes (RFC 8032)."""
    if len(value) != ED25519_PUBLIC_KEY_BYTES:
        raise InvalidArgument(
            f"{field_name} must be exactly {ED25519_PUBLIC_KEY_BYTES} bytes "
            f"(an Ed25519 public key); got {len(value)}"
        )
    return bytes(value)


def key_fingerprint(public_key: bytes) -> str:
    """A short, stable name for a public key in logs: 8 bytes of SHA-256, hex."""
    return hashlib.sha256(public_key).digest()[:8].hex()


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayResult:
    """A relay's signed statement about one submission, after its signature verified."""

    relay_id: str
    nonce: bytes
    outcome: RelayOutcome
    reason: str
    """The relay's reject reason, lower-case (``"replayed"``, ``"expired"``, …); empty when
    opened."""
    token_id: bytes
    """The token's ``cti`` (empty when the relay could not authenticate the token)."""
    subject: str
    """The token's ``sub``, the holder pseudonym (empty when not authenticated)."""
    relay_time: int
    """The relay's clock when it decided, POSIX seconds (relays' clocks drift)."""
    epoch: int
    """The relay's revocation epoch when it decided."""
    digest: bytes
    """SHA-256 of the signed payload: the same result always has the same digest."""

    @property
    def event_id(self) -> str:
        """The access-log event id of this result, derived from the signed payload, so a result
        reported twice (a bridge's retry, the phone and the bridge both) is one event."""
        return digest_event_id(self.digest)


def digest_event_id(digest: bytes) -> str:
    """A UUIDv8 (RFC 9562, custom) from the first 122 bits of a SHA-256 digest."""
    value = int.from_bytes(digest[:16], "big")
    value = (value & ~(0xF << 76)) | (0x8 << 76)  # version 8
    value = (value & ~(0b11 << 62)) | (0b10 << 62)  # RFC 9562 variant
    return str(uuid.UUID(int=value))
