"""Site owners: who can enter their stairwells, and their written requests for access logs.

The rules (one week, one stairwell, 36 months, two free requests a year, the fee, the state
machine) are pure, in ``authority.domain.owner_requests``; this use case checks who may do what,
keeps requests in an ``OwnerRequestStore`` (``authority.adapters.redis.owner_request_store``),
produces deliveries from the access log and logs every step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from authority.domain import owner_requests as rules
from authority.domain.accesslog import Cursor, EventSelection
from authority.domain.credentials import Principal, Role
from authority.domain.errors import (
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from authority.domain.events import AccessEvent, EventKind, new_event_id
from authority.domain.model import Organisation, Site, new_id, validate_id, validate_text
from authority.domain.owner_requests import OwnerLogRequest, OwnerLogRequestStatus
from authority.domain.ports.accesslog import EventRecorder
from authority.domain.ports.accesslog_reader import EventLogReader, TenantDirectory
from authority.domain.ports.clock import Clock
from authority.domain.ports.owner_requests import OwnerRequestStore, SiteGrantReader, StoredRequest
from authority.domain.site_access import OrganisationAccess
from authority.usecases.auth import require_admin

CAS_ATTEMPTS = 8
DELIVERY_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class SiteOrganisation:
    access: OrganisationAccess
    organisation: Organisation | None
    """None only if the organisation record vanished (it cannot be deleted today)."""
    blocked_by_site_owner: bool


@dataclass(frozen=True, slots=True)
class StairwellEntry:
    """One use of the system to enter the stairwell: an allowed unlock."""

    ts_ms: int
    door_id: str
    organisation_id: str
    organisation_name: str


class OwnerLogRequests:
    def __init__(
        self,
        *,
        store: OwnerRequestStore,
        directory: TenantDirectory,
        grants: SiteGrantReader,
        log: EventLogReader,
        recorder: EventRecorder,
        clock: Clock,
    ) -> None:
        self._store = store
        self._dir = directory
        self._grants = grants
        self._log = log
        self._recorder = recorder
        self._clock = clock

    # -- who can enter -----------------------------------------------------------------------

    async def site_organisations(
        self, principal: Principal, site_id: str
    ) -> tuple[Site, list[SiteOrganisation]]:
        site = await self._visible_site(principal, site_id)
        now = self._clock.now()
        access = await self._grants.organisations_with_access(
            site.site_id, sorted(self._dir.doors_of_site(site.site_id)), now=now
        )
        orgs = self._dir.organisations
        result = [
            SiteOrganisation(
                a, orgs.get(a.organisation_id), a.organisation_id in site.blocked_organisations
            )
            for a in access
        ]
        await self._record(
            principal,
            EventKind.LOOKUP,
            "site.organisations",
            site_id=site.site_id,
            detail={"organisations": len(result)},
        )
        return site, result

    async def _visible_site(self, principal: Principal, site_id: str) -> Site:
        validate_id(site_id, field_name="site_id")
        if principal.role is Role.SITE_OWNER:
            await self._dir.sync()
            site = self._dir.site(site_id)
            if site is None or site.owner_id != principal.owner_id:
                raise NotFound(f"site {site_id} does not exist")
            return site
        require_admin(principal)
        await self._dir.sync()
        site = self._dir.site(site_id)
        if site is None:
            raise NotFound(f"site {site_id} does not exist")
        return site

    # -- requests ----------------------------------------------------------------------------

    async def file(
        self,
        principal: Principal,
        *,
        site_id: str,
        period_start: datetime | None,
        period_end: datetime | None,
        purpose: str,
        suspected_crime: bool,
    ) -> OwnerLogRequest:
        if principal.role is not Role.SITE_OWNER or not principal.owner_id:
            raise PermissionDenied("owner log requests are filed by site owners")
        if period_start is None or period_end is None:
            raise InvalidArgument("from and to are required: the period of the request")
        site = await self._visible_site(principal, site_id)
        request_id = new_id("olr")
        for _ in range(CAS_ATTEMPTS):
            now = self._clock.now()
            prior = await self._store.requests_filed(principal.owner_id, rules.fee_year(now))
            request = rules.file_request(
                request_id=request_id,
                owner_id=principal.owner_id,
                site_id=site.site_id,
                period_start=period_start,
                period_end=period_end,
                purpose=purpose,
                suspected_crime=suspected_crime,
                filed_by=principal.credential_id,
                now=now,
                prior_requests_this_year=prior,
            )
            if await self._store.create(request, prior_requests=prior):
                # After the write: a failed log append leaves a filed request (the owner sees
                # it, the operator's open list shows it) rather than an event for nothing.
                await self._record(principal, EventKind.ADMIN, "owner_request.file", request)
                return request
        raise Conflict("requests of this owner are being filed concurrently; retry")

    async def get(self, principal: Principal, request_id: str) -> OwnerLogRequest:
        return (await self._visible_request(principal, request_id)).request

    async def _visible_request(self, principal: Principal, request_id: str) -> StoredRequest:
        validate_id(request_id, field_name="request_id")
        if principal.role not in (Role.SITE_OWNER, Role.ADMIN):
            raise PermissionDenied("owner log requests are for site owners and platform admins")
        stored = await self._store.get(request_id)
        if stored is None or (
            principal.role is Role.SITE_OWNER and stored.request.owner_id != principal.owner_id
        ):
            raise NotFound(f"owner log request {request_id} does not exist")
        return stored

    async def list_requests(
        self, principal: Principal, *, owner_id: str, year: int
    ) -> list[OwnerLogRequest]:
        if principal.role is Role.SITE_OWNER and principal.owner_id:
            if owner_id and owner_id != principal.owner_id:
                raise NotFound(f"site owner {owner_id} does not exist")
            requests = await self._store.of_owner(principal.owner_id)
        else:
            require_admin(principal)
            if owner_id:
                owner_id = validate_text(owner_id, field_name="owner_id", max_len=100)
                requests = await self._store.of_owner(owner_id)
            else:
                requests = await self._store.open_requests()
        return [r for r in requests if not year or r.year == year]

    async def record_payment(self, principal: Principal, request_id: str) -> OwnerLogRequest:
        require_admin(principal)
        stored = await self._visible_request(principal, request_id)
        paid = rules.record_payment(stored.request, now=self._clock.now())
        await self._record(principal, EventKind.ADMIN, "owner_request.pay", paid)
        return await self._commit(paid, stored.rev)

    async def refuse(self, principal: Principal, request_id: str, reason: str) -> OwnerLogRequest:
        require_admin(principal)
        stored = await self._visible_request(principal, request_id)
        refused = rules.refuse(
            stored.request, reason=reason, now=self._clock.now(), by=principal.credential_id
        )
        await self._record(principal, EventKind.ADMIN, "owner_request.refuse", refused)
        return await self._commit(refused, stored.rev)

    async def deliver(
        self, principal: Principal, request_id: str
    ) -> tuple[OwnerLogRequest, list[StairwellEntry]]:
        """The extract: allowed unlocks at the stairwell's doors in the period, with the
        organisation whose key was used; no key-holder pseudonyms (the owner is told which
        organisations entered, not which of their staff)."""
        require_admin(principal)
        stored = await self._visible_request(principal, request_id)
        request = stored.request
        rules.check_deliverable(request)
        await self._dir.sync()
        site = self._dir.site(request.site_id)
        if site is None or site.owner_id != request.owner_id:
            raise FailedPrecondition(
                f"site {request.site_id} is no longer owned by {request.owner_id}: refuse the "
                "request, or ask for proof that the requester still controls the stairwell"
            )
        entries = await self._entries(request)
        delivered = rules.deliver(
            request, entries=len(entries), now=self._clock.now(), by=principal.credential_id
        )
        # Logged before anything is handed out; the state change follows.
        await self._record(principal, EventKind.ADMIN, "owner_request.deliver", delivered)
        return await self._commit(delivered, stored.rev), entries

    async def _entries(self, request: OwnerLogRequest) -> list[StairwellEntry]:
        selection = EventSelection(
            start_ms=int(request.period_start.timestamp() * 1000),
            end_ms=int(request.period_end.timestamp() * 1000),
            kinds=frozenset({EventKind.UNLOCK}),
            site_ids=frozenset({request.site_id}),
            outcome="allow",
            with_people=False,
        )
        orgs = self._dir.organisations
        out: list[StairwellEntry] = []
        after: Cursor | None = None
        while True:
            page = await self._log.events(selection, after=after, limit=DELIVERY_PAGE)
            for e in page:
                org = orgs.get(e.organisation_id)
                out.append(
                    StairwellEntry(e.ts_ms, e.door_id, e.organisation_id, org.name if org else "")
                )
            if len(page) < DELIVERY_PAGE:
                return out
            after = Cursor(page[-1].ts_ms, page[-1].event_id)

    async def _commit(self, request: OwnerLogRequest, rev: int) -> OwnerLogRequest:
        if not await self._store.update(request, expected_rev=rev):
            raise Conflict(f"owner log request {request.request_id} changed meanwhile; retry")
        return request

    async def _record(
        self,
        principal: Principal,
        kind: EventKind,
        action: str,
        request: OwnerLogRequest | None = None,
        *,
        site_id: str = "",
        detail: Mapping[str, object] | None = None,
    ) -> None:
        now_ms = int(self._clock.now().timestamp() * 1000)
        facts: dict[str, object] = dict(detail or {})
        if request is not None:
            site_id = request.site_id
            facts |= {
                "request_id": request.request_id,
                "owner_id": request.owner_id,
                "from": request.period_start.isoformat(),
                "to": request.period_end.isoformat(),
                "suspected_crime": request.suspected_crime,
                "fee_total_ore": request.fee.total_ore,
                "status": request.status.value,
            }
            if request.status is OwnerLogRequestStatus.DELIVERED:
                facts["entries"] = request.delivered_entries
        elif principal.owner_id:
            facts["owner_id"] = principal.owner_id
        await self._recorder.record(
            [
                AccessEvent(
                    event_id=new_event_id(now_ms),
                    ts_ms=now_ms,
                    kind=kind,
                    action=action,
                    outcome="ok",
                    actor_role=principal.role.value,
                    actor_id=principal.credential_id,
                    site_id=site_id,
                    detail=json.dumps(facts, separators=(",", ":"), sort_keys=True),
                )
            ]
        )
