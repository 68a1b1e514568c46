"""What the unlock path needs: one holder's snapshot in one round trip, and a token signer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from authority.domain.model import (
    Grant,
    HolderStatus,
)
from doorkey_wire.claims import UnlockClaims


@dataclass(frozen=True, slots=True)
class HolderSnapshot:
    """What one decision needs of a key holder, read in one round trip."""

    status: HolderStatus
    credential_digest: bytes
    grants: Sequence[Grant]
    directory_version: int = 0
    """The directory revision observed in the same round trip (see ``DirectoryView.sync_to``)."""
    device_key: bytes | None = None
    """The holder's registered device Ed25519 public key (offline tokens), if any."""


class HolderSnapshotReader(Protocol):
    """The unlock path's only read of mutable state: one holder, the fields for one door."""

    async def read_snapshot(
        self, holder_id: str, door_id: str, site_id: str | None, credential_field: str
    ) -> HolderSnapshot | None:
        """The holder's status, what it keeps in ``credential_field`` (the app credential's
        digest, or a login session's access entry) and its grants for the door and its site;
        ``None`` if no such holder."""
        ...


class TokenSigner(Protocol):
    def sign(self, claims: UnlockClaims) -> bytes:
        """The claims as a signed, encoded token."""
        ...


class Foreground(Protocol):
    """Work that must not wait for bulk issuance (the unlock path)."""

    async def quiet(self, max_wait: float) -> None:
        """Return once no foreground work is in progress, or after ``max_wait`` seconds."""
        ...
