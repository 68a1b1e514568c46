"""The ClickHouse schema of the access log: versioned migrations, and the cluster variant.

Sort key (site_id, door_id, ts): the owner query ("one door, one week") reads one narrow range.
Two light projections serve the organisation and holder queries (version 4): each stores only
its sort key and each row's position in the part (``_part_offset``), so ClickHouse finds an
organisation's or a holder's rows through it and reads just those rows of the table; the
organisation one also carries ``kind`` and ``outcome``, so the organisation-day counts are
answered from it alone. Version 1's projections copied every column twice, which cost ~45 % of
the insert time (bench/README.md, "Access-log ingest"). Partitions are months, so TTL expiry
after 36 months drops whole parts.

Migrations are append-only history: version N's statements never change once released.
``migrate(client)`` records each applied version in ``schema_migrations`` and applies the
missing ones in order. Every statement is idempotent (IF NOT EXISTS), so a migration cut short
(a crash between a statement and its record) is simply run again.

``cluster_ddl(cluster)`` renders the same migrations for a ClickHouse cluster: each table as
``<name>_local`` on ReplicatedMergeTree ``ON CLUSTER``, with a Distributed table ``<name>`` over
it; the events sharded by ``cityHash64(site_id)`` (one site's rows on one shard, so the owner
query touches one shard), the checkpoints by the chain shard. See docs/accesslog.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from authority.adapters.clickhouse.connect import query_rows, run_command
from authority.domain.errors import InvalidArgument

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

EVENTS_TABLE = "access_events"
CHECKPOINTS_TABLE = "access_checkpoints"
MIGRATIONS_TABLE = "schema_migrations"
EVENTS_RETENTION_MONTHS = 36
CHECKPOINTS_RETENTION_MONTHS = EVENTS_RETENTION_MONTHS + 1
"""Checkpoints outlive the events they cover by a month: when the oldest events expire, the
audit still finds the checkpoint that covers them and tells expiry from deletion
(``authority.adapters.clickhouse.audit``). They hold no personal data (a hash, a seq, a time, a
signature), and a checkpoint whose events are all gone proves nothing, so keeping them longer
would only grow the table."""
DEDUPLICATION_WINDOW = 10_000
"""Inserts remembered per table for retried-insert deduplication (``insert_deduplication_token``)
: at one batch per shard per second, hours of retries."""

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
"""Version 1's columns (frozen: later versions alter the table)."""

INGEST_COLUMNS = ("ts_ms", "hash_hex")
"""EPHEMERAL input columns (version 2): a row can be inserted as the event's canonical JSON
(which has ``ts_ms``, not ``ts``) plus ``shard``, ``seq`` and ``hash_hex``; ClickHouse derives
``ts`` and ``hash`` from them. The shipper sends JSONEachRow, parsed in C++ by ClickHouse,
rather than encoding every value in Python. Explicit ``ts`` / ``hash`` values still win."""


def events_table_ddl(
    table: str = EVENTS_TABLE,
    engine: str = "MergeTree",
    *,
    on_cluster: str = "",
    dedup_setting: str = "non_replicated_deduplication_window",
) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {table}{on_cluster} (
{EVENTS_COLUMNS},
    PROJECTION by_organisation (SELECT * ORDER BY organisation_id, ts),
    PROJECTION by_holder (SELECT * ORDER BY holder_id, ts)
)
ENGINE = {engine}
PARTITION BY toYYYYMM(ts)
ORDER BY (site_id, door_id, ts)
TTL toDateTime(ts) + INTERVAL {EVENTS_RETENTION_MONTHS} MONTH DELETE
SETTINGS {dedup_setting} = {DEDUPLICATION_WINDOW},
         deduplicate_merge_projection_mode = 'rebuild'
"""


def checkpoints_table_ddl(
    table: str = CHECKPOINTS_TABLE,
    engine: str = "MergeTree",
    *,
    on_cluster: str = "",
    dedup_setting: str = "non_replicated_deduplication_window",
) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {table}{on_cluster} (
    shard     UInt16,
    seq       UInt64,
    hash      FixedString(32),
    ts        DateTime64(3, 'UTC'),
    kid       LowCardinality(String),
    signature FixedString(64)
)
ENGINE = {engine}
PARTITION BY toYYYYMM(ts)
ORDER BY (shard, seq)
TTL toDateTime(ts) + INTERVAL {CHECKPOINTS_RETENTION_MONTHS} MONTH DELETE
SETTINGS {dedup_setting} = {DEDUPLICATION_WINDOW}
"""


# -- where the statements go: one server, or a cluster -----------------------------------------

_CLUSTER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True, slots=True)
class _Target:
    cluster: str | None = None

    @property
    def on_cluster(self) -> str:
        return f" ON CLUSTER '{self.cluster}'" if self.cluster else ""

    def table(self, name: str) -> str:
        """Where rows live: the table itself, or its ``_local`` table on every node."""
        return f"{name}_local" if self.cluster else name

    def tables(self, name: str) -> tuple[str, ...]:
        """Every table with ``name``'s columns (both the local and the Distributed one)."""
        return (f"{name}_local", name) if self.cluster else (name,)

    def engine(self, name: str) -> str:
        if not self.cluster:
            return "MergeTree"
        return f"ReplicatedMergeTree('/clickhouse/tables/{{shard}}/{name}', '{{replica}}')"

    @property
    def dedup_setting(self) -> str:
        if self.cluster:
            return "replicated_deduplication_window"
        return "non_replicated_deduplication_window"

    def distributed(self, name: str, sharding_key: str) -> list[str]:
        if not self.cluster:
            return []
        return [
            f"CREATE TABLE IF NOT EXISTS {name}{self.on_cluster} AS {name}_local\n"
            f"ENGINE = Distributed('{self.cluster}', currentDatabase(), '{name}_local', "
            f"{sharding_key})"
        ]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: Callable[[_Target], list[str]]


def _v1_events(t: _Target) -> list[str]:
    return [
        events_table_ddl(
            t.table(EVENTS_TABLE),
            t.engine(EVENTS_TABLE),
            on_cluster=t.on_cluster,
            dedup_setting=t.dedup_setting,
        ),
        *t.distributed(EVENTS_TABLE, "cityHash64(site_id)"),
    ]


def _v2_ingest_columns(t: _Target) -> list[str]:
    out = []
    for table in t.tables(EVENTS_TABLE):
        out += [
            f"ALTER TABLE {table}{t.on_cluster} ADD COLUMN IF NOT EXISTS ts_ms Int64 EPHEMERAL",
            f"ALTER TABLE {table}{t.on_cluster} "
            "MODIFY COLUMN ts DEFAULT fromUnixTimestamp64Milli(ts_ms, 'UTC')",
            f"ALTER TABLE {table}{t.on_cluster} ADD COLUMN IF NOT EXISTS hash_hex String EPHEMERAL",
            f"ALTER TABLE {table}{t.on_cluster} MODIFY COLUMN hash DEFAULT unhex(hash_hex)",
        ]
    return out


def _v3_checkpoints(t: _Target) -> list[str]:
    return [
        checkpoints_table_ddl(
            t.table(CHECKPOINTS_TABLE),
            t.engine(CHECKPOINTS_TABLE),
            on_cluster=t.on_cluster,
            dedup_setting=t.dedup_setting,
        ),
        *t.distributed(CHECKPOINTS_TABLE, "shard"),
    ]


ORGANISATION_PROJECTION = "by_organisation_offsets"
HOLDER_PROJECTION = "by_holder_offsets"
LIGHT_PROJECTIONS = {
    ORGANISATION_PROJECTION: "SELECT organisation_id, ts, kind, outcome, _part_offset "
    "ORDER BY organisation_id, ts",
    HOLDER_PROJECTION: "SELECT _part_offset ORDER BY holder_id, ts",
}
"""Version 4's projections. ``_part_offset`` makes a projection an index into its part: a
query filtered by organisation or holder finds the matching rows' offsets in it (by its sort
key) and reads only those rows from the table (setting ``optimize_use_projection_filtering``,
on by default in the ClickHouse of chDB 4.4 and in current servers). ``kind`` and ``outcome``
are all the organisation-day aggregate reads besides the key (every query filters on
``kind``), so that aggregate never touches the table."""


def _v4_light_projections(t: _Target) -> list[str]:
    # New names, added and materialised before the old ones are dropped: every statement is
    # idempotent, and queries have a projection to use at every step of the way.
    table = t.table(EVENTS_TABLE)  # projections live in the MergeTree table, not Distributed
    out = [
        f"ALTER TABLE {table}{t.on_cluster} ADD PROJECTION IF NOT EXISTS {name} ({query})"
        for name, query in LIGHT_PROJECTIONS.items()
    ]
    out += [
        f"ALTER TABLE {table}{t.on_cluster} MATERIALIZE PROJECTION {name}"
        for name in LIGHT_PROJECTIONS
    ]
    out += [
        f"ALTER TABLE {table}{t.on_cluster} DROP PROJECTION IF EXISTS {name}"
        for name in ("by_organisation", "by_holder")
    ]
    return out


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "access_events", _v1_events),
    Migration(2, "access_events ingest columns (ts_ms, hash_hex)", _v2_ingest_columns),
    Migration(3, "access_checkpoints", _v3_checkpoints),
    Migration(4, "access_events light projections (offsets)", _v4_light_projections),
)
LATEST_VERSION = MIGRATIONS[-1].version


def _migrations_table_ddl(t: _Target) -> str:
    # On a cluster every node holds the same history: one replication path for all shards.
    engine = (
        f"ReplicatedReplacingMergeTree('/clickhouse/tables/all/{MIGRATIONS_TABLE}', '{{replica}}')"
        if t.cluster
        else "ReplacingMergeTree"
    )
    return f"""
CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE}{t.on_cluster} (
    version    UInt32,
    name       String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = {engine}
ORDER BY version
"""


def applied_versions(client: Client) -> set[int]:
    sql = f"SELECT DISTINCT version FROM {MIGRATIONS_TABLE}"  # noqa: S608 - a fixed name
    rows = query_rows(client, sql, what="reading migrations")
    return {int(v) for (v,) in rows}


def migrate(client: Client) -> list[int]:
    """Apply the migrations the database has not seen, in order; return their versions.
    Idempotent; safe to run from several processes at once (the statements are)."""
    single = _Target()
    run_command(client, _migrations_table_ddl(single), what="creating schema_migrations")
    done = applied_versions(client)
    applied: list[int] = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        for statement in migration.statements(single):
            run_command(client, statement, what=f"migration {migration.version}")
        run_command(
            client,
            f"INSERT INTO {MIGRATIONS_TABLE} (version, name) "  # noqa: S608 - a fixed name
            "VALUES ({version:UInt32}, {name:String})",
            parameters={"version": migration.version, "name": migration.name},
            what=f"recording migration {migration.version}",
        )
        applied.append(migration.version)
    return applied


def apply_schema(client: Client) -> None:
    """Bring the schema up to date (idempotent). Kept for callers of the first version."""
    migrate(client)


def cluster_ddl(cluster: str) -> list[str]:
    """Every statement that creates the current schema on ``cluster`` (as named in the servers'
    ``remote_servers``; each node needs the ``{shard}`` and ``{replica}`` macros), in order,
    ending with the migration records, so ``migrate`` finds nothing left to do."""
    if not _CLUSTER_NAME.fullmatch(cluster):
        raise InvalidArgument("a cluster name is letters, digits, '_', '.' and '-'")
    target = _Target(cluster)
    out = [_migrations_table_ddl(target)]
    for migration in MIGRATIONS:
        out += migration.statements(target)
    values = ", ".join(f"({m.version}, '{m.name}')" for m in MIGRATIONS)
    # Our own constants only (versions and names above); nothing from outside reaches the SQL.
    out.append(f"INSERT INTO {MIGRATIONS_TABLE} (version, name) VALUES {values}")  # noqa: S608
    return out
