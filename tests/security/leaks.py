"""Finding secrets in what a run printed: every form a key or credential could be logged in.

``secrets_of_data_dir`` collects what the authority keeps on disk (key seeds, the person-data
master key, TLS private keys, the admin credential); ``find_leaks`` searches text for them and
for anything shaped like a credential. What a run may show its owner on purpose (a credential
returned once by a CLI command) must be passed as ``allowed``: the exception is explicit.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from pathlib import Path

from nacl.signing import SigningKey

CREDENTIAL_SHAPE = re.compile(
    r"\b(?:kh|ak|adm|own|ana|brg|acc|rfs)_[A-Za-z0-9_~-]{1,120}\.[A-Za-z0-9_-]{16,}"
)
"""``<id>.<secret>`` of every credential kind, sessions (``~``) and refresh credentials too."""


def forms(raw: bytes) -> set[str]:
    """The ways bytes end up in a log line: base64url, base64 (padded or not), hex."""
    b64 = base64.b64encode(raw).decode()
    return {
        base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
        b64,
        b64.rstrip("="),
        raw.hex(),
        raw.hex().upper(),
    }


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def secrets_of_data_dir(data_dir: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for key_file in sorted((data_dir / "keys").glob("*.json")):
        raw = json.loads(key_file.read_text())
        if "seed" not in raw:
            continue
        seed = _unb64url(raw["seed"])
        private = seed + bytes(SigningKey(seed).verify_key)  # libsodium's 64-byte form
        found[key_file.name] = forms(seed) | forms(private)
    for raw_key in sorted((data_dir / "keys").glob("*.key")):
        found[raw_key.name] = forms(raw_key.read_bytes())
    for pem in sorted(data_dir.rglob("*.key")):
        text = pem.read_bytes()
        if not text.startswith(b"-----BEGIN"):
            continue  # a raw key (above)
        lines = [x for x in text.decode().splitlines() if x and not x.startswith("-----")]
        if lines:
            found[str(pem.relative_to(data_dir))] = {x for x in lines if len(x) >= 20}
    admin = data_dir / "admin.credential"
    if admin.exists():
        credential = admin.read_text().strip()
        found["admin.credential"] = {credential, credential.split(".", 1)[1]}
    return found


def find_leaks(
    text: str, secrets: dict[str, set[str]], *, allowed: Iterable[str] = ()
) -> list[str]:
    """What in ``text`` is a secret (by name) or credential-shaped, minus ``allowed``."""
    allowed = set(allowed)
    leaks = [
        f"{name}: {value[:6]}…"
        for name, values in secrets.items()
        for value in values
        if value not in allowed and value in text
    ]
    leaks += [
        f"credential-shaped: {m.group(0)[:12]}…"
        for m in CREDENTIAL_SHAPE.finditer(text)
        if m.group(0) not in allowed
    ]
    return leaks
