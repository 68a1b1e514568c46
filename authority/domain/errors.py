"""The product's one exception hierarchy.

Adapters translate library errors (redis, nacl, cbor2, grpc) into these where they enter; the
gRPC edge maps each class to a status code in exactly one table (``authority.api.errors``).
Messages are written for a partner's developer: they name the field and the rule.

The token errors (``TokenError`` and its subclasses, one per reason a token or a signed relay
message is refused) are defined in the wire package ``doorkey_wire.errors``, which the relay
shares and which imports nothing of ours, so they derive from ``Exception`` rather than from
``AuthorityError``; they are re-exported here and belong to this hierarchy all the same: the
status table maps ``TokenError`` explicitly, and code that catches "an error raised on purpose"
catches ``PRODUCT_ERRORS``.
"""

from __future__ import annotations

from doorkey_wire.errors import (
    BadSignature,
    MalformedToken,
    NonceMismatch,
    TokenError,
    TokenExpired,
    TokenNotYetValid,
    UnknownKey,
    WrongAudience,
    WrongIssuer,
)

__all__ = [
    "PRODUCT_ERRORS",
    "AlreadyExists",
    "AuthorityError",
    "BadSignature",
    "Conflict",
    "FailedPrecondition",
    "InvalidArgument",
    "MalformedToken",
    "NonceMismatch",
    "NotFound",
    "PermissionDenied",
    "ProductError",
    "RateLimited",
    "TokenError",
    "TokenExpired",
    "TokenNotYetValid",
    "Unauthenticated",
    "Unavailable",
    "UnknownKey",
    "WrongAudience",
    "WrongIssuer",
]


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


ProductError = AuthorityError | TokenError
"""Any error the product raises on purpose (for annotations)."""

PRODUCT_ERRORS: tuple[type[AuthorityError], type[TokenError]] = (AuthorityError, TokenError)
"""The same for ``except`` and ``isinstance``."""
