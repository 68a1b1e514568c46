"""Unlock tokens: CWT (RFC 8392) claims in COSE_Sign1 (RFC 9052), EdDSA with Ed25519."""

from authority.tokens.cwt import (
    MAX_TOKEN_BYTES,
    VerificationKeys,
    decode_unverified,
    sign_claims,
    verify_token,
)
from authority.tokens.keyring import Keyring, SigningKey

__all__ = [
    "MAX_TOKEN_BYTES",
    "Keyring",
    "SigningKey",
    "VerificationKeys",
    "decode_unverified",
    "sign_claims",
    "verify_token",
]
