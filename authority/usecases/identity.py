"""Identity use cases: staff accounts, activation, login with lockout and TOTP, login sessions
(renewable, revocable), login policies, organisations' API credentials, bridge credentials.

Sessions: a login yields a short-lived access credential and a refresh credential that rotates
on every renewal; presenting a refresh credential that was already used ends the session (it
was copied). A key holder's sessions live in its hash, where the unlock path reads them in its
one round trip; a staff account's in the account's hash.

Every failed login, lockout, unlock of a login, refresh-credential reuse and session revocation
is an access-log event; passwords, codes and secrets never are (logins by digest only).
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from authority.domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from authority.domain.events import EventKind, event
from authority.domain.login import (
    CUSTOMER_POLICY,
    OPERATOR_POLICY,
    AccountRecord,
    LoginPolicy,
    LoginState,
    after_failure,
    login_key,
    validate_login_name,
    validate_password,
)
from authority.domain.model import KeyHolder, Organisation, new_id, validate_id, validate_text
from authority.domain.ports.accesslog import EventRecorder
from authority.domain.ports.clock import Clock
from authority.domain.ports.credentials import CredentialStore
from authority.usecases.auth import acting_organisation, may_see_organisation_data
from authority.usecases.authz import ApiScope
from authority.usecases.commands import AuditTrail
from authority.usecases.credentials import (
    ACCOUNT_PREFIX,
    HOLDER_PREFIX,
    Principal,
    Role,
    digest,
    entry_expiry,
    new_bridge_key,
    new_organisation_key,
    new_session_secrets,
    parse_refresh,
    session_entry,
)
from authority.usecases.passwords import Passwords, new_totp_secret, totp_step, totp_uri

FAR_FUTURE = 2**52
LOGIN_FAILED = (
    "login failed: wrong login, password or two-factor code (accounts with two-factor login "
    "also send totp_code)"
)


class AccountKind(StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    ORGANISATION_ADMIN = "organisation_admin"
    ANALYST = "analyst"
    SITE_OWNER = "site_owner"


@dataclass(frozen=True, slots=True)
class SessionSettings:
    access_ttl: int = 900
    """Seconds an access credential works (renewed with the refresh credential)."""
    holder_refresh_ttl: int = 30 * 86400
    """Seconds an app's session lasts without renewal."""
    staff_refresh_ttl: int = 12 * 3600
    """Seconds a staff session lasts without renewal."""
    activation_ttl: int = 7 * 86400
    """Seconds a one-time activation code works."""


@dataclass(frozen=True, slots=True)
class IssuedSession:
    session_id: str
    subject: str
    role: Role
    access_credential: str
    access_expires_at: int
    refresh_credential: str
    refresh_expires_at: int


@dataclass(frozen=True, slots=True)
class PolicyTarget:
    organisation_id: str = ""
    operator: bool = False
    owner_id: str = ""


@dataclass(frozen=True, slots=True)
class ApiCredentialInfo:
    credential_id: str
    organisation_id: str
    scopes: tuple[str, ...]
    label: str
    created_at: int
    rotated_at: int = 0
    revoked_at: int = 0

    def revoked(self, now: int) -> bool:
        return bool(self.revoked_at) and self.revoked_at <= now

    def to_json(self) -> str:
        return json.dumps(
            {
                "scopes": list(self.scopes),
                "label": self.label,
                "created_at": self.created_at,
                "rotated_at": self.rotated_at,
                "revoked_at": self.revoked_at,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, credential_id: str, organisation_id: str, raw: str) -> ApiCredentialInfo:
        d = json.loads(raw)
        return cls(
            credential_id=credential_id,
            organisation_id=organisation_id,
            scopes=tuple(d["scopes"]),
            label=d["label"],
            created_at=int(d["created_at"]),
            rotated_at=int(d.get("rotated_at", 0)),
            revoked_at=int(d.get("revoked_at", 0)),
        )


class IdentityStore(Protocol):
    async def create_account(self, account_id: str, login: str, principal: str) -> bool: ...
    async def get_account(self, account_id: str) -> AccountRecord | None: ...
    async def set_account_disabled(self, account_id: str, disabled: bool) -> None: ...
    async def get_login(self, key: str) -> dict[str, bytes]: ...
    async def put_login_state(self, key: str, state: LoginState, *, forget_after: int) -> None: ...
    async def set_password(
        self, key: str, subject: str, password_hash: str, totp_secret: str
    ) -> None: ...
    async def use_totp_step(self, key: str, step: int) -> bool: ...
    async def put_activation(
        self, code_digest: str, subject: str, login: str, ttl_seconds: int
    ) -> None: ...
    async def take_activation(self, code_digest: str) -> tuple[str, str] | None: ...
    async def put_session(
        self, subject: str, session_id: str, access_entry: bytes, refresh_entry: bytes
    ) -> bool: ...
    async def refresh_entry(self, subject: str, session_id: str) -> bytes | None: ...
    async def rotate_session(
        self,
        subject: str,
        session_id: str,
        *,
        expected_refresh: bytes,
        access_entry: bytes,
        refresh_entry: bytes,
    ) -> bool: ...
    async def end_session(self, subject: str, session_id: str) -> bool: ...
    async def end_sessions(self, subject: str, *, expired_before: int) -> int: ...
    async def get_policy(self, scope: str) -> LoginPolicy | None: ...
    async def put_policy(self, scope: str, policy: LoginPolicy) -> None: ...
    async def index_api_credential(
        self, organisation_id: str, credential_id: str, meta: str
    ) -> None: ...
    async def api_credentials(self, organisation_id: str) -> dict[str, str]: ...
    async def retire_credential(self, credential_id: str, after_seconds: int) -> None: ...


class HolderReader(Protocol):
    async def get_holder(self, holder_id: str) -> KeyHolder | None: ...


class OrganisationReader(Protocol):
    async def get_organisation(self, organisation_id: str) -> Organisation | None: ...


class Identity:
    def __init__(
        self,
        *,
        store: IdentityStore,
        holders: HolderReader,
        organisations: OrganisationReader,
        credentials: CredentialStore,
        passwords: Passwords,
        clock: Clock,
        events: EventRecorder,
        settings: SessionSettings = SessionSettings(),
    ) -> None:
        self._store = store
        self._holders = holders
        self._orgs = organisations
        self._creds = credentials
        self._passwords = passwords
        self._clock = clock
        self._events = events
        self._audit = AuditTrail(events)
        self._settings = settings

    def now(self) -> int:
        """POSIX seconds by the authority's clock."""
        return int(self._clock.now().timestamp())

    # -- accounts and activation -------------------------------------------------------------

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
        _unscoped(principal, "create accounts")
        account = await self._account_principal(
            principal, account_id, kind, organisation_id, owner_id
        )
        if not await self._store.create_account(account_id, login_key(name), account.to_json()):
            raise AlreadyExists("this login is taken: choose another")
        code = await self._new_activation(account_id, login_key(name))
        policy = await self._policy_for(account)
        await self._audit.admin(
            principal,
            "account.create",
            organisation_id=account.organisation_id or "",
            detail=_detail(account=account_id, role=account.role.value),
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
        _unscoped(principal, "disable or enable accounts")
        account = await self._visible_account(principal, account_id)
        if account.credential_id == principal.credential_id and not enabled:
            raise FailedPrecondition("an account cannot disable itself: ask another admin")
        await self._store.set_account_disabled(account_id, not enabled)
        ended = (
            0 if enabled else await self._store.end_sessions(account_id, expired_before=FAR_FUTURE)
        )
        await self._audit.admin(
            principal,
            "account.enable" if enabled else "account.disable",
            organisation_id=account.organisation_id or "",
            detail=_detail(account=account_id, sessions_ended=ended),
        )
        return ended

    async def issue_holder_activation(self, principal: Principal, holder_id: str) -> str:
        """A new one-time activation code for a key holder's app. The holder's password and
        every session stop working (a new phone, or a lost one)."""
        holder = await self._visible_holder(principal, holder_id)
        ended = await self._store.end_sessions(holder.key_holder_id, expired_before=FAR_FUTURE)
        await self._store.set_password(holder.key_holder_id, holder.key_holder_id, "", "")
        code = await self._new_activation(holder.key_holder_id, holder.key_holder_id)
        await self._audit.admin(
            principal,
            "holder.activation",
            organisation_id=holder.organisation_id,
            holder_id=holder.key_holder_id,
            detail=_detail(sessions_ended=ended),
        )
        return code

    async def _new_activation(self, subject: str, key: str) -> str:
        code = base64.b32encode(secrets.token_bytes(15)).decode().rstrip("=")
        await self._store.put_activation(
            digest(code).hex(), subject, key, self._settings.activation_ttl
        )
        return code

    async def activate(self, code: str, password: str) -> tuple[str, str]:
        """Set the password with a one-time code; (login for holders, TOTP URI for staff)."""
        validate_password(password)
        code = code.strip().upper()
        if not 16 <= len(code) <= 64 or not code.isalnum():
            raise InvalidArgument("activation_code must be the code as given (letters and digits)")
        taken = await self._store.take_activation(digest(code).hex())
        if taken is None:
            await self._security_event("auth.activate", "refused", reason="unknown_code")
            raise Unauthenticated("activation code unknown, used or expired: ask for a new one")
        subject, key = taken
        is_holder = subject.startswith(HOLDER_PREFIX)
        secret = "" if is_holder else new_totp_secret()
        sealed = self._passwords.seal_totp(secret, key) if secret else ""
        await self._store.set_password(key, subject, await self._passwords.hash(password), sealed)
        await self._security_event(
            "auth.activate",
            "ok",
            actor_role="key_holder" if is_holder else "account",
            actor_id=subject,
            holder_id=subject if is_holder else "",
        )
        return (subject if is_holder else ""), (totp_uri(secret, subject) if secret else "")

    # -- login, refresh, logout --------------------------------------------------------------

    async def login(self, login: str, password: str, totp_code: str) -> IssuedSession:
        if not login.strip() or len(login) > 200 or len(password) > 1000 or len(totp_code) > 16:
            raise InvalidArgument("login, password (at most 1000) and totp_code are required")
        key = login_key(login)
        record = await self._store.get_login(key)
        subject = record.get("sub", b"").decode()
        principal = await self._subject_principal(subject) if subject else None
        policy = await self._policy_for(principal) if principal else CUSTOMER_POLICY
        now = self.now()
        state = LoginState(int(record.get("fails", b"0")), int(record.get("locked_until", b"0")))
        facts = _login_facts(key, principal)
        if state.locked(now):
            await self._security_event("auth.login", "refused", reason="locked", **facts)
            until = datetime.fromtimestamp(state.locked_until, UTC).isoformat(timespec="seconds")
            raise Unauthenticated(
                f"this login is locked after repeated failures until {until}; "
                "an administrator can unlock it sooner"
            )
        stored_hash = record.get("pw", b"").decode() or None
        ok = await self._passwords.verify(stored_hash, password) and principal is not None
        reason = "bad_password"
        staff = principal is not None and principal.role is not Role.KEY_HOLDER
        if ok and staff and policy.totp_required:
            secret = self._passwords.open_totp(record.get("totp", b"").decode(), key)
            step = totp_step(secret, totp_code, now)
            ok = step is not None and await self._store.use_totp_step(key, step)
            reason = "bad_totp"
        if not ok or principal is None:
            after = after_failure(state, policy, now)
            await self._store.put_login_state(key, after, forget_after=2 * policy.lockout_seconds)
            await self._security_event("auth.login", "refused", reason=reason, **facts)
            if after.locked(now):
                locked = {
                    **facts,
                    "detail": _detail(login=_login_ref(key), until=after.locked_until),
                }
                await self._security_event(
                    "auth.lockout",
                    "ok",
                    reason=f"{policy.max_failed_logins} failed logins",
                    **locked,
                )
            raise Unauthenticated(LOGIN_FAILED)
        if state.failures:
            await self._store.put_login_state(key, LoginState(), forget_after=0)
        session = await self._open_session(principal)
        await self._security_event(
            "auth.login", "ok", detail=_detail(session=session.session_id), **_actor(principal)
        )
        return session

    async def _open_session(self, principal: Principal) -> IssuedSession:
        subject = principal.credential_id
        now = self.now()
        holder = principal.role is Role.KEY_HOLDER
        refresh_ttl = (
            self._settings.holder_refresh_ttl if holder else self._settings.staff_refresh_ttl
        )
        issued = new_session_secrets(subject)
        access_exp, refresh_exp = now + self._settings.access_ttl, now + refresh_ttl
        await self._store.end_sessions(subject, expired_before=now)  # forget expired sessions
        if not await self._store.put_session(
            subject,
            issued.session_id,
            session_entry(access_exp, issued.access_digest),
            session_entry(refresh_exp, issued.refresh_digest),
        ):
            raise Unauthenticated(LOGIN_FAILED)  # the holder or account was deleted meanwhile
        return IssuedSession(
            issued.session_id, subject, principal.role, issued.access_credential, access_exp,
            issued.refresh_credential, refresh_exp,
        )  # fmt: skip

    async def refresh(self, refresh_credential: str) -> IssuedSession:
        presented = parse_refresh(refresh_credential)
        subject, sid = presented.subject, presented.session_id
        current = await self._store.refresh_entry(subject, sid)
        now = self.now()
        principal = await self._subject_principal(subject)
        if current is None or principal is None or entry_expiry(current) <= now:
            raise Unauthenticated("this session ended or expired: log in again")
        if not secrets.compare_digest(current[8:], presented.digest):
            # A refresh credential that was already used: whoever holds the other copy is not
            # the app. End the session for both.
            await self._store.end_session(subject, sid)
            await self._security_event(
                "auth.refresh_reuse", "refused", detail=_detail(session=sid), **_actor(principal)
            )
            raise Unauthenticated("this refresh credential was already used: log in again")
        holder = principal.role is Role.KEY_HOLDER
        refresh_ttl = (
            self._settings.holder_refresh_ttl if holder else self._settings.staff_refresh_ttl
        )
        issued = new_session_secrets(subject, sid)
        access_exp, refresh_exp = now + self._settings.access_ttl, now + refresh_ttl
        if not await self._store.rotate_session(
            subject,
            sid,
            expected_refresh=current,
            access_entry=session_entry(access_exp, issued.access_digest),
            refresh_entry=session_entry(refresh_exp, issued.refresh_digest),
        ):
            raise Unauthenticated("this session was renewed or ended meanwhile: log in again")
        return IssuedSession(
            sid, subject, principal.role, issued.access_credential, access_exp,
            issued.refresh_credential, refresh_exp,
        )  # fmt: skip

    async def logout(self, principal: Principal) -> str:
        if principal.session_id is None:
            raise FailedPrecondition("this call is not in a login session (nothing to log out)")
        await self._store.end_session(principal.credential_id, principal.session_id)
        await self._security_event(
            "auth.logout", "ok", detail=_detail(session=principal.session_id), **_actor(principal)
        )
        return principal.session_id

    async def revoke_sessions(
        self, principal: Principal, *, holder_id: str, account_id: str
    ) -> int:
        """End every session of a key holder or a staff account."""
        if bool(holder_id) and bool(account_id):
            raise InvalidArgument("give key_holder_id or account_id, not both")
        if principal.role is Role.KEY_HOLDER and not account_id:
            holder_id = holder_id or principal.credential_id
        if holder_id:
            holder = await self._visible_holder(principal, holder_id)
            subject, org_id = holder.key_holder_id, holder.organisation_id
        elif account_id:
            account = await self._visible_account(principal, account_id)
            subject, org_id = account.credential_id, account.organisation_id or ""
        else:
            raise InvalidArgument("give key_holder_id or account_id")
        ended = await self._store.end_sessions(subject, expired_before=FAR_FUTURE)
        await self._audit.admin(
            principal,
            "sessions.revoke",
            organisation_id=org_id,
            holder_id=subject if subject.startswith(HOLDER_PREFIX) else "",
            detail=_detail(subject=subject, sessions=ended),
        )
        return ended

    async def unlock_login(self, principal: Principal, login: str) -> bool:
        if not login.strip() or len(login) > 200:
            raise InvalidArgument("login is required")
        key = login_key(login)
        record = await self._store.get_login(key)
        subject = record.get("sub", b"").decode()
        if not subject:
            raise NotFound("no such login")
        if subject.startswith(HOLDER_PREFIX):
            holder = await self._visible_holder(principal, subject, not_found="no such login")
            org_id = holder.organisation_id
        else:
            account = await self._visible_account(principal, subject, not_found="no such login")
            org_id = account.organisation_id or ""
        was_locked = LoginState(0, int(record.get("locked_until", b"0"))).locked(self.now())
        await self._store.put_login_state(key, LoginState(), forget_after=0)
        await self._audit.admin(
            principal,
            "login.unlock",
            organisation_id=org_id,
            holder_id=subject if subject.startswith(HOLDER_PREFIX) else "",
            detail=_detail(subject=subject, was_locked=was_locked),
        )
        return was_locked

    # -- login policies ----------------------------------------------------------------------

    def _policy_scope(self, principal: Principal, target: PolicyTarget) -> str:
        given = sum((bool(target.organisation_id), target.operator, bool(target.owner_id)))
        if principal.role is Role.ORGANISATION:
            if target.operator or target.owner_id:
                raise NotFound("no such login policy")
            return "org:" + acting_organisation(principal, target.organisation_id)
        if given != 1:
            raise InvalidArgument("give exactly one of organisation_id, operator or owner_id")
        if target.operator:
            return "operator"
        if target.owner_id:
            return "owner:" + validate_text(target.owner_id, field_name="owner_id", max_len=100)
        return "org:" + validate_id(target.organisation_id, field_name="organisation_id")

    async def get_policy(self, principal: Principal, target: PolicyTarget) -> LoginPolicy:
        scope = self._policy_scope(principal, target)
        await self._known_scope(scope)
        return await self._scope_policy(scope)

    async def set_policy(
        self, principal: Principal, target: PolicyTarget, policy: LoginPolicy
    ) -> LoginPolicy:
        _unscoped(principal, "change login policies")
        scope = self._policy_scope(principal, target)
        await self._known_scope(scope)
        await self._store.put_policy(scope, policy)
        await self._audit.admin(
            principal,
            "login_policy.set",
            organisation_id=scope.removeprefix("org:") if scope.startswith("org:") else "",
            detail=_detail(
                scope=scope,
                max_failed_logins=policy.max_failed_logins,
                lockout_seconds=policy.lockout_seconds,
                totp_required=policy.totp_required,
            ),
        )
        return policy

    async def _known_scope(self, scope: str) -> None:
        if scope.startswith("org:"):
            org_id = scope.removeprefix("org:")
            if await self._orgs.get_organisation(org_id) is None:
                raise NotFound(f"organisation {org_id} does not exist")

    async def _scope_policy(self, scope: str) -> LoginPolicy:
        stored = await self._store.get_policy(scope)
        if stored is not None:
            return stored
        return OPERATOR_POLICY if scope == "operator" else CUSTOMER_POLICY

    async def _policy_for(self, principal: Principal) -> LoginPolicy:
        if principal.role is Role.ADMIN or (
            principal.role is Role.ANALYST and principal.organisation_id is None
        ):
            return await self._scope_policy("operator")
        if principal.role is Role.SITE_OWNER:
            return await self._scope_policy(f"owner:{principal.owner_id}")
        return await self._scope_policy(f"org:{principal.organisation_id}")

    # -- API and bridge credentials ----------------------------------------------------------

    async def create_api_credential(
        self, principal: Principal, *, organisation_id: str, scopes: list[str], label: str
    ) -> tuple[ApiCredentialInfo, str]:
        org_id = acting_organisation(principal, organisation_id)
        if await self._orgs.get_organisation(org_id) is None:
            raise NotFound(f"organisation {org_id} does not exist")
        wanted = _validate_scopes(scopes)
        if principal.scopes is not None and not set(wanted) <= principal.scopes:
            raise PermissionDenied(
                "an API credential cannot create one with more scopes than it has"
            )
        label = validate_text(label, field_name="label", max_len=100, required=False)
        info, credential = await self._new_api_credential(org_id, wanted, label)
        await self._audit.admin(
            principal,
            "api_credential.create",
            organisation_id=org_id,
            detail=_detail(credential=info.credential_id, scopes=list(wanted)),
        )
        return info, credential

    async def _new_api_credential(
        self, org_id: str, scopes: tuple[str, ...], label: str, *, rotated: bool = False
    ) -> tuple[ApiCredentialInfo, str]:
        cid, credential, key_digest = new_organisation_key()
        now = self.now()
        stored = Principal(
            role=Role.ORGANISATION,
            credential_id=cid,
            organisation_id=org_id,
            scopes=frozenset(scopes),
        )
        await self._creds.put_credential(cid, key_digest, stored.to_json())
        info = ApiCredentialInfo(cid, org_id, scopes, label, now, now if rotated else 0)
        await self._store.index_api_credential(org_id, cid, info.to_json())
        return info, credential

    async def list_api_credentials(
        self, principal: Principal, organisation_id: str
    ) -> list[ApiCredentialInfo]:
        org_id = acting_organisation(principal, organisation_id)
        if await self._orgs.get_organisation(org_id) is None:
            raise NotFound(f"organisation {org_id} does not exist")
        found = await self._store.api_credentials(org_id)
        infos = [ApiCredentialInfo.from_json(cid, org_id, raw) for cid, raw in found.items()]
        await self._audit.lookup(principal, "api_credential.list", organisation_id=org_id)
        return sorted(infos, key=lambda i: (i.created_at, i.credential_id))

    async def _visible_api_credential(
        self, principal: Principal, credential_id: str
    ) -> ApiCredentialInfo:
        missing = NotFound(f"API credential {credential_id} does not exist")
        if not credential_id.startswith("ak_"):
            raise missing
        found = await self._creds.get_credential(
            validate_id(credential_id, field_name="credential_id")
        )
        if found is None:
            raise missing
        stored = Principal.from_json(credential_id, found[1])
        org_id = stored.organisation_id or ""
        if stored.role is not Role.ORGANISATION or not may_see_organisation_data(principal, org_id):
            raise missing
        indexed = (await self._store.api_credentials(org_id)).get(credential_id)
        if indexed is not None:
            return ApiCredentialInfo.from_json(credential_id, org_id, indexed)
        scopes = tuple(sorted(stored.scopes)) if stored.scopes is not None else ()
        return ApiCredentialInfo(credential_id, org_id, scopes, "", 0)

    async def rotate_api_credential(
        self, principal: Principal, credential_id: str, overlap_seconds: int
    ) -> tuple[ApiCredentialInfo, str]:
        """A new credential (new id) with the same scopes and label; the old one stops working
        now, or after ``overlap_seconds`` (at most a day) for systems to switch over."""
        if not 0 <= overlap_seconds <= 86400:
            raise InvalidArgument("overlap_seconds must be 0-86400")
        old = await self._visible_api_credential(principal, credential_id)
        now = self.now()
        if old.revoked(now):
            raise FailedPrecondition(f"API credential {credential_id} is revoked")
        info, credential = await self._new_api_credential(
            old.organisation_id,
            old.scopes or tuple(sorted(a.value for a in ApiScope)),
            old.label,
            rotated=True,
        )
        await self._store.retire_credential(credential_id, overlap_seconds)
        retired = replace(old, rotated_at=now, revoked_at=now + overlap_seconds)
        await self._store.index_api_credential(
            old.organisation_id, credential_id, retired.to_json()
        )
        await self._audit.admin(
            principal,
            "api_credential.rotate",
            organisation_id=old.organisation_id,
            detail=_detail(
                credential=credential_id, replacement=info.credential_id, overlap=overlap_seconds
            ),
        )
        return info, credential

    async def revoke_api_credential(
        self, principal: Principal, credential_id: str
    ) -> ApiCredentialInfo:
        old = await self._visible_api_credential(principal, credential_id)
        now = self.now()
        await self._store.retire_credential(credential_id, 0)
        revoked = replace(old, revoked_at=now)
        await self._store.index_api_credential(
            old.organisation_id, credential_id, revoked.to_json()
        )
        await self._audit.admin(
            principal,
            "api_credential.revoke",
            organisation_id=old.organisation_id,
            detail=_detail(credential=credential_id),
        )
        return revoked

    async def create_bridge_credential(self, principal: Principal, name: str) -> tuple[str, str]:
        name = validate_id(name, field_name="name")
        cid, credential, key_digest = new_bridge_key()
        await self._creds.put_credential(
            cid, key_digest, Principal(role=Role.BRIDGE, credential_id=cid).to_json()
        )
        await self._audit.admin(
            principal, "bridge_credential.create", detail=_detail(credential=cid, name=name)
        )
        return cid, credential

    # -- tenancy helpers ---------------------------------------------------------------------

    async def _visible_holder(
        self, principal: Principal, holder_id: str, *, not_found: str = ""
    ) -> KeyHolder:
        holder = await self._holders.get_holder(validate_id(holder_id, field_name="key_holder_id"))
        visible = holder is not None and (
            may_see_organisation_data(principal, holder.organisation_id)
            or principal.key_holder_id == holder_id
        )
        if holder is None or not visible:
            raise NotFound(not_found or f"key holder {holder_id} does not exist")
        return holder

    async def _visible_account(
        self, principal: Principal, account_id: str, *, not_found: str = ""
    ) -> Principal:
        missing = NotFound(not_found or f"account {account_id} does not exist")
        if not account_id.startswith(ACCOUNT_PREFIX):
            raise missing
        found = await self._store.get_account(validate_id(account_id, field_name="account_id"))
        if found is None:
            raise missing
        account = Principal.from_json(account_id, found.principal)
        own = principal.credential_id == account_id
        in_org = account.organisation_id is not None and may_see_organisation_data(
            principal, account.organisation_id
        )
        if not (own or principal.role is Role.ADMIN or in_org):
            raise missing
        return account

    async def _subject_principal(self, subject: str) -> Principal | None:
        if subject.startswith(HOLDER_PREFIX):
            holder = await self._holders.get_holder(subject)
            if holder is None:
                return None
            return Principal(
                role=Role.KEY_HOLDER,
                credential_id=subject,
                key_holder_id=subject,
                organisation_id=holder.organisation_id,
            )
        found = await self._store.get_account(subject)
        if found is None or found.disabled:  # a disabled account logs in and renews nothing
            return None
        return Principal.from_json(subject, found.principal)

    # -- events ------------------------------------------------------------------------------

    async def _security_event(self, action: str, outcome: str, **facts: str) -> None:
        await self._events.record([event(EventKind.ADMIN, action, outcome, **facts)])


def _unscoped(principal: Principal, what: str) -> None:
    """Identity administration is for people (an organisation admin's login) and full
    credentials: a scoped API credential must not raise its own privileges."""
    if principal.scopes is not None:
        raise PermissionDenied(f"scoped API credentials cannot {what}")


def _validate_scopes(scopes: list[str]) -> tuple[str, ...]:
    known = {s.value for s in ApiScope}
    if not scopes:
        raise InvalidArgument(f"give at least one scope: {', '.join(sorted(known))}")
    unknown = sorted(set(scopes) - known)
    if unknown:
        raise InvalidArgument(
            f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return tuple(sorted(set(scopes)))


def _actor(principal: Principal) -> dict[str, str]:
    holder = principal.role is Role.KEY_HOLDER
    return {
        "actor_role": principal.role.value,
        "actor_id": principal.credential_id,
        "organisation_id": principal.organisation_id or "",
        "holder_id": principal.credential_id if holder else "",
    }


def _login_ref(key: str) -> str:
    """How a login appears in the log: a holder's pseudonym, or a staff login's digest prefix
    (never the name typed)."""
    return key if key.startswith(HOLDER_PREFIX) else key[:17]


def _login_facts(key: str, principal: Principal | None) -> dict[str, str]:
    """What a login event says about who tried: the subject when the login exists."""
    facts = _actor(principal) if principal else {"actor_role": "", "actor_id": ""}
    facts["detail"] = _detail(login=_login_ref(key))
    return facts


def _detail(**facts: object) -> str:
    return json.dumps(facts, sort_keys=True, separators=(",", ":"))
