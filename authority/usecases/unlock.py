"""The unlock use case: authenticate the holder, decide, sign. One Redis round trip.

Online tokens (the usual case) live ``token_ttl`` seconds and are bound to the relay's challenge.
Offline tokens, for sites whose owner allows offline opening, are bound to the holder's device
key instead (``cnf``), live longer (``offline_token_ttl``, capped by the grant and its schedule
window: ``authority.domain.offline``), and die early when the site's revocation epoch rises.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from authority.domain.credentials import APP_LOGIN_REQUIRED, PresentedCredential
from authority.domain.decision import UnlockDecision, decide_unlock
from authority.domain.errors import (
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
)
from authority.domain.events import AccessEvent, EventKind, event, new_event_id
from authority.domain.model import Door, validate_id
from authority.domain.offline import offline_token_expiry
from authority.domain.policy import AccessPolicy
from authority.domain.ports.accesslog import EventRecorder
from authority.domain.ports.clock import Clock
from authority.domain.ports.directory import DirectoryView
from authority.domain.ports.ratelimit import CallLimiter
from authority.domain.ports.unlock import HolderSnapshotReader, TokenSigner
from authority.usecases.ratelimit import NO_LIMITS
from doorkey_wire.claims import UnlockClaims

MIN_CHALLENGE, MAX_CHALLENGE = 8, 64


@dataclass(frozen=True, slots=True)
class UnlockOutcome:
    decision: UnlockDecision
    holder_id: str
    door: Door | None
    token: bytes | None = None
    claims: UnlockClaims | None = None
    offline: bool = False


class UnlockService:
    def __init__(
        self,
        *,
        directory: DirectoryView,
        snapshots: HolderSnapshotReader,
        signer: TokenSigner,
        clock: Clock,
        events: EventRecorder,
        issuer: str,
        token_ttl: int,
        offline_token_ttl: int = 12 * 3600,
        policy: AccessPolicy | None = None,
        limiter: CallLimiter = NO_LIMITS,
        call_name: str,
    ) -> None:
        """``call_name``: how a refusal's event names the call (the edge's RPC), as the edge's
        own refusals do."""
        self._call_name = call_name
        self._limiter = limiter
        self._directory = directory
        self._events = events
        self._snapshots = snapshots
        self._signer = signer
        self._clock = clock
        self._issuer = issuer
        self._ttl = token_ttl
        self._offline_ttl = offline_token_ttl
        self._policy = policy

    async def _refused(self, credential: PresentedCredential, action: str, door_id: str) -> None:
        """A refused caller is an access-log event like any other refusal (the claimed subject,
        never the secret). Only on refusal: the accepted path records nothing extra."""
        await self._events.record(
            [
                event(
                    EventKind.ADMIN,
                    action,
                    "refused",
                    reason=self._call_name,
                    actor_role="key_holder" if credential.is_holder else "",
                    actor_id=credential.credential_id,
                    door_id=door_id,
                    detail='{"by":"unlock"}',
                )
            ]
        )

    async def request_unlock(
        self,
        credential: PresentedCredential,
        door_id: str,
        challenge: bytes | None,
        *,
        offline: bool = False,
    ) -> UnlockOutcome:
        validate_id(door_id, field_name="door_id")
        if challenge is not None and not MIN_CHALLENGE <= len(challenge) <= MAX_CHALLENGE:
            raise InvalidArgument(
                f"relay_challenge must be {MIN_CHALLENGE}-{MAX_CHALLENGE} bytes; "
                f"got {len(challenge)}"
            )
        if offline and challenge is not None:
            raise InvalidArgument(
                "relay_challenge must be empty with offline=true: an offline token is bound to "
                "the device key, and the device signs the relay's challenge at the door"
            )
        if not credential.is_holder:
            await self._refused(credential, "auth.denied", door_id)
            raise PermissionDenied("only key holders can request unlocks (use the app credential)")
        holder_id = credential.credential_id
        if credential.session_id is None:  # holders only ever hold login sessions
            await self._refused(credential, "auth.unauthenticated", door_id)
            raise Unauthenticated(APP_LOGIN_REQUIRED)
        wait_ms = self._limiter.blocked(holder_id)  # known to be over its limit: no Redis read
        if wait_ms:
            raise RateLimited("rate limit: too many calls from this caller", retry_after_ms=wait_ms)

        door = self._directory.door(door_id)
        site_id = door.site_id if door else None
        field = credential.stored_field  # the app's login session, or its long-lived credential
        snapshot = await self._snapshots.read_snapshot(holder_id, door_id, site_id, field)
        # One clock reading, after the read: the session's expiry and the decision see the same
        # instant, and it is no earlier than the state it judges.
        now = self._clock.now()
        now_s = int(now.timestamp())
        if snapshot is None or not credential.matches(snapshot.credential_digest, now_s):
            await self._refused(credential, "auth.unauthenticated", door_id)
            raise Unauthenticated("invalid credential")
        # Counted once authenticated (nobody can spend a holder's budget without its secret);
        # a holder's grants are all from its organisation.
        grants = snapshot.grants
        self._limiter.admit(holder_id, grants[0].organisation_id if grants else None)
        if snapshot.directory_version > self._directory.version:
            # The directory changed after our replica last looked: catch up before deciding.
            await self._directory.sync_to(snapshot.directory_version)
        # Look the door up again (another request may have caught the replica up meanwhile) and
        # read again only in the rare case that it was defined after our first look.
        door = self._directory.door(door_id)
        if door is not None and door.site_id != site_id:
            fresh = await self._snapshots.read_snapshot(holder_id, door_id, door.site_id, field)
            if fresh is None or not credential.matches(fresh.credential_digest, now_s):
                await self._refused(credential, "auth.unauthenticated", door_id)
                raise Unauthenticated("invalid credential")
            snapshot = fresh
        if offline and snapshot.device_key is None:
            raise FailedPrecondition(
                "no device key registered: register this device's Ed25519 public key with "
                "RegisterDeviceKey before asking for offline tokens"
            )

        site = self._directory.site(door.site_id) if door else None
        decision = decide_unlock(
            door=door,
            site=site,
            holder_status=snapshot.status,
            grants=snapshot.grants,
            organisations=self._directory.organisations,
            now=now,
            offline=offline,
            policy=self._policy,
        )
        if not decision.allowed or door is None or site is None:
            outcome = UnlockOutcome(decision, holder_id, door, offline=offline)
        else:
            issued = now_s
            if offline and decision.grant is not None:
                expires = offline_token_expiry(decision.grant, site, now, self._offline_ttl)
                expires_at = int(expires.timestamp())
            else:
                expires_at = issued + self._ttl
            claims = UnlockClaims(
                issuer=self._issuer,
                subject=holder_id,
                audience=door.relay_id,
                issued_at=issued,
                not_before=issued,
                expires_at=expires_at,
                token_id=secrets.token_bytes(16),
                cnonce=challenge,
                revocation_epoch=site.revocation_epoch,
                confirmation_key=snapshot.device_key if offline else None,
            )
            outcome = UnlockOutcome(
                decision, holder_id, door, self._signer.sign(claims), claims, offline=offline
            )
        # The decision is in the durable log before the caller hears of it.
        await self._events.record([decision_event(outcome, door_id, now)])
        return outcome


def decision_event(outcome: UnlockOutcome, door_id: str, now: datetime) -> AccessEvent:
    grant, door = outcome.decision.grant, outcome.door
    ts_ms = int(now.timestamp() * 1000)
    return AccessEvent(  # built directly, not through ``event()``: one per decision
        event_id=new_event_id(ts_ms),
        ts_ms=ts_ms,
        kind=EventKind.UNLOCK,
        action="unlock",
        outcome="allow" if outcome.decision.allowed else "deny",
        reason=outcome.decision.reason.value,
        actor_role="key_holder",
        actor_id=outcome.holder_id,
        holder_id=outcome.holder_id,
        organisation_id=grant.organisation_id if grant else "",
        grant_id=grant.grant_id if grant else "",
        site_id=door.site_id if door else "",
        door_id=door_id,
        relay_id=door.relay_id if door else "",
        token_id=outcome.claims.token_id.hex() if outcome.claims else "",
        detail=_offline_detail(outcome) if outcome.offline else "",
    )


def _offline_detail(outcome: UnlockOutcome) -> str:
    """Offline decisions say so in the log, with the token's lifetime and epoch."""
    facts: dict[str, object] = {"offline": True}
    if outcome.claims is not None:
        facts["expires_at"] = outcome.claims.expires_at
        facts["epoch"] = outcome.claims.revocation_epoch
    return json.dumps(facts, sort_keys=True, separators=(",", ":"))
