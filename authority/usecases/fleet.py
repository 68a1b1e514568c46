"""Partner fleets: bulk issuance, bulk revocation, roster changes and export.

A fleet onboarding streams hundreds of thousands of grant items. Each item is validated on its
own (a bad one is answered REJECTED with the reason and its index; the rest proceed) against the
in-process directory replica (doors and sites are dict lookups, brought up to date once per
chunk) and the access policy, then written in pipelined batches with one idempotent script per
item (``BulkGrantStore.issue_grants_once``). Every grant created, revoked or replaced is one event
in the access log.

Issuance overlaps its two halves: while one batch's writes (and then its events) are in Redis,
the next batch is validated (up to ``depth`` batches in flight; each is sent in item order on the
store's bulk connection). After each batch's validation the event loop gets a turn, so an
unlock never waits for more than one batch of CPU work (docs/architecture.md, "Bulk issuance
speed").
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from authority.domain.bulk import (
    MAX_ROSTER_ITEMS,
    IdempotentGrant,
    IssueOutcome,
    ItemResult,
    ItemStatus,
    RosterChange,
    derived_grant_id,
    fingerprint_from,
    idempotency_slot,
    validate_idempotency_key,
)
from authority.domain.credentials import Principal, Role
from authority.domain.eligibility import (
    ensure_issues_keys,
    ensure_may_receive_grants,
    restricted_holder,
)
from authority.domain.errors import (
    AlreadyExists,
    AuthorityError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from authority.domain.events import AccessEvent, EventKind, event
from authority.domain.model import (
    Grant,
    GrantTarget,
    HolderStatus,
    KeyHolder,
    Organisation,
    new_grant,
    validate_cvr,
    validate_id,
)
from authority.domain.offline import live_targets
from authority.domain.policy import AccessPolicy, PolicyViolation
from authority.domain.ports.accesslog import EventRecorder
from authority.domain.ports.clock import Clock
from authority.domain.ports.directory import DirectoryVersion, DirectoryView, SiteDoors
from authority.domain.ports.grants import BulkGrantStore, HolderReader
from authority.domain.ports.unlock import Foreground
from authority.domain.schedule import WeeklyWindow
from authority.usecases.audit_trail import grant_facts
from authority.usecases.auth import acting_organisation, may_see_organisation_data
from authority.usecases.epochs import EpochBumps

BULK_DETAIL = '{"bulk":true}'


@dataclass(frozen=True, slots=True)
class GrantItemRequest:
    """One item as the caller sent it (converted from the wire, not yet validated)."""

    index: int
    row: int = 0
    idempotency_key: str = ""
    key_holder_id: str = ""
    door_id: str = ""
    site_id: str = ""
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    windows: tuple[WeeklyWindow, ...] = ()
    organisation_cvr: str = ""
    error: AuthorityError | None = None
    """A conversion error (a malformed timestamp or window): the item is rejected with it."""


@dataclass(frozen=True, slots=True)
class IssueChunk:
    """One request message of a bulk stream."""

    organisation_id: str
    items: Sequence[GrantItemRequest]


@dataclass(frozen=True, slots=True)
class RevokeSummary:
    revoked: int
    key_holders: int
    epochs: dict[str, int] = field(default_factory=dict)


class FleetCommands:
    def __init__(
        self,
        *,
        directory: DirectoryView,
        versions: DirectoryVersion,
        site_doors: SiteDoors,
        holders: HolderReader,
        store: BulkGrantStore,
        clock: Clock,
        events: EventRecorder,
        epoch_bumps: EpochBumps,
        policy: AccessPolicy,
        bulk_events: EventRecorder | None = None,
        foreground: Foreground | None = None,
        batch: int = 100,
        depth: int = 2,
        max_yield: float = 0.005,
    ) -> None:
        """``bulk_events``: where bulk issuance's events go (default ``events``), a recorder on a
        connection of its own so that they do not share the decisions' batches. ``foreground``:
        before each batch, bulk issuance waits (up to ``max_yield`` seconds) until it is quiet.
        ``batch``: items per pipelined write; ``depth``: batches in flight at once."""
        self._dir = directory
        self._versions = versions
        self._site_doors = site_doors
        self._holders = holders
        self._store = store
        self._clock = clock
        self._events = events
        self._bumps = epoch_bumps
        self.policy = policy
        self._bulk_events = bulk_events or events
        self._foreground = foreground
        self._max_yield = max_yield
        self._batch = batch
        self._depth = max(1, depth)

    async def _fresh_directory(self) -> None:
        await self._dir.sync_to(await self._versions.directory_version())

    def _approved(self, organisation_id: str) -> Organisation:
        org = self._dir.organisations.get(organisation_id)
        if org is None:
            raise NotFound(f"organisation {organisation_id} does not exist")
        ensure_issues_keys(org)
        return org

    # -- bulk issuance -----------------------------------------------------------------------

    async def issue_stream(
        self, principal: Principal, chunks: AsyncIterator[IssueChunk]
    ) -> AsyncIterator[list[ItemResult]]:
        """Results per chunk, in order. Errors that concern the whole stream (caller,
        organisation) raise; errors of one item are that item's result."""
        org_id: str | None = None
        async for chunk in chunks:
            if org_id is None:
                org_id = acting_organisation(principal, chunk.organisation_id)
            elif chunk.organisation_id and chunk.organisation_id != org_id:
                raise InvalidArgument(
                    f"organisation_id {chunk.organisation_id} differs from the stream's {org_id}"
                )
            await self._fresh_directory()
            org = self._approved(org_id)  # again per chunk: a suspension stops the stream
            yield await self._issue_chunk(principal, org, chunk.items)

    async def _issue_chunk(
        self, principal: Principal, org: Organisation, items: Sequence[GrantItemRequest]
    ) -> list[ItemResult]:
        """Batch k+1 is validated while batch k is in Redis. The writes leave in item order
        (each task sends before its first suspension, and tasks start in creation order)."""
        results: list[ItemResult] = []
        in_flight: deque[asyncio.Task[list[ItemResult]]] = deque()
        try:
            for start in range(0, len(items), self._batch):
                await asyncio.sleep(0)  # other calls get a turn before each batch,
                if self._foreground is not None:  # and unlocks in progress go first
                    await self._foreground.quiet(self._max_yield)
                batch = items[start : start + self._batch]
                staged = self._stage(org, batch)
                in_flight.append(asyncio.create_task(self._write(principal, org, batch, staged)))
                while len(in_flight) >= self._depth:
                    results += await in_flight.popleft()
            while in_flight:
                results += await in_flight.popleft()
        finally:
            # On an error (or a cancelled call) the batches already sent still finish, events
            # included: a grant written is never left without its event by this path.
            if in_flight:
                await asyncio.shield(asyncio.gather(*in_flight, return_exceptions=True))
        return results

    def _stage(
        self, org: Organisation, items: Sequence[GrantItemRequest]
    ) -> list[ItemResult | IdempotentGrant]:
        """Each item validated: its write, or its rejection."""
        now = self._clock.now()
        staged: list[ItemResult | IdempotentGrant] = []
        for item in items:
            try:
                staged.append(self._prepare(item, org, now))
            except AuthorityError as exc:
                staged.append(_rejected(item, exc))
        return staged

    async def _write(
        self,
        principal: Principal,
        org: Organisation,
        items: Sequence[GrantItemRequest],
        staged: list[ItemResult | IdempotentGrant],
    ) -> list[ItemResult]:
        results: list[ItemResult | None] = []
        writes: list[tuple[int, IdempotentGrant]] = []
        for s in staged:
            if isinstance(s, ItemResult):
                results.append(s)
            else:
                writes.append((len(results), s))
                results.append(None)
        outcomes = await self._store.issue_grants_once(org.organisation_id, [w for _, w in writes])
        events: list[AccessEvent] = []
        for (position, write), outcome in zip(writes, outcomes, strict=True):
            item = items[position]
            grant = write.grant
            if outcome is IssueOutcome.CREATED:
                results[position] = ItemResult(
                    item.index, item.row, item.idempotency_key, ItemStatus.CREATED, grant.grant_id
                )
                events.append(_grant_event(principal, "grant.issue", grant, BULK_DETAIL))
            elif outcome is IssueOutcome.ALREADY_CREATED:
                results[position] = ItemResult(
                    item.index,
                    item.row,
                    item.idempotency_key,
                    ItemStatus.ALREADY_CREATED,
                    grant.grant_id,
                )
            else:
                results[position] = _rejected(item, _outcome_error(outcome, item, org))
        # The grants are written; their events reach the durable buffer before the caller
        # hears of them (as for a single issuance).
        await self._bulk_events.record(events)
        return [r for r in results if r is not None]

    def _prepare(self, item: GrantItemRequest, org: Organisation, now: datetime) -> IdempotentGrant:
        if item.error is not None:
            raise item.error
        key = validate_idempotency_key(item.idempotency_key)
        if item.organisation_cvr:
            cvr = validate_cvr(item.organisation_cvr)
            if cvr != org.cvr:
                raise FailedPrecondition(
                    f"organisation_cvr {cvr} is not the CVR of the issuing organisation "
                    f"{org.organisation_id}: is this the right organisation's roster?"
                )
        target, site_id = self._target(item.door_id, item.site_id)
        holder_id = validate_id(item.key_holder_id, field_name="key_holder_id")
        grant = self._grant(item, org, holder_id, target, now, derived=key)
        return IdempotentGrant(
            grant=grant,
            slot=idempotency_slot(org.organisation_id, key),
            fingerprint=fingerprint_from(grant, valid_from_given=item.valid_from is not None),
            site_id=site_id,
        )

    def _target(self, door_id: str, site_id: str) -> tuple[GrantTarget, str]:
        """The grant's target and the site it reaches, from the directory replica."""
        if bool(door_id) == bool(site_id):
            raise InvalidArgument("give exactly one of door_id or site_id")
        if door_id:
            door = self._dir.door(validate_id(door_id, field_name="door_id"))
            if door is None:
                raise NotFound(f"door {door_id} does not exist")
            return GrantTarget(door_id=door_id), door.site_id
        if self._dir.site(validate_id(site_id, field_name="site_id")) is None:
            raise NotFound(f"site {site_id} does not exist")
        return GrantTarget(site_id=site_id), site_id

    def _grant(
        self,
        item: GrantItemRequest,
        org: Organisation,
        holder_id: str,
        target: GrantTarget,
        now: datetime,
        *,
        derived: str | None,
    ) -> Grant:
        holder = KeyHolder(
            key_holder_id=holder_id,
            organisation_id=org.organisation_id,
            status=HolderStatus.ACTIVE,
            created_at=now,
        )
        grant = new_grant(
            holder=holder,
            target=target,
            organisation=org,
            valid_from=item.valid_from,
            valid_until=item.valid_until,
            windows=item.windows,
            now=now,
            grant_id=derived_grant_id(org.organisation_id, holder_id, derived)
            if derived is not None
            else None,
        )
        self.policy.check(grant)
        return grant

    # -- bulk revocation ---------------------------------------------------------------------

    async def revoke(
        self,
        principal: Principal,
        *,
        key_holder_id: str = "",
        organisation_id: str = "",
        site_id: str = "",
        door_id: str = "",
    ) -> RevokeSummary:
        """Revoke every live grant selected by exactly one of the four (see the proto)."""
        if sum(map(bool, (key_holder_id, organisation_id, site_id, door_id))) != 1:
            raise InvalidArgument(
                "give exactly one of key_holder_id, organisation_id, site_id or door_id"
            )
        if principal.role not in (Role.ADMIN, Role.ORGANISATION):
            raise PermissionDenied("this call is for organisations and platform administrators")
        own = None if principal.role is Role.ADMIN else principal.organisation_id
        fields: list[str] | None = None
        if key_holder_id:
            holder = await self._holders.get_holder(
                validate_id(key_holder_id, field_name="key_holder_id")
            )
            if holder is None or not may_see_organisation_data(principal, holder.organisation_id):
                raise NotFound(f"key holder {key_holder_id} does not exist")
            holders, scope, selector = [key_holder_id], own, {"holder_id": key_holder_id}
        elif organisation_id:
            org_id = acting_organisation(principal, organisation_id)
            holders = await self._store.holders_of_organisation(org_id)
            scope, selector = org_id, {"organisation_id": org_id}
        else:
            await self._fresh_directory()
            if site_id:
                if self._dir.site(validate_id(site_id, field_name="site_id")) is None:
                    raise NotFound(f"site {site_id} does not exist")
                fields = [
                    f"s:{site_id}",
                    *(f"d:{d}" for d in self._site_doors.doors_of_site(site_id)),
                ]
                holders = await self._store.holders_with_grants_at(site_id)
                selector = {"site_id": site_id}
            else:
                door = self._dir.door(validate_id(door_id, field_name="door_id"))
                if door is None:
                    raise NotFound(f"door {door_id} does not exist")
                fields = [f"d:{door_id}"]
                holders = await self._store.holders_with_grants_at(door.site_id)
                selector = {"door_id": door_id}
            scope = own
        now = self._clock.now()
        revoked = await self._store.revoke_holders_grants(
            holders, at=now, organisation_id=scope, fields=fields
        )
        # After the revocation is stored (see authority.usecases.epochs).
        epochs = await self._bumps.after_revoking(live_targets(revoked, now))
        detail = json.dumps({"bulk": selector}, sort_keys=True, separators=(",", ":"))
        await self._events.record(
            [_grant_event(principal, "grant.revoke", g, detail) for g in revoked]
        )
        return RevokeSummary(
            revoked=len(revoked),
            key_holders=len({g.key_holder_id for g in revoked}),
            epochs=epochs,
        )

    # -- roster changes ----------------------------------------------------------------------

    async def replace_holder_grants(
        self,
        principal: Principal,
        *,
        key_holder_id: str,
        organisation_id: str,
        items: Sequence[GrantItemRequest],
    ) -> RosterChange:
        org_id = acting_organisation(principal, organisation_id)
        await self._fresh_directory()
        org = self._approved(org_id)
        holder = await self._holders.get_holder(
            validate_id(key_holder_id, field_name="key_holder_id")
        )
        if holder is None or not may_see_organisation_data(principal, holder.organisation_id):
            raise NotFound(f"key holder {key_holder_id} does not exist")
        ensure_may_receive_grants(holder, org_id)
        if len(items) > MAX_ROSTER_ITEMS:
            raise InvalidArgument(f"at most {MAX_ROSTER_ITEMS} grants per holder; got {len(items)}")
        now = self._clock.now()
        desired: list[tuple[Grant, bool]] = []
        sites: list[str] = []
        for i, item in enumerate(items):
            try:
                if item.error is not None:
                    raise item.error
                target, site_id = self._target(item.door_id, item.site_id)
                grant = self._grant(item, org, key_holder_id, target, now, derived=None)
            except AuthorityError as exc:
                raise type(exc)(f"grants[{i}]: {exc}") from exc
            desired.append((grant, item.valid_from is not None))
            sites.append(site_id)
        change = await self._store.replace_holder_grants(
            key_holder_id, org_id, desired, at=now, site_ids=sites
        )
        epochs = await self._bumps.after_revoking(live_targets(change.revoked, now))
        detail = json.dumps(
            {"roster": True, **({"epochs": epochs} if epochs else {})},
            sort_keys=True,
            separators=(",", ":"),
        )
        await self._events.record(
            [_grant_event(principal, "grant.issue", g, detail) for g in change.created]
            + [_grant_event(principal, "grant.revoke", g, detail) for g in change.revoked]
        )
        return change

    # -- export ------------------------------------------------------------------------------

    async def export(
        self, principal: Principal, *, organisation_id: str, include_inactive: bool
    ) -> AsyncIterator[list[Grant]]:
        org_id = acting_organisation(principal, organisation_id)
        if self._dir.organisations.get(org_id) is None:
            await self._fresh_directory()
            if self._dir.organisations.get(org_id) is None:
                raise NotFound(f"organisation {org_id} does not exist")
        await self._events.record(
            [
                event(
                    EventKind.LOOKUP,
                    "grants.export",
                    "ok",
                    actor_role=principal.role.value,
                    actor_id=principal.credential_id,
                    organisation_id=org_id,
                )
            ]
        )
        holders = await self._store.holders_of_organisation(org_id)
        now = self._clock.now()
        for start in range(0, len(holders), 500):
            grants = [
                g
                for g in await self._store.grants_of_holders(holders[start : start + 500])
                if g.organisation_id == org_id
                and (include_inactive or (g.revoked_at is None and g.valid_until > now))
            ]
            if grants:
                yield sorted(grants, key=lambda g: (g.key_holder_id, g.grant_id))


def _grant_event(principal: Principal, action: str, grant: Grant, detail: str) -> AccessEvent:
    return event(
        EventKind.ADMIN,
        action,
        "ok",
        actor_role=principal.role.value,
        actor_id=principal.credential_id,
        detail=detail,
        **grant_facts(grant),
    )


def _rejected(item: GrantItemRequest, exc: AuthorityError) -> ItemResult:
    return ItemResult(
        item.index,
        item.row,
        item.idempotency_key,
        ItemStatus.REJECTED,
        error=exc,
        rule=exc.rule if isinstance(exc, PolicyViolation) else "",
    )


def _outcome_error(
    outcome: IssueOutcome, item: GrantItemRequest, org: Organisation
) -> AuthorityError:
    if outcome is IssueOutcome.HOLDER_MISSING:
        return NotFound(f"key holder {item.key_holder_id} does not exist")
    if outcome is IssueOutcome.HOLDER_OF_ANOTHER_ORGANISATION:
        # As for a single issuance: a holder of another tenant is not visible.
        return NotFound(f"key holder {item.key_holder_id} does not exist")
    if outcome is IssueOutcome.HOLDER_RESTRICTED:
        return restricted_holder(item.key_holder_id)
    return AlreadyExists(
        f"idempotency_key {item.idempotency_key[:128]!r} was used before for this key holder "
        f"with other content (organisation {org.organisation_id}); use a new key"
    )
