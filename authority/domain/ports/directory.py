"""Organisations, sites and doors: the read view, the writer, and revocation epochs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from authority.domain.model import (
    Door,
    Organisation,
    Site,
)


class DirectoryView(Protocol):
    """Organisations, sites and doors as of the latest committed change."""

    @property
    def version(self) -> int:
        """The directory revision this view reflects."""
        ...

    async def sync_to(self, version: int) -> None:
        """Make every change up to ``version`` visible (no-op if already there)."""
        ...

    def door(self, door_id: str) -> Door | None: ...

    def site(self, site_id: str) -> Site | None: ...

    @property
    def organisations(self) -> Mapping[str, Organisation]: ...


class OrganisationReader(Protocol):
    async def get_organisation(self, organisation_id: str) -> Organisation | None: ...


class DirectoryWriter(Protocol):
    """Writes to the directory; each write is visible to the next decision on every process."""

    async def put_organisation(
        self, org: Organisation, *, expected: Organisation | None, create: bool
    ) -> None: ...

    async def put_site(self, site: Site, *, expected: Site | None, create: bool) -> None: ...

    async def put_door(self, door: Door, *, expected: Door | None = None) -> None:
        """Create the door (``expected`` None) or replace ``expected`` by it (compare-and-set:
        ``Conflict`` if the stored door is not ``expected``)."""
        ...

    async def get_organisation(self, organisation_id: str) -> Organisation | None: ...

    async def get_site(self, site_id: str) -> Site | None: ...

    async def get_door(self, door_id: str) -> Door | None: ...

    async def get_sites(self, site_ids: Sequence[str]) -> dict[str, Site]:
        """The sites that exist among ``site_ids`` (one round trip)."""
        ...

    async def get_doors(self, door_ids: Sequence[str]) -> dict[str, Door]:
        """The doors that exist among ``door_ids`` (one round trip)."""
        ...


class RevocationEpochs(Protocol):
    async def bump_revocation_epochs(self, site_ids: Sequence[str]) -> dict[str, int]:
        """Raise each existing site's revocation epoch by one, atomically, as directory changes
        (seen by the next decision on every process); the new epochs by site."""
        ...


class DirectoryLookup(Protocol):
    async def get_sites(self, site_ids: Sequence[str]) -> dict[str, Site]: ...

    async def get_doors(self, door_ids: Sequence[str]) -> dict[str, Door]: ...


class DirectoryReader(Protocol):
    async def get_door(self, door_id: str) -> Door | None: ...

    async def get_site(self, site_id: str) -> Site | None: ...


class SiteReader(Protocol):
    async def get_site(self, site_id: str) -> Site | None: ...


class DirectoryVersion(Protocol):
    async def directory_version(self) -> int: ...


class SiteDoors(Protocol):
    def doors_of_site(self, site_id: str) -> frozenset[str]: ...
