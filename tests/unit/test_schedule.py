"""``WeeklyWindow`` validation and membership, and ``parse_window`` (the CLI's and CSV's form)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authority.domain.errors import InvalidArgument
from authority.domain.schedule import MINUTES_PER_DAY, WeeklyWindow, parse_window

MONDAY = datetime(2027, 1, 4)  # naive: contains() reads wall-clock fields only
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY


@pytest.mark.parametrize(
    ("days", "start", "end", "message"),
    [
        (frozenset(), 0, 60, "at least one day"),
        (frozenset({0}), 0, 60, "ISO weekdays"),
        (frozenset({8}), 0, 60, "ISO weekdays"),
        (frozenset({1, -1}), 0, 60, "ISO weekdays"),
        (frozenset({1}), -1, 60, "start_minute"),
        (frozenset({1}), 1440, 60, "start_minute"),
        (frozenset({1}), 0, 0, "end_minute"),
        (frozenset({1}), 0, 1441, "end_minute"),
        (frozenset({1}), 0, -5, "end_minute"),
    ],
)
def test_window_validation(days: frozenset[int], start: int, end: int, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        WeeklyWindow(days, start, end)


@pytest.mark.parametrize(("start", "end"), [(0, 1), (0, 1440), (1439, 1440), (1439, 1), (60, 60)])
def test_window_bounds_accepted(start: int, end: int) -> None:
    w = WeeklyWindow(frozenset({1, 7}), start, end)
    assert (w.start_minute, w.end_minute) == (start, end)
    assert w.wraps_midnight == (end <= start)


def test_window_is_immutable() -> None:
    w = WeeklyWindow(frozenset({1}), 0, 60)
    with pytest.raises(AttributeError):
        w.start_minute = 5  # type: ignore[misc]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """The wall-clock time on ISO weekday ``day`` of the week of 2027-01-04."""
    return MONDAY + timedelta(days=day - 1, hours=hour, minutes=minute)


def test_plain_window_contains_start_but_not_end() -> None:
    w = WeeklyWindow(frozenset({1, 2, 3, 4, 5}), 6 * 60, 9 * 60)
    assert w.contains(at(1, 6))
    assert w.contains(at(5, 8, 59))
    assert not w.contains(at(1, 5, 59))
    assert not w.contains(at(1, 9))
    assert not w.contains(at(6, 7))
    assert not w.contains(at(7, 7))


def test_full_day_window() -> None:
    w = WeeklyWindow(frozenset({3}), 0, MINUTES_PER_DAY)
    assert w.contains(at(3, 0))
    assert w.contains(at(3, 23, 59))
    assert not w.contains(at(2, 23, 59))
    assert not w.contains(at(4, 0))


def test_equal_start_and_end_is_24_hours_from_start() -> None:
    w = WeeklyWindow(frozenset({3}), 6 * 60, 6 * 60)
    assert w.wraps_midnight
    assert w.contains(at(3, 6))
    assert w.contains(at(4, 5, 59))
    assert not w.contains(at(3, 5, 59))
    assert not w.contains(at(4, 6))


def test_wrapping_window_from_sunday_into_monday() -> None:
    w = WeeklyWindow(frozenset({7}), 22 * 60, 6 * 60)
    assert w.contains(at(7, 22))
    assert w.contains(MONDAY + timedelta(hours=5, minutes=59))  # the Monday after a Sunday
    assert not w.contains(MONDAY + timedelta(hours=6))
    assert not w.contains(at(6, 23))


@pytest.mark.parametrize(
    ("text", "days", "start", "end"),
    [
        ("Mon-Fri 06:00-09:00", {1, 2, 3, 4, 5}, 360, 540),
        ("Sat,Sun 22:00-06:00", {6, 7}, 1320, 360),
        ("Fri-Mon 22:00-06:00", {5, 6, 7, 1}, 1320, 360),
        ("Sun-Tue 00:00-24:00", {7, 1, 2}, 0, 1440),
        ("Wed 12:30-13:15", {3}, 750, 795),
        ("mon,WED-thu 7:05-8:00", {1, 3, 4}, 425, 480),
        ("Monday-Friday 06:00-09:00", {1, 2, 3, 4, 5}, 360, 540),
        ("Tue-Mon 00:00-00:01", {1, 2, 3, 4, 5, 6, 7}, 0, 1),
        ("  Sat 23:59-00:01  ", {6}, 1439, 1),
        ("Thu-Thu 10:00-11:00", {4}, 600, 660),
    ],
)
def test_parse_window(text: str, days: set[int], start: int, end: int) -> None:
    assert parse_window(text) == WeeklyWindow(frozenset(days), start, end)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "Mon-Fri",
        "06:00-09:00",
        "Mon-Fri 06:00-09:00 extra",
        "Mon-Fri 06:00",
        "Mon-Fri 06:00-09:00-10:00",
        "Mo-Fr 06:00-09:00",
        "Xyz 06:00-09:00",
        "Mon,,Fri 06:00-09:00",
        "-Fri 06:00-09:00",
        "Mon-Fri 6-9",
        "Mon-Fri 06:00:00-09:00",
        "Mon-Fri aa:00-09:00",
        "Mon-Fri 24:00-06:00",
        "Mon-Fri 06:60-09:00",
        "Mon-Fri 06:00-09:60",
        "Mon-Fri 06:00-25:00",
        "Mon-Fri 06:00-24:01",
        "Mon-Fri -1:00-09:00",
    ],
)
def test_parse_window_rejects(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_window(text)


@pytest.mark.parametrize(
    "text", ["Mon-Fri 06:00-09:00", "Mon,Wed,Sun 22:00-06:00", "Sat 00:00-24:00", "Tue 23:59-00:01"]
)
def test_describe_round_trips_through_parse(text: str) -> None:
    w = parse_window(text)
    assert parse_window(w.describe()) == w


def test_describe_lists_days_in_order() -> None:
    assert parse_window("Fri-Mon 22:00-06:00").describe() == "Mon,Fri,Sat,Sun 22:00-06:00"


# -- property: contains() agrees with a brute-force minute-of-week reference ---------------------


def reference_contains(w: WeeklyWindow, local: datetime) -> bool:
    """Walk the week minute by minute from each start day: is ``local``'s minute covered?"""
    length = w.end_minute - w.start_minute
    if length <= 0:  # runs past midnight into the next day
        length += MINUTES_PER_DAY
    minute_of_week = (local.isoweekday() - 1) * MINUTES_PER_DAY + local.hour * 60 + local.minute
    return any(
        (minute_of_week - ((d - 1) * MINUTES_PER_DAY + w.start_minute)) % MINUTES_PER_WEEK < length
        for d in w.days
    )


windows = st.builds(
    WeeklyWindow,
    days=st.frozensets(st.integers(1, 7), min_size=1),
    start_minute=st.integers(0, MINUTES_PER_DAY - 1),
    end_minute=st.integers(1, MINUTES_PER_DAY),
)
instants = st.integers(0, MINUTES_PER_WEEK - 1).map(lambda m: MONDAY + timedelta(minutes=m))


@settings(max_examples=300, deadline=None)
@given(w=windows, local=instants)
def test_contains_agrees_with_reference(w: WeeklyWindow, local: datetime) -> None:
    assert w.contains(local) == reference_contains(w, local)


@settings(max_examples=50, deadline=None)
@given(w=windows)
def test_window_boundaries_agree_with_reference(w: WeeklyWindow) -> None:
    # The interesting instants: each start and end, and one minute either side.
    for d in range(1, 8):
        for m in (w.start_minute, w.end_minute):
            for delta in (-1, 0, 1):
                local = MONDAY + timedelta(days=d - 1, minutes=m + delta)
                assert w.contains(local) == reference_contains(w, local), local


def test_reference_itself_is_sane() -> None:
    w = WeeklyWindow(frozenset({5}), 22 * 60, 6 * 60)
    assert reference_contains(w, at(5, 22))
    assert reference_contains(w, at(6, 5, 59))
    assert not reference_contains(w, at(6, 6))
    assert not reference_contains(w, at(6, 22))
    full = WeeklyWindow(frozenset({2}), 60, 60)
    assert sum(reference_contains(full, MONDAY + timedelta(minutes=m)) for m in range(10080)) == (
        MINUTES_PER_DAY
    )
