"""Coverage-guided fuzzing (atheris, libFuzzer) of the parsers that face the outside: the relay
protocol's messages, the token parser and verifier, and the relay's acceptance logic. Run by
hand, not by ``make test`` (which runs the hypothesis versions in tests/security):

    pip install atheris
    PYTHONPATH=. python tests/fuzz/atheris_parsers.py -max_total_time=300 -max_len=4096

Any exception other than the parsers' own typed errors is a crash libFuzzer reports (with the
input saved as crash-*).
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from nacl.signing import SigningKey

    from doorkey_wire.cwt import decode_unverified, sign_payload, verify_token
    from doorkey_wire.errors import TokenError
    from doorkey_wire.protocol import Challenge, EpochNotice, ProtocolError, ResultBody, Submission
    from relay_bridge.relay import RelayConfig, RelayLogic

KEY = SigningKey(b"\x01" * 32)
RELAY_KEY = SigningKey(b"\x02" * 32)
KEYS = {b"k": KEY.verify_key}
NOW = 1_800_000_000


def one_input(data: bytes) -> None:
    for decoder in (Challenge, Submission, ResultBody, EpochNotice):
        with contextlib.suppress(ProtocolError):
            decoder.decode(data)
    for token in (data, sign_payload(data, key=KEY, kid=b"k")):
        try:
            decode_unverified(token)
            verify_token(token, keys=KEYS, audience="relay-1", now=NOW, nonce=None)
        except TokenError:
            pass
    logic = RelayLogic(
        RelayConfig(relay_id="relay-1", trusted_keys=KEYS, issuer="authority"),
        relay_key=RELAY_KEY,
        clock=lambda: NOW,
    )
    logic.challenge("s1")
    if logic.submit("s1", data).opened:
        raise AssertionError("the relay opened for fuzzer input")


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
