"""An in-process replica of the directory (organisations, sites and their revocation epochs, doors).

The directory is small (a national deployment: ~100k doors and sites, thousands of
organisations) and read on every decision, so each authority process keeps a copy in memory and
follows Redis's changelog stream. Freshness is not left to a background tailer: every decision's
round trip also reads the directory version, and the decision waits for ``sync_to(version)``
when the replica is behind. A change committed before a request arrives is therefore seen by
that request, on every process (the same guarantee as reading Redis directly).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Protocol

from authority.adapters.redis import codec
from authority.domain.model import Door, Organisation, Site


class DirectorySource(Protocol):
    """What the replica needs from the store (``RedisStore`` or the in-memory fake)."""

    async def directory_version(self) -> int: ...

    async def directory_snapshot(
        self,
    ) -> tuple[int, dict[str, Organisation], dict[str, Site], dict[str, Door], bytes]: ...

    async def directory_changes(
        self, after_id: bytes, count: int = 1000
    ) -> list[tuple[bytes, int, str, bytes]]: ...


log = logging.getLogger(__name__)


class DirectoryReplica:
    def __init__(self, store: DirectorySource) -> None:
        self._store = store
        self._orgs: dict[str, Organisation] = {}
        self._sites: dict[str, Site] = {}
        self._doors: dict[str, Door] = {}
        self._version = 0
        self._last_id = b"0-0"
        self._lock = asyncio.Lock()

    @property
    def version(self) -> int:
        return self._version

    def door(self, door_id: str) -> Door | None:
        return self._doors.get(door_id)

    def site(self, site_id: str) -> Site | None:
        return self._sites.get(site_id)

    @property
    def organisations(self) -> Mapping[str, Organisation]:
        return self._orgs

    def counts(self) -> dict[str, int]:
        return {
            "organisations": len(self._orgs),
            "sites": len(self._sites),
            "doors": len(self._doors),
        }

    async def load(self) -> None:
        """Replace the replica with a consistent snapshot of the whole directory."""
        async with self._lock:
            await self._reload()

    async def _reload(self) -> None:
        version, orgs, sites, doors, last_id = await self._store.directory_snapshot()
        self._orgs, self._sites, self._doors = orgs, sites, doors
        self._version, self._last_id = version, last_id
        log.info("directory loaded", extra={"version": version, **self.counts()})

    async def sync(self) -> None:
        await self.sync_to(await self._store.directory_version())

    async def sync_to(self, version: int) -> None:
        if self._version >= version:
            return
        async with self._lock:  # one catch-up at a time; waiters then find it done
            while self._version < version:
                changes = await self._store.directory_changes(self._last_id)
                if not changes:
                    # The version was bumped but its changelog entry is not readable: only a
                    # trimmed or rewritten stream does that. Start over from a snapshot.
                    await self._reload()
                    return
                for entry_id, entry_version, kind, record in changes:
                    if entry_version != self._version + 1:
                        await self._reload()  # gap: the changelog was trimmed past us
                        return
                    self._apply(kind, record)
                    self._version, self._last_id = entry_version, entry_id

    def _apply(self, kind: str, record: bytes) -> None:
        if kind == "organisation":
            org = codec.decode_organisation(record)
            self._orgs[org.organisation_id] = org
        elif kind == "site":
            # A site's record never carries its revocation epoch (a counter of its own): keep
            # the epoch the replica already knows.
            site = codec.decode_site(record)
            known = self._sites.get(site.site_id)
            if known is not None:
                site = replace(site, revocation_epoch=known.revocation_epoch)
            self._sites[site.site_id] = site
        elif kind == "epoch":
            site_id, epoch = codec.decode_epoch_change(record)
            known = self._sites.get(site_id)
            if known is not None:
                self._sites[site_id] = replace(known, revocation_epoch=epoch)
        elif kind == "door":
            door = codec.decode_door(record)
            self._doors[door.door_id] = door
        else:
            log.warning("unknown directory change kind %r ignored", kind)
