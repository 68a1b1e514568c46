"""Password hashing (argon2id) and TOTP two-factor codes (RFC 6238), off the event loop; TOTP
secrets are sealed (XChaCha20-Poly1305, bound to their login) under a key kept outside Redis.

argon2id with the OWASP minimum (19 MiB, 2 passes) costs ~20-40 ms of CPU per login on these
machines: that is what makes a stolen hash expensive to attack, so it runs in a worker thread.
A login that does not exist is verified against a dummy hash, so both take the same time.
"""

from __future__ import annotations

import asyncio
import base64
import time

import nacl.exceptions
import nacl.secret
import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from authority.domain.errors import Unavailable

TOTP_DIGITS, TOTP_PERIOD = 6, 30
ISSUER = "door-authority"


class Argon2Passwords:
    """The ``Passwords`` port: argon2id hashes, sealed TOTP secrets, RFC 6238 codes."""

    def __init__(
        self, *, totp_key: bytes, time_cost: int = 2, memory_cost: int = 19 * 1024
    ) -> None:
        """``totp_key``: 32 bytes, kept outside Redis, that seal the TOTP secrets stored there."""
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=1)
        self._dummy = self._hasher.hash("not a password of anyone")
        self._seal = nacl.secret.Aead(totp_key)

    def seal_totp(self, secret: str, login: str) -> str:
        """The TOTP secret as stored: sealed, and bound to its login (a copy under another login
        does not open)."""
        sealed = self._seal.encrypt(secret.encode(), login.encode())
        return base64.b64encode(bytes(sealed)).decode()

    def open_totp(self, stored: str, login: str) -> str:
        if not stored:
            return ""
        try:
            return self._seal.decrypt(base64.b64decode(stored), login.encode()).decode()
        except (nacl.exceptions.CryptoError, ValueError) as exc:
            raise Unavailable(
                "a TOTP secret does not open with this key (another person-master key?)"
            ) from exc

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(
            self._verify, stored_hash or self._dummy, password, bool(stored_hash)
        )

    def _verify(self, stored_hash: str, password: str, real: bool) -> bool:
        try:
            ok = self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return ok and real

    def new_totp_secret(self) -> str:
        return new_totp_secret()

    def totp_uri(self, secret: str, account: str) -> str:
        return totp_uri(secret, account)

    def totp_step(self, secret: str, code: str, now: float) -> int | None:
        return totp_step(secret, code, now)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, account: str) -> str:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD).provisioning_uri(
        name=account, issuer_name=ISSUER
    )


def totp_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step ``code`` is valid for (the current one, or one either side for clock
    drift), or None. The caller refuses a step already used (no replay)."""
    code = code.strip()
    if not secret or len(code) != TOTP_DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD)
    at = time.time() if now is None else now
    step = int(at // TOTP_PERIOD)
    for candidate in (step, step - 1, step + 1):
        if pyotp.utils.strings_equal(totp.at(candidate * TOTP_PERIOD), code):
            return candidate
    return None
