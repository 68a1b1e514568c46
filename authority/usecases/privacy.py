"""The data subject's rights as use cases: access and portability, erasure (on request and by the
one-year rule), restriction of processing, consent, and the door units a person administers.

Who may do what (``_subject``): the person themself (their app credential) and platform
administrators (the operator handling a request) exercise every right; the holder's organisation
may keep the profile of its own staff up to date, read it (not while processing is restricted),
and attach or detach the door units its holders administer; organisations may look a person up
by phone number only where the person consented to it. Every call is an access-log event naming
the pseudonym, never a value of the profile.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from authority.domain.credentials import Principal, Role
from authority.domain.errors import FailedPrecondition, NotFound, PermissionDenied
from authority.domain.events import AccessEvent, EventKind, event
from authority.domain.model import Grant, HolderStatus, KeyHolder, validate_id
from authority.domain.offline import live_targets
from authority.domain.ports.accesslog import EventRecorder, HolderHistory
from authority.domain.ports.clock import Clock
from authority.domain.ports.directory import SiteReader
from authority.domain.ports.grants import HolderRecords
from authority.domain.ports.persons import ErasureLedger, PersonCensus, PersonStore
from authority.domain.privacy import (
    CONSENT_PHONE_LOOKUP,
    INACTIVITY_PERIOD,
    Consent,
    ErasureReason,
    ErasureRecord,
    PersonProfile,
    inactive,
    normalise_phone,
    refuse_while_administering,
    validate_consent_purpose,
    validate_text_version,
)
from authority.usecases.auth import may_see_organisation_data
from authority.usecases.epochs import EpochBumps

LAST_USE_OVERLAP = timedelta(days=7)
"""The sweep re-reads this much of the log before its last run: events that reached ClickHouse
late (a shipping backlog) still count as uses."""
SWEEPER = "privacy-sweep"


@dataclass(frozen=True, slots=True)
class PersonExport:
    """Everything held about one person (right of access / portability)."""

    holder: KeyHolder
    profile: PersonProfile | None
    consents: list[Consent]
    grants: list[Grant]
    door_units: list[str]
    pending_erasure: datetime | None
    events: AsyncIterator[list[AccessEvent]]
    """Their access-log events, oldest first, in chunks (read while the export streams)."""


@dataclass(frozen=True, slots=True)
class ErasureOutcome:
    erased: bool
    """True: done now. False: scheduled for ``due_at``."""
    due_at: datetime


@dataclass(frozen=True, slots=True)
class SweepReport:
    erased_on_request: list[str]
    erased_inactive: list[str]
    kept_administering: list[str]
    """Due or inactive, but administering a door unit: kept until they dismount it."""
    uses_noted: int


@dataclass(frozen=True, slots=True)
class PrivacyReport:
    census: PersonCensus
    holders: int
    log_events_by_age: dict[str, int]
    ledger_records: int


class PrivacyCommands:
    def __init__(
        self,
        *,
        holders: HolderRecords,
        persons: PersonStore,
        ledger: ErasureLedger,
        history: HolderHistory,
        sites: SiteReader,
        clock: Clock,
        events: EventRecorder,
        epoch_bumps: EpochBumps,
        erasure_delay: timedelta = timedelta(0),
        inactivity: timedelta = INACTIVITY_PERIOD,
    ) -> None:
        self._holders = holders
        self._persons = persons
        self._ledger = ledger
        self._history = history
        self._sites = sites
        self._clock = clock
        self._events = events
        self._bumps = epoch_bumps
        self._delay = erasure_delay
        self._inactivity = inactivity

    # -- who may act ---------------------------------------------------------------------------

    async def _subject(
        self, principal: Principal, holder_id: str, *, organisation_may: bool
    ) -> KeyHolder:
        """The holder the call is about, if the caller may act for them (see module doc)."""
        validate_id(holder_id, field_name="key_holder_id")
        if principal.role not in (Role.ADMIN, Role.ORGANISATION, Role.KEY_HOLDER):
            raise PermissionDenied(
                "this call is for the person themself, their organisation or platform admins"
            )
        holder = await self._holders.get_holder(holder_id)
        if holder is None:
            raise NotFound(f"key holder {holder_id} does not exist")
        if principal.role is Role.ADMIN or principal.key_holder_id == holder_id:
            return holder
        if principal.role is Role.ORGANISATION and may_see_organisation_data(
            principal, holder.organisation_id
        ):
            if organisation_may:
                return holder
            raise PermissionDenied(
                "only the person themself (their app credential) or a platform administrator "
                "may exercise this right"
            )
        raise NotFound(f"key holder {holder_id} does not exist")

    @staticmethod
    def _is_person_or_admin(principal: Principal, holder_id: str) -> bool:
        return principal.role is Role.ADMIN or principal.key_holder_id == holder_id

    async def _record(
        self,
        kind: EventKind,
        action: str,
        actor: Principal | None,
        holder: KeyHolder | str,
        outcome: str = "ok",
        **facts: str,
    ) -> None:
        holder_id = holder if isinstance(holder, str) else holder.key_holder_id
        org = "" if isinstance(holder, str) else holder.organisation_id
        await self._events.record(
            [
                event(
                    kind,
                    action,
                    outcome,
                    int(self._clock.now().timestamp() * 1000),
                    actor_role=actor.role.value if actor else "system",
                    actor_id=actor.credential_id if actor else SWEEPER,
                    holder_id=holder_id,
                    organisation_id=facts.pop("organisation_id", org),
                    **facts,
                )
            ]
        )

    # -- profile -------------------------------------------------------------------------------

    async def set_profile(
        self, principal: Principal, holder_id: str, profile: PersonProfile
    ) -> PersonProfile:
        holder = await self._subject(principal, holder_id, organisation_may=True)
        self._refuse_if_restricted(principal, holder)
        await self._persons.put_profile(holder_id, profile)
        if await self._phone_lookup_in_force(holder_id):
            await self._persons.set_phone_lookup(holder_id, profile.phone or None)
        await self._record(
            EventKind.ADMIN,
            "person.profile.set",
            principal,
            holder,
            detail=_detail(categories=profile.categories),
        )
        return profile

    async def get_profile(self, principal: Principal, holder_id: str) -> PersonProfile:
        holder = await self._subject(principal, holder_id, organisation_may=True)
        self._refuse_if_restricted(principal, holder)
        profile = await self._persons.get_profile(holder_id) or PersonProfile()
        await self._record(EventKind.LOOKUP, "person.profile.get", principal, holder)
        return profile

    def _refuse_if_restricted(self, principal: Principal, holder: KeyHolder) -> None:
        if holder.status is HolderStatus.RESTRICTED and not self._is_person_or_admin(
            principal, holder.key_holder_id
        ):
            raise FailedPrecondition(
                f"processing of key holder {holder.key_holder_id}'s data is restricted at their "
                "request: only the person and the operator may read or correct it"
            )

    # -- right of access and portability -------------------------------------------------------

    async def export(self, principal: Principal, holder_id: str) -> PersonExport:
        holder = await self._subject(principal, holder_id, organisation_may=False)
        profile = await self._persons.get_profile(holder_id)
        consents = await self._persons.get_consents(holder_id)
        grants = await self._holders.list_grants(holder_id)
        units = await self._persons.door_units(holder_id)
        pending = await self._persons.pending_erasure(holder_id)
        await self._record(
            EventKind.LOOKUP,
            "person.export",
            principal,
            holder,
            detail=_detail(grants=len(grants), consents=len(consents), door_units=len(units)),
        )
        return PersonExport(
            holder=holder,
            profile=profile,
            consents=consents,
            grants=grants,
            door_units=units,
            pending_erasure=pending,
            events=self._history.holder_events(holder_id),
        )

    # -- right to be forgotten -----------------------------------------------------------------

    async def request_erasure(self, principal: Principal, holder_id: str) -> ErasureOutcome:
        holder = await self._subject(principal, holder_id, organisation_may=False)
        units = await self._persons.door_units(holder_id)
        if units:
            await self._record(
                EventKind.ADMIN,
                "person.erase.request",
                principal,
                holder,
                outcome="refused",
                reason="administers_door_unit",
            )
            refuse_while_administering(holder_id, units)
        now = self._clock.now()
        due = now + self._delay
        if self._delay <= timedelta(0):
            await self._erase(holder, ErasureReason.REQUEST, principal)
            return ErasureOutcome(erased=True, due_at=now)
        await self._persons.schedule_erasure(holder_id, due)
        await self._record(
            EventKind.ADMIN,
            "person.erase.request",
            principal,
            holder,
            detail=_detail(due_at=due.isoformat()),
        )
        return ErasureOutcome(
            erased=False, due_at=(await self._persons.pending_erasure(holder_id)) or due
        )

    async def _erase(
        self, holder: KeyHolder | str, reason: ErasureReason, actor: Principal | None
    ) -> bool:
        """Ledger first (fsync'd), then the data key and everything else in one script, then
        the offline sites' epochs; False if refused (a door unit was mounted meanwhile)."""
        holder_id = holder if isinstance(holder, str) else holder.key_holder_id
        grants = await self._holders.list_grants(holder_id)
        units = await self._persons.door_units(holder_id)
        if units:
            return False
        now = self._clock.now()
        record = ErasureRecord(holder_id=holder_id, erased_at=now, reason=reason)
        await asyncio.to_thread(self._ledger.append, record)
        await self._persons.erase(holder_id, force=True)
        bumped = await self._bumps.after_revoking(live_targets(grants, now))
        await self._record(
            EventKind.ADMIN,
            "person.erase",
            actor,
            holder,
            reason=reason.value,
            detail=_detail(grants=len(grants), **({"epochs": bumped} if bumped else {})),
        )
        return True

    async def reapply_ledger(self, *, always: bool = False) -> int:
        """Re-apply every erasure in the ledger to the store (after a restore, or at start when
        the store has applied fewer records than the ledger holds: it was restored or lost).
        How many records were applied (0 when nothing was to do)."""
        records = await asyncio.to_thread(self._ledger.records)
        if not always and len(records) <= await self._persons.applied_ledger_records():
            return 0
        return await reapply_erasures(self._persons, records)

    # -- restriction of processing -------------------------------------------------------------

    async def restrict(self, principal: Principal, holder_id: str) -> KeyHolder:
        holder = await self._subject(principal, holder_id, organisation_may=False)
        if holder.status is HolderStatus.RESTRICTED:
            return holder
        updated = await self._holders.set_holder_status(holder_id, HolderStatus.RESTRICTED)
        grants = await self._holders.list_grants(holder_id)
        bumped = await self._bumps.after_revoking(live_targets(grants, self._clock.now()))
        await self._record(
            EventKind.ADMIN,
            "person.restrict",
            principal,
            holder,
            detail=_detail(**({"epochs": bumped} if bumped else {})),
        )
        return updated

    async def lift_restriction(self, principal: Principal, holder_id: str) -> KeyHolder:
        holder = await self._subject(principal, holder_id, organisation_may=False)
        if holder.status is not HolderStatus.RESTRICTED:
            raise FailedPrecondition(
                f"processing of key holder {holder_id} is not restricted (status "
                f"{holder.status.value})"
            )
        updated = await self._holders.set_holder_status(holder_id, HolderStatus.ACTIVE)
        await self._record(EventKind.ADMIN, "person.restriction_lifted", principal, holder)
        return updated

    # -- consent -------------------------------------------------------------------------------

    async def give_consent(
        self, principal: Principal, holder_id: str, purpose: str, text_version: str
    ) -> Consent:
        holder = await self._subject(principal, holder_id, organisation_may=False)
        consent = Consent(
            purpose=validate_consent_purpose(purpose),
            text_version=validate_text_version(text_version),
            given_at=self._clock.now(),
        )
        await self._persons.put_consent(holder_id, consent)
        if purpose == CONSENT_PHONE_LOOKUP:
            profile = await self._persons.get_profile(holder_id)
            await self._persons.set_phone_lookup(holder_id, profile.phone if profile else None)
        await self._record(
            EventKind.ADMIN,
            "consent.give",
            principal,
            holder,
            detail=_detail(purpose=purpose, text_version=text_version),
        )
        return consent

    async def withdraw_consent(self, principal: Principal, holder_id: str, purpose: str) -> Consent:
        holder = await self._subject(principal, holder_id, organisation_may=False)
        validate_consent_purpose(purpose)
        now = self._clock.now()
        current = {c.purpose: c for c in await self._persons.get_consents(holder_id)}.get(purpose)
        if current is None or not current.in_force(now):
            raise FailedPrecondition(
                f"key holder {holder_id} has no consent to {purpose!r} in force to withdraw"
            )
        withdrawn = replace(current, withdrawn_at=now)
        await self._persons.put_consent(holder_id, withdrawn)
        if purpose == CONSENT_PHONE_LOOKUP:  # effective from now: the number is unlisted
            await self._persons.set_phone_lookup(holder_id, None)
        await self._record(
            EventKind.ADMIN,
            "consent.withdraw",
            principal,
            holder,
            detail=_detail(purpose=purpose, text_version=current.text_version),
        )
        return withdrawn

    async def list_consents(self, principal: Principal, holder_id: str) -> list[Consent]:
        holder = await self._subject(principal, holder_id, organisation_may=False)
        consents = await self._persons.get_consents(holder_id)
        await self._record(EventKind.LOOKUP, "consent.list", principal, holder)
        return consents

    async def _phone_lookup_in_force(self, holder_id: str) -> bool:
        now = self._clock.now()
        return any(
            c.purpose == CONSENT_PHONE_LOOKUP and c.in_force(now)
            for c in await self._persons.get_consents(holder_id)
        )

    async def find_by_phone(self, principal: Principal, phone: str) -> KeyHolder:
        """A household sharing a key looks up the person by phone number: found only while the
        person consents to it (and their processing is not restricted)."""
        if principal.role not in (Role.ADMIN, Role.ORGANISATION):
            raise PermissionDenied("this call is for organisations and platform administrators")
        normalised = normalise_phone(phone)
        holder_id = await self._persons.find_by_phone(normalised)
        holder = await self._holders.get_holder(holder_id) if holder_id else None
        found = (
            holder is not None
            and holder.status is not HolderStatus.RESTRICTED
            and await self._phone_lookup_in_force(holder.key_holder_id)
        )
        await self._record(
            EventKind.LOOKUP,
            "person.find_by_phone",
            principal,
            holder.key_holder_id if found and holder else "",
            outcome="ok" if found else "not_found",
            organisation_id=principal.organisation_id or "",
        )
        if not found or holder is None:
            raise NotFound("no key holder can be found by this phone number")
        return holder

    # -- door units ----------------------------------------------------------------------------

    async def mount_door_unit(self, principal: Principal, holder_id: str, site_id: str) -> None:
        """Make the holder the administrator of a private door unit (a household's own site)."""
        holder = await self._subject(principal, holder_id, organisation_may=True)
        if principal.role is Role.KEY_HOLDER:
            raise PermissionDenied("door units are attached by the operator or the organisation")
        validate_id(site_id, field_name="site_id")
        if await self._persons.pending_erasure(holder_id) is not None:
            raise FailedPrecondition(
                f"key holder {holder_id} has asked to be erased: no door unit can be attached"
            )
        if await self._sites.get_site(site_id) is None:
            raise NotFound(f"site {site_id} does not exist")
        await self._persons.add_door_unit(holder_id, site_id)
        await self._record(EventKind.ADMIN, "door_unit.mount", principal, holder, site_id=site_id)

    async def dismount_door_unit(self, principal: Principal, holder_id: str, site_id: str) -> None:
        holder = await self._subject(principal, holder_id, organisation_may=True)
        validate_id(site_id, field_name="site_id")
        if not await self._persons.remove_door_unit(holder_id, site_id):
            raise NotFound(f"key holder {holder_id} does not administer door unit {site_id}")
        await self._record(
            EventKind.ADMIN, "door_unit.dismount", principal, holder, site_id=site_id
        )

    async def door_units(self, principal: Principal, holder_id: str) -> list[str]:
        await self._subject(principal, holder_id, organisation_may=True)
        return await self._persons.door_units(holder_id)

    # -- the scheduled job ---------------------------------------------------------------------

    async def sweep(self, principal: Principal | None = None) -> SweepReport:
        """Carry out the erasures that are due, and the one-year rule: a holder whose last use
        (or registration) is ``inactivity`` ago or more, who administers no door unit and whose
        processing is not restricted, is erased. Each erasure is logged."""
        if principal is not None and principal.role is not Role.ADMIN:
            raise PermissionDenied("this call is for platform administrators")
        now = self._clock.now()
        kept: list[str] = []
        on_request: list[str] = []
        for holder_id in await self._persons.due_erasures(now):
            if await self._erase(holder_id, ErasureReason.REQUEST, None):
                on_request.append(holder_id)
            else:
                kept.append(holder_id)
        async for registered in self._holders.all_holders():
            await self._persons.note_registration(registered.key_holder_id, registered.created_at)
        watermark = await self._persons.last_use_watermark()
        since = (
            (watermark - LAST_USE_OVERLAP) if watermark else datetime.fromtimestamp(0, now.tzinfo)
        )
        uses = await self._history.last_uses(since)
        await self._persons.note_uses(uses)
        await self._persons.set_last_use_watermark(now)
        inactive_erased: list[str] = []
        for holder_id in await self._persons.unused_since(now - self._inactivity):
            found = await self._holders.get_holder(holder_id)
            if found is not None and found.status is HolderStatus.RESTRICTED:
                continue
            last = await self._history.last_use(holder_id)  # late-shipped uses count too
            if last is not None and not inactive(last, now, self._inactivity):
                await self._persons.note_uses({holder_id: last})
                continue
            if await self._erase(found or holder_id, ErasureReason.INACTIVITY, None):
                inactive_erased.append(holder_id)
            else:
                kept.append(holder_id)
        report = SweepReport(on_request, inactive_erased, sorted(set(kept)), len(uses))
        if principal is not None or on_request or inactive_erased:
            await self._events.record(
                [
                    event(
                        EventKind.ADMIN,
                        "privacy.sweep",
                        "ok",
                        int(now.timestamp() * 1000),
                        actor_role=principal.role.value if principal else "system",
                        actor_id=principal.credential_id if principal else SWEEPER,
                        detail=_detail(
                            erased_on_request=len(on_request),
                            erased_inactive=len(inactive_erased),
                            kept_administering=len(report.kept_administering),
                        ),
                    )
                ]
            )
        return report

    # -- retention report ----------------------------------------------------------------------

    async def report(self, principal: Principal) -> PrivacyReport:
        if principal.role is not Role.ADMIN:
            raise PermissionDenied("this call is for platform administrators")
        now = self._clock.now()
        census = await self._persons.census(now)
        holders = 0
        async for _ in self._holders.all_holders():
            holders += 1
        by_age = await self._history.events_by_age(now)
        ledger = await asyncio.to_thread(self._ledger.records)
        await self._events.record(
            [
                event(
                    EventKind.LOOKUP,
                    "privacy.report",
                    "ok",
                    int(now.timestamp() * 1000),
                    actor_role=principal.role.value,
                    actor_id=principal.credential_id,
                )
            ]
        )
        return PrivacyReport(census, holders, by_age, len(ledger))


def _detail(**facts: object) -> str:
    return json.dumps(facts, sort_keys=True, separators=(",", ":"))


async def reapply_erasures(persons: PersonStore, records: Sequence[ErasureRecord]) -> int:
    """Erase again everyone ``records`` names (their data key included), whatever the store's
    state: after a restore, an erased person's keys may be back. Idempotent."""
    for record in records:
        await persons.erase(record.holder_id, force=True)
    await persons.mark_ledger_applied(len(records))
    return len(records)
