"""Migrations (versioned, idempotent), the cluster DDL, and TTL expiry, on chDB."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from authority.adapters.clickhouse.chain import GENESIS, AuditKey, extend
from authority.adapters.clickhouse.schema import (
    LATEST_VERSION,
    LIGHT_PROJECTIONS,
    MIGRATIONS,
    _Target,
    apply_schema,
    cluster_ddl,
    events_table_ddl,
    migrate,
)
from authority.adapters.clickhouse.shipper import ClickHouseSink
from authority.domain.errors import InvalidArgument

from .workload import make_event

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client


@pytest.fixture
def empty(opener: Callable[[], Client], database: str) -> Iterator[Client]:
    """A database with nothing in it yet."""
    client = opener()
    yield client
    client.command(f"DROP DATABASE IF EXISTS {database}")
    client.close()


def tables(client: Client) -> set[str]:
    rows = client.query("SELECT name FROM system.tables WHERE database = currentDatabase()")
    return {r[0] for r in rows.result_rows}


def versions(client: Client) -> list[int]:
    rows = client.query("SELECT version FROM schema_migrations ORDER BY version").result_rows
    return [r[0] for r in rows]


def columns(client: Client, table: str) -> dict[str, tuple[str, str]]:
    rows = client.query(
        "SELECT name, type, default_kind FROM system.columns "
        "WHERE database = currentDatabase() AND table = {t:String}",
        parameters={"t": table},
    ).result_rows
    return {name: (kind, default) for name, kind, default in rows}


def projections(client: Client) -> set[str]:
    rows = client.query(
        "SELECT name FROM system.projections "
        "WHERE database = currentDatabase() AND table = 'access_events'"
    ).result_rows
    return {r[0] for r in rows}


def test_migrate_applies_every_version_once_and_then_nothing(empty: Client) -> None:
    assert migrate(empty) == [m.version for m in MIGRATIONS] == [1, 2, 3, 4]
    assert tables(empty) == {"access_events", "access_checkpoints", "schema_migrations"}
    assert versions(empty) == [1, 2, 3, 4]
    assert migrate(empty) == []
    apply_schema(empty)
    assert versions(empty) == [1, 2, 3, 4]  # no version recorded twice
    cols = columns(empty, "access_events")
    assert cols["ts_ms"] == ("Int64", "EPHEMERAL")
    assert cols["hash_hex"] == ("String", "EPHEMERAL")
    assert cols["ts"][1] == cols["hash"][1] == "DEFAULT"
    assert LATEST_VERSION == 4
    assert projections(empty) == set(LIGHT_PROJECTIONS)


def test_a_migration_cut_short_is_completed_on_the_next_run(empty: Client) -> None:
    """A crash after some statements ran but before the version was recorded."""
    empty.command(
        "CREATE TABLE schema_migrations (version UInt32, name String, "
        "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree "
        "ORDER BY version"
    )
    empty.command(events_table_ddl())
    empty.command("INSERT INTO schema_migrations (version, name) VALUES (1, 'access_events')")
    empty.command("ALTER TABLE access_events ADD COLUMN ts_ms Int64 EPHEMERAL")  # half of v2
    assert migrate(empty) == [2, 3, 4]
    assert columns(empty, "access_events")["hash_hex"] == ("String", "EPHEMERAL")


def test_a_version_1_table_with_rows_is_upgraded_in_place(
    empty: Client, make_sink: Callable[..., ClickHouseSink]
) -> None:
    empty.command(events_table_ddl())  # what the first apply_schema created
    old = make_event()
    empty.insert(
        "access_events",
        [[uuid.UUID(old.event_id), old.ts_ms, "unlock", "unlock", "allow", 0, 1, b"\0" * 32]],
        column_names=["event_id", "ts", "kind", "action", "outcome", "shard", "seq", "hash"],
    )
    apply_schema(empty)
    # Both ways in work afterwards: explicit ts/hash, and the shipper's canonical JSON.
    new = make_event()
    (head,) = extend(GENESIS, [new.canonical_bytes()])
    body = new.canonical_bytes()[:-1] + b',"shard":1,"seq":1,"hash_hex":"%s"}\n' % (
        head.hash.hex().encode()
    )
    make_sink().insert_events(body, dedup_token="t")
    rows = empty.query(
        "SELECT toString(event_id), toUnixTimestamp64Milli(ts), hash FROM access_events "
        "ORDER BY shard"
    ).result_rows
    assert rows == [(old.event_id, old.ts_ms, b"\0" * 32), (new.event_id, new.ts_ms, head.hash)]


def test_version_4_replaces_the_full_projections_of_a_table_with_rows(
    empty: Client, make_sink: Callable[..., ClickHouseSink]
) -> None:
    """A version-3 table (projections copying every column) with rows: afterwards only the
    light projections exist, they cover the old rows, and organisation and holder queries are
    answered through them with the same results."""
    for migration in MIGRATIONS[:3]:
        for statement in migration.statements(_Target()):
            empty.command(statement)
    assert projections(empty) == {"by_organisation", "by_holder"}
    events = [
        make_event(organisation_id=f"org_{i % 3}", holder_id=f"kh_{i % 5}") for i in range(30)
    ]
    heads = extend(GENESIS, [e.canonical_bytes() for e in events])
    body = b"".join(
        e.canonical_bytes()[:-1]
        + b',"shard":0,"seq":%d,"hash_hex":"%s"}\n' % (h.seq, h.hash.hex().encode())
        for e, h in zip(events, heads, strict=True)
    )
    make_sink().insert_events(body, dedup_token="v3")
    empty.command(
        "CREATE TABLE schema_migrations (version UInt32, name String, "
        "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree "
        "ORDER BY version"
    )
    empty.command(
        "INSERT INTO schema_migrations (version, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')"
    )

    assert migrate(empty) == [4]
    assert projections(empty) == set(LIGHT_PROJECTIONS)
    wait_for_mutations(empty)
    # Both projections were built for the rows that were there before the upgrade ...
    for name in LIGHT_PROJECTIONS:
        built = empty.query(
            "SELECT sum(rows) FROM system.projection_parts WHERE database = currentDatabase() "
            "AND table = 'access_events' AND name = {name:String} AND active",
            parameters={"name": name},
        ).result_rows
        assert built == [(30,)]
    # ... and queries filtered by their keys find what a scan without projections finds.
    for column, value in (("organisation_id", "org_2"), ("holder_id", "kh_4")):
        sql = f"SELECT toString(event_id) FROM access_events WHERE {column} = '{value}'"
        with_projections = empty.query(sql).result_rows
        without = empty.query(sql, settings={"optimize_use_projections": 0}).result_rows
        expected = {e.event_id for e in events if getattr(e, column) == value}
        assert len(with_projections) == len(expected)
        assert {r[0] for r in with_projections} == {r[0] for r in without} == expected


def wait_for_mutations(client: Client) -> None:
    """MATERIALIZE PROJECTION runs in the background; wait (bounded) until it is done."""
    for _ in range(200):
        ((pending,),) = client.query(
            "SELECT count() FROM system.mutations WHERE database = currentDatabase() "
            "AND NOT is_done"
        ).result_rows
        if pending == 0:
            return
        time.sleep(0.05)
    raise AssertionError("mutations still pending after 10 s")


def test_cluster_ddl_is_valid_sql_with_replicated_and_distributed_tables(
    clickhouse: Client,
) -> None:
    statements = cluster_ddl("authority")
    for sql in statements:  # ClickHouse's own parser accepts every statement
        clickhouse.query("SELECT formatQuery({q:String})", parameters={"q": sql})
    ddl = [s for s in statements if not s.startswith("INSERT")]
    assert all(" ON CLUSTER 'authority'" in s for s in ddl)
    text = "\n".join(statements)
    assert "ReplicatedMergeTree('/clickhouse/tables/{shard}/access_events', '{replica}')" in text
    assert (
        "ReplicatedMergeTree('/clickhouse/tables/{shard}/access_checkpoints', '{replica}')" in text
    )
    assert (
        "ENGINE = Distributed('authority', currentDatabase(), 'access_events_local', "
        "cityHash64(site_id))" in text
    )
    assert "Distributed('authority', currentDatabase(), 'access_checkpoints_local', shard)" in text
    assert "ALTER TABLE access_events ON CLUSTER" in text  # the Distributed table too
    assert "ALTER TABLE access_events_local ON CLUSTER" in text
    assert "replicated_deduplication_window = 10000" in text
    assert statements[-1] == (
        "INSERT INTO schema_migrations (version, name) VALUES "
        + ", ".join(f"({m.version}, '{m.name}')" for m in MIGRATIONS)
    )
    with pytest.raises(InvalidArgument):
        cluster_ddl("x'; DROP TABLE access_events; --")


def test_events_expire_after_36_months_and_checkpoints_a_month_later(
    clickhouse: Client, make_sink: Callable[..., ClickHouseSink], audit_key: AuditKey
) -> None:
    ((expired, kept, cp_expired, cp_kept),) = clickhouse.query(
        "SELECT toUnixTimestamp64Milli(now64(3) - INTERVAL 36 MONTH - INTERVAL 2 DAY), "
        "toUnixTimestamp64Milli(now64(3) - INTERVAL 36 MONTH + INTERVAL 2 DAY), "
        "toUnixTimestamp64Milli(now64(3) - INTERVAL 37 MONTH - INTERVAL 2 DAY), "
        "toUnixTimestamp64Milli(now64(3) - INTERVAL 37 MONTH + INTERVAL 2 DAY)"
    ).result_rows
    old, young = make_event(expired), make_event(kept)
    heads = extend(GENESIS, [old.canonical_bytes(), young.canonical_bytes()])
    body = b"".join(
        e.canonical_bytes()[:-1]
        + b',"shard":0,"seq":%d,"hash_hex":"%s"}\n' % (h.seq, h.hash.hex().encode())
        for e, h in zip((old, young), heads, strict=True)
    )
    sink = make_sink()
    for table in ("access_events", "access_checkpoints"):  # no TTL merge before we looked
        clickhouse.command(f"SYSTEM STOP TTL MERGES {table}")
    sink.insert_events(body, dedup_token="ttl")
    for ts in (cp_expired, cp_kept):
        sink.insert_checkpoint(audit_key.sign(0, heads[0], ts))
    assert clickhouse.query("SELECT count() FROM access_events").result_rows == [(2,)]
    assert clickhouse.query("SELECT count() FROM access_checkpoints").result_rows == [(2,)]

    for table in ("access_events", "access_checkpoints"):
        clickhouse.command(f"SYSTEM START TTL MERGES {table}")
        clickhouse.command(f"OPTIMIZE TABLE {table} FINAL")

    ids = clickhouse.query("SELECT toString(event_id) FROM access_events").result_rows
    assert ids == [(young.event_id,)]
    cps = clickhouse.query("SELECT toUnixTimestamp64Milli(ts) FROM access_checkpoints").result_rows
    assert cps == [(cp_kept,)]
