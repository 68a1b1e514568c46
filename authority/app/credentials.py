"""Caller credentials and principals.

A credential is ``<id>.<secret>`` where the id's prefix says what kind of caller it is:
``kh_…`` a key holder (the mobile app), ``ak_…`` an organisation's API key, ``adm_…`` a platform
admin, ``own_…`` a site owner, ``ana_…`` an access-log analyst. The secret is 32 random bytes
(base64url); only its SHA-256 digest is stored. A salted slow hash is unnecessary for secrets of
256 bits of entropy (as with GitHub tokens), and SHA-256 keeps the per-call cost at a
microsecond.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from enum import StrEnum

from authority.domain.errors import Unauthenticated
from authority.domain.model import new_id

HOLDER_PREFIX, ORG_KEY_PREFIX, ADMIN_PREFIX = "kh_", "ak_", "adm_"
SITE_OWNER_PREFIX, ANALYST_PREFIX, BRIDGE_PREFIX = "own_", "ana_", "brg_"
_PREFIXES = (
    HOLDER_PREFIX,
    ORG_KEY_PREFIX,
    ADMIN_PREFIX,
    SITE_OWNER_PREFIX,
    ANALYST_PREFIX,
    BRIDGE_PREFIX,
)


class Role(StrEnum):
    ADMIN = "admin"
    ORGANISATION = "organisation"
    KEY_HOLDER = "key_holder"
    SITE_OWNER = "site_owner"
    """Acts for one site owner (``Principal.owner_id``, the ``owner_id`` of its sites)."""
    ANALYST = "analyst"
    """Reads the access log: one organisation's events (``Principal.organisation_id``), or every
    event when ``organisation_id`` is None (the operator's own analysts)."""
    BRIDGE = "bridge"
    """A relay bridge: reports relay outcomes and fetches revocation notices, nothing else."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who is calling, and the tenant they act within."""

    role: Role
    credential_id: str
    organisation_id: str | None = None
    key_holder_id: str | None = None
    owner_id: str | None = None
    """For ``SITE_OWNER``: the owner it acts for (``Site.owner_id``)."""
    scopes: frozenset[str] | None = None
    """For an organisation's API credential: what it may do (``authority.app.authz.ApiScope``);
    None: every scope (a credential from before scopes, or an organisation admin's login)."""

    def to_json(self) -> str:
        d: dict[str, str | list[str] | None] = {
            "role": self.role.value,
            "org": self.organisation_id,
        }
        if self.owner_id is not None:  # absent for other roles: their stored form is unchanged
            d["owner"] = self.owner_id
        if self.scopes is not None:
            d["scopes"] = sorted(self.scopes)
        return json.dumps(d)

    @classmethod
    def from_json(cls, credential_id: str, raw: str) -> Principal:
        d = json.loads(raw)
        return cls(
            role=Role(d["role"]),
            credential_id=credential_id,
            organisation_id=d["org"],
            owner_id=d.get("owner"),
            scopes=frozenset(d["scopes"]) if "scopes" in d else None,
        )


@dataclass(frozen=True, slots=True)
class PresentedCredential:
    """A credential as presented by a caller: its id and the digest of its secret."""

    credential_id: str
    digest: bytes

    @property
    def is_holder(self) -> bool:
        return self.credential_id.startswith(HOLDER_PREFIX)

    def matches(self, stored_digest: bytes) -> bool:
        return hmac.compare_digest(self.digest, stored_digest)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def new_credential(credential_id: str) -> tuple[str, bytes]:
    """A fresh credential string for ``credential_id`` and the digest to store."""
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return f"{credential_id}.{secret}", digest(secret)


def new_organisation_key() -> tuple[str, str, bytes]:
    cid = new_id("ak")
    return (cid, *new_credential(cid))


def new_admin_key() -> tuple[str, str, bytes]:
    cid = new_id("adm")
    return (cid, *new_credential(cid))


def new_site_owner_key() -> tuple[str, str, bytes]:
    cid = new_id("own")
    return (cid, *new_credential(cid))


def new_analyst_key() -> tuple[str, str, bytes]:
    cid = new_id("ana")
    return (cid, *new_credential(cid))


def new_bridge_key() -> tuple[str, str, bytes]:
    cid = new_id("brg")
    return (cid, *new_credential(cid))


def parse_bearer(header: str | None) -> PresentedCredential:
    """Parse ``authorization: Bearer <id>.<secret>``; raise ``Unauthenticated`` if malformed."""
    if not header:
        raise Unauthenticated(
            "missing credential: send metadata 'authorization: Bearer <credential>'"
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("the authorization metadata must be 'Bearer <credential>'")
    cid, dot, secret = token.strip().partition(".")
    if not dot or not cid or len(cid) > 64 or not 16 <= len(secret) <= 128 or not secret.isascii():
        raise Unauthenticated("malformed credential")
    if not cid.startswith(_PREFIXES):
        raise Unauthenticated("unknown credential kind")
    return PresentedCredential(cid, digest(secret))
