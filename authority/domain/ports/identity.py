"""Logins, sessions, staff accounts, login policies and the index of organisations' API
credentials: what the identity use cases store (one Redis adapter implements them all); and
the password and TOTP engine they use (``authority.adapters.crypto.passwords``)."""

from __future__ import annotations

from typing import Protocol

from authority.domain.login import AccountRecord, LoginPolicy, LoginState

EVERY_SESSION = 2**52
"""``expired_before`` that ends every session of a subject, expired or not."""


class AccountStore(Protocol):
    """Staff accounts: the principal each logs in as, and whether it is disabled."""

    async def create_account(self, account_id: str, login: str, principal: str) -> bool:
        """Create the account with its login; False when the login is taken."""
        ...

    async def get_account(self, account_id: str) -> AccountRecord | None: ...

    async def set_account_disabled(self, account_id: str, disabled: bool) -> None: ...


class LoginStore(Protocol):
    """Logins by key (a holder's id, a staff login's digest): password, TOTP, failures, and
    one-time activation codes (by digest)."""

    async def get_login(self, key: str) -> dict[str, bytes]: ...

    async def put_login_state(self, key: str, state: LoginState, *, forget_after: int) -> None: ...

    async def set_password(
        self, key: str, subject: str, password_hash: str, totp_secret: str
    ) -> None: ...

    async def use_totp_step(self, key: str, step: int) -> bool:
        """Spend a TOTP time step once; False when it was used already (a replayed code)."""
        ...

    async def put_activation(
        self, code_digest: str, subject: str, login: str, ttl_seconds: int
    ) -> None: ...

    async def take_activation(self, code_digest: str) -> tuple[str, str] | None:
        """(subject, login key) of an unused, unexpired code, which is used up; else None."""
        ...


class SessionStore(Protocol):
    """Login sessions of a subject (a key holder or a staff account): access and refresh
    entries (expiry + digest)."""

    async def put_session(
        self, subject: str, session_id: str, access_entry: bytes, refresh_entry: bytes
    ) -> bool:
        """False when the subject no longer exists."""
        ...

    async def refresh_entry(self, subject: str, session_id: str) -> bytes | None: ...

    async def rotate_session(
        self,
        subject: str,
        session_id: str,
        *,
        expected_refresh: bytes,
        access_entry: bytes,
        refresh_entry: bytes,
    ) -> bool:
        """Replace both entries if the refresh entry is still ``expected_refresh``."""
        ...

    async def end_session(self, subject: str, session_id: str) -> bool: ...

    async def end_sessions(self, subject: str, *, expired_before: int) -> int:
        """End the sessions that expire before ``expired_before``; how many ended."""
        ...


class LoginPolicyStore(Protocol):
    """Login policies by scope (``operator``, ``org:<id>``, ``owner:<id>``)."""

    async def get_policy(self, scope: str) -> LoginPolicy | None: ...

    async def put_policy(self, scope: str, policy: LoginPolicy) -> None: ...


class Passwords(Protocol):
    """Password hashes and two-factor (TOTP) secrets and codes; hashing runs off the event
    loop, and a login that does not exist takes as long to verify as one that does."""

    async def hash(self, password: str) -> str: ...

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored_hash`` (None: no such login, so False)."""
        ...

    def seal_totp(self, secret: str, login: str) -> str:
        """The TOTP secret as stored: sealed, and bound to its login."""
        ...

    def open_totp(self, stored: str, login: str) -> str: ...

    def new_totp_secret(self) -> str: ...

    def totp_uri(self, secret: str, account: str) -> str:
        """The ``otpauth://`` URI an authenticator app enrols from."""
        ...

    def totp_step(self, secret: str, code: str, now: float) -> int | None:
        """The time step ``code`` is valid for at ``now``, or None; the caller refuses a step
        already used (no replay)."""
        ...


class ApiCredentialIndex(Protocol):
    """Each organisation's API credentials (their metadata as JSON) and their retirement."""

    async def index_api_credential(
        self, organisation_id: str, credential_id: str, meta: str
    ) -> None: ...

    async def api_credentials(self, organisation_id: str) -> dict[str, str]: ...

    async def retire_credential(self, credential_id: str, after_seconds: int) -> None:
        """The credential stops working after ``after_seconds`` (0: now)."""
        ...
