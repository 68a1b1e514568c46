"""Weekly schedule windows read on the site's wall clock, so they follow daylight saving time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from authority.domain.errors import InvalidArgument

MINUTES_PER_DAY = 1440
_WEEKDAY_NAMES = ("", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    """``days`` are ISO weekdays (Monday=1 … Sunday=7) on which the window *starts*.

    ``start_minute``/``end_minute`` count minutes after local midnight; the end is exclusive. When
    ``end_minute <= start_minute`` the window runs past midnight into the next day (night shifts).
    """

    days: frozenset[int]
    start_minute: int
    end_minute: int

    def __post_init__(self) -> None:
        if not self.days:
            raise InvalidArgument("a schedule window needs at least one day")
        if not all(1 <= d <= 7 for d in self.days):
            raise InvalidArgument("schedule window days are ISO weekdays 1 (Monday) to 7 (Sunday)")
        if not 0 <= self.start_minute < MINUTES_PER_DAY:
            raise InvalidArgument(
                f"start_minute must be 0-1439 (minutes after midnight); got {self.start_minute}"
            )
        if not 1 <= self.end_minute <= MINUTES_PER_DAY:
            raise InvalidArgument(
                f"end_minute must be 1-1440 (minutes after midnight); got {self.end_minute}"
            )

    @property
    def wraps_midnight(self) -> bool:
        return self.end_minute <= self.start_minute

    def contains(self, local: datetime) -> bool:
        """Whether the wall-clock time ``local`` (already in the site's zone) is in the window."""
        minute = local.hour * 60 + local.minute
        day = local.isoweekday()
        if not self.wraps_midnight:
            return day in self.days and self.start_minute <= minute < self.end_minute
        if day in self.days and minute >= self.start_minute:
            return True
        previous_day = 7 if day == 1 else day - 1
        return previous_day in self.days and minute < self.end_minute

    def describe(self) -> str:
        days = ",".join(_WEEKDAY_NAMES[d] for d in sorted(self.days))
        s, e = self.start_minute, self.end_minute
        return f"{days} {s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}"


_DAY_INDEX = {name.lower(): i for i, name in enumerate(_WEEKDAY_NAMES) if name}


def parse_window(text: str) -> WeeklyWindow:
    """Parse ``"Mon-Fri 06:00-09:00"`` or ``"Sat,Sun 22:00-06:00"`` (the CLI's and CSV's form)."""
    try:
        days_part, times_part = text.strip().split()
        days: set[int] = set()
        for chunk in days_part.split(","):
            first, _, last = chunk.partition("-")
            a, b = _DAY_INDEX[first.lower()[:3]], _DAY_INDEX[(last or first).lower()[:3]]
            days.update(range(a, b + 1) if a <= b else [*range(a, 8), *range(1, b + 1)])
        start, end = times_part.split("-")
        if not (start + end).replace(":", "").isascii():
            raise ValueError(text)
        sh, sm = (int(x) for x in start.split(":"))
        eh, em = (int(x) for x in end.split(":"))
    except (ValueError, KeyError) as exc:
        raise InvalidArgument(
            f"schedule window {text[:60]!r} must look like 'Mon-Fri 06:00-09:00'"
        ) from exc
    if not (0 <= sh < 24 and 0 <= sm < 60 and 0 <= eh <= 24 and 0 <= em < 60):
        raise InvalidArgument(f"schedule window {text[:60]!r} has an invalid time of day")
    end_minute = (eh * 60 + em) or MINUTES_PER_DAY  # an end of 00:00 means midnight
    return WeeklyWindow(frozenset(days), sh * 60 + sm, end_minute)
