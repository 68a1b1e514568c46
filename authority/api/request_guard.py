"""Requests that are not valid protobuf are the caller's mistake: INVALID_ARGUMENT, not UNKNOWN.

grpc deserializes a request before any servicer code runs; a corrupt message or a string field
that is not UTF-8 raises ``DecodeError`` there, which grpc answers UNKNOWN with the exception's
class in the message. ``GuardedRegistry`` stands in for the server while services are added: it
wraps each method's deserializer (a malformed message becomes a ``MalformedRequest`` value) and
its behaviour (which answers INVALID_ARGUMENT through the one status table when it sees one).
The wrapping happens once, at registration, so a call pays two function frames and no
interceptor; every service registered through it is covered, including ones added later.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from authority.api.errors import status_for
from authority.domain.errors import InvalidArgument

Context = grpc.aio.ServicerContext[Any, Any]


@dataclass(frozen=True, slots=True)
class MalformedRequest:
    """What the guarded deserializer returns instead of raising."""

    reason: str

    def error(self) -> InvalidArgument:
        return InvalidArgument(f"the request is not a valid protobuf message: {self.reason}")


def _deserializer(inner: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if inner is None:
        return None

    def deserialize(raw: bytes) -> Any:
        try:
            return inner(raw)
        except DecodeError as exc:
            return MalformedRequest(str(exc)[:200])

    return deserialize


async def _refuse(context: Context, request: MalformedRequest) -> None:
    exc = request.error()
    await context.abort(status_for(exc), str(exc))


async def _checked(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, MalformedRequest):
            await _refuse(context, request)
        yield request


def _unary_request(behaviour: Any, *, streams: bool) -> Any:
    # A streaming method is an async generator, or a coroutine writing with context.write.
    if streams and inspect.isasyncgenfunction(behaviour):

        async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
            if isinstance(request, MalformedRequest):
                await _refuse(context, request)
            async for response in behaviour(request, context):
                yield response

        return stream

    async def unary(request: Any, context: Context) -> Any:
        if isinstance(request, MalformedRequest):
            await _refuse(context, request)
        return await behaviour(request, context)

    return unary


def _stream_request(behaviour: Any, *, streams: bool) -> Any:
    if streams and inspect.isasyncgenfunction(behaviour):

        async def stream(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
            async for response in behaviour(_checked(requests, context), context):
                yield response

        return stream

    async def unary(requests: AsyncIterator[Any], context: Context) -> Any:
        return await behaviour(_checked(requests, context), context)

    return unary


def guard_handler(handler: Any) -> Any:
    """The same method handler, answering INVALID_ARGUMENT for undecodable requests. Handlers
    whose behaviour is synchronous (none of ours) are left as they are."""
    behaviour = (
        handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
    )
    if not (inspect.iscoroutinefunction(behaviour) or inspect.isasyncgenfunction(behaviour)):
        return handler
    deserializer = _deserializer(handler.request_deserializer)
    serializer = handler.response_serializer
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            _unary_request(behaviour, streams=False), deserializer, serializer
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            _unary_request(behaviour, streams=True), deserializer, serializer
        )
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(
            _stream_request(behaviour, streams=False), deserializer, serializer
        )
    return grpc.stream_stream_rpc_method_handler(
        _stream_request(behaviour, streams=True), deserializer, serializer
    )


class _GuardedGeneric(grpc.GenericRpcHandler):
    """A generic handler whose method handlers are guarded (once per method)."""

    def __init__(self, inner: grpc.GenericRpcHandler) -> None:
        self._inner = inner
        self._cache: dict[str, Any] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        method = handler_call_details.method
        guarded = self._cache.get(method)
        if guarded is None:
            handler = self._inner.service(handler_call_details)
            if handler is None:  # not ours; never cached (callers choose the names)
                return None
            guarded = self._cache[method] = guard_handler(handler)
        return guarded


class GuardedRegistry:
    """The server as generated ``add_*Servicer_to_server`` functions see it: handlers are
    guarded on the way in; everything else is the server itself.

    Only the ``hot`` methods (full names, ``/pkg.Service/Method``) take grpc.aio's registered-
    method path; every other method is served through a generic handler. The registered path
    saves a lookup per call, but grpc.aio's accept loop keeps one pending request per registered
    method and pays for all of them on every call (measured: ~45 µs per unlock with the ~70
    methods all registered, bench/README.md), so it is kept for the calls that are hot."""

    def __init__(self, server: grpc.aio.Server, *, hot: frozenset[str] = frozenset()) -> None:
        self.server = server
        self._hot = hot
        self._guarded: dict[str, dict[str, Any]] = {}

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        guarded = self._guard(service, handlers)
        hot = {n: h for n, h in guarded.items() if f"/{service}/{n}" in self._hot}
        cold = {n: h for n, h in guarded.items() if n not in hot}
        if hot:
            self.server.add_registered_method_handlers(service, hot)
        if cold:
            self.server.add_generic_rpc_handlers(
                [grpc.method_handlers_generic_handler(service, cold)]
            )

    def add_generic_rpc_handlers(self, generic_handlers: Sequence[Any]) -> None:
        self.server.add_generic_rpc_handlers([_GuardedGeneric(g) for g in generic_handlers])

    def _guard(self, service: str, handlers: dict[str, Any]) -> dict[str, Any]:
        known = self._guarded.setdefault(service, {})
        for name, handler in handlers.items():
            if name not in known:
                known[name] = guard_handler(handler)
        return {name: known[name] for name in handlers}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.server, name)
