"""The claims an unlock token carries (RFC 8392 CWT), as plain data.

Encoding, signing and verification live in ``authority.tokens``; this module knows only what a
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
