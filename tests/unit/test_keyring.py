"""Signing keys on disk, rotation with a publication grace, and the exported key sets."""

from __future__ import annotations

import base64
import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import cbor2
import pytest

from authority.adapters.crypto.keyring import (
    Keyring,
    SigningKey,
    b64url,
    b64url_decode,
    kid_for,
    verification_keys_from_jwks,
)
from authority.domain.errors import FailedPrecondition, InvalidArgument, UnknownKey
from doorkey_wire.claims import UnlockClaims
from doorkey_wire.cwt import verify_token

T0 = 1_800_000_000
GRACE = 3600
SEED = bytes(range(32))


def claims(now: int) -> UnlockClaims:
    return UnlockClaims(
        issuer="authority",
        subject="kh_abcdefghijkmnpqr",
        audience="relay-0001",
        issued_at=now,
        not_before=now,
        expires_at=now + 60,
        token_id=bytes(16),
        cnonce=None,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def key_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("signing-*.json"))


# -- on disk -------------------------------------------------------------------------------------


def test_load_or_create_generates_one_private_key(tmp_path: Path) -> None:
    directory = tmp_path / "data" / "keys"
    ring = Keyring.load_or_create(directory, publish_retired_for=GRACE)
    assert mode(directory) == 0o700
    (path,) = key_files(directory)
    assert mode(path) == 0o600
    assert path.name == f"signing-{ring.active.kid.hex()}.json"
    raw = json.loads(path.read_text())
    assert raw["kid"] == ring.active.kid.decode()
    assert raw["retired_at"] is None
    assert b64url_decode(raw["seed"]) == bytes(ring.active.private)
    assert ring.active.kid == kid_for(bytes(ring.active.public))
    assert not list(directory.glob("*.tmp"))


def test_load_or_create_tightens_an_existing_directory(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)
    Keyring.load_or_create(directory, publish_retired_for=GRACE)
    assert mode(directory) == 0o700


def test_reload_gives_the_same_key(tmp_path: Path) -> None:
    first = Keyring.load_or_create(tmp_path, publish_retired_for=GRACE)
    again = Keyring.load_or_create(tmp_path, publish_retired_for=GRACE)
    assert again.active.kid == first.active.kid
    assert bytes(again.active.private) == bytes(first.active.private)
    assert len(key_files(tmp_path)) == 1
    token = first.sign(claims(T0))
    assert verify_token(
        token, keys=again.verification_keys(now=T0), audience="relay-0001", now=T0, nonce=None
    ) == claims(T0)


def test_corrupt_key_file_is_a_failed_precondition(tmp_path: Path) -> None:
    Keyring.load_or_create(tmp_path, publish_retired_for=GRACE)
    (path,) = key_files(tmp_path)
    path.write_text("{not json")
    with pytest.raises(FailedPrecondition, match="unreadable or corrupt"):
        Keyring.load_or_create(tmp_path, publish_retired_for=GRACE)


def test_key_file_whose_kid_does_not_match_its_seed_is_refused(tmp_path: Path) -> None:
    Keyring.load_or_create(tmp_path, publish_retired_for=GRACE)
    (path,) = key_files(tmp_path)
    raw = json.loads(path.read_text())
    raw["seed"] = b64url(SEED)
    path.write_text(json.dumps(raw))
    with pytest.raises(FailedPrecondition, match="kid does not match"):
        Keyring.load_or_create(tmp_path, publish_retired_for=GRACE)


def test_key_file_with_corrupt_retired_at_is_a_failed_precondition(tmp_path: Path) -> None:
    Keyring.load_or_create(tmp_path, publish_retired_for=GRACE)
    (path,) = key_files(tmp_path)
    raw = json.loads(path.read_text())
    raw["retired_at"] = "yesterday"
    path.write_text(json.dumps(raw))
    with pytest.raises(FailedPrecondition):
        Keyring.load_or_create(tmp_path, publish_retired_for=GRACE)


# -- rotation ------------------------------------------------------------------------------------


def test_rotate_keeps_the_old_key_published_for_the_grace(tmp_path: Path) -> None:
    ring = Keyring.load_or_create(tmp_path, publish_retired_for=GRACE)
    old = ring.active
    old_token = ring.sign(claims(T0))

    new = ring.rotate(now=T0)
    assert ring.active == new
    assert new.kid != old.kid
    assert new.retired_at is None
    new_token = ring.sign(claims(T0))

    def kids(now: int) -> list[bytes]:
        return [k.kid for k in ring.published(now=now)]

    def jwks_kids(now: int) -> set[bytes]:
        return {k["kid"].encode() for k in ring.jwks(now=now)["keys"]}

    def cose_kids(now: int) -> set[bytes]:
        return {k[2] for k in cbor2.loads(ring.cose_key_set(now=now))}

    for now in (T0, T0 + GRACE - 1):
        assert set(kids(now)) == {old.kid, new.kid}
        assert jwks_kids(now) == {old.kid, new.kid}
        assert cose_kids(now) == {old.kid, new.kid}
        keys = ring.verification_keys(now=now)
        # tokens of both keys verify during the grace (relay clock = token time here)
        for token in (old_token, new_token):
            assert verify_token(
                token, keys=keys, audience="relay-0001", now=T0, nonce=None
            ) == claims(T0)

    after = T0 + GRACE
    assert kids(after) == [new.kid]
    assert jwks_kids(after) == {new.kid}
    assert cose_kids(after) == {new.kid}
    with pytest.raises(UnknownKey):
        verify_token(
            old_token,
            keys=ring.verification_keys(now=after),
            audience="relay-0001",
            now=T0,
            nonce=None,
        )

    retired = {k.kid: k.retired_at for k in ring.keys}
    assert retired == {old.kid: T0, new.kid: None}


def test_rotation_is_persisted(tmp_path: Path) -> None:
    ring = Keyring.load_or_create(tmp_path, publish_retired_for=GRACE)
    old = ring.active.kid
    new = ring.rotate(now=T0).kid
    paths = key_files(tmp_path)
    assert len(paths) == 2
    assert all(mode(p) == 0o600 for p in paths)
    assert not list(tmp_path.glob("*.tmp"))
    again = Keyring.load_or_create(tmp_path, publish_retired_for=GRACE)
    assert again.active.kid == new
    assert {k.kid: k.retired_at for k in again.keys} == {old: T0, new: None}
    assert [k.kid for k in again.published(now=T0 + GRACE)] == [new]


def test_second_rotation_keeps_the_first_retirement_time(tmp_path: Path) -> None:
    ring = Keyring.load_or_create(tmp_path, publish_retired_for=GRACE)
    first = ring.active.kid
    second = ring.rotate(now=T0).kid
    third = ring.rotate(now=T0 + 100).kid
    assert {k.kid: k.retired_at for k in ring.keys} == {first: T0, second: T0 + 100, third: None}
    assert {k.kid for k in ring.published(now=T0 + GRACE)} == {second, third}


def test_a_key_from_configuration_cannot_be_rotated() -> None:
    ring = Keyring.from_seed(SEED, publish_retired_for=GRACE)
    assert ring.active.kid == kid_for(bytes(ring.active.public))
    assert ring.active.kid == Keyring.from_seed(SEED, publish_retired_for=GRACE).active.kid
    with pytest.raises(FailedPrecondition):
        ring.rotate(now=T0)


def test_keyring_needs_an_active_key() -> None:
    retired = SigningKey.from_seed(SEED, created_at=T0)
    with pytest.raises(FailedPrecondition, match="no active"):
        Keyring([], publish_retired_for=GRACE)
    with pytest.raises(FailedPrecondition, match="no active"):
        Keyring([replace(retired, retired_at=T0)], publish_retired_for=GRACE)


def test_newest_unretired_key_is_active() -> None:
    a = SigningKey.from_seed(bytes(32), created_at=T0)
    b = SigningKey.from_seed(bytes(range(32)), created_at=T0 + 1)
    assert Keyring([b, a], publish_retired_for=GRACE).active.kid == b.kid
    assert Keyring([a, b], publish_retired_for=GRACE).active.kid == b.kid


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_seed_must_be_32_bytes(length: int) -> None:
    with pytest.raises(InvalidArgument, match="32 bytes"):
        SigningKey.from_seed(bytes(length))


# -- key material never shown --------------------------------------------------------------------


def test_repr_does_not_contain_the_seed() -> None:
    key = SigningKey.from_seed(SEED)
    for shown in (
        repr(key),
        str(key),
        f"{key!r}",
        repr([key]),
        repr(Keyring([key], publish_retired_for=1).keys),
    ):
        assert key.kid.decode() in shown
        for form in (SEED.hex(), b64url(SEED), repr(SEED), base64.b64encode(SEED).decode()):
            assert form not in shown
        assert "private" not in shown


# -- exports -------------------------------------------------------------------------------------


def test_jwks_shape() -> None:
    ring = Keyring.from_seed(SEED, publish_retired_for=GRACE)
    (jwk,) = ring.jwks(now=T0)["keys"]
    assert jwk == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64url(bytes(ring.active.public)),
        "kid": ring.active.kid.decode(),
        "alg": "EdDSA",
        "use": "sig",
    }
    assert "=" not in jwk["x"] + jwk["kid"]
    assert "d" not in jwk  # never the private part
    json.dumps(ring.jwks(now=T0))


def test_cose_key_set_shape() -> None:
    ring = Keyring.from_seed(SEED, publish_retired_for=GRACE)
    decoded = cbor2.loads(ring.cose_key_set(now=T0))
    assert decoded == [{1: 1, 2: ring.active.kid, 3: -8, -1: 6, -2: bytes(ring.active.public)}]
    (key,) = decoded
    assert len(key[-2]) == 32
    assert -4 not in key  # never the private part


def test_verification_keys_from_jwks_round_trips(tmp_path: Path) -> None:
    ring = Keyring.load_or_create(tmp_path, publish_retired_for=GRACE)
    ring.rotate(now=T0)
    jwks = json.loads(json.dumps(ring.jwks(now=T0)))
    parsed = verification_keys_from_jwks(jwks)
    expected = ring.verification_keys(now=T0)
    assert len(parsed) == 2
    assert {kid: bytes(k) for kid, k in parsed.items()} == {
        kid: bytes(k) for kid, k in expected.items()
    }
    token = ring.sign(claims(T0))
    assert verify_token(token, keys=parsed, audience="relay-0001", now=T0, nonce=None) == claims(T0)


def test_verification_keys_from_jwks_skips_foreign_keys() -> None:
    ring = Keyring.from_seed(SEED, publish_retired_for=GRACE)
    jwks = ring.jwks(now=T0)
    foreign = [
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "kid": "ec"},
        {"kty": "OKP", "crv": "X25519", "x": "AA", "kid": "x"},
        "not a key",
    ]
    parsed = verification_keys_from_jwks({"keys": [*foreign, *jwks["keys"]]})
    assert list(parsed) == [ring.active.kid]


@pytest.mark.parametrize("jwks", [{}, {"keys": {}}, {"keys": "x"}])
def test_verification_keys_from_jwks_needs_a_keys_array(jwks: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument, match="'keys' array"):
        verification_keys_from_jwks(jwks)


def test_b64url_round_trip() -> None:
    for n in range(40):
        data = os.urandom(n)
        assert b64url_decode(b64url(data)) == data
        assert "=" not in b64url(data)
