"""Owner log requests as their use cases see the outside world: where requests are kept, and who
holds keys to a site."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from authority.domain.owner_requests import OwnerLogRequest
from authority.domain.site_access import OrganisationAccess


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """A request as stored, with its revision (+1 per change: updates compare and set it)."""

    request: OwnerLogRequest
    rev: int


class OwnerRequestStore(Protocol):
    async def requests_filed(self, owner_id: str, year: int) -> int: ...

    async def create(self, request: OwnerLogRequest, *, prior_requests: int) -> bool:
        """Store a new request if the owner's count for its year is still ``prior_requests``
        (and count it); False if another filing came first."""
        ...

    async def get(self, request_id: str) -> StoredRequest | None: ...

    async def update(self, request: OwnerLogRequest, *, expected_rev: int) -> bool: ...

    async def of_owner(self, owner_id: str) -> list[OwnerLogRequest]:
        """Newest first."""
        ...

    async def open_requests(self) -> list[OwnerLogRequest]:
        """Every FILED request, newest first."""
        ...


class SiteGrantReader(Protocol):
    async def organisations_with_access(
        self, site_id: str, door_ids: Sequence[str], *, now: datetime
    ) -> list[OrganisationAccess]: ...
