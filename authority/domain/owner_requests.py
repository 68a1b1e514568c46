"""Site owners' requests for access logs: the rules of the operator's terms with site owners.

A site owner may ask, in writing, which organisations or authorities used the system to enter
one stairwell, and when. Each request names (i) a period of at most one week, (ii) one stairwell
and (iii) the purpose, in particular whether a criminal act by a user is suspected. Logs are
deleted after 36 months, so older periods cannot be handed out. Two requests per owner per
calendar year are free; each further one costs 750 DKK + 25 % VAT (937.50 DKK), payable before
delivery. The operator may refuse (unlawful delivery, suspected misuse or harassment).

A request moves FILED -> DELIVERED or FILED -> REFUSED, nothing else; recording the payment keeps
it FILED. Amounts are integers in øre (1 DKK = 100 øre): no floating point near money.
Everything here is pure: no clock, no storage; callers pass ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from authority.domain.errors import FailedPrecondition, InvalidArgument
from authority.domain.model import to_utc, validate_id, validate_text

MAX_PERIOD = timedelta(days=7)
"""At most one week per request."""
LOG_RETENTION_MONTHS = 36
"""Logs are deleted after 36 months; after that they cannot be handed out."""
FREE_REQUESTS_PER_YEAR = 2
FEE_NET_ORE = 75_000
"""750.00 DKK before VAT for each request after the free ones."""
VAT_PERCENT = 25
FEE_YEAR_ZONE = ZoneInfo("Europe/Copenhagen")
"""Requests are counted per Danish calendar year (a request at 00:30 on 1 January, Danish time,
counts for the new year although it is still 31 December in UTC)."""
MAX_PURPOSE_LENGTH = 2000
MAX_REFUSAL_LENGTH = 1000


class OwnerLogRequestStatus(StrEnum):
    FILED = "filed"
    """Waiting for the operator (and, if a fee is due, for the payment)."""
    DELIVERED = "delivered"
    """The log extract was produced and handed to the owner."""
    REFUSED = "refused"
    """The operator refused the request; ``refusal_reason`` says why."""


@dataclass(frozen=True, slots=True)
class Fee:
    """What a request costs, in øre."""

    net_ore: int
    vat_ore: int

    @property
    def total_ore(self) -> int:
        return self.net_ore + self.vat_ore


FREE = Fee(0, 0)


def fee_for(sequence_in_year: int) -> Fee:
    """The fee of the owner's ``sequence_in_year``-th request (1-based) of a calendar year."""
    if sequence_in_year < 1:
        raise ValueError("sequence_in_year is 1-based")
    if sequence_in_year <= FREE_REQUESTS_PER_YEAR:
        return FREE
    vat, remainder = divmod(FEE_NET_ORE * VAT_PERCENT, 100)
    if remainder:  # pragma: no cover - 750 DKK * 25 % is whole øre; a new rate must round here
        raise ValueError("the VAT on the fee is not a whole number of øre")
    return Fee(FEE_NET_ORE, vat)


def fee_year(at: datetime) -> int:
    """The calendar year (Danish time) a request filed at ``at`` counts towards."""
    return to_utc(at).astimezone(FEE_YEAR_ZONE).year


def months_before(at: datetime, months: int) -> datetime:
    """The same wall-clock instant ``months`` calendar months earlier (day clamped to the
    month's length), as ClickHouse's ``INTERVAL n MONTH`` counts for the log's TTL."""
    at = to_utc(at)
    index = at.year * 12 + (at.month - 1) - months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    next_first = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    last_day = (next_first - timedelta(days=1)).day
    return at.replace(year=year, month=month, day=min(at.day, last_day))


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnerLogRequest:
    request_id: str
    owner_id: str
    """The site owner who filed it (``Site.owner_id``)."""
    site_id: str
    """The one stairwell the request is about."""
    period_start: datetime
    period_end: datetime
    """The period [start, end), at most ``MAX_PERIOD`` long."""
    purpose: str
    suspected_crime: bool
    """Whether the owner suspects a criminal act by a user of the system."""
    filed_at: datetime
    filed_by: str
    """The credential id the owner filed it with."""
    year: int
    """The calendar year it counts towards (``fee_year(filed_at)``)."""
    sequence_in_year: int
    """1 for the owner's first request of ``year``, 2 for the second, …"""
    fee: Fee
    status: OwnerLogRequestStatus = OwnerLogRequestStatus.FILED
    paid_at: datetime | None = None
    decided_at: datetime | None = None
    decided_by: str = ""
    refusal_reason: str = ""
    delivered_entries: int = 0
    """How many entries the delivered extract held."""

    @property
    def payment_due(self) -> bool:
        return self.fee.total_ore > 0 and self.paid_at is None


def file_request(
    *,
    request_id: str,
    owner_id: str,
    site_id: str,
    period_start: datetime,
    period_end: datetime,
    purpose: str,
    suspected_crime: bool,
    filed_by: str,
    now: datetime,
    prior_requests_this_year: int,
) -> OwnerLogRequest:
    """Validate a request against the terms and price it; raise ``InvalidArgument`` naming the
    rule broken. ``prior_requests_this_year``: the owner's requests already filed this year."""
    site_id = validate_id(site_id, field_name="site_id")
    start, end, now = to_utc(period_start), to_utc(period_end), to_utc(now)
    if end <= start:
        raise InvalidArgument(
            f"period: to ({end.isoformat()}) must be after from ({start.isoformat()})"
        )
    if end - start > MAX_PERIOD:
        days = (end - start) / timedelta(days=1)
        raise InvalidArgument(
            f"period: {days:g} days requested; a log request covers at most one week "
            "(7 days) per request under the terms with site owners: file one request per week"
        )
    if end > now:
        raise InvalidArgument(
            f"period: to ({end.isoformat()}) is in the future; request a period that has ended"
        )
    oldest = months_before(now, LOG_RETENTION_MONTHS)
    if start < oldest:
        raise InvalidArgument(
            f"period: from ({start.isoformat()}) is more than {LOG_RETENTION_MONTHS} months ago; "
            "logs are deleted after 36 months and cannot be handed out"
        )
    purpose = validate_text(purpose, field_name="purpose", max_len=MAX_PURPOSE_LENGTH)
    if prior_requests_this_year < 0:
        raise ValueError("prior_requests_this_year must not be negative")
    sequence = prior_requests_this_year + 1
    return OwnerLogRequest(
        request_id=request_id,
        owner_id=owner_id,
        site_id=site_id,
        period_start=start,
        period_end=end,
        purpose=purpose,
        suspected_crime=suspected_crime,
        filed_at=now,
        filed_by=filed_by,
        year=fee_year(now),
        sequence_in_year=sequence,
        fee=fee_for(sequence),
    )


def _require_open(request: OwnerLogRequest) -> None:
    if request.status is not OwnerLogRequestStatus.FILED:
        raise FailedPrecondition(
            f"owner log request {request.request_id} is already {request.status.value}"
        )


def record_payment(request: OwnerLogRequest, *, now: datetime) -> OwnerLogRequest:
    """The owner paid the fee (the only way a fee-bearing request becomes deliverable)."""
    _require_open(request)
    if request.fee.total_ore == 0:
        raise FailedPrecondition(f"owner log request {request.request_id} is free: nothing to pay")
    if request.paid_at is not None:
        raise FailedPrecondition(f"owner log request {request.request_id} is already paid")
    return replace(request, paid_at=to_utc(now))


def refuse(request: OwnerLogRequest, *, reason: str, now: datetime, by: str) -> OwnerLogRequest:
    """The operator refuses (delivery could break the law, or misuse/harassment is suspected)."""
    _require_open(request)
    reason = validate_text(reason, field_name="reason", max_len=MAX_REFUSAL_LENGTH)
    return replace(
        request,
        status=OwnerLogRequestStatus.REFUSED,
        refusal_reason=reason,
        decided_at=to_utc(now),
        decided_by=by,
    )


def check_deliverable(request: OwnerLogRequest) -> None:
    """Raise unless the request may be delivered now (open, and paid if a fee is due)."""
    _require_open(request)
    if request.payment_due:
        raise FailedPrecondition(
            f"owner log request {request.request_id} costs {format_dkk(request.fee.total_ore)} "
            "DKK incl. VAT, payable before delivery: record the payment first"
        )


def deliver(request: OwnerLogRequest, *, entries: int, now: datetime, by: str) -> OwnerLogRequest:
    check_deliverable(request)
    return replace(
        request,
        status=OwnerLogRequestStatus.DELIVERED,
        delivered_entries=entries,
        decided_at=to_utc(now),
        decided_by=by,
    )


def format_dkk(ore: int) -> str:
    """937.50 for 93750 øre."""
    kroner, rest = divmod(ore, 100)
    return f"{kroner}.{rest:02d}"
