"""API credentials of callers (digests only)."""

from __future__ import annotations

from typing import Protocol


class CredentialStore(Protocol):
    """Non-holder credentials (admins, organisations' API keys), stored as digests."""

    async def put_credential(self, credential_id: str, digest: bytes, principal: str) -> None: ...

    async def get_credential(self, credential_id: str) -> tuple[bytes, str] | None: ...


class HolderCredentialReader(Protocol):
    async def holder_credential_digest(self, holder_id: str, field: str = "cred") -> bytes | None:
        """What the holder's hash keeps in ``field`` (the app credential's digest, or a
        session's access entry), or None."""
        ...


class AccountSessionReader(Protocol):
    async def account_session(self, account_id: str, session_id: str) -> tuple[str, bytes] | None:
        """A staff account's principal (JSON) and the session's access entry, one round trip."""
        ...
