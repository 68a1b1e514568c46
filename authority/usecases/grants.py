"""Administrative use cases of grants (keys): issue, revoke and list one holder's grants.

Like the directory's: the authenticated ``Principal`` first, the tenant boundary, validation
through the domain constructors (and the access policy), then a narrow port.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from authority.domain.credentials import (
    Principal,
    Role,
)
from authority.domain.eligibility import ensure_issues_keys, ensure_may_receive_grants
from authority.domain.errors import (
    InvalidArgument,
    NotFound,
)
from authority.domain.model import (
    Grant,
    GrantTarget,
    new_grant,
    validate_id,
)
from authority.domain.offline import live_targets
from authority.domain.policy import BUILT_IN_POLICY, AccessPolicy
from authority.domain.ports.accesslog import EventRecorder
from authority.domain.ports.clock import Clock
from authority.domain.ports.directory import DirectoryWriter
from authority.domain.ports.grants import GrantStore, HolderStore
from authority.domain.schedule import WeeklyWindow
from authority.usecases.audit_trail import AuditTrail, epochs_detail, grant_facts
from authority.usecases.auth import (
    acting_organisation,
    may_see_organisation_data,
)
from authority.usecases.epochs import EpochBumps


class GrantCommands:
    def __init__(
        self,
        *,
        directory: DirectoryWriter,
        holders: HolderStore,
        grants: GrantStore,
        clock: Clock,
        events: EventRecorder,
        epoch_bumps: EpochBumps,
        policy: AccessPolicy = BUILT_IN_POLICY,
    ) -> None:
        self._dir = directory
        self._holders = holders
        self._grants = grants
        self._clock = clock
        self._audit = AuditTrail(events)
        self._bumps = epoch_bumps
        self._policy = policy

    async def issue_grant(
        self,
        principal: Principal,
        *,
        holder_id: str,
        door_id: str,
        site_id: str,
        organisation_id: str,
        valid_from: datetime | None,
        valid_until: datetime | None,
        windows: Iterable[WeeklyWindow],
    ) -> Grant:
        org_id = acting_organisation(principal, organisation_id)
        if bool(door_id) == bool(site_id):
            raise InvalidArgument("give exactly one of door_id or site_id")
        org = await self._dir.get_organisation(org_id)
        if org is None:
            raise NotFound(f"organisation {org_id} does not exist")
        ensure_issues_keys(org)
        holder = await self._holders.get_holder(holder_id)
        if holder is None or not may_see_organisation_data(principal, holder.organisation_id):
            raise NotFound(f"key holder {holder_id} does not exist")
        ensure_may_receive_grants(holder, org_id)
        if door_id:
            if await self._dir.get_door(validate_id(door_id, field_name="door_id")) is None:
                raise NotFound(f"door {door_id} does not exist")
            target = GrantTarget(door_id=door_id)
        else:
            if await self._dir.get_site(validate_id(site_id, field_name="site_id")) is None:
                raise NotFound(f"site {site_id} does not exist")
            target = GrantTarget(site_id=site_id)
        grant = new_grant(
            holder=holder,
            target=target,
            organisation=org,
            valid_from=valid_from,
            valid_until=valid_until,
            windows=windows,
            now=self._clock.now(),
        )
        self._policy.check(grant)
        await self._grants.add_grant(grant)
        await self._audit.admin(principal, "grant.issue", **grant_facts(grant))
        return grant

    async def revoke_grant(self, principal: Principal, grant_id: str) -> Grant:
        grant = await self._grants.get_grant(grant_id)
        if grant is None or not may_see_organisation_data(principal, grant.organisation_id):
            raise NotFound(f"grant {grant_id} does not exist")
        revoked = await self._grants.revoke_grant(grant_id, at=self._clock.now())
        # After the revocation is stored (see authority.usecases.epochs); again on a retried revoke.
        bumped = await self._bumps.after_revoking(live_targets([revoked], self._clock.now()))
        await self._audit.admin(
            principal, "grant.revoke", **grant_facts(revoked), detail=epochs_detail(bumped)
        )
        return revoked

    async def list_grants(self, principal: Principal, holder_id: str) -> list[Grant]:
        holder = await self._holders.get_holder(holder_id)
        visible = holder is not None and (
            may_see_organisation_data(principal, holder.organisation_id)
            or principal.key_holder_id == holder_id
        )
        if holder is None or not visible:
            raise NotFound(f"key holder {holder_id} does not exist")
        grants = await self._grants.list_grants(holder_id)
        if principal.role is Role.ORGANISATION:
            grants = [g for g in grants if g.organisation_id == principal.organisation_id]
        await self._audit.lookup(
            principal,
            "grants.list",
            organisation_id=holder.organisation_id,
            holder_id=holder_id,
            detail=json.dumps({"count": len(grants)}),
        )
        return grants
