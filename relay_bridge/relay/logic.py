"""The relay's acceptance logic: what a SmartRelay does with a challenge read and a token write.

Pure and deterministic given its clock and randomness: no Bluetooth, no I/O. The emulator runs
it behind a Bumble GATT server; firmware authors read it as the reference. Every submission
ends in exactly one signed result (OPENED, or REJECTED with one ``RejectReason``) and one entry
in the relay's event record.

Checks, in order (the first failing check names the reason)::

    size -> submission/token syntax -> kid known -> signature -> aud -> iss -> exp/nbf
    -> revocation epoch -> cti replay -> live challenge on this connection -> cnonce / device
    proof -> open

The signature is checked before any claim is believed, and the epoch/replay checks come before
the challenge so a replayed token is reported as such rather than as a stale challenge.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from doorkey_wire.claims import UnlockClaims
from doorkey_wire.cwt import MAX_TOKEN_BYTES, sign_payload, verify_payload, verify_token
from doorkey_wire.errors import (
    BadSignature,
    MalformedToken,
    TokenError,
    TokenExpired,
    TokenNotYetValid,
    UnknownKey,
    WrongAudience,
    WrongIssuer,
)
from doorkey_wire.protocol import (
    CHALLENGE_TTL_S,
    MAX_SUBMISSION_BYTES,
    NONCE_BYTES,
    Challenge,
    EpochNotice,
    Outcome,
    ProtocolError,
    RejectReason,
    ResultBody,
    Submission,
    device_proof_message,
    result_kid,
)

_TOKEN_REASONS: tuple[tuple[type[TokenError], RejectReason], ...] = (
    (UnknownKey, RejectReason.UNKNOWN_KEY),
    (BadSignature, RejectReason.BAD_SIGNATURE),
    (WrongAudience, RejectReason.WRONG_AUDIENCE),
    (WrongIssuer, RejectReason.WRONG_ISSUER),
    (TokenExpired, RejectReason.EXPIRED),
    (TokenNotYetValid, RejectReason.NOT_YET_VALID),
    (MalformedToken, RejectReason.MALFORMED),
)


class RelayRejection(Exception):
    """Internal: a check failed; carries its reason and, once authenticated, the claims."""

    def __init__(self, reason: RejectReason, claims: UnlockClaims | None = None) -> None:
        super().__init__(reason.name)
        self.reason = reason
        self.claims = claims


class EpochNoticeRejected(ValueError):
    """An EPOCH write that is not a genuine notice for this relay."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayConfig:
    relay_id: str
    """This relay's identity: the ``aud`` of tokens for its door."""
    trusted_keys: Mapping[bytes, VerifyKey]
    """The authority's verification keys by kid (``authority keys export``)."""
    issuer: str | None = None
    """When set, tokens must carry this ``iss``."""
    clock_drift_s: int = 30
    """Tolerance for the relay's clock against the authority's, applied to nbf and exp."""
    challenge_ttl_s: int = CHALLENGE_TTL_S
    """A challenge nonce is usable for this long after it was read."""
    replay_cache_size: int = 4096
    """How many token ids the relay remembers (oldest forgotten first; see the docstring of
    ``_remember``)."""
    offline_allowed: bool = False
    """Whether the site owner allowed offline opening (set at installation)."""
    max_sessions: int = 64
    """Outstanding challenges at once (one per connection); the oldest is dropped beyond it."""

    def __post_init__(self) -> None:
        if not self.relay_id:
            raise ValueError("relay_id is required")
        if not self.trusted_keys:
            raise ValueError("a relay needs at least one trusted authority key")
        if self.clock_drift_s < 0 or self.challenge_ttl_s <= 0 or self.replay_cache_size <= 0:
            raise ValueError("clock drift must be >= 0, challenge TTL and replay cache > 0")


@dataclass(frozen=True, slots=True)
class RelayEvent:
    """One line of the relay's own event record."""

    time: float
    outcome: Outcome
    reason: RejectReason
    token_id: bytes
    subject: str


@dataclass(frozen=True, slots=True)
class Verdict:
    body: ResultBody
    signed: bytes
    """``body`` as a COSE_Sign1 by the relay's key: the RESULT characteristic's value."""

    @property
    def opened(self) -> bool:
        return self.body.outcome is Outcome.OPENED


class RelayLogic:
    def __init__(
        self,
        config: RelayConfig,
        *,
        relay_key: SigningKey,
        clock: Callable[[], float],
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
        epoch: int = 0,
        on_open: Callable[[UnlockClaims], None] | None = None,
        record_size: int = 10_000,
    ) -> None:
        self.config = config
        self._key = relay_key
        self.clock = clock
        """The relay's real-time clock (POSIX seconds); an emulator may skew it."""
        self._random = random_bytes
        self._epoch = epoch
        self._on_open = on_open
        self._challenges: OrderedDict[Hashable, tuple[bytes, float]] = OrderedDict()
        self._seen: OrderedDict[bytes, int] = OrderedDict()  # cti -> exp
        self.events: deque[RelayEvent] = deque(maxlen=record_size)

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def public_key(self) -> bytes:
        return bytes(self._key.verify_key)

    # -- challenge -------------------------------------------------------------------------------

    def challenge(self, session: Hashable) -> Challenge:
        """The live challenge of ``session`` (one BLE connection): a fresh single-use nonce
        created on the first read after connecting, after the previous one was used by a
        submission, or once it is older than the challenge TTL. Repeated reads return the same
        value until then, so a long (blob) read at a small MTU sees one consistent value."""
        now = self.clock()
        live = self._challenges.get(session)
        if live is not None and now - live[1] <= self.config.challenge_ttl_s:
            nonce = live[0]
        else:
            nonce = self._random(NONCE_BYTES)
            self._challenges.pop(session, None)
            self._challenges[session] = (nonce, now)
            while len(self._challenges) > self.config.max_sessions:
                self._challenges.popitem(last=False)
        return Challenge(
            relay_id=self.config.relay_id,
            nonce=nonce,
            epoch=self._epoch,
            offline_allowed=self.config.offline_allowed,
        )

    def end_session(self, session: Hashable) -> None:
        self._challenges.pop(session, None)

    # -- token -----------------------------------------------------------------------------------

    def submit(self, session: Hashable, data: bytes) -> Verdict:
        """Judge a TOKEN write on ``session``; the session's challenge is used up either way."""
        live = self._challenges.pop(session, None)
        now = self.clock()
        nonce = live[0] if live else b""
        try:
            claims = self._check(data, live, now)
        except RelayRejection as rejection:
            return self._verdict(now, nonce, rejection.reason, rejection.claims)
        if self._on_open is not None:
            self._on_open(claims)
        return self._verdict(now, nonce, RejectReason.NONE, claims)

    def _check(self, data: bytes, live: tuple[bytes, float] | None, now: float) -> UnlockClaims:
        if len(data) > MAX_SUBMISSION_BYTES:
            raise RelayRejection(RejectReason.TOO_LARGE)
        try:
            submission = Submission.decode(data)
        except ProtocolError:
            raise RelayRejection(RejectReason.MALFORMED) from None
        if len(submission.token) > MAX_TOKEN_BYTES:
            raise RelayRejection(RejectReason.TOO_LARGE)
        config = self.config
        try:
            claims = verify_token(
                submission.token,
                keys=config.trusted_keys,
                audience=config.relay_id,
                now=int(now),
                nonce=None,  # the challenge is checked below, after epoch and replay
                clock_drift=config.clock_drift_s,
                issuer=config.issuer,
            )
        except TokenError as exc:
            raise RelayRejection(_token_reason(exc)) from None
        # Authentic from here on: the token's epoch is a signed fact and may raise ours.
        if claims.revocation_epoch > self._epoch:
            self._epoch = claims.revocation_epoch
        elif claims.revocation_epoch < self._epoch:
            raise RelayRejection(RejectReason.REVOKED, claims)
        offline = claims.confirmation_key is not None
        if offline and not config.offline_allowed:
            raise RelayRejection(RejectReason.OFFLINE_NOT_ALLOWED, claims)
        if not offline and claims.token_id in self._seen:
            raise RelayRejection(RejectReason.REPLAYED, claims)
        if live is None or now - live[1] > config.challenge_ttl_s:
            raise RelayRejection(RejectReason.NO_CHALLENGE, claims)
        nonce = live[0]
        if claims.cnonce is not None and claims.cnonce != nonce:
            raise RelayRejection(RejectReason.NONCE_MISMATCH, claims)
        if offline:
            self._check_device_proof(claims, submission, nonce)
        elif claims.cnonce is None:
            # an online token must answer this challenge; without cnonce it could be replayed
            raise RelayRejection(RejectReason.NONCE_MISMATCH, claims)
        else:
            self._remember(claims)
        return claims

    def _check_device_proof(self, claims: UnlockClaims, sub: Submission, nonce: bytes) -> None:
        assert claims.confirmation_key is not None
        if sub.device_proof is None:
            raise RelayRejection(RejectReason.DEVICE_PROOF_REQUIRED, claims)
        try:
            VerifyKey(claims.confirmation_key).verify(
                device_proof_message(self.config.relay_id, nonce), sub.device_proof
            )
        except (BadSignatureError, ValueError, TypeError):
            raise RelayRejection(RejectReason.DEVICE_PROOF_INVALID, claims) from None

    def _remember(self, claims: UnlockClaims) -> None:
        """Remember an online token's cti until it expires. When the cache is full the oldest
        entry goes: safe, because an online token is also bound to a single-use challenge of one
        connection, so a forgotten cti still cannot open twice. Offline tokens are reusable by
        design within their lifetime; each use needs the device's signature over a fresh
        challenge, which is what makes replaying one useless."""
        now_s = int(self.clock())
        drift = self.config.clock_drift_s
        while self._seen:
            oldest, exp = next(iter(self._seen.items()))
            if exp + drift > now_s and len(self._seen) < self.config.replay_cache_size:
                break
            del self._seen[oldest]
        self._seen[claims.token_id] = claims.expires_at

    def _verdict(
        self, now: float, nonce: bytes, reason: RejectReason, claims: UnlockClaims | None
    ) -> Verdict:
        body = ResultBody(
            relay_id=self.config.relay_id,
            nonce=nonce,
            outcome=Outcome.OPENED if reason is RejectReason.NONE else Outcome.REJECTED,
            reason=reason,
            token_id=claims.token_id if claims else b"",
            subject=claims.subject if claims else "",
            relay_time=int(now),
            epoch=self._epoch,
        )
        self.events.append(RelayEvent(now, body.outcome, reason, body.token_id, body.subject))
        signed = sign_payload(body.encode(), key=self._key, kid=result_kid(self.config.relay_id))
        return Verdict(body, signed)

    # -- revocation ------------------------------------------------------------------------------

    def apply_epoch_notice(self, data: bytes) -> int:
        """Raise the epoch from an authority-signed notice for this relay; returns the epoch.
        Raises ``EpochNoticeRejected`` for anything else (never lowers the epoch)."""
        try:
            _, payload = verify_payload(data, keys=self.config.trusted_keys)
            notice = EpochNotice.decode(payload)
        except (TokenError, ProtocolError) as exc:
            raise EpochNoticeRejected(f"not a genuine epoch notice: {exc}") from None
        if notice.relay_id != self.config.relay_id:
            raise EpochNoticeRejected(f"notice is for relay {notice.relay_id!r}")
        self._epoch = max(self._epoch, notice.epoch)
        return self._epoch


def _token_reason(exc: TokenError) -> RejectReason:
    for kind, reason in _TOKEN_REASONS:
        if isinstance(exc, kind):
            return reason
    return RejectReason.MALFORMED


def verify_result(signed: bytes, *, relay_id: str, relay_public_key: bytes) -> ResultBody:
    """The body of a relay's signed result, or ``ProtocolError`` if it is not genuine (a
    bystander forging an "opened" notification) or not from ``relay_id``."""
    try:
        _, payload = verify_payload(
            signed, keys={result_kid(relay_id): VerifyKey(relay_public_key)}
        )
        body = ResultBody.decode(payload)
    except TokenError as exc:
        raise ProtocolError(f"result is not signed by relay {relay_id!r}: {exc}") from None
    if body.relay_id != relay_id:
        raise ProtocolError(f"result names relay {body.relay_id!r}, expected {relay_id!r}")
    return body
