"""``decide_unlock``: may this key holder open this door now? Pure, total and deterministic."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from authority.domain.model import (
    Door,
    Grant,
    HolderStatus,
    Organisation,
    OrganisationStatus,
    Site,
)
from authority.domain.policy import AccessPolicy


class DecisionReason(StrEnum):
    """The closed set of reasons. ``GRANTED`` is the only reason that comes with ALLOW."""

    GRANTED = "granted"
    NO_GRANT = "no_grant"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    OUTSIDE_SCHEDULE = "outside_schedule"
    REVOKED = "revoked"
    ORGANISATION_NOT_APPROVED = "organisation_not_approved"
    ORGANISATION_SUSPENDED = "organisation_suspended"
    ORGANISATION_BLOCKED_BY_SITE_OWNER = "organisation_blocked_by_site_owner"
    DOOR_UNKNOWN = "door_unknown"
    HOLDER_SUSPENDED = "holder_suspended"
    HOLDER_RESTRICTED = "holder_restricted"
    """Processing of the holder's data is restricted at their request (privacy)."""
    OFFLINE_NOT_ALLOWED = "offline_not_allowed"
    """An offline token was asked for at a site whose owner does not allow offline opening."""
    OUTSIDE_POLICY = "outside_policy"
    """The grant would allow, but the access policy in force for its purpose does not (a time
    outside the purpose's windows, or a grant wider than the policy allows today: the policy
    was tightened after the grant was issued)."""


# When no grant allows, the holder is told about the grant that came closest: a grant that is
# only outside its schedule is more useful to report than a revoked one. Higher = closer.
_CLOSENESS: Mapping[DecisionReason, int] = {
    DecisionReason.NO_GRANT: 0,
    DecisionReason.REVOKED: 1,
    DecisionReason.ORGANISATION_NOT_APPROVED: 2,
    DecisionReason.ORGANISATION_SUSPENDED: 3,
    DecisionReason.ORGANISATION_BLOCKED_BY_SITE_OWNER: 4,
    DecisionReason.OUTSIDE_POLICY: 5,
    DecisionReason.EXPIRED: 6,
    DecisionReason.NOT_YET_VALID: 7,
    DecisionReason.OUTSIDE_SCHEDULE: 8,
}


@dataclass(frozen=True, slots=True)
class UnlockDecision:
    reason: DecisionReason
    grant: Grant | None = None

    @property
    def allowed(self) -> bool:
        return self.reason is DecisionReason.GRANTED


def decide_unlock(
    *,
    door: Door | None,
    site: Site | None,
    holder_status: HolderStatus,
    grants: Sequence[Grant],
    organisations: Mapping[str, Organisation],
    now: datetime,
    offline: bool = False,
    policy: AccessPolicy | None = None,
) -> UnlockDecision:
    """Decide from the holder's grants for ``door`` (or its site) at instant ``now`` (aware).

    ``grants`` may contain grants for other doors; only those covering ``door`` count.
    ``organisations`` resolves each grant's issuing organisation (a missing one never allows).
    ``offline``: the holder asks for an offline token; a site that does not allow offline
    opening then refuses what would have been allowed (a refusal for another reason is reported
    as that reason: it is what the holder needs to know).
    ``policy``: the access policy in force; a grant that would allow but is outside its
    purpose's rule now (time of week, or wider than the rule) refuses with ``OUTSIDE_POLICY``.
    """
    if door is None or site is None:
        return UnlockDecision(DecisionReason.DOOR_UNKNOWN)
    if holder_status is not HolderStatus.ACTIVE:
        if holder_status is HolderStatus.RESTRICTED:
            return UnlockDecision(DecisionReason.HOLDER_RESTRICTED)
        return UnlockDecision(DecisionReason.HOLDER_SUSPENDED)

    best = DecisionReason.NO_GRANT
    best_grant: Grant | None = None
    local_now: datetime | None = None
    for grant in grants:
        if not grant.covers(door):
            continue
        reason = _grant_refusal(grant, site, organisations, now)
        if reason is None:
            if grant.windows:
                if local_now is None:
                    local_now = now.astimezone(site.zone)
                if not any(w.contains(local_now) for w in grant.windows):
                    reason = DecisionReason.OUTSIDE_SCHEDULE
            if reason is None and policy is not None:
                rule = policy.rules[grant.purpose]
                if rule.windows and local_now is None:
                    local_now = now.astimezone(site.zone)
                if not rule.permits(grant, local_now):
                    reason = DecisionReason.OUTSIDE_POLICY
            if reason is None:
                if offline and not site.offline_allowed:
                    return UnlockDecision(DecisionReason.OFFLINE_NOT_ALLOWED, grant)
                return UnlockDecision(DecisionReason.GRANTED, grant)
        if _CLOSENESS[reason] > _CLOSENESS[best]:
            best, best_grant = reason, grant
    return UnlockDecision(best, best_grant)


def _grant_refusal(
    grant: Grant, site: Site, organisations: Mapping[str, Organisation], now: datetime
) -> DecisionReason | None:
    """Why this grant cannot open the door now, schedule aside; ``None`` if it can."""
    if grant.revoked_at is not None and grant.revoked_at <= now:
        return DecisionReason.REVOKED
    org = organisations.get(grant.organisation_id)
    if org is None or org.status in (OrganisationStatus.PENDING, OrganisationStatus.REJECTED):
        return DecisionReason.ORGANISATION_NOT_APPROVED
    if org.status is OrganisationStatus.SUSPENDED:
        return DecisionReason.ORGANISATION_SUSPENDED
    if grant.organisation_id in site.blocked_organisations:
        return DecisionReason.ORGANISATION_BLOCKED_BY_SITE_OWNER
    if now >= grant.valid_until:
        return DecisionReason.EXPIRED
    if now < grant.valid_from:
        return DecisionReason.NOT_YET_VALID
    return None
