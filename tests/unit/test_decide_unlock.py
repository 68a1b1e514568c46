"""``decide_unlock``: one test per reason, precedence between denying grants, and schedules read
on the site's wall clock across daylight-saving transitions (Europe/Copenhagen)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authority.domain.decision import _CLOSENESS, DecisionReason, decide_unlock
from authority.domain.model import (
    Door,
    Grant,
    GrantTarget,
    HolderStatus,
    Organisation,
    OrganisationStatus,
    Purpose,
    Site,
)
from authority.domain.policy import BUILT_IN_POLICY
from authority.domain.schedule import WeeklyWindow, parse_window

NOW = datetime(2027, 1, 4, 7, 0, tzinfo=UTC)  # a Monday, 08:00 in Copenhagen
SITE = Site(site_id="site-1", address="Vesterbrogade 1, 1620 København V", owner_id="owner-1")
DOOR = Door(door_id="door-1", site_id="site-1", relay_id="relay-0001")
OTHER_DOOR_SAME_SITE = Door(door_id="door-2", site_id="site-1", relay_id="relay-0002")

APPROVED, PENDING, REJECTED, SUSPENDED, BLOCKED = (
    "org-approved",
    "org-pending",
    "org-rejected",
    "org-suspended",
    "org-blocked",
)


def _org(org_id: str, status: OrganisationStatus) -> Organisation:
    return Organisation(
        organisation_id=org_id,
        name=org_id,
        cvr="25680839",
        se=None,
        public_body=False,
        purpose=Purpose.POSTAL,
        status=status,
        status_reason="",
        created_at=NOW - timedelta(days=100),
    )


ORGS = {
    APPROVED: _org(APPROVED, OrganisationStatus.APPROVED),
    PENDING: _org(PENDING, OrganisationStatus.PENDING),
    REJECTED: _org(REJECTED, OrganisationStatus.REJECTED),
    SUSPENDED: _org(SUSPENDED, OrganisationStatus.SUSPENDED),
    BLOCKED: _org(BLOCKED, OrganisationStatus.APPROVED),
}
BLOCKING_SITE = replace(SITE, blocked_organisations=frozenset({BLOCKED}))


def grant(
    grant_id: str = "gr-1",
    *,
    door_id: str | None = "door-1",
    site_id: str | None = None,
    organisation_id: str = APPROVED,
    valid_from: datetime = NOW - timedelta(days=1),
    valid_until: datetime = NOW + timedelta(days=1),
    windows: tuple[WeeklyWindow, ...] = (),
    revoked_at: datetime | None = None,
) -> Grant:
    return Grant(
        grant_id=grant_id,
        key_holder_id="kh_abcdefghijkmnp",
        target=GrantTarget(door_id=door_id) if site_id is None else GrantTarget(site_id=site_id),
        organisation_id=organisation_id,
        purpose=Purpose.POSTAL,
        valid_from=valid_from,
        valid_until=valid_until,
        windows=windows,
        revoked_at=revoked_at,
    )


def decide(
    grants: list[Grant],
    *,
    now: datetime = NOW,
    site: Site | None = BLOCKING_SITE,
    door: Door | None = DOOR,
    holder_status: HolderStatus = HolderStatus.ACTIVE,
    offline: bool = False,
) -> tuple[DecisionReason, str | None]:
    decision = decide_unlock(
        door=door,
        site=site,
        holder_status=holder_status,
        grants=grants,
        organisations=ORGS,
        now=now,
        offline=offline,
        policy=BUILT_IN_POLICY,
    )
    assert decision.allowed == (decision.reason is DecisionReason.GRANTED)
    return decision.reason, decision.grant.grant_id if decision.grant else None


# A grant for DOOR that, taken alone, is refused with exactly the given reason at NOW.
_MONDAY_LATE = WeeklyWindow(frozenset({1}), 20 * 60, 21 * 60)
_DENYING: dict[DecisionReason, dict[str, object]] = {
    DecisionReason.REVOKED: {"revoked_at": NOW - timedelta(minutes=1)},
    DecisionReason.ORGANISATION_NOT_APPROVED: {"organisation_id": PENDING},
    DecisionReason.ORGANISATION_SUSPENDED: {"organisation_id": SUSPENDED},
    DecisionReason.ORGANISATION_BLOCKED_BY_SITE_OWNER: {"organisation_id": BLOCKED},
    DecisionReason.EXPIRED: {"valid_until": NOW},
    DecisionReason.NOT_YET_VALID: {"valid_from": NOW + timedelta(seconds=1)},
    DecisionReason.OUTSIDE_SCHEDULE: {"windows": (_MONDAY_LATE,)},
    # Wider than the built-in postal rule (366 days): issued under an older, looser policy.
    DecisionReason.OUTSIDE_POLICY: {"valid_until": NOW + timedelta(days=400)},
}


def denying(reason: DecisionReason, grant_id: str) -> Grant:
    return grant(grant_id, **_DENYING[reason])  # type: ignore[arg-type]


# -- one test per reason -------------------------------------------------------------------------


def test_granted_by_door_grant() -> None:
    g = grant("gr-door")
    assert decide([g]) == (DecisionReason.GRANTED, "gr-door")


def test_granted_by_site_wide_grant() -> None:
    g = grant("gr-site", door_id=None, site_id="site-1")
    assert decide([g]) == (DecisionReason.GRANTED, "gr-site")
    assert decide([g], door=OTHER_DOOR_SAME_SITE) == (DecisionReason.GRANTED, "gr-site")


def test_site_wide_and_door_grants_are_weighed_together() -> None:
    door_revoked = grant("gr-door", revoked_at=NOW - timedelta(hours=1))
    site_ok = grant("gr-site", door_id=None, site_id="site-1")
    site_later = grant("gr-site", door_id=None, site_id="site-1", windows=(_MONDAY_LATE,))
    assert decide([door_revoked, site_ok]) == (DecisionReason.GRANTED, "gr-site")
    assert decide([door_revoked, site_later]) == (DecisionReason.OUTSIDE_SCHEDULE, "gr-site")
    assert decide([site_later, grant("gr-door")]) == (DecisionReason.GRANTED, "gr-door")


def test_no_grant_when_holder_has_none() -> None:
    assert decide([]) == (DecisionReason.NO_GRANT, None)


def test_grants_for_other_doors_and_sites_are_ignored() -> None:
    others = [
        grant("gr-other-door", door_id="door-2"),
        grant("gr-other-site", door_id=None, site_id="site-2"),
        # would be the "closest" refusal if it counted
        grant("gr-other-door-sched", door_id="door-2", windows=(_MONDAY_LATE,)),
    ]
    assert decide(others) == (DecisionReason.NO_GRANT, None)
    # ... and the door grant for door-2 opens door-2 only.
    assert decide(others, door=OTHER_DOOR_SAME_SITE) == (DecisionReason.GRANTED, "gr-other-door")


def test_not_yet_valid() -> None:
    g = grant(valid_from=NOW + timedelta(seconds=1))
    assert decide([g]) == (DecisionReason.NOT_YET_VALID, "gr-1")
    assert decide([g], now=NOW + timedelta(seconds=1))[0] is DecisionReason.GRANTED


def test_expired_at_valid_until_exclusive() -> None:
    g = grant(valid_until=NOW)
    assert decide([g]) == (DecisionReason.EXPIRED, "gr-1")
    assert decide([g], now=NOW - timedelta(microseconds=1))[0] is DecisionReason.GRANTED


def test_outside_schedule() -> None:
    g = grant(windows=(_MONDAY_LATE,))
    assert decide([g]) == (DecisionReason.OUTSIDE_SCHEDULE, "gr-1")
    # 20:30 Copenhagen (CET) = 19:30 UTC on the same Monday
    assert decide([g], now=NOW.replace(hour=19, minute=30))[0] is DecisionReason.GRANTED


def test_any_window_of_a_grant_suffices() -> None:
    g = grant(windows=(_MONDAY_LATE, parse_window("Mon 08:00-08:01")))
    assert decide([g])[0] is DecisionReason.GRANTED


def test_revoked() -> None:
    g = grant(revoked_at=NOW - timedelta(seconds=1))
    assert decide([g]) == (DecisionReason.REVOKED, "gr-1")
    assert decide([grant(revoked_at=NOW)])[0] is DecisionReason.REVOKED


def test_revocation_in_the_future_does_not_revoke_yet() -> None:
    g = grant(revoked_at=NOW + timedelta(microseconds=1))
    assert decide([g]) == (DecisionReason.GRANTED, "gr-1")
    assert decide([g], now=NOW + timedelta(microseconds=1))[0] is DecisionReason.REVOKED


@pytest.mark.parametrize("org_id", [PENDING, REJECTED, "org-that-does-not-exist"])
def test_organisation_not_approved(org_id: str) -> None:
    assert decide([grant(organisation_id=org_id)]) == (
        DecisionReason.ORGANISATION_NOT_APPROVED,
        "gr-1",
    )


def test_organisation_suspended() -> None:
    assert decide([grant(organisation_id=SUSPENDED)]) == (
        DecisionReason.ORGANISATION_SUSPENDED,
        "gr-1",
    )


def test_organisation_blocked_by_site_owner() -> None:
    g = grant(organisation_id=BLOCKED)
    assert decide([g]) == (DecisionReason.ORGANISATION_BLOCKED_BY_SITE_OWNER, "gr-1")
    # The block is the site owner's: the same grant opens a door of a site that does not block.
    assert decide([g], site=SITE)[0] is DecisionReason.GRANTED


def test_site_wide_grant_blocked_by_site_owner() -> None:
    g = grant(door_id=None, site_id="site-1", organisation_id=BLOCKED)
    assert decide([g])[0] is DecisionReason.ORGANISATION_BLOCKED_BY_SITE_OWNER


@pytest.mark.parametrize(("door", "site"), [(None, SITE), (DOOR, None), (None, None)])
def test_door_unknown(door: Door | None, site: Site | None) -> None:
    reason = decide([grant()], door=door, site=site, holder_status=HolderStatus.SUSPENDED)
    assert reason == (DecisionReason.DOOR_UNKNOWN, None)


def test_holder_suspended_overrides_an_allowing_grant() -> None:
    g = grant()
    assert decide([g], holder_status=HolderStatus.SUSPENDED) == (
        DecisionReason.HOLDER_SUSPENDED,
        None,
    )


def test_restricted_processing_overrides_an_allowing_grant_with_its_own_reason() -> None:
    assert decide([grant()], holder_status=HolderStatus.RESTRICTED) == (
        DecisionReason.HOLDER_RESTRICTED,
        None,
    )


def test_offline_only_where_the_site_owner_allows_it() -> None:
    online_only, offline_site = SITE, replace(SITE, offline_allowed=True)
    g = grant()
    assert decide([g], site=online_only, offline=True) == (
        DecisionReason.OFFLINE_NOT_ALLOWED,
        "gr-1",
    )
    assert decide([g], site=online_only) == (DecisionReason.GRANTED, "gr-1")
    assert decide([g], site=offline_site, offline=True) == (DecisionReason.GRANTED, "gr-1")


@pytest.mark.parametrize("reason", list(_DENYING))
def test_offline_refusals_for_other_reasons_keep_their_reason(reason: DecisionReason) -> None:
    # The holder learns what they need to know: the grant's own refusal, not the site's rule.
    assert decide([denying(reason, "g")], site=BLOCKING_SITE, offline=True) == (reason, "g")
    assert decide([grant()], site=SITE, holder_status=HolderStatus.SUSPENDED, offline=True) == (
        DecisionReason.HOLDER_SUSPENDED,
        None,
    )


def test_every_reason_is_covered_by_these_tests() -> None:
    covered = {
        DecisionReason.GRANTED,
        DecisionReason.NO_GRANT,
        DecisionReason.DOOR_UNKNOWN,
        DecisionReason.HOLDER_SUSPENDED,
        DecisionReason.HOLDER_RESTRICTED,
        DecisionReason.OFFLINE_NOT_ALLOWED,
        *_DENYING,
    }
    assert covered == set(DecisionReason)
    assert set(_CLOSENESS) == set(DecisionReason) - {
        DecisionReason.GRANTED,
        DecisionReason.DOOR_UNKNOWN,
        DecisionReason.HOLDER_SUSPENDED,
        DecisionReason.HOLDER_RESTRICTED,
        DecisionReason.OFFLINE_NOT_ALLOWED,
    }


@pytest.mark.parametrize("reason", list(_DENYING))
def test_each_denying_fixture_denies_alone_with_its_reason(reason: DecisionReason) -> None:
    assert decide([denying(reason, "g")]) == (reason, "g")


# -- precedence ----------------------------------------------------------------------------------


def test_closeness_order_is_the_documented_one() -> None:
    order = sorted(_CLOSENESS, key=_CLOSENESS.__getitem__)
    assert order == [
        DecisionReason.NO_GRANT,
        DecisionReason.REVOKED,
        DecisionReason.ORGANISATION_NOT_APPROVED,
        DecisionReason.ORGANISATION_SUSPENDED,
        DecisionReason.ORGANISATION_BLOCKED_BY_SITE_OWNER,
        DecisionReason.OUTSIDE_POLICY,
        DecisionReason.EXPIRED,
        DecisionReason.NOT_YET_VALID,
        DecisionReason.OUTSIDE_SCHEDULE,
    ]


@pytest.mark.parametrize(("a", "b"), list(itertools.permutations(_DENYING, 2)), ids=str)
def test_closest_of_two_denials_is_reported_in_either_order(
    a: DecisionReason, b: DecisionReason
) -> None:
    closest = a if _CLOSENESS[a] > _CLOSENESS[b] else b
    assert decide([denying(a, "first"), denying(b, "second")]) == (
        closest,
        "first" if closest is a else "second",
    )


_reasons = st.sampled_from(sorted(_DENYING))


@settings(max_examples=200, deadline=None)
@given(
    reasons=st.lists(_reasons, max_size=8),
    allow_at=st.none() | st.integers(min_value=0, max_value=8),
    noise=st.lists(_reasons, max_size=3),
)
def test_any_allowing_grant_wins_else_closest_denial(
    reasons: list[DecisionReason], allow_at: int | None, noise: list[DecisionReason]
) -> None:
    grants = [denying(r, f"g{i}") for i, r in enumerate(reasons)]
    # grants for another door never count, however close they would be
    grants += [
        replace(denying(r, f"other{i}"), target=GrantTarget(door_id="door-9"))
        for i, r in enumerate(noise)
    ]
    if allow_at is not None:
        grants.insert(min(allow_at, len(grants)), grant("allow"))
        assert decide(grants) == (DecisionReason.GRANTED, "allow")
        return
    if not reasons:
        assert decide(grants) == (DecisionReason.NO_GRANT, None)
        return
    best = max(_CLOSENESS[r] for r in reasons)
    first = next(i for i, r in enumerate(reasons) if _CLOSENESS[r] == best)
    assert decide(grants) == (reasons[first], f"g{first}")


def test_per_grant_refusal_order_revocation_beats_expiry() -> None:
    # A single grant that is both revoked and expired reports REVOKED (checked first) ...
    g = grant(revoked_at=NOW - timedelta(days=1), valid_until=NOW - timedelta(hours=1))
    assert decide([g])[0] is DecisionReason.REVOKED
    # ... and one from a suspended organisation outside its schedule reports the organisation.
    g = grant(organisation_id=SUSPENDED, windows=(_MONDAY_LATE,))
    assert decide([g])[0] is DecisionReason.ORGANISATION_SUSPENDED


# -- daylight saving time (Europe/Copenhagen) ----------------------------------------------------

MORNING_SUNDAY = WeeklyWindow(frozenset({7}), 6 * 60, 9 * 60)  # Sun 06:00-09:00 local


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def scheduled(window: WeeklyWindow) -> Grant:
    return grant(
        "sched",
        valid_from=utc(2027, 1, 1),
        valid_until=utc(2027, 12, 31),
        windows=(window,),
    )


def reason_at(window: WeeklyWindow, instant: datetime) -> DecisionReason:
    return decide([scheduled(window)], now=instant, site=SITE)[0]


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        # 2027-03-28: clocks jump 02:00 CET -> 03:00 CEST; the morning is UTC+2
        (utc(2027, 3, 28, 4, 30), DecisionReason.GRANTED),  # 06:30 CEST (a fixed +1 says 05:30)
        (utc(2027, 3, 28, 4, 0), DecisionReason.GRANTED),  # 06:00 CEST, start inclusive
        (utc(2027, 3, 28, 6, 59), DecisionReason.GRANTED),  # 08:59 CEST
        (utc(2027, 3, 28, 3, 59), DecisionReason.OUTSIDE_SCHEDULE),  # 05:59 CEST
        (utc(2027, 3, 28, 7, 0), DecisionReason.OUTSIDE_SCHEDULE),  # 09:00 CEST, end exclusive
        (utc(2027, 3, 28, 7, 30), DecisionReason.OUTSIDE_SCHEDULE),  # 09:30 CEST (+1 says 08:30)
        # 2027-10-31: clocks fall back 03:00 CEST -> 02:00 CET; the morning is UTC+1
        (utc(2027, 10, 31, 5, 30), DecisionReason.GRANTED),  # 06:30 CET
        (utc(2027, 10, 31, 7, 30), DecisionReason.GRANTED),  # 08:30 CET (a fixed +2 says 09:30)
        (utc(2027, 10, 31, 4, 59), DecisionReason.OUTSIDE_SCHEDULE),  # 05:59 CET (+2: 06:59)
        (utc(2027, 10, 31, 8, 0), DecisionReason.OUTSIDE_SCHEDULE),  # 09:00 CET
    ],
    ids=str,
)
def test_weekly_window_on_dst_sundays(instant: datetime, expected: DecisionReason) -> None:
    assert reason_at(MORNING_SUNDAY, instant) is expected


def _minutes(start: datetime, end: datetime) -> list[datetime]:
    return [start + timedelta(minutes=i) for i in range(int((end - start).total_seconds()) // 60)]


def test_skipped_hour_window_is_never_entered_in_march() -> None:
    skipped = WeeklyWindow(frozenset({7}), 2 * 60, 3 * 60)  # Sun 02:00-03:00 local
    # every minute of that Sunday (local 00:00 CET = 23:00 UTC Saturday, to 24:00 CEST)
    day = _minutes(utc(2027, 3, 27, 23, 0), utc(2027, 3, 28, 22, 0))
    assert len(day) == 23 * 60
    assert all(reason_at(skipped, t) is DecisionReason.OUTSIDE_SCHEDULE for t in day)
    # The previous Sunday has the hour: 01:00-01:59 UTC = 02:00-02:59 CET.
    prev = _minutes(utc(2027, 3, 20, 23, 0), utc(2027, 3, 21, 23, 0))
    allowed = [t for t in prev if reason_at(skipped, t) is DecisionReason.GRANTED]
    assert allowed == _minutes(utc(2027, 3, 21, 1, 0), utc(2027, 3, 21, 2, 0))


def test_repeated_hour_window_is_open_for_both_occurrences_in_october() -> None:
    repeated = WeeklyWindow(frozenset({7}), 2 * 60, 3 * 60)  # Sun 02:00-03:00 local
    assert reason_at(repeated, utc(2027, 10, 31, 0, 30)) is DecisionReason.GRANTED  # 02:30 CEST
    assert reason_at(repeated, utc(2027, 10, 31, 1, 30)) is DecisionReason.GRANTED  # 02:30 CET
    # local 00:00 CEST (22:00 UTC Sat) to 24:00 CET (23:00 UTC Sun): a 25-hour day
    day = _minutes(utc(2027, 10, 30, 22, 0), utc(2027, 10, 31, 23, 0))
    assert len(day) == 25 * 60
    allowed = [t for t in day if reason_at(repeated, t) is DecisionReason.GRANTED]
    # two real hours: 00:00-00:59 UTC (02:xx CEST) and 01:00-01:59 UTC (02:xx CET)
    assert allowed == _minutes(utc(2027, 10, 31, 0, 0), utc(2027, 10, 31, 2, 0))


FRIDAY_NIGHT = WeeklyWindow(frozenset({5}), 22 * 60, 6 * 60)  # starts Fri 22:00, ends Sat 06:00


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        # winter, UTC+1: Friday 2027-01-08
        (utc(2027, 1, 8, 21, 0), DecisionReason.GRANTED),  # Fri 22:00
        (utc(2027, 1, 8, 23, 30), DecisionReason.GRANTED),  # Sat 00:30
        (utc(2027, 1, 9, 4, 0), DecisionReason.GRANTED),  # Sat 05:00
        (utc(2027, 1, 9, 4, 59), DecisionReason.GRANTED),  # Sat 05:59
        (utc(2027, 1, 8, 20, 59), DecisionReason.OUTSIDE_SCHEDULE),  # Fri 21:59
        (utc(2027, 1, 9, 5, 0), DecisionReason.OUTSIDE_SCHEDULE),  # Sat 06:00
        (utc(2027, 1, 9, 21, 30), DecisionReason.OUTSIDE_SCHEDULE),  # Sat 22:30, Sat not in days
        (utc(2027, 1, 10, 4, 0), DecisionReason.OUTSIDE_SCHEDULE),  # Sun 05:00
        (utc(2027, 1, 8, 4, 0), DecisionReason.OUTSIDE_SCHEDULE),  # Fri 05:00 (Thu not in days)
    ],
    ids=str,
)
def test_window_wrapping_midnight(instant: datetime, expected: DecisionReason) -> None:
    assert reason_at(FRIDAY_NIGHT, instant) is expected


def test_window_wrapping_midnight_into_the_march_transition() -> None:
    saturday_night = WeeklyWindow(frozenset({6}), 22 * 60, 6 * 60)  # Sat 22:00 - Sun 06:00
    assert reason_at(saturday_night, utc(2027, 3, 27, 21, 0)) is DecisionReason.GRANTED  # 22 CET
    assert reason_at(saturday_night, utc(2027, 3, 27, 20, 59)) is DecisionReason.OUTSIDE_SCHEDULE
    assert reason_at(saturday_night, utc(2027, 3, 28, 3, 59)) is DecisionReason.GRANTED  # 05:59
    # 06:00 CEST = 04:00 UTC: closed, though a fixed +01:00 would say 05:00
    assert reason_at(saturday_night, utc(2027, 3, 28, 4, 0)) is DecisionReason.OUTSIDE_SCHEDULE


def test_window_wrapping_the_end_of_the_week() -> None:
    sunday_night = parse_window("Sun 22:00-06:00")
    assert reason_at(sunday_night, utc(2027, 1, 10, 21, 0)) is DecisionReason.GRANTED  # Sun 22
    assert reason_at(sunday_night, utc(2027, 1, 11, 4, 59)) is DecisionReason.GRANTED  # Mon 05:59
    assert reason_at(sunday_night, utc(2027, 1, 11, 5, 0)) is DecisionReason.OUTSIDE_SCHEDULE


def test_schedule_follows_the_sites_time_zone() -> None:
    window = parse_window("Mon 08:00-09:00")
    g = grant(windows=(window,))
    # NOW is 07:00 UTC: 08:00 in Copenhagen, 02:00 in New York
    assert decide([g], site=SITE)[0] is DecisionReason.GRANTED
    ny = replace(SITE, time_zone="America/New_York")
    assert decide([g], site=ny)[0] is DecisionReason.OUTSIDE_SCHEDULE
    assert decide([g], site=ny, now=NOW + timedelta(hours=6))[0] is DecisionReason.GRANTED
