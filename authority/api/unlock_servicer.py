"""The gRPC edge of the unlock (``UnlockService``): a decision and its signed token, and a
holder's device key. The hot path: served through grpc.aio's registered-method path
(``HOT_METHODS`` in ``authority.api.server``); thin, like every servicer."""

from __future__ import annotations

from typing import Protocol

from authority.api import convert
from authority.api.authenticated import AuthenticatedServicer, Context
from authority.api.authz import authorization_header
from authority.api.errors import grpc_errors
from authority.domain.credentials import Role, parse_bearer
from authority.usecases.directory import DirectoryCommands
from authority.usecases.peer import calling_peer
from authority.usecases.unlock import UnlockService
from authority.v1 import authority_pb2 as pb
from authority.v1 import authority_pb2_grpc as pb_grpc


class CallGauge(Protocol):
    """Counts the calls in progress (``wrappers.coalescing.CallsInProgress``)."""

    def enter(self) -> None: ...

    def leave(self) -> None: ...


def authorization(context: Context) -> str | None:
    return authorization_header(context.invocation_metadata())


class UnlockServicer(AuthenticatedServicer, pb_grpc.UnlockServiceServicer):
    def __init__(
        self, unlock: UnlockService, commands: DirectoryCommands, *, calls: CallGauge
    ) -> None:
        self._unlock = unlock
        self._cmd = commands
        self._calls = calls

    @grpc_errors
    async def RequestUnlock(
        self, request: pb.RequestUnlockRequest, context: Context
    ) -> pb.RequestUnlockResponse:
        # Authenticated inside the unlock's one round trip, not by the Authenticator.
        credential = parse_bearer(authorization(context))
        peer = calling_peer()  # mTLS only; an organisation's certificate carries no holder
        if peer is not None:
            peer.admits(role=Role.KEY_HOLDER, organisation_id=None)
        calls = self._calls
        calls.enter()
        try:
            outcome = await self._unlock.request_unlock(
                credential,
                request.door_id,
                request.relay_challenge or None,
                offline=request.offline,
            )
        finally:
            calls.leave()
        reason = convert.REASON_TO_PB[outcome.decision.reason]
        if outcome.claims is None or outcome.token is None:
            return pb.RequestUnlockResponse(decision=pb.DECISION_DENY, reason=reason)
        claims = outcome.claims
        response = pb.RequestUnlockResponse(
            decision=pb.DECISION_ALLOW,
            reason=reason,
            token=outcome.token,
            token_id=claims.token_id.hex(),
            relay_id=claims.audience,
            grant_id=outcome.decision.grant.grant_id if outcome.decision.grant else "",
            revocation_epoch=claims.revocation_epoch,
        )
        response.expires_at.seconds = claims.expires_at
        return response

    @grpc_errors
    async def RegisterDeviceKey(
        self, request: pb.RegisterDeviceKeyRequest, context: Context
    ) -> pb.RegisterDeviceKeyResponse:
        principal = await self.principal(context)
        replaced = await self._cmd.register_device_key(principal, request.device_public_key)
        return pb.RegisterDeviceKeyResponse(
            key_holder_id=principal.key_holder_id or "", replaced=replaced
        )
