"""The access policy: what a grant may cover, per purpose (least privilege).

The operator admits an organisation for one legitimate purpose and only "to the extent necessary
for that purpose" (``../shared/domain.md``). A ``PurposeRule`` says, for one purpose, which kinds
of target a grant may name (a whole site, single doors), how long it may be valid, and in which
weekly windows it may open doors. ``AccessPolicy`` holds one rule per purpose.

It is checked twice:

* at issuance, ``AccessPolicy.check`` raises ``PolicyViolation`` naming the rule
  (``postal.windows``, ``delivery.max_validity``, ``private.targets``), so a partner's developer
  sees exactly what to change;
* at every decision, ``PurposeRule.permits`` (a few comparisons, no allocation) denies with
  ``OUTSIDE_POLICY`` what an older grant allows beyond a policy tightened since it was issued.

The built-in policy limits validity and targets only. Time windows depend on the operator's
published policy and are given in a TOML file (``AUTHORITY_ACCESS_POLICY_FILE``; the example in
``config/access-policy.toml`` restricts postal keys to weekday mornings)::

    [purposes.postal]
    max_validity_days = 366
    targets = ["site", "door"]
    windows = ["Mon-Sat 05:00-12:00"]

Every purpose must be listed: a purpose the operator forgot must not silently get the widest
rule.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from authority.domain.errors import FailedPrecondition, InvalidArgument
from authority.domain.model import MAX_GRANT_VALIDITY, Grant, Purpose
from authority.domain.schedule import MINUTES_PER_DAY, WeeklyWindow, parse_window

MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
_FULL_WEEK = (1 << MINUTES_PER_WEEK) - 1


class TargetKind(StrEnum):
    SITE = "site"
    """A grant for every door of a stairwell."""
    DOOR = "door"
    """A grant for one door."""


class PolicyViolation(FailedPrecondition):
    """A grant asks for more than its purpose's rule allows. ``rule`` names the rule broken,
    e.g. ``postal.windows``."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"access policy rule {rule}: {message}")
        self.rule = rule


def week_mask(windows: Iterable[WeeklyWindow]) -> int:
    """The minutes of the week (Monday 00:00 = bit 0, wall clock) the windows cover, as bits."""
    mask = 0
    for w in windows:
        for day in w.days:
            start = (day - 1) * MINUTES_PER_DAY + w.start_minute
            if not w.wraps_midnight:
                mask |= ((1 << (w.end_minute - w.start_minute)) - 1) << start
            else:
                mask |= ((1 << (MINUTES_PER_DAY - w.start_minute)) - 1) << start
                next_day = day % 7  # Sunday's night runs into Monday morning
                mask |= ((1 << w.end_minute) - 1) << (next_day * MINUTES_PER_DAY)
    return mask


@dataclass(frozen=True, slots=True, kw_only=True)
class PurposeRule:
    """What a grant for one purpose may cover."""

    purpose: Purpose
    max_validity: timedelta
    """Longest ``valid_until - valid_from``."""
    targets: frozenset[TargetKind]
    """Which kinds of target a grant may name."""
    windows: tuple[WeeklyWindow, ...] = ()
    """When grants may open doors (site wall clock); empty: at any time."""
    _mask: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not timedelta(hours=1) <= self.max_validity <= MAX_GRANT_VALIDITY:
            raise InvalidArgument(
                f"{self.purpose.value}: max_validity must be 1 hour to 5 years; "
                f"got {self.max_validity}"
            )
        if not self.targets:
            raise InvalidArgument(f"{self.purpose.value}: targets must name site and/or door")
        object.__setattr__(self, "_mask", week_mask(self.windows) if self.windows else _FULL_WEEK)

    def describe_windows(self) -> str:
        return ", ".join(w.describe() for w in self.windows) if self.windows else "any time"

    def check(self, grant: Grant) -> None:
        """Raise ``PolicyViolation`` (naming the rule) unless ``grant`` is within this rule."""
        name = self.purpose.value
        kind = TargetKind.DOOR if grant.target.door_id is not None else TargetKind.SITE
        if kind not in self.targets:
            allowed = " or ".join(sorted(t.value for t in self.targets))
            raise PolicyViolation(
                f"{name}.targets",
                f"{name} grants may name a {allowed}, not a {kind.value}",
            )
        validity = grant.valid_until - grant.valid_from
        if validity > self.max_validity:
            raise PolicyViolation(
                f"{name}.max_validity",
                f"{name} grants may be valid for at most {_days(self.max_validity)}; "
                f"this one is valid for {_days(validity)}",
            )
        if self.windows:
            if not grant.windows:
                raise PolicyViolation(
                    f"{name}.windows",
                    f"{name} grants must have schedule windows within "
                    f"{self.describe_windows()} (site local time); this one has none (any time)",
                )
            for w in grant.windows:
                if week_mask((w,)) & ~self._mask:
                    raise PolicyViolation(
                        f"{name}.windows",
                        f"window {w.describe()} reaches outside the times allowed for {name} "
                        f"grants: {self.describe_windows()} (site local time)",
                    )

    def permits(self, grant: Grant, local_now: datetime | None) -> bool:
        """Decision time: may ``grant`` open a door now? ``local_now`` is the site's wall clock
        (needed only when this rule has windows). Cheap: no allocation on the common path."""
        if grant.valid_until - grant.valid_from > self.max_validity:
            return False
        if (TargetKind.DOOR if grant.target.door_id is not None else TargetKind.SITE) not in (
            self.targets
        ):
            return False
        if self.windows and local_now is not None:
            return any(w.contains(local_now) for w in self.windows)
        return True


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """One rule per purpose. ``source`` says where it came from (a file, or built in)."""

    rules: Mapping[Purpose, PurposeRule]
    source: str = "built-in"

    def __post_init__(self) -> None:
        missing = [p.value for p in Purpose if p not in self.rules]
        if missing:
            raise InvalidArgument(f"the access policy has no rule for {', '.join(missing)}")

    def rule(self, purpose: Purpose) -> PurposeRule:
        return self.rules[purpose]

    def check(self, grant: Grant) -> None:
        """Issuance: raise ``PolicyViolation`` unless ``grant`` is within its purpose's rule."""
        self.rules[grant.purpose].check(grant)

    @classmethod
    def from_toml(cls, text: str, *, source: str) -> AccessPolicy:
        """Parse the policy file (see the module docstring); ``InvalidArgument`` naming the
        purpose and key on any mistake."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidArgument(f"access policy {source}: not valid TOML: {exc}") from exc
        purposes = data.get("purposes")
        if not isinstance(purposes, dict):
            raise InvalidArgument(f"access policy {source}: needs a [purposes.<name>] table")
        rules: dict[Purpose, PurposeRule] = {}
        for name, raw in purposes.items():
            try:
                purpose = Purpose(name)
            except ValueError as exc:
                raise InvalidArgument(
                    f"access policy {source}: unknown purpose {name!r} "
                    f"(one of {', '.join(p.value for p in Purpose)})"
                ) from exc
            rules[purpose] = _rule_from_table(purpose, raw, source)
        return cls(rules, source=source)


def _rule_from_table(purpose: Purpose, raw: object, source: str) -> PurposeRule:
    where = f"access policy {source}, purposes.{purpose.value}"
    if not isinstance(raw, dict):
        raise InvalidArgument(f"{where}: must be a table")
    unknown = set(raw) - {"max_validity_days", "targets", "windows"}
    if unknown:
        raise InvalidArgument(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    days = raw.get("max_validity_days")
    if not isinstance(days, int) or isinstance(days, bool):
        raise InvalidArgument(f"{where}.max_validity_days: an integer number of days is required")
    targets = raw.get("targets", ["site", "door"])
    windows = raw.get("windows", [])
    if not isinstance(targets, list) or not isinstance(windows, list):
        raise InvalidArgument(f"{where}: targets and windows must be lists")
    try:
        return PurposeRule(
            purpose=purpose,
            max_validity=timedelta(days=days),
            targets=frozenset(TargetKind(str(t)) for t in targets),
            windows=tuple(parse_window(str(w)) for w in windows),
        )
    except (ValueError, InvalidArgument) as exc:
        raise InvalidArgument(f"{where}: {exc}") from exc


def _days(delta: timedelta) -> str:
    days = delta.total_seconds() / 86_400
    return f"{days:g} days" if days == int(days) else f"{days:.1f} days"


BOTH = frozenset({TargetKind.SITE, TargetKind.DOOR})

BUILT_IN_POLICY = AccessPolicy(
    {
        # Keys for a route or a care plan are re-issued at least yearly (rosters change).
        Purpose.POSTAL: PurposeRule(
            purpose=Purpose.POSTAL, max_validity=timedelta(days=366), targets=BOTH
        ),
        Purpose.DELIVERY: PurposeRule(
            purpose=Purpose.DELIVERY, max_validity=timedelta(days=366), targets=BOTH
        ),
        Purpose.PUBLIC_SERVICE: PurposeRule(
            purpose=Purpose.PUBLIC_SERVICE, max_validity=timedelta(days=2 * 366), targets=BOTH
        ),
        # A household shares its own door unit: single doors, never a whole stairwell.
        Purpose.PRIVATE: PurposeRule(
            purpose=Purpose.PRIVATE,
            max_validity=timedelta(days=366),
            targets=frozenset({TargetKind.DOOR}),
        ),
    }
)
"""Validity and targets only: time windows are the operator's published policy (a file)."""
