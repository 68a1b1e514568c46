"""Hostile bytes against the parsers that face the outside: the relay protocol's messages (what a
phone or an impostor writes to a relay, what a relay sends back), the relay's acceptance logic,
and the authority's checks of tokens and relay results. Each must raise only its own typed
error (or refuse), never anything else, whatever the input: random bytes, well-formed CBOR of
the wrong shape, the right keys with wrong values, deep nesting, claimed lengths of exabytes.
"""

from __future__ import annotations

import contextlib
from typing import Any

import cbor2
from hypothesis import given
from hypothesis import strategies as st
from nacl.signing import SigningKey

from authority.adapters.crypto.keyring import Keyring
from authority.adapters.crypto.relay_messages import RelayMessages
from doorkey_wire.cwt import decode_unverified, sign_payload, verify_token
from doorkey_wire.errors import TokenError
from doorkey_wire.protocol import (
    Challenge,
    EpochNotice,
    ProtocolError,
    ResultBody,
    Submission,
)
from relay_bridge.relay import RelayConfig, RelayLogic

DECODERS = (Challenge, Submission, ResultBody, EpochNotice)
KEY = SigningKey(b"\x01" * 32)
RELAY_KEY = SigningKey(b"\x02" * 32)

cbor_values: st.SearchStrategy[Any] = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(2**64), 2**64), st.floats(),
        st.binary(max_size=80), st.text(max_size=40),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(st.integers(-70000, 70000), st.text(max_size=5)), inner,
                        max_size=6),
    ),
    max_leaves=30,
)  # fmt: skip
"""Any CBOR data item (the shapes a confused or hostile peer might send)."""

protocol_maps = st.dictionaries(st.integers(0, 12), cbor_values, max_size=10)
"""Maps with the protocol's small integer keys and values of any type."""

hostile_bytes = st.one_of(
    st.binary(max_size=600),
    cbor_values.map(cbor2.dumps),
    protocol_maps.map(cbor2.dumps),
    st.integers(1, 5000).map(lambda n: b"\x81" * n),  # deeply nested arrays
    st.sampled_from(
        (
            b"\x5b" + (2**60).to_bytes(8, "big"),  # a byte string claiming 2**60 bytes
            b"\x9b" + (2**60).to_bytes(8, "big"),  # an array claiming 2**60 items
            b"\xbb" + (2**40).to_bytes(8, "big"),  # a map claiming 2**40 pairs
            b"\xd8\x1c" * 200 + b"\x01",  # nested tags
        )
    ),
)


@given(data=hostile_bytes)
def test_relay_protocol_decoders_raise_only_protocol_errors(data: bytes) -> None:
    for decoder in DECODERS:
        with contextlib.suppress(ProtocolError):
            decoder.decode(data)


@given(data=hostile_bytes)
def test_token_parsers_raise_only_token_errors(data: bytes) -> None:
    with contextlib.suppress(TokenError):
        decode_unverified(data)
    with contextlib.suppress(TokenError):
        verify_token(
            data, keys={b"k": KEY.verify_key}, audience="relay-1", now=1_800_000_000, nonce=None
        )


@given(payload=hostile_bytes)
def test_genuinely_signed_garbage_is_refused_with_typed_errors(payload: bytes) -> None:
    """A relay result or token whose signature is valid but whose content is nonsense (a
    compromised relay key, a buggy relay): still only typed errors."""
    relay_messages = RelayMessages(Keyring.from_seed(b"\x03" * 32, publish_retired_for=60))
    signed = sign_payload(payload, key=RELAY_KEY, kid=b"relay-1")
    with contextlib.suppress(TokenError):
        relay_messages.verify_result(
            signed, relay_id="relay-1", public_key=bytes(RELAY_KEY.verify_key)
        )
    token = sign_payload(payload, key=KEY, kid=b"k")
    with contextlib.suppress(TokenError):
        verify_token(
            token, keys={b"k": KEY.verify_key}, audience="relay-1", now=1_800_000_000, nonce=None
        )


@given(data=hostile_bytes)
def test_relay_never_opens_for_garbage(data: bytes) -> None:
    opened: list[object] = []
    logic = RelayLogic(
        RelayConfig(relay_id="relay-1", trusted_keys={b"k": KEY.verify_key}, issuer="authority"),
        relay_key=RELAY_KEY,
        clock=lambda: 1_800_000_000,
        on_open=opened.append,
    )
    logic.challenge("s1")
    for submission in (data, Submission(data, None).encode()):
        verdict = logic.submit("s1", submission)
        assert not verdict.opened
    assert opened == []
