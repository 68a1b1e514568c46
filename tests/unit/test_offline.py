"""Offline opening's domain rules: token lifetime caps, which sites a revocation must reach, and
the ids of relay-result events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from authority.domain.errors import InvalidArgument
from authority.domain.model import Door, Grant, GrantTarget, Purpose, Site
from authority.domain.offline import (
    live_targets,
    offline_token_expiry,
    sites_to_bump,
    window_end,
)
from authority.domain.relay import (
    digest_event_id,
    key_fingerprint,
    validate_ed25519_public_key,
)
from authority.domain.schedule import WeeklyWindow, parse_window

CPH = ZoneInfo("Europe/Copenhagen")
NOW = datetime(2027, 1, 4, 7, 0, tzinfo=UTC)  # Monday 08:00 in Copenhagen
SITE = Site(site_id="site-1", address="A", owner_id="o", offline_allowed=True)
TWELVE_HOURS = 12 * 3600


def grant(
    *,
    valid_until: datetime = NOW + timedelta(days=30),
    windows: tuple[WeeklyWindow, ...] = (),
    target: GrantTarget | None = None,
    revoked_at: datetime | None = None,
) -> Grant:
    return Grant(
        grant_id="gr-1", key_holder_id="kh_1", target=target or GrantTarget(site_id="site-1"),
        organisation_id="org-1", purpose=Purpose.POSTAL, valid_from=NOW - timedelta(days=1),
        valid_until=valid_until, windows=windows, revoked_at=revoked_at,
    )  # fmt: skip


def test_offline_lifetime_is_the_setting_when_nothing_ends_sooner() -> None:
    assert offline_token_expiry(grant(), SITE, NOW, TWELVE_HOURS) == NOW + timedelta(hours=12)


def test_offline_token_never_outlives_its_grant() -> None:
    g = grant(valid_until=NOW + timedelta(hours=2))
    assert offline_token_expiry(g, SITE, NOW, TWELVE_HOURS) == NOW + timedelta(hours=2)


def test_offline_token_ends_with_the_schedule_window_it_was_issued_in() -> None:
    # Mon-Fri 06:00-09:00 Copenhagen; issued Monday 08:00: valid until 09:00 local (08:00 UTC),
    # not 20:00 that evening.
    g = grant(windows=(parse_window("Mon-Fri 06:00-09:00"),))
    assert offline_token_expiry(g, SITE, NOW, TWELVE_HOURS) == datetime(
        2027, 1, 4, 9, 0, tzinfo=CPH
    )
    # Two windows contain now: the later end counts.
    g2 = grant(windows=(parse_window("Mon 06:00-09:00"), parse_window("Mon 07:00-11:00")))
    assert offline_token_expiry(g2, SITE, NOW, TWELVE_HOURS) == datetime(
        2027, 1, 4, 11, 0, tzinfo=CPH
    )


@pytest.mark.parametrize(
    ("local", "window", "end"),
    [
        # a night shift that began this evening ends tomorrow morning
        (datetime(2027, 1, 4, 23, 0), "Mon 22:00-06:00", datetime(2027, 1, 5, 6, 0)),
        # … and one that began yesterday evening ends this morning
        (datetime(2027, 1, 5, 2, 0), "Mon 22:00-06:00", datetime(2027, 1, 5, 6, 0)),
        # a window ending at midnight
        (datetime(2027, 1, 4, 23, 30), "Mon 20:00-00:00", datetime(2027, 1, 5, 0, 0)),
        # across the spring-forward night (02:00 -> 03:00 on 2027-03-28): wall clock 06:00
        (datetime(2027, 3, 28, 1, 30), "Sat 22:00-06:00", datetime(2027, 3, 28, 6, 0)),
    ],
)
def test_window_end_on_the_site_wall_clock(local: datetime, window: str, end: datetime) -> None:
    w = parse_window(window)
    assert window_end(w, local.replace(tzinfo=CPH)) == end.replace(tzinfo=CPH)


def test_window_end_is_none_outside_the_window() -> None:
    assert window_end(parse_window("Tue 06:00-09:00"), NOW.astimezone(CPH)) is None


def test_expiry_crossing_daylight_saving_is_the_wall_clock_end() -> None:
    # Saturday 23:00 CET before the spring-forward; the 22:00-06:00 window ends 06:00 CEST, which
    # is 04:00 UTC: 6 hours of real time, not 7.
    now = datetime(2027, 3, 27, 22, 0, tzinfo=UTC)  # Saturday 23:00 CET
    g = grant(windows=(parse_window("Sat 22:00-06:00"),), valid_until=now + timedelta(days=9))
    assert offline_token_expiry(g, SITE, now, TWELVE_HOURS) == datetime(
        2027, 3, 28, 4, 0, tzinfo=UTC
    )


def test_only_offline_sites_are_bumped_and_doors_reach_their_site() -> None:
    sites = {
        "s-off": Site(site_id="s-off", address="A", owner_id="o", offline_allowed=True),
        "s-on": Site(site_id="s-on", address="B", owner_id="o"),
        "s-off2": Site(site_id="s-off2", address="C", owner_id="o", offline_allowed=True),
    }
    doors = {
        "d-off": Door(door_id="d-off", site_id="s-off", relay_id="r1"),
        "d-on": Door(door_id="d-on", site_id="s-on", relay_id="r2"),
        "d-off2": Door(door_id="d-off2", site_id="s-off2", relay_id="r3"),
    }
    targets = [
        GrantTarget(door_id="d-off"),
        GrantTarget(site_id="s-off"),  # the same site twice: bumped once
        GrantTarget(door_id="d-on"),
        GrantTarget(door_id="d-off2"),
        GrantTarget(door_id="d-gone"),
        GrantTarget(site_id="s-gone"),
    ]
    assert sites_to_bump(targets, doors=doors, sites=sites) == ["s-off", "s-off2"]
    assert sites_to_bump([GrantTarget(site_id="s-on")], doors=doors, sites=sites) == []


def test_live_targets_skip_ended_grants_but_keep_revoked_ones() -> None:
    ended = grant(valid_until=NOW - timedelta(seconds=1), target=GrantTarget(site_id="old"))
    revoked = grant(revoked_at=NOW - timedelta(hours=1), target=GrantTarget(door_id="d"))
    live = grant(target=GrantTarget(site_id="s"))
    assert live_targets([ended, revoked, live], NOW) == [revoked.target, live.target]


def test_relay_result_event_ids_are_deterministic_uuids() -> None:
    a, b = digest_event_id(b"\x01" * 32), digest_event_id(b"\x02" * 32)
    assert a == digest_event_id(b"\x01" * 32)
    assert a != b
    parsed = uuid.UUID(a)
    assert parsed.version == 8
    assert parsed.variant == uuid.RFC_4122
    assert str(parsed) == a  # lowercase canonical, as the log's chain requires


def test_ed25519_public_keys_are_32_bytes() -> None:
    key = bytes(range(32))
    assert validate_ed25519_public_key(key, field_name="relay_public_key") == key
    with pytest.raises(InvalidArgument, match="relay_public_key must be exactly 32 bytes"):
        validate_ed25519_public_key(b"\x00" * 31, field_name="relay_public_key")
    assert len(key_fingerprint(key)) == 16
