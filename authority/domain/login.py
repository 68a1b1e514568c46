"""Login rules: the per-customer login policy, failed-login counting and lockout.

Pure: no clock, no store. A login's state is the count of failures in a row and when its lockout
ends; the rules say what one more failure or success does to it. Logins that do not exist are
counted exactly like logins that do, so a lockout tells nothing about which logins exist.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace

from authority.domain.errors import InvalidArgument

DEFAULT_MAX_FAILED = 3
DEFAULT_LOCKOUT_SECONDS = 900
MIN_PASSWORD, MAX_PASSWORD = 10, 200
_LOGIN_RE = re.compile(r"[a-z0-9._@-]{3,64}")
HOLDER_LOGIN_PREFIX = "kh_"


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """One customer's (organisation's, site owner's, or the operator's) login rules."""

    max_failed_logins: int = DEFAULT_MAX_FAILED
    """Failed logins in a row that lock the login."""
    lockout_seconds: int = DEFAULT_LOCKOUT_SECONDS
    """How long a lockout lasts (an admin may lift it earlier)."""
    totp_required: bool = False
    """Whether staff logins need a TOTP code (RFC 6238)."""

    def __post_init__(self) -> None:
        if not 1 <= self.max_failed_logins <= 20:
            raise InvalidArgument("max_failed_logins must be 1-20")
        if not 60 <= self.lockout_seconds <= 86400:
            raise InvalidArgument("lockout_seconds must be 60-86400")


OPERATOR_POLICY = LoginPolicy(totp_required=True)
"""The operator's own staff: two-factor login on by default."""
CUSTOMER_POLICY = LoginPolicy()
"""Organisations and site owners until they choose otherwise."""


@dataclass(frozen=True, slots=True)
class LoginState:
    failures: int = 0
    locked_until: int = 0
    """POSIX seconds; 0: not locked."""

    def locked(self, now: int) -> bool:
        return self.locked_until > now


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """A staff account as stored."""

    principal: str
    """The account's principal (JSON)."""
    login: str
    """Its login key (``login_key``)."""
    disabled: bool = False


def after_failure(state: LoginState, policy: LoginPolicy, now: int) -> LoginState:
    """One more failed login: counts it, and locks when the policy's limit is reached (the
    count starts again after the lockout)."""
    failures = state.failures + 1
    if failures >= policy.max_failed_logins:
        return LoginState(failures=0, locked_until=now + policy.lockout_seconds)
    return replace(state, failures=failures)


def login_key(login: str) -> str:
    """Where a login's state is kept: a key holder's pseudonym as it is, a staff login name as
    the SHA-256 of its lower-case form (names are never stored in clear)."""
    login = login.strip()
    if login.startswith(HOLDER_LOGIN_PREFIX):
        return login
    return "n" + hashlib.sha256(login.lower().encode()).hexdigest()[:40]


def validate_login_name(login: str) -> str:
    login = login.strip().lower()
    if not _LOGIN_RE.fullmatch(login):
        raise InvalidArgument("login must be 3-64 characters of a-z, 0-9, '.', '_', '@', '-'")
    if login.startswith(HOLDER_LOGIN_PREFIX):
        raise InvalidArgument("login must not start with 'kh_' (reserved for key holders)")
    return login


def validate_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidArgument(f"password must be {MIN_PASSWORD}-{MAX_PASSWORD} characters")
    return password
