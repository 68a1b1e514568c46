"""Validation of the domain entities: CVR/SE numbers, ids, organisations and grants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from authority.domain.errors import InvalidArgument
from authority.domain.model import (
    MAX_GRANT_VALIDITY,
    MAX_WINDOWS_PER_GRANT,
    Door,
    Grant,
    GrantTarget,
    HolderStatus,
    KeyHolder,
    OrganisationStatus,
    Purpose,
    new_grant,
    new_id,
    new_organisation,
    to_utc,
    validate_cvr,
    validate_id,
    validate_se,
    validate_text,
    validate_time_zone,
)
from authority.domain.schedule import WeeklyWindow

NOW = datetime(2027, 1, 4, 7, 0, tzinfo=UTC)
# 25680839 in other scripts' digits: str.isdigit() and int() accept them, the rule must not
FULLWIDTH_CVR = "".join(chr(0xFF10 + int(d)) for d in "25680839")
ARABIC_INDIC_CVR = "".join(chr(0x0660 + int(d)) for d in "25680839")

# -- CVR / SE ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cvr", ["25680839", "10150817", "29189846", "55133018"])
def test_valid_cvr(cvr: str) -> None:
    assert validate_cvr(cvr) == cvr


@pytest.mark.parametrize(
    ("cvr", "message"),
    [
        ("25680838", "modulus-11"),
        ("10150818", "modulus-11"),
        ("29189847", "modulus-11"),
        ("01234567", "must not start with 0"),
        ("00000000", "must not start with 0"),
        ("2568083", "exactly 8 digits"),
        ("256808390", "exactly 8 digits"),
        ("2568083a", "exactly 8 digits"),
        ("ABCDEFGH", "exactly 8 digits"),
        ("", "exactly 8 digits"),
        (" 25680839", "exactly 8 digits"),
        ("25680839\n", "exactly 8 digits"),
        ("2568 0839", "exactly 8 digits"),
        (FULLWIDTH_CVR, "exactly 8 digits"),
        (ARABIC_INDIC_CVR, "exactly 8 digits"),
    ],
)
def test_invalid_cvr(cvr: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        validate_cvr(cvr)


def _cvr_rule(digits: str) -> bool:
    weights = (2, 7, 6, 5, 4, 3, 2, 1)
    return (
        digits[0] != "0" and sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11 == 0
    )


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789", min_size=8, max_size=8))
@example("25680839")
@example("05680839")
def test_cvr_accepted_iff_first_digit_nonzero_and_modulus_11(digits: str) -> None:
    try:
        validate_cvr(digits)
    except InvalidArgument:
        accepted = False
    else:
        accepted = True
    assert accepted == _cvr_rule(digits)


@settings(max_examples=200, deadline=None)
@given(st.integers(1_000_000, 9_999_999))
def test_every_seven_digit_prefix_with_a_valid_check_digit_is_accepted(prefix: int) -> None:
    # The 8th digit has weight 1, so exactly one check digit mod 11 completes any prefix;
    # when that digit would be 10 no valid CVR exists for the prefix.
    head = str(prefix)
    partial = sum(int(d) * w for d, w in zip(head, (2, 7, 6, 5, 4, 3, 2), strict=True))
    check = (-partial) % 11
    if check == 10:
        for last in "0123456789":
            with pytest.raises(InvalidArgument):
                validate_cvr(head + last)
    else:
        assert validate_cvr(head + str(check)) == head + str(check)


@pytest.mark.parametrize("se", ["12345678", "01234567", "00000000", "25680838"])
def test_valid_se(se: str) -> None:
    assert validate_se(se) == se


@pytest.mark.parametrize(
    "se",
    [
        "",
        "1234567",
        "123456789",
        "1234567a",
        FULLWIDTH_CVR,
        "1234 567",
    ],
)
def test_invalid_se(se: str) -> None:
    with pytest.raises(InvalidArgument, match="exactly 8 digits"):
        validate_se(se)


# -- ids, text, time zones -----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a", "door-1", "A.b_c:d-9", "x" * 64, "relay:0001.main"])
def test_valid_id(value: str) -> None:
    assert validate_id(value, field_name="door_id") == value


@pytest.mark.parametrize(
    "value", ["", "x" * 65, "a b", "a/b", "æble", "door\n", "\ndoor", "a\x00", "a@b", "a,b"]
)
def test_invalid_id_names_the_field(value: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^door_id must be 1-64"):
        validate_id(value, field_name="door_id")


def test_invalid_id_message_is_bounded() -> None:
    with pytest.raises(InvalidArgument) as info:
        validate_id("!" * 10_000, field_name="door_id")
    assert len(str(info.value)) < 200


def test_new_id_has_prefix_and_unambiguous_alphabet() -> None:
    ids = {new_id("kh") for _ in range(200)}
    assert len(ids) == 200
    for value in ids:
        assert value.startswith("kh_")
        assert len(value) == 19
        assert not set(value[3:]) & set("01lo")
        validate_id(value, field_name="key_holder_id")


def test_validate_text() -> None:
    assert validate_text("  Post Nord  ", field_name="name", max_len=20) == "Post Nord"
    assert validate_text("", field_name="label", max_len=5, required=False) == ""
    with pytest.raises(InvalidArgument, match="name is required"):
        validate_text("   ", field_name="name", max_len=20)
    with pytest.raises(InvalidArgument, match="at most 3"):
        validate_text("abcd", field_name="name", max_len=3)
    with pytest.raises(InvalidArgument, match="control characters"):
        validate_text("a\x07b", field_name="name", max_len=20)


def test_validate_time_zone() -> None:
    assert validate_time_zone("Europe/Copenhagen") == "Europe/Copenhagen"
    assert validate_time_zone("") == "Europe/Copenhagen"
    for bad in ("Mars/Olympus", "../../etc/passwd", "Europe/"):
        with pytest.raises(InvalidArgument, match="IANA"):
            validate_time_zone(bad)


def test_to_utc() -> None:
    cet = timezone(timedelta(hours=1))
    assert to_utc(datetime(2027, 1, 4, 8, 0, tzinfo=cet)) == NOW
    assert to_utc(datetime(2027, 1, 4, 8, 0, tzinfo=cet)).tzinfo is UTC
    with pytest.raises(InvalidArgument, match="time zone"):
        to_utc(datetime(2027, 1, 4, 8, 0))


# -- organisations -------------------------------------------------------------------------------


def org_kwargs(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "name": "PostNord Danmark",
        "cvr": None,
        "se": None,
        "public_body": False,
        "purpose": Purpose.POSTAL,
        "now": NOW,
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize(
    "identity",
    [{"cvr": "25680839"}, {"se": "01234567"}, {"public_body": True}],
    ids=["cvr", "se", "public_body"],
)
def test_new_organisation_with_exactly_one_identity(identity: dict[str, object]) -> None:
    org = new_organisation(**org_kwargs(**identity))  # type: ignore[arg-type]
    assert org.status is OrganisationStatus.PENDING
    assert org.organisation_id.startswith("org_")
    assert org.cvr == identity.get("cvr")
    assert org.se == identity.get("se")
    assert org.public_body is bool(identity.get("public_body"))
    assert org.purpose is Purpose.POSTAL
    assert org.created_at == NOW
    assert org.name == "PostNord Danmark"


@pytest.mark.parametrize(
    "identity",
    [
        {},
        {"cvr": "", "se": ""},
        {"cvr": "25680839", "se": "01234567"},
        {"cvr": "25680839", "public_body": True},
        {"se": "01234567", "public_body": True},
        {"cvr": "25680839", "se": "01234567", "public_body": True},
    ],
)
def test_new_organisation_needs_exactly_one_identity(identity: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument, match="exactly one of cvr, se or public_body"):
        new_organisation(**org_kwargs(**identity))  # type: ignore[arg-type]


def test_new_organisation_requires_purpose() -> None:
    with pytest.raises(InvalidArgument, match="purpose is required"):
        new_organisation(**org_kwargs(cvr="25680839", purpose=None))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "overrides",
    [{"cvr": "25680838"}, {"cvr": "0123456"}, {"se": "1234567"}, {"public_body": True, "name": ""}],
)
def test_new_organisation_validates_fields(overrides: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        new_organisation(**org_kwargs(**overrides))  # type: ignore[arg-type]


# -- grants --------------------------------------------------------------------------------------

ORG = new_organisation(**org_kwargs(cvr="25680839", purpose=Purpose.DELIVERY))  # type: ignore[arg-type]
HOLDER = KeyHolder(
    key_holder_id="kh_abcdefghijkmnp",
    organisation_id=ORG.organisation_id,
    status=HolderStatus.ACTIVE,
    created_at=NOW,
)
DOOR_TARGET = GrantTarget(door_id="door-1")
WINDOW = WeeklyWindow(frozenset({1, 2, 3, 4, 5}), 6 * 60, 9 * 60)


def make_grant(**overrides: object) -> Grant:
    kwargs: dict[str, object] = {
        "holder": HOLDER,
        "target": DOOR_TARGET,
        "organisation": ORG,
        "valid_from": None,
        "valid_until": NOW + timedelta(days=30),
        "windows": (WINDOW,),
        "now": NOW,
    }
    kwargs.update(overrides)
    return new_grant(**kwargs)  # type: ignore[arg-type]


def test_new_grant_defaults_start_to_now_and_normalises_to_utc() -> None:
    cet = timezone(timedelta(hours=1))
    g = make_grant(valid_until=datetime(2027, 2, 1, 1, 0, tzinfo=cet))
    assert g.valid_from == NOW
    assert g.valid_until == datetime(2027, 2, 1, 0, 0, tzinfo=UTC)
    assert g.valid_until.utcoffset() == timedelta(0)
    assert g.key_holder_id == HOLDER.key_holder_id
    assert g.organisation_id == ORG.organisation_id
    assert g.purpose is Purpose.DELIVERY  # the organisation's purpose
    assert g.windows == (WINDOW,)
    assert g.revoked_at is None
    assert g.grant_id.startswith("gr_")
    assert g.covers(Door(door_id="door-1", site_id="s", relay_id="r"))
    assert not g.covers(Door(door_id="door-2", site_id="s", relay_id="r"))


def test_new_grant_may_start_in_the_past_if_it_ends_in_the_future() -> None:
    g = make_grant(valid_from=NOW - timedelta(days=3), valid_until=NOW + timedelta(seconds=1))
    assert g.valid_from == NOW - timedelta(days=3)


def test_new_grant_site_target() -> None:
    g = make_grant(target=GrantTarget(site_id="site-1"))
    assert g.covers(Door(door_id="any", site_id="site-1", relay_id="r"))
    assert not g.covers(Door(door_id="any", site_id="site-2", relay_id="r"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"valid_until": None}, "never open-ended"),
        ({"valid_from": NOW + timedelta(days=2), "valid_until": NOW + timedelta(days=1)}, "after"),
        ({"valid_from": NOW + timedelta(days=1), "valid_until": NOW + timedelta(days=1)}, "after"),
        ({"valid_until": NOW + MAX_GRANT_VALIDITY + timedelta(seconds=1)}, "at most 5 years"),
        (
            {"valid_from": NOW - timedelta(days=2), "valid_until": NOW - timedelta(days=1)},
            "in the past",
        ),
        ({"valid_from": NOW - timedelta(days=2), "valid_until": NOW}, "in the past"),
        ({"windows": (WINDOW,) * (MAX_WINDOWS_PER_GRANT + 1)}, "at most 28 schedule windows"),
    ],
    ids=[
        "open-ended",
        "end-before-start",
        "end-equals-start",
        "over-5-years",
        "past",
        "ends-now",
        "too-many-windows",
    ],
)
def test_new_grant_rejects(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        make_grant(**overrides)


def test_new_grant_limits_are_inclusive() -> None:
    assert make_grant(valid_until=NOW + MAX_GRANT_VALIDITY).valid_until == NOW + MAX_GRANT_VALIDITY
    assert len(make_grant(windows=(WINDOW,) * MAX_WINDOWS_PER_GRANT).windows) == 28
    assert make_grant(windows=()).windows == ()
    assert timedelta(days=5 * 365 + 2) <= MAX_GRANT_VALIDITY  # five years, leap days included


def test_grant_target_needs_exactly_one_of_door_or_site() -> None:
    with pytest.raises(InvalidArgument, match="exactly one"):
        GrantTarget()
    with pytest.raises(InvalidArgument, match="exactly one"):
        GrantTarget(door_id="d", site_id="s")
    assert GrantTarget(door_id="d").key == "d:d"
    assert GrantTarget(site_id="s").key == "s:s"
