"""The bridge's and the phone's asyncio gRPC link to the authority.

A thin adapter: it speaks ``authority.v1`` and turns answers into the relay side's terms (a
token, an ``UnlockRefused`` with the decision reason). Status codes from the authority propagate
as ``grpc.aio.AioRpcError`` except those the caller must act on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc

from authority.client.authority import bearer_metadata
from authority.client.tls import ClientTls
from authority.v1 import authority_pb2 as pb
from authority.v1 import authority_pb2_grpc as pb_grpc


class UnlockRefused(Exception):
    """The authority answered DENY: nothing is written to the relay."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the authority refused the unlock: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: bytes
    token_id: str
    relay_id: str


class AuthorityLink:
    """One channel, many callers: ``with_credential`` gives a view acting for another holder."""

    def __init__(
        self,
        target: str,
        *,
        credential: str | None = None,
        tls: ClientTls | None = None,
        timeout: float = 5.0,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        if channel is None:
            channel = (
                grpc.aio.secure_channel(target, tls.channel_credentials())
                if tls is not None
                else grpc.aio.insecure_channel(target)
            )
        self.channel = channel
        self._metadata = bearer_metadata(credential)
        self._timeout = timeout
        self._unlock = pb_grpc.UnlockServiceStub(channel)
        self._relay = pb_grpc.RelayServiceStub(channel)

    def with_credential(self, credential: str) -> AuthorityLink:
        return AuthorityLink("", credential=credential, timeout=self._timeout, channel=self.channel)

    async def close(self) -> None:
        await self.channel.close()

    async def request_unlock(
        self, door_id: str, challenge: bytes = b"", *, offline: bool = False
    ) -> IssuedToken:
        """A token for ``door_id`` bound to the relay's challenge (or, ``offline``, to the
        holder's registered device key), or ``UnlockRefused``."""
        request = pb.RequestUnlockRequest(
            door_id=door_id, relay_challenge=challenge, offline=offline
        )
        response = await self._unlock.RequestUnlock(
            request, metadata=self._metadata, timeout=self._timeout
        )
        if response.decision != pb.DECISION_ALLOW:
            raise UnlockRefused(pb.DecisionReason.Name(response.reason))
        return IssuedToken(response.token, response.token_id, response.relay_id)

    async def register_device_key(self, public_key: bytes) -> bool:
        """Register the phone's device key for offline tokens; True if it replaced another."""
        response = await self._unlock.RegisterDeviceKey(
            pb.RegisterDeviceKeyRequest(device_public_key=public_key),
            metadata=self._metadata,
            timeout=self._timeout,
        )
        return response.replaced

    async def report_result(self, door_id: str, signed_result: bytes) -> ReportedOutcome:
        """Hand the relay's signed result to the authority (it verifies and logs it once)."""
        response = await self._relay.ReportRelayOutcome(
            pb.ReportRelayOutcomeRequest(door_id=door_id, signed_result=signed_result),
            metadata=self._metadata,
            timeout=self._timeout,
        )
        return ReportedOutcome(
            opened=response.outcome == pb.RELAY_OUTCOME_OPENED,
            reason=response.reason,
            event_id=response.event_id,
            already_reported=response.already_reported,
            relay_epoch=response.relay_epoch,
            site_epoch=response.site_epoch,
        )

    async def revocation_notice(self, door_id: str) -> bytes:
        """The authority-signed epoch notice for the door's relay (its EPOCH characteristic)."""
        response = await self._relay.GetRevocationNotice(
            pb.GetRevocationNoticeRequest(door_id=door_id),
            metadata=self._metadata,
            timeout=self._timeout,
        )
        return response.notice

    def report_result_callback(
        self, bridge_credential: str | None = None
    ) -> Callable[[str, bytes, str], Awaitable[bool]]:
        """A ``RelayBridge`` report hook: each result reported as the bridge itself when it has
        a credential of its own (role bridge: relay outcomes and notices only), else as the
        holder it was for."""

        async def report(door_id: str, signed_result: bytes, credential: str) -> bool:
            await self.with_credential(bridge_credential or credential).report_result(
                door_id, signed_result
            )
            return True

        return report


@dataclass(frozen=True, slots=True)
class ReportedOutcome:
    opened: bool
    reason: str
    event_id: str
    already_reported: bool
    relay_epoch: int
    site_epoch: int
