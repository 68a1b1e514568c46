"""Administrative use cases of the directory: organisations, sites, doors and their relays, key
holders and their device keys.

Each method takes the authenticated ``Principal`` first, checks the tenant boundary, validates
through the domain constructors and writes through a narrow port. Ids in another tenant answer
NOT_FOUND, exactly like ids that do not exist.
"""

from __future__ import annotations

import json
from dataclasses import replace

from authority.domain.credentials import (
    Principal,
    Role,
    new_credential,
    new_organisation_key,
)
from authority.domain.errors import (
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from authority.domain.model import (
    Door,
    GrantTarget,
    HolderStatus,
    KeyHolder,
    Organisation,
    OrganisationStatus,
    Purpose,
    Site,
    new_id,
    new_organisation,
    validate_id,
    validate_text,
    validate_time_zone,
)
from authority.domain.offline import live_targets
from authority.domain.ports.accesslog import EventRecorder
from authority.domain.ports.clock import Clock
from authority.domain.ports.credentials import CredentialStore
from authority.domain.ports.directory import DirectoryWriter
from authority.domain.ports.grants import DeviceKeyStore, GrantLister, HolderStore
from authority.domain.relay import key_fingerprint, validate_ed25519_public_key
from authority.usecases.audit_trail import AuditTrail, epochs_detail
from authority.usecases.auth import (
    acting_organisation,
    may_see_organisation_data,
    may_see_site,
    require_admin,
)
from authority.usecases.epochs import EpochBumps

CAS_ATTEMPTS = 16


class DirectoryCommands:
    def __init__(
        self,
        *,
        directory: DirectoryWriter,
        holders: HolderStore,
        credentials: CredentialStore,
        clock: Clock,
        events: EventRecorder,
        grants: GrantLister,
        device_keys: DeviceKeyStore,
        epoch_bumps: EpochBumps,
    ) -> None:
        self._dir = directory
        self._holders = holders
        self._creds = credentials
        self._clock = clock
        self._audit = AuditTrail(events)
        self._grants = grants
        self._device_keys = device_keys
        self._bumps = epoch_bumps

    # -- organisations -----------------------------------------------------------------------

    async def create_organisation(
        self,
        principal: Principal,
        *,
        name: str,
        cvr: str,
        se: str,
        public_body: bool,
        purpose: Purpose | None,
    ) -> tuple[Organisation, str]:
        require_admin(principal)
        org = new_organisation(
            name=name,
            cvr=cvr,
            se=se,
            public_body=public_body,
            purpose=purpose,
            now=self._clock.now(),
        )
        key_id, credential, key_digest = new_organisation_key()
        principal_json = Principal(
            role=Role.ORGANISATION, credential_id=key_id, organisation_id=org.organisation_id
        ).to_json()
        # The credential first: an org without its key would be unusable, a key without its
        # org authenticates to a tenant that does not exist and can do nothing.
        await self._creds.put_credential(key_id, key_digest, principal_json)
        await self._dir.put_organisation(org, expected=None, create=True)
        await self._audit.admin(
            principal, "organisation.create", organisation_id=org.organisation_id
        )
        return org, credential

    async def get_organisation(self, principal: Principal, organisation_id: str) -> Organisation:
        org = await self._dir.get_organisation(organisation_id)
        if org is None or not may_see_organisation_data(principal, organisation_id):
            raise NotFound(f"organisation {organisation_id} does not exist")
        await self._audit.lookup(principal, "organisation.get", organisation_id=organisation_id)
        return org

    async def set_organisation_status(
        self,
        principal: Principal,
        organisation_id: str,
        status: OrganisationStatus | None,
        reason: str,
    ) -> Organisation:
        require_admin(principal)
        if status not in (
            OrganisationStatus.APPROVED,
            OrganisationStatus.REJECTED,
            OrganisationStatus.SUSPENDED,
        ):
            raise InvalidArgument("status must be APPROVED, REJECTED or SUSPENDED")
        reason = validate_text(
            reason,
            field_name="reason",
            max_len=500,
            required=status is not OrganisationStatus.APPROVED,
        )
        current = await self._dir.get_organisation(organisation_id)
        if current is None:
            raise NotFound(f"organisation {organisation_id} does not exist")
        updated = replace(current, status=status, status_reason=reason)
        await self._dir.put_organisation(updated, expected=current, create=False)
        await self._audit.admin(
            principal,
            f"organisation.{status.value}",
            organisation_id=organisation_id,
            reason=reason,
        )
        return updated

    # -- sites and doors ---------------------------------------------------------------------

    async def create_site(
        self,
        principal: Principal,
        *,
        address: str,
        owner_id: str,
        time_zone: str,
        offline_allowed: bool,
    ) -> Site:
        require_admin(principal)
        site = Site(
            site_id=new_id("site"),
            address=validate_text(address, field_name="address", max_len=300),
            owner_id=validate_text(owner_id, field_name="owner_id", max_len=100),
            time_zone=validate_time_zone(time_zone),
            offline_allowed=offline_allowed,
        )
        await self._dir.put_site(site, expected=None, create=True)
        await self._audit.admin(principal, "site.create", site_id=site.site_id)
        return site

    async def get_site(self, principal: Principal, site_id: str) -> Site:
        site = await self._dir.get_site(site_id)
        if site is None or not may_see_site(principal, site):
            raise NotFound(f"site {site_id} does not exist")
        await self._audit.lookup(principal, "site.get", site_id=site_id)
        return site

    async def create_door(
        self,
        principal: Principal,
        *,
        door_id: str,
        site_id: str,
        relay_id: str,
        label: str,
        relay_public_key: bytes = b"",
    ) -> Door:
        require_admin(principal)
        door = Door(
            door_id=validate_id(door_id, field_name="door_id"),
            site_id=validate_id(site_id, field_name="site_id"),
            relay_id=validate_id(relay_id, field_name="relay_id"),
            label=validate_text(label, field_name="label", max_len=100, required=False),
            relay_public_key=validate_ed25519_public_key(
                relay_public_key, field_name="relay_public_key"
            )
            if relay_public_key
            else None,
        )
        await self._dir.put_door(door)
        await self._audit.admin(
            principal,
            "door.create",
            door_id=door.door_id,
            site_id=door.site_id,
            relay_id=door.relay_id,
            detail=_relay_key_detail(door),
        )
        return door

    async def set_door_relay_key(
        self, principal: Principal, *, door_id: str, relay_public_key: bytes, relay_id: str
    ) -> Door:
        """Register or replace the public key of a door's relay (a relay installed or replaced);
        ``relay_id`` (optional) renames the relay too, when the new one has another identity."""
        require_admin(principal)
        key = validate_ed25519_public_key(relay_public_key, field_name="relay_public_key")
        current = await self._dir.get_door(validate_id(door_id, field_name="door_id"))
        if current is None:
            raise NotFound(f"door {door_id} does not exist")
        updated = replace(
            current,
            relay_public_key=key,
            relay_id=validate_id(relay_id, field_name="relay_id") if relay_id else current.relay_id,
        )
        await self._dir.put_door(updated, expected=current)
        await self._audit.admin(
            principal,
            "door.relay_key",
            door_id=updated.door_id,
            site_id=updated.site_id,
            relay_id=updated.relay_id,
            detail=_relay_key_detail(updated, previous=current),
        )
        return updated

    async def get_door(self, principal: Principal, door_id: str) -> Door:
        door = await self._dir.get_door(door_id)
        site = await self._dir.get_site(door.site_id) if door is not None else None
        if door is None or site is None or not may_see_site(principal, site):
            raise NotFound(f"door {door_id} does not exist")
        await self._audit.lookup(principal, "door.get", door_id=door_id, site_id=door.site_id)
        return door

    # -- key holders -------------------------------------------------------------------------

    async def create_key_holder(self, principal: Principal, organisation_id: str) -> KeyHolder:
        org_id = acting_organisation(principal, organisation_id)
        if await self._dir.get_organisation(org_id) is None:
            raise NotFound(f"organisation {org_id} does not exist")
        holder = KeyHolder(
            key_holder_id=new_id("kh"),
            organisation_id=org_id,
            status=HolderStatus.ACTIVE,
            created_at=self._clock.now(),
        )
        # The holder's hash keeps the digest of a credential nobody is shown: nothing long-lived
        # reaches a phone (and a holder credential without a session is refused); apps log in.
        _, cred_digest = new_credential(holder.key_holder_id)
        await self._holders.create_holder(holder, cred_digest)
        await self._audit.admin(
            principal, "holder.create", organisation_id=org_id, holder_id=holder.key_holder_id
        )
        return holder

    async def _visible_holder(self, principal: Principal, holder_id: str) -> KeyHolder:
        holder = await self._holders.get_holder(holder_id)
        visible = holder is not None and (
            may_see_organisation_data(principal, holder.organisation_id)
            or principal.key_holder_id == holder_id
        )
        if holder is None or not visible:
            raise NotFound(f"key holder {holder_id} does not exist")
        return holder

    async def get_key_holder(self, principal: Principal, holder_id: str) -> KeyHolder:
        holder = await self._visible_holder(principal, holder_id)
        await self._audit.lookup(
            principal, "holder.get", organisation_id=holder.organisation_id, holder_id=holder_id
        )
        return holder

    async def set_key_holder_status(
        self, principal: Principal, holder_id: str, status: HolderStatus | None
    ) -> KeyHolder:
        if status is None:
            raise InvalidArgument("status must be ACTIVE or SUSPENDED")
        holder = await self._visible_holder(principal, holder_id)
        if not may_see_organisation_data(principal, holder.organisation_id):
            raise NotFound(f"key holder {holder_id} does not exist")
        if holder.status is HolderStatus.RESTRICTED:
            raise FailedPrecondition(
                f"processing of key holder {holder_id} is restricted at their request: only "
                "PrivacyService.LiftRestriction changes that"
            )
        updated = await self._holders.set_holder_status(holder_id, status)
        bumped: dict[str, int] = {}
        if status is HolderStatus.SUSPENDED:  # a lost phone: its offline tokens must die too
            bumped = await self._bump_holder_sites(holder_id)
        await self._audit.admin(
            principal,
            f"holder.{status.value}",
            organisation_id=holder.organisation_id,
            holder_id=holder_id,
            detail=epochs_detail(bumped),
        )
        return updated

    async def set_site_organisation_blocked(
        self, principal: Principal, *, site_id: str, organisation_id: str, blocked: bool
    ) -> Site:
        """A site owner blocks an organisation from one of their sites, or lifts the block
        (platform admins too). Effective for the next decision on every process (a directory
        change); blocking raises the site's revocation epoch when it allows offline opening."""
        if principal.role not in (Role.ADMIN, Role.SITE_OWNER):
            raise PermissionDenied("this call is for site owners and platform administrators")
        validate_id(site_id, field_name="site_id")
        validate_id(organisation_id, field_name="organisation_id")
        site = await self._dir.get_site(site_id)
        # The site first: another owner's site answers as if it did not exist, whatever the
        # organisation named.
        if site is None or not may_see_site(principal, site):
            raise NotFound(f"site {site_id} does not exist")
        if await self._dir.get_organisation(organisation_id) is None:
            raise NotFound(f"organisation {organisation_id} does not exist")
        for _ in range(CAS_ATTEMPTS):
            current = await self._dir.get_site(site_id)
            if current is None:
                raise NotFound(f"site {site_id} does not exist")
            blocked_now = (
                current.blocked_organisations | {organisation_id}
                if blocked
                else current.blocked_organisations - {organisation_id}
            )
            updated = replace(current, blocked_organisations=frozenset(blocked_now))
            if updated == current:
                break
            try:
                await self._dir.put_site(updated, expected=current, create=False)
            except Conflict:
                continue
            break
        else:
            raise Conflict(f"site {site_id} is being changed concurrently; retry")
        bumped: dict[str, int] = {}
        if blocked and updated.offline_allowed:
            # Offline tokens of the organisation's holders must stop at the relays too.
            bumped = await self._bumps.after_revoking([GrantTarget(site_id=site_id)])
        await self._audit.admin(
            principal,
            "site.block_organisation" if blocked else "site.unblock_organisation",
            site_id=site_id,
            organisation_id=organisation_id,
            detail=epochs_detail(bumped),
        )
        return replace(updated, revocation_epoch=bumped.get(site_id, updated.revocation_epoch))

    async def register_device_key(self, principal: Principal, device_key: bytes) -> bool:
        """A key holder registers their device's Ed25519 public key (offline tokens are bound to
        it). Replacing a key raises the revocation epoch of the offline sites the holder has
        grants for, so offline tokens bound to the old device stop opening doors. Whether a
        different key was replaced."""
        if principal.role is not Role.KEY_HOLDER or principal.key_holder_id is None:
            raise PermissionDenied("only key holders register device keys (use the app credential)")
        key = validate_ed25519_public_key(device_key, field_name="device_public_key")
        holder_id = principal.key_holder_id
        previous = await self._device_keys.set_device_key(holder_id, key)
        replaced = previous is not None and previous != key
        bumped = await self._bump_holder_sites(holder_id) if replaced else {}
        holder = await self._holders.get_holder(holder_id)
        await self._audit.admin(
            principal,
            "holder.device_key",
            organisation_id=holder.organisation_id if holder else "",
            holder_id=holder_id,
            detail=json.dumps(
                {
                    "device_key": key_fingerprint(key),
                    "replaced": replaced,
                    **({"epochs": bumped} if bumped else {}),
                },
                sort_keys=True,
                separators=(",", ":"),
            ),
        )
        return replaced

    async def _bump_holder_sites(self, holder_id: str) -> dict[str, int]:
        grants = await self._grants.list_grants(holder_id)
        return await self._bumps.after_revoking(live_targets(grants, self._clock.now()))


def _relay_key_detail(door: Door, previous: Door | None = None) -> str:
    facts: dict[str, str] = {}
    if door.relay_public_key is not None:
        facts["relay_key"] = key_fingerprint(door.relay_public_key)
    if previous is not None and previous.relay_public_key is not None:
        facts["replaced_relay_key"] = key_fingerprint(previous.relay_public_key)
    if previous is not None and previous.relay_id != door.relay_id:
        facts["replaced_relay_id"] = previous.relay_id
    return json.dumps(facts, sort_keys=True, separators=(",", ":")) if facts else ""
