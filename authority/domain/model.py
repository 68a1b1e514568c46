"""Entities of the door-key world: organisations, sites, doors, key holders and grants.

Everything here is immutable and validated on construction by the ``new_*``/``validate_*``
functions; the stores persist exactly these shapes.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from authority.domain.errors import InvalidArgument
from authority.domain.schedule import WeeklyWindow

DEFAULT_TIME_ZONE = "Europe/Copenhagen"
MAX_GRANT_VALIDITY = timedelta(days=5 * 366)
MAX_WINDOWS_PER_GRANT = 28

_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_DIGITS8_RE = re.compile(r"[0-9]{8}")
_CVR_WEIGHTS = (2, 7, 6, 5, 4, 3, 2, 1)
_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o/1/l: ids get read aloud and typed


class Purpose(StrEnum):
    """The legitimate purposes of the access policy."""

    POSTAL = "postal"
    DELIVERY = "delivery"
    PUBLIC_SERVICE = "public_service"
    PRIVATE = "private"


class OrganisationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"


class HolderStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    RESTRICTED = "restricted"
    """Processing restricted at the person's request (GDPR art. 18): stored, nothing else: no
    decisions, no new grants, no profile reads by organisations. Lifted back to ACTIVE."""


def new_id(prefix: str) -> str:
    """A random id with 80 bits of entropy, e.g. ``kh_7mxq…``. Random, so it reveals nothing."""
    return prefix + "_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


def validate_id(value: str, *, field_name: str) -> str:
    """Ids (door, relay, organisation, …) are 1-64 characters of ``[A-Za-z0-9._:-]``."""
    if not _ID_RE.fullmatch(value):
        shown = value if len(value) <= 80 else value[:80] + "…"
        raise InvalidArgument(
            f"{field_name} must be 1-64 characters of letters, digits and . _ : -; got {shown!r}"
        )
    return value


def validate_text(value: str, *, field_name: str, max_len: int, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidArgument(f"{field_name} is required")
    if len(value) > max_len:
        raise InvalidArgument(f"{field_name} is {len(value)} characters; at most {max_len}")
    if any(ord(c) < 32 for c in value):
        raise InvalidArgument(f"{field_name} must not contain control characters")
    return value


def validate_cvr(value: str) -> str:
    """A Danish CVR number: 8 digits, first not 0, modulus-11 check with weights 2,7,6,5,4,3,2,1."""
    if not _DIGITS8_RE.fullmatch(value):
        raise InvalidArgument(f"cvr must be exactly 8 digits; got {value[:20]!r}")
    if value[0] == "0":
        raise InvalidArgument("cvr must not start with 0")
    total = sum(int(d) * w for d, w in zip(value, _CVR_WEIGHTS, strict=True))
    if total % 11 != 0:
        raise InvalidArgument(
            f"cvr {value} fails the modulus-11 check: it is not a valid CVR number"
        )
    return value


def validate_se(value: str) -> str:
    """A Danish SE number: 8 digits."""
    if not _DIGITS8_RE.fullmatch(value):
        raise InvalidArgument(f"se must be exactly 8 digits; got {value[:20]!r}")
    return value


def validate_time_zone(name: str) -> str:
    name = name or DEFAULT_TIME_ZONE
    try:
        if len(name) > 64:  # the longest IANA name has 32 characters
            raise ValueError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a path it cannot open
        raise InvalidArgument(f"time_zone {name[:64]!r} is not an IANA time zone") from exc
    return name


@dataclass(frozen=True, slots=True, kw_only=True)
class Organisation:
    organisation_id: str
    name: str
    cvr: str | None
    se: str | None
    public_body: bool
    purpose: Purpose
    status: OrganisationStatus
    status_reason: str
    created_at: datetime


def new_organisation(
    *,
    name: str,
    cvr: str | None,
    se: str | None,
    public_body: bool,
    purpose: Purpose | None,
    now: datetime,
) -> Organisation:
    """Validate a registration: exactly one of CVR, SE or public body; a purpose; status PENDING."""
    name = validate_text(name, field_name="name", max_len=200)
    given = [bool(cvr), bool(se), public_body]
    if sum(given) != 1:
        raise InvalidArgument("give exactly one of cvr, se or public_body=true")
    if purpose is None:
        raise InvalidArgument("purpose is required: postal, delivery, public_service or private")
    return Organisation(
        organisation_id=new_id("org"),
        name=name,
        cvr=validate_cvr(cvr) if cvr else None,
        se=validate_se(se) if se else None,
        public_body=public_body,
        purpose=purpose,
        status=OrganisationStatus.PENDING,
        status_reason="",
        created_at=now,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Site:
    """A stairwell at an address. Schedules of grants for it are read in ``time_zone``."""

    site_id: str
    address: str
    owner_id: str
    time_zone: str = DEFAULT_TIME_ZONE
    offline_allowed: bool = False
    blocked_organisations: frozenset[str] = field(default_factory=frozenset)
    revocation_epoch: int = 0
    """Raised by one on every revocation that must reach offline relays (offline sites only);
    every token for the site carries it, and relays refuse tokens of an older epoch. Kept apart
    from the site's record (a counter of its own), so bumping it never races an edit."""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)  # ZoneInfo caches instances per key


@dataclass(frozen=True, slots=True, kw_only=True)
class Door:
    door_id: str
    site_id: str
    relay_id: str
    label: str = ""
    relay_public_key: bytes | None = None
    """The relay's own Ed25519 public key (32 bytes), registered at installation: it verifies
    the results the relay signs. ``None`` until registered."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyHolder:
    """A key holder is known only by a pseudonym; personal data lives apart (privacy issue)."""

    key_holder_id: str
    organisation_id: str
    status: HolderStatus
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class GrantTarget:
    """A grant opens one door, or every door of one site."""

    door_id: str | None = None
    site_id: str | None = None

    def __post_init__(self) -> None:
        if (self.door_id is None) == (self.site_id is None):
            raise InvalidArgument("a grant targets exactly one of door_id or site_id")

    @property
    def key(self) -> str:
        """The grant-store field this target is filed under (``d:<door>`` or ``s:<site>``)."""
        return f"d:{self.door_id}" if self.door_id is not None else f"s:{self.site_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    grant_id: str
    key_holder_id: str
    target: GrantTarget
    organisation_id: str
    purpose: Purpose
    valid_from: datetime
    valid_until: datetime
    windows: tuple[WeeklyWindow, ...] = ()
    revoked_at: datetime | None = None

    def covers(self, door: Door) -> bool:
        t = self.target
        return t.door_id == door.door_id if t.door_id is not None else t.site_id == door.site_id


def new_grant(
    *,
    holder: KeyHolder,
    target: GrantTarget,
    organisation: Organisation,
    valid_from: datetime | None,
    valid_until: datetime | None,
    windows: Iterable[WeeklyWindow],
    now: datetime,
    grant_id: str | None = None,
) -> Grant:
    """Validate a grant for issuance (``authority.domain.policy`` checks it against the access
    policy). ``grant_id``: a given id (bulk issuance derives it from the idempotency key);
    default a random one."""
    start = to_utc(valid_from or now)
    if valid_until is None:
        raise InvalidArgument("valid_until is required: grants are never open-ended")
    end = to_utc(valid_until)
    if end <= start:
        raise InvalidArgument(
            f"valid_until ({end.isoformat()}) must be after valid_from ({start.isoformat()})"
        )
    if end - start > MAX_GRANT_VALIDITY:
        raise InvalidArgument("a grant may be valid for at most 5 years")
    if end <= now:
        raise InvalidArgument(f"valid_until ({end.isoformat()}) is in the past")
    wins = tuple(windows)
    if len(wins) > MAX_WINDOWS_PER_GRANT:
        raise InvalidArgument(f"at most {MAX_WINDOWS_PER_GRANT} schedule windows per grant")
    return Grant(
        grant_id=grant_id or new_id("gr"),
        key_holder_id=holder.key_holder_id,
        target=target,
        organisation_id=organisation.organisation_id,
        purpose=organisation.purpose,
        valid_from=start,
        valid_until=end,
        windows=wins,
    )


def to_utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise InvalidArgument("timestamps must carry a time zone")
    return dt.astimezone(UTC)
