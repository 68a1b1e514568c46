"""Unlock tokens: CWT (RFC 8392) claims in COSE_Sign1 (RFC 9052), EdDSA with Ed25519.

The wire format (encoding, signing, verification) is ``doorkey_wire.cwt``, shared with the
relay; here are the authority's keyring and its side of the relay's signed messages.
"""
