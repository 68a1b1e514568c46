"""The gRPC edge of the published verification keys (``KeyService``): what relays fetch."""

from __future__ import annotations

import json
import time
from typing import Protocol

from authority.api.authenticated import Context
from authority.api.errors import grpc_errors
from authority.v1 import authority_pb2 as pb
from authority.v1 import authority_pb2_grpc as pb_grpc


class VerificationKeys(Protocol):
    """The signing keys' public halves, as published (the keyring)."""

    def jwks(self, *, now: int) -> dict[str, list[dict[str, str]]]: ...

    def cose_key_set(self, *, now: int) -> bytes: ...


class KeyServicer(pb_grpc.KeyServiceServicer):
    """Public keys are public: no credential needed (relays fetch them at installation)."""

    def __init__(self, keyring: VerificationKeys) -> None:
        self._keyring = keyring

    @grpc_errors
    async def GetVerificationKeys(
        self, request: pb.GetVerificationKeysRequest, context: Context
    ) -> pb.GetVerificationKeysResponse:
        now = int(time.time())
        return pb.GetVerificationKeysResponse(
            jwks_json=json.dumps(self._keyring.jwks(now=now)),
            cose_key_set=self._keyring.cose_key_set(now=now),
        )
