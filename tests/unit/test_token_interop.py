"""Tokens from ``Keyring.sign`` verify with COSE/CWT libraries we did not write.

python-cwt checks ``exp``/``nbf`` against the real clock, so these claims use the current time.
"""

from __future__ import annotations

import os
import time

import cbor2
import cwt
import pytest
from pycose.algorithms import EdDSA
from pycose.headers import KID, Algorithm
from pycose.keys import CoseKey, OKPKey
from pycose.keys.curves import Ed25519
from pycose.messages import CoseMessage, Sign1Message

from authority.adapters.crypto.keyring import Keyring, b64url_decode
from doorkey_wire.claims import UnlockClaims
from doorkey_wire.cwt import encode_claims

RING = Keyring.from_seed(bytes(range(32)), publish_retired_for=3600)


def fresh_claims() -> UnlockClaims:
    now = int(time.time())
    return UnlockClaims(
        issuer="authority",
        subject="kh_abcdefghijkmnpqr",
        audience="relay-0001",
        issued_at=now,
        not_before=now,
        expires_at=now + 60,
        token_id=os.urandom(16),
        cnonce=os.urandom(16),
    )


def the_jwk() -> dict[str, str]:
    (jwk,) = RING.jwks(now=int(time.time()))["keys"]
    return jwk


def test_python_cwt_verifies_with_the_key_from_the_jwk() -> None:
    claims = fresh_claims()
    token = RING.sign(claims)
    jwk = the_jwk()
    # The JWK's x, with the token's kid as the bytes the JWK's kid string encodes (base64url).
    key = cwt.COSEKey.new({1: 1, 2: jwk["kid"].encode(), 3: -8, -1: 6, -2: b64url_decode(jwk["x"])})
    assert cwt.decode(token, key) == encode_claims(claims)


def test_python_cwt_verifies_with_the_cose_key_set() -> None:
    claims = fresh_claims()
    token = RING.sign(claims)
    (cose_key,) = cbor2.loads(RING.cose_key_set(now=int(time.time())))
    assert cwt.decode(token, cwt.COSEKey.new(cose_key)) == encode_claims(claims)


def test_python_cwt_rejects_a_tampered_token() -> None:
    token = bytearray(RING.sign(fresh_claims()))
    token[-1] ^= 1
    (cose_key,) = cbor2.loads(RING.cose_key_set(now=int(time.time())))
    with pytest.raises(cwt.VerifyError):
        cwt.decode(bytes(token), cwt.COSEKey.new(cose_key))


def test_python_cwt_verifies_given_only_the_jwk() -> None:
    claims = fresh_claims()
    token = RING.sign(claims)
    key = cwt.COSEKey.from_jwk(the_jwk())
    assert cwt.decode(token, key) == encode_claims(claims)


def test_pycose_verifies_with_the_jwk() -> None:
    claims = fresh_claims()
    token = RING.sign(claims)
    jwk = the_jwk()
    msg = CoseMessage.decode(token)
    assert isinstance(msg, Sign1Message)
    assert msg.phdr_encoded == cbor2.loads(token).value[0]
    assert msg.phdr == {Algorithm: EdDSA, KID: jwk["kid"].encode()}
    assert msg.uhdr == {}
    msg.key = OKPKey(crv=Ed25519, x=b64url_decode(jwk["x"]))
    assert msg.verify_signature()
    assert cbor2.loads(msg.payload) == encode_claims(claims)


def test_pycose_verifies_with_the_cose_key_set() -> None:
    token = RING.sign(fresh_claims())
    (cose_key,) = cbor2.loads(RING.cose_key_set(now=int(time.time())))
    msg = CoseMessage.decode(token)
    msg.key = CoseKey.from_dict(cose_key)
    assert msg.verify_signature()


def test_pycose_rejects_another_key() -> None:
    token = RING.sign(fresh_claims())
    other = Keyring.from_seed(bytes(32), publish_retired_for=1)
    msg = CoseMessage.decode(token)
    msg.key = OKPKey(crv=Ed25519, x=bytes(other.active.public))
    assert not msg.verify_signature()
