"""Authenticate callers of the administrative RPCs and enforce the tenant boundary.

The unlock path authenticates inside its single round trip (``UnlockService``); everything else
resolves a ``Principal`` here. Full RBAC (site owners, analysts, bridges) grows from ``Role``.
"""

from __future__ import annotations

from typing import Protocol

from authority.app.credentials import Principal, Role, parse_bearer
from authority.domain.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from authority.domain.ports import CredentialStore


class HolderCredentialReader(Protocol):
    async def holder_credential_digest(self, holder_id: str) -> bytes | None: ...


class Authenticator:
    def __init__(self, credentials: CredentialStore, holders: HolderCredentialReader) -> None:
        self._credentials = credentials
        self._holders = holders

    async def authenticate(self, authorization: str | None) -> Principal:
        presented = parse_bearer(authorization)
        if presented.is_holder:
            stored = await self._holders.holder_credential_digest(presented.credential_id)
            if stored is None or not presented.matches(stored):
                raise Unauthenticated("invalid credential")
            return Principal(
                role=Role.KEY_HOLDER,
                credential_id=presented.credential_id,
                key_holder_id=presented.credential_id,
            )
        found = await self._credentials.get_credential(presented.credential_id)
        if found is None or not presented.matches(found[0]):
            raise Unauthenticated("invalid credential")
        return Principal.from_json(presented.credential_id, found[1])


def require_admin(principal: Principal) -> None:
    if principal.role is not Role.ADMIN:
        raise PermissionDenied("this call is for platform administrators")


def acting_organisation(principal: Principal, requested: str) -> str:
    """The organisation a call acts for: admins name it; an organisation acts for itself only.

    Another tenant's id answers NOT_FOUND, so callers cannot probe which ids exist.
    """
    if principal.role is Role.ADMIN:
        if not requested:
            raise InvalidArgument("organisation_id is required when a platform admin calls")
        return requested
    if principal.role is Role.ORGANISATION and principal.organisation_id:
        if requested and requested != principal.organisation_id:
            raise NotFound(f"organisation {requested} does not exist")
        return principal.organisation_id
    raise PermissionDenied("this call is for organisations and platform administrators")


def may_see_organisation_data(principal: Principal, organisation_id: str) -> bool:
    """Admins see everything; an organisation sees its own tenant only."""
    return principal.role is Role.ADMIN or (
        principal.role is Role.ORGANISATION and principal.organisation_id == organisation_id
    )
