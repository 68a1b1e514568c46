"""The caller's transport identity: who a verified client certificate (mTLS) says it is.

A client certificate names its holder in a SAN URI: ``urn:authority:org:<organisation id>`` for a
partner's system, ``urn:authority:bridge:<name>`` for a relay bridge,
``urn:authority:operator:<name>`` for the operator's own tools. The certificate never
replaces the bearer credential: it narrows whose credentials may travel over that connection
(``CertificateIdentity.admits``), so a stolen credential is useless without the matching private
key, and a stolen certificate without a credential of its organisation. The gRPC edge sets the
identity of the running call (``calling_peer``); ``Authenticator`` checks it against the
principal it resolves, so every authenticated call is covered, whoever calls ``authenticate``.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from enum import StrEnum

from authority.domain.credentials import Role
from authority.domain.errors import InvalidArgument, PermissionDenied

URN_PREFIX = "urn:authority:"


class PeerKind(StrEnum):
    ORGANISATION = "org"
    """A partner's system: carries that organisation's own credentials only."""
    BRIDGE = "bridge"
    """A relay bridge: carries key holders' credentials (the phones it relays for) and bridge
    credentials, nothing else."""
    OPERATOR = "operator"
    """The operator's own tools: platform administrators and the operator's analysts."""


@dataclass(frozen=True, slots=True)
class CertificateIdentity:
    """Who a verified client certificate says it is."""

    kind: PeerKind
    name: str
    """The organisation id (``org``) or the bridge's name (``bridge``)."""

    @property
    def uri(self) -> str:
        return f"{URN_PREFIX}{self.kind.value}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> CertificateIdentity:
        """``urn:authority:org:org_…`` or ``org:org_…`` (the form ``dev-certs --client`` takes)."""
        body = text.removeprefix(URN_PREFIX)
        kind, sep, name = body.partition(":")
        if not sep or not name or len(name) > 100 or not name.isprintable() or "/" in name:
            raise InvalidArgument(
                "a client identity is org:<organisation id>, bridge:<name> or operator:<name>; "
                f"got {text[:120]!r}"
            )
        try:
            return cls(PeerKind(kind), name)
        except ValueError as exc:
            raise InvalidArgument(
                f"unknown client kind {kind[:20]!r}: use org, bridge or operator"
            ) from exc

    def admits(self, *, role: Role, organisation_id: str | None) -> None:
        """Raise ``PermissionDenied`` unless a caller of this role (and organisation) may use
        this certificate's connection (see ``PeerKind``)."""
        if self.kind is PeerKind.ORGANISATION:
            ok = role in (Role.ORGANISATION, Role.ANALYST) and organisation_id == self.name
        elif self.kind is PeerKind.BRIDGE:
            ok = role in (Role.KEY_HOLDER, Role.BRIDGE)
        else:
            ok = role is Role.ADMIN or (role is Role.ANALYST and organisation_id is None)
        if not ok:
            raise PermissionDenied(
                f"the client certificate is {self.kind.value} {self.name}'s; the credential sent "
                "over it is not one such a client carries"
            )


_calling_peer: contextvars.ContextVar[CertificateIdentity | None] = contextvars.ContextVar(
    "authority_calling_peer", default=None
)


def calling_peer() -> CertificateIdentity | None:
    """The verified client certificate's identity of the running call, if it presented one."""
    return _calling_peer.get()


def set_calling_peer(
    identity: CertificateIdentity | None,
) -> contextvars.Token[CertificateIdentity | None]:
    return _calling_peer.set(identity)


def reset_calling_peer(token: contextvars.Token[CertificateIdentity | None]) -> None:
    _calling_peer.reset(token)
