"""The access log's read side on ClickHouse: ``ClickHouseEventLog`` implements ``EventLogReader``
(``authority.domain.ports.accesslog_reader``) with bound parameters only (no caller text is ever
formatted into SQL), running the synchronous client in a thread. ``AccessLogNotHere`` stands in
for it in a process that does not hold the log.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from authority.adapters.clickhouse.connect import LogClient, query_rows
from authority.adapters.clickhouse.schema import EVENTS_TABLE
from authority.domain.accesslog import (
    Cursor,
    DoorCount,
    EventSelection,
    OrganisationDayCount,
    ReasonCount,
)
from authority.domain.errors import FailedPrecondition
from authority.domain.events import AccessEvent, EventKind

QUERY_TIMEOUT_SECONDS = 30
"""ClickHouse stops a query after this long (``max_execution_time``)."""

EVENT_COLUMNS = (
    "toString(event_id), toUnixTimestamp64Milli(ts), kind, action, outcome, reason, actor_role, "
    "actor_id, organisation_id, site_id, door_id, holder_id, grant_id, token_id, relay_id, detail"
)
EVENT_COLUMNS_WITHOUT_PEOPLE = (
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
        columns = EVENT_COLUMNS if selection.with_people else EVENT_COLUMNS_WITHOUT_PEOPLE
        rows = await self._select(
            columns, where, "ORDER BY ts, event_id LIMIT {limit:UInt32}", params
        )
        return [event_from_row(r) for r in rows]

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


def event_from_row(row: Sequence[Any]) -> AccessEvent:
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
