"""The product's one exception hierarchy.

Adapters translate library errors (redis, nacl, cbor2, grpc) into these where they enter; the
gRPC edge maps each class to a status code in exactly one table (``authority.api.errors``).
Messages are written for a partner's developer: they name the field and the rule.
"""

from __future__ import annotations


class AuthorityError(Exception):
    """Base of every error the authority raises on purpose."""


class InvalidArgument(AuthorityError):
    """The caller sent something malformed; the message says which field and which rule."""


class NotFound(AuthorityError):
    """An id does not exist, or is not visible to the caller (the two are not distinguished)."""


class AlreadyExists(AuthorityError):
    """A create named an id that is already taken."""


class PermissionDenied(AuthorityError):
    """The authenticated caller may not do this."""


class Unauthenticated(AuthorityError):
    """No credential, or an invalid one."""


class FailedPrecondition(AuthorityError):
    """The target's state forbids the change (e.g. a grant for a holder of another organisation)."""


class Conflict(AuthorityError):
    """A concurrent change won a compare-and-set race more often than we retry; safe to retry."""


class RateLimited(AuthorityError):
    """The caller (or its organisation) made more calls than its limit allows; retry later."""

    def __init__(self, message: str, *, retry_after_ms: int) -> None:
        super().__init__(f"{message}; retry after {retry_after_ms} ms")
        self.retry_after_ms = retry_after_ms


class Unavailable(AuthorityError):
    """A dependency (the grant store) cannot be reached; retry with backoff."""


class TokenError(AuthorityError):
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
