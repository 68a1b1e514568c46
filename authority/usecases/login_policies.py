"""Login policies: failed logins before a lockout, its length, and whether staff need a TOTP
code; one per organisation, per site owner, and one for the operator's own staff."""

from __future__ import annotations

from dataclasses import dataclass

from authority.domain.credentials import Principal, Role
from authority.domain.errors import InvalidArgument, NotFound
from authority.domain.login import CUSTOMER_POLICY, OPERATOR_POLICY, LoginPolicy
from authority.domain.model import validate_id, validate_text
from authority.domain.ports.accesslog import EventRecorder
from authority.domain.ports.directory import OrganisationReader
from authority.domain.ports.identity import LoginPolicyStore
from authority.usecases.audit_trail import AuditTrail, event_detail
from authority.usecases.auth import acting_organisation, require_unscoped


@dataclass(frozen=True, slots=True)
class PolicyTarget:
    organisation_id: str = ""
    operator: bool = False
    owner_id: str = ""


class LoginPolicies:
    def __init__(
        self,
        *,
        store: LoginPolicyStore,
        organisations: OrganisationReader,
        events: EventRecorder,
    ) -> None:
        self._store = store
        self._orgs = organisations
        self._audit = AuditTrail(events)

    async def get_policy(self, principal: Principal, target: PolicyTarget) -> LoginPolicy:
        scope = self._policy_scope(principal, target)
        await self._known_scope(scope)
        return await self._scope_policy(scope)

    async def set_policy(
        self, principal: Principal, target: PolicyTarget, policy: LoginPolicy
    ) -> LoginPolicy:
        require_unscoped(principal, "change login policies")
        scope = self._policy_scope(principal, target)
        await self._known_scope(scope)
        await self._store.put_policy(scope, policy)
        await self._audit.admin(
            principal,
            "login_policy.set",
            organisation_id=scope.removeprefix("org:") if scope.startswith("org:") else "",
            detail=event_detail(
                scope=scope,
                max_failed_logins=policy.max_failed_logins,
                lockout_seconds=policy.lockout_seconds,
                totp_required=policy.totp_required,
            ),
        )
        return policy

    async def policy_for(self, principal: Principal) -> LoginPolicy:
        """The policy that applies to ``principal``'s logins."""
        if principal.role is Role.ADMIN or (
            principal.role is Role.ANALYST and principal.organisation_id is None
        ):
            return await self._scope_policy("operator")
        if principal.role is Role.SITE_OWNER:
            return await self._scope_policy(f"owner:{principal.owner_id}")
        return await self._scope_policy(f"org:{principal.organisation_id}")

    def _policy_scope(self, principal: Principal, target: PolicyTarget) -> str:
        given = sum((bool(target.organisation_id), target.operator, bool(target.owner_id)))
        if principal.role is Role.ORGANISATION:
            if target.operator or target.owner_id:
                raise NotFound("no such login policy")
            return "org:" + acting_organisation(principal, target.organisation_id)
        if given != 1:
            raise InvalidArgument("give exactly one of organisation_id, operator or owner_id")
        if target.operator:
            return "operator"
        if target.owner_id:
            return "owner:" + validate_text(target.owner_id, field_name="owner_id", max_len=100)
        return "org:" + validate_id(target.organisation_id, field_name="organisation_id")

    async def _known_scope(self, scope: str) -> None:
        if scope.startswith("org:"):
            org_id = scope.removeprefix("org:")
            if await self._orgs.get_organisation(org_id) is None:
                raise NotFound(f"organisation {org_id} does not exist")

    async def _scope_policy(self, scope: str) -> LoginPolicy:
        stored = await self._store.get_policy(scope)
        if stored is not None:
            return stored
        return OPERATOR_POLICY if scope == "operator" else CUSTOMER_POLICY
