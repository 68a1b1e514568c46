"""Authenticate callers of the administrative RPCs and enforce the tenant boundary.

The unlock path authenticates inside its single round trip (``UnlockService``); everything else
resolves a ``Principal`` here. Full RBAC (bridges, …) grows from ``Role``; site owners and
access-log analysts get their credentials from ``ReaderCredentials``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from authority.app.credentials import (
    APP_CREDENTIALS_OFF,
    PresentedCredential,
    Principal,
    Role,
    new_analyst_key,
    new_site_owner_key,
    parse_bearer,
)
from authority.app.peer import calling_peer
from authority.app.ratelimit import NO_LIMITS, CallLimiter
from authority.domain.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from authority.domain.model import Organisation, Site, validate_id, validate_text
from authority.domain.ports import CredentialStore


class HolderCredentialReader(Protocol):
    async def holder_credential_digest(self, holder_id: str, field: str = "cred") -> bytes | None:
        """What the holder's hash keeps in ``field`` (the app credential's digest, or a
        session's access entry), or None."""
        ...


class AccountSessionReader(Protocol):
    async def account_session(self, account_id: str, session_id: str) -> tuple[str, bytes] | None:
        """A staff account's principal (JSON) and the session's access entry, one round trip."""
        ...


class SecondsClock(Protocol):
    def now(self) -> datetime: ...


class Authenticator:
    def __init__(
        self,
        credentials: CredentialStore,
        holders: HolderCredentialReader,
        accounts: AccountSessionReader | None = None,
        clock: SecondsClock | None = None,
        *,
        app_credentials: bool = True,
        limiter: CallLimiter = NO_LIMITS,
    ) -> None:
        self._app_credentials = app_credentials
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
            if presented.session_id is None and not self._app_credentials:
                raise Unauthenticated(APP_CREDENTIALS_OFF)
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


class OrganisationReader(Protocol):
    async def get_organisation(self, organisation_id: str) -> Organisation | None: ...


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    """A credential as shown once to the platform admin; only its digest is stored."""

    principal: Principal
    credential: str


class ReaderCredentials:
    """Credentials for callers who read rather than act: site owners and access-log analysts.

    Created by the platform admin only, returned once, stored as SHA-256 digests like every other
    non-holder credential.
    """

    def __init__(self, credentials: CredentialStore, organisations: OrganisationReader) -> None:
        self._credentials = credentials
        self._organisations = organisations

    async def create_site_owner_credential(
        self, principal: Principal, owner_id: str
    ) -> IssuedCredential:
        """A credential acting for ``owner_id`` (the ``owner_id`` given to CreateSite). The owner
        need not own a site yet: credentials are often handed out before the relays go in."""
        require_admin(principal)
        owner_id = validate_text(owner_id, field_name="owner_id", max_len=100)
        cid, credential, key_digest = new_site_owner_key()
        owner = Principal(role=Role.SITE_OWNER, credential_id=cid, owner_id=owner_id)
        await self._credentials.put_credential(cid, key_digest, owner.to_json())
        return IssuedCredential(owner, credential)

    async def create_analyst_credential(
        self, principal: Principal, *, organisation_id: str, all_organisations: bool
    ) -> IssuedCredential:
        """An analyst of one organisation (its events only), or of the operator (all events)."""
        require_admin(principal)
        if bool(organisation_id) == all_organisations:
            raise InvalidArgument("give exactly one of organisation_id or all_organisations=true")
        if organisation_id:
            validate_id(organisation_id, field_name="organisation_id")
            if await self._organisations.get_organisation(organisation_id) is None:
                raise NotFound(f"organisation {organisation_id} does not exist")
        cid, credential, key_digest = new_analyst_key()
        analyst = Principal(
            role=Role.ANALYST, credential_id=cid, organisation_id=organisation_id or None
        )
        await self._credentials.put_credential(cid, key_digest, analyst.to_json())
        return IssuedCredential(analyst, credential)
