"""Encode, sign and verify unlock tokens.

Wire format (deterministic CBOR, RFC 8949 section 4.2)::

    COSE_Sign1 = #6.18([ protected: bstr .cbor {1: -8 (EdDSA), 4: kid}, unprotected: {},
                         payload: bstr .cbor CWT-claims, signature: bstr(64) ])
    CWT-claims = {1: iss, 2: sub, 3: aud, 4: exp, 5: nbf, 6: iat, 7: cti, ?8: cnf,
                  ?39: cnonce, ?-65537: revocation epoch}
    cnf = {1: COSE_Key {1: 1 (OKP), -1: 6 (Ed25519), -2: x (32 bytes)}}   (offline tokens)

``verify_token`` is the relay's acceptance logic: it returns the claims or raises a subclass of
``TokenError`` naming exactly what is wrong; it never returns a boolean.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping
from typing import Any

import cbor2
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey as NaclSigningKey
from nacl.signing import VerifyKey

from doorkey_wire.claims import UnlockClaims
from doorkey_wire.errors import (
    BadSignature,
    MalformedToken,
    NonceMismatch,
    TokenExpired,
    TokenNotYetValid,
    UnknownKey,
    WrongAudience,
    WrongIssuer,
)

COSE_SIGN1_TAG = 18
ALG_EDDSA = -8
HDR_ALG, HDR_CRIT, HDR_KID = 1, 2, 4
CLAIM_ISS, CLAIM_SUB, CLAIM_AUD, CLAIM_EXP, CLAIM_NBF, CLAIM_IAT, CLAIM_CTI = 1, 2, 3, 4, 5, 6, 7
CLAIM_CNONCE = 39  # RFC 9200 section 5.3.1
CLAIM_CNF = 8  # RFC 8747: proof-of-possession key, {1: COSE_Key}
CLAIM_REVOCATION_EPOCH = -65537  # private-use claim: the site's revocation epoch at issue
CNF_COSE_KEY = 1
KTY, KTY_OKP, OKP_CRV, CRV_ED25519, OKP_X = 1, 1, -1, 6, -2
MAX_TOKEN_BYTES = 512
"""Relays refuse anything larger before parsing it (a typical token is ~170 bytes)."""

VerificationKeys = Mapping[bytes, VerifyKey]
"""Trusted public keys by ``kid``."""


def _dumps(obj: object) -> bytes:
    return cbor2.dumps(obj, canonical=True)


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return _dumps(["Signature1", protected, b"", payload])


def encode_claims(claims: UnlockClaims) -> dict[int, object]:
    out: dict[int, object] = {
        CLAIM_ISS: claims.issuer,
        CLAIM_SUB: claims.subject,
        CLAIM_AUD: claims.audience,
        CLAIM_EXP: claims.expires_at,
        CLAIM_NBF: claims.not_before,
        CLAIM_IAT: claims.issued_at,
        CLAIM_CTI: claims.token_id,
    }
    if claims.confirmation_key is not None:
        out[CLAIM_CNF] = {
            CNF_COSE_KEY: {KTY: KTY_OKP, OKP_CRV: CRV_ED25519, OKP_X: claims.confirmation_key}
        }
    if claims.cnonce is not None:
        out[CLAIM_CNONCE] = claims.cnonce
    if claims.revocation_epoch:
        out[CLAIM_REVOCATION_EPOCH] = claims.revocation_epoch
    return out


@functools.lru_cache(maxsize=64)
def protected_header(kid: bytes) -> bytes:
    return _dumps({HDR_ALG: ALG_EDDSA, HDR_KID: kid})


def _head(major: int, n: int) -> bytes:
    """A CBOR initial byte with its shortest argument (RFC 8949 section 3)."""
    mt = major << 5
    if n < 24:
        return bytes((mt | n,))
    if n < 0x100:
        return bytes((mt | 24, n))
    if n < 0x10000:
        return bytes((mt | 25,)) + n.to_bytes(2, "big")
    if n < 0x100000000:
        return bytes((mt | 26,)) + n.to_bytes(4, "big")
    return bytes((mt | 27,)) + n.to_bytes(8, "big")


def _bstr(data: bytes) -> bytes:
    """A CBOR byte string (major type 2)."""
    return _head(2, len(data)) + data


def _tstr(text: str) -> bytes:
    data = text.encode("utf-8")
    return _head(3, len(data)) + data


# Hot path: every ALLOW signs a token, and each cbor2.dumps call costs ~8-13 us of fixed
# overhead on these machines, more than the rest of the encoding. The claims map (fixed integer
# keys, already in deterministic order) and the two envelopes around it are therefore built from
# their CBOR parts; property tests check byte equality with cbor2's canonical encoding.
_SIG1_PREFIX = b"\x84" + _dumps("Signature1")  # array of 4, "Signature1"
_SIGN1_PREFIX = b"\xd2\x84"  # tag 18, array of 4
_EMPTY_MAP, _EMPTY_BSTR = b"\xa0", b"\x40"
_CNONCE_KEY = _dumps(CLAIM_CNONCE)
_EPOCH_KEY = _dumps(CLAIM_REVOCATION_EPOCH)
_MAX_UINT64 = (1 << 64) - 1


def encode_claims_cbor(claims: UnlockClaims) -> bytes:
    """The claims map in deterministic CBOR, identical to ``cbor2.dumps(encode_claims(c),
    canonical=True)``."""
    times = (claims.expires_at, claims.not_before, claims.issued_at)
    if claims.confirmation_key is not None or not all(
        0 <= t <= _MAX_UINT64 for t in (*times, claims.revocation_epoch)
    ):
        # offline tokens and negative numbers: leave the rare cases to cbor2
        return _dumps(encode_claims(claims))
    exp, nbf, iat = times
    out = (
        _head(5, 7 + (claims.cnonce is not None) + (claims.revocation_epoch > 0))
        + b"\x01" + _tstr(claims.issuer)
        + b"\x02" + _tstr(claims.subject)
        + b"\x03" + _tstr(claims.audience)
        + b"\x04" + _head(0, exp)
        + b"\x05" + _head(0, nbf)
        + b"\x06" + _head(0, iat)
        + b"\x07" + _bstr(claims.token_id)
    )  # fmt: skip
    if claims.cnonce is not None:
        out += _CNONCE_KEY + _bstr(claims.cnonce)
    if claims.revocation_epoch > 0:
        out += _EPOCH_KEY + _head(0, claims.revocation_epoch)
    return out


def sign_claims(claims: UnlockClaims, *, key: NaclSigningKey, kid: bytes) -> bytes:
    """The claims as a tagged COSE_Sign1 signed with ``key`` under ``kid``."""
    protected = _bstr(protected_header(kid))
    payload = _bstr(encode_claims_cbor(claims))
    signature = key.sign(_SIG1_PREFIX + protected + _EMPTY_BSTR + payload).signature
    return _SIGN1_PREFIX + protected + _EMPTY_MAP + payload + _bstr(signature)


def _strict_loads(data: bytes, what: str) -> Any:
    try:
        stream = io.BytesIO(data)
        value = cbor2.CBORDecoder(stream).decode()
    except Exception as exc:
        # anything from ValueError to decimal.InvalidOperation or re.error; all mean "malformed"
        raise MalformedToken(f"{what} is not valid CBOR") from exc
    if stream.tell() != len(data):
        raise MalformedToken(f"{what} has trailing bytes")
    return value


def _split(token: bytes) -> tuple[bytes, dict[Any, Any], bytes, bytes]:
    if not isinstance(token, bytes | bytearray) or not token:
        raise MalformedToken("token is empty")
    if len(token) > MAX_TOKEN_BYTES:
        raise MalformedToken(f"token is {len(token)} bytes; at most {MAX_TOKEN_BYTES}")
    outer = _strict_loads(bytes(token), "token")
    if isinstance(outer, cbor2.CBORTag):
        if outer.tag != COSE_SIGN1_TAG:
            raise MalformedToken(f"token has CBOR tag {outer.tag}; expected 18 (COSE_Sign1)")
        outer = outer.value
    if not isinstance(outer, list) or len(outer) != 4:
        raise MalformedToken("token is not a COSE_Sign1 array of 4 elements")
    protected, unprotected, payload, signature = outer
    if not isinstance(protected, bytes) or not isinstance(payload, bytes):
        raise MalformedToken("protected header and payload must be byte strings")
    if not isinstance(unprotected, dict):
        raise MalformedToken("unprotected header must be a map")
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise MalformedToken("signature must be 64 bytes (Ed25519)")
    return protected, unprotected, payload, signature


def _header_kid(protected: bytes, unprotected: dict[Any, Any]) -> bytes:
    header = _strict_loads(protected, "protected header")
    if not isinstance(header, dict):
        raise MalformedToken("protected header is not a map")
    if header.get(HDR_ALG) != ALG_EDDSA:
        raise MalformedToken(f"alg must be EdDSA (-8); got {header.get(HDR_ALG)!r}")
    if HDR_CRIT in header:
        raise MalformedToken("critical header parameters are not supported")
    if HDR_KID in unprotected or HDR_ALG in unprotected:
        raise MalformedToken("kid and alg must be in the protected header")
    kid = header.get(HDR_KID)
    if not isinstance(kid, bytes) or not kid:
        raise MalformedToken("protected header has no kid")
    return kid


def _claims_from_map(raw: Any) -> UnlockClaims:
    if not isinstance(raw, dict):
        raise MalformedToken("payload is not a CWT claims map")

    def text(k: int, name: str) -> str:
        v = raw.get(k)
        if not isinstance(v, str) or not v:
            raise MalformedToken(f"claim {name} must be a non-empty text string")
        return v

    def number(k: int, name: str) -> int:
        v = raw.get(k)
        if not isinstance(v, int) or isinstance(v, bool):
            raise MalformedToken(f"claim {name} must be an integer (POSIX seconds)")
        return v

    cti = raw.get(CLAIM_CTI)
    if not isinstance(cti, bytes) or not 8 <= len(cti) <= 32:
        raise MalformedToken("claim cti must be 8-32 bytes")
    cnonce = raw.get(CLAIM_CNONCE)
    if cnonce is not None and not isinstance(cnonce, bytes):
        raise MalformedToken("claim cnonce must be a byte string")
    epoch = raw.get(CLAIM_REVOCATION_EPOCH, 0)
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise MalformedToken("claim revocation epoch must be a non-negative integer")
    return UnlockClaims(
        issuer=text(CLAIM_ISS, "iss"),
        subject=text(CLAIM_SUB, "sub"),
        audience=text(CLAIM_AUD, "aud"),
        expires_at=number(CLAIM_EXP, "exp"),
        not_before=number(CLAIM_NBF, "nbf"),
        issued_at=number(CLAIM_IAT, "iat"),
        token_id=cti,
        cnonce=cnonce,
        revocation_epoch=epoch,
        confirmation_key=_confirmation_key(raw.get(CLAIM_CNF)),
    )


def _confirmation_key(cnf: Any) -> bytes | None:
    if cnf is None:
        return None
    key = cnf.get(CNF_COSE_KEY) if isinstance(cnf, dict) else None
    if (
        not isinstance(key, dict)
        or key.get(KTY) != KTY_OKP
        or key.get(OKP_CRV) != CRV_ED25519
        or not isinstance(key.get(OKP_X), bytes)
        or len(key[OKP_X]) != 32
    ):
        raise MalformedToken("claim cnf must hold an Ed25519 OKP COSE_Key with a 32-byte x")
    x: bytes = key[OKP_X]
    return x


def decode_unverified(token: bytes) -> tuple[bytes, UnlockClaims]:
    """The kid and claims *without* checking the signature: for logs and diagnostics only."""
    protected, unprotected, payload, _ = _split(token)
    return _header_kid(protected, unprotected), _claims_from_map(_strict_loads(payload, "payload"))


def verify_token(
    token: bytes,
    *,
    keys: VerificationKeys,
    audience: str,
    now: int,
    nonce: bytes | None,
    clock_drift: int = 30,
    issuer: str | None = None,
) -> UnlockClaims:
    """Return the claims of a genuine, fresh token for ``audience``, or raise ``TokenError``.

    * the signature verifies under the trusted key named by ``kid`` (``UnknownKey``,
      ``BadSignature``), checked before any claim is believed;
    * ``aud`` equals ``audience`` (``WrongAudience``); ``iss`` equals ``issuer`` if given;
    * ``nbf - clock_drift <= now < exp + clock_drift`` (``TokenNotYetValid``, ``TokenExpired``);
    * when ``nonce`` is given the token's ``cnonce`` must equal it (``NonceMismatch``).
    """
    protected, unprotected, payload, signature = _split(token)
    kid = _header_kid(protected, unprotected)
    key = keys.get(kid)
    if key is None:
        raise UnknownKey(f"no trusted key with kid {kid.hex()}")
    try:
        key.verify(_sig_structure(protected, payload), signature)
    except BadSignatureError as exc:
        raise BadSignature("signature does not verify") from exc
    claims = _claims_from_map(_strict_loads(payload, "payload"))
    if claims.audience != audience:
        raise WrongAudience(f"token is for relay {claims.audience!r}, not {audience!r}")
    if issuer is not None and claims.issuer != issuer:
        raise WrongIssuer(f"token was issued by {claims.issuer!r}, not {issuer!r}")
    if now >= claims.expires_at + clock_drift:
        raise TokenExpired(f"token expired at {claims.expires_at} (now {now})")
    if now < claims.not_before - clock_drift:
        raise TokenNotYetValid(f"token is valid from {claims.not_before} (now {now})")
    if nonce is not None and claims.cnonce != nonce:
        raise NonceMismatch("token is not bound to this relay's current challenge")
    return claims


def sign_payload(payload: bytes, *, key: NaclSigningKey, kid: bytes) -> bytes:
    """Any payload as a tagged COSE_Sign1 (EdDSA) under ``kid``: relay results and
    revocation-epoch notices use the same envelope as tokens."""
    protected = _bstr(protected_header(kid))
    signature = key.sign(_SIG1_PREFIX + protected + _EMPTY_BSTR + _bstr(payload)).signature
    return _SIGN1_PREFIX + protected + _EMPTY_MAP + _bstr(payload) + _bstr(signature)


def verify_payload(data: bytes, *, keys: VerificationKeys) -> tuple[bytes, bytes]:
    """The ``(kid, payload)`` of a COSE_Sign1 whose signature verifies under a trusted key, or
    ``UnknownKey`` / ``BadSignature`` / ``MalformedToken``."""
    protected, unprotected, payload, signature = _split(data)
    kid = _header_kid(protected, unprotected)
    key = keys.get(kid)
    if key is None:
        raise UnknownKey(f"no trusted key with kid {kid.hex()}")
    try:
        key.verify(_sig_structure(protected, payload), signature)
    except BadSignatureError as exc:
        raise BadSignature("signature does not verify") from exc
    return kid, payload


def payload_unverified(data: bytes) -> bytes:
    """The payload of a COSE_Sign1 *without* checking its signature (a phone that cannot
    verify a relay's result offline still shows what the relay said; the authority verifies)."""
    return _split(data)[2]
