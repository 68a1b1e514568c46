"""The small interfaces the use cases need from the outside world.

Each use case asks for the narrowest one. Adapters in ``authority.store`` and ``authority.tokens``
implement them; ``authority.testing`` ships in-memory fakes and one contract suite runs against
both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from authority.domain.bulk import IdempotentGrant, IssueOutcome, RosterChange
from authority.domain.claims import UnlockClaims
from authority.domain.events import AccessEvent
from authority.domain.model import Door, Grant, HolderStatus, KeyHolder, Organisation, Site
from authority.domain.relay import RelayResult


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


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
        self, holder_id: str, door_id: str, site_id: str | None
    ) -> HolderSnapshot | None:
        """The holder's status, credential digest and grants for the door and its site;
        ``None`` if no such holder."""
        ...


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


class DeviceKeyStore(Protocol):
    async def set_device_key(self, holder_id: str, device_key: bytes) -> bytes | None:
        """Register the holder's device public key; the key it replaced, if any."""
        ...


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


class CredentialStore(Protocol):
    """Non-holder credentials (admins, organisations' API keys), stored as digests."""

    async def put_credential(self, credential_id: str, digest: bytes, principal: str) -> None: ...

    async def get_credential(self, credential_id: str) -> tuple[bytes, str] | None: ...


class TokenSigner(Protocol):
    def sign(self, claims: UnlockClaims) -> bytes:
        """The claims as a signed, encoded token."""
        ...


class EventRecorder(Protocol):
    """Where every access-log event goes first: a durable buffer, not ClickHouse itself."""

    async def record(self, events: Sequence[AccessEvent]) -> None:
        """Return only once ``events`` are durably stored (they will reach the log)."""
        ...


class OnceEventRecorder(Protocol):
    """Records events whose id is derived from what they describe, at most once."""

    async def record_once(self, event: AccessEvent) -> bool:
        """Durably store ``event`` unless an event with its id was stored before (within the
        recorder's memory, hours at least); whether it was stored now."""
        ...


class RelayResultVerifier(Protocol):
    def verify_result(self, signed: bytes, *, relay_id: str, public_key: bytes) -> RelayResult:
        """The result signed by relay ``relay_id``'s key, or a ``TokenError``: ``MalformedToken``
        (not a signed result), ``UnknownKey`` (signed under another kid), ``BadSignature``."""
        ...


class EpochNoticeSigner(Protocol):
    def sign_epoch_notice(self, *, relay_id: str, epoch: int, issued_at: int) -> bytes:
        """An authority-signed revocation-epoch notice for one relay."""
        ...
