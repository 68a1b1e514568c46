"""The access policy: per purpose, what a grant may cover; checked at issuance (naming the rule)
and at decision time (OUTSIDE_POLICY)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authority.domain.decision import DecisionReason, decide_unlock
from authority.domain.errors import FailedPrecondition, InvalidArgument
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
from authority.domain.policy import (
    BUILT_IN_POLICY,
    AccessPolicy,
    PolicyViolation,
    week_mask,
)
from authority.domain.schedule import WeeklyWindow, parse_window

NOW = datetime(2027, 1, 4, 7, 0, tzinfo=UTC)  # Monday 08:00 in Copenhagen
EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "access-policy.toml"
STRICT = AccessPolicy.from_toml(
    """
[purposes.postal]
max_validity_days = 366
targets = ["site", "door"]
windows = ["Mon-Fri 05:00-10:00"]

[purposes.delivery]
max_validity_days = 90
windows = ["Mon-Sun 06:00-22:00"]

[purposes.public_service]
max_validity_days = 731

[purposes.private]
max_validity_days = 366
targets = ["door"]
""",
    source="test",
)


def grant(purpose: Purpose = Purpose.POSTAL, **kw: object) -> Grant:
    fields: dict[str, object] = {
        "grant_id": "gr_1", "key_holder_id": "kh_1", "target": GrantTarget(site_id="site_1"),
        "organisation_id": "org_1", "purpose": purpose, "valid_from": NOW - timedelta(days=1),
        "valid_until": NOW + timedelta(days=30), "windows": (parse_window("Mon-Fri 06:00-09:00"),),
    }  # fmt: skip
    fields.update(kw)
    return Grant(**fields)  # type: ignore[arg-type]


def test_issuance_names_the_rule() -> None:
    STRICT.check(grant())
    with pytest.raises(PolicyViolation) as info:
        STRICT.check(grant(windows=(parse_window("Mon-Fri 04:30-09:00"),)))
    assert info.value.rule == "postal.windows"
    assert "Mon,Tue,Wed,Thu,Fri 04:30-09:00" in str(info.value)
    assert isinstance(info.value, FailedPrecondition)
    with pytest.raises(PolicyViolation, match=r"postal\.windows.*none \(any time\)"):
        STRICT.check(grant(windows=()))
    with pytest.raises(PolicyViolation, match=r"delivery\.max_validity.*90 days"):
        STRICT.check(grant(Purpose.DELIVERY, valid_until=NOW + timedelta(days=95)))
    with pytest.raises(PolicyViolation, match=r"private\.targets"):
        STRICT.check(grant(Purpose.PRIVATE, windows=()))
    STRICT.check(grant(Purpose.PRIVATE, target=GrantTarget(door_id="d1"), windows=()))
    STRICT.check(grant(Purpose.PUBLIC_SERVICE, windows=()))


def test_night_windows_are_contained_across_midnight_and_sunday() -> None:
    policy = AccessPolicy.from_toml(
        "\n".join(
            f'[purposes.{p.value}]\nmax_validity_days = 60\nwindows = ["Sun 20:00-08:00"]'
            for p in Purpose
        ),
        source="night",
    )
    policy.check(grant(windows=(parse_window("Sun 22:00-06:00"),)))
    policy.check(grant(windows=(parse_window("Mon 01:00-02:00"),)))  # Sunday's night, Monday
    with pytest.raises(PolicyViolation):
        policy.check(grant(windows=(parse_window("Mon 22:00-06:00"),)))


@given(
    st.frozensets(st.integers(1, 7), min_size=1),
    st.integers(0, 1439),
    st.integers(1, 1440),
    st.integers(0, 7 * 1440 - 1),
)
def test_week_mask_agrees_with_window_contains(
    days: frozenset[int], start: int, end: int, minute_of_week: int
) -> None:
    window = WeeklyWindow(days, start, end)
    monday = datetime(2027, 1, 4)  # naive wall clock: contains() reads weekday, hour, minute
    local = monday + timedelta(minutes=minute_of_week)
    assert bool(week_mask([window]) >> minute_of_week & 1) == window.contains(local)


def test_decision_time_check_denies_outside_policy() -> None:
    site = Site(site_id="site_1", address="a", owner_id="o")
    door = Door(door_id="d1", site_id="site_1", relay_id="r1")
    org = Organisation(
        organisation_id="org_1", name="P", cvr="25680839", se=None, public_body=False,
        purpose=Purpose.POSTAL, status=OrganisationStatus.APPROVED, status_reason="",
        created_at=NOW,
    )  # fmt: skip
    # Issued under a looser policy: any time. The policy in force allows weekday mornings.
    anytime = grant(windows=())

    def decide(at: datetime, policy: AccessPolicy | None = STRICT) -> DecisionReason:
        return decide_unlock(
            door=door, site=site, holder_status=HolderStatus.ACTIVE, grants=[anytime],
            organisations={"org_1": org}, now=at, policy=policy,
        ).reason  # fmt: skip

    assert decide(NOW) is DecisionReason.GRANTED  # Monday 08:00 local
    evening = NOW + timedelta(hours=12)
    assert decide(evening) is DecisionReason.OUTSIDE_POLICY
    assert decide(evening, policy=None) is DecisionReason.GRANTED
    assert decide(evening, policy=BUILT_IN_POLICY) is DecisionReason.GRANTED
    too_long = grant(windows=(), valid_until=NOW + timedelta(days=400))
    reason = decide_unlock(
        door=door, site=site, holder_status=HolderStatus.ACTIVE, grants=[too_long],
        organisations={"org_1": org}, now=NOW, policy=BUILT_IN_POLICY,
    ).reason  # fmt: skip
    assert reason is DecisionReason.OUTSIDE_POLICY


def test_policy_files_are_validated() -> None:
    with pytest.raises(InvalidArgument, match="no rule for"):
        AccessPolicy.from_toml("[purposes.postal]\nmax_validity_days = 3", source="f")
    with pytest.raises(InvalidArgument, match="unknown purpose 'parcel'"):
        AccessPolicy.from_toml("[purposes.parcel]\nmax_validity_days = 3", source="f")
    with pytest.raises(InvalidArgument, match=r"purposes\.postal.*schedule window"):
        AccessPolicy.from_toml(
            '[purposes.postal]\nmax_validity_days = 3\nwindows = ["mornings"]', source="f"
        )
    with pytest.raises(InvalidArgument, match="not valid TOML"):
        AccessPolicy.from_toml("[purposes", source="f")


def test_the_example_policy_file_loads() -> None:
    policy = AccessPolicy.from_toml(EXAMPLE.read_text(), source=str(EXAMPLE))
    assert policy.rule(Purpose.POSTAL).windows
    policy.check(grant(windows=(parse_window("Mon-Fri 06:00-09:00"),)))
