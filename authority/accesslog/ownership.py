"""Who owns which stairwell, and who holds keys to it: the site owner's side of tenancy.

``OwnerIndexedDirectory`` is the directory replica plus two indexes the replica does not keep:
owner -> sites and site -> doors. Both are maintained from the same snapshot and changelog, so
they are exactly as fresh as the replica (``sync()`` reads the directory version first).

``RedisSiteGrants`` answers "which organisations hold keys to this site now" from the grant
store itself, the source of truth (the access log's grant events would miss grants issued more
than 36 months ago and lag behind the shipper). Grants are filed per holder, so without a
per-site index this is a scan of the holders' hashes (see ``RedisSiteGrants``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis.exceptions as redis_errors

from authority.adapters.redis import codec
from authority.adapters.redis.redis_store import RedisClient, holder_key
from authority.domain.errors import Unavailable
from authority.domain.model import Grant
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


@dataclass(frozen=True, slots=True)
class OrganisationAccess:
    """One organisation's keys to one site, as of ``now``."""

    organisation_id: str
    grants: int
    """Live grants (not revoked, not ended) for the site or one of its doors."""
    key_holders: int
    doors: frozenset[str]
    """Doors reached through door grants; empty when every grant covers the whole site."""
    whole_site: bool
    """At least one grant covers every door of the site."""
    valid_until: datetime
    """When the last of these grants ends."""


class RedisSiteGrants:
    """Live grants for one site, read from the holders' hashes in Redis.

    Cost: a SCAN over the key space plus one pipelined HMGET per holder. At the planning scale
    (tens of thousands of holders) that is well under a second, acceptable for an owner's
    occasional look but not for a hot path. The fix is an index maintained where grants are
    written (``sg:{<site>}``, see the issue notes); this class is the only reader to change then.
    """

    def __init__(self, client: RedisClient, *, batch: int = 1000) -> None:
        self._r = client
        self._batch = batch

    async def organisations_with_access(
        self, site_id: str, door_ids: Sequence[str], *, now: datetime
    ) -> list[OrganisationAccess]:
        fields = [f"s:{site_id}", *(f"d:{d}" for d in sorted(door_ids))]
        grants: list[Grant] = []
        try:
            keys: list[Any] = []
            async for key in self._r.scan_iter(match=holder_key("*"), count=self._batch):
                keys.append(key)
                if len(keys) >= self._batch:
                    grants += await self._read(keys, fields)
                    keys = []
            if keys:
                grants += await self._read(keys, fields)
        except (redis_errors.RedisError, OSError) as exc:
            raise Unavailable("the grant store is unreachable") from exc
        return _summarise(grants, now)

    async def _read(self, keys: list[Any], fields: list[str]) -> list[Grant]:
        pipe = self._r.pipeline()
        for key in keys:
            pipe.hmget(key, fields)
        out: list[Grant] = []
        for values in await pipe.execute():
            for raw in values:
                if raw:
                    out.extend(codec.decode_grant_list(raw))
        return out


def _summarise(grants: list[Grant], now: datetime) -> list[OrganisationAccess]:
    by_org: dict[str, list[Grant]] = defaultdict(list)
    for g in grants:
        if g.revoked_at is None and g.valid_until > now:
            by_org[g.organisation_id].append(g)
    return [
        OrganisationAccess(
            organisation_id=org_id,
            grants=len(gs),
            key_holders=len({g.key_holder_id for g in gs}),
            doors=frozenset(g.target.door_id for g in gs if g.target.door_id is not None),
            whole_site=any(g.target.site_id is not None for g in gs),
            valid_until=max(g.valid_until for g in gs),
        )
        for org_id, gs in sorted(by_org.items())
    ]
