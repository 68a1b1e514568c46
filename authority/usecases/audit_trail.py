"""What the use cases write to the access log about who did what: administrative actions,
lookups and security events (logins, lockouts, activations), and the JSON of their details."""

from __future__ import annotations

import json

from authority.domain.credentials import Principal, Role
from authority.domain.events import EventKind, event
from authority.domain.model import Grant
from authority.domain.ports.accesslog import EventRecorder


class AuditTrail:
    """Every administrative action and every lookup becomes an access-log event."""

    def __init__(self, events: EventRecorder) -> None:
        self._events = events

    async def admin(self, principal: Principal, action: str, **facts: str) -> None:
        await self._record(EventKind.ADMIN, principal, action, facts)

    async def lookup(self, principal: Principal, action: str, **facts: str) -> None:
        await self._record(EventKind.LOOKUP, principal, action, facts)

    async def security(self, action: str, outcome: str, **facts: str) -> None:
        """A login, lockout, activation or session event: the facts name the actor (the
        caller may not be authenticated yet)."""
        await self._events.record([event(EventKind.ADMIN, action, outcome, **facts)])

    async def _record(
        self, kind: EventKind, principal: Principal, action: str, facts: dict[str, str]
    ) -> None:
        await self._events.record(
            [
                event(
                    kind,
                    action,
                    "ok",
                    actor_role=principal.role.value,
                    actor_id=principal.credential_id,
                    **facts,
                )
            ]
        )


def actor_facts(principal: Principal) -> dict[str, str]:
    """Who acted, for a security event: role, id, organisation and (for a key holder) the
    holder."""
    holder = principal.role is Role.KEY_HOLDER
    return {
        "actor_role": principal.role.value,
        "actor_id": principal.credential_id,
        "organisation_id": principal.organisation_id or "",
        "holder_id": principal.credential_id if holder else "",
    }


def event_detail(**facts: object) -> str:
    """An event's ``detail``: its facts as compact JSON with sorted keys."""
    return json.dumps(facts, sort_keys=True, separators=(",", ":"))


def epochs_detail(bumped: dict[str, int]) -> str:
    """The revocation epochs a command raised, for its event (empty when none)."""
    if not bumped:
        return ""
    return json.dumps({"epochs": bumped}, sort_keys=True, separators=(",", ":"))


def grant_facts(grant: Grant) -> dict[str, str]:
    """What an event says of the grant it is about."""
    return {
        "grant_id": grant.grant_id,
        "organisation_id": grant.organisation_id,
        "holder_id": grant.key_holder_id,
        "door_id": grant.target.door_id or "",
        "site_id": grant.target.site_id or "",
    }
