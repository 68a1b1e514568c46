"""The token errors live in the wire package (``doorkey_wire.errors``, a leaf that cannot derive
them from ``AuthorityError``), yet they are part of the authority's one error hierarchy: re-exported
by ``authority.domain.errors`` and answered INVALID_ARGUMENT with their message at the gRPC edge,
never INTERNAL."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

import doorkey_wire.errors as wire
from authority.api.errors import STATUS_CODES, grpc_errors, grpc_stream_errors, status_for
from authority.domain import errors

TOKEN_ERRORS = (
    wire.TokenError,
    wire.MalformedToken,
    wire.UnknownKey,
    wire.BadSignature,
    wire.WrongAudience,
    wire.TokenExpired,
    wire.TokenNotYetValid,
    wire.NonceMismatch,
    wire.WrongIssuer,
)


class Aborted(Exception):
    pass


class FakeContext:
    def __init__(self) -> None:
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    async def abort(self, code: grpc.StatusCode, message: str, **_: Any) -> None:
        self.aborted = (code, message)
        raise Aborted


def test_the_authority_re_exports_the_wire_token_errors() -> None:
    for cls in TOKEN_ERRORS:
        assert getattr(errors, cls.__name__) is cls
        assert issubclass(cls, wire.TokenError)
    assert (wire.TokenError, grpc.StatusCode.INVALID_ARGUMENT) in STATUS_CODES
    assert wire.TokenError in errors.PRODUCT_ERRORS
    assert errors.AuthorityError in errors.PRODUCT_ERRORS


@pytest.mark.parametrize("cls", TOKEN_ERRORS)
def test_every_token_error_is_invalid_argument(cls: type[wire.TokenError]) -> None:
    assert status_for(cls("why")) is grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("cls", TOKEN_ERRORS)
async def test_a_servicer_raising_a_token_error_answers_with_its_message(
    cls: type[wire.TokenError],
) -> None:
    class Servicer:
        @grpc_errors
        async def Unary(self, request: Any, context: Any) -> None:
            raise cls("claim cti must be 8-32 bytes")

        @grpc_stream_errors
        async def Stream(self, request: Any, context: Any) -> Any:
            raise cls("claim cti must be 8-32 bytes")
            yield  # pragma: no cover

    for call in (
        lambda ctx: Servicer().Unary(None, ctx),
        lambda ctx: _drain(Servicer().Stream(None, ctx)),
    ):
        context = FakeContext()
        with pytest.raises(Aborted):
            await call(context)
        assert context.aborted == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "claim cti must be 8-32 bytes",
        )


async def _drain(stream: Any) -> None:
    async for _ in stream:
        pass  # pragma: no cover
