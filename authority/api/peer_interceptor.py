"""The gRPC edge's half of mTLS: the verified client certificate's identity of each call.

Installed only when a listener asks for client certificates (``tls_client_ca_file``), and first
in the interceptor chain, so whatever authenticates the call afterwards (``Authenticator``) sees
the identity through ``authority.usecases.peer.calling_peer``. A certificate that names no authority
identity is refused here, before anything else runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import grpc

from authority.api.errors import status_for
from authority.domain.errors import AuthorityError, InvalidArgument, PermissionDenied
from authority.usecases.peer import (
    URN_PREFIX,
    CertificateIdentity,
    reset_calling_peer,
    set_calling_peer,
)

Context = grpc.aio.ServicerContext[Any, Any]


def peer_identity(auth_context: Mapping[str, Iterable[bytes]]) -> CertificateIdentity | None:
    """The identity of a verified client certificate, from grpc's auth context; ``None`` when the
    caller presented none (plaintext, or TLS without a client certificate)."""
    for key in ("x509_subject_alternative_name", "x509_common_name"):
        for raw in auth_context.get(key, ()):
            value = raw.decode("utf-8", "replace")
            if value.startswith(URN_PREFIX):
                try:
                    return CertificateIdentity.parse(value)
                except InvalidArgument as exc:
                    raise PermissionDenied(f"client certificate: {exc}") from exc
    if auth_context.get("x509_pem_cert"):
        raise PermissionDenied(
            "the client certificate names no authority identity (SAN URI urn:authority:…)"
        )
    return None


class PeerIdentityInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler: Any = await continuation(handler_call_details)
        if handler is None:
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _streaming(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _unary(handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        assert handler.stream_stream is not None
        return grpc.stream_stream_rpc_method_handler(
            _streaming(handler.stream_stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


async def _identify(context: Context) -> Any:
    try:
        return set_calling_peer(peer_identity(context.auth_context()))
    except AuthorityError as exc:
        await context.abort(status_for(exc), str(exc))


def _unary(behaviour: Any) -> Any:
    async def call(request: Any, context: Context) -> Any:
        token = await _identify(context)
        try:
            return await behaviour(request, context)
        finally:
            reset_calling_peer(token)

    return call


def _streaming(behaviour: Any) -> Any:
    async def call(request: Any, context: Context) -> AsyncIterator[Any]:
        token = await _identify(context)
        try:
            async for response in behaviour(request, context):
                yield response
        finally:
            reset_calling_peer(token)

    return call
