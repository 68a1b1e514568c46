"""The ClickHouse schema of the access log (single server). Versioned migrations and the cluster
variant (ReplicatedMergeTree + Distributed) build on ``EVENTS_COLUMNS``.

Sort key (site_id, door_id, ts): the owner query ("one door, one week") reads one narrow range.
Projections re-sort the same rows by organisation and by holder for those queries. Partitions
are months, so TTL expiry after 36 months drops whole parts.
"""

from __future__ import annotations

from typing import Any

EVENTS_TABLE = "access_events"

EVENTS_COLUMNS = """
    event_id        UUID,
    ts              DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    kind            LowCardinality(String),
    action          LowCardinality(String),
    outcome         LowCardinality(String),
    reason          LowCardinality(String),
    actor_role      LowCardinality(String),
    actor_id        String CODEC(ZSTD(1)),
    organisation_id LowCardinality(String),
    site_id         String CODEC(ZSTD(1)),
    door_id         String CODEC(ZSTD(1)),
    holder_id       String CODEC(ZSTD(1)),
    grant_id        String CODEC(ZSTD(1)),
    token_id        String CODEC(ZSTD(1)),
    relay_id        String CODEC(ZSTD(1)),
    detail          String CODEC(ZSTD(3)),
    shard           UInt16,
    seq             UInt64 CODEC(Delta, ZSTD(1)),
    hash            FixedString(32)
"""


def events_table_ddl(table: str = EVENTS_TABLE, engine: str = "MergeTree") -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {table} (
{EVENTS_COLUMNS},
    PROJECTION by_organisation (SELECT * ORDER BY organisation_id, ts),
    PROJECTION by_holder (SELECT * ORDER BY holder_id, ts)
)
ENGINE = {engine}
PARTITION BY toYYYYMM(ts)
ORDER BY (site_id, door_id, ts)
TTL toDateTime(ts) + INTERVAL 36 MONTH DELETE
SETTINGS non_replicated_deduplication_window = 10000,
         deduplicate_merge_projection_mode = 'rebuild'
"""


def apply_schema(client: Any) -> None:
    """Create the events table if it does not exist (idempotent)."""
    client.command(events_table_ddl())
