"""The authority's side of the relay protocol's signed messages (``doorkey_wire.protocol``).

* A relay's **result** is a COSE_Sign1 by the relay's own Ed25519 key whose payload is a
  ``ResultBody``; its ``kid`` is the relay id in UTF-8 (``doorkey_wire.protocol.result_kid``), so
  the authority verifies it with the one key registered for the door's relay.
* A **revocation-epoch notice** is a COSE_Sign1 by the authority's *token* signing key (same
  keyring, same kid as tokens) whose payload is an ``EpochNotice``: relays verify it with the keys
  they already trust for tokens.
"""

from __future__ import annotations

import hashlib

from nacl.exceptions import CryptoError
from nacl.signing import VerifyKey

from authority.adapters.crypto.keyring import Keyring
from authority.domain.errors import MalformedToken
from authority.domain.relay import RelayOutcome, RelayResult
from doorkey_wire.cwt import sign_payload, verify_payload
from doorkey_wire.protocol import (
    EpochNotice,
    Outcome,
    ProtocolError,
    RejectReason,
    ResultBody,
    result_kid,
)


class RelayMessages:
    """Implements ``RelayResultVerifier`` and ``EpochNoticeSigner``."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def verify_result(self, signed: bytes, *, relay_id: str, public_key: bytes) -> RelayResult:
        try:
            key = VerifyKey(public_key)
        except (CryptoError, TypeError, ValueError) as exc:  # only if a bad key was stored
            raise MalformedToken("the registered relay key is not an Ed25519 key") from exc
        # UnknownKey / BadSignature / MalformedToken pass through: the caller names them.
        _, payload = verify_payload(signed, keys={result_kid(relay_id): key})
        try:
            body = ResultBody.decode(payload)
        except ProtocolError as exc:
            raise MalformedToken(f"the signed payload is not a relay result: {exc}") from exc
        opened = body.outcome is Outcome.OPENED
        return RelayResult(
            relay_id=body.relay_id,
            nonce=body.nonce,
            outcome=RelayOutcome.OPENED if opened else RelayOutcome.REJECTED,
            reason="" if body.reason is RejectReason.NONE else body.reason.name.lower(),
            token_id=body.token_id,
            subject=body.subject,
            relay_time=body.relay_time,
            epoch=body.epoch,
            digest=hashlib.sha256(payload).digest(),
        )

    def sign_epoch_notice(self, *, relay_id: str, epoch: int, issued_at: int) -> bytes:
        active = self._keyring.active
        payload = EpochNotice(relay_id=relay_id, epoch=epoch, issued_at=issued_at).encode()
        return sign_payload(payload, key=active.private, kid=active.kid)
