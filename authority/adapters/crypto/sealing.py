"""Key files at rest: private to the authority's user, optionally sealed with a passphrase.

Every Ed25519 key file the authority keeps (token signing keys, access-log audit keys) is
written 0600 in a 0700 directory, and refused at load when group or others may read it (as ssh
does). With a passphrase (``AUTHORITY_KEY_PASSPHRASE`` or ``AUTHORITY_KEY_PASSPHRASE_FILE``),
the seed in each file is sealed: XSalsa20-Poly1305 (``nacl.secret.SecretBox``) under a key
derived from the passphrase with Argon2id; the salt, the KDF's parameters and a check value
live in ``<keys>/sealing.json``, so the key is derived once per start and a wrong passphrase is
a clear error before anything is served. The public half stays in the clear beside the sealed
seed, so verifying the audit chain needs no passphrase.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils

from authority.domain.errors import FailedPrecondition

SEALING_FILE = "sealing.json"
_CHECK = b"authority key sealing v1"
SEALED_NEEDS_PASSPHRASE = (
    "the key files in {dir} are sealed with a passphrase: set AUTHORITY_KEY_PASSPHRASE or "  # noqa: S105 - a message
    "AUTHORITY_KEY_PASSPHRASE_FILE"
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class KeySealer:
    """Seals and opens key seeds with the passphrase-derived key of one keys directory."""

    def __init__(self, key: bytes) -> None:
        self._box = nacl.secret.SecretBox(key)

    @classmethod
    def for_directory(cls, directory: Path, passphrase: str) -> KeySealer:
        """The directory's sealer: derived with its ``sealing.json`` (created with a fresh salt
        on first use). Raises ``FailedPrecondition`` for a wrong passphrase."""
        if not passphrase:
            raise FailedPrecondition("the key passphrase is empty")
        path = directory / SEALING_FILE
        ops = nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE
        mem = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
        if path.exists():
            try:
                meta = json.loads(path.read_text())
                salt, ops, mem = _unb64(meta["salt"]), int(meta["ops"]), int(meta["mem"])
                check = _unb64(meta["check"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise FailedPrecondition(f"{path} is unreadable or corrupt") from exc
            sealer = cls(_derive(passphrase, salt, ops, mem))
            try:
                if sealer._box.decrypt(check) != _CHECK:
                    raise nacl.exceptions.CryptoError
            except nacl.exceptions.CryptoError as exc:
                raise FailedPrecondition(
                    f"wrong key passphrase for the key files in {directory}"
                ) from exc
            return sealer
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
        sealer = cls(_derive(passphrase, salt, ops, mem))
        meta = {
            "kdf": "argon2id",
            "salt": _b64(salt),
            "ops": ops,
            "mem": mem,
            "check": _b64(sealer._box.encrypt(_CHECK)),
        }
        write_private(path, json.dumps(meta).encode())
        return sealer

    def seal(self, seed: bytes) -> str:
        return _b64(self._box.encrypt(seed))

    def open(self, sealed: str, name: str) -> bytes:
        try:
            return self._box.decrypt(_unb64(sealed))
        except (nacl.exceptions.CryptoError, ValueError) as exc:
            raise FailedPrecondition(f"key file {name} does not open with this passphrase") from exc


def _derive(passphrase: str, salt: bytes, ops: int, mem: int) -> bytes:
    return nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, passphrase.encode("utf-8"), salt, opslimit=ops, memlimit=mem
    )


def require_private(path: Path) -> None:
    """Refuse a key file that group or others may read or write (as ssh refuses its keys)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise FailedPrecondition(
            f"key file {path} is accessible by other users (mode {mode:04o}): chmod 600 {path}"
        )


def write_private(path: Path, body: bytes, *, overwrite: bool = True) -> None:
    """Write ``body`` to ``path`` atomically (a 0600 temporary file, fsync'd, renamed)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    if path.exists() and not overwrite:
        tmp.unlink()
        raise FailedPrecondition(f"{path.name} already exists")
    os.replace(tmp, path)
