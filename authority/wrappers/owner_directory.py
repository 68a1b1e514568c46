"""The directory replica as site owners' tenancy needs it: with who owns which stairwell.

``OwnerIndexedDirectory`` is the directory replica plus two indexes the replica does not keep:
owner -> sites and site -> doors. Both are maintained from the same snapshot and changelog, so
they are exactly as fresh as the replica (``sync()`` reads the directory version first). It
implements ``TenantDirectory`` (``authority.domain.ports.accesslog_reader``).
"""

from __future__ import annotations

from collections import defaultdict

from authority.adapters.redis import codec
from authority.wrappers.directory import DirectoryReplica, DirectorySource


class OwnerIndexedDirectory(DirectoryReplica):
    """The directory replica with owner -> sites and site -> doors indexes.

    It extends the replica's two update hooks (full reload, one changelog entry) rather than
    following the changelog a second time, so one copy of the directory serves both the unlock
    path and the site owners' queries.
    """

    def __init__(self, store: DirectorySource) -> None:
        super().__init__(store)
        self._owner_sites: dict[str, set[str]] = defaultdict(set)
        self._site_doors: dict[str, set[str]] = defaultdict(set)

    def sites_of_owner(self, owner_id: str) -> frozenset[str]:
        return frozenset(self._owner_sites.get(owner_id, ()))

    def doors_of_site(self, site_id: str) -> frozenset[str]:
        return frozenset(self._site_doors.get(site_id, ()))

    async def _reload(self) -> None:
        await super()._reload()
        self._owner_sites = defaultdict(set)
        self._site_doors = defaultdict(set)
        for site in self._sites.values():
            self._owner_sites[site.owner_id].add(site.site_id)
        for door in self._doors.values():
            self._site_doors[door.site_id].add(door.door_id)

    def _apply(self, kind: str, record: bytes) -> None:
        if kind == "site":
            site = codec.decode_site(record)
            previous = self._sites.get(site.site_id)
            super()._apply(kind, record)
            if previous is not None:
                self._owner_sites[previous.owner_id].discard(previous.site_id)
            self._owner_sites[site.owner_id].add(site.site_id)
        elif kind == "door":
            door = codec.decode_door(record)
            moved = self._doors.get(door.door_id)
            super()._apply(kind, record)
            if moved is not None:
                self._site_doors[moved.site_id].discard(moved.door_id)
            self._site_doors[door.site_id].add(door.door_id)
        else:
            super()._apply(kind, record)
