"""Who holds keys to a site: the organisations whose live grants reach its doors, as a site owner
is told (counts and doors, never which key holders)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from authority.domain.model import Grant


@dataclass(frozen=True, slots=True)
class OrganisationAccess:
    """One organisation's keys to one site, as of ``now``."""

    organisation_id: str
    grants: int
    """Live grants (not revoked, not ended) for the site or one of its doors."""
    key_holders: int
    doors: frozenset[str]
    """Doors reached through door grants; empty when every grant covers the whole site."""
    whole_site: bool
    """At least one grant covers every door of the site."""
    valid_until: datetime
    """When the last of these grants ends."""


def organisations_with_access(grants: Iterable[Grant], now: datetime) -> list[OrganisationAccess]:
    """Each organisation's live grants among ``grants`` (not revoked, not ended at ``now``),
    summarised; by organisation id."""
    by_org: dict[str, list[Grant]] = defaultdict(list)
    for g in grants:
        if g.revoked_at is None and g.valid_until > now:
            by_org[g.organisation_id].append(g)
    return [
        OrganisationAccess(
            organisation_id=org_id,
            grants=len(gs),
            key_holders=len({g.key_holder_id for g in gs}),
            doors=frozenset(g.target.door_id for g in gs if g.target.door_id is not None),
            whole_site=any(g.target.site_id is not None for g in gs),
            valid_until=max(g.valid_until for g in gs),
        )
        for org_id, gs in sorted(by_org.items())
    ]
