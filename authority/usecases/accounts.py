"""Staff accounts and their kinds, key holders' app enrolment, and activation: a one-time code
sets the password (and, for staff, a TOTP secret).

Every account change and activation is an access-log event; passwords, codes and secrets never
are.
"""

from __future__ import annotations

import base64
import secrets
from enum import StrEnum

from authority.domain.credentials import HOLDER_PREFIX, Principal, Role, digest
from authority.domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from authority.domain.login import login_key, validate_login_name, validate_password
from authority.domain.model import new_id, validate_id, validate_text
from authority.domain.ports.accesslog import EventRecorder
from authority.domain.ports.directory import OrganisationReader
from authority.domain.ports.identity import (
    EVERY_SESSION,
    AccountStore,
    LoginStore,
    Passwords,
    SessionStore,
)
from authority.usecases.audit_trail import AuditTrail, event_detail
from authority.usecases.auth import acting_organisation, require_unscoped
from authority.usecases.login_policies import LoginPolicies
from authority.usecases.login_subjects import LoginSubjects


class AccountKind(StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    ORGANISATION_ADMIN = "organisation_admin"
    ANALYST = "analyst"
    SITE_OWNER = "site_owner"


class Accounts:
    def __init__(
        self,
        *,
        accounts: AccountStore,
        logins: LoginStore,
        sessions: SessionStore,
        subjects: LoginSubjects,
        policies: LoginPolicies,
        organisations: OrganisationReader,
        passwords: Passwords,
        events: EventRecorder,
        activation_ttl: int = 7 * 86400,
    ) -> None:
        """``activation_ttl``: seconds a one-time activation code works."""
        self._accounts = accounts
        self._logins = logins
        self._sessions = sessions
        self._subjects = subjects
        self._policies = policies
        self._orgs = organisations
        self._passwords = passwords
        self._audit = AuditTrail(events)
        self._activation_ttl = activation_ttl

    async def create_account(
        self,
        principal: Principal,
        *,
        login: str,
        kind: AccountKind | None,
        organisation_id: str,
        owner_id: str,
    ) -> tuple[str, str, bool]:
        """A staff account; (account id, one-time activation code, TOTP required)."""
        if kind is None:
            raise InvalidArgument(
                "role must be PLATFORM_ADMIN, ORGANISATION_ADMIN, ANALYST or SITE_OWNER"
            )
        name = validate_login_name(login)
        account_id = new_id("acc")
        if principal.role is not Role.ADMIN and kind not in (
            AccountKind.ORGANISATION_ADMIN,
            AccountKind.ANALYST,
        ):
            raise PermissionDenied("organisations create organisation admins and analysts only")
        require_unscoped(principal, "create accounts")
        account = await self._account_principal(
            principal, account_id, kind, organisation_id, owner_id
        )
        if not await self._accounts.create_account(account_id, login_key(name), account.to_json()):
            raise AlreadyExists("this login is taken: choose another")
        code = await self._new_activation(account_id, login_key(name))
        policy = await self._policies.policy_for(account)
        await self._audit.admin(
            principal,
            "account.create",
            organisation_id=account.organisation_id or "",
            detail=event_detail(account=account_id, role=account.role.value),
        )
        return account_id, code, policy.totp_required

    async def _account_principal(
        self,
        principal: Principal,
        account_id: str,
        kind: AccountKind,
        organisation_id: str,
        owner_id: str,
    ) -> Principal:
        if kind is AccountKind.PLATFORM_ADMIN:
            return Principal(role=Role.ADMIN, credential_id=account_id)
        if kind is AccountKind.SITE_OWNER:
            owner = validate_text(owner_id, field_name="owner_id", max_len=100)
            return Principal(role=Role.SITE_OWNER, credential_id=account_id, owner_id=owner)
        if kind is AccountKind.ANALYST and not organisation_id and principal.role is Role.ADMIN:
            return Principal(role=Role.ANALYST, credential_id=account_id)  # operator analyst
        org_id = acting_organisation(principal, organisation_id)
        if (
            await self._orgs.get_organisation(validate_id(org_id, field_name="organisation_id"))
            is None
        ):
            raise NotFound(f"organisation {org_id} does not exist")
        role = Role.ORGANISATION if kind is AccountKind.ORGANISATION_ADMIN else Role.ANALYST
        return Principal(role=role, credential_id=account_id, organisation_id=org_id)

    async def set_account_enabled(
        self, principal: Principal, account_id: str, enabled: bool
    ) -> int:
        """Disable an account (every session ends, logins are refused) or enable it again;
        how many sessions ended."""
        require_unscoped(principal, "disable or enable accounts")
        account = await self._subjects.visible_account(principal, account_id)
        if account.credential_id == principal.credential_id and not enabled:
            raise FailedPrecondition("an account cannot disable itself: ask another admin")
        await self._accounts.set_account_disabled(account_id, not enabled)
        ended = (
            0
            if enabled
            else await self._sessions.end_sessions(account_id, expired_before=EVERY_SESSION)
        )
        await self._audit.admin(
            principal,
            "account.enable" if enabled else "account.disable",
            organisation_id=account.organisation_id or "",
            detail=event_detail(account=account_id, sessions_ended=ended),
        )
        return ended

    async def issue_holder_activation(self, principal: Principal, holder_id: str) -> str:
        """A new one-time activation code for a key holder's app. The holder's password and
        every session stop working (a new phone, or a lost one)."""
        holder = await self._subjects.visible_holder(principal, holder_id)
        ended = await self._sessions.end_sessions(
            holder.key_holder_id, expired_before=EVERY_SESSION
        )
        await self._logins.set_password(holder.key_holder_id, holder.key_holder_id, "", "")
        code = await self._new_activation(holder.key_holder_id, holder.key_holder_id)
        await self._audit.admin(
            principal,
            "holder.activation",
            organisation_id=holder.organisation_id,
            holder_id=holder.key_holder_id,
            detail=event_detail(sessions_ended=ended),
        )
        return code

    async def _new_activation(self, subject: str, key: str) -> str:
        code = base64.b32encode(secrets.token_bytes(15)).decode().rstrip("=")
        await self._logins.put_activation(digest(code).hex(), subject, key, self._activation_ttl)
        return code

    async def activate(self, code: str, password: str) -> tuple[str, str]:
        """Set the password with a one-time code; (login for holders, TOTP URI for staff)."""
        validate_password(password)
        code = code.strip().upper()
        if not 16 <= len(code) <= 64 or not code.isalnum():
            raise InvalidArgument("activation_code must be the code as given (letters and digits)")
        taken = await self._logins.take_activation(digest(code).hex())
        if taken is None:
            await self._audit.security("auth.activate", "refused", reason="unknown_code")
            raise Unauthenticated("activation code unknown, used or expired: ask for a new one")
        subject, key = taken
        is_holder = subject.startswith(HOLDER_PREFIX)
        secret = "" if is_holder else self._passwords.new_totp_secret()
        sealed = self._passwords.seal_totp(secret, key) if secret else ""
        await self._logins.set_password(key, subject, await self._passwords.hash(password), sealed)
        await self._audit.security(
            "auth.activate",
            "ok",
            actor_role="key_holder" if is_holder else "account",
            actor_id=subject,
            holder_id=subject if is_holder else "",
        )
        uri = self._passwords.totp_uri(secret, subject) if secret else ""
        return (subject if is_holder else ""), uri
