"""Reading the access log: what a caller may ask for and what it gets back, as plain rules.

* ``EventFilter`` / ``validate_filter``: what a caller asked for, checked (time range at most 92
  days, ids and codes well-formed).
* ``Scope``: the part of the log a tenant may read (an organisation's events; a site owner's
  door events with people redacted; everything). ``AccessLogQueries``
  (``authority.usecases.accesslog_queries``) picks the scope from the caller and narrows the
  filter to it; the result is an ``EventSelection``: what the adapter may read, nothing more.
* ``Cursor``, ``EventPage``: pages in (time, event id) order, a cursor bound to its selection.
* ``AggregateKind`` and the counts each aggregate returns.

Pure: no clock, no storage; the readers are ports (``authority.domain.ports.accesslog_reader``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from authority.domain.errors import InvalidArgument
from authority.domain.events import AccessEvent, EventKind
from authority.domain.model import to_utc, validate_id

MAX_RANGE = timedelta(days=92)
"""The longest period one query may cover (about a quarter): bounds the work of one call."""
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
DEFAULT_TOP = 10
MAX_TOP = 1000

_CODE_RE = re.compile(r"[a-z0-9_.:-]{1,64}")
DOOR_EVENT_KINDS = frozenset({EventKind.UNLOCK, EventKind.RELAY})
"""What a site owner may see: uses of its doors, not administration or lookups."""


# -- what the caller asks for ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFilter:
    start: datetime
    """Inclusive."""
    end: datetime
    """Exclusive."""
    organisation_id: str = ""
    site_id: str = ""
    door_id: str = ""
    holder_id: str = ""
    kind: EventKind | None = None
    outcome: str = ""
    reason: str = ""


def validate_filter(f: EventFilter) -> EventFilter:
    """Check the range and the shape of every given field; raise ``InvalidArgument``."""
    start, end = to_utc(f.start), to_utc(f.end)
    if end <= start:
        raise InvalidArgument(
            f"filter.to_time ({end.isoformat()}) must be after filter.from_time "
            f"({start.isoformat()})"
        )
    if end - start > MAX_RANGE:
        raise InvalidArgument(
            f"filter: the period is {(end - start) / timedelta(days=1):g} days; one query covers "
            f"at most {MAX_RANGE.days} days: split it, or use AggregateEvents per period"
        )
    for name, value in (
        ("organisation_id", f.organisation_id),
        ("site_id", f.site_id),
        ("door_id", f.door_id),
        ("key_holder_id", f.holder_id),
    ):
        if value:
            validate_id(value, field_name=f"filter.{name}")
    for name, value in (("outcome", f.outcome), ("reason", f.reason)):
        if value and not _CODE_RE.fullmatch(value):
            raise InvalidArgument(
                f"filter.{name} must be 1-64 characters of a-z 0-9 _ . : - (as logged, "
                f"lower case); got {value[:80]!r}"
            )
    return replace(f, start=start, end=end)


def validate_limit(limit: int) -> int:
    if limit == 0:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be 1-{MAX_LIMIT} (0 means {DEFAULT_LIMIT})")
    return limit


def validate_top(top: int) -> int:
    if top == 0:
        return DEFAULT_TOP
    if not 1 <= top <= MAX_TOP:
        raise InvalidArgument(f"top must be 1-{MAX_TOP} (0 means {DEFAULT_TOP})")
    return top


# -- what the adapter may read ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EventSelection:
    """A filter after tenancy: exactly the rows the caller may see that match what it asked."""

    start_ms: int
    end_ms: int
    kinds: frozenset[EventKind]
    organisation_id: str | None = None
    site_ids: frozenset[str] | None = None
    """None: any site. Empty: none (nothing matches)."""
    door_id: str | None = None
    holder_id: str | None = None
    outcome: str | None = None
    reason: str | None = None
    with_people: bool = True
    """Whether the pseudonym columns (actor, holder, grant, token) and ``detail`` may be read at
    all; site owners' selections say no, and the adapter then does not read them."""

    @property
    def matches_nothing(self) -> bool:
        return not self.kinds or (self.site_ids is not None and not self.site_ids)

    def refused_unlocks(self) -> EventSelection:
        """The refused unlocks among this selection (what denial reasons count): a selection
        asking for another outcome matches none."""
        other_outcome = self.outcome not in (None, "deny")
        refused = replace(self, kinds=self.kinds & {EventKind.UNLOCK}, outcome="deny")
        return replace(refused, kinds=frozenset()) if other_outcome else refused

    def fingerprint(self) -> str:
        """Identifies the selection inside a cursor, so a cursor is not reused on another one."""
        raw = json.dumps(
            {k: sorted(v) if isinstance(v, frozenset) else v for k, v in asdict(self).items()},
            sort_keys=True,
        )
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Cursor:
    """The position after the last event of a page: (time, event id), the sort order."""

    ts_ms: int
    event_id: str

    def encode(self, selection: EventSelection) -> str:
        raw = json.dumps(
            {"t": self.ts_ms, "e": self.event_id, "f": selection.fingerprint()},
            separators=(",", ":"),
        )
        return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()

    @classmethod
    def decode(cls, text: str, selection: EventSelection) -> Cursor:
        invalid = InvalidArgument(
            "cursor is not a next_cursor returned by QueryEvents for this filter"
        )
        try:
            raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            ts_ms, event_id, fingerprint = int(raw["t"]), str(raw["e"]), str(raw["f"])
        except (ValueError, TypeError, KeyError) as exc:
            raise invalid from exc
        if fingerprint != selection.fingerprint() or not _UUID_RE.fullmatch(event_id):
            raise invalid
        return cls(ts_ms, event_id)


_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[AccessEvent]
    next_cursor: str
    """Empty when no more events match."""


class AggregateKind(StrEnum):
    ORGANISATION_DAY = "organisation_day"
    BUSIEST_DOORS = "busiest_doors"
    DENIAL_REASONS = "denial_reasons"


@dataclass(frozen=True, slots=True)
class OrganisationDayCount:
    organisation_id: str
    day: date
    events: int
    allowed: int
    denied: int


@dataclass(frozen=True, slots=True)
class DoorCount:
    site_id: str
    door_id: str
    events: int


@dataclass(frozen=True, slots=True)
class ReasonCount:
    reason: str
    events: int


AggregateRow = OrganisationDayCount | DoorCount | ReasonCount


# -- tenancy ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """The part of the log a caller may read."""

    organisation_id: str | None
    """Forced organisation (organisations, organisation analysts); None: any."""
    site_ids: frozenset[str] | None
    """Forced sites (site owners); None: any."""
    kinds: frozenset[EventKind]
    redact_people: bool
    """Site owners see organisations, not key holders or callers: pseudonyms are blanked."""


def site_owner_scope(site_ids: frozenset[str]) -> Scope:
    """A site owner reads uses of its own doors, and sees organisations, not people."""
    return Scope(None, site_ids, DOOR_EVENT_KINDS, redact_people=True)


def organisation_scope(organisation_id: str | None) -> Scope:
    """One organisation's events (None: every event, for the platform and its analysts)."""
    return Scope(organisation_id, None, frozenset(EventKind), redact_people=False)


def redact(event: AccessEvent) -> AccessEvent:
    return replace(event, actor_id="", holder_id="", grant_id="", token_id="", detail="")


def to_ms(dt: datetime) -> int:
    """POSIX milliseconds of ``dt`` (UTC), as events and selections count time."""
    return int(to_utc(dt).timestamp() * 1000)
