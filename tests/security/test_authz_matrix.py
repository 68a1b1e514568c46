"""The authorization matrix: every RPC x every role x own tenant / other tenant, against a real
server (real Redis, chDB), checked cell by cell against ``authority.api.authz.AUTHORIZATION``.

- allowed: the call is not refused as PERMISSION_DENIED / UNAUTHENTICATED (it succeeds, or fails
  for a business reason such as FAILED_PRECONDITION);
- denied: PERMISSION_DENIED (UNAUTHENTICATED without a credential), and the message names no id;
- another tenant's data reached through a tenant-bound role: the answer is identical to the
  answer for ids that do not exist (no existence leak).

Two tenants (A and B) each have an organisation, a site with its owner, a door, a key holder, a
grant and an owner log request. The callers act for tenant A: platform admin, operator analyst,
organisation (full API credential), organisation API credential scoped to grants:read and
logs:read, organisation analyst, site owner, key holder, bridge, and no credential at all.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from nacl.signing import SigningKey

from authority.api.authz import AUTHORIZATION, missing_methods
from authority.api.server import SERVICE_NAMES
from authority.domain.credentials import Role
from authority.domain.permissions import Reach, Rule
from authority.v1 import accesslog_pb2 as lpb
from authority.v1 import authority_pb2 as pb
from authority.v1 import identity_pb2 as ipb
from authority.v1 import privacy_pb2 as ppb
from tests.conftest import ServerHandle
from tests.security.conftest import buffered_events, serve_module
from tests.support.world import (
    APP_PASSWORD,
    CVR,
    bearer_of,
    holder_app,
    staff_login,
)

# -- the world ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tenant:
    org_id: str
    site_id: str
    door_id: str
    relay_id: str
    holder_id: str
    grant_id: str
    owner_id: str
    request_id: str
    api_credential_id: str
    account_id: str


def ghost_of(t: Tenant) -> Tenant:
    """The same shapes of id, none of which exists."""
    return Tenant(**{f.name: _ghost(getattr(t, f.name)) for f in fields(Tenant)})


def _ghost(value: str) -> str:
    return value[:-6] + secrets.token_hex(3) if len(value) > 8 else value + "-ghost"


@dataclass(frozen=True)
class Caller:
    name: str
    role: Role | None
    credential: str | None
    operator: bool = False
    """An operator analyst: no organisation, reads every organisation's log."""
    scopes: frozenset[str] | None = None
    """An organisation API credential limited to these scopes."""
    login: str = ""
    """A login session's caller (staff account or app): its login, to log in again (the
    password is ``APP_PASSWORD``; no TOTP in this module) where a call ends its sessions."""


@dataclass
class Matrix:
    handle: ServerHandle
    channel: grpc.Channel
    a: Tenant
    b: Tenant
    callers: list[Caller]


def _build_tenant(
    h: ServerHandle, channel: grpc.Channel, tag: str
) -> tuple[Tenant, dict[str, str]]:
    admin = h.admin
    created = admin.create_organisation(name=f"Org {tag}", cvr=CVR, purpose=pb.PURPOSE_POSTAL)
    org_id = created.organisation.organisation_id
    admin.set_organisation_status(org_id, pb.ORGANISATION_STATUS_APPROVED)
    org = admin.with_credential(created.api_credential)
    owner_id = f"owner-{tag}"
    site = admin.create_site(address=f"Vej {tag}", owner_id=owner_id, offline_allowed=True)
    door_id, relay_id = f"door-{tag}", f"relay-{tag}"
    admin.create_door(
        door_id=door_id,
        site_id=site.site_id,
        relay_id=relay_id,
        relay_public_key=bytes(SigningKey.generate().verify_key),
    )
    made = org.create_key_holder()
    holder_id = made.key_holder.key_holder_id
    grant = org.issue_grant(
        key_holder_id=holder_id,
        site_id=site.site_id,
        valid_until=datetime.now(UTC) + timedelta(days=30),
    )
    holder_cred = bearer_of(holder_app(org, holder_id))
    owner_cred = staff_login(admin, f"owner-{tag}", ipb.ACCOUNT_ROLE_SITE_OWNER, owner_id=owner_id)
    analyst_cred = staff_login(
        admin, f"org-analyst-{tag}", ipb.ACCOUNT_ROLE_ANALYST, organisation_id=org_id
    )
    now = datetime.now(UTC)
    filed = _rpc(
        channel,
        "/authority.v1.SiteOwnerService/FileOwnerLogRequest",
        lpb.FileOwnerLogRequestRequest(
            site_id=site.site_id,
            from_time=_ts(now - timedelta(days=2)),
            to_time=_ts(now - timedelta(days=1)),
            purpose="a broken window in the stairwell",
        ),
        owner_cred,
    )
    reader = _rpc(
        channel,
        "/authority.v1.IdentityService/CreateApiCredential",
        ipb.CreateApiCredentialRequest(organisation_id=org_id, scopes=["grants:read", "logs:read"]),
        h.admin_credential,
    )
    extra = _rpc(
        channel,
        "/authority.v1.IdentityService/CreateApiCredential",
        ipb.CreateApiCredentialRequest(organisation_id=org_id, scopes=["grants:read"]),
        h.admin_credential,
    )
    account = _rpc(
        channel,
        "/authority.v1.IdentityService/CreateAccount",
        ipb.CreateAccountRequest(
            login=f"analyst-{tag}", role=ipb.ACCOUNT_ROLE_ANALYST, organisation_id=org_id
        ),
        h.admin_credential,
    )
    tenant = Tenant(
        org_id, site.site_id, door_id, relay_id, holder_id, grant.grant_id, owner_id,
        filed.request_id, extra.credential.credential_id, account.account_id,
    )  # fmt: skip
    return tenant, {
        "org": created.api_credential,
        "reader": reader.secret_credential,
        "holder": holder_cred,
        "owner": owner_cred,
        "analyst": analyst_cred,
    }


def _ts(when: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


_POOL = descriptor_pool.Default()


def _method(path: str) -> Any:
    service, name = path.strip("/").split("/")
    return _POOL.FindServiceByName(service).methods_by_name[name]


def _rpc(channel: grpc.Channel, path: str, request: Message, credential: str | None) -> Any:
    m = _method(path)
    out = message_factory.GetMessageClass(m.output_type)
    call = channel.unary_unary(
        path,
        request_serializer=type(request).SerializeToString,
        response_deserializer=out.FromString,
    )
    meta = (("authorization", f"Bearer {credential}"),) if credential else ()
    return call(request, metadata=meta, timeout=30)


@pytest.fixture(scope="module")
def matrix(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    for h in serve_module(redis_server, tmp_path_factory):
        channel = grpc.insecure_channel(h.target)
        a, creds_a = _build_tenant(h, channel, "a")
        b, _ = _build_tenant(h, channel, "b")
        # The operator's staff log in here without TOTP: a session ended by a call (Logout,
        # RevokeSessions) is renewed by logging in again, which a replayed TOTP code refuses.
        _rpc(
            channel,
            "/authority.v1.IdentityService/SetLoginPolicy",
            ipb.SetLoginPolicyRequest(
                target=ipb.GetLoginPolicyRequest(operator=True),
                policy=ipb.LoginPolicy(max_failed_logins=3, lockout_seconds=900),
            ),
            h.admin_credential,
        )
        operator_analyst = staff_login(h.admin, "operator-analyst", ipb.ACCOUNT_ROLE_ANALYST)
        bridge = _rpc(
            channel,
            "/authority.v1.IdentityService/CreateBridgeCredential",
            ipb.CreateBridgeCredentialRequest(name="bridge-1"),
            h.admin_credential,
        ).credential
        callers = [
            Caller("admin", Role.ADMIN, h.admin_credential),
            Caller(
                "operator analyst",
                Role.ANALYST,
                operator_analyst,
                operator=True,
                login="operator-analyst",
            ),
            Caller("organisation", Role.ORGANISATION, creds_a["org"]),
            Caller(
                "API credential (grants:read, logs:read)",
                Role.ORGANISATION,
                creds_a["reader"],
                scopes=frozenset({"grants:read", "logs:read"}),
            ),
            Caller("organisation analyst", Role.ANALYST, creds_a["analyst"], login="org-analyst-a"),
            Caller("site owner", Role.SITE_OWNER, creds_a["owner"], login="owner-a"),
            Caller("key holder", Role.KEY_HOLDER, creds_a["holder"], login=a.holder_id),
            Caller("bridge", Role.BRIDGE, bridge),
            Caller("unauthenticated", None, None),
        ]
        yield Matrix(h, channel, a, b, callers)
        channel.close()


# -- one valid request per RPC -----------------------------------------------------------------

Build = Callable[[Tenant], Message | list[Message]]
"""A request naming tenant ``t``'s data (a list: the messages of a client stream)."""


def _filter(t: Tenant) -> lpb.EventFilter:
    now = datetime.now(UTC)
    return lpb.EventFilter(
        from_time=_ts(now - timedelta(days=1)),
        to_time=_ts(now + timedelta(hours=1)),
        organisation_id=t.org_id,
    )


def _until() -> Timestamp:
    return _ts(datetime.now(UTC) + timedelta(days=10))


_RELAY_KEY = bytes(SigningKey.generate().verify_key)

REQUESTS: dict[str, tuple[bool, Build]] = {
    # path: (names tenant-bound data, build)
    "/authority.v1.UnlockService/RequestUnlock": (
        False,
        lambda t: pb.RequestUnlockRequest(door_id=t.door_id, relay_challenge=b"c" * 16),
    ),
    "/authority.v1.UnlockService/RegisterDeviceKey": (
        False,
        lambda t: pb.RegisterDeviceKeyRequest(device_public_key=_RELAY_KEY),
    ),
    "/authority.v1.RelayService/ReportRelayOutcome": (
        True,
        lambda t: pb.ReportRelayOutcomeRequest(
            door_id=t.door_id, signed_result=b"\x84" + b"0" * 40
        ),
    ),
    "/authority.v1.RelayService/GetRevocationNotice": (
        True,
        lambda t: pb.GetRevocationNoticeRequest(door_id=t.door_id),
    ),
    "/authority.v1.KeyService/GetVerificationKeys": (
        False,
        lambda t: pb.GetVerificationKeysRequest(),
    ),
    "/authority.v1.DirectoryService/CreateOrganisation": (
        False,
        lambda t: pb.CreateOrganisationRequest(name="X", cvr=CVR, purpose=pb.PURPOSE_POSTAL),
    ),
    "/authority.v1.DirectoryService/GetOrganisation": (
        True,
        lambda t: pb.GetOrganisationRequest(organisation_id=t.org_id),
    ),
    "/authority.v1.DirectoryService/SetOrganisationStatus": (
        True,
        lambda t: pb.SetOrganisationStatusRequest(
            organisation_id=t.org_id, status=pb.ORGANISATION_STATUS_APPROVED
        ),
    ),
    "/authority.v1.DirectoryService/CreateSite": (
        False,
        lambda t: pb.CreateSiteRequest(address="Vej 9", owner_id="owner-z"),
    ),
    "/authority.v1.DirectoryService/GetSite": (
        True,
        lambda t: pb.GetSiteRequest(site_id=t.site_id),
    ),
    "/authority.v1.DirectoryService/CreateDoor": (
        True,
        lambda t: pb.CreateDoorRequest(door_id=t.door_id + "-x", site_id=t.site_id, relay_id="r-x"),
    ),
    "/authority.v1.DirectoryService/GetDoor": (
        True,
        lambda t: pb.GetDoorRequest(door_id=t.door_id),
    ),
    "/authority.v1.DirectoryService/SetDoorRelayKey": (
        True,
        lambda t: pb.SetDoorRelayKeyRequest(door_id=t.door_id, relay_public_key=_RELAY_KEY),
    ),
    "/authority.v1.DirectoryService/CreateKeyHolder": (
        True,
        lambda t: pb.CreateKeyHolderRequest(organisation_id=t.org_id),
    ),
    "/authority.v1.DirectoryService/GetKeyHolder": (
        True,
        lambda t: pb.GetKeyHolderRequest(key_holder_id=t.holder_id),
    ),
    "/authority.v1.DirectoryService/SetKeyHolderStatus": (
        True,
        lambda t: pb.SetKeyHolderStatusRequest(
            key_holder_id=t.holder_id, status=pb.KEY_HOLDER_STATUS_ACTIVE
        ),
    ),
    "/authority.v1.DirectoryService/SetSiteOrganisationBlocked": (
        True,
        lambda t: pb.SetSiteOrganisationBlockedRequest(
            site_id=t.site_id, organisation_id=t.org_id, blocked=False
        ),
    ),
    "/authority.v1.GrantService/IssueGrant": (
        True,
        lambda t: pb.IssueGrantRequest(
            key_holder_id=t.holder_id,
            site_id=t.site_id,
            organisation_id=t.org_id,
            valid_until=_until(),
        ),
    ),
    "/authority.v1.GrantService/RevokeGrant": (
        True,
        lambda t: pb.RevokeGrantRequest(grant_id=t.grant_id),
    ),
    "/authority.v1.GrantService/ListGrants": (
        True,
        lambda t: pb.ListGrantsRequest(key_holder_id=t.holder_id),
    ),
    "/authority.v1.GrantService/IssueGrants": (
        True,
        lambda t: [
            pb.IssueGrantsRequest(
                organisation_id=t.org_id,
                items=[
                    pb.GrantItem(
                        idempotency_key=secrets.token_hex(8),
                        key_holder_id=t.holder_id,
                        site_id=t.site_id,
                        valid_until=_until(),
                    )
                ],
            )
        ],
    ),
    "/authority.v1.GrantService/RevokeGrants": (
        True,
        lambda t: pb.RevokeGrantsRequest(key_holder_id=t.holder_id),
    ),
    "/authority.v1.GrantService/ReplaceHolderGrants": (
        True,
        lambda t: pb.ReplaceHolderGrantsRequest(
            key_holder_id=t.holder_id, organisation_id=t.org_id
        ),
    ),
    "/authority.v1.GrantService/ExportGrants": (
        True,
        lambda t: pb.ExportGrantsRequest(organisation_id=t.org_id),
    ),
    "/authority.v1.GrantService/GetAccessPolicy": (False, lambda t: pb.GetAccessPolicyRequest()),
    "/authority.v1.AccessLogService/QueryEvents": (
        True,
        lambda t: lpb.QueryEventsRequest(filter=_filter(t), limit=5),
    ),
    "/authority.v1.AccessLogService/AggregateEvents": (
        True,
        lambda t: lpb.AggregateEventsRequest(
            filter=_filter(t), kind=lpb.AGGREGATE_KIND_DENIAL_REASONS
        ),
    ),
    "/authority.v1.AccessLogService/CreateSiteOwnerCredential": (
        False,
        lambda t: lpb.CreateSiteOwnerCredentialRequest(owner_id=t.owner_id),
    ),
    "/authority.v1.AccessLogService/CreateAnalystCredential": (
        True,
        lambda t: lpb.CreateAnalystCredentialRequest(organisation_id=t.org_id),
    ),
    "/authority.v1.SiteOwnerService/ListSiteOrganisations": (
        True,
        lambda t: lpb.ListSiteOrganisationsRequest(site_id=t.site_id),
    ),
    "/authority.v1.SiteOwnerService/FileOwnerLogRequest": (
        True,
        lambda t: lpb.FileOwnerLogRequestRequest(
            site_id=t.site_id,
            from_time=_ts(datetime.now(UTC) - timedelta(days=3)),
            to_time=_ts(datetime.now(UTC) - timedelta(days=2)),
            purpose="water damage in the basement",
        ),
    ),
    "/authority.v1.SiteOwnerService/GetOwnerLogRequest": (
        True,
        lambda t: lpb.GetOwnerLogRequestRequest(request_id=t.request_id),
    ),
    "/authority.v1.SiteOwnerService/ListOwnerLogRequests": (
        True,
        lambda t: lpb.ListOwnerLogRequestsRequest(owner_id=t.owner_id),
    ),
    "/authority.v1.SiteOwnerService/RecordOwnerLogRequestPayment": (
        True,
        lambda t: lpb.RecordOwnerLogRequestPaymentRequest(request_id=t.request_id),
    ),
    "/authority.v1.SiteOwnerService/RefuseOwnerLogRequest": (
        True,
        lambda t: lpb.RefuseOwnerLogRequestRequest(request_id=t.request_id, reason="no cause"),
    ),
    "/authority.v1.SiteOwnerService/DeliverOwnerLogRequest": (
        True,
        lambda t: lpb.DeliverOwnerLogRequestRequest(request_id=t.request_id),
    ),
    # Personal data, in an order that keeps every holder usable to the end: door units are
    # dismounted (none yet) and then mounted, so the erasure requests that follow are refused
    # for a business reason (FAILED_PRECONDITION) instead of erasing the tenants' holders.
    "/authority.v1.PrivacyService/SetPersonProfile": (
        True,
        lambda t: ppb.SetPersonProfileRequest(
            key_holder_id=t.holder_id, profile=ppb.PersonProfile(name="Inger Christensen")
        ),
    ),
    "/authority.v1.PrivacyService/GetPersonProfile": (
        True,
        lambda t: ppb.GetPersonProfileRequest(key_holder_id=t.holder_id),
    ),
    "/authority.v1.PrivacyService/ExportPersonData": (
        True,
        lambda t: ppb.ExportPersonDataRequest(key_holder_id=t.holder_id),
    ),
    "/authority.v1.PrivacyService/GiveConsent": (
        True,
        lambda t: ppb.GiveConsentRequest(
            key_holder_id=t.holder_id, purpose="phone_lookup", text_version="v1"
        ),
    ),
    "/authority.v1.PrivacyService/ListConsents": (
        True,
        lambda t: ppb.ListConsentsRequest(key_holder_id=t.holder_id),
    ),
    "/authority.v1.PrivacyService/WithdrawConsent": (
        True,
        lambda t: ppb.WithdrawConsentRequest(key_holder_id=t.holder_id, purpose="phone_lookup"),
    ),
    "/authority.v1.PrivacyService/FindKeyHolderByPhone": (
        False,
        lambda t: ppb.FindKeyHolderByPhoneRequest(phone="+4511223344"),
    ),
    "/authority.v1.PrivacyService/RestrictProcessing": (
        True,
        lambda t: ppb.RestrictProcessingRequest(key_holder_id=t.holder_id),
    ),
    "/authority.v1.PrivacyService/LiftRestriction": (
        True,
        lambda t: ppb.LiftRestrictionRequest(key_holder_id=t.holder_id),
    ),
    "/authority.v1.PrivacyService/DismountDoorUnit": (
        True,
        lambda t: ppb.DoorUnitRequest(key_holder_id=t.holder_id, site_id=t.site_id),
    ),
    "/authority.v1.PrivacyService/MountDoorUnit": (
        True,
        lambda t: ppb.DoorUnitRequest(key_holder_id=t.holder_id, site_id=t.site_id),
    ),
    "/authority.v1.PrivacyService/RequestErasure": (
        True,
        lambda t: ppb.RequestErasureRequest(key_holder_id=t.holder_id),
    ),
    "/authority.v1.PrivacyService/RunPrivacySweep": (
        False,
        lambda t: ppb.RunPrivacySweepRequest(),
    ),
    "/authority.v1.PrivacyService/GetPrivacyReport": (
        False,
        lambda t: ppb.GetPrivacyReportRequest(),
    ),
    "/authority.v1.IdentityService/Login": (
        False,
        lambda t: ipb.LoginRequest(login="nobody-here", password="not the password"),
    ),
    "/authority.v1.IdentityService/Activate": (
        False,
        lambda t: ipb.ActivateRequest(activation_code="A" * 24, password="a new password"),
    ),
    "/authority.v1.IdentityService/RefreshSession": (
        False,
        lambda t: ipb.RefreshSessionRequest(
            refresh_credential=f"rfs_{t.holder_id}~s_x." + "A" * 43
        ),
    ),
    "/authority.v1.IdentityService/Logout": (False, lambda t: ipb.LogoutRequest()),
    "/authority.v1.IdentityService/CreateAccount": (
        True,
        lambda t: ipb.CreateAccountRequest(
            login=f"m-{secrets.token_hex(4)}",
            role=ipb.ACCOUNT_ROLE_ANALYST,
            organisation_id=t.org_id,
        ),
    ),
    "/authority.v1.IdentityService/SetAccountEnabled": (
        True,
        lambda t: ipb.SetAccountEnabledRequest(account_id=t.account_id, enabled=True),
    ),
    "/authority.v1.IdentityService/IssueHolderActivation": (
        True,
        lambda t: ipb.IssueHolderActivationRequest(key_holder_id=t.holder_id),
    ),
    "/authority.v1.IdentityService/RevokeSessions": (
        True,
        lambda t: ipb.RevokeSessionsRequest(key_holder_id=t.holder_id),
    ),
    "/authority.v1.IdentityService/UnlockLogin": (
        True,
        lambda t: ipb.UnlockLoginRequest(login=t.holder_id),
    ),
    "/authority.v1.IdentityService/GetLoginPolicy": (
        True,
        lambda t: ipb.GetLoginPolicyRequest(organisation_id=t.org_id),
    ),
    "/authority.v1.IdentityService/SetLoginPolicy": (
        True,
        lambda t: ipb.SetLoginPolicyRequest(
            target=ipb.GetLoginPolicyRequest(organisation_id=t.org_id),
            policy=ipb.LoginPolicy(max_failed_logins=3, lockout_seconds=900),
        ),
    ),
    "/authority.v1.IdentityService/CreateApiCredential": (
        True,
        lambda t: ipb.CreateApiCredentialRequest(organisation_id=t.org_id, scopes=["logs:read"]),
    ),
    "/authority.v1.IdentityService/ListApiCredentials": (
        True,
        lambda t: ipb.ListApiCredentialsRequest(organisation_id=t.org_id),
    ),
    "/authority.v1.IdentityService/RotateApiCredential": (
        True,
        lambda t: ipb.RotateApiCredentialRequest(credential_id=t.api_credential_id),
    ),
    "/authority.v1.IdentityService/RevokeApiCredential": (
        True,
        lambda t: ipb.RevokeApiCredentialRequest(credential_id=t.api_credential_id),
    ),
    "/authority.v1.IdentityService/CreateBridgeCredential": (
        False,
        lambda t: ipb.CreateBridgeCredentialRequest(name="bridge-x"),
    ),
}
INFRASTRUCTURE = {
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
}
"""Public by design and not about any tenant (their own tests cover them)."""


def served_methods() -> list[str]:
    return [
        f"/{service}/{m.name}"
        for service in SERVICE_NAMES
        for m in _POOL.FindServiceByName(service).methods
    ]


# -- calling and judging -----------------------------------------------------------------------

Answer = tuple[grpc.StatusCode, str]


def call(m: Matrix, path: str, request: Message | list[Message], caller: Caller) -> Answer:
    method = _method(path)
    out = message_factory.GetMessageClass(method.output_type)
    meta = (("authorization", f"Bearer {caller.credential}"),) if caller.credential else ()
    first = request[0] if isinstance(request, list) else request
    kw: dict[str, Any] = {
        "request_serializer": type(first).SerializeToString,
        "response_deserializer": out.FromString,
    }
    try:
        if method.client_streaming and method.server_streaming:
            assert isinstance(request, list)
            got = list(
                m.channel.stream_stream(path, **kw)(iter(request), metadata=meta, timeout=30)
            )
        elif method.server_streaming:
            got = list(m.channel.unary_stream(path, **kw)(request, metadata=meta, timeout=30))
        else:
            got = [m.channel.unary_unary(path, **kw)(request, metadata=meta, timeout=30)]
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""  # type: ignore[attr-defined]
    return grpc.StatusCode.OK, "|".join(r.SerializeToString().hex() for r in got)


def expected_cell(rule: Rule, caller: Caller, other_tenant: bool, tenant_bound: bool) -> str:
    """``allowed``, ``denied``, ``unauthenticated`` or ``hidden`` (as if it did not exist)."""
    if rule.public:
        return "allowed"
    if caller.role is None:
        return "unauthenticated"
    reach = rule.reach.get(caller.role)
    if reach is None:
        return "denied"
    if caller.scopes is not None and rule.api_scope and rule.api_scope.value not in caller.scopes:
        return "denied"
    if not other_tenant or not tenant_bound:
        return "allowed"
    if reach in (Reach.EVERYTHING, Reach.SIGNED_FACTS) or caller.operator:
        return "allowed"
    return "hidden"


def _normalised(answer: Answer, t: Tenant) -> Answer:
    code, details = answer
    for f in fields(Tenant):
        details = details.replace(getattr(t, f.name), f"<{f.name}>")
    return code, details


# -- the tests ---------------------------------------------------------------------------------


def test_every_served_rpc_is_in_the_table_and_the_matrix() -> None:
    served = served_methods()
    assert missing_methods(served) == [], "RPCs without a row in authority.api.authz"
    untested = sorted(set(served) - set(REQUESTS) - INFRASTRUCTURE)
    assert untested == [], "RPCs without a request in this matrix test"
    assert set(AUTHORIZATION) <= set(served) | INFRASTRUCTURE, "rows for RPCs nobody serves"


LOGOUT = "/authority.v1.IdentityService/Logout"
REVOKE_SESSIONS = "/authority.v1.IdentityService/RevokeSessions"
SESSION_ENDING = {
    LOGOUT,  # the holder's throwaway session is a new enrolment, which ends the others
    REVOKE_SESSIONS,
    "/authority.v1.IdentityService/IssueHolderActivation",
}


def logged_in_again(m: Matrix, caller: Caller) -> Caller:
    """The caller with a new login session (its others stay as they are). The holder's app
    enrols again (IssueHolderActivation, which the matrix calls too, resets its password)."""
    admin = m.handle.admin
    if caller.role is Role.KEY_HOLDER:
        session = admin.app_login(caller.login, APP_PASSWORD)
    else:
        session = admin.login(caller.login, APP_PASSWORD)
    return replace(caller, credential=session.access_credential)


def test_the_matrix(matrix: Matrix) -> None:
    failures: list[str] = []
    cells = 0
    for path, (tenant_bound, build) in REQUESTS.items():
        rule = AUTHORIZATION[path]
        for i in range(len(matrix.callers)):
            for other in (False, True):
                caller = matrix.callers[i]  # as renewed below
                tenant = matrix.b if other else matrix.a
                expected = expected_cell(rule, caller, other, tenant_bound)
                # A session caller logs out of a session of its own, not the matrix's.
                acting = (
                    logged_in_again(matrix, caller) if path == LOGOUT and caller.login else caller
                )
                answer = call(matrix, path, build(tenant), acting)
                if path in SESSION_ENDING:  # tenant A's holder (a caller) may have lost its own
                    k = next(j for j, c in enumerate(matrix.callers) if c.role is Role.KEY_HOLDER)
                    matrix.callers[k] = logged_in_again(matrix, matrix.callers[k])
                    caller = matrix.callers[i]
                cells += 1
                where = f"{path} as {caller.name} on {'other' if other else 'own'} tenant"
                code, details = answer
                refused = (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)
                if rule.public:  # Login and friends answer UNAUTHENTICATED for a bad password
                    refused = (grpc.StatusCode.PERMISSION_DENIED,)
                if expected == "allowed":
                    if code in refused:
                        failures.append(f"{where}: expected allowed, got {code.name} {details}")
                elif expected in ("denied", "unauthenticated"):
                    want = (
                        grpc.StatusCode.PERMISSION_DENIED
                        if expected == "denied"
                        else grpc.StatusCode.UNAUTHENTICATED
                    )
                    if code is not want:
                        failures.append(f"{where}: expected {want.name}, got {code.name} {details}")
                    elif any(getattr(tenant, f.name) in details for f in fields(Tenant)):
                        failures.append(f"{where}: the refusal names an id: {details}")
                else:  # hidden: exactly the answer for ids that do not exist
                    ghost = ghost_of(tenant)
                    nowhere = call(matrix, path, build(ghost), caller)
                    if code is grpc.StatusCode.OK and nowhere[0] is grpc.StatusCode.OK:
                        same = answer == nowhere
                    else:
                        same = _normalised(answer, tenant) == _normalised(nowhere, ghost)
                    if not same or (code in (grpc.StatusCode.OK,) and answer != nowhere):
                        failures.append(
                            f"{where}: leaks existence: {code.name} {details!r} vs a missing "
                            f"id's {nowhere[0].name} {nowhere[1]!r}"
                        )
    assert cells == len(REQUESTS) * len(matrix.callers) * 2
    assert not failures, "\n".join(failures)


def test_denials_and_bad_credentials_are_in_the_access_log(matrix: Matrix) -> None:
    holder = next(c for c in matrix.callers if c.role is Role.KEY_HOLDER)
    path = "/authority.v1.DirectoryService/CreateSite"
    code, _ = call(matrix, path, REQUESTS[path][1](matrix.a), holder)
    assert code is grpc.StatusCode.PERMISSION_DENIED
    assert holder.credential is not None
    forged = Caller("forger", Role.KEY_HOLDER, holder.credential[:-4] + "AAAA")
    code, _ = call(matrix, path, REQUESTS[path][1](matrix.a), forged)
    assert code is grpc.StatusCode.UNAUTHENTICATED
    logged = buffered_events(matrix.handle)
    denied = [e for e in logged if e["action"] == "auth.denied" and e["reason"] == path]
    assert denied, "the permission denial is not in the access log"
    assert denied[-1]["actor_role"] == "key_holder"
    assert denied[-1]["actor_id"] == holder.credential.split(".")[0].split("~")[0]  # the holder
    refused = [e for e in logged if e["action"] == "auth.unauthenticated" and e["reason"] == path]
    assert refused, "the bad credential is not in the access log"
    secret = holder.credential.split(".")[1]
    assert not any(secret[:-4] in json.dumps(e) for e in logged), "a secret reached the log"


def test_refusals_inside_the_unlock_path_and_the_use_cases_are_logged(matrix: Matrix) -> None:
    holder = next(c for c in matrix.callers if c.role is Role.KEY_HOLDER)
    assert holder.credential is not None
    forged = Caller("forger", Role.KEY_HOLDER, holder.credential[:-4] + "AAAA")
    unlock = "/authority.v1.UnlockService/RequestUnlock"
    code, _ = call(matrix, unlock, REQUESTS[unlock][1](matrix.a), forged)
    assert code is grpc.StatusCode.UNAUTHENTICATED
    organisation = next(c for c in matrix.callers if c.role is Role.ORGANISATION)
    create = "/authority.v1.IdentityService/CreateAccount"
    code, _ = call(
        matrix,
        create,
        ipb.CreateAccountRequest(login="would-be-admin", role=ipb.ACCOUNT_ROLE_PLATFORM_ADMIN),
        organisation,
    )
    assert code is grpc.StatusCode.PERMISSION_DENIED  # allowed by the table, refused by the rule
    logged = buffered_events(matrix.handle)
    failed_unlocks = [
        e for e in logged if e["action"] == "auth.unauthenticated" and e["reason"] == unlock
    ]
    assert failed_unlocks
    assert failed_unlocks[-1]["door_id"] == matrix.a.door_id
    assert failed_unlocks[-1]["actor_id"] == holder.credential.split(".")[0].split("~")[0]
    by_rule = [e for e in logged if e["action"] == "auth.denied" and e["reason"] == create]
    assert by_rule
    assert json.loads(by_rule[-1]["detail"]) == {"by": "use_case"}
