"""Relay-facing use cases: results reported back from door relays, revocation notices for them.

Both are open to any authenticated caller (a bridge, the holder's app, an operator tool): a
result is authenticated by the relay's signature, not by whoever carries it, and a notice is a
public, authority-signed fact. The caller is recorded as the actor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from authority.domain.credentials import Principal
from authority.domain.errors import (
    FailedPrecondition,
    InvalidArgument,
    MalformedToken,
    NotFound,
    PermissionDenied,
    TokenError,
    UnknownKey,
)
from authority.domain.events import AccessEvent, EventKind, event
from authority.domain.model import Door, validate_id
from authority.domain.ports.accesslog import EventRecorder, OnceEventRecorder
from authority.domain.ports.clock import Clock
from authority.domain.ports.directory import DirectoryReader
from authority.domain.ports.grants import HolderReader
from authority.domain.ports.relays import EpochNoticeSigner, RelayResultVerifier
from authority.domain.relay import FORGED, RelayResult

RELAY_RESULT_ACTION = "relay_result"
MAX_SIGNED_RESULT_BYTES = 512


@dataclass(frozen=True, slots=True)
class RelayReport:
    """A genuine result as recorded."""

    result: RelayResult
    door: Door
    site_epoch: int
    """The site's current revocation epoch: above ``result.epoch``, the relay is behind and should
    be sent a revocation notice."""
    event_id: str
    first_report: bool
    """False when the same signed result had been reported before (it is logged once)."""


@dataclass(frozen=True, slots=True)
class RevocationNotice:
    notice: bytes
    """COSE_Sign1 by the authority's token key over ``EpochNotice(relay_id, epoch, issued_at)``."""
    door: Door
    epoch: int
    issued_at: int


class RelayReports:
    def __init__(
        self,
        *,
        directory: DirectoryReader,
        holders: HolderReader,
        verifier: RelayResultVerifier,
        notices: EpochNoticeSigner,
        events: EventRecorder,
        once: OnceEventRecorder,
        clock: Clock,
    ) -> None:
        self._dir = directory
        self._holders = holders
        self._verifier = verifier
        self._notices = notices
        self._events = events
        self._once = once
        self._clock = clock

    async def _door(self, door_id: str) -> Door:
        door = await self._dir.get_door(validate_id(door_id, field_name="door_id"))
        if door is None:
            raise NotFound(f"door {door_id} does not exist")
        return door

    async def report_outcome(
        self, principal: Principal, door_id: str, signed_result: bytes
    ) -> RelayReport:
        """Verify a result signed by ``door_id``'s relay and log it (once, however often it is
        reported). A result that is not genuine is logged as ``forged`` and refused."""
        if not signed_result:
            raise InvalidArgument(
                "signed_result is required: the COSE_Sign1 the relay notified on RESULT"
            )
        if len(signed_result) > MAX_SIGNED_RESULT_BYTES:
            raise InvalidArgument(
                f"signed_result is {len(signed_result)} bytes; at most {MAX_SIGNED_RESULT_BYTES}"
            )
        door = await self._door(door_id)
        if door.relay_public_key is None:
            raise FailedPrecondition(
                f"door {door_id} has no relay key registered: its results cannot be verified "
                "(an operator registers it with SetDoorRelayKey)"
            )
        try:
            result = self._verifier.verify_result(
                signed_result, relay_id=door.relay_id, public_key=door.relay_public_key
            )
        except TokenError as exc:
            reason = _forgery_reason(exc)
            await self._events.record([self._forged_event(principal, door, reason)])
            if isinstance(exc, MalformedToken):
                raise InvalidArgument(
                    f"signed_result is not a signed relay result: {exc} (logged as forged)"
                ) from exc
            raise PermissionDenied(
                f"signed_result does not verify under the key registered for relay "
                f"{door.relay_id} of door {door_id}: {exc} (logged as forged)"
            ) from exc
        if result.relay_id != door.relay_id:
            # Signed by this door's relay key, yet naming another relay: a relay key registered
            # twice, or copied. Not a statement about this door.
            await self._events.record([self._forged_event(principal, door, "relay_mismatch")])
            raise InvalidArgument(
                f"the result names relay {result.relay_id!r}, but door {door_id}'s relay is "
                f"{door.relay_id!r} (logged as forged)"
            )
        site = await self._dir.get_site(door.site_id)
        holder = await self._holders.get_holder(result.subject) if result.subject else None
        recorded = relay_event(
            result,
            door,
            principal,
            ts_ms=int(self._clock.now().timestamp() * 1000),
            organisation_id=holder.organisation_id if holder else "",
        )
        first = await self._once.record_once(recorded)
        return RelayReport(
            result=result,
            door=door,
            site_epoch=site.revocation_epoch if site else 0,
            event_id=recorded.event_id,
            first_report=first,
        )

    def _forged_event(self, principal: Principal, door: Door, reason: str) -> AccessEvent:
        return event(
            EventKind.RELAY,
            RELAY_RESULT_ACTION,
            FORGED,
            int(self._clock.now().timestamp() * 1000),
            reason=reason,
            actor_role=principal.role.value,
            actor_id=principal.credential_id,
            site_id=door.site_id,
            door_id=door.door_id,
            relay_id=door.relay_id,
        )

    async def revocation_notice(self, principal: Principal, door_id: str) -> RevocationNotice:
        """The site's current revocation epoch for ``door_id``'s relay, signed by the authority.
        ``principal`` only has to be authenticated: the notice is a public signed fact."""
        del principal
        door = await self._door(door_id)
        site = await self._dir.get_site(door.site_id)
        epoch = site.revocation_epoch if site else 0
        issued_at = int(self._clock.now().timestamp())
        notice = self._notices.sign_epoch_notice(
            relay_id=door.relay_id, epoch=epoch, issued_at=issued_at
        )
        return RevocationNotice(notice=notice, door=door, epoch=epoch, issued_at=issued_at)


def relay_event(
    result: RelayResult, door: Door, principal: Principal, *, ts_ms: int, organisation_id: str
) -> AccessEvent:
    """A genuine result as an access-log event; its id is the result's (see ``RelayResult``)."""
    return AccessEvent(
        event_id=result.event_id,
        ts_ms=ts_ms,
        kind=EventKind.RELAY,
        action=RELAY_RESULT_ACTION,
        outcome=result.outcome.value,
        reason=result.reason,
        actor_role=principal.role.value,
        actor_id=principal.credential_id,
        organisation_id=organisation_id,
        site_id=door.site_id,
        door_id=door.door_id,
        holder_id=result.subject,
        token_id=result.token_id.hex(),
        relay_id=result.relay_id,
        detail=json.dumps(
            {"relay_epoch": result.epoch, "relay_time": result.relay_time},
            sort_keys=True,
            separators=(",", ":"),
        ),
    )


def _forgery_reason(exc: TokenError) -> str:
    if isinstance(exc, MalformedToken):
        return "malformed"
    if isinstance(exc, UnknownKey):
        return "unknown_key"
    return "bad_signature"
