"""The log socket's pure parts: values survive the CBOR round trip with their Python types, only
read-only statements pass, and the setting is validated."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from authority.domain.errors import InvalidArgument, PermissionDenied
from authority.process.config import Settings
from authority.process.log_socket import (
    BLOCK_ROWS,
    decode_block,
    decode_map,
    encode_blocks,
    encode_map,
    require_read_only,
)

ROW: tuple[Any, ...] = (
    "ev", 2**64 - 1, -3, 1.5, None, True, b"\x00\xff",
    uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057"),
    date(2027, 3, 1),
    datetime(2027, 3, 1, 12, 0, 0, 123000),  # naive, as chDB returns DateTime64(3, 'UTC')
    datetime(2027, 3, 1, 12, 0, tzinfo=UTC),
    Decimal("12.50"),
    ["a", "b"], [[1, 2], []], ("t", 1), {"k": [1]},
)  # fmt: skip


def test_rows_keep_their_python_types() -> None:
    (block,) = encode_blocks([ROW])
    (row,) = decode_block(block)
    assert row == ROW
    assert [type(v) for v in row] == [type(v) for v in ROW]
    assert row[9].tzinfo is None
    assert row[10].utcoffset() is not None


def test_rows_travel_in_blocks_in_order() -> None:
    rows = [(i, str(i)) for i in range(2 * BLOCK_ROWS + 1)]
    blocks = encode_blocks(rows)
    assert len(blocks) == 3
    assert [r for b in blocks for r in decode_block(b)] == rows
    assert encode_blocks([]) == []


def test_parameters_round_trip_and_garbage_is_invalid() -> None:
    params = {"h": "kh_1", "t": -1, "k": ["unlock", "relay"], "at": datetime(2027, 1, 1)}
    assert decode_map(encode_map(params), "parameters") == params
    assert decode_map(encode_map({}), "parameters") == {}
    with pytest.raises(InvalidArgument, match="parameters are not CBOR"):
        decode_map(b"\xa2\x61k", "parameters")  # a map cut short
    with pytest.raises(InvalidArgument, match="CBOR map"):
        decode_map(b"\x83\x01\x02\x03", "settings")  # [1, 2, 3]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "  select count() FROM access_events WHERE kind = {k:String}",
        "WITH 1 AS x SELECT x",
        "-- a comment\nSELECT 1",
        "/* INSERT */ SELECT 'INTO OUTFILE; DROP TABLE x'",
        'SELECT 1 AS "INTO OUTFILE"',
        "SELECT 1;",
    ],
)
def test_reads_pass(sql: str) -> None:
    require_read_only(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "",
        "INSERT INTO access_events VALUES (1)",
        "INSERT INTO FUNCTION file('/tmp/x', 'CSV') SELECT 1",
        "DROP TABLE access_events",
        "ALTER TABLE access_events DELETE WHERE 1",
        "SYSTEM SHUTDOWN",
        "SET readonly = 0",
        "-- SELECT\nDROP TABLE t",
        "/* SELECT */ DROP TABLE t",
        "SELECT 1 INTO OUTFILE '/tmp/x'",
        "SELECT 1 into\n  outfile '/tmp/x'",
        "SELECT 1; DROP TABLE t",
        "SELECT 'a'; SELECT 2",
    ],
)
def test_anything_else_is_refused(sql: str) -> None:
    with pytest.raises(PermissionDenied, match="read-only statement"):
        require_read_only(sql)


def test_the_log_socket_setting() -> None:
    assert Settings.load({}).log_socket_path is None
    relative = Settings.load({"AUTHORITY_LOG_SOCKET": "log.sock", "AUTHORITY_DATA_DIR": "/d"})
    assert relative.log_socket_path == Path("/d/log.sock")
    absolute = Settings.load({"AUTHORITY_LOG_SOCKET": "/run/a/log.sock"})
    assert absolute.log_socket_path == Path("/run/a/log.sock")
    with pytest.raises(InvalidArgument, match="CLICKHOUSE_URL"):
        Settings.load({"AUTHORITY_LOG_SOCKET": "log.sock", "CLICKHOUSE_URL": "https://ch:8443"})
    with pytest.raises(InvalidArgument, match="longer than a unix socket path"):
        Settings.load({"AUTHORITY_LOG_SOCKET": "/" + "x" * 120})
