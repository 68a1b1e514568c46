"""API credentials of callers (digests only)."""

from __future__ import annotations

from typing import Protocol


class CredentialStore(Protocol):
    """Non-holder credentials (admins, organisations' API keys), stored as digests."""

    async def put_credential(self, credential_id: str, digest: bytes, principal: str) -> None: ...

    async def get_credential(self, credential_id: str) -> tuple[bytes, str] | None: ...
