"""The bridge's and the phone's asyncio gRPC link to the authority.

A thin adapter: it speaks ``authority.v1`` and turns answers into the relay side's terms (a
token, an ``UnlockRefused`` with the decision reason). Status codes from the authority propagate
as ``grpc.aio.AioRpcError`` except those the caller must act on.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from authority.client import bearer_metadata
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
        root_certificates: bytes | None = None,
        timeout: float = 5.0,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        if channel is None:
            channel = (
                grpc.aio.secure_channel(
                    target, grpc.ssl_channel_credentials(root_certificates=root_certificates)
                )
                if root_certificates is not None
                else grpc.aio.insecure_channel(target)
            )
        self.channel = channel
        self._metadata = bearer_metadata(credential)
        self._timeout = timeout
        self._unlock = pb_grpc.UnlockServiceStub(channel)

    def with_credential(self, credential: str) -> AuthorityLink:
        return AuthorityLink("", credential=credential, timeout=self._timeout, channel=self.channel)

    async def close(self) -> None:
        await self.channel.close()

    async def request_unlock(self, door_id: str, challenge: bytes = b"") -> IssuedToken:
        """A token for ``door_id`` bound to the relay's challenge, or ``UnlockRefused``."""
        request = pb.RequestUnlockRequest(door_id=door_id, relay_challenge=challenge)
        response = await self._unlock.RequestUnlock(
            request, metadata=self._metadata, timeout=self._timeout
        )
        if response.decision != pb.DECISION_ALLOW:
            raise UnlockRefused(pb.DecisionReason.Name(response.reason))
        return IssuedToken(response.token, response.token_id, response.relay_id)
