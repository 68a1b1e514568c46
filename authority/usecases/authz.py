"""Who may call which RPC on whose data: the one declarative authorization table.

Every RPC the server serves has a row: the roles that may call it and, per role, the tenancy
``Reach`` it has there. The gRPC edge (``authority.api.authz``) enforces the row before any use
case runs: a caller whose role is not in the row gets PERMISSION_DENIED without the request being
looked at (so the answer cannot depend on whether an id exists). Tenant checks that need data
("is this holder in my organisation") stay in the use cases, driven by the same reach: an id in
another tenant answers exactly like an id that does not exist (NOT_FOUND).

Organisation API credentials carry scopes (``grants:write``, ...); a row names the scope its
organisation callers need. A staff login (organisation admin) has every scope. An RPC missing
from the table is denied (and ``tests/security/test_authz_matrix.py`` fails naming it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from authority.domain.errors import PermissionDenied
from authority.usecases.credentials import Principal, Role


class Reach(StrEnum):
    """Whose data a role reaches through one RPC."""

    EVERYTHING = "everything"
    """Every tenant (platform admins; operator analysts for the log)."""
    OWN_ORGANISATION = "own_organisation"
    """The caller's organisation only (organisation admins and API credentials, organisation
    analysts; operator analysts, having no organisation, read every organisation's log)."""
    OWN_SITES = "own_sites"
    """Sites whose ``owner_id`` is the caller's."""
    OWN_HOLDER = "own_holder"
    """The calling key holder's own keys and grants."""
    SELF = "self"
    """The caller's own account, session or credential."""
    SIGNED_FACTS = "signed_facts"
    """Facts the authority signs for relays (results, epochs), verified on their signature."""
    PUBLIC = "public"
    """No credential needed: public keys."""


class ApiScope(StrEnum):
    """What an organisation API credential may do (shown when it is created, listed later)."""

    GRANTS_READ = "grants:read"
    GRANTS_WRITE = "grants:write"
    DIRECTORY_READ = "directory:read"
    DIRECTORY_WRITE = "directory:write"
    LOGS_READ = "logs:read"


ALL_API_SCOPES = frozenset(ApiScope)


@dataclass(frozen=True, slots=True)
class Rule:
    """One RPC's row: role -> reach, and the scope an organisation API credential needs."""

    reach: Mapping[Role, Reach]
    api_scope: ApiScope | None = None
    authenticated_by_use_case: bool = False
    """The unlock path authenticates inside its single Redis round trip (not at the edge)."""

    @property
    def public(self) -> bool:
        return Reach.PUBLIC in self.reach.values()


ADM, ORG, OWN, KH, ANA, BRG = (
    Role.ADMIN,
    Role.ORGANISATION,
    Role.SITE_OWNER,
    Role.KEY_HOLDER,
    Role.ANALYST,
    Role.BRIDGE,
)
EVERY, OWN_ORG, OWN_SITES, OWN_KEYS, SELF, SIGNED = (
    Reach.EVERYTHING,
    Reach.OWN_ORGANISATION,
    Reach.OWN_SITES,
    Reach.OWN_HOLDER,
    Reach.SELF,
    Reach.SIGNED_FACTS,
)

_UNLOCK = "authority.v1.UnlockService"
_RELAY = "authority.v1.RelayService"
_DIR = "authority.v1.DirectoryService"
_GRANT = "authority.v1.GrantService"
_KEYS = "authority.v1.KeyService"
_LOG = "authority.v1.AccessLogService"
_OWNER = "authority.v1.SiteOwnerService"
_ID = "authority.v1.IdentityService"
_PRIV = "authority.v1.PrivacyService"

_EVERYONE_KNOWN = {
    ADM: EVERY,
    ORG: OWN_ORG,
    OWN: OWN_SITES,
    KH: OWN_KEYS,
    ANA: OWN_ORG,
    BRG: SIGNED,
}
_PUBLIC = dict.fromkeys(Role, Reach.PUBLIC)

AUTHORIZATION: Mapping[str, Rule] = {
    # -- the phone ---------------------------------------------------------------------------
    f"/{_UNLOCK}/RequestUnlock": Rule({KH: OWN_KEYS}, authenticated_by_use_case=True),
    f"/{_UNLOCK}/RegisterDeviceKey": Rule({KH: OWN_KEYS}),
    # -- relays: signed facts carried by a bridge, the phone or the partner's backend ------
    f"/{_RELAY}/ReportRelayOutcome": Rule({ADM: EVERY, ORG: SIGNED, KH: SIGNED, BRG: SIGNED}),
    f"/{_RELAY}/GetRevocationNotice": Rule({ADM: EVERY, ORG: SIGNED, KH: SIGNED, BRG: SIGNED}),
    f"/{_KEYS}/GetVerificationKeys": Rule(_PUBLIC),
    # -- directory ---------------------------------------------------------------------------
    f"/{_DIR}/CreateOrganisation": Rule({ADM: EVERY}),
    f"/{_DIR}/GetOrganisation": Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_READ),
    f"/{_DIR}/SetOrganisationStatus": Rule({ADM: EVERY}),
    f"/{_DIR}/CreateSite": Rule({ADM: EVERY}),
    f"/{_DIR}/GetSite": Rule({ADM: EVERY, OWN: OWN_SITES}),
    f"/{_DIR}/CreateDoor": Rule({ADM: EVERY}),
    f"/{_DIR}/GetDoor": Rule({ADM: EVERY, OWN: OWN_SITES}),
    f"/{_DIR}/SetDoorRelayKey": Rule({ADM: EVERY}),
    f"/{_DIR}/CreateKeyHolder": Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    f"/{_DIR}/GetKeyHolder": Rule(
        {ADM: EVERY, ORG: OWN_ORG, KH: OWN_KEYS}, ApiScope.DIRECTORY_READ
    ),
    f"/{_DIR}/SetKeyHolderStatus": Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    f"/{_DIR}/SetSiteOrganisationBlocked": Rule({ADM: EVERY, OWN: OWN_SITES}),
    # -- grants ------------------------------------------------------------------------------
    f"/{_GRANT}/IssueGrant": Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.GRANTS_WRITE),
    f"/{_GRANT}/RevokeGrant": Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.GRANTS_WRITE),
    f"/{_GRANT}/ListGrants": Rule({ADM: EVERY, ORG: OWN_ORG, KH: OWN_KEYS}, ApiScope.GRANTS_READ),
    f"/{_GRANT}/IssueGrants": Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.GRANTS_WRITE),
    f"/{_GRANT}/RevokeGrants": Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.GRANTS_WRITE),
    f"/{_GRANT}/ReplaceHolderGrants": Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.GRANTS_WRITE),
    f"/{_GRANT}/ExportGrants": Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.GRANTS_READ),
    f"/{_GRANT}/GetAccessPolicy": Rule(_EVERYONE_KNOWN),
    # -- the access log ----------------------------------------------------------------------
    f"/{_LOG}/QueryEvents": Rule(
        {ADM: EVERY, ORG: OWN_ORG, ANA: OWN_ORG, OWN: OWN_SITES}, ApiScope.LOGS_READ
    ),
    f"/{_LOG}/AggregateEvents": Rule(
        {ADM: EVERY, ORG: OWN_ORG, ANA: OWN_ORG, OWN: OWN_SITES}, ApiScope.LOGS_READ
    ),
    f"/{_LOG}/CreateSiteOwnerCredential": Rule({ADM: EVERY}),
    f"/{_LOG}/CreateAnalystCredential": Rule({ADM: EVERY}),
    f"/{_OWNER}/ListSiteOrganisations": Rule({ADM: EVERY, OWN: OWN_SITES}),
    f"/{_OWNER}/FileOwnerLogRequest": Rule({OWN: OWN_SITES}),
    f"/{_OWNER}/GetOwnerLogRequest": Rule({ADM: EVERY, OWN: OWN_SITES}),
    f"/{_OWNER}/ListOwnerLogRequests": Rule({ADM: EVERY, OWN: OWN_SITES}),
    f"/{_OWNER}/RecordOwnerLogRequestPayment": Rule({ADM: EVERY}),
    f"/{_OWNER}/RefuseOwnerLogRequest": Rule({ADM: EVERY}),
    f"/{_OWNER}/DeliverOwnerLogRequest": Rule({ADM: EVERY}),
    # -- personal data: the person (own keys) and the operator exercise the rights; the
    # organisation keeps its staff's profile and door units; lookups by phone need consent --
    f"/{_PRIV}/SetPersonProfile": Rule(
        {ADM: EVERY, ORG: OWN_ORG, KH: OWN_KEYS}, ApiScope.DIRECTORY_WRITE
    ),
    f"/{_PRIV}/GetPersonProfile": Rule(
        {ADM: EVERY, ORG: OWN_ORG, KH: OWN_KEYS}, ApiScope.DIRECTORY_READ
    ),
    f"/{_PRIV}/ExportPersonData": Rule({ADM: EVERY, KH: OWN_KEYS}),
    f"/{_PRIV}/RequestErasure": Rule({ADM: EVERY, KH: OWN_KEYS}),
    f"/{_PRIV}/RestrictProcessing": Rule({ADM: EVERY, KH: OWN_KEYS}),
    f"/{_PRIV}/LiftRestriction": Rule({ADM: EVERY, KH: OWN_KEYS}),
    f"/{_PRIV}/GiveConsent": Rule({ADM: EVERY, KH: OWN_KEYS}),
    f"/{_PRIV}/WithdrawConsent": Rule({ADM: EVERY, KH: OWN_KEYS}),
    f"/{_PRIV}/ListConsents": Rule({ADM: EVERY, KH: OWN_KEYS}),
    f"/{_PRIV}/FindKeyHolderByPhone": Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_READ),
    f"/{_PRIV}/MountDoorUnit": Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    f"/{_PRIV}/DismountDoorUnit": Rule(
        {ADM: EVERY, ORG: OWN_ORG, KH: OWN_KEYS}, ApiScope.DIRECTORY_WRITE
    ),
    f"/{_PRIV}/RunPrivacySweep": Rule({ADM: EVERY}),
    f"/{_PRIV}/GetPrivacyReport": Rule({ADM: EVERY}),
    # -- identity: logins, sessions, accounts, credentials -----------------------------------
    f"/{_ID}/Login": Rule(_PUBLIC),
    f"/{_ID}/Activate": Rule(_PUBLIC),
    f"/{_ID}/RefreshSession": Rule(_PUBLIC),
    f"/{_ID}/Logout": Rule({ADM: SELF, ORG: SELF, OWN: SELF, KH: SELF, ANA: SELF}),
    f"/{_ID}/CreateAccount": Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    f"/{_ID}/SetAccountEnabled": Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    f"/{_ID}/IssueHolderActivation": Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    f"/{_ID}/RevokeSessions": Rule(
        {ADM: EVERY, ORG: OWN_ORG, OWN: SELF, KH: OWN_KEYS, ANA: SELF},
        ApiScope.DIRECTORY_WRITE,
    ),
    f"/{_ID}/UnlockLogin": Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    f"/{_ID}/GetLoginPolicy": Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_READ),
    f"/{_ID}/SetLoginPolicy": Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    f"/{_ID}/CreateApiCredential": Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    f"/{_ID}/ListApiCredentials": Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_READ),
    f"/{_ID}/RotateApiCredential": Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    f"/{_ID}/RevokeApiCredential": Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    f"/{_ID}/CreateBridgeCredential": Rule({ADM: EVERY}),
    # -- infrastructure: health for load balancers, reflection for grpcurl -------------------
    "/grpc.health.v1.Health/Check": Rule(_PUBLIC),
    "/grpc.health.v1.Health/Watch": Rule(_PUBLIC),
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": Rule(_PUBLIC),
}


def rule_for(method: str) -> Rule | None:
    """The row of ``/package.Service/Method`` (None: not in the table, so denied)."""
    return AUTHORIZATION.get(method)


def authorize(method: str, principal: Principal) -> Reach:
    """The caller's reach through ``method``; raises ``PermissionDenied`` otherwise.

    The message names the call and the caller's role, never any id from the request.
    """
    rule = AUTHORIZATION.get(method)
    if rule is None:
        raise PermissionDenied(f"{method} is not in the authorization table: nobody may call it")
    reach = rule.reach.get(principal.role)
    if reach is None:
        allowed = ", ".join(sorted(r.value for r in rule.reach))
        raise PermissionDenied(
            f"a {principal.role.value} credential may not call {method} (allowed: {allowed})"
        )
    if (
        principal.role is Role.ORGANISATION
        and principal.scopes is not None
        and rule.api_scope is not None
        and rule.api_scope.value not in principal.scopes
    ):
        raise PermissionDenied(
            f"this API credential lacks the scope {rule.api_scope.value} that {method} needs"
        )
    return reach


def missing_methods(methods: Iterable[str]) -> list[str]:
    """The served methods that have no row in the table."""
    return sorted(m for m in methods if m not in AUTHORIZATION)
