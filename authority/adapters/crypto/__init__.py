"""Unlock tokens: CWT (RFC 8392) claims in COSE_Sign1 (RFC 9052), EdDSA with Ed25519.

The wire format (encoding, signing, verification) is ``doorkey_wire.cwt``, shared with the
relay; here are the authority's keyring and its side of the relay's signed messages.
"""

from authority.adapters.crypto.keyring import Keyring, SigningKey
from doorkey_wire.cwt import (
    MAX_TOKEN_BYTES,
    VerificationKeys,
    decode_unverified,
    sign_claims,
    verify_token,
)

__all__ = [
    "MAX_TOKEN_BYTES",
    "Keyring",
    "SigningKey",
    "VerificationKeys",
    "decode_unverified",
    "sign_claims",
    "verify_token",
]
