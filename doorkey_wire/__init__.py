"""What the authority and the relay share: the wire format of unlock tokens and of the relay
protocol.

* ``claims``: ``UnlockClaims``, what a token says (plain data);
* ``cwt``: CWT/COSE_Sign1 encoding, signing and verification (``sign_claims``, ``verify_token``);
* ``errors``: ``TokenError`` and its subclasses, one per reason a token is refused;
* ``protocol``: the SmartRelay GATT protocol v1 (identifiers and message encodings).

A leaf: it imports only the standard library, cbor2 and PyNaCl, never ``authority`` or
``relay_bridge`` (``make test`` checks this with import-linter), so the authority, the bridge and
the reference relay (a firmware author's reading) all build on it without importing each other.
This module imports nothing, so importing ``doorkey_wire.claims`` or ``doorkey_wire.errors`` does
not load a crypto library.
"""
