"""What the access log knows of one key holder: their events (data export), their last use of a
door (the one-year rule) and how old the retained events are (the retention report).

Reads ClickHouse with bound parameters only. A holder's events are found through the table's
``by_holder`` projection (sorted by holder, time), so an export reads that holder's rows only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from authority.adapters.clickhouse.connect import LogClient, query_rows
from authority.adapters.clickhouse.event_reader import EVENT_COLUMNS, event_from_row
from authority.adapters.clickhouse.schema import EVENTS_TABLE
from authority.domain.errors import FailedPrecondition
from authority.domain.events import AccessEvent
from authority.domain.privacy import ErasureReason, ErasureRecord

EXPORT_CHUNK = 5000
USE_KINDS = ["unlock", "relay"]
"""What counts as using the product: asking to open a door, or a relay reporting an opening."""


class ClickHouseHolderHistory:
    """Implements ``HolderHistory`` on the ``access_events`` table."""

    def __init__(self, client: LogClient, *, table: str = EVENTS_TABLE) -> None:
        self._client = client
        self._table = table

    def _query(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        rows = query_rows(
            self._client, sql, parameters=params, settings={}, what="reading a holder's history"
        )
        return [tuple(r) for r in rows]

    async def holder_events(self, holder_id: str) -> AsyncIterator[list[AccessEvent]]:
        after_ms, after_id = -1, "00000000-0000-0000-0000-000000000000"
        while True:
            sql = (
                f"SELECT {EVENT_COLUMNS} FROM {self._table} "  # noqa: S608 - fixed text only
                "WHERE holder_id = {h:String} AND (toUnixTimestamp64Milli(ts) > {t:Int64} OR "
                "(toUnixTimestamp64Milli(ts) = {t:Int64} AND event_id > {e:UUID})) "
                "ORDER BY ts, event_id LIMIT {n:UInt32}"
            )
            rows = await asyncio.to_thread(
                self._query, sql, {"h": holder_id, "t": after_ms, "e": after_id, "n": EXPORT_CHUNK}
            )
            if not rows:
                return
            events = [event_from_row(r) for r in rows]
            yield events
            if len(rows) < EXPORT_CHUNK:
                return
            after_ms, after_id = events[-1].ts_ms, events[-1].event_id

    async def last_uses(self, since: datetime) -> dict[str, datetime]:
        sql = (
            "SELECT holder_id, max(toUnixTimestamp64Milli(ts)) "  # noqa: S608
            f"FROM {self._table} WHERE ts >= fromUnixTimestamp64Milli({{s:Int64}}, 'UTC') "
            "AND kind IN {k:Array(String)} AND holder_id != '' GROUP BY holder_id"
        )
        rows = await asyncio.to_thread(
            self._query, sql, {"s": int(since.timestamp() * 1000), "k": USE_KINDS}
        )
        return {str(h): datetime.fromtimestamp(int(ms) / 1000, UTC) for h, ms in rows}

    async def last_use(self, holder_id: str) -> datetime | None:
        sql = (
            "SELECT count(), max(toUnixTimestamp64Milli(ts)) "  # noqa: S608
            f"FROM {self._table} WHERE holder_id = {{h:String}} AND kind IN {{k:Array(String)}}"
        )
        rows = await asyncio.to_thread(self._query, sql, {"h": holder_id, "k": USE_KINDS})
        if not rows or not int(rows[0][0]):
            return None
        return datetime.fromtimestamp(int(rows[0][1]) / 1000, UTC)

    async def events_by_age(self, now: datetime) -> dict[str, int]:
        sql = (
            "SELECT multiIf(ts >= n - INTERVAL 12 MONTH, '<12m', "  # noqa: S608
            "ts >= n - INTERVAL 24 MONTH, '12m-24m', ts >= n - INTERVAL 36 MONTH, '24m-36m', "
            "'>=36m') AS age, count() FROM "
            f"(SELECT ts, fromUnixTimestamp64Milli({{n:Int64}}, 'UTC') AS n FROM {self._table}) "
            "GROUP BY age"
        )
        rows = await asyncio.to_thread(self._query, sql, {"n": int(now.timestamp() * 1000)})
        counts = dict.fromkeys(("<12m", "12m-24m", "24m-36m", ">=36m"), 0)
        counts.update({str(a): int(n) for a, n in rows})
        return counts


def logged_erasures(client: LogClient, *, table: str = EVENTS_TABLE) -> list[ErasureRecord]:
    """The erasures the access log records (``person.erase`` events): the ledger's second
    source, for a host whose ledger file is lost or was never shared (synchronous)."""
    rows = query_rows(
        client,
        f"SELECT holder_id, min(toUnixTimestamp64Milli(ts)), any(reason) FROM {table} "  # noqa: S608
        "WHERE action = 'person.erase' AND outcome = 'ok' AND holder_id != '' GROUP BY holder_id",
        parameters={},
        settings={},
        what="reading erasures from the access log",
    )
    return [
        ErasureRecord(
            holder_id=str(h),
            erased_at=datetime.fromtimestamp(int(ms) / 1000, UTC),
            reason=ErasureReason(str(r)),
        )
        for h, ms, r in rows
    ]


class HolderHistoryNotHere:
    """For a process that does not hold the access log (see ``process.roles.holds_access_log``)."""

    def __init__(self, message: str) -> None:
        self._message = message

    async def holder_events(self, holder_id: str) -> AsyncIterator[list[AccessEvent]]:
        raise FailedPrecondition(self._message)
        yield []  # pragma: no cover - makes this an async generator

    async def last_uses(self, since: datetime) -> dict[str, datetime]:
        raise FailedPrecondition(self._message)

    async def last_use(self, holder_id: str) -> datetime | None:
        raise FailedPrecondition(self._message)

    async def events_by_age(self, now: datetime) -> dict[str, int]:
        raise FailedPrecondition(self._message)
