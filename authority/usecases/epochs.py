"""Raising sites' revocation epochs after a revocation, so offline relays learn of it.

Called *after* the change it publishes is stored (grant revoked, holder suspended, device key
replaced): a token issued in between carries the old epoch and dies with the bump, whereas the
other order would let a token issued in between carry the new epoch and outlive the revocation.
A crash between the two leaves offline tokens alive until they expire (the offline lifetime at
most); retrying the command (idempotent) bumps then.
"""

from __future__ import annotations

from collections.abc import Iterable

from authority.domain.model import GrantTarget
from authority.domain.offline import sites_to_bump
from authority.domain.ports.directory import DirectoryLookup, RevocationEpochs


class EpochBumps:
    def __init__(self, *, directory: DirectoryLookup, epochs: RevocationEpochs) -> None:
        self._dir = directory
        self._epochs = epochs

    async def after_revoking(self, targets: Iterable[GrantTarget]) -> dict[str, int]:
        """Bump the offline sites ``targets`` reach (two reads, one atomic write); the new
        epochs by site."""
        targets = list(targets)
        if not targets:
            return {}
        doors = await self._dir.get_doors(sorted({t.door_id for t in targets if t.door_id}))
        site_ids = {t.site_id for t in targets if t.site_id} | {d.site_id for d in doors.values()}
        sites = await self._dir.get_sites(sorted(site_ids))
        bump = sites_to_bump(targets, doors=doors, sites=sites)
        return await self._epochs.bump_revocation_epochs(bump) if bump else {}
