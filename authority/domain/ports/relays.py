"""The relay's signed messages: results verified, epoch notices signed."""

from __future__ import annotations

from typing import Protocol

from authority.domain.relay import RelayResult


class RelayResultVerifier(Protocol):
    def verify_result(self, signed: bytes, *, relay_id: str, public_key: bytes) -> RelayResult:
        """The result signed by relay ``relay_id``'s key, or a ``TokenError``: ``MalformedToken``
        (not a signed result), ``UnknownKey`` (signed under another kid), ``BadSignature``."""
        ...


class EpochNoticeSigner(Protocol):
    def sign_epoch_notice(self, *, relay_id: str, epoch: int, issued_at: int) -> bytes:
        """An authority-signed revocation-epoch notice for one relay."""
        ...
