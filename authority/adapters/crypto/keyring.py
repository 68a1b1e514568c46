"""The authority's signing keys: generated on first run, rotated, published as JWK/COSE key sets.

On disk (``<data_dir>/keys``, mode 0700) each key is one JSON file, mode 0600 (refused when
group or others may read it)::

    {"kid": "<kid>", "seed": "<base64url 32 bytes>", "created_at": 1700000000, "retired_at": null}

or, with a key passphrase (``authority.adapters.crypto.sealing``), ``"sealed_seed"`` and
``"public"`` instead of ``"seed"``.

The newest unretired key signs. A retired key stays *published* (in ``verification_keys`` and
the exports) until every token it signed has expired, so relays keep accepting those tokens.
Key material is never logged: ``SigningKey.__repr__`` shows only the kid.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cbor2
from nacl.signing import SigningKey as NaclSigningKey
from nacl.signing import VerifyKey

from authority.adapters.crypto.sealing import (
    SEALED_NEEDS_PASSPHRASE,
    KeySealer,
    require_private,
    write_private,
)
from authority.domain.errors import FailedPrecondition, InvalidArgument
from doorkey_wire.claims import UnlockClaims
from doorkey_wire.cwt import sign_claims

COSE_KTY_OKP, COSE_CRV_ED25519, COSE_ALG_EDDSA = 1, 6, -8
SIGNING_KEY_GLOB = "signing-*.json"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def kid_for(public_key: bytes) -> bytes:
    """The key id: base64url of 8 bytes of SHA-256 over the public key, as ASCII bytes.

    The same 11 characters are the JWK ``kid`` (a string) and the COSE ``kid`` (a byte string):
    COSE libraries that import a JWK take its kid as the UTF-8 bytes of that string, so any other
    choice would make our tokens unverifiable from the published JWK Set alone.
    """
    return b64url(hashlib.sha256(public_key).digest()[:8]).encode("ascii")


@dataclass(frozen=True, slots=True, kw_only=True)
class SigningKey:
    kid: bytes
    private: NaclSigningKey
    created_at: int
    retired_at: int | None = None

    def __repr__(self) -> str:  # never show key material
        return f"SigningKey(kid={self.kid.decode()}, retired_at={self.retired_at})"

    @property
    def public(self) -> VerifyKey:
        return self.private.verify_key

    @classmethod
    def generate(cls, *, now: int) -> SigningKey:
        sk = NaclSigningKey.generate()
        return cls(kid=kid_for(bytes(sk.verify_key)), private=sk, created_at=now)

    @classmethod
    def from_seed(cls, seed: bytes, *, created_at: int = 0) -> SigningKey:
        if len(seed) != 32:
            raise InvalidArgument("an Ed25519 signing key seed is 32 bytes")
        sk = NaclSigningKey(seed)
        return cls(kid=kid_for(bytes(sk.verify_key)), private=sk, created_at=created_at)


class Keyring:
    """Signing keys, the newest unretired one active. Thread-safe for reads after load."""

    def __init__(self, keys: Sequence[SigningKey], *, publish_retired_for: int) -> None:
        active = [k for k in keys if k.retired_at is None]
        if not active:
            raise FailedPrecondition("the keyring has no active signing key")
        self._keys = sorted(keys, key=lambda k: (k.created_at, k.kid))
        self._active = max(active, key=lambda k: (k.created_at, k.kid))
        self._publish_retired_for = publish_retired_for
        self._directory: Path | None = None
        self._sealer: KeySealer | None = None

    # -- loading -----------------------------------------------------------------------------

    @classmethod
    def load_or_create(
        cls, directory: Path, *, publish_retired_for: int, sealer: KeySealer | None = None
    ) -> Keyring:
        """Load ``directory``'s keys, generating the first one (0600) if there is none; with a
        ``sealer``, keys are opened with it and new ones sealed."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)
        keys = [_read_key(p, sealer) for p in sorted(directory.glob(SIGNING_KEY_GLOB))]
        if not keys:
            key = SigningKey.generate(now=int(time.time()))
            _write_key(directory, key, sealer=sealer)
            keys = [key]
        ring = cls(keys, publish_retired_for=publish_retired_for)
        ring._directory = directory
        ring._sealer = sealer
        return ring

    @classmethod
    def from_seed(cls, seed: bytes, *, publish_retired_for: int) -> Keyring:
        """A keyring of one key given in configuration (for hosts sharing one key)."""
        return cls([SigningKey.from_seed(seed)], publish_retired_for=publish_retired_for)

    # -- use ---------------------------------------------------------------------------------

    @property
    def active(self) -> SigningKey:
        return self._active

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        return tuple(self._keys)

    def sign(self, claims: UnlockClaims) -> bytes:
        return sign_claims(claims, key=self._active.private, kid=self._active.kid)

    def published(self, *, now: int) -> list[SigningKey]:
        """Keys relays should trust now: the active one and retired ones still in their grace."""
        return [
            k
            for k in self._keys
            if k.retired_at is None or now < k.retired_at + self._publish_retired_for
        ]

    def verification_keys(self, *, now: int) -> dict[bytes, VerifyKey]:
        return {k.kid: k.public for k in self.published(now=now)}

    def rotate(self, *, now: int) -> SigningKey:
        """Generate a new active key; retire the others (still published during the grace)."""
        if self._directory is None:
            raise FailedPrecondition(
                "keys given in configuration cannot be rotated here; rotate them where they live"
            )
        new = SigningKey.generate(now=now)
        retired = [replace(k, retired_at=now) if k.retired_at is None else k for k in self._keys]
        _write_key(self._directory, new, sealer=self._sealer)
        for old, upd in zip(self._keys, retired, strict=True):
            if old is not upd:
                _write_key(self._directory, upd, overwrite=True, sealer=self._sealer)
        self._keys = sorted([*retired, new], key=lambda k: (k.created_at, k.kid))
        self._active = new
        return new

    # -- exports -----------------------------------------------------------------------------

    def jwks(self, *, now: int) -> dict[str, list[dict[str, str]]]:
        """A JWK Set (RFC 7517) of OKP/Ed25519 keys (RFC 8037) with ``kid``."""
        return {
            "keys": [
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": b64url(bytes(k.public)),
                    "kid": k.kid.decode("ascii"),
                    "alg": "EdDSA",
                    "use": "sig",
                }
                for k in self.published(now=now)
            ]
        }

    def cose_key_set(self, *, now: int) -> bytes:
        """A COSE_KeySet (RFC 9052 section 7): CBOR array of COSE_Key maps."""
        return cbor2.dumps(
            [
                {
                    1: COSE_KTY_OKP,
                    2: k.kid,
                    3: COSE_ALG_EDDSA,
                    -1: COSE_CRV_ED25519,
                    -2: bytes(k.public),
                }
                for k in self.published(now=now)
            ],
            canonical=True,
        )


def verification_keys_from_jwks(jwks: dict[str, object]) -> dict[bytes, VerifyKey]:
    """Parse a JWK Set as exported above: what a relay or bridge loads at installation."""
    out: dict[bytes, VerifyKey] = {}
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        raise InvalidArgument("a JWK Set has a 'keys' array")
    for jwk in keys:
        if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue
        out[str(jwk["kid"]).encode()] = VerifyKey(b64url_decode(str(jwk["x"])))
    return out


def read_key_file(path: Path, sealer: KeySealer | None = None) -> SigningKey:
    """One key file (signing or audit: one format), checked private, opened if sealed."""
    require_private(path)
    try:
        raw = json.loads(path.read_text())
        if "sealed_seed" in raw:
            if sealer is None:
                raise FailedPrecondition(SEALED_NEEDS_PASSPHRASE.format(dir=path.parent))
            seed = sealer.open(str(raw["sealed_seed"]), path.name)
        else:
            seed = b64url_decode(raw["seed"])
        key = SigningKey.from_seed(seed, created_at=int(raw["created_at"]))
        retired = raw.get("retired_at")
        retired_at = int(retired) if retired is not None else None
    except (OSError, ValueError, KeyError, TypeError, InvalidArgument) as exc:
        raise FailedPrecondition(f"key file {path.name} is unreadable or corrupt") from exc
    if key.kid.decode() != raw.get("kid"):
        raise FailedPrecondition(f"key file {path.name}: kid does not match the key")
    return replace(key, retired_at=retired_at)


def read_public_key(path: Path) -> tuple[str, VerifyKey]:
    """(kid, public key) of a key file, sealed or not, without the passphrase."""
    try:
        raw = json.loads(path.read_text())
        if "public" in raw:
            public = VerifyKey(b64url_decode(raw["public"]))
        else:
            public = NaclSigningKey(b64url_decode(raw["seed"])).verify_key
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FailedPrecondition(f"key file {path.name} is unreadable or corrupt") from exc
    kid = str(raw.get("kid"))
    if kid_for(bytes(public)).decode() != kid:
        raise FailedPrecondition(f"key file {path.name}: kid does not match the key")
    return kid, public


def write_key_file(
    path: Path, key: SigningKey, sealer: KeySealer | None = None, *, overwrite: bool = False
) -> None:
    """Write a key file 0600, atomically; its seed sealed when a ``sealer`` is given."""
    body: dict[str, object] = {
        "kid": key.kid.decode(),
        "created_at": key.created_at,
        "retired_at": key.retired_at,
    }
    if sealer is not None:
        body["sealed_seed"] = sealer.seal(bytes(key.private))
        body["public"] = b64url(bytes(key.public))
    else:
        body["seed"] = b64url(bytes(key.private))
    write_private(path, json.dumps(body).encode(), overwrite=overwrite)


def _key_path(directory: Path, key: SigningKey) -> Path:
    return directory / f"signing-{key.kid.hex()}.json"  # hex: kids may contain '-' and '_'


def _read_key(path: Path, sealer: KeySealer | None = None) -> SigningKey:
    return read_key_file(path, sealer)


def _write_key(
    directory: Path, key: SigningKey, *, overwrite: bool = False, sealer: KeySealer | None = None
) -> None:
    try:
        write_key_file(_key_path(directory, key), key, sealer, overwrite=overwrite)
    except FailedPrecondition as exc:
        raise FailedPrecondition(f"signing key {key.kid.decode()} already exists") from exc
