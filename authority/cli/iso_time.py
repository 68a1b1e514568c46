"""Times on the command line and in roster files: ISO 8601, UTC when no offset is given."""

from __future__ import annotations

from datetime import UTC, datetime

from authority.domain.errors import InvalidArgument


def parse_iso_time(text: str, *, error: str) -> datetime:
    """``text`` as an aware datetime (a date alone means its midnight; without an offset, UTC);
    ``InvalidArgument(error)`` when it is not ISO 8601."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidArgument(error) from exc
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
