"""Authenticate callers of the administrative RPCs and enforce the tenant boundary.

The unlock path authenticates inside its single round trip (``UnlockService``); everything else
resolves a ``Principal`` here. Full RBAC (bridges, …) grows from ``Role``; site owners and
access-log analysts are staff accounts that log in (``authority.usecases.sessions``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from authority.domain.credentials import (
    APP_LOGIN_REQUIRED,
    PresentedCredential,
    Principal,
    Role,
    parse_bearer,
)
from authority.domain.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from authority.domain.model import Site
from authority.domain.ports.clock import Clock
from authority.domain.ports.credentials import (
    AccountSessionReader,
    CredentialStore,
    HolderCredentialReader,
)
from authority.domain.ports.ratelimit import CallLimiter
from authority.usecases.peer import calling_peer
from authority.usecases.ratelimit import NO_LIMITS


class Authenticator:
    def __init__(
        self,
        credentials: CredentialStore,
        holders: HolderCredentialReader,
        accounts: AccountSessionReader | None = None,
        clock: Clock | None = None,
        *,
        limiter: CallLimiter = NO_LIMITS,
    ) -> None:
        self._credentials = credentials
        self._holders = holders
        self._accounts = accounts
        self._clock = clock
        self._limiter = limiter

    def _now(self) -> int:
        return int((self._clock.now() if self._clock else datetime.now(UTC)).timestamp())

    async def authenticate(self, authorization: str | None) -> Principal:
        principal = await self._resolve(parse_bearer(authorization))
        peer = calling_peer()  # mTLS: the certificate and the credential must agree
        if peer is not None:
            peer.admits(role=principal.role, organisation_id=principal.organisation_id)
        # Per caller and organisation, after authentication: nobody spends another's budget.
        self._limiter.admit(principal.credential_id, principal.organisation_id)
        return principal

    async def _resolve(self, presented: PresentedCredential) -> Principal:
        if presented.is_holder:
            if presented.session_id is None:  # holders only ever hold login sessions
                raise Unauthenticated(APP_LOGIN_REQUIRED)
            stored = await self._holders.holder_credential_digest(
                presented.credential_id, presented.stored_field
            )
            if stored is None or not presented.matches(stored, self._now()):
                raise Unauthenticated("invalid credential")
            return Principal(
                role=Role.KEY_HOLDER,
                credential_id=presented.credential_id,
                key_holder_id=presented.credential_id,
                session_id=presented.session_id,
            )
        if presented.session_id is not None:  # a staff account's login session
            found_session = (
                await self._accounts.account_session(presented.credential_id, presented.session_id)
                if self._accounts is not None
                else None
            )
            if found_session is None or not presented.matches(found_session[1], self._now()):
                raise Unauthenticated("invalid or expired session: log in again")
            principal = Principal.from_json(presented.credential_id, found_session[0])
            return replace(principal, session_id=presented.session_id)
        found = await self._credentials.get_credential(presented.credential_id)
        if found is None or not presented.matches(found[0]):
            raise Unauthenticated("invalid credential")
        return Principal.from_json(presented.credential_id, found[1])


def require_admin(principal: Principal) -> None:
    if principal.role is not Role.ADMIN:
        raise PermissionDenied("this call is for platform administrators")


def require_unscoped(principal: Principal, what: str) -> None:
    """Identity administration is for people (an organisation admin's login) and full
    credentials: a scoped API credential must not raise its own privileges."""
    if principal.scopes is not None:
        raise PermissionDenied(f"scoped API credentials cannot {what}")


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


def may_see_site(principal: Principal, site: Site) -> bool:
    """Admins see every site; a site owner sees the sites it owns."""
    return principal.role is Role.ADMIN or (
        principal.role is Role.SITE_OWNER
        and principal.owner_id is not None
        and site.owner_id == principal.owner_id
    )
