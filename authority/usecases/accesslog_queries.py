"""Reading the access log: tenancy, cursor pages and aggregates, for analysts and site owners.

``AccessLogQueries.resolve`` is tenancy: the caller's role picks its ``Scope``
(``authority.domain.accesslog``), which narrows the filter to its tenant (organisation forced; a
site owner's sites); ids that do not exist or belong to another tenant answer NOT_FOUND alike.
The result is an ``EventSelection`` that the ``EventLogReader`` port reads
(``authority.adapters.clickhouse.event_reader`` implements it over ClickHouse).

Every query is itself logged (a LOOKUP event) before its rows are returned: if the log cannot
take the event, the caller gets UNAVAILABLE and no rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from authority.domain.accesslog import (
    AggregateKind,
    AggregateRow,
    Cursor,
    EventFilter,
    EventPage,
    EventSelection,
    Scope,
    organisation_scope,
    redact,
    site_owner_scope,
    to_ms,
    validate_filter,
    validate_limit,
    validate_top,
)
from authority.domain.credentials import Principal, Role
from authority.domain.errors import (
    AuthorityError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from authority.domain.events import AccessEvent, EventKind, new_event_id
from authority.domain.model import validate_time_zone
from authority.domain.ports.accesslog import EventRecorder
from authority.domain.ports.accesslog_reader import EventLogReader, TenantDirectory
from authority.domain.ports.clock import Clock
from authority.domain.ports.grants import HolderReader


def scope_of(principal: Principal, directory: TenantDirectory) -> Scope:
    """The tenant a caller reads the log as (the scopes themselves are domain rules)."""
    role = principal.role
    if role is Role.ADMIN or (role is Role.ANALYST and principal.organisation_id is None):
        return organisation_scope(None)
    if role in (Role.ORGANISATION, Role.ANALYST) and principal.organisation_id:
        return organisation_scope(principal.organisation_id)
    if role is Role.SITE_OWNER and principal.owner_id:
        return site_owner_scope(directory.sites_of_owner(principal.owner_id))
    raise PermissionDenied(
        "the access log is for organisations, analysts, site owners and platform administrators"
    )


class AccessLogQueries:
    def __init__(
        self,
        *,
        log: EventLogReader,
        directory: TenantDirectory,
        holders: HolderReader,
        recorder: EventRecorder,
        clock: Clock,
    ) -> None:
        self._log = log
        self._dir = directory
        self._holders = holders
        self._recorder = recorder
        self._clock = clock

    async def resolve(self, principal: Principal, f: EventFilter) -> tuple[EventSelection, Scope]:
        """Validate ``f`` and narrow it to the caller's tenant (see the module docstring)."""
        f = validate_filter(f)
        await self._dir.sync()
        scope = scope_of(principal, self._dir)
        organisation_id = scope.organisation_id
        if f.organisation_id:
            # A site owner's scope is its sites: naming an organisation only narrows it (an
            # unknown one selects nothing), so the answer does not tell which organisations
            # exist elsewhere.
            unknown = scope.site_ids is None and f.organisation_id not in self._dir.organisations
            if unknown or (organisation_id is not None and f.organisation_id != organisation_id):
                raise NotFound(f"organisation {f.organisation_id} does not exist")
            organisation_id = f.organisation_id
        site_ids = scope.site_ids
        if f.site_id:
            if self._dir.site(f.site_id) is None or (
                site_ids is not None and f.site_id not in site_ids
            ):
                raise NotFound(f"site {f.site_id} does not exist")
            site_ids = frozenset({f.site_id})
        if f.door_id:
            door = self._dir.door(f.door_id)
            if door is None or (site_ids is not None and door.site_id not in site_ids):
                raise NotFound(f"door {f.door_id} does not exist")
        if f.holder_id:
            if scope.redact_people:
                raise PermissionDenied(
                    "site owners see which organisations used their doors, not key holders: "
                    "leave filter.key_holder_id empty"
                )
            holder = await self._holders.get_holder(f.holder_id)
            if holder is None or (
                scope.organisation_id is not None
                and holder.organisation_id != scope.organisation_id
            ):
                raise NotFound(f"key holder {f.holder_id} does not exist")
        kinds = scope.kinds if f.kind is None else scope.kinds & {f.kind}
        selection = EventSelection(
            start_ms=to_ms(f.start),
            end_ms=to_ms(f.end),
            kinds=kinds,
            organisation_id=organisation_id,
            site_ids=site_ids,
            door_id=f.door_id or None,
            holder_id=f.holder_id or None,
            outcome=f.outcome or None,
            reason=f.reason or None,
            with_people=not scope.redact_people,
        )
        return selection, scope

    async def query_events(
        self, principal: Principal, f: EventFilter, *, cursor: str = "", limit: int = 0
    ) -> EventPage:
        try:
            limit = validate_limit(limit)
            selection, scope = await self.resolve(principal, f)
            after = Cursor.decode(cursor, selection) if cursor else None
            rows = (
                []
                if selection.matches_nothing
                else await self._log.events(selection, after=after, limit=limit + 1)
            )
        except AuthorityError as exc:
            await self._record_refusal(principal, "logs.query", f, exc)
            raise
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            Cursor(rows[-1].ts_ms, rows[-1].event_id).encode(selection) if more and rows else ""
        )
        await self._record(principal, "logs.query", f, selection, rows=len(rows), page=bool(after))
        return EventPage([redact(e) for e in rows] if scope.redact_people else rows, next_cursor)

    async def aggregate(
        self,
        principal: Principal,
        f: EventFilter,
        kind: AggregateKind | None,
        *,
        top: int = 0,
        time_zone: str = "",
    ) -> list[AggregateRow]:
        try:
            if kind is None:
                raise InvalidArgument(
                    "kind is required: ORGANISATION_DAY, BUSIEST_DOORS or DENIAL_REASONS"
                )
            top = validate_top(top)
            zone = validate_time_zone(time_zone)
            selection, _ = await self.resolve(principal, f)
            rows: Sequence[AggregateRow]
            if kind is AggregateKind.DENIAL_REASONS:
                selection = selection.refused_unlocks()
            if selection.matches_nothing:
                rows = []
            elif kind is AggregateKind.ORGANISATION_DAY:
                rows = await self._log.organisation_days(selection, time_zone=zone)
            elif kind is AggregateKind.BUSIEST_DOORS:
                rows = await self._log.busiest_doors(selection, top=top)
            else:
                rows = await self._log.denial_reasons(selection)
        except AuthorityError as exc:
            await self._record_refusal(principal, "logs.aggregate", f, exc)
            raise
        await self._record(
            principal, "logs.aggregate", f, selection, rows=len(rows), aggregate=kind.value
        )
        return list(rows)

    # -- the lookup events -------------------------------------------------------------------

    async def _record(
        self,
        principal: Principal,
        action: str,
        f: EventFilter,
        selection: EventSelection,
        **facts: object,
    ) -> None:
        await self._recorder.record(
            [
                self._lookup(
                    principal,
                    action,
                    "ok",
                    f,
                    organisation_id=selection.organisation_id or "",
                    detail=facts,
                )
            ]
        )

    async def _record_refusal(
        self, principal: Principal, action: str, f: EventFilter, exc: AuthorityError
    ) -> None:
        """Refused lookups are logged too: probing for other tenants' ids leaves a trace."""
        if isinstance(exc, Unavailable):
            return  # the log itself (or ClickHouse) is down: nothing to add to the trace
        await self._recorder.record(
            [
                self._lookup(
                    principal,
                    action,
                    "refused",
                    f,
                    organisation_id=principal.organisation_id or "",
                    reason=type(exc).__name__,
                    detail={},
                )
            ]
        )

    def _lookup(
        self,
        principal: Principal,
        action: str,
        outcome: str,
        f: EventFilter,
        *,
        organisation_id: str,
        detail: Mapping[str, object],
        reason: str = "",
    ) -> AccessEvent:
        now_ms = to_ms(self._clock.now())
        facts: dict[str, object] = {
            "from": f.start.isoformat(),
            "to": f.end.isoformat(),
            **{
                k: v
                for k, v in (
                    ("organisation_id", f.organisation_id),
                    ("kind", f.kind.value if f.kind else ""),
                    ("outcome", f.outcome),
                    ("reason", f.reason),
                    ("owner_id", principal.owner_id or ""),
                )
                if v
            },
            **detail,
        }
        return AccessEvent(
            event_id=new_event_id(now_ms),
            ts_ms=now_ms,
            kind=EventKind.LOOKUP,
            action=action,
            outcome=outcome,
            reason=reason,
            actor_role=principal.role.value,
            actor_id=principal.credential_id,
            organisation_id=organisation_id,
            site_id=_short(f.site_id),
            door_id=_short(f.door_id),
            holder_id=_short(f.holder_id),
            detail=json.dumps(facts, separators=(",", ":"), sort_keys=True),
        )


def _short(value: str) -> str:
    """An id as logged: a refused lookup may carry a malformed one, so bound it."""
    return value[:64]
