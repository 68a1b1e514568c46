"""The pure rules of site owners' log requests: limits, the fee, the calendar year, the states."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from authority.domain.errors import FailedPrecondition, InvalidArgument
from authority.domain.owner_requests import (
    FEE_NET_ORE,
    FREE,
    Fee,
    OwnerLogRequest,
    OwnerLogRequestStatus,
    check_deliverable,
    deliver,
    fee_for,
    fee_year,
    file_request,
    format_dkk,
    months_before,
    record_payment,
    refuse,
)

NOW = datetime(2027, 6, 15, 12, 0, tzinfo=UTC)


def filed(
    *,
    start: datetime = NOW - timedelta(days=10),
    days: float = 7,
    prior: int = 0,
    now: datetime = NOW,
    purpose: str = "a broken window",
) -> OwnerLogRequest:
    return file_request(
        request_id="olr_1", owner_id="owner-1", site_id="site_1", period_start=start,
        period_end=start + timedelta(days=days), purpose=purpose, suspected_crime=True,
        filed_by="acc_1", now=now, prior_requests_this_year=prior,
    )  # fmt: skip


def test_first_two_requests_of_a_year_are_free_then_750_plus_vat() -> None:
    assert fee_for(1) == fee_for(2) == FREE == Fee(0, 0)
    third = fee_for(3)
    assert (third.net_ore, third.vat_ore, third.total_ore) == (75_000, 18_750, 93_750)
    assert fee_for(10) == third
    assert format_dkk(third.total_ore) == "937.50"
    assert format_dkk(FEE_NET_ORE) == "750.00"
    with pytest.raises(ValueError, match="1-based"):
        fee_for(0)


def test_the_request_records_its_sequence_and_fee() -> None:
    r = filed(prior=2)
    assert (r.year, r.sequence_in_year, r.fee.total_ore) == (2027, 3, 93_750)
    assert r.payment_due
    assert not filed(prior=1).payment_due
    assert r.status is OwnerLogRequestStatus.FILED


def test_a_week_is_the_most_one_request_covers() -> None:
    assert filed(days=7).period_end - filed(days=7).period_start == timedelta(days=7)
    with pytest.raises(InvalidArgument, match=r"8 days requested.*at most one week \(7 days\)"):
        filed(days=8)
    with pytest.raises(InvalidArgument, match="at most one week"):
        filed(days=7 + 1 / 86_400)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"days": 0}, "must be after"),
        ({"days": -1}, "must be after"),
        ({"start": NOW - timedelta(days=2)}, "in the future"),
        ({"start": datetime(2024, 6, 15, 11, 59, tzinfo=UTC)}, "more than 36 months ago"),
        ({"purpose": "  "}, "purpose is required"),
        ({"purpose": "x" * 2001}, "at most 2000"),
    ],
)
def test_invalid_requests_name_the_rule(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        filed(**kwargs)  # type: ignore[arg-type]


def test_exactly_36_months_back_is_still_deliverable() -> None:
    r = filed(start=datetime(2024, 6, 15, 12, 0, tzinfo=UTC), days=1)
    assert r.period_start == months_before(NOW, 36)


def test_one_stairwell_means_one_well_formed_site_id() -> None:
    with pytest.raises(InvalidArgument, match="site_id"):
        file_request(
            request_id="olr_1", owner_id="o", site_id="site_1,site_2",
            period_start=NOW - timedelta(days=9), period_end=NOW - timedelta(days=8),
            purpose="p", suspected_crime=False, filed_by="acc_1", now=NOW,
            prior_requests_this_year=0,
        )  # fmt: skip


def test_naive_times_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="time zone"):
        filed(start=datetime(2027, 6, 1))  # naive: the point of the test


def test_the_year_is_the_danish_calendar_year() -> None:
    assert fee_year(datetime(2027, 12, 31, 22, 59, tzinfo=UTC)) == 2027
    assert fee_year(datetime(2027, 12, 31, 23, 30, tzinfo=UTC)) == 2028  # 00:30 in Copenhagen
    r = filed(
        now=datetime(2027, 12, 31, 23, 30, tzinfo=UTC), start=datetime(2027, 12, 1, tzinfo=UTC)
    )
    assert r.year == 2028


@pytest.mark.parametrize(
    ("at", "months", "expected"),
    [
        (datetime(2027, 6, 15, tzinfo=UTC), 36, datetime(2024, 6, 15, tzinfo=UTC)),
        (datetime(2027, 3, 31, tzinfo=UTC), 1, datetime(2027, 2, 28, tzinfo=UTC)),
        (datetime(2028, 3, 31, tzinfo=UTC), 1, datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2027, 1, 10, tzinfo=UTC), 1, datetime(2026, 12, 10, tzinfo=UTC)),
        (datetime(2027, 12, 31, tzinfo=UTC), 12, datetime(2026, 12, 31, tzinfo=UTC)),
    ],
)
def test_months_before(at: datetime, months: int, expected: datetime) -> None:
    assert months_before(at, months) == expected


def test_filed_to_refused() -> None:
    r = refuse(filed(), reason="possible harassment", now=NOW, by="adm_1")
    assert r.status is OwnerLogRequestStatus.REFUSED
    assert (r.refusal_reason, r.decided_at, r.decided_by) == ("possible harassment", NOW, "adm_1")
    with pytest.raises(InvalidArgument, match="reason is required"):
        refuse(filed(), reason="", now=NOW, by="adm_1")
    with pytest.raises(FailedPrecondition, match="already refused"):
        refuse(r, reason="again", now=NOW, by="adm_1")
    with pytest.raises(FailedPrecondition, match="already refused"):
        deliver(r, entries=1, now=NOW, by="adm_1")


def test_filed_to_delivered_needs_the_fee_paid_first() -> None:
    free = deliver(filed(), entries=4, now=NOW, by="adm_1")
    assert (free.status, free.delivered_entries) == (OwnerLogRequestStatus.DELIVERED, 4)
    with pytest.raises(FailedPrecondition, match="already delivered"):
        deliver(free, entries=4, now=NOW, by="adm_1")
    with pytest.raises(FailedPrecondition, match="already delivered"):
        refuse(free, reason="late", now=NOW, by="adm_1")

    costly = filed(prior=2)
    with pytest.raises(FailedPrecondition, match=r"937\.50 DKK incl\. VAT, payable before"):
        check_deliverable(costly)
    with pytest.raises(FailedPrecondition, match="is free"):
        record_payment(filed(), now=NOW)
    paid = record_payment(costly, now=NOW)
    assert paid.paid_at == NOW
    assert paid.status is OwnerLogRequestStatus.FILED
    with pytest.raises(FailedPrecondition, match="already paid"):
        record_payment(paid, now=NOW)
    assert deliver(paid, entries=0, now=NOW, by="adm_1").status is OwnerLogRequestStatus.DELIVERED
    with pytest.raises(FailedPrecondition, match="already refused"):
        record_payment(replace(costly, status=OwnerLogRequestStatus.REFUSED), now=NOW)
