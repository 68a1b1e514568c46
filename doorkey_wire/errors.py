"""Why an unlock token (or another COSE_Sign1 message) is refused: one class per reason.

These are the relay's reason codes as exceptions. The authority re-exports them from
``authority.domain.errors`` as part of its error hierarchy, and its gRPC edge maps
``TokenError`` to a status code (``authority.api.errors``); they derive from ``Exception`` only
so that this package stays a leaf.
"""

from __future__ import annotations


class TokenError(Exception):
    """An unlock token is not acceptable. Subclasses say exactly why (the relay's reason codes)."""


class MalformedToken(TokenError):
    """Not a well-formed COSE_Sign1 / CWT of the expected shape."""


class UnknownKey(TokenError):
    """The token's ``kid`` names no key the verifier trusts."""


class BadSignature(TokenError):
    """The signature does not verify under the named key."""


class WrongAudience(TokenError):
    """The token is addressed to another relay."""


class TokenExpired(TokenError):
    """``exp`` has passed (beyond the allowed clock drift)."""


class TokenNotYetValid(TokenError):
    """``nbf`` is in the future (beyond the allowed clock drift)."""


class NonceMismatch(TokenError):
    """The token is not bound to the relay's current challenge."""


class WrongIssuer(TokenError):
    """The token was issued by another authority."""
