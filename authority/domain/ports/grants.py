"""Key holders, their grants and device keys, and bulk issuance for partner fleets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Protocol

from authority.domain.bulk import IdempotentGrant, IssueOutcome, RosterChange
from authority.domain.model import (
    Grant,
    HolderStatus,
    KeyHolder,
)


class DeviceKeyStore(Protocol):
    async def set_device_key(self, holder_id: str, device_key: bytes) -> bytes | None:
        """Register the holder's device public key; the key it replaced, if any."""
        ...


class HolderReader(Protocol):
    async def get_holder(self, holder_id: str) -> KeyHolder | None: ...


class HolderStore(Protocol):
    async def create_holder(self, holder: KeyHolder, credential_digest: bytes) -> None: ...

    async def get_holder(self, holder_id: str) -> KeyHolder | None: ...

    async def set_holder_status(self, holder_id: str, status: HolderStatus) -> KeyHolder: ...


class GrantStore(Protocol):
    async def add_grant(self, grant: Grant) -> None: ...

    async def revoke_grant(self, grant_id: str, *, at: datetime) -> Grant: ...

    async def get_grant(self, grant_id: str) -> Grant | None: ...

    async def list_grants(self, holder_id: str) -> list[Grant]: ...


class BulkGrantStore(Protocol):
    """Fleet-scale grant writes: many holders per round trip, each holder's change atomic."""

    async def issue_grants_once(
        self, organisation_id: str, items: Sequence[IdempotentGrant]
    ) -> list[IssueOutcome]:
        """Write each grant unless its idempotency slot is remembered for its holder (then
        compare fingerprints); the holder must exist and belong to ``organisation_id``. Each
        item is one atomic write; items are pipelined. One outcome per item, in order."""
        ...

    async def revoke_holders_grants(
        self,
        holder_ids: Sequence[str],
        *,
        at: datetime,
        organisation_id: str | None,
        fields: Sequence[str] | None,
    ) -> list[Grant]:
        """Revoke, at ``at``, every live grant of each holder (of ``organisation_id`` only, when
        given; in ``fields`` only, e.g. ``s:<site>``/``d:<door>``, when given), each holder in
        one atomic write; the grants revoked now."""
        ...

    async def holders_of_organisation(self, organisation_id: str) -> list[str]:
        """Every holder that was ever issued a grant by the organisation (a superset)."""
        ...

    async def holders_with_grants_at(self, site_id: str) -> list[str]:
        """Every holder that was ever issued a grant for the site or one of its doors."""
        ...

    async def replace_holder_grants(
        self,
        holder_id: str,
        organisation_id: str,
        desired: Sequence[tuple[Grant, bool]],
        *,
        at: datetime,
        site_ids: Sequence[str] = (),
    ) -> RosterChange:
        """Atomically make ``desired`` (grant, valid_from given) the holder's live grants from
        the organisation: matching grants kept, the others revoked at ``at``, the rest added.
        ``site_ids``: the sites the desired grants reach (for the per-site index)."""
        ...

    async def grants_of_holders(self, holder_ids: Sequence[str]) -> list[Grant]:
        """Every grant of these holders (one pipelined read)."""
        ...


class GrantLister(Protocol):
    async def list_grants(self, holder_id: str) -> list[Grant]: ...


class HolderRecords(Protocol):
    async def get_holder(self, holder_id: str) -> KeyHolder | None: ...

    async def set_holder_status(self, holder_id: str, status: HolderStatus) -> KeyHolder: ...

    async def list_grants(self, holder_id: str) -> list[Grant]: ...

    def all_holders(self) -> AsyncIterator[KeyHolder]:
        """Every holder record (the sweep registers holders it has not seen yet)."""
        ...
