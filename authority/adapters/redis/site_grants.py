"""Which organisations hold keys to a site now, read from the grant store itself.

``RedisSiteGrants`` implements ``SiteGrantReader`` (``authority.domain.ports.owner_requests``)
from the grant store, the source of truth (the access log's grant events would miss grants
issued more than 36 months ago and lag behind the shipper). Grants are filed per holder, so
without a per-site index this is a scan of the holders' hashes (see ``RedisSiteGrants``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import redis.exceptions as redis_errors

from authority.adapters.redis import codec
from authority.adapters.redis.redis_store import RedisClient, holder_key
from authority.domain.errors import Unavailable
from authority.domain.model import Grant
from authority.domain.site_access import OrganisationAccess, organisations_with_access


class RedisSiteGrants:
    """Live grants for one site, read from the holders' hashes in Redis.

    Cost: a SCAN over the key space plus one pipelined HMGET per holder. At the planning scale
    (tens of thousands of holders) that is well under a second, acceptable for an owner's
    occasional look but not for a hot path. The fix is an index maintained where grants are
    written (``sg:{<site>}``, see the issue notes); this class is the only reader to change then.
    """

    def __init__(self, client: RedisClient, *, batch: int = 1000) -> None:
        self._r = client
        self._batch = batch

    async def organisations_with_access(
        self, site_id: str, door_ids: Sequence[str], *, now: datetime
    ) -> list[OrganisationAccess]:
        fields = [f"s:{site_id}", *(f"d:{d}" for d in sorted(door_ids))]
        grants: list[Grant] = []
        try:
            keys: list[Any] = []
            async for key in self._r.scan_iter(match=holder_key("*"), count=self._batch):
                keys.append(key)
                if len(keys) >= self._batch:
                    grants += await self._read(keys, fields)
                    keys = []
            if keys:
                grants += await self._read(keys, fields)
        except (redis_errors.RedisError, OSError) as exc:
            raise Unavailable("the grant store is unreachable") from exc
        return organisations_with_access(grants, now)

    async def _read(self, keys: list[Any], fields: list[str]) -> list[Grant]:
        pipe = self._r.pipeline()
        for key in keys:
            pipe.hmget(key, fields)
        out: list[Grant] = []
        for values in await pipe.execute():
            for raw in values:
                if raw:
                    out.extend(codec.decode_grant_list(raw))
        return out
