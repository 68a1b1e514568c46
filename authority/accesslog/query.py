"""Reading the access log: filters, tenancy, cursor pages and aggregates over ClickHouse.

Layers, inside out:

* ``EventFilter`` / ``validate_filter``: what a caller asked for, checked (time range at most 92
  days, ids and codes well-formed).
* ``Scope`` / ``AccessLogQueries.resolve``: tenancy. The caller's role narrows the filter to
  its tenant (organisation forced; a site owner's sites); ids that do not exist or belong to
  another tenant answer NOT_FOUND alike. The result is an ``EventSelection``: what the adapter
  may read, nothing more.
* ``EventLogReader``: the port; ``ClickHouseEventLog`` implements it with bound parameters only
  (no caller text is ever formatted into SQL), running the synchronous client in a thread.

Every query is itself logged (a LOOKUP event) before its rows are returned: if the log cannot
take the event, the caller gets UNAVAILABLE and no rows.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from authority.adapters.clickhouse.connect import LogClient, query_rows
from authority.adapters.clickhouse.schema import EVENTS_TABLE
from authority.domain.errors import (
    AuthorityError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from authority.domain.events import AccessEvent, EventKind, new_event_id
from authority.domain.model import (
    Door,
    KeyHolder,
    Organisation,
    Site,
    to_utc,
    validate_id,
    validate_time_zone,
)
from authority.domain.ports.accesslog import EventRecorder
from authority.domain.ports.clock import Clock
from authority.usecases.credentials import Principal, Role

MAX_RANGE = timedelta(days=92)
"""The longest period one query may cover (about a quarter): bounds the work of one call."""
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
DEFAULT_TOP = 10
MAX_TOP = 1000
QUERY_TIMEOUT_SECONDS = 30
"""ClickHouse stops a query after this long (``max_execution_time``)."""

_CODE_RE = re.compile(r"[a-z0-9_.:-]{1,64}")
DOOR_EVENT_KINDS = frozenset({EventKind.UNLOCK, EventKind.RELAY})
"""What a site owner may see: uses of its doors, not administration or lookups."""


# -- what the caller asks for ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFilter:
    start: datetime
    """Inclusive."""
    end: datetime
    """Exclusive."""
    organisation_id: str = ""
    site_id: str = ""
    door_id: str = ""
    holder_id: str = ""
    kind: EventKind | None = None
    outcome: str = ""
    reason: str = ""


def validate_filter(f: EventFilter) -> EventFilter:
    """Check the range and the shape of every given field; raise ``InvalidArgument``."""
    start, end = to_utc(f.start), to_utc(f.end)
    if end <= start:
        raise InvalidArgument(
            f"filter.to_time ({end.isoformat()}) must be after filter.from_time "
            f"({start.isoformat()})"
        )
    if end - start > MAX_RANGE:
        raise InvalidArgument(
            f"filter: the period is {(end - start) / timedelta(days=1):g} days; one query covers "
            f"at most {MAX_RANGE.days} days: split it, or use AggregateEvents per period"
        )
    for name, value in (
        ("organisation_id", f.organisation_id),
        ("site_id", f.site_id),
        ("door_id", f.door_id),
        ("key_holder_id", f.holder_id),
    ):
        if value:
            validate_id(value, field_name=f"filter.{name}")
    for name, value in (("outcome", f.outcome), ("reason", f.reason)):
        if value and not _CODE_RE.fullmatch(value):
            raise InvalidArgument(
                f"filter.{name} must be 1-64 characters of a-z 0-9 _ . : - (as logged, "
                f"lower case); got {value[:80]!r}"
            )
    return replace(f, start=start, end=end)


def validate_limit(limit: int) -> int:
    if limit == 0:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be 1-{MAX_LIMIT} (0 means {DEFAULT_LIMIT})")
    return limit


# -- what the adapter may read ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EventSelection:
    """A filter after tenancy: exactly the rows the caller may see that match what it asked."""

    start_ms: int
    end_ms: int
    kinds: frozenset[EventKind]
    organisation_id: str | None = None
    site_ids: frozenset[str] | None = None
    """None: any site. Empty: none (nothing matches)."""
    door_id: str | None = None
    holder_id: str | None = None
    outcome: str | None = None
    reason: str | None = None
    with_people: bool = True
    """Whether the pseudonym columns (actor, holder, grant, token) and ``detail`` may be read at
    all; site owners' selections say no, and the adapter then does not read them."""

    @property
    def matches_nothing(self) -> bool:
        return not self.kinds or (self.site_ids is not None and not self.site_ids)

    def fingerprint(self) -> str:
        """Identifies the selection inside a cursor, so a cursor is not reused on another one."""
        raw = json.dumps(
            {k: sorted(v) if isinstance(v, frozenset) else v for k, v in asdict(self).items()},
            sort_keys=True,
        )
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Cursor:
    """The position after the last event of a page: (time, event id), the sort order."""

    ts_ms: int
    event_id: str

    def encode(self, selection: EventSelection) -> str:
        raw = json.dumps(
            {"t": self.ts_ms, "e": self.event_id, "f": selection.fingerprint()},
            separators=(",", ":"),
        )
        return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()

    @classmethod
    def decode(cls, text: str, selection: EventSelection) -> Cursor:
        invalid = InvalidArgument(
            "cursor is not a next_cursor returned by QueryEvents for this filter"
        )
        try:
            raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            ts_ms, event_id, fingerprint = int(raw["t"]), str(raw["e"]), str(raw["f"])
        except (ValueError, TypeError, KeyError) as exc:
            raise invalid from exc
        if fingerprint != selection.fingerprint() or not _UUID_RE.fullmatch(event_id):
            raise invalid
        return cls(ts_ms, event_id)


_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[AccessEvent]
    next_cursor: str
    """Empty when no more events match."""


class AggregateKind(StrEnum):
    ORGANISATION_DAY = "organisation_day"
    BUSIEST_DOORS = "busiest_doors"
    DENIAL_REASONS = "denial_reasons"


@dataclass(frozen=True, slots=True)
class OrganisationDayCount:
    organisation_id: str
    day: date
    events: int
    allowed: int
    denied: int


@dataclass(frozen=True, slots=True)
class DoorCount:
    site_id: str
    door_id: str
    events: int


@dataclass(frozen=True, slots=True)
class ReasonCount:
    reason: str
    events: int


AggregateRow = OrganisationDayCount | DoorCount | ReasonCount


# -- ports -----------------------------------------------------------------------------------


class EventLogReader(Protocol):
    """The read side of the access log's store."""

    async def events(
        self, selection: EventSelection, *, after: Cursor | None, limit: int
    ) -> list[AccessEvent]:
        """Matching events ordered by (time, event id), strictly after ``after``."""
        ...

    async def organisation_days(
        self, selection: EventSelection, *, time_zone: str
    ) -> list[OrganisationDayCount]: ...

    async def busiest_doors(self, selection: EventSelection, *, top: int) -> list[DoorCount]: ...

    async def denial_reasons(self, selection: EventSelection) -> list[ReasonCount]: ...


class TenantDirectory(Protocol):
    """The directory as tenancy needs it (``OwnerIndexedDirectory``)."""

    async def sync(self) -> None:
        """Make every committed directory change visible."""
        ...

    def site(self, site_id: str) -> Site | None: ...

    def door(self, door_id: str) -> Door | None: ...

    @property
    def organisations(self) -> Mapping[str, Organisation]: ...

    def sites_of_owner(self, owner_id: str) -> frozenset[str]: ...

    def doors_of_site(self, site_id: str) -> frozenset[str]: ...


class HolderReader(Protocol):
    async def get_holder(self, holder_id: str) -> KeyHolder | None: ...


# -- tenancy ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """The part of the log a caller may read."""

    organisation_id: str | None
    """Forced organisation (organisations, organisation analysts); None: any."""
    site_ids: frozenset[str] | None
    """Forced sites (site owners); None: any."""
    kinds: frozenset[EventKind]
    redact_people: bool
    """Site owners see organisations, not key holders or callers: pseudonyms are blanked."""


def scope_of(principal: Principal, directory: TenantDirectory) -> Scope:
    every_kind = frozenset(EventKind)
    role = principal.role
    if role is Role.ADMIN or (role is Role.ANALYST and principal.organisation_id is None):
        return Scope(None, None, every_kind, redact_people=False)
    if role in (Role.ORGANISATION, Role.ANALYST) and principal.organisation_id:
        return Scope(principal.organisation_id, None, every_kind, redact_people=False)
    if role is Role.SITE_OWNER and principal.owner_id:
        return Scope(
            None,
            directory.sites_of_owner(principal.owner_id),
            DOOR_EVENT_KINDS,
            redact_people=True,
        )
    raise PermissionDenied(
        "the access log is for organisations, analysts, site owners and platform administrators"
    )


def redact(event: AccessEvent) -> AccessEvent:
    return replace(event, actor_id="", holder_id="", grant_id="", token_id="", detail="")


def _ms(dt: datetime) -> int:
    return int(to_utc(dt).timestamp() * 1000)


# -- the use case ----------------------------------------------------------------------------


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
            start_ms=_ms(f.start),
            end_ms=_ms(f.end),
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
            if top == 0:
                top = DEFAULT_TOP
            if not 1 <= top <= MAX_TOP:
                raise InvalidArgument(f"top must be 1-{MAX_TOP} (0 means {DEFAULT_TOP})")
            zone = validate_time_zone(time_zone)
            selection, _ = await self.resolve(principal, f)
            rows: Sequence[AggregateRow]
            if kind is AggregateKind.DENIAL_REASONS:
                # Refused unlocks only: a filter asking for another outcome matches none.
                other_outcome = selection.outcome not in (None, "deny")
                selection = replace(
                    selection, kinds=selection.kinds & {EventKind.UNLOCK}, outcome="deny"
                )
                if other_outcome:
                    selection = replace(selection, kinds=frozenset())
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
        now_ms = _ms(self._clock.now())
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


# -- the ClickHouse adapter ------------------------------------------------------------------


_EVENT_COLUMNS = (
    "toString(event_id), toUnixTimestamp64Milli(ts), kind, action, outcome, reason, actor_role, "
    "actor_id, organisation_id, site_id, door_id, holder_id, grant_id, token_id, relay_id, detail"
)
_EVENT_COLUMNS_WITHOUT_PEOPLE = (
    "toString(event_id), toUnixTimestamp64Milli(ts), kind, action, outcome, reason, actor_role, "
    "'', organisation_id, site_id, door_id, '', '', '', relay_id, ''"
)
"""The same shape with the pseudonym columns never read (which also makes the owner query
cheaper: those columns are most of what a matching granule decompresses)."""


def where_clause(selection: EventSelection) -> tuple[str, dict[str, Any]]:
    """The WHERE conditions of a selection and their bound parameters. Every value is a
    ``{name:Type}`` placeholder; only fixed text from this function reaches the SQL."""
    conditions = [
        "ts >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')",
        "ts < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')",
        "kind IN {kinds:Array(String)}",
    ]
    params: dict[str, Any] = {
        "start_ms": selection.start_ms,
        "end_ms": selection.end_ms,
        "kinds": sorted(k.value for k in selection.kinds),
    }
    if selection.site_ids is not None:
        if len(selection.site_ids) == 1:
            conditions.append("site_id = {site_id:String}")
            params["site_id"] = next(iter(selection.site_ids))
        else:
            conditions.append("site_id IN {site_ids:Array(String)}")
            params["site_ids"] = sorted(selection.site_ids)
    for column, value in (
        ("organisation_id", selection.organisation_id),
        ("door_id", selection.door_id),
        ("holder_id", selection.holder_id),
        ("outcome", selection.outcome),
        ("reason", selection.reason),
    ):
        if value is not None:
            conditions.append(f"{column} = {{{column}:String}}")
            params[column] = value
    return " AND ".join(conditions), params


class ClickHouseEventLog:
    """Implements ``EventLogReader`` on the ``access_events`` table (``schema.py``).

    The sort key (site_id, door_id, ts) serves owner queries; the projections by organisation
    and by holder serve organisation and holder filters; ClickHouse picks among them itself.
    clickhouse-connect is synchronous: each query runs in a worker thread so the event loop
    keeps serving unlocks meanwhile.
    """

    def __init__(
        self,
        client: LogClient,
        *,
        table: str = EVENTS_TABLE,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        """``settings``: extra ClickHouse settings for every query (e.g. ``max_threads``; the
        benchmark's baseline turns the primary key and the projections off with them)."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", table):
            raise ValueError(f"not a table name: {table!r}")
        self._client = client
        self._table = table
        self._settings = {"max_execution_time": QUERY_TIMEOUT_SECONDS, **(settings or {})}

    async def events(
        self, selection: EventSelection, *, after: Cursor | None, limit: int
    ) -> list[AccessEvent]:
        where, params = where_clause(selection)
        if after is not None:
            # ts >= first keeps the primary-key range; the OR picks up where the page ended.
            where += (
                " AND ts >= fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC')"
                " AND (ts > fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC')"
                " OR event_id > {after_id:UUID})"
            )
            params["after_ms"], params["after_id"] = after.ts_ms, after.event_id
        params["limit"] = limit
        columns = _EVENT_COLUMNS if selection.with_people else _EVENT_COLUMNS_WITHOUT_PEOPLE
        rows = await self._select(
            columns, where, "ORDER BY ts, event_id LIMIT {limit:UInt32}", params
        )
        return [_event_from_row(r) for r in rows]

    async def organisation_days(
        self, selection: EventSelection, *, time_zone: str
    ) -> list[OrganisationDayCount]:
        where, params = where_clause(selection)
        params["tz"] = time_zone
        rows = await self._select(
            "organisation_id, toDate(ts, {tz:String}) AS day, count(), "
            "countIf(kind = 'unlock' AND outcome = 'allow'), "
            "countIf(kind = 'unlock' AND outcome = 'deny')",
            where,
            "GROUP BY organisation_id, day ORDER BY day, organisation_id",
            params,
        )
        return [
            OrganisationDayCount(str(org), _as_date(day), int(n), int(allowed), int(denied))
            for org, day, n, allowed, denied in rows
        ]

    async def busiest_doors(self, selection: EventSelection, *, top: int) -> list[DoorCount]:
        where, params = where_clause(selection)
        params["top"] = top
        rows = await self._select(
            "site_id, door_id, count() AS n",
            where + " AND door_id != ''",
            "GROUP BY site_id, door_id ORDER BY n DESC, site_id, door_id LIMIT {top:UInt32}",
            params,
        )
        return [DoorCount(str(s), str(d), int(n)) for s, d, n in rows]

    async def denial_reasons(self, selection: EventSelection) -> list[ReasonCount]:
        where, params = where_clause(selection)
        rows = await self._select(
            "reason, count() AS n", where, "GROUP BY reason ORDER BY n DESC, reason", params
        )
        return [ReasonCount(str(r), int(n)) for r, n in rows]

    async def _select(
        self, columns: str, where: str, tail: str, params: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        # Only fixed text from this module is joined here (the table name is checked in
        # __init__); every value travels as a bound parameter.
        sql = f"SELECT {columns} FROM {self._table} WHERE {where} {tail}"  # noqa: S608
        return await asyncio.to_thread(self._query, sql, params)

    def _query(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        rows = query_rows(
            self._client,
            sql,
            parameters=params,
            settings=self._settings,
            what="querying the access log",
        )
        return [tuple(r) for r in rows]


class AccessLogNotHere:
    """Implements ``EventLogReader`` for a process that does not hold the access log: with the
    embedded chDB, only the process that ships opens its directory (chDB admits one process),
    so a process with shipping off refuses log reads, saying where to ask instead. Owner log
    requests are still filed here (they live in Redis); only their delivery reads the log."""

    def __init__(self, message: str) -> None:
        self._message = message

    async def events(
        self, selection: EventSelection, *, after: Cursor | None, limit: int
    ) -> list[AccessEvent]:
        raise FailedPrecondition(self._message)

    async def organisation_days(
        self, selection: EventSelection, *, time_zone: str
    ) -> list[OrganisationDayCount]:
        raise FailedPrecondition(self._message)

    async def busiest_doors(self, selection: EventSelection, *, top: int) -> list[DoorCount]:
        raise FailedPrecondition(self._message)

    async def denial_reasons(self, selection: EventSelection) -> list[ReasonCount]:
        raise FailedPrecondition(self._message)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _event_from_row(row: Sequence[Any]) -> AccessEvent:
    (event_id, ts_ms, kind, action, outcome, reason, actor_role, actor_id, organisation_id,
     site_id, door_id, holder_id, grant_id, token_id, relay_id, detail) = row  # fmt: skip
    return AccessEvent(
        event_id=str(event_id),
        ts_ms=int(ts_ms),
        kind=EventKind(kind),
        action=action,
        outcome=outcome,
        reason=reason,
        actor_role=actor_role,
        actor_id=actor_id,
        organisation_id=organisation_id,
        site_id=site_id,
        door_id=door_id,
        holder_id=holder_id,
        grant_id=grant_id,
        token_id=token_id,
        relay_id=relay_id,
        detail=detail,
    )
