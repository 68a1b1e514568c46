"""Credentials of systems: organisations' API credentials (with scopes; created, listed,
rotated with an overlap, revoked) and relay bridges' credentials.

The secret is shown once, when created; only its digest is stored. Every change and every
listing is an access-log event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from authority.domain.credentials import (
    Principal,
    Role,
    new_bridge_key,
    new_organisation_key,
)
from authority.domain.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from authority.domain.model import validate_id, validate_text
from authority.domain.permissions import ApiScope
from authority.domain.ports.accesslog import EventRecorder
from authority.domain.ports.clock import Clock
from authority.domain.ports.credentials import CredentialStore
from authority.domain.ports.directory import OrganisationReader
from authority.domain.ports.identity import ApiCredentialIndex
from authority.usecases.audit_trail import AuditTrail, event_detail
from authority.usecases.auth import acting_organisation, may_see_organisation_data


@dataclass(frozen=True, slots=True)
class ApiCredentialInfo:
    credential_id: str
    organisation_id: str
    scopes: tuple[str, ...]
    label: str
    created_at: int
    rotated_at: int = 0
    revoked_at: int = 0

    def revoked(self, now: int) -> bool:
        return bool(self.revoked_at) and self.revoked_at <= now

    def to_json(self) -> str:
        return json.dumps(
            {
                "scopes": list(self.scopes),
                "label": self.label,
                "created_at": self.created_at,
                "rotated_at": self.rotated_at,
                "revoked_at": self.revoked_at,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, credential_id: str, organisation_id: str, raw: str) -> ApiCredentialInfo:
        d = json.loads(raw)
        return cls(
            credential_id=credential_id,
            organisation_id=organisation_id,
            scopes=tuple(d["scopes"]),
            label=d["label"],
            created_at=int(d["created_at"]),
            rotated_at=int(d.get("rotated_at", 0)),
            revoked_at=int(d.get("revoked_at", 0)),
        )


class ApiCredentials:
    def __init__(
        self,
        *,
        index: ApiCredentialIndex,
        credentials: CredentialStore,
        organisations: OrganisationReader,
        clock: Clock,
        events: EventRecorder,
    ) -> None:
        self._index = index
        self._creds = credentials
        self._orgs = organisations
        self._clock = clock
        self._audit = AuditTrail(events)

    def now(self) -> int:
        """POSIX seconds by the authority's clock."""
        return int(self._clock.now().timestamp())

    async def create_api_credential(
        self, principal: Principal, *, organisation_id: str, scopes: list[str], label: str
    ) -> tuple[ApiCredentialInfo, str]:
        org_id = acting_organisation(principal, organisation_id)
        if await self._orgs.get_organisation(org_id) is None:
            raise NotFound(f"organisation {org_id} does not exist")
        wanted = _validate_scopes(scopes)
        if principal.scopes is not None and not set(wanted) <= principal.scopes:
            raise PermissionDenied(
                "an API credential cannot create one with more scopes than it has"
            )
        label = validate_text(label, field_name="label", max_len=100, required=False)
        info, credential = await self._new_api_credential(org_id, wanted, label)
        await self._audit.admin(
            principal,
            "api_credential.create",
            organisation_id=org_id,
            detail=event_detail(credential=info.credential_id, scopes=list(wanted)),
        )
        return info, credential

    async def _new_api_credential(
        self, org_id: str, scopes: tuple[str, ...], label: str, *, rotated: bool = False
    ) -> tuple[ApiCredentialInfo, str]:
        cid, credential, key_digest = new_organisation_key()
        now = self.now()
        stored = Principal(
            role=Role.ORGANISATION,
            credential_id=cid,
            organisation_id=org_id,
            scopes=frozenset(scopes),
        )
        await self._creds.put_credential(cid, key_digest, stored.to_json())
        info = ApiCredentialInfo(cid, org_id, scopes, label, now, now if rotated else 0)
        await self._index.index_api_credential(org_id, cid, info.to_json())
        return info, credential

    async def list_api_credentials(
        self, principal: Principal, organisation_id: str
    ) -> list[ApiCredentialInfo]:
        org_id = acting_organisation(principal, organisation_id)
        if await self._orgs.get_organisation(org_id) is None:
            raise NotFound(f"organisation {org_id} does not exist")
        found = await self._index.api_credentials(org_id)
        infos = [ApiCredentialInfo.from_json(cid, org_id, raw) for cid, raw in found.items()]
        await self._audit.lookup(principal, "api_credential.list", organisation_id=org_id)
        return sorted(infos, key=lambda i: (i.created_at, i.credential_id))

    async def _visible_api_credential(
        self, principal: Principal, credential_id: str
    ) -> ApiCredentialInfo:
        missing = NotFound(f"API credential {credential_id} does not exist")
        if not credential_id.startswith("ak_"):
            raise missing
        found = await self._creds.get_credential(
            validate_id(credential_id, field_name="credential_id")
        )
        if found is None:
            raise missing
        stored = Principal.from_json(credential_id, found[1])
        org_id = stored.organisation_id or ""
        if stored.role is not Role.ORGANISATION or not may_see_organisation_data(principal, org_id):
            raise missing
        indexed = (await self._index.api_credentials(org_id)).get(credential_id)
        if indexed is not None:
            return ApiCredentialInfo.from_json(credential_id, org_id, indexed)
        scopes = tuple(sorted(stored.scopes)) if stored.scopes is not None else ()
        return ApiCredentialInfo(credential_id, org_id, scopes, "", 0)

    async def rotate_api_credential(
        self, principal: Principal, credential_id: str, overlap_seconds: int
    ) -> tuple[ApiCredentialInfo, str]:
        """A new credential (new id) with the same scopes and label; the old one stops working
        now, or after ``overlap_seconds`` (at most a day) for systems to switch over."""
        if not 0 <= overlap_seconds <= 86400:
            raise InvalidArgument("overlap_seconds must be 0-86400")
        old = await self._visible_api_credential(principal, credential_id)
        now = self.now()
        if old.revoked(now):
            raise FailedPrecondition(f"API credential {credential_id} is revoked")
        info, credential = await self._new_api_credential(
            old.organisation_id,
            old.scopes or tuple(sorted(a.value for a in ApiScope)),
            old.label,
            rotated=True,
        )
        retired = replace(old, rotated_at=now, revoked_at=now + overlap_seconds)
        await self._retire(retired, overlap_seconds)
        await self._audit.admin(
            principal,
            "api_credential.rotate",
            organisation_id=old.organisation_id,
            detail=event_detail(
                credential=credential_id, replacement=info.credential_id, overlap=overlap_seconds
            ),
        )
        return info, credential

    async def revoke_api_credential(
        self, principal: Principal, credential_id: str
    ) -> ApiCredentialInfo:
        old = await self._visible_api_credential(principal, credential_id)
        now = self.now()
        revoked = replace(old, revoked_at=now)
        await self._retire(revoked, 0)
        await self._audit.admin(
            principal,
            "api_credential.revoke",
            organisation_id=old.organisation_id,
            detail=event_detail(credential=credential_id),
        )
        return revoked

    async def _retire(self, retired: ApiCredentialInfo, after_seconds: int) -> None:
        """The credential stops working after ``after_seconds``; its listing says when."""
        await self._index.retire_credential(retired.credential_id, after_seconds)
        await self._index.index_api_credential(
            retired.organisation_id, retired.credential_id, retired.to_json()
        )

    async def create_bridge_credential(self, principal: Principal, name: str) -> tuple[str, str]:
        name = validate_id(name, field_name="name")
        cid, credential, key_digest = new_bridge_key()
        await self._creds.put_credential(
            cid, key_digest, Principal(role=Role.BRIDGE, credential_id=cid).to_json()
        )
        await self._audit.admin(
            principal, "bridge_credential.create", detail=event_detail(credential=cid, name=name)
        )
        return cid, credential


def _validate_scopes(scopes: list[str]) -> tuple[str, ...]:
    known = {s.value for s in ApiScope}
    if not scopes:
        raise InvalidArgument(f"give at least one scope: {', '.join(sorted(known))}")
    unknown = sorted(set(scopes) - known)
    if unknown:
        raise InvalidArgument(
            f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return tuple(sorted(set(scopes)))
