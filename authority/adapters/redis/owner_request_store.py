"""Site owners' log requests in Redis: ``RedisOwnerRequestStore`` implements ``OwnerRequestStore``
(``authority.domain.ports.owner_requests``); the use case is ``authority.usecases.owner_requests``.

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

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from authority.adapters.redis.errors import command_errors_translated
from authority.adapters.redis.redis_store import RedisClient
from authority.domain.errors import Conflict
from authority.domain.owner_requests import Fee, OwnerLogRequest, OwnerLogRequestStatus
from authority.domain.ports.owner_requests import StoredRequest

MAX_LISTED = 500
"""The most requests one listing returns (newest first)."""

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
    with command_errors_translated("the request store"):
        return await awaitable
