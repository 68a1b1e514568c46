"""The access log's read side as the use cases see it: the events and aggregates of a selection,
and the directory and holders that tenancy checks against."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from authority.domain.accesslog import (
    Cursor,
    DoorCount,
    EventSelection,
    OrganisationDayCount,
    ReasonCount,
)
from authority.domain.events import AccessEvent
from authority.domain.model import Door, Organisation, Site


class EventLogReader(Protocol):
    """The read side of the access log's store."""

    async def events(
        self, selection: EventSelection, *, after: Cursor | None, limit: int
    ) -> list[AccessEvent]:
        """Matching events ordered by (time, event id), strictly after ``after``."""
        ...

    async def organisation_days(
        self, selection: EventSelection, *, time_zone: str
    ) -> list[OrganisationDayCount]: ...

    async def busiest_doors(self, selection: EventSelection, *, top: int) -> list[DoorCount]: ...

    async def denial_reasons(self, selection: EventSelection) -> list[ReasonCount]: ...


class TenantDirectory(Protocol):
    """The directory as tenancy needs it (``OwnerIndexedDirectory``)."""

    async def sync(self) -> None:
        """Make every committed directory change visible."""
        ...

    def site(self, site_id: str) -> Site | None: ...

    def door(self, door_id: str) -> Door | None: ...

    @property
    def organisations(self) -> Mapping[str, Organisation]: ...

    def sites_of_owner(self, owner_id: str) -> frozenset[str]: ...

    def doors_of_site(self, site_id: str) -> frozenset[str]: ...
