"""Login sessions: login with lockout and TOTP, renewal, logout, revocation, and unlocking a
locked login.

A login yields a short-lived access credential and a refresh credential that rotates on every
renewal; presenting a refresh credential that was already used ends the session (it was
copied). A key holder's sessions live in its hash, where the unlock path reads them in its one
round trip; a staff account's in the account's hash.

Every failed login, lockout, unlock of a login, refresh-credential reuse and session revocation
is an access-log event; passwords, codes and secrets never are (logins by digest only).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from authority.domain.credentials import (
    HOLDER_PREFIX,
    Principal,
    Role,
    entry_expiry,
    new_session_secrets,
    parse_refresh,
    session_entry,
)
from authority.domain.errors import FailedPrecondition, InvalidArgument, NotFound, Unauthenticated
from authority.domain.login import CUSTOMER_POLICY, LoginState, after_failure, login_key
from authority.domain.ports.accesslog import EventRecorder
from authority.domain.ports.clock import Clock
from authority.domain.ports.identity import EVERY_SESSION, LoginStore, Passwords, SessionStore
from authority.usecases.audit_trail import AuditTrail, actor_facts, event_detail
from authority.usecases.login_policies import LoginPolicies
from authority.usecases.login_subjects import LoginSubjects

LOGIN_FAILED = (
    "login failed: wrong login, password or two-factor code (accounts with two-factor login "
    "also send totp_code)"
)


@dataclass(frozen=True, slots=True)
class SessionSettings:
    access_ttl: int = 900
    """Seconds an access credential works (renewed with the refresh credential)."""
    holder_refresh_ttl: int = 30 * 86400
    """Seconds an app's session lasts without renewal."""
    staff_refresh_ttl: int = 12 * 3600
    """Seconds a staff session lasts without renewal."""


@dataclass(frozen=True, slots=True)
class IssuedSession:
    session_id: str
    subject: str
    role: Role
    access_credential: str
    access_expires_at: int
    refresh_credential: str
    refresh_expires_at: int


class Sessions:
    def __init__(
        self,
        *,
        logins: LoginStore,
        sessions: SessionStore,
        subjects: LoginSubjects,
        policies: LoginPolicies,
        passwords: Passwords,
        clock: Clock,
        events: EventRecorder,
        settings: SessionSettings = SessionSettings(),
    ) -> None:
        self._logins = logins
        self._sessions = sessions
        self._subjects = subjects
        self._policies = policies
        self._passwords = passwords
        self._clock = clock
        self._audit = AuditTrail(events)
        self._settings = settings

    def now(self) -> int:
        """POSIX seconds by the authority's clock."""
        return int(self._clock.now().timestamp())

    async def login(self, login: str, password: str, totp_code: str) -> IssuedSession:
        if not login.strip() or len(login) > 200 or len(password) > 1000 or len(totp_code) > 16:
            raise InvalidArgument("login, password (at most 1000) and totp_code are required")
        key = login_key(login)
        record = await self._logins.get_login(key)
        subject = record.get("sub", b"").decode()
        principal = await self._subjects.principal_of(subject) if subject else None
        policy = await self._policies.policy_for(principal) if principal else CUSTOMER_POLICY
        now = self.now()
        state = LoginState(int(record.get("fails", b"0")), int(record.get("locked_until", b"0")))
        facts = _login_facts(key, principal)
        if state.locked(now):
            await self._audit.security("auth.login", "refused", reason="locked", **facts)
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
            step = self._passwords.totp_step(secret, totp_code, now)
            ok = step is not None and await self._logins.use_totp_step(key, step)
            reason = "bad_totp"
        if not ok or principal is None:
            after = after_failure(state, policy, now)
            await self._logins.put_login_state(key, after, forget_after=2 * policy.lockout_seconds)
            await self._audit.security("auth.login", "refused", reason=reason, **facts)
            if after.locked(now):
                locked = {
                    **facts,
                    "detail": event_detail(login=_login_ref(key), until=after.locked_until),
                }
                await self._audit.security(
                    "auth.lockout",
                    "ok",
                    reason=f"{policy.max_failed_logins} failed logins",
                    **locked,
                )
            raise Unauthenticated(LOGIN_FAILED)
        if state.failures:
            await self._logins.put_login_state(key, LoginState(), forget_after=0)
        session = await self._open_session(principal)
        await self._audit.security(
            "auth.login",
            "ok",
            detail=event_detail(session=session.session_id),
            **actor_facts(principal),
        )
        return session

    def _refresh_ttl(self, principal: Principal) -> int:
        holder = principal.role is Role.KEY_HOLDER
        return self._settings.holder_refresh_ttl if holder else self._settings.staff_refresh_ttl

    async def _open_session(self, principal: Principal) -> IssuedSession:
        subject = principal.credential_id
        now = self.now()
        issued = new_session_secrets(subject)
        access_exp, refresh_exp = (
            now + self._settings.access_ttl,
            now + self._refresh_ttl(principal),
        )
        await self._sessions.end_sessions(subject, expired_before=now)  # forget expired sessions
        if not await self._sessions.put_session(
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
        current = await self._sessions.refresh_entry(subject, sid)
        now = self.now()
        principal = await self._subjects.principal_of(subject)
        if current is None or principal is None or entry_expiry(current) <= now:
            raise Unauthenticated("this session ended or expired: log in again")
        if not secrets.compare_digest(current[8:], presented.digest):
            # A refresh credential that was already used: whoever holds the other copy is not
            # the app. End the session for both.
            await self._sessions.end_session(subject, sid)
            await self._audit.security(
                "auth.refresh_reuse",
                "refused",
                detail=event_detail(session=sid),
                **actor_facts(principal),
            )
            raise Unauthenticated("this refresh credential was already used: log in again")
        issued = new_session_secrets(subject, sid)
        access_exp, refresh_exp = (
            now + self._settings.access_ttl,
            now + self._refresh_ttl(principal),
        )
        if not await self._sessions.rotate_session(
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
        await self._sessions.end_session(principal.credential_id, principal.session_id)
        await self._audit.security(
            "auth.logout",
            "ok",
            detail=event_detail(session=principal.session_id),
            **actor_facts(principal),
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
            holder = await self._subjects.visible_holder(principal, holder_id)
            subject, org_id = holder.key_holder_id, holder.organisation_id
        elif account_id:
            account = await self._subjects.visible_account(principal, account_id)
            subject, org_id = account.credential_id, account.organisation_id or ""
        else:
            raise InvalidArgument("give key_holder_id or account_id")
        ended = await self._sessions.end_sessions(subject, expired_before=EVERY_SESSION)
        await self._subject_event(principal, "sessions.revoke", subject, org_id, sessions=ended)
        return ended

    async def unlock_login(self, principal: Principal, login: str) -> bool:
        if not login.strip() or len(login) > 200:
            raise InvalidArgument("login is required")
        key = login_key(login)
        record = await self._logins.get_login(key)
        subject = record.get("sub", b"").decode()
        if not subject:
            raise NotFound("no such login")
        if subject.startswith(HOLDER_PREFIX):
            holder = await self._subjects.visible_holder(
                principal, subject, not_found="no such login"
            )
            org_id = holder.organisation_id
        else:
            account = await self._subjects.visible_account(
                principal, subject, not_found="no such login"
            )
            org_id = account.organisation_id or ""
        was_locked = LoginState(0, int(record.get("locked_until", b"0"))).locked(self.now())
        await self._logins.put_login_state(key, LoginState(), forget_after=0)
        await self._subject_event(principal, "login.unlock", subject, org_id, was_locked=was_locked)
        return was_locked

    async def _subject_event(
        self, principal: Principal, action: str, subject: str, org_id: str, **facts: object
    ) -> None:
        """An administrative action on a holder's or an account's logins."""
        await self._audit.admin(
            principal,
            action,
            organisation_id=org_id,
            holder_id=subject if subject.startswith(HOLDER_PREFIX) else "",
            detail=event_detail(subject=subject, **facts),
        )


def _login_ref(key: str) -> str:
    """How a login appears in the log: a holder's pseudonym, or a staff login's digest prefix
    (never the name typed)."""
    return key if key.startswith(HOLDER_PREFIX) else key[:17]


def _login_facts(key: str, principal: Principal | None) -> dict[str, str]:
    """What a login event says about who tried: the subject when the login exists."""
    facts = actor_facts(principal) if principal else {"actor_role": "", "actor_id": ""}
    facts["detail"] = event_detail(login=_login_ref(key))
    return facts
