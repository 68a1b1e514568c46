"""Site owners: who can enter their stairwells, and their written requests for access logs.

The rules (one week, one stairwell, 36 months, two free requests a year, the fee, the state
machine) are pure, in ``authority.domain.owner_requests``; this module stores requests in Redis,
checks who may do what, produces deliveries from the access log and logs every step.

Redis layout, all under the one hash tag ``{olr}`` so a filing updates the owner's yearly count,
the request and both indexes in one atomic script (also on Redis Cluster). Owner requests are a
few thousand a year nationally: one slot carries that easily.

==========================  ======  ===============================================
key                         type    contents
==========================  ======  ===============================================
``{olr}:req:<id>``          hash    the request's fields, and ``rev`` (+1 per change)
``{olr}:count:<owner>``     hash    calendar year -> requests filed that year
``{olr}:owner:<owner>``     zset    the owner's request ids, scored by filing time
``{olr}:open``              zset    request ids still FILED, scored by filing time
==========================  ======  ===============================================
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import redis.exceptions as redis_errors

from authority.accesslog.ownership import OrganisationAccess
from authority.accesslog.query import Cursor, EventLogReader, EventSelection, TenantDirectory
from authority.adapters.redis.redis_store import RedisClient
from authority.domain import owner_requests as rules
from authority.domain.errors import (
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from authority.domain.events import AccessEvent, EventKind, new_event_id
from authority.domain.model import Organisation, Site, new_id, validate_id, validate_text
from authority.domain.owner_requests import Fee, OwnerLogRequest, OwnerLogRequestStatus
from authority.domain.ports.accesslog import EventRecorder
from authority.domain.ports.clock import Clock
from authority.usecases.auth import require_admin
from authority.usecases.credentials import Principal, Role

CAS_ATTEMPTS = 8
DELIVERY_PAGE = 10_000
MAX_LISTED = 500

# -- storage ---------------------------------------------------------------------------------

# KEYS: count hash, request hash, owner zset, open zset.
# ARGV: year, expected count, score, request id, field, value, field, value, …
# 1 filed; 0 the count moved (another filing raced: recompute the fee and retry); -1 id taken.
_FILE = """
local n = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if n ~= tonumber(ARGV[2]) then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], n + 1)
redis.call('HSET', KEYS[2], unpack(ARGV, 5))
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[4])
return 1
"""

# KEYS: request hash, open zset. ARGV: expected rev, '1' if the request closes, request id,
# field, value, … 1 updated; 0 changed meanwhile.
_UPDATE = """
if redis.call('HGET', KEYS[1], 'rev') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
if ARGV[2] == '1' then redis.call('ZREM', KEYS[2], ARGV[3]) end
return 1
"""

_OPEN = "{olr}:open"


def _request_key(request_id: str) -> str:
    return f"{{olr}}:req:{request_id}"


def _count_key(owner_id: str) -> str:
    return f"{{olr}}:count:{owner_id}"


def _owner_key(owner_id: str) -> str:
    return f"{{olr}}:owner:{owner_id}"


@dataclass(frozen=True, slots=True)
class StoredRequest:
    request: OwnerLogRequest
    rev: int


class OwnerRequestStore(Protocol):
    async def requests_filed(self, owner_id: str, year: int) -> int: ...

    async def create(self, request: OwnerLogRequest, *, prior_requests: int) -> bool:
        """Store a new request if the owner's count for its year is still ``prior_requests``
        (and count it); False if another filing came first."""
        ...

    async def get(self, request_id: str) -> StoredRequest | None: ...

    async def update(self, request: OwnerLogRequest, *, expected_rev: int) -> bool: ...

    async def of_owner(self, owner_id: str) -> list[OwnerLogRequest]:
        """Newest first."""
        ...

    async def open_requests(self) -> list[OwnerLogRequest]:
        """Every FILED request, newest first."""
        ...


def _ts(dt: datetime | None) -> str:
    return "" if dt is None else str(int(dt.timestamp() * 1000))


def _dt(raw: str) -> datetime | None:
    return None if not raw else datetime.fromtimestamp(int(raw) / 1000, UTC)


def _required_dt(raw: str) -> datetime:
    return datetime.fromtimestamp(int(raw) / 1000, UTC)


def encode_request(r: OwnerLogRequest, rev: int) -> dict[str, str]:
    return {
        "id": r.request_id,
        "owner": r.owner_id,
        "site": r.site_id,
        "from": _ts(r.period_start),
        "to": _ts(r.period_end),
        "purpose": r.purpose,
        "crime": "1" if r.suspected_crime else "0",
        "filed_at": _ts(r.filed_at),
        "filed_by": r.filed_by,
        "year": str(r.year),
        "seq": str(r.sequence_in_year),
        "fee_net": str(r.fee.net_ore),
        "fee_vat": str(r.fee.vat_ore),
        "status": r.status.value,
        "paid_at": _ts(r.paid_at),
        "decided_at": _ts(r.decided_at),
        "decided_by": r.decided_by,
        "refusal": r.refusal_reason,
        "entries": str(r.delivered_entries),
        "rev": str(rev),
    }


def decode_request(raw: Mapping[bytes, bytes]) -> StoredRequest:
    d = {k.decode(): v.decode() for k, v in raw.items()}
    request = OwnerLogRequest(
        request_id=d["id"],
        owner_id=d["owner"],
        site_id=d["site"],
        period_start=_required_dt(d["from"]),
        period_end=_required_dt(d["to"]),
        purpose=d["purpose"],
        suspected_crime=d["crime"] == "1",
        filed_at=_required_dt(d["filed_at"]),
        filed_by=d["filed_by"],
        year=int(d["year"]),
        sequence_in_year=int(d["seq"]),
        fee=Fee(int(d["fee_net"]), int(d["fee_vat"])),
        status=OwnerLogRequestStatus(d["status"]),
        paid_at=_dt(d["paid_at"]),
        decided_at=_dt(d["decided_at"]),
        decided_by=d["decided_by"],
        refusal_reason=d["refusal"],
        delivered_entries=int(d["entries"]),
    )
    return StoredRequest(request, int(d["rev"]))


def _flat(fields: Mapping[str, str]) -> list[str]:
    return [x for pair in fields.items() for x in pair]


class RedisOwnerRequestStore:
    """Implements ``OwnerRequestStore`` (layout in the module docstring)."""

    def __init__(self, client: RedisClient) -> None:
        self._r = client
        self._file = client.register_script(_FILE)
        self._update = client.register_script(_UPDATE)

    async def requests_filed(self, owner_id: str, year: int) -> int:
        return int(await _call(self._r.hget(_count_key(owner_id), str(year))) or 0)

    async def create(self, request: OwnerLogRequest, *, prior_requests: int) -> bool:
        result = int(
            await _call(
                self._file(
                    keys=[
                        _count_key(request.owner_id),
                        _request_key(request.request_id),
                        _owner_key(request.owner_id),
                        _OPEN,
                    ],
                    args=[
                        str(request.year),
                        str(prior_requests),
                        _ts(request.filed_at),
                        request.request_id,
                        *_flat(encode_request(request, rev=1)),
                    ],
                )
            )
        )
        if result == -1:
            raise Conflict(f"owner log request id {request.request_id} is taken; retry")
        return result == 1

    async def get(self, request_id: str) -> StoredRequest | None:
        raw = await _call(self._r.hgetall(_request_key(request_id)))
        return decode_request(raw) if raw else None

    async def update(self, request: OwnerLogRequest, *, expected_rev: int) -> bool:
        closes = request.status is not OwnerLogRequestStatus.FILED
        result = await _call(
            self._update(
                keys=[_request_key(request.request_id), _OPEN],
                args=[
                    str(expected_rev),
                    "1" if closes else "0",
                    request.request_id,
                    *_flat(encode_request(request, rev=expected_rev + 1)),
                ],
            )
        )
        return int(result) == 1

    async def of_owner(self, owner_id: str) -> list[OwnerLogRequest]:
        return await self._load(
            await _call(self._r.zrevrange(_owner_key(owner_id), 0, MAX_LISTED - 1))
        )

    async def open_requests(self) -> list[OwnerLogRequest]:
        return await self._load(await _call(self._r.zrevrange(_OPEN, 0, MAX_LISTED - 1)))

    async def _load(self, ids: Sequence[bytes]) -> list[OwnerLogRequest]:
        pipe = self._r.pipeline()
        for rid in ids:
            pipe.hgetall(_request_key(rid.decode()))
        replies = await _call(pipe.execute()) if ids else []
        found = [decode_request(raw).request for raw in replies if raw]
        # Newest first; the yearly sequence orders requests filed in the same millisecond.
        return sorted(found, key=lambda r: (r.filed_at, r.year, r.sequence_in_year), reverse=True)


async def _call(awaitable: Any) -> Any:
    """Translate redis-py errors into the product's hierarchy where they enter."""
    try:
        return await awaitable
    except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
        raise Unavailable("the request store (Redis) is unreachable") from exc
    except redis_errors.ReadOnlyError as exc:
        raise Unavailable("the request store is read-only (failover in progress)") from exc
    except redis_errors.ResponseError as exc:
        raise FailedPrecondition(f"the request store refused the operation: {exc}") from exc


# -- the use cases ---------------------------------------------------------------------------


class SiteGrantReader(Protocol):
    async def organisations_with_access(
        self, site_id: str, door_ids: Sequence[str], *, now: datetime
    ) -> list[OrganisationAccess]: ...


@dataclass(frozen=True, slots=True)
class SiteOrganisation:
    access: OrganisationAccess
    organisation: Organisation | None
    """None only if the organisation record vanished (it cannot be deleted today)."""
    blocked_by_site_owner: bool


@dataclass(frozen=True, slots=True)
class StairwellEntry:
    """One use of the system to enter the stairwell: an allowed unlock."""

    ts_ms: int
    door_id: str
    organisation_id: str
    organisation_name: str


class OwnerLogRequests:
    def __init__(
        self,
        *,
        store: OwnerRequestStore,
        directory: TenantDirectory,
        grants: SiteGrantReader,
        log: EventLogReader,
        recorder: EventRecorder,
        clock: Clock,
    ) -> None:
        self._store = store
        self._dir = directory
        self._grants = grants
        self._log = log
        self._recorder = recorder
        self._clock = clock

    # -- who can enter -----------------------------------------------------------------------

    async def site_organisations(
        self, principal: Principal, site_id: str
    ) -> tuple[Site, list[SiteOrganisation]]:
        site = await self._visible_site(principal, site_id)
        now = self._clock.now()
        access = await self._grants.organisations_with_access(
            site.site_id, sorted(self._dir.doors_of_site(site.site_id)), now=now
        )
        orgs = self._dir.organisations
        result = [
            SiteOrganisation(
                a, orgs.get(a.organisation_id), a.organisation_id in site.blocked_organisations
            )
            for a in access
        ]
        await self._record(
            principal,
            EventKind.LOOKUP,
            "site.organisations",
            site_id=site.site_id,
            detail={"organisations": len(result)},
        )
        return site, result

    async def _visible_site(self, principal: Principal, site_id: str) -> Site:
        validate_id(site_id, field_name="site_id")
        if principal.role is Role.SITE_OWNER:
            await self._dir.sync()
            site = self._dir.site(site_id)
            if site is None or site.owner_id != principal.owner_id:
                raise NotFound(f"site {site_id} does not exist")
            return site
        require_admin(principal)
        await self._dir.sync()
        site = self._dir.site(site_id)
        if site is None:
            raise NotFound(f"site {site_id} does not exist")
        return site

    # -- requests ----------------------------------------------------------------------------

    async def file(
        self,
        principal: Principal,
        *,
        site_id: str,
        period_start: datetime | None,
        period_end: datetime | None,
        purpose: str,
        suspected_crime: bool,
    ) -> OwnerLogRequest:
        if principal.role is not Role.SITE_OWNER or not principal.owner_id:
            raise PermissionDenied("owner log requests are filed by site owners")
        if period_start is None or period_end is None:
            raise InvalidArgument("from and to are required: the period of the request")
        site = await self._visible_site(principal, site_id)
        request_id = new_id("olr")
        for _ in range(CAS_ATTEMPTS):
            now = self._clock.now()
            prior = await self._store.requests_filed(principal.owner_id, rules.fee_year(now))
            request = rules.file_request(
                request_id=request_id,
                owner_id=principal.owner_id,
                site_id=site.site_id,
                period_start=period_start,
                period_end=period_end,
                purpose=purpose,
                suspected_crime=suspected_crime,
                filed_by=principal.credential_id,
                now=now,
                prior_requests_this_year=prior,
            )
            if await self._store.create(request, prior_requests=prior):
                # After the write: a failed log append leaves a filed request (the owner sees
                # it, the operator's open list shows it) rather than an event for nothing.
                await self._record(principal, EventKind.ADMIN, "owner_request.file", request)
                return request
        raise Conflict("requests of this owner are being filed concurrently; retry")

    async def get(self, principal: Principal, request_id: str) -> OwnerLogRequest:
        return (await self._visible_request(principal, request_id)).request

    async def _visible_request(self, principal: Principal, request_id: str) -> StoredRequest:
        validate_id(request_id, field_name="request_id")
        if principal.role not in (Role.SITE_OWNER, Role.ADMIN):
            raise PermissionDenied("owner log requests are for site owners and platform admins")
        stored = await self._store.get(request_id)
        if stored is None or (
            principal.role is Role.SITE_OWNER and stored.request.owner_id != principal.owner_id
        ):
            raise NotFound(f"owner log request {request_id} does not exist")
        return stored

    async def list_requests(
        self, principal: Principal, *, owner_id: str, year: int
    ) -> list[OwnerLogRequest]:
        if principal.role is Role.SITE_OWNER and principal.owner_id:
            if owner_id and owner_id != principal.owner_id:
                raise NotFound(f"site owner {owner_id} does not exist")
            requests = await self._store.of_owner(principal.owner_id)
        else:
            require_admin(principal)
            if owner_id:
                owner_id = validate_text(owner_id, field_name="owner_id", max_len=100)
                requests = await self._store.of_owner(owner_id)
            else:
                requests = await self._store.open_requests()
        return [r for r in requests if not year or r.year == year]

    async def record_payment(self, principal: Principal, request_id: str) -> OwnerLogRequest:
        require_admin(principal)
        stored = await self._visible_request(principal, request_id)
        paid = rules.record_payment(stored.request, now=self._clock.now())
        await self._record(principal, EventKind.ADMIN, "owner_request.pay", paid)
        return await self._commit(paid, stored.rev)

    async def refuse(self, principal: Principal, request_id: str, reason: str) -> OwnerLogRequest:
        require_admin(principal)
        stored = await self._visible_request(principal, request_id)
        refused = rules.refuse(
            stored.request, reason=reason, now=self._clock.now(), by=principal.credential_id
        )
        await self._record(principal, EventKind.ADMIN, "owner_request.refuse", refused)
        return await self._commit(refused, stored.rev)

    async def deliver(
        self, principal: Principal, request_id: str
    ) -> tuple[OwnerLogRequest, list[StairwellEntry]]:
        """The extract: allowed unlocks at the stairwell's doors in the period, with the
        organisation whose key was used; no key-holder pseudonyms (the owner is told which
        organisations entered, not which of their staff)."""
        require_admin(principal)
        stored = await self._visible_request(principal, request_id)
        request = stored.request
        rules.check_deliverable(request)
        await self._dir.sync()
        site = self._dir.site(request.site_id)
        if site is None or site.owner_id != request.owner_id:
            raise FailedPrecondition(
                f"site {request.site_id} is no longer owned by {request.owner_id}: refuse the "
                "request, or ask for proof that the requester still controls the stairwell"
            )
        entries = await self._entries(request)
        delivered = rules.deliver(
            request, entries=len(entries), now=self._clock.now(), by=principal.credential_id
        )
        # Logged before anything is handed out; the state change follows.
        await self._record(principal, EventKind.ADMIN, "owner_request.deliver", delivered)
        return await self._commit(delivered, stored.rev), entries

    async def _entries(self, request: OwnerLogRequest) -> list[StairwellEntry]:
        selection = EventSelection(
            start_ms=int(request.period_start.timestamp() * 1000),
            end_ms=int(request.period_end.timestamp() * 1000),
            kinds=frozenset({EventKind.UNLOCK}),
            site_ids=frozenset({request.site_id}),
            outcome="allow",
            with_people=False,
        )
        orgs = self._dir.organisations
        out: list[StairwellEntry] = []
        after: Cursor | None = None
        while True:
            page = await self._log.events(selection, after=after, limit=DELIVERY_PAGE)
            for e in page:
                org = orgs.get(e.organisation_id)
                out.append(
                    StairwellEntry(e.ts_ms, e.door_id, e.organisation_id, org.name if org else "")
                )
            if len(page) < DELIVERY_PAGE:
                return out
            after = Cursor(page[-1].ts_ms, page[-1].event_id)

    async def _commit(self, request: OwnerLogRequest, rev: int) -> OwnerLogRequest:
        if not await self._store.update(request, expected_rev=rev):
            raise Conflict(f"owner log request {request.request_id} changed meanwhile; retry")
        return request

    async def _record(
        self,
        principal: Principal,
        kind: EventKind,
        action: str,
        request: OwnerLogRequest | None = None,
        *,
        site_id: str = "",
        detail: Mapping[str, object] | None = None,
    ) -> None:
        now_ms = int(self._clock.now().timestamp() * 1000)
        facts: dict[str, object] = dict(detail or {})
        if request is not None:
            site_id = request.site_id
            facts |= {
                "request_id": request.request_id,
                "owner_id": request.owner_id,
                "from": request.period_start.isoformat(),
                "to": request.period_end.isoformat(),
                "suspected_crime": request.suspected_crime,
                "fee_total_ore": request.fee.total_ore,
                "status": request.status.value,
            }
            if request.status is OwnerLogRequestStatus.DELIVERED:
                facts["entries"] = request.delivered_entries
        elif principal.owner_id:
            facts["owner_id"] = principal.owner_id
        await self._recorder.record(
            [
                AccessEvent(
                    event_id=new_event_id(now_ms),
                    ts_ms=now_ms,
                    kind=kind,
                    action=action,
                    outcome="ok",
                    actor_role=principal.role.value,
                    actor_id=principal.credential_id,
                    site_id=site_id,
                    detail=json.dumps(facts, separators=(",", ":"), sort_keys=True),
                )
            ]
        )
