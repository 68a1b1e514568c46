"""The one place where callers are authenticated and the authorization table is enforced.

A server interceptor wraps every method handler: it resolves the caller's ``Principal`` from the
``authorization`` metadata, checks the method's row in ``authority.usecases.authz.AUTHORIZATION``
and only then runs the servicer, which reads the principal with ``current_principal()``. A refusal
(no or bad credential, a role not in the row, a missing API scope, a method not in the table) is
answered before the request is looked at, and is an event in the access log.

The unlock call is the exception by design: it authenticates inside its single Redis round trip
(``authority.usecases.unlock``), so the interceptor hands it through untouched.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc

from authority.api.errors import abort_for, status_for
from authority.domain.errors import AuthorityError, PermissionDenied, Unauthenticated
from authority.domain.events import EventKind, event
from authority.domain.ports.accesslog import EventRecorder
from authority.usecases.auth import Authenticator
from authority.usecases.authz import AUTHORIZATION, authorize
from authority.usecases.credentials import Principal

log = logging.getLogger("authority.authz")
Context = grpc.aio.ServicerContext[Any, Any]
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"

_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "authority_principal", default=None
)


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
