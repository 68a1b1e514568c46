"""The SmartRelay GATT protocol, version 1: identifiers and message encodings.

Pure data and deterministic CBOR; no Bluetooth library is imported here, so the relay's logic,
the emulator, the bridge and the mobile client library all share these definitions (and a
firmware author can read them as the reference). The prose specification with the threat model
is ``docs/relay-protocol.md``.

One service, four characteristics::

    SERVICE     7d0c0001-5a3e-4c1b-9f2d-3b6e1a8c4d10
    CHALLENGE   …0002  read           -> Challenge (a fresh single-use nonce on every read)
    TOKEN       …0003  write (w/resp) <- Submission (long writes for values > MTU - 3)
    RESULT      …0004  notify, read   -> signed Result (COSE_Sign1 by the relay's own key)
    EPOCH       …0005  write (w/resp) <- an authority-signed revocation-epoch notice

A nonce is bound to the connection that read it: a token written on another connection, or
after the nonce was used or expired, is refused.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import cbor2

PROTOCOL_VERSION = 1

SERVICE_UUID = "7d0c0001-5a3e-4c1b-9f2d-3b6e1a8c4d10"
CHALLENGE_UUID = "7d0c0002-5a3e-4c1b-9f2d-3b6e1a8c4d10"
TOKEN_UUID = "7d0c0003-5a3e-4c1b-9f2d-3b6e1a8c4d10"  # noqa: S105 (a UUID, not a secret)
RESULT_UUID = "7d0c0004-5a3e-4c1b-9f2d-3b6e1a8c4d10"
EPOCH_UUID = "7d0c0005-5a3e-4c1b-9f2d-3b6e1a8c4d10"

ADVERTISED_NAME_PREFIX = "SmartRelay-"
"""Relays advertise ``SmartRelay-<relay id>`` and the service UUID."""

NONCE_BYTES = 16
MAX_SUBMISSION_BYTES = 600
"""The largest TOKEN write a relay accepts (a token of at most 512 bytes plus a device proof);
anything larger is refused with ``TOO_LARGE`` before it is parsed."""
PREFERRED_MTU = 247
"""Centrals should negotiate this ATT MTU; the signed result (~150 bytes) then fits in one
notification. With a smaller MTU the relay notifies a truncated value and the central reads
RESULT (a long read) to get it whole."""
CHALLENGE_TTL_S = 30
"""A nonce is valid for this long after it was read."""

DEVICE_PROOF_CONTEXT = b"SmartRelay device proof v1\x00"
"""Offline tokens: the device signs ``DEVICE_PROOF_CONTEXT || relay_id || 0x00 || nonce``."""


class Outcome(IntEnum):
    OPENED = 0
    REJECTED = 1


class RejectReason(IntEnum):
    """Why a relay refused a submission: a closed set, one code per rule (0 = opened)."""

    NONE = 0
    MALFORMED = 1
    """The submission or token is not well-formed CBOR/COSE/CWT."""
    TOO_LARGE = 2
    UNKNOWN_KEY = 3
    """The token's kid is not among the authority keys the relay trusts."""
    BAD_SIGNATURE = 4
    WRONG_AUDIENCE = 5
    """The token is for another relay."""
    WRONG_ISSUER = 6
    EXPIRED = 7
    NOT_YET_VALID = 8
    NO_CHALLENGE = 9
    """This connection has no live challenge (never read, already used, or expired)."""
    NONCE_MISMATCH = 10
    """The token is bound to another challenge."""
    REPLAYED = 11
    """The relay has already seen this token id."""
    REVOKED = 12
    """The token's revocation epoch is older than the relay's."""
    DEVICE_PROOF_REQUIRED = 13
    """An offline (``cnf``) token came without the device's signature over the challenge."""
    DEVICE_PROOF_INVALID = 14
    OFFLINE_NOT_ALLOWED = 15
    """An offline token at a relay whose site does not allow offline opening."""


def _dumps(obj: object) -> bytes:
    return cbor2.dumps(obj, canonical=True)


class ProtocolError(ValueError):
    """A message that does not follow this protocol."""


def _loads_map(data: bytes, what: str) -> dict[Any, Any]:
    try:
        stream = io.BytesIO(bytes(data))
        value = cbor2.CBORDecoder(stream).decode()
    except Exception as exc:
        raise ProtocolError(f"{what} is not valid CBOR") from exc
    if stream.tell() != len(data):
        raise ProtocolError(f"{what} has trailing bytes")
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} is not a CBOR map")
    return value


def _field(m: dict[Any, Any], key: int, kind: type, what: str) -> Any:
    value = m.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(f"{what}: field {key} must be {kind.__name__}")
    return value


@dataclass(frozen=True, slots=True)
class Challenge:
    """CHALLENGE value: ``{1: version, 2: relay_id, 3: nonce, 4: epoch, 5: max_submission,
    6: offline_allowed}``."""

    relay_id: str
    nonce: bytes
    epoch: int
    offline_allowed: bool = False
    version: int = PROTOCOL_VERSION
    max_submission: int = MAX_SUBMISSION_BYTES

    def encode(self) -> bytes:
        return _dumps(
            {
                1: self.version,
                2: self.relay_id,
                3: self.nonce,
                4: self.epoch,
                5: self.max_submission,
                6: self.offline_allowed,
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> Challenge:
        m = _loads_map(data, "challenge")
        version = _field(m, 1, int, "challenge")
        if version != PROTOCOL_VERSION:
            raise ProtocolError(f"relay speaks protocol version {version}; this is v1")
        nonce = _field(m, 3, bytes, "challenge")
        if len(nonce) != NONCE_BYTES:
            raise ProtocolError(f"challenge nonce must be {NONCE_BYTES} bytes")
        return cls(
            relay_id=_field(m, 2, str, "challenge"),
            nonce=nonce,
            epoch=_field(m, 4, int, "challenge"),
            max_submission=_field(m, 5, int, "challenge"),
            offline_allowed=bool(m.get(6, False)),
            version=version,
        )


@dataclass(frozen=True, slots=True)
class Submission:
    """TOKEN write: ``{1: token, ?2: device_proof}`` (the proof only with offline tokens)."""

    token: bytes
    device_proof: bytes | None = None

    def encode(self) -> bytes:
        m: dict[int, bytes] = {1: self.token}
        if self.device_proof is not None:
            m[2] = self.device_proof
        return _dumps(m)

    @classmethod
    def decode(cls, data: bytes) -> Submission:
        m = _loads_map(data, "submission")
        proof = m.get(2)
        if proof is not None and (not isinstance(proof, bytes) or len(proof) != 64):
            raise ProtocolError("submission device proof must be a 64-byte Ed25519 signature")
        return cls(token=_field(m, 1, bytes, "submission"), device_proof=proof)


def result_kid(relay_id: str) -> bytes:
    """The COSE ``kid`` of a relay's signed results: its relay id in UTF-8 (the authority looks
    up the public key registered for the door whose relay this is)."""
    return relay_id.encode()


def device_proof_message(relay_id: str, nonce: bytes) -> bytes:
    """What the phone's device key signs for an offline token (and the relay verifies)."""
    return DEVICE_PROOF_CONTEXT + relay_id.encode() + b"\x00" + nonce


@dataclass(frozen=True, slots=True)
class ResultBody:
    """The signed part of RESULT: ``{1: version, 2: relay_id, 3: nonce, 4: outcome, 5: reason,
    6: cti, 7: sub, 8: relay_time, 9: epoch}``. ``cti``/``sub`` are empty unless the token's
    signature verified (a relay never repeats claims it could not authenticate)."""

    relay_id: str
    nonce: bytes
    outcome: Outcome
    reason: RejectReason
    token_id: bytes = b""
    subject: str = ""
    relay_time: int = 0
    epoch: int = 0
    version: int = PROTOCOL_VERSION

    def encode(self) -> bytes:
        return _dumps(
            {
                1: self.version,
                2: self.relay_id,
                3: self.nonce,
                4: int(self.outcome),
                5: int(self.reason),
                6: self.token_id,
                7: self.subject,
                8: self.relay_time,
                9: self.epoch,
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> ResultBody:
        m = _loads_map(data, "result")
        try:
            outcome = Outcome(_field(m, 4, int, "result"))
            reason = RejectReason(_field(m, 5, int, "result"))
        except ValueError as exc:
            raise ProtocolError(f"result has an unknown outcome or reason: {exc}") from exc
        if (outcome is Outcome.OPENED) != (reason is RejectReason.NONE):
            raise ProtocolError("result outcome and reason disagree")
        return cls(
            version=_field(m, 1, int, "result"),
            relay_id=_field(m, 2, str, "result"),
            nonce=_field(m, 3, bytes, "result"),
            outcome=outcome,
            reason=reason,
            token_id=_field(m, 6, bytes, "result"),
            subject=_field(m, 7, str, "result"),
            relay_time=_field(m, 8, int, "result"),
            epoch=_field(m, 9, int, "result"),
        )


@dataclass(frozen=True, slots=True)
class EpochNotice:
    """The payload of an EPOCH write (inside an authority-signed COSE_Sign1):
    ``{1: relay_id, 2: epoch, 3: issued_at}``. A relay raises its epoch to ``epoch`` (never
    lowers it); tokens issued under an older epoch are then refused with ``REVOKED``."""

    relay_id: str
    epoch: int
    issued_at: int

    def encode(self) -> bytes:
        return _dumps({1: self.relay_id, 2: self.epoch, 3: self.issued_at})

    @classmethod
    def decode(cls, data: bytes) -> EpochNotice:
        m = _loads_map(data, "epoch notice")
        epoch = _field(m, 2, int, "epoch notice")
        if epoch < 0:
            raise ProtocolError("epoch notice: epoch must be non-negative")
        return cls(
            relay_id=_field(m, 1, str, "epoch notice"),
            epoch=epoch,
            issued_at=_field(m, 3, int, "epoch notice"),
        )
