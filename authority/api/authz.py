"""The one place where callers are authenticated and the authorization table is enforced.

A server interceptor wraps every method handler: it resolves the caller's ``Principal`` from the
``authorization`` metadata, checks the row of the action the method asks for (``RPC_ACTIONS``
below maps each RPC to its ``authority.domain.permissions.Action``, whose row is in ``PERMISSIONS``)
and only then runs the servicer, which reads the principal with ``current_principal()``. A refusal
(no or bad credential, a role not in the row, a missing API scope, a method not in the table) is
answered before the request is looked at, and is an event in the access log.

The unlock call is the exception by design: it authenticates inside its single Redis round trip
(``authority.usecases.unlock``), so the interceptor hands it through untouched.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeAlias

import grpc

from authority.api.errors import abort_for, status_for
from authority.domain.credentials import Principal
from authority.domain.errors import AuthorityError, PermissionDenied, Unauthenticated
from authority.domain.events import EventKind, event
from authority.domain.permissions import PERMISSIONS, Action, Reach, Rule, permit
from authority.domain.ports.accesslog import EventRecorder
from authority.usecases.auth import Authenticator

log = logging.getLogger("authority.authz")
Context = grpc.aio.ServicerContext[Any, Any]
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"

_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "authority_principal", default=None
)


UNLOCK_METHOD = "/authority.v1.UnlockService/RequestUnlock"
"""The unlock RPC: it authenticates inside the unlock use case, whose refusals name it."""

_UNLOCK = "authority.v1.UnlockService"
_RELAY = "authority.v1.RelayService"
_DIR = "authority.v1.DirectoryService"
_GRANT = "authority.v1.GrantService"
_KEYS = "authority.v1.KeyService"
_LOG = "authority.v1.AccessLogService"
_OWNER = "authority.v1.SiteOwnerService"
_ID = "authority.v1.IdentityService"
_PRIV = "authority.v1.PrivacyService"
A = Action

RPC_ACTIONS: Mapping[str, Action] = {
    # -- the phone ---------------------------------------------------------------------------
    UNLOCK_METHOD: A.REQUEST_UNLOCK,
    f"/{_UNLOCK}/RegisterDeviceKey": A.REGISTER_DEVICE_KEY,
    # -- relays ------------------------------------------------------------------------------
    f"/{_RELAY}/ReportRelayOutcome": A.REPORT_RELAY_OUTCOME,
    f"/{_RELAY}/GetRevocationNotice": A.READ_REVOCATION_NOTICE,
    f"/{_KEYS}/GetVerificationKeys": A.READ_VERIFICATION_KEYS,
    # -- directory ---------------------------------------------------------------------------
    f"/{_DIR}/CreateOrganisation": A.CREATE_ORGANISATION,
    f"/{_DIR}/GetOrganisation": A.READ_ORGANISATION,
    f"/{_DIR}/SetOrganisationStatus": A.SET_ORGANISATION_STATUS,
    f"/{_DIR}/CreateSite": A.CREATE_SITE,
    f"/{_DIR}/GetSite": A.READ_SITE,
    f"/{_DIR}/CreateDoor": A.CREATE_DOOR,
    f"/{_DIR}/GetDoor": A.READ_DOOR,
    f"/{_DIR}/SetDoorRelayKey": A.SET_DOOR_RELAY_KEY,
    f"/{_DIR}/CreateKeyHolder": A.CREATE_KEY_HOLDER,
    f"/{_DIR}/GetKeyHolder": A.READ_KEY_HOLDER,
    f"/{_DIR}/SetKeyHolderStatus": A.SET_KEY_HOLDER_STATUS,
    f"/{_DIR}/SetSiteOrganisationBlocked": A.BLOCK_SITE_ORGANISATION,
    # -- grants ------------------------------------------------------------------------------
    f"/{_GRANT}/IssueGrant": A.ISSUE_GRANTS,
    f"/{_GRANT}/RevokeGrant": A.REVOKE_GRANTS,
    f"/{_GRANT}/ListGrants": A.LIST_GRANTS,
    f"/{_GRANT}/IssueGrants": A.ISSUE_GRANTS,
    f"/{_GRANT}/RevokeGrants": A.REVOKE_GRANTS,
    f"/{_GRANT}/ReplaceHolderGrants": A.REPLACE_HOLDER_GRANTS,
    f"/{_GRANT}/ExportGrants": A.EXPORT_GRANTS,
    f"/{_GRANT}/GetAccessPolicy": A.READ_ACCESS_POLICY,
    # -- the access log ----------------------------------------------------------------------
    f"/{_LOG}/QueryEvents": A.READ_ACCESS_LOG,
    f"/{_LOG}/AggregateEvents": A.READ_ACCESS_LOG,
    f"/{_LOG}/CreateSiteOwnerCredential": A.CREATE_SITE_OWNER_CREDENTIAL,
    f"/{_LOG}/CreateAnalystCredential": A.CREATE_ANALYST_CREDENTIAL,
    f"/{_OWNER}/ListSiteOrganisations": A.LIST_SITE_ORGANISATIONS,
    f"/{_OWNER}/FileOwnerLogRequest": A.FILE_OWNER_LOG_REQUEST,
    f"/{_OWNER}/GetOwnerLogRequest": A.READ_OWNER_LOG_REQUESTS,
    f"/{_OWNER}/ListOwnerLogRequests": A.READ_OWNER_LOG_REQUESTS,
    f"/{_OWNER}/RecordOwnerLogRequestPayment": A.RECORD_OWNER_LOG_REQUEST_PAYMENT,
    f"/{_OWNER}/RefuseOwnerLogRequest": A.REFUSE_OWNER_LOG_REQUEST,
    f"/{_OWNER}/DeliverOwnerLogRequest": A.DELIVER_OWNER_LOG_REQUEST,
    # -- personal data -----------------------------------------------------------------------
    f"/{_PRIV}/SetPersonProfile": A.WRITE_PERSON_PROFILE,
    f"/{_PRIV}/GetPersonProfile": A.READ_PERSON_PROFILE,
    f"/{_PRIV}/ExportPersonData": A.EXPORT_PERSON_DATA,
    f"/{_PRIV}/RequestErasure": A.REQUEST_ERASURE,
    f"/{_PRIV}/RestrictProcessing": A.RESTRICT_PROCESSING,
    f"/{_PRIV}/LiftRestriction": A.LIFT_RESTRICTION,
    f"/{_PRIV}/GiveConsent": A.GIVE_CONSENT,
    f"/{_PRIV}/WithdrawConsent": A.WITHDRAW_CONSENT,
    f"/{_PRIV}/ListConsents": A.LIST_CONSENTS,
    f"/{_PRIV}/FindKeyHolderByPhone": A.FIND_KEY_HOLDER_BY_PHONE,
    f"/{_PRIV}/MountDoorUnit": A.MOUNT_DOOR_UNIT,
    f"/{_PRIV}/DismountDoorUnit": A.DISMOUNT_DOOR_UNIT,
    f"/{_PRIV}/RunPrivacySweep": A.RUN_PRIVACY_SWEEP,
    f"/{_PRIV}/GetPrivacyReport": A.READ_PRIVACY_REPORT,
    # -- identity: logins, sessions, accounts, credentials -----------------------------------
    f"/{_ID}/Login": A.LOG_IN,
    f"/{_ID}/Activate": A.ACTIVATE,
    f"/{_ID}/RefreshSession": A.REFRESH_SESSION,
    f"/{_ID}/Logout": A.LOG_OUT,
    f"/{_ID}/CreateAccount": A.CREATE_ACCOUNT,
    f"/{_ID}/SetAccountEnabled": A.ENABLE_ACCOUNT,
    f"/{_ID}/IssueHolderActivation": A.ISSUE_HOLDER_ACTIVATION,
    f"/{_ID}/RevokeSessions": A.REVOKE_SESSIONS,
    f"/{_ID}/UnlockLogin": A.UNLOCK_LOGIN,
    f"/{_ID}/GetLoginPolicy": A.READ_LOGIN_POLICY,
    f"/{_ID}/SetLoginPolicy": A.SET_LOGIN_POLICY,
    f"/{_ID}/CreateApiCredential": A.CREATE_API_CREDENTIAL,
    f"/{_ID}/ListApiCredentials": A.LIST_API_CREDENTIALS,
    f"/{_ID}/RotateApiCredential": A.ROTATE_API_CREDENTIAL,
    f"/{_ID}/RevokeApiCredential": A.REVOKE_API_CREDENTIAL,
    f"/{_ID}/CreateBridgeCredential": A.CREATE_BRIDGE_CREDENTIAL,
    # -- infrastructure: health for load balancers, reflection for grpcurl -------------------
    "/grpc.health.v1.Health/Check": A.CHECK_HEALTH,
    "/grpc.health.v1.Health/Watch": A.CHECK_HEALTH,
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": A.DESCRIBE_API,
}
"""Every RPC the server serves, as the action it asks for. An RPC missing here is denied (and
``tests/security/test_authz_matrix.py`` fails naming it)."""

AUTHORIZATION: Mapping[str, Rule] = {
    method: PERMISSIONS[action] for method, action in RPC_ACTIONS.items()
}
"""Who may call which RPC: each RPC's row is its action's (``authority authz`` prints it)."""


def authorize(method: str, principal: Principal) -> Reach:
    """The caller's reach through ``method``; raises ``PermissionDenied`` otherwise.

    The message names the call and the caller's role, never any id from the request.
    """
    action = RPC_ACTIONS.get(method)
    if action is None:
        raise PermissionDenied(f"{method} is not in the authorization table: nobody may call it")
    return permit(action, principal, asked=method)


def missing_methods(methods: Iterable[str]) -> list[str]:
    """The served methods that have no row in the table."""
    return sorted(m for m in methods if m not in RPC_ACTIONS)


def current_principal() -> Principal:
    """The authenticated, authorized caller of the running RPC (set by the interceptor)."""
    principal = _principal.get()
    if principal is None:  # a servicer reached without the interceptor: refuse, never guess
        raise Unauthenticated("no authenticated caller")
    return principal


def authorization_header(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "authorization":
            return str(value)
    return None


class AuthorizationInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, authenticator: Authenticator, events: EventRecorder) -> None:
        self._auth = authenticator
        self._events = events

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        rule = AUTHORIZATION.get(method)
        if handler is None or (rule is not None and rule.authenticated_by_use_case):
            return handler
        if rule is not None and rule.public:
            return handler
        return self._wrap(handler, method)

    async def _admit(self, method: str, context: Context) -> Principal:
        """Authenticate and authorize; on refusal, log the event and abort the call."""
        header = authorization_header(context.invocation_metadata())
        principal: Principal | None = None
        try:
            principal = await self._auth.authenticate(header)
            authorize(method, principal)
        except (Unauthenticated, PermissionDenied) as exc:
            await self._refused(method, principal, exc)
            await context.abort(status_for(exc), str(exc))
        except AuthorityError as exc:  # e.g. Redis unavailable, or a rate limit
            await abort_for(context, exc)
        assert principal is not None
        _principal.set(principal)
        return principal

    async def _refused(
        self, method: str, principal: Principal | None, exc: AuthorityError, by: str = "table"
    ) -> None:
        denied = isinstance(exc, PermissionDenied)
        try:
            await self._events.record(
                [
                    event(
                        EventKind.ADMIN,
                        "auth.denied" if denied else "auth.unauthenticated",
                        "refused",
                        reason=method,
                        actor_role=principal.role.value if principal else "",
                        actor_id=principal.credential_id if principal else "",
                        organisation_id=(principal.organisation_id or "") if principal else "",
                        detail=f'{{"by":"{by}"}}',
                    )
                ]
            )
        except AuthorityError:  # the refusal stands even when the log cannot take it now
            log.warning("refusal not logged", extra={"rpc": method})

    async def _denied_later(self, method: str, principal: Principal, context: Context) -> None:
        """A use case refused the admitted caller (e.g. an organisation admin creating a platform
        admin): that permission denial is an event too."""
        if context.code() is grpc.StatusCode.PERMISSION_DENIED:
            denial = PermissionDenied(context.details() or "")
            await self._refused(method, principal, denial, by="use_case")

    def _wrap(self, handler: Handler, method: str) -> Handler:
        admit = self._admit
        denied_later = self._denied_later
        # The stubs type the behaviours for the sync server; on grpc.aio they are coroutines
        # and async generators.
        inner_uu: Any = handler.unary_unary
        inner_us: Any = handler.unary_stream
        inner_su: Any = handler.stream_unary
        inner_ss: Any = handler.stream_stream
        if inner_uu is not None:

            async def unary_unary(request: Any, context: Context) -> Any:
                principal = await admit(method, context)
                try:
                    return await inner_uu(request, context)
                except grpc.aio.AbortError:
                    await denied_later(method, principal, context)
                    raise

            return grpc.unary_unary_rpc_method_handler(
                unary_unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if inner_us is not None:

            async def unary_stream(request: Any, context: Context) -> AsyncIterator[Any]:
                principal = await admit(method, context)
                try:
                    async for response in inner_us(request, context):
                        yield response
                except grpc.aio.AbortError:
                    await denied_later(method, principal, context)
                    raise

            return grpc.unary_stream_rpc_method_handler(
                unary_stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if inner_su is not None:

            async def stream_unary(requests: Any, context: Context) -> Any:
                principal = await admit(method, context)
                try:
                    return await inner_su(requests, context)
                except grpc.aio.AbortError:
                    await denied_later(method, principal, context)
                    raise

            return grpc.stream_unary_rpc_method_handler(
                stream_unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )

        async def stream_stream(requests: Any, context: Context) -> AsyncIterator[Any]:
            principal = await admit(method, context)
            try:
                async for response in inner_ss(requests, context):
                    yield response
            except grpc.aio.AbortError:
                await denied_later(method, principal, context)
                raise

        return grpc.stream_stream_rpc_method_handler(
            stream_stream,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
