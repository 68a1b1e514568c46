"""Personal data behind the pseudonyms: the person store and the erasure ledger."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from authority.domain.privacy import Consent, ErasureRecord, PersonProfile


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
