"""What the use cases write to the access log about who did what: administrative actions,
lookups and security events (logins, lockouts, activations), and the JSON of their details."""

from __future__ import annotations

import json

from authority.domain.credentials import Principal, Role
from authority.domain.events import EventKind, event
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
