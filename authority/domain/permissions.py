"""Who may do what on whose data: the one declarative permission table.

Every action the authority offers has a row: the roles that may do it and, per role, the tenancy
``Reach`` it has there. The gRPC edge (``authority.api.authz``) maps each RPC to one action and
enforces the row before any use case runs: a caller whose role is not in the row gets
PERMISSION_DENIED without the request being looked at (so the answer cannot depend on whether an
id exists). Tenant checks that need data ("is this holder in my organisation") stay in the use
cases, driven by the same reach: an id in another tenant answers exactly like an id that does
not exist (NOT_FOUND).

Organisation API credentials carry scopes (``grants:write``, ...); a row names the scope its
organisation callers need. A staff login (organisation admin) has every scope.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from authority.domain.credentials import Principal, Role
from authority.domain.errors import PermissionDenied


class Reach(StrEnum):
    """Whose data a role reaches through one action."""

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


class Action(StrEnum):
    """What a caller asks the authority to do (each RPC is one of these)."""

    # the phone
    REQUEST_UNLOCK = "unlock.request"
    REGISTER_DEVICE_KEY = "device_key.register"
    # relays
    REPORT_RELAY_OUTCOME = "relay_outcome.report"
    READ_REVOCATION_NOTICE = "revocation_notice.read"
    READ_VERIFICATION_KEYS = "verification_keys.read"
    # directory
    CREATE_ORGANISATION = "organisation.create"
    READ_ORGANISATION = "organisation.read"
    SET_ORGANISATION_STATUS = "organisation.set_status"
    CREATE_SITE = "site.create"
    READ_SITE = "site.read"
    CREATE_DOOR = "door.create"
    READ_DOOR = "door.read"
    SET_DOOR_RELAY_KEY = "door.set_relay_key"
    CREATE_KEY_HOLDER = "key_holder.create"
    READ_KEY_HOLDER = "key_holder.read"
    SET_KEY_HOLDER_STATUS = "key_holder.set_status"
    BLOCK_SITE_ORGANISATION = "site.block_organisation"
    # grants
    ISSUE_GRANTS = "grants.issue"
    REVOKE_GRANTS = "grants.revoke"
    LIST_GRANTS = "grants.list"
    REPLACE_HOLDER_GRANTS = "grants.replace_holder"
    EXPORT_GRANTS = "grants.export"
    READ_ACCESS_POLICY = "access_policy.read"
    # the access log and site owners' requests for it
    READ_ACCESS_LOG = "access_log.read"
    CREATE_SITE_OWNER_CREDENTIAL = "site_owner_credential.create"
    CREATE_ANALYST_CREDENTIAL = "analyst_credential.create"
    LIST_SITE_ORGANISATIONS = "site.list_organisations"
    FILE_OWNER_LOG_REQUEST = "owner_log_request.file"
    READ_OWNER_LOG_REQUESTS = "owner_log_request.read"
    RECORD_OWNER_LOG_REQUEST_PAYMENT = "owner_log_request.record_payment"
    REFUSE_OWNER_LOG_REQUEST = "owner_log_request.refuse"
    DELIVER_OWNER_LOG_REQUEST = "owner_log_request.deliver"
    # personal data
    WRITE_PERSON_PROFILE = "person_profile.write"
    READ_PERSON_PROFILE = "person_profile.read"
    EXPORT_PERSON_DATA = "person_data.export"
    REQUEST_ERASURE = "erasure.request"
    RESTRICT_PROCESSING = "processing.restrict"
    LIFT_RESTRICTION = "processing.lift_restriction"
    GIVE_CONSENT = "consent.give"
    WITHDRAW_CONSENT = "consent.withdraw"
    LIST_CONSENTS = "consent.list"
    FIND_KEY_HOLDER_BY_PHONE = "key_holder.find_by_phone"
    MOUNT_DOOR_UNIT = "door_unit.mount"
    DISMOUNT_DOOR_UNIT = "door_unit.dismount"
    RUN_PRIVACY_SWEEP = "privacy.sweep"
    READ_PRIVACY_REPORT = "privacy.report"
    # identity
    LOG_IN = "session.log_in"
    ACTIVATE = "account.activate"
    REFRESH_SESSION = "session.refresh"
    LOG_OUT = "session.log_out"
    CREATE_ACCOUNT = "account.create"
    ENABLE_ACCOUNT = "account.enable"
    ISSUE_HOLDER_ACTIVATION = "holder_activation.issue"
    REVOKE_SESSIONS = "sessions.revoke"
    UNLOCK_LOGIN = "login.unlock"
    READ_LOGIN_POLICY = "login_policy.read"
    SET_LOGIN_POLICY = "login_policy.set"
    CREATE_API_CREDENTIAL = "api_credential.create"
    LIST_API_CREDENTIALS = "api_credential.list"
    ROTATE_API_CREDENTIAL = "api_credential.rotate"
    REVOKE_API_CREDENTIAL = "api_credential.revoke"
    CREATE_BRIDGE_CREDENTIAL = "bridge_credential.create"
    # infrastructure
    CHECK_HEALTH = "health.check"
    DESCRIBE_API = "api.describe"


@dataclass(frozen=True, slots=True)
class Rule:
    """One action's row: role -> reach, and the scope an organisation API credential needs."""

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
A = Action

_EVERYONE_KNOWN = {
    ADM: EVERY,
    ORG: OWN_ORG,
    OWN: OWN_SITES,
    KH: OWN_KEYS,
    ANA: OWN_ORG,
    BRG: SIGNED,
}
_PUBLIC = dict.fromkeys(Role, Reach.PUBLIC)

PERMISSIONS: Mapping[Action, Rule] = {
    # -- the phone ---------------------------------------------------------------------------
    A.REQUEST_UNLOCK: Rule({KH: OWN_KEYS}, authenticated_by_use_case=True),
    A.REGISTER_DEVICE_KEY: Rule({KH: OWN_KEYS}),
    # -- relays: signed facts carried by a bridge, the phone or the partner's backend ------
    A.REPORT_RELAY_OUTCOME: Rule({ADM: EVERY, ORG: SIGNED, KH: SIGNED, BRG: SIGNED}),
    A.READ_REVOCATION_NOTICE: Rule({ADM: EVERY, ORG: SIGNED, KH: SIGNED, BRG: SIGNED}),
    A.READ_VERIFICATION_KEYS: Rule(_PUBLIC),
    # -- directory ---------------------------------------------------------------------------
    A.CREATE_ORGANISATION: Rule({ADM: EVERY}),
    A.READ_ORGANISATION: Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_READ),
    A.SET_ORGANISATION_STATUS: Rule({ADM: EVERY}),
    A.CREATE_SITE: Rule({ADM: EVERY}),
    A.READ_SITE: Rule({ADM: EVERY, OWN: OWN_SITES}),
    A.CREATE_DOOR: Rule({ADM: EVERY}),
    A.READ_DOOR: Rule({ADM: EVERY, OWN: OWN_SITES}),
    A.SET_DOOR_RELAY_KEY: Rule({ADM: EVERY}),
    A.CREATE_KEY_HOLDER: Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    A.READ_KEY_HOLDER: Rule({ADM: EVERY, ORG: OWN_ORG, KH: OWN_KEYS}, ApiScope.DIRECTORY_READ),
    A.SET_KEY_HOLDER_STATUS: Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    A.BLOCK_SITE_ORGANISATION: Rule({ADM: EVERY, OWN: OWN_SITES}),
    # -- grants ------------------------------------------------------------------------------
    A.ISSUE_GRANTS: Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.GRANTS_WRITE),
    A.REVOKE_GRANTS: Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.GRANTS_WRITE),
    A.LIST_GRANTS: Rule({ADM: EVERY, ORG: OWN_ORG, KH: OWN_KEYS}, ApiScope.GRANTS_READ),
    A.REPLACE_HOLDER_GRANTS: Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.GRANTS_WRITE),
    A.EXPORT_GRANTS: Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.GRANTS_READ),
    A.READ_ACCESS_POLICY: Rule(_EVERYONE_KNOWN),
    # -- the access log ----------------------------------------------------------------------
    A.READ_ACCESS_LOG: Rule(
        {ADM: EVERY, ORG: OWN_ORG, ANA: OWN_ORG, OWN: OWN_SITES}, ApiScope.LOGS_READ
    ),
    A.CREATE_SITE_OWNER_CREDENTIAL: Rule({ADM: EVERY}),
    A.CREATE_ANALYST_CREDENTIAL: Rule({ADM: EVERY}),
    A.LIST_SITE_ORGANISATIONS: Rule({ADM: EVERY, OWN: OWN_SITES}),
    A.FILE_OWNER_LOG_REQUEST: Rule({OWN: OWN_SITES}),
    A.READ_OWNER_LOG_REQUESTS: Rule({ADM: EVERY, OWN: OWN_SITES}),
    A.RECORD_OWNER_LOG_REQUEST_PAYMENT: Rule({ADM: EVERY}),
    A.REFUSE_OWNER_LOG_REQUEST: Rule({ADM: EVERY}),
    A.DELIVER_OWNER_LOG_REQUEST: Rule({ADM: EVERY}),
    # -- personal data: the person (own keys) and the operator exercise the rights; the
    # organisation keeps its staff's profile and door units; lookups by phone need consent --
    A.WRITE_PERSON_PROFILE: Rule(
        {ADM: EVERY, ORG: OWN_ORG, KH: OWN_KEYS}, ApiScope.DIRECTORY_WRITE
    ),
    A.READ_PERSON_PROFILE: Rule({ADM: EVERY, ORG: OWN_ORG, KH: OWN_KEYS}, ApiScope.DIRECTORY_READ),
    A.EXPORT_PERSON_DATA: Rule({ADM: EVERY, KH: OWN_KEYS}),
    A.REQUEST_ERASURE: Rule({ADM: EVERY, KH: OWN_KEYS}),
    A.RESTRICT_PROCESSING: Rule({ADM: EVERY, KH: OWN_KEYS}),
    A.LIFT_RESTRICTION: Rule({ADM: EVERY, KH: OWN_KEYS}),
    A.GIVE_CONSENT: Rule({ADM: EVERY, KH: OWN_KEYS}),
    A.WITHDRAW_CONSENT: Rule({ADM: EVERY, KH: OWN_KEYS}),
    A.LIST_CONSENTS: Rule({ADM: EVERY, KH: OWN_KEYS}),
    A.FIND_KEY_HOLDER_BY_PHONE: Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_READ),
    A.MOUNT_DOOR_UNIT: Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    A.DISMOUNT_DOOR_UNIT: Rule({ADM: EVERY, ORG: OWN_ORG, KH: OWN_KEYS}, ApiScope.DIRECTORY_WRITE),
    A.RUN_PRIVACY_SWEEP: Rule({ADM: EVERY}),
    A.READ_PRIVACY_REPORT: Rule({ADM: EVERY}),
    # -- identity: logins, sessions, accounts, credentials -----------------------------------
    A.LOG_IN: Rule(_PUBLIC),
    A.ACTIVATE: Rule(_PUBLIC),
    A.REFRESH_SESSION: Rule(_PUBLIC),
    A.LOG_OUT: Rule({ADM: SELF, ORG: SELF, OWN: SELF, KH: SELF, ANA: SELF}),
    A.CREATE_ACCOUNT: Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    A.ENABLE_ACCOUNT: Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    A.ISSUE_HOLDER_ACTIVATION: Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    A.REVOKE_SESSIONS: Rule(
        {ADM: EVERY, ORG: OWN_ORG, OWN: SELF, KH: OWN_KEYS, ANA: SELF},
        ApiScope.DIRECTORY_WRITE,
    ),
    A.UNLOCK_LOGIN: Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    A.READ_LOGIN_POLICY: Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_READ),
    A.SET_LOGIN_POLICY: Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    A.CREATE_API_CREDENTIAL: Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    A.LIST_API_CREDENTIALS: Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_READ),
    A.ROTATE_API_CREDENTIAL: Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    A.REVOKE_API_CREDENTIAL: Rule({ADM: EVERY, ORG: OWN_ORG}, ApiScope.DIRECTORY_WRITE),
    A.CREATE_BRIDGE_CREDENTIAL: Rule({ADM: EVERY}),
    # -- infrastructure: health for load balancers, a description of the API for tools -------
    A.CHECK_HEALTH: Rule(_PUBLIC),
    A.DESCRIBE_API: Rule(_PUBLIC),
}


def permit(action: Action, principal: Principal, *, asked: str) -> Reach:
    """The caller's reach for ``action``; raises ``PermissionDenied`` otherwise.

    ``asked`` names what the caller asked for in the refusal (the edge passes the RPC); the
    message names it and the caller's role, never any id from the request.
    """
    rule = PERMISSIONS[action]
    reach = rule.reach.get(principal.role)
    if reach is None:
        allowed = ", ".join(sorted(r.value for r in rule.reach))
        raise PermissionDenied(
            f"a {principal.role.value} credential may not call {asked} (allowed: {allowed})"
        )
    if (
        principal.role is Role.ORGANISATION
        and principal.scopes is not None
        and rule.api_scope is not None
        and rule.api_scope.value not in principal.scopes
    ):
        raise PermissionDenied(
            f"this API credential lacks the scope {rule.api_scope.value} that {asked} needs"
        )
    return reach
