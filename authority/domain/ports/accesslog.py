"""The access log as the use cases see it: record an event, once per id,
and read a holder's history."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Protocol

from authority.domain.events import AccessEvent


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
