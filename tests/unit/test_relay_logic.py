"""The relay's acceptance rules, one rejection reason at a time (no Bluetooth here)."""

from __future__ import annotations

import itertools
from dataclasses import replace

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from doorkey_wire.claims import UnlockClaims
from doorkey_wire.cwt import sign_claims, sign_payload
from doorkey_wire.protocol import (
    MAX_SUBMISSION_BYTES,
    Challenge,
    EpochNotice,
    Outcome,
    ProtocolError,
    RejectReason,
    ResultBody,
    Submission,
    device_proof_message,
    result_kid,
)
from relay_bridge.relay import EpochNoticeRejected, RelayConfig, RelayLogic, verify_result

AUTHORITY = SigningKey(bytes(range(32)))
KID = b"authkey-001"
OTHER_AUTHORITY = SigningKey(bytes(range(1, 33)))
RELAY_KEY = SigningKey(bytes(range(2, 34)))
DEVICE = SigningKey(bytes(range(3, 35)))
RELAY = "relay-7"
T0 = 1_800_000_000


class Clock:
    def __init__(self) -> None:
        self.now = float(T0)

    def __call__(self) -> float:
        return self.now


def make_relay(*, offline: bool = False, epoch: int = 0, **kw: object) -> tuple[RelayLogic, Clock]:
    clock = Clock()
    counter = itertools.count()
    config = RelayConfig(
        relay_id=RELAY,
        trusted_keys={KID: AUTHORITY.verify_key},
        issuer="authority",
        offline_allowed=offline,
        **kw,  # type: ignore[arg-type]
    )
    opened: list[UnlockClaims] = []
    logic = RelayLogic(
        config,
        relay_key=RELAY_KEY,
        clock=clock,
        random_bytes=lambda n: next(counter).to_bytes(n, "big"),
        epoch=epoch,
        on_open=opened.append,
    )
    logic.opened = opened  # type: ignore[attr-defined]
    return logic, clock


def claims_for(nonce: bytes | None, **changes: object) -> UnlockClaims:
    base = UnlockClaims(
        issuer="authority",
        subject="kh_abc",
        audience=RELAY,
        issued_at=T0,
        not_before=T0,
        expires_at=T0 + 60,
        token_id=b"cti-0001-" + (nonce or b"none")[-4:],
        cnonce=nonce,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def token(claims: UnlockClaims, key: SigningKey = AUTHORITY, kid: bytes = KID) -> bytes:
    return sign_claims(claims, key=key, kid=kid)


def submit(logic: RelayLogic, tok: bytes, session: object = "s1", proof: bytes | None = None):  # type: ignore[no-untyped-def]
    return logic.submit(session, Submission(tok, proof).encode())


def test_genuine_fresh_token_opens_and_result_is_signed() -> None:
    logic, _ = make_relay()
    ch = logic.challenge("s1")
    assert Challenge.decode(ch.encode()) == ch
    verdict = submit(logic, token(claims_for(ch.nonce)))
    assert verdict.opened
    body = verify_result(verdict.signed, relay_id=RELAY, relay_public_key=logic.public_key)
    assert body == verdict.body
    assert (body.outcome, body.reason, body.subject, body.nonce) == (
        Outcome.OPENED,
        RejectReason.NONE,
        "kh_abc",
        ch.nonce,
    )
    assert len(logic.opened) == 1  # type: ignore[attr-defined]
    assert [e.outcome for e in logic.events] == [Outcome.OPENED]


def expect(logic: RelayLogic, verdict: object, reason: RejectReason) -> None:
    assert verdict.body.reason is reason, verdict.body  # type: ignore[attr-defined]
    assert verdict.body.outcome is Outcome.REJECTED  # type: ignore[attr-defined]
    assert logic.opened == []  # type: ignore[attr-defined]
    assert logic.events[-1].reason is reason


def test_replayed_token_is_refused_as_replayed() -> None:
    logic, _ = make_relay()
    ch = logic.challenge("s1")
    tok = token(claims_for(ch.nonce))
    assert submit(logic, tok).opened
    logic.opened.clear()  # type: ignore[attr-defined]
    logic.challenge("s1")
    expect(logic, submit(logic, tok), RejectReason.REPLAYED)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda n: token(claims_for(n, expires_at=T0 - 31)), RejectReason.EXPIRED),
        (lambda n: token(claims_for(n, not_before=T0 + 31)), RejectReason.NOT_YET_VALID),
        (lambda n: token(claims_for(n, audience="relay-8")), RejectReason.WRONG_AUDIENCE),
        (lambda n: token(claims_for(n, issuer="mallory")), RejectReason.WRONG_ISSUER),
        (lambda n: token(claims_for(n), key=OTHER_AUTHORITY, kid=b"x"), RejectReason.UNKNOWN_KEY),
        (lambda n: token(claims_for(n), key=OTHER_AUTHORITY), RejectReason.BAD_SIGNATURE),
        (lambda n: token(claims_for(b"another-nonce-16")), RejectReason.NONCE_MISMATCH),
        (lambda n: token(claims_for(None)), RejectReason.NONCE_MISMATCH),
        (lambda n: b"\xd2\x84garbage", RejectReason.MALFORMED),
    ],
    ids=[
        "expired",
        "not-yet-valid",
        "other-relay",
        "other-issuer",
        "unknown-key",
        "bad-signature",
        "wrong-nonce",
        "unbound",
        "garbage",
    ],
)
def test_each_bad_token_has_its_reason(mutate, reason) -> None:  # type: ignore[no-untyped-def]
    logic, _ = make_relay()
    ch = logic.challenge("s1")
    expect(logic, submit(logic, mutate(ch.nonce)), reason)


def test_clock_drift_allowance_is_honoured() -> None:
    logic, clock = make_relay(clock_drift_s=30)
    clock.now = T0 + 60 + 29  # exp + 29 s: still accepted
    ch = logic.challenge("s1")
    assert submit(logic, token(claims_for(ch.nonce))).opened
    clock.now = T0 - 29  # nbf - 29 s: still accepted
    ch = logic.challenge("s1")
    assert submit(logic, token(claims_for(ch.nonce, token_id=b"other-cti-01"))).opened


@settings(max_examples=150, deadline=None)
@given(position=st.integers(0, 10_000), xor=st.integers(1, 255))
def test_any_changed_byte_never_opens(position: int, xor: int) -> None:
    logic, _ = make_relay()
    ch = logic.challenge("s1")
    tok = bytearray(token(claims_for(ch.nonce)))
    tok[position % len(tok)] ^= xor
    verdict = submit(logic, bytes(tok))
    assert not verdict.opened
    assert logic.opened == []  # type: ignore[attr-defined]


def test_challenge_is_single_use_and_bound_to_its_connection() -> None:
    logic, clock = make_relay()
    ch = logic.challenge("phone-a")
    # the token arrives on another connection (a relay attack with a second central)
    misrouted = submit(logic, token(claims_for(ch.nonce)), session="phone-b")
    expect(logic, misrouted, RejectReason.NO_CHALLENGE)
    # the nonce of phone-a is still live for phone-a only, and once
    tok = token(claims_for(ch.nonce, token_id=b"second-cti-0001"))
    assert submit(logic, tok, session="phone-a").opened
    logic.opened.clear()  # type: ignore[attr-defined]
    tok3 = token(claims_for(ch.nonce, token_id=b"third-cti-00001"))
    expect(logic, submit(logic, tok3, session="phone-a"), RejectReason.NO_CHALLENGE)
    # expiry of a challenge
    ch2 = logic.challenge("phone-a")
    clock.now += 31
    tok4 = token(claims_for(ch2.nonce, token_id=b"fourth-cti-0001", expires_at=T0 + 600))
    expect(logic, submit(logic, tok4, session="phone-a"), RejectReason.NO_CHALLENGE)


def test_oversized_and_malformed_submissions() -> None:
    logic, _ = make_relay()
    logic.challenge("s1")
    expect(logic, logic.submit("s1", b"\x00" * (MAX_SUBMISSION_BYTES + 1)), RejectReason.TOO_LARGE)
    logic.challenge("s1")
    expect(logic, logic.submit("s1", b"not cbor"), RejectReason.MALFORMED)
    logic.challenge("s1")
    expect(logic, logic.submit("s1", cbor2.dumps({1: "text"})), RejectReason.MALFORMED)


def test_revocation_epoch_from_tokens_and_notices() -> None:
    logic, _ = make_relay(epoch=3)
    ch = logic.challenge("s1")
    stale = submit(logic, token(claims_for(ch.nonce, revocation_epoch=2)))
    expect(logic, stale, RejectReason.REVOKED)
    # a genuine token with a newer epoch raises the relay's epoch
    ch = logic.challenge("s1")
    assert submit(logic, token(claims_for(ch.nonce, revocation_epoch=5))).opened
    assert logic.epoch == 5
    # a signed notice raises it further; a forged or foreign one is refused; never lowered
    notice = EpochNotice(RELAY, 9, T0).encode()
    assert logic.apply_epoch_notice(sign_payload(notice, key=AUTHORITY, kid=KID)) == 9
    assert (
        logic.apply_epoch_notice(
            sign_payload(EpochNotice(RELAY, 4, T0).encode(), key=AUTHORITY, kid=KID)
        )
        == 9
    )
    with pytest.raises(EpochNoticeRejected):
        logic.apply_epoch_notice(sign_payload(notice, key=OTHER_AUTHORITY, kid=KID))
    with pytest.raises(EpochNoticeRejected, match="relay-8"):
        logic.apply_epoch_notice(
            sign_payload(EpochNotice("relay-8", 99, T0).encode(), key=AUTHORITY, kid=KID)
        )
    assert logic.epoch == 9
    assert Challenge.decode(logic.challenge("s2").encode()).epoch == 9


def offline_claims(**changes: object) -> UnlockClaims:
    return claims_for(
        None,
        confirmation_key=bytes(DEVICE.verify_key),
        expires_at=T0 + 12 * 3600,
        token_id=b"offline-cti-001",
        **changes,
    )


def test_offline_token_needs_the_device_proof_over_this_challenge() -> None:
    logic, _ = make_relay(offline=True)
    tok = token(offline_claims())
    ch = logic.challenge("s1")
    expect(logic, submit(logic, tok), RejectReason.DEVICE_PROOF_REQUIRED)
    ch = logic.challenge("s1")
    wrong = DEVICE.sign(device_proof_message(RELAY, b"x" * 16)).signature
    expect(logic, submit(logic, tok, proof=wrong), RejectReason.DEVICE_PROOF_INVALID)
    ch = logic.challenge("s1")
    stranger = SigningKey(bytes(range(9, 41))).sign(device_proof_message(RELAY, ch.nonce))
    expect(logic, submit(logic, tok, proof=stranger.signature), RejectReason.DEVICE_PROOF_INVALID)
    # reusable across openings, each with a fresh proof
    for _ in range(3):
        ch = logic.challenge("s1")
        proof = DEVICE.sign(device_proof_message(RELAY, ch.nonce)).signature
        assert submit(logic, tok, proof=proof).opened
    # replaying a recorded proof on a new challenge fails
    logic.challenge("s1")
    logic.opened.clear()  # type: ignore[attr-defined]
    expect(logic, submit(logic, tok, proof=proof), RejectReason.DEVICE_PROOF_INVALID)


def test_offline_token_refused_where_offline_is_not_allowed() -> None:
    logic, _ = make_relay(offline=False)
    ch = logic.challenge("s1")
    proof = DEVICE.sign(device_proof_message(RELAY, ch.nonce)).signature
    verdict = submit(logic, token(offline_claims()), proof=proof)
    expect(logic, verdict, RejectReason.OFFLINE_NOT_ALLOWED)


def test_forged_results_are_detected() -> None:
    logic, _ = make_relay()
    ch = logic.challenge("s1")
    verdict = submit(logic, token(claims_for(ch.nonce, audience="relay-8")))
    forged_body = replace(verdict.body, outcome=Outcome.OPENED, reason=RejectReason.NONE)
    bystander = SigningKey(bytes(range(5, 37)))
    forged = sign_payload(forged_body.encode(), key=bystander, kid=result_kid(RELAY))
    with pytest.raises(ProtocolError, match="not signed"):
        verify_result(forged, relay_id=RELAY, relay_public_key=logic.public_key)
    altered = bytearray(verdict.signed)
    altered[-70] ^= 1
    with pytest.raises(ProtocolError):
        verify_result(bytes(altered), relay_id=RELAY, relay_public_key=logic.public_key)
    with pytest.raises(ProtocolError):
        ResultBody.decode(cbor2.dumps({4: 0, 5: 3}))  # opened with a reason


def test_replay_cache_is_bounded() -> None:
    logic, _ = make_relay(replay_cache_size=4)
    for i in range(10):
        ch = logic.challenge("s1")
        assert submit(logic, token(claims_for(ch.nonce, token_id=b"cti-%011d" % i))).opened
    assert len(logic._seen) <= 4
