"""The access log's read rules with no engine: cursors bound to their selection, and the SQL
reader's WHERE clause carrying no caller text (moved from the integration suite: both are pure)."""

from __future__ import annotations

import pytest

from authority.adapters.clickhouse.event_reader import where_clause
from authority.domain.accesslog import Cursor, EventSelection
from authority.domain.errors import InvalidArgument
from authority.domain.events import EventKind


def test_cursor_round_trip_and_tamper() -> None:
    sel = EventSelection(start_ms=0, end_ms=1, kinds=frozenset(EventKind))
    c = Cursor(123, "0190a3c8-0000-7000-8000-000000000000")
    assert Cursor.decode(c.encode(sel), sel) == c
    with pytest.raises(InvalidArgument):
        Cursor.decode(Cursor(1, "'; DROP TABLE x; --").encode(sel), sel)


# -- the SQL carries no caller text ----------------------------------------------------------


def test_where_clause_binds_every_value() -> None:
    hostile = "x' OR 1=1 --"
    sel = EventSelection(
        start_ms=1, end_ms=2, kinds=frozenset({EventKind.UNLOCK}), organisation_id=hostile,
        site_ids=frozenset({hostile, "b"}), door_id=hostile, holder_id=hostile,
        outcome=hostile, reason=hostile,
    )  # fmt: skip
    sql, params = where_clause(sel)
    assert hostile not in sql
    assert "'x" not in sql
    assert params["organisation_id"] == params["door_id"] == params["reason"] == hostile
    assert params["site_ids"] == sorted([hostile, "b"])


# -- denial reasons count refused unlocks only -----------------------------------------------


def test_refused_unlocks_narrow_to_denied_unlocks() -> None:
    sel = EventSelection(start_ms=0, end_ms=1, kinds=frozenset(EventKind))
    refused = sel.refused_unlocks()
    assert refused.kinds == {EventKind.UNLOCK}
    assert refused.outcome == "deny"
    assert not refused.matches_nothing
    owner = EventSelection(start_ms=0, end_ms=1, kinds=frozenset({EventKind.RELAY}))
    assert owner.refused_unlocks().matches_nothing


def test_refused_unlocks_of_another_outcome_match_nothing() -> None:
    allowed = EventSelection(start_ms=0, end_ms=1, kinds=frozenset(EventKind), outcome="allow")
    assert allowed.refused_unlocks().matches_nothing
    denied = EventSelection(start_ms=0, end_ms=1, kinds=frozenset(EventKind), outcome="deny")
    assert denied.refused_unlocks().kinds == {EventKind.UNLOCK}
