"""The claims an unlock token carries (RFC 8392 CWT), as plain data.

Encoding, signing and verification live in ``doorkey_wire.cwt``; this module knows only what a
token *says*, so the relay's acceptance rules can be stated without any crypto library.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class UnlockClaims:
    issuer: str
    """``iss``: the authority's name."""
    subject: str
    """``sub``: the key holder's pseudonym, never personal data."""
    audience: str
    """``aud``: the relay id the token is for."""
    issued_at: int
    """``iat``: POSIX seconds."""
    not_before: int
    """``nbf``: POSIX seconds."""
    expires_at: int
    """``exp``: POSIX seconds."""
    token_id: bytes
    """``cti``: random and unique; relays refuse a cti they have seen."""
    cnonce: bytes | None = None
    """``cnonce`` (RFC 9200): the relay challenge this token answers, when given."""
    revocation_epoch: int = 0
    """The site's revocation epoch when the token was issued (0: none yet). A relay that has
    learnt a higher epoch refuses the token; a genuine token with a higher epoch than the relay
    knows raises the relay's epoch (this is how revocations reach offline relays)."""
    confirmation_key: bytes | None = None
    """``cnf`` (RFC 8747): the holder's device Ed25519 public key (32 bytes) for offline
    tokens; the relay then also requires the device's signature over its challenge."""
