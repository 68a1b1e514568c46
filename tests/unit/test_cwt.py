"""Unlock tokens: wire format, signing and the relay's acceptance rules (``verify_token``)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace
from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey as NaclSigningKey
from nacl.signing import VerifyKey

from authority.adapters.crypto.keyring import kid_for
from doorkey_wire.claims import UnlockClaims
from doorkey_wire.cwt import (
    MAX_TOKEN_BYTES,
    decode_unverified,
    encode_claims,
    protected_header,
    sign_claims,
    verify_token,
)
from doorkey_wire.errors import (
    BadSignature,
    MalformedToken,
    NonceMismatch,
    TokenError,
    TokenExpired,
    TokenNotYetValid,
    UnknownKey,
    WrongAudience,
    WrongIssuer,
)

NOW = 1_800_000_000
SEED = bytes(range(32))
KEY = NaclSigningKey(SEED)
KID = kid_for(bytes(KEY.verify_key))
OTHER_KEY = NaclSigningKey(bytes(range(1, 33)))
KEYS: dict[bytes, VerifyKey] = {KID: KEY.verify_key}
AUD = "relay-0001"
NONCE = bytes.fromhex("00112233445566778899aabbccddeeff")

CLAIMS = UnlockClaims(
    issuer="authority",
    subject="kh_abcdefghijkmnpqr",  # new_id("kh"): 19 characters
    audience=AUD,
    issued_at=NOW,
    not_before=NOW,
    expires_at=NOW + 60,
    token_id=bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
    cnonce=NONCE,
)
TOKEN = sign_claims(CLAIMS, key=KEY, kid=KID)


def verify(token: bytes, **overrides: Any) -> UnlockClaims:
    kwargs: dict[str, Any] = {"keys": KEYS, "audience": AUD, "now": NOW, "nonce": NONCE}
    kwargs.update(overrides)
    return verify_token(token, **kwargs)


def reference_sign(
    claims_map: dict[Any, Any],
    *,
    key: NaclSigningKey = KEY,
    kid: bytes = KID,
    protected_map: dict[Any, Any] | None = None,
    unprotected: dict[Any, Any] | None = None,
    tag: int = 18,
) -> bytes:
    """An independent COSE_Sign1 built with cbor2 alone, for shapes ``sign_claims`` never makes."""
    protected = cbor2.dumps(
        {1: -8, 4: kid} if protected_map is None else protected_map, canonical=True
    )
    payload = cbor2.dumps(claims_map, canonical=True)
    signature = key.sign(cbor2.dumps(["Signature1", protected, b"", payload])).signature
    return cbor2.dumps(
        cbor2.CBORTag(tag, [protected, unprotected or {}, payload, signature]), canonical=True
    )


def claims_map(claims: UnlockClaims = CLAIMS) -> dict[int, Any]:
    out: dict[int, Any] = {
        1: claims.issuer,
        2: claims.subject,
        3: claims.audience,
        4: claims.expires_at,
        5: claims.not_before,
        6: claims.issued_at,
        7: claims.token_id,
    }
    if claims.confirmation_key is not None:
        out[8] = {1: {1: 1, -1: 6, -2: claims.confirmation_key}}
    if claims.cnonce is not None:
        out[39] = claims.cnonce
    if claims.revocation_epoch:
        out[-65537] = claims.revocation_epoch
    return out


# -- round trip and wire format ------------------------------------------------------------------


def test_round_trip() -> None:
    assert verify(TOKEN) == CLAIMS
    assert decode_unverified(TOKEN) == (KID, CLAIMS)


def test_round_trip_without_cnonce() -> None:
    claims = replace(CLAIMS, cnonce=None)
    token = sign_claims(claims, key=KEY, kid=KID)
    assert verify(token, nonce=None) == claims
    assert 39 not in cbor2.loads(cbor2.loads(token).value[2])


def test_realistic_token_fits_in_200_bytes() -> None:
    claims = replace(CLAIMS, token_id=os.urandom(16), cnonce=os.urandom(16))
    assert len(claims.subject) == 19
    token = sign_claims(claims, key=KEY, kid=KID)
    assert len(token) <= 200
    assert len(TOKEN) <= 200


def test_wire_format() -> None:
    outer = cbor2.loads(TOKEN)
    assert isinstance(outer, cbor2.CBORTag)
    assert outer.tag == 18
    protected, unprotected, payload, signature = outer.value
    assert cbor2.loads(protected) == {1: -8, 4: KID}
    assert protected == protected_header(KID)
    assert unprotected == {}
    assert cbor2.loads(payload) == claims_map()
    assert encode_claims(CLAIMS) == claims_map()
    assert len(signature) == 64
    KEY.verify_key.verify(cbor2.dumps(["Signature1", protected, b"", payload]), signature)


def test_sign_claims_is_byte_identical_to_cbor2_for_the_fixed_token() -> None:
    assert reference_sign(claims_map()) == TOKEN


# Short texts, and long ones (up to ~600 UTF-8 bytes) that push the payload past 255 bytes.
_text = st.text(min_size=1, max_size=20) | st.builds(
    lambda s, n: (s + "é") * n, st.text(max_size=3), st.integers(10, 150)
)
_ints = st.integers(-(2**64), 2**64 - 1)
claims_strategy = st.builds(
    UnlockClaims,
    issuer=_text,
    subject=_text,
    audience=_text,
    issued_at=_ints,
    not_before=_ints,
    expires_at=_ints,
    token_id=st.binary(min_size=8, max_size=32),
    cnonce=st.none() | st.binary(max_size=64),
    revocation_epoch=st.just(0) | st.integers(0, 2**64 - 1),
    confirmation_key=st.none() | st.binary(min_size=32, max_size=32),
)

short_claims = st.builds(  # tokens that stay under MAX_TOKEN_BYTES
    UnlockClaims,
    issuer=st.text(min_size=1, max_size=20),
    subject=st.text(min_size=1, max_size=20),
    audience=st.text(min_size=1, max_size=20),
    issued_at=_ints,
    not_before=_ints,
    expires_at=_ints,
    token_id=st.binary(min_size=8, max_size=32),
    cnonce=st.none() | st.binary(max_size=32),
    revocation_epoch=st.integers(0, 2**32),
    confirmation_key=st.none() | st.binary(min_size=32, max_size=32),
)


@settings(max_examples=200, deadline=None)
@given(claims=claims_strategy, kid=st.binary(min_size=1, max_size=300))
@example(claims=CLAIMS, kid=KID)
def test_sign_claims_is_byte_identical_to_cbor2(claims: UnlockClaims, kid: bytes) -> None:
    assert sign_claims(claims, key=KEY, kid=kid) == reference_sign(claims_map(claims), kid=kid)


# protected = a2 01 27 04 <bstr kid>: kid lengths that put its length at each header boundary
@pytest.mark.parametrize(("kid_len", "protected_len"), [(18, 23), (19, 24), (249, 255), (250, 256)])
def test_protected_header_length_boundaries(kid_len: int, protected_len: int) -> None:
    kid = bytes(range(kid_len))
    token = sign_claims(CLAIMS, key=KEY, kid=kid)
    assert len(protected_header(kid)) == protected_len
    assert token == reference_sign(claims_map(), kid=kid)


def _claims_with_payload_len(target: int) -> UnlockClaims:
    for n in range(1, 400):
        claims = replace(CLAIMS, subject="s" * n)
        if len(cbor2.dumps(claims_map(claims), canonical=True)) == target:
            return claims
    raise AssertionError(f"no subject length gives a {target}-byte payload")


@pytest.mark.parametrize("payload_len", [255, 256, 300])
def test_payload_length_boundaries(payload_len: int) -> None:
    claims = _claims_with_payload_len(payload_len)
    token = sign_claims(claims, key=KEY, kid=KID)
    assert token == reference_sign(claims_map(claims))
    assert len(cbor2.loads(token).value[2]) == payload_len
    assert decode_unverified(token) == (KID, claims)


# -- acceptance rules ----------------------------------------------------------------------------


def test_wrong_key_under_the_trusted_kid() -> None:
    forged = sign_claims(CLAIMS, key=OTHER_KEY, kid=KID)
    with pytest.raises(BadSignature):
        verify(forged)


def test_trusted_kid_mapped_to_another_key() -> None:
    with pytest.raises(BadSignature):
        verify(TOKEN, keys={KID: OTHER_KEY.verify_key})


def test_unknown_kid() -> None:
    other = sign_claims(CLAIMS, key=OTHER_KEY, kid=kid_for(bytes(OTHER_KEY.verify_key)))
    with pytest.raises(UnknownKey):
        verify(other)
    with pytest.raises(UnknownKey):
        verify(TOKEN, keys={})


def test_key_is_chosen_by_kid_among_several() -> None:
    other_kid = kid_for(bytes(OTHER_KEY.verify_key))
    keys = {KID: KEY.verify_key, other_kid: OTHER_KEY.verify_key}
    other = sign_claims(CLAIMS, key=OTHER_KEY, kid=other_kid)
    assert verify(TOKEN, keys=keys) == CLAIMS
    assert verify(other, keys=keys) == CLAIMS


def test_wrong_audience() -> None:
    with pytest.raises(WrongAudience):
        verify(TOKEN, audience="relay-0002")
    with pytest.raises(WrongAudience):
        verify(TOKEN, audience="relay-000")


def test_wrong_issuer_only_when_pinned() -> None:
    assert verify(TOKEN, issuer="authority") == CLAIMS
    assert verify(TOKEN, issuer=None) == CLAIMS
    with pytest.raises(WrongIssuer):
        verify(TOKEN, issuer="another-authority")


def test_signature_is_checked_before_any_claim() -> None:
    forged = sign_claims(
        replace(CLAIMS, audience="relay-9999", expires_at=0), key=OTHER_KEY, kid=KID
    )
    with pytest.raises(BadSignature):
        verify(forged)


@pytest.mark.parametrize("drift", [0, 1, 30, 120])
def test_expiry_respects_clock_drift(drift: int) -> None:
    exp = CLAIMS.expires_at
    assert verify(TOKEN, now=exp + drift - 1, clock_drift=drift) == CLAIMS
    with pytest.raises(TokenExpired):
        verify(TOKEN, now=exp + drift, clock_drift=drift)


@pytest.mark.parametrize("drift", [0, 1, 30, 120])
def test_not_before_respects_clock_drift(drift: int) -> None:
    nbf = CLAIMS.not_before
    assert verify(TOKEN, now=nbf - drift, clock_drift=drift) == CLAIMS
    with pytest.raises(TokenNotYetValid):
        verify(TOKEN, now=nbf - drift - 1, clock_drift=drift)


def test_default_clock_drift_is_30_seconds() -> None:
    assert verify(TOKEN, now=CLAIMS.expires_at + 29) == CLAIMS
    with pytest.raises(TokenExpired):
        verify(TOKEN, now=CLAIMS.expires_at + 30)
    with pytest.raises(TokenNotYetValid):
        verify(TOKEN, now=CLAIMS.not_before - 31)


@settings(max_examples=200, deadline=None)
@given(
    nbf=st.integers(NOW - 1000, NOW + 1000),
    lifetime=st.integers(-100, 400),
    now=st.integers(NOW - 1500, NOW + 1500),
    drift=st.integers(0, 300),
)
def test_time_window_matches_the_documented_rule(
    nbf: int, lifetime: int, now: int, drift: int
) -> None:
    claims = replace(CLAIMS, not_before=nbf, issued_at=nbf, expires_at=nbf + lifetime)
    token = sign_claims(claims, key=KEY, kid=KID)
    if now >= claims.expires_at + drift:
        with pytest.raises(TokenExpired):
            verify(token, now=now, clock_drift=drift)
    elif now < claims.not_before - drift:
        with pytest.raises(TokenNotYetValid):
            verify(token, now=now, clock_drift=drift)
    else:
        assert verify(token, now=now, clock_drift=drift) == claims


def test_nonce() -> None:
    assert verify(TOKEN, nonce=NONCE) == CLAIMS
    assert verify(TOKEN, nonce=None) == CLAIMS  # no challenge: nothing to bind to
    with pytest.raises(NonceMismatch):
        verify(TOKEN, nonce=bytes(16))
    with pytest.raises(NonceMismatch):
        verify(TOKEN, nonce=NONCE[:-1])
    unbound = sign_claims(replace(CLAIMS, cnonce=None), key=KEY, kid=KID)
    with pytest.raises(NonceMismatch):
        verify(unbound, nonce=NONCE)


# -- malformed input -----------------------------------------------------------------------------


def test_every_truncation_is_malformed() -> None:
    for n in range(len(TOKEN)):
        with pytest.raises(MalformedToken):
            verify(TOKEN[:n])


@settings(max_examples=100, deadline=None)
@given(suffix=st.binary(min_size=1, max_size=400))
@example(suffix=b"\x00")
@example(suffix=TOKEN)
def test_trailing_bytes_are_malformed(suffix: bytes) -> None:
    with pytest.raises(MalformedToken):
        verify(TOKEN + suffix)


def test_oversize_token_is_refused_before_parsing() -> None:
    # A genuine, correctly signed token that is simply too large.
    n = 1
    claims = CLAIMS
    while len(sign_claims(claims, key=KEY, kid=KID)) < MAX_TOKEN_BYTES:
        n += 1
        claims = replace(CLAIMS, subject="s" * n)
    at_limit = sign_claims(claims, key=KEY, kid=KID)
    assert len(at_limit) == MAX_TOKEN_BYTES
    assert verify(at_limit) == claims
    over = sign_claims(replace(claims, subject="s" * (n + 1)), key=KEY, kid=KID)
    assert len(over) == MAX_TOKEN_BYTES + 1
    with pytest.raises(MalformedToken, match="at most 512"):
        verify(over)
    with pytest.raises(MalformedToken, match="at most 512"):
        verify(b"\xff" * 100_000)


@pytest.mark.parametrize("token", [b"", bytearray(), "not bytes", None, 42, memoryview(TOKEN)])
def test_not_bytes_or_empty(token: object) -> None:
    with pytest.raises(MalformedToken):
        verify(token)  # type: ignore[arg-type]


def test_bytearray_is_accepted() -> None:
    assert verify(bytearray(TOKEN)) == CLAIMS


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: reference_sign(claims_map(), tag=17), id="tag-17-mac0"),
        pytest.param(lambda: reference_sign(claims_map(), tag=98), id="tag-98-sign"),
        pytest.param(lambda: cbor2.dumps(cbor2.CBORTag(18, [b"", {}, b""])), id="3-elements"),
        pytest.param(lambda: cbor2.dumps(cbor2.CBORTag(18, {})), id="map"),
        pytest.param(
            lambda: cbor2.dumps(cbor2.CBORTag(18, [{1: -8}, {}, b"", bytes(64)])),
            id="protected-not-bstr",
        ),
        pytest.param(
            lambda: cbor2.dumps(cbor2.CBORTag(18, [b"\xa0", [], b"", bytes(64)])),
            id="unprotected-not-map",
        ),
        pytest.param(
            lambda: cbor2.dumps(cbor2.CBORTag(18, [protected_header(KID), {}, b"", bytes(63)])),
            id="short-signature",
        ),
        pytest.param(
            lambda: cbor2.dumps(cbor2.CBORTag(18, [protected_header(KID), {}, "x", bytes(64)])),
            id="payload-not-bstr",
        ),
        pytest.param(
            lambda: reference_sign(claims_map(), protected_map={1: -7, 4: KID}), id="alg-es256"
        ),
        pytest.param(lambda: reference_sign(claims_map(), protected_map={4: KID}), id="no-alg"),
        pytest.param(
            lambda: reference_sign(claims_map(), protected_map={1: -8, 2: [99], 4: KID}),
            id="crit",
        ),
        pytest.param(lambda: reference_sign(claims_map(), protected_map={1: -8}), id="no-kid"),
        pytest.param(
            lambda: reference_sign(claims_map(), protected_map={1: -8, 4: b""}), id="empty-kid"
        ),
        pytest.param(
            lambda: reference_sign(claims_map(), protected_map={1: -8, 4: "kid"}), id="text-kid"
        ),
        pytest.param(
            lambda: reference_sign(claims_map(), protected_map={1: -8}, unprotected={4: KID}),
            id="kid-unprotected",
        ),
        pytest.param(
            lambda: reference_sign(claims_map(), unprotected={1: -8}), id="alg-unprotected"
        ),
        pytest.param(
            lambda: reference_sign(claims_map(), protected_map=[1, -8]),  # type: ignore[arg-type]
            id="protected-not-map",
        ),
    ],
)
def test_malformed_envelopes(build: Any) -> None:
    with pytest.raises(MalformedToken):
        verify(build())


def _without(key: int) -> dict[int, Any]:
    m = claims_map()
    del m[key]
    return m


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param([1, 2, 3], id="array"),
        pytest.param(_without(1), id="no-iss"),
        pytest.param(_without(2), id="no-sub"),
        pytest.param(_without(3), id="no-aud"),
        pytest.param(_without(4), id="no-exp"),
        pytest.param(_without(5), id="no-nbf"),
        pytest.param(_without(6), id="no-iat"),
        pytest.param(_without(7), id="no-cti"),
        pytest.param({**claims_map(), 1: ""}, id="empty-iss"),
        pytest.param({**claims_map(), 3: b"relay-0001"}, id="aud-bytes"),
        pytest.param({**claims_map(), 4: True}, id="exp-bool"),
        pytest.param({**claims_map(), 4: 1.8e9}, id="exp-float"),
        pytest.param({**claims_map(), 5: "1800000000"}, id="nbf-text"),
        pytest.param({**claims_map(), 7: bytes(7)}, id="cti-7-bytes"),
        pytest.param({**claims_map(), 7: bytes(33)}, id="cti-33-bytes"),
        pytest.param({**claims_map(), 7: "cti-as-text-string"}, id="cti-text"),
        pytest.param({**claims_map(), 39: "nonce"}, id="cnonce-text"),
    ],
)
def test_malformed_but_genuinely_signed_claims(payload: Any) -> None:
    with pytest.raises(MalformedToken):
        verify(reference_sign(payload))


def test_cti_length_bounds_are_inclusive() -> None:
    for n in (8, 32):
        claims = replace(CLAIMS, token_id=bytes(n))
        assert verify(sign_claims(claims, key=KEY, kid=KID)) == claims


def test_unknown_claims_are_ignored() -> None:
    assert verify(reference_sign({**claims_map(), 9: {"scope": 1}, "x": 1})) == CLAIMS


@pytest.mark.parametrize(
    "cnf",
    [
        pytest.param({"cnf": 1}, id="not-cose-key"),
        pytest.param({1: {1: 2, -1: 6, -2: bytes(32)}}, id="ec2-kty"),
        pytest.param({1: {1: 1, -1: 4, -2: bytes(32)}}, id="x25519-crv"),
        pytest.param({1: {1: 1, -1: 6, -2: bytes(31)}}, id="short-x"),
        pytest.param([1], id="array"),
    ],
)
def test_cnf_must_be_an_ed25519_key(cnf: object) -> None:
    with pytest.raises(MalformedToken, match="cnf"):
        verify(reference_sign({**claims_map(), 8: cnf}))


def test_offline_claims_round_trip() -> None:
    claims = replace(CLAIMS, confirmation_key=bytes(range(32)), revocation_epoch=7)
    assert verify(sign_claims(claims, key=KEY, kid=KID)) == claims
    with pytest.raises(MalformedToken, match="epoch"):
        verify(reference_sign({**claims_map(), -65537: -1}))


# -- tampering and garbage: only ever a TokenError -----------------------------------------------


def _outcome(token: bytes) -> type[BaseException] | None:
    try:
        verify(token)
    except TokenError as exc:
        return type(exc)
    return None


def test_every_single_bit_flip_is_rejected() -> None:
    seen: set[type[BaseException]] = set()
    for i in range(len(TOKEN)):
        for bit in range(8):
            tampered = bytearray(TOKEN)
            tampered[i] ^= 1 << bit
            outcome = _outcome(bytes(tampered))
            assert outcome is not None, f"accepted with bit {bit} of byte {i} flipped"
            seen.add(outcome)
    # flips land in structure, kid and signed bytes alike
    assert {MalformedToken, BadSignature, UnknownKey} <= seen


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims=short_claims, data=st.data(), xor=st.integers(1, 255))
def test_any_changed_byte_is_rejected(claims: UnlockClaims, data: st.DataObject, xor: int) -> None:
    token = sign_claims(claims, key=KEY, kid=KID)
    # a drift this large makes every exp/nbf acceptable: only the tampering can be refused
    check = {"keys": KEYS, "audience": claims.audience, "now": 0, "nonce": None}
    assert verify_token(token, clock_drift=2**66, **check) == claims  # type: ignore[arg-type]
    i = data.draw(st.integers(0, len(token) - 1), label="position")
    tampered = bytearray(token)
    tampered[i] ^= xor
    with pytest.raises(TokenError):
        verify_token(bytes(tampered), clock_drift=2**66, **check)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(garbage=st.binary(max_size=600))
@example(garbage=b"\xd2")
@example(garbage=b"\xd2\x84")
@example(garbage=b"\x9f" * 300)
@example(garbage=b"\x81" * 500 + b"\x00")
def test_random_garbage_only_raises_token_errors(garbage: bytes) -> None:
    with pytest.raises(TokenError):
        verify(garbage)


@settings(max_examples=300, deadline=None)
@given(garbage=st.binary(max_size=200))
def test_garbage_after_a_cose_sign1_prefix_only_raises_token_errors(garbage: bytes) -> None:
    with pytest.raises(TokenError):
        verify(b"\xd2\x84" + garbage)
    with pytest.raises(TokenError):
        decode_unverified(b"\xd2\x84" + garbage)


_cbor_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=10)
    | st.binary(max_size=70)
)
_cbor_values = st.recursive(
    _cbor_leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.integers(-5, 40) | st.text(max_size=3), inner, max_size=4)
        | st.builds(cbor2.CBORTag, st.sampled_from([0, 1, 2, 3, 4, 5, 18, 24, 30, 37, 258]), inner)
    ),
    max_leaves=10,
)


def _dumps_or_none(value: Any) -> bytes | None:
    try:
        return cbor2.dumps(value)
    except (cbor2.CBOREncodeError, TypeError, ValueError):
        return None


@settings(max_examples=200, deadline=None)
@given(
    protected=_cbor_values,
    unprotected=_cbor_values,
    payload=_cbor_values,
    signature=st.binary(min_size=64, max_size=64) | _cbor_values,
    wrap=st.booleans(),
)
def test_structured_garbage_only_raises_token_errors(
    protected: Any, unprotected: Any, payload: Any, signature: Any, wrap: bool
) -> None:
    prot = _dumps_or_none(protected) if wrap else protected
    body = [prot, unprotected, _dumps_or_none(payload) if wrap else payload, signature]
    token = _dumps_or_none(cbor2.CBORTag(18, body))
    if token is None:
        return
    with pytest.raises(TokenError):
        verify(token)
    with contextlib.suppress(TokenError):
        decode_unverified(token)


@settings(max_examples=200, deadline=None)
@given(payload=_cbor_values)
def test_genuinely_signed_garbage_claims_only_raise_token_errors(payload: Any) -> None:
    # Past the signature check, the claims parser is the last line of defence.
    protected = protected_header(KID)
    encoded = _dumps_or_none(payload)
    if encoded is None:
        return
    sig = KEY.sign(cbor2.dumps(["Signature1", protected, b"", encoded])).signature
    token = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, encoded, sig]))
    with pytest.raises(TokenError):
        verify(token)


@settings(max_examples=300, deadline=None)
@given(
    iss=st.text(max_size=300),
    sub=st.text(max_size=300),
    aud=st.text(min_size=1, max_size=70000).filter(bool) | st.text(min_size=1, max_size=30),
    times=st.tuples(*[st.integers(min_value=-(2**40), max_value=2**64 - 1)] * 3),
    cti=st.binary(min_size=8, max_size=32),
    cnonce=st.none() | st.binary(max_size=300),
)
def test_hand_built_claims_equal_cbor2_canonical(
    iss: str, sub: str, aud: str, times: tuple[int, int, int], cti: bytes, cnonce: bytes | None
) -> None:
    from doorkey_wire.cwt import encode_claims_cbor  # noqa: PLC0415

    claims = UnlockClaims(
        issuer=iss, subject=sub, audience=aud, expires_at=times[0], not_before=times[1],
        issued_at=times[2], token_id=cti, cnonce=cnonce,
    )  # fmt: skip
    assert encode_claims_cbor(claims) == cbor2.dumps(encode_claims(claims), canonical=True)
