"""The small interfaces the use cases need from the outside world.

Each use case asks for the narrowest one. Adapters in ``authority.adapters.redis`` and
``authority.adapters.crypto`` implement them; ``authority.testing`` ships in-memory fakes and one
contract suite runs against both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from authority.domain.bulk import IdempotentGrant, IssueOutcome, RosterChange
from authority.domain.events import AccessEvent
from authority.domain.model import Door, Grant, HolderStatus, KeyHolder, Organisation, Site
from authority.domain.privacy import Consent, ErasureRecord, PersonProfile
from authority.domain.relay import RelayResult
from doorkey_wire.claims import UnlockClaims


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
        self, holder_id: str, door_id: str, site_id: str | None, credential_field: str = "cred"
    ) -> HolderSnapshot | None:
        """The holder's status, what it keeps in ``credential_field`` (the app credential's
        digest, or a login session's access entry) and its grants for the door and its site;
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


# -- personal data (authority.usecases.privacy) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonCensus:
    """What the person store holds, counted (never the values)."""

    profiles: int
    consents_in_force: int
    consents_withdrawn: int
    door_unit_administrators: int
    pending_erasures: int
    erased: int
    last_use_ages: Mapping[str, int]
    """Holders by time since last use: ``<30d``, ``30d-6m``, ``6m-12m``, ``>=12m``."""


class PersonStore(Protocol):
    """Personal data apart from pseudonyms: one encrypted profile per person, its data key,
    consents, the door units the person administers, and the privacy bookkeeping."""

    async def put_profile(self, holder_id: str, profile: PersonProfile) -> None:
        """Store (replace) the profile, encrypted under the person's data key (made on first
        use)."""
        ...

    async def get_profile(self, holder_id: str) -> PersonProfile | None: ...

    async def put_consent(self, holder_id: str, consent: Consent) -> None: ...

    async def get_consents(self, holder_id: str) -> list[Consent]: ...

    async def set_phone_lookup(self, holder_id: str, phone: str | None) -> None:
        """Index the person under a keyed hash of ``phone`` (``None``: remove them)."""
        ...

    async def find_by_phone(self, phone: str) -> str | None: ...

    async def add_door_unit(self, holder_id: str, site_id: str) -> None: ...

    async def remove_door_unit(self, holder_id: str, site_id: str) -> bool: ...

    async def door_units(self, holder_id: str) -> list[str]: ...

    async def erase(self, holder_id: str, *, force: bool = False) -> list[str]:
        """Destroy the person's data key with their profile, consents, holder record, grants
        and credential, atomically. Refused while they administer door units (unless
        ``force``, for re-applying the ledger): the units, or ``[]`` when erased."""
        ...

    async def schedule_erasure(self, holder_id: str, due: datetime) -> None: ...

    async def pending_erasure(self, holder_id: str) -> datetime | None: ...

    async def due_erasures(self, now: datetime) -> list[str]: ...

    async def note_uses(self, uses: Mapping[str, datetime]) -> None:
        """Remember each holder's latest use (never moves backwards)."""
        ...

    async def note_registration(self, holder_id: str, at: datetime) -> None:
        """Count a holder's registration as a use, unless a use is known already."""
        ...

    async def unused_since(self, before: datetime) -> list[str]:
        """Holders whose latest known use (or registration) is at or before ``before``."""
        ...

    async def last_use_watermark(self) -> datetime | None:
        """Up to when the access log was last read for uses."""
        ...

    async def set_last_use_watermark(self, at: datetime) -> None: ...

    async def applied_ledger_records(self) -> int:
        """How many erasure-ledger records this store has applied."""
        ...

    async def mark_ledger_applied(self, count: int) -> None: ...

    async def census(self, now: datetime) -> PersonCensus: ...


class ErasureLedger(Protocol):
    """Append-only record of erasures, kept outside the state that backups restore."""

    def append(self, record: ErasureRecord) -> None:
        """Durably record ``record`` (fsync'd) before the erasure is carried out."""
        ...

    def records(self) -> list[ErasureRecord]: ...


class HolderHistory(Protocol):
    """What the access log knows of one holder (export, last use, retention report)."""

    def holder_events(self, holder_id: str) -> AsyncIterator[list[AccessEvent]]:
        """Every retained event concerning the holder, oldest first, in chunks."""
        ...

    async def last_uses(self, since: datetime) -> dict[str, datetime]:
        """Each holder's latest door use (unlock or relay event) at or after ``since``."""
        ...

    async def last_use(self, holder_id: str) -> datetime | None: ...

    async def events_by_age(self, now: datetime) -> dict[str, int]:
        """Retained events by age: ``<12m``, ``12m-24m``, ``24m-36m``, ``>=36m``."""
        ...
