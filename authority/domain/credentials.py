"""Caller credentials and principals.

Sessions (``authority.usecases.sessions``): a login yields ``<subject>~<session>.<secret>``, where
the subject is a key holder (``kh_…``) or a staff account (``acc_…``), kept with the subject (the
holder's hash, so the unlock path reads it in its one round trip) as expiry + digest; and a
refresh credential ``rfs_<subject>~<session>.<secret>`` that rotates on every use.

A credential is ``<id>.<secret>`` where the id's prefix says what kind of caller it is:
``kh_…`` a key holder (the mobile app), ``ak_…`` an organisation's API key, ``adm_…`` a platform
admin, ``brg_…`` a relay bridge. The secret is 32 random bytes (base64url); only its SHA-256
digest is stored. A salted slow hash is unnecessary for secrets of 256 bits of entropy (as with
GitHub tokens), and SHA-256 keeps the per-call cost at a microsecond. Site owners and analysts
are staff accounts with sessions; their retired long-lived credentials (``own_…``, ``ana_…``)
are refused with ``READER_LOGIN_REQUIRED``.
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
BRIDGE_PREFIX, ACCOUNT_PREFIX, REFRESH_PREFIX, SESSION_SEP = "brg_", "acc_", "rfs_", "~"
_PREFIXES = (ACCOUNT_PREFIX, HOLDER_PREFIX, ORG_KEY_PREFIX, ADMIN_PREFIX, BRIDGE_PREFIX)
_RETIRED_READER_PREFIXES = ("own_", "ana_")
"""The long-lived site-owner and analyst credentials of before staff accounts: recognised only
to be refused with a message that says what to do instead (not as an unknown kind)."""


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
    session_id: str | None = None
    """The login session the call runs in (staff and app logins); None for credentials."""
    scopes: frozenset[str] | None = None
    """For an organisation's API credential: what it may do
    (``authority.domain.permissions.ApiScope``); None: every scope (a credential from before
    scopes, or an organisation admin's login)."""

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
    """A credential as presented by a caller: its id (for a session: the subject), the digest
    of its secret, and the session it belongs to, if any."""

    credential_id: str
    digest: bytes
    session_id: str | None = None

    @property
    def is_holder(self) -> bool:
        return self.credential_id.startswith(HOLDER_PREFIX)

    @property
    def stored_field(self) -> str:
        """The field of the subject's hash that holds what this credential is checked against:
        a holder's long-lived app credential (``cred``) or a session's access entry."""
        return "cred" if self.session_id is None else access_field(self.session_id)

    def matches(self, stored: bytes, now: int = 0) -> bool:
        """Whether ``stored`` (a digest; for a session, its expiry + digest) admits this
        credential at ``now`` (POSIX seconds)."""
        if self.session_id is None:
            return hmac.compare_digest(self.digest, stored)
        if len(stored) != SESSION_ENTRY_BYTES:
            return False
        return int.from_bytes(stored[:8], "big") > now and hmac.compare_digest(
            self.digest, stored[8:]
        )


SESSION_ENTRY_BYTES = 8 + 32


def access_field(session_id: str) -> str:
    return "a:" + session_id


def refresh_field(session_id: str) -> str:
    return "r:" + session_id


def session_entry(expires_at: int, secret_digest: bytes) -> bytes:
    """How a session's access or refresh secret is stored: expiry (8 bytes) + SHA-256."""
    return expires_at.to_bytes(8, "big") + secret_digest


def entry_expiry(entry: bytes) -> int:
    return int.from_bytes(entry[:8], "big") if len(entry) == SESSION_ENTRY_BYTES else 0


@dataclass(frozen=True, slots=True)
class IssuedSessionSecrets:
    session_id: str
    access_credential: str
    access_digest: bytes
    refresh_credential: str
    refresh_digest: bytes


def new_session_secrets(subject: str, session_id: str | None = None) -> IssuedSessionSecrets:
    """Fresh access and refresh secrets for a (new, or renewed) session of ``subject``."""
    sid = session_id or new_id("s")
    access_secret, refresh_secret = _secret(), _secret()
    return IssuedSessionSecrets(
        sid,
        f"{subject}{SESSION_SEP}{sid}.{access_secret}",
        digest(access_secret),
        f"{REFRESH_PREFIX}{subject}{SESSION_SEP}{sid}.{refresh_secret}",
        digest(refresh_secret),
    )


@dataclass(frozen=True, slots=True)
class PresentedRefresh:
    subject: str
    session_id: str
    digest: bytes


def parse_refresh(text: str) -> PresentedRefresh:
    """Parse ``rfs_<subject>~<session>.<secret>``; raise ``Unauthenticated`` if malformed."""
    head, dot, secret = text.strip().partition(".")
    subject, sep, sid = head.removeprefix(REFRESH_PREFIX).partition(SESSION_SEP)
    if (
        not head.startswith(REFRESH_PREFIX)
        or not dot
        or not sep
        or not subject.startswith((HOLDER_PREFIX, ACCOUNT_PREFIX))
        or not 1 <= len(sid) <= 40
        or len(subject) > 64
        or not 16 <= len(secret) <= 128
        or not secret.isascii()
    ):
        raise Unauthenticated("malformed refresh credential")
    return PresentedRefresh(subject, sid, digest(secret))


def _secret() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


APP_LOGIN_REQUIRED = (
    "long-lived app credentials are not accepted: log in (IdentityService.Login) and send "
    "the session's access credential"
)


READER_LOGIN_REQUIRED = (
    "long-lived site-owner and analyst credentials (own_ and ana_ ids) are retired: the site "
    "owner or analyst logs in with a staff account (IdentityService.Login; the platform admin "
    "creates it with IdentityService.CreateAccount) and sends the session's access credential"
)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def new_credential(credential_id: str) -> tuple[str, bytes]:
    """A fresh credential string for ``credential_id`` and the digest to store."""
    secret = _secret()
    return f"{credential_id}.{secret}", digest(secret)


def new_organisation_key() -> tuple[str, str, bytes]:
    cid = new_id("ak")
    return (cid, *new_credential(cid))


def new_admin_key() -> tuple[str, str, bytes]:
    cid = new_id("adm")
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
    if cid.startswith(_RETIRED_READER_PREFIXES):  # before any store is asked: none may admit it
        raise Unauthenticated(READER_LOGIN_REQUIRED)
    if not cid.startswith(_PREFIXES):
        raise Unauthenticated("unknown credential kind")
    subject, sep, session_id = cid.partition(SESSION_SEP)
    if sep:
        if not session_id or not subject.startswith((HOLDER_PREFIX, ACCOUNT_PREFIX)):
            raise Unauthenticated("malformed session credential")
        return PresentedCredential(subject, digest(secret), session_id)
    if cid.startswith(ACCOUNT_PREFIX):
        raise Unauthenticated("an account signs in with Login; send the session credential")
    return PresentedCredential(cid, digest(secret))
