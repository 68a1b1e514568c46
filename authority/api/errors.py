"""The one place where the product's errors become gRPC status codes.

Servicer methods are wrapped by ``grpc_errors``: an ``AuthorityError``, or a ``TokenError`` (the
wire package's token errors, re-exported by ``authority.domain.errors``), is answered with its code
and its message (written for the partner's developer); cancellation and deadline expiry pass
through untouched (grpc reports CANCELLED / DEADLINE_EXCEEDED); anything else is a bug on our
side: logged with an error id, answered INTERNAL with only that id, never the exception text.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from authority.domain import errors

log = logging.getLogger("authority.api")

STATUS_CODES: tuple[tuple[type[errors.ProductError], grpc.StatusCode], ...] = (
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.TokenError, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.Conflict, grpc.StatusCode.ABORTED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.RateLimited, grpc.StatusCode.RESOURCE_EXHAUSTED),
)


RETRY_AFTER_MS = "retry-after-ms"
"""Trailing metadata on RESOURCE_EXHAUSTED (rate limits): milliseconds before a retry can
succeed, also in the message."""


async def abort_for(context: grpc.aio.ServicerContext[Any, Any], exc: errors.ProductError) -> None:
    """Answer ``exc`` with its status code and message (and retry information where it has)."""
    trailing: tuple[tuple[str, str], ...] = ()
    if isinstance(exc, errors.RateLimited):
        trailing = ((RETRY_AFTER_MS, str(exc.retry_after_ms)),)
    await context.abort(status_for(exc), str(exc), trailing_metadata=trailing)


def status_for(exc: errors.ProductError) -> grpc.StatusCode:
    for cls, code in STATUS_CODES:
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.INTERNAL


async def _abort_with(
    context: grpc.aio.ServicerContext[Any, Any], exc: Exception, rpc: str
) -> None:
    """End the call for ``exc`` (called from the handler's ``except``): a product error gets its
    status from the table, an abort already under way goes on, anything else is logged with an
    error id and answered INTERNAL with only that id."""
    if isinstance(exc, errors.PRODUCT_ERRORS):
        await abort_for(context, exc)
    if isinstance(exc, grpc.aio.AbortError):
        raise exc
    error_id = secrets.token_hex(6)
    log.exception("unhandled error", extra={"error_id": error_id, "rpc": rpc})
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error (id {error_id})")


R = TypeVar("R")
Handler = Callable[[Any, Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[R]]


def grpc_errors(method: Handler[R]) -> Handler[R]:
    """Translate errors raised by a unary servicer method (see module docstring)."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> R:
        try:
            return await method(self, request, context)
        except Exception as exc:
            await _abort_with(context, exc, method.__name__)
        raise AssertionError("unreachable: context.abort raises")  # pragma: no cover

    return wrapper


StreamHandler = Callable[[Any, Any, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[R]]


def grpc_stream_errors(method: StreamHandler[R]) -> StreamHandler[R]:
    """``grpc_errors`` for methods that stream responses (async generators)."""

    @functools.wraps(method)
    async def wrapper(
        self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[R]:
        try:
            async for response in method(self, request, context):
                yield response
        except Exception as exc:
            await _abort_with(context, exc, method.__name__)

    return wrapper
