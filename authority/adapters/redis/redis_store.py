"""The Redis adapter: directory (organisations, sites, doors), holders, grants and credentials.

Key layout (hash tags in braces keep what one operation touches in one cluster slot):

=====================  ======  ==========================================================
key                    type    contents
=====================  ======  ==========================================================
``{dir}:org``          hash    organisation id -> record
``{dir}:site``         hash    site id -> record (incl. organisations blocked by the owner)
``{dir}:epoch``        hash    site id -> revocation epoch (offline sites; absent = 0)
``{dir}:door``         hash    door id -> record (site, relay)
``{dir}:ver``          string  directory version, +1 per change
``{dir}:log``          stream  one entry per change (version, kind, record), capped
``h:{<holder>}``       hash    ``st`` holder record, ``cred`` credential digest, ``dk`` device
                               key (offline tokens), ``d:<door>`` / ``s:<site>`` the holder's
                               grants for that target, ``a:<session>`` / ``r:<session>`` the
                               app's login sessions (expiry + digest of access / refresh)
``gi:{<grant>}``       string  grant id -> holder and field (for revoke-by-id)
``cred:{<id>}``        hash    API/admin credential digest and principal
``ik:{<holder>}:<k>``  string  a bulk item's idempotency key (digest ``k``) -> its content's
                               fingerprint; written with the grant, expires after 7 days
``oh:{<org>}``         set     holders ever issued a grant by the organisation (bulk revoke)
``sh:{<site>}``        set     holders ever issued a grant for the site or one of its doors
=====================  ======  ==========================================================

An unlock reads ``HMGET h:{holder} st <cred or a:<session>> dk d:<door> s:<site>`` plus
``GET {dir}:ver``: one round trip, and the GET is shared by every request coalesced into the
same pipeline. Organisations, sites and doors are served from an in-process replica that is
brought up to the version read in that same round trip before deciding, so a change is seen by
the very next decision.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions as redis_errors
from redis.asyncio.cluster import RedisCluster

from authority.adapters.redis import codec, scripts
from authority.adapters.redis.connect import connect
from authority.adapters.redis.errors import command_errors_translated, unavailable_on_failure
from authority.adapters.redis.pipelined import PipelinedConnection
from authority.domain.bulk import (
    IDEMPOTENCY_TTL_SECONDS,
    IdempotentGrant,
    IssueOutcome,
    RosterChange,
    roster_signature,
)
from authority.domain.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    NotFound,
    Unavailable,
)
from authority.domain.model import Door, Grant, HolderStatus, KeyHolder, Organisation, Site
from authority.domain.ports.unlock import HolderSnapshot

DIR_ORG, DIR_SITE, DIR_DOOR = "{dir}:org", "{dir}:site", "{dir}:door"
DIR_VER, DIR_LOG = "{dir}:ver", "{dir}:log"
DIR_EPOCH = "{dir}:epoch"
CHANGELOG_MAXLEN = 100_000
CAS_ATTEMPTS = 16

RedisClient = aioredis.Redis | RedisCluster
SnapshotRequest = tuple[str, str, str | None, str]
"""(holder id, door id, site id or None)."""

STORE = "the grant store"
"""How errors name this store to callers."""


def holder_key(holder_id: str) -> str:
    return f"h:{{{holder_id}}}"


def grant_index_key(grant_id: str) -> str:
    return f"gi:{{{grant_id}}}"


def credential_key(credential_id: str) -> str:
    return f"cred:{{{credential_id}}}"


def organisation_holders_key(organisation_id: str) -> str:
    return f"oh:{{{organisation_id}}}"


def site_holders_key(site_id: str) -> str:
    return f"sh:{{{site_id}}}"


def idempotency_key(holder_id: str, slot: str) -> str:
    return f"ik:{{{holder_id}}}:{slot}"


BULK_BATCH = 500
"""Holders per pipelined round trip in bulk revocations and exports."""
_ISSUE_OUTCOMES = {
    1: IssueOutcome.CREATED,
    0: IssueOutcome.ALREADY_CREATED,
    -1: IssueOutcome.HOLDER_MISSING,
    -2: IssueOutcome.HOLDER_OF_ANOTHER_ORGANISATION,
    -4: IssueOutcome.HOLDER_RESTRICTED,
    -3: IssueOutcome.KEY_REUSED,
}


class RedisStore:
    """Implements the directory, holder, grant, credential and snapshot ports on Redis."""

    def __init__(
        self, client: RedisClient, *, fast_url: str | None = None, fast_timeout: float = 2.0
    ) -> None:
        """``fast_url``: the same single server's URL, for the unlock path's lean connection
        (``authority.adapters.redis.pipelined``; replies within ``fast_timeout`` seconds); without
        it that read goes through redis-py too."""
        self._r = client
        self._fast = PipelinedConnection(fast_url, timeout=fast_timeout) if fast_url else None
        # Bulk writes get a connection of their own: a pipeline of a thousand scripts must not
        # queue in front of the unlock path's reads.
        self._bulk = PipelinedConnection(fast_url, timeout=30.0) if fast_url else None
        self._dir_put = client.register_script(scripts.DIRECTORY_PUT)
        self._dir_snapshot = client.register_script(scripts.DIRECTORY_SNAPSHOT)
        self._holder_create = client.register_script(scripts.HOLDER_CREATE)
        self._field_cas = client.register_script(scripts.HOLDER_FIELD_CAS)
        self._grant_append = client.register_script(scripts.GRANT_APPEND)
        self._epoch_bump = client.register_script(scripts.EPOCH_BUMP)
        self._field_swap = client.register_script(scripts.HOLDER_FIELD_SWAP)
        self._bulk_scripts = {
            name: client.register_script(getattr(scripts, name))
            for name in ("GRANT_ISSUE_ONCE", "GRANTS_REVOKE", "GRANTS_REPLACE")
        }

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        """The store for a URL: a cluster through redis-py; a single server through redis-py
        plus the lean connection for the unlock path."""
        client = connect(url)
        return cls(client, fast_url=None if isinstance(client, RedisCluster) else url)

    @property
    def client(self) -> RedisClient:
        return self._r

    async def ping(self) -> bool:
        try:
            return bool(await self._r.ping())
        except (redis_errors.RedisError, OSError):
            return False

    async def close(self) -> None:
        if self._fast is not None:
            self._fast.close()
        if self._bulk is not None:
            self._bulk.close()
        await self._r.aclose()

    # -- the hot path ------------------------------------------------------------------------

    async def read_snapshots(
        self, requests: Sequence[SnapshotRequest]
    ) -> list[HolderSnapshot | None]:
        """One round trip for a whole batch of decisions: the directory version once, then one
        HMGET per request."""
        replies = await self.round_trip(self.snapshot_commands(requests))
        return self.snapshots_from(requests, replies)

    def snapshot_commands(self, requests: Sequence[SnapshotRequest]) -> list[tuple[str, ...]]:
        """The commands of ``read_snapshots`` (for a caller that sends them with others:
        ``authority.wrappers.coalescing.SharedRoundTrip``)."""
        commands: list[tuple[str, ...]] = [("GET", DIR_VER)]
        append = commands.append
        for holder_id, door_id, site_id, cred in requests:
            key = holder_key(holder_id)
            if site_id is None:
                append(("HMGET", key, "st", cred, "dk", "d:" + door_id))
            else:
                append(("HMGET", key, "st", cred, "dk", "d:" + door_id, "s:" + site_id))
        return commands

    def snapshots_from(
        self, requests: Sequence[SnapshotRequest], replies: Sequence[Any]
    ) -> list[HolderSnapshot | None]:
        """The snapshots in the replies to ``snapshot_commands(requests)``."""
        for reply in replies:
            if isinstance(reply, redis_errors.ResponseError):
                raise Unavailable(f"the grant store failed: {type(reply).__name__}")
        version = int(replies[0] or 0)
        out: list[HolderSnapshot | None] = []
        decode = codec.decode_grant_list_cached
        for fields in replies[1:]:
            if fields[0] is None:
                out.append(None)
                continue
            grants = decode(fields[3])
            if len(fields) > 4 and fields[4]:
                grants += decode(fields[4])
            out.append(
                HolderSnapshot(
                    status=codec.decode_holder_status(fields[0]),
                    credential_digest=fields[1] or b"",
                    grants=grants,
                    directory_version=version,
                    device_key=bytes(fields[2]) if fields[2] else None,
                )
            )
        return out

    async def round_trip(self, commands: list[tuple[str, ...]]) -> list[Any]:
        """Send commands and read their replies in one round trip: on a single server through
        the lean ``PipelinedConnection``; on a cluster through redis-py's cluster pipeline, which
        routes each command to the node owning its slot. Errors arrive translated."""
        replies = await self.round_trip_replies(commands)
        for reply in replies:
            if isinstance(reply, redis_errors.ResponseError):
                raise Unavailable(f"the grant store failed: {type(reply).__name__}")
        return replies

    def send_replies(
        self,
        commands: Sequence[tuple[str, ...]],
        done: Callable[[list[Any] | Exception], None],
    ) -> bool:
        """``round_trip_replies`` through the lean connection's callback (no coroutine, no
        future): ``done`` gets the replies or the translated error. ``False`` on a cluster or
        while the lean connection is not open (then use ``round_trip_replies``)."""
        if self._fast is None:
            return False

        def translated(outcome: list[Any] | Exception) -> None:
            if isinstance(outcome, (redis_errors.ConnectionError, redis_errors.TimeoutError)):
                outcome = Unavailable("the grant store is unreachable")
            elif isinstance(outcome, Exception):
                outcome = Unavailable(f"the grant store failed: {type(outcome).__name__}")
            done(outcome)

        return self._fast.send(commands, translated)

    async def round_trip_replies(self, commands: Sequence[tuple[str, ...]]) -> list[Any]:
        """``round_trip``, with a command's error reply returned in its place (a
        ``ResponseError``) rather than raised: for batches whose commands serve different
        callers. A connection that fails raises ``Unavailable`` for all of them."""
        with unavailable_on_failure(STORE):
            if self._fast is not None:
                return await self._fast.execute(commands)
            pipe = self._r.pipeline()
            for command in commands:
                pipe.execute_command(*command)
            return list(await pipe.execute(raise_on_error=False))

    async def read_snapshot(
        self, holder_id: str, door_id: str, site_id: str | None, credential_field: str
    ) -> HolderSnapshot | None:
        return (await self.read_snapshots([(holder_id, door_id, site_id, credential_field)]))[0]

    # -- directory ---------------------------------------------------------------------------

    async def directory_version(self) -> int:
        return int(await self._call(self._r.get(DIR_VER)) or 0)

    async def directory_snapshot(
        self,
    ) -> tuple[int, dict[str, Organisation], dict[str, Site], dict[str, Door], bytes]:
        raw = await self._call(
            self._dir_snapshot(keys=[DIR_VER, DIR_ORG, DIR_SITE, DIR_DOOR, DIR_LOG, DIR_EPOCH])
        )
        version, orgs, sites, doors, last_id, epoch_pairs = raw
        epochs = {
            _text(k): int(v) for k, v in zip(epoch_pairs[::2], epoch_pairs[1::2], strict=True)
        }
        decoded_sites = (
            codec.decode_site(record, epochs.get(_text(site_id), 0))
            for site_id, record in zip(sites[::2], sites[1::2], strict=True)
        )
        return (
            int(version),
            {o.organisation_id: o for o in map(codec.decode_organisation, _pairs_values(orgs))},
            {s.site_id: s for s in decoded_sites},
            {d.door_id: d for d in map(codec.decode_door, _pairs_values(doors))},
            last_id if isinstance(last_id, bytes) else str(last_id).encode(),
        )

    async def directory_changes(
        self, after_id: bytes, count: int = 1000
    ) -> list[tuple[bytes, int, str, bytes]]:
        """Changelog entries after ``after_id``: (stream id, version, kind, record)."""
        start = b"(" + after_id if after_id != b"0-0" else b"-"
        entries = await self._call(self._r.xrange(DIR_LOG, min=start, max="+", count=count))
        return [(eid, int(f[b"v"]), f[b"k"].decode(), f[b"r"]) for eid, f in entries]

    async def _directory_put(
        self,
        *,
        hash_key: str,
        kind: str,
        entity_id: str,
        record: bytes,
        expected: bytes | None,
        create: bool,
        parent: tuple[str, str] | None = None,
    ) -> int:
        parent_key, parent_id = parent or (hash_key, "")
        result = int(
            await self._call(
                self._dir_put(
                    keys=[hash_key, DIR_VER, DIR_LOG, parent_key],
                    args=[
                        entity_id,
                        record,
                        "create" if create else "cas",
                        expected or b"",
                        kind,
                        CHANGELOG_MAXLEN,
                        parent_id,
                    ],
                )
            )
        )
        if result == -1:
            raise AlreadyExists(f"{kind} {entity_id} already exists")
        if result == -2:
            raise Conflict(f"{kind} {entity_id} was changed concurrently; retry")
        if result == -3:
            raise NotFound(f"{parent_key.split(':')[-1]} {parent_id} does not exist")
        if result == -4:
            raise NotFound(f"{kind} {entity_id} does not exist")
        return result

    async def put_organisation(
        self, org: Organisation, *, expected: Organisation | None, create: bool
    ) -> None:
        await self._directory_put(
            hash_key=DIR_ORG,
            kind="organisation",
            entity_id=org.organisation_id,
            record=codec.encode_organisation(org),
            expected=codec.encode_organisation(expected) if expected else None,
            create=create,
        )

    async def put_site(self, site: Site, *, expected: Site | None, create: bool) -> None:
        await self._directory_put(
            hash_key=DIR_SITE,
            kind="site",
            entity_id=site.site_id,
            record=codec.encode_site(site),
            expected=codec.encode_site(expected) if expected else None,
            create=create,
        )

    async def put_door(self, door: Door, *, expected: Door | None = None) -> None:
        await self._directory_put(
            hash_key=DIR_DOOR,
            kind="door",
            entity_id=door.door_id,
            record=codec.encode_door(door),
            expected=codec.encode_door(expected) if expected else None,
            create=expected is None,
            parent=(DIR_SITE, door.site_id),
        )

    async def bump_revocation_epochs(self, site_ids: Sequence[str]) -> dict[str, int]:
        if not site_ids:
            return {}
        flat = await self._call(
            self._epoch_bump(
                keys=[DIR_EPOCH, DIR_VER, DIR_LOG, DIR_SITE],
                args=[CHANGELOG_MAXLEN, *site_ids],
            )
        )
        return {_text(k): int(v) for k, v in zip(flat[::2], flat[1::2], strict=True)}

    async def get_organisation(self, organisation_id: str) -> Organisation | None:
        raw = await self._call(self._r.hget(DIR_ORG, organisation_id))
        return codec.decode_organisation(raw) if raw else None

    async def get_site(self, site_id: str) -> Site | None:
        return (await self.get_sites([site_id])).get(site_id)

    async def get_door(self, door_id: str) -> Door | None:
        raw = await self._call(self._r.hget(DIR_DOOR, door_id))
        return codec.decode_door(raw) if raw else None

    async def get_sites(self, site_ids: Sequence[str]) -> dict[str, Site]:
        if not site_ids:
            return {}
        pipe = self._r.pipeline(transaction=False)
        pipe.hmget(DIR_SITE, list(site_ids))
        pipe.hmget(DIR_EPOCH, list(site_ids))
        records, epochs = await self._call(pipe.execute())
        return {
            site_id: codec.decode_site(record, int(epoch or 0))
            for site_id, record, epoch in zip(site_ids, records, epochs, strict=True)
            if record
        }

    async def get_doors(self, door_ids: Sequence[str]) -> dict[str, Door]:
        if not door_ids:
            return {}
        records = await self._call(self._r.hmget(DIR_DOOR, list(door_ids)))
        return {
            door_id: codec.decode_door(record)
            for door_id, record in zip(door_ids, records, strict=True)
            if record
        }

    # -- holders -----------------------------------------------------------------------------

    async def create_holder(self, holder: KeyHolder, credential_digest: bytes) -> None:
        created = await self._call(
            self._holder_create(
                keys=[holder_key(holder.key_holder_id)],
                args=[codec.encode_holder(holder), credential_digest],
            )
        )
        if not created:
            raise AlreadyExists(f"key holder {holder.key_holder_id} already exists")

    async def get_holder(self, holder_id: str) -> KeyHolder | None:
        raw = await self._call(self._r.hget(holder_key(holder_id), "st"))
        return codec.decode_holder(raw) if raw else None

    async def set_device_key(self, holder_id: str, device_key: bytes) -> bytes | None:
        status, previous = await self._call(
            self._field_swap(keys=[holder_key(holder_id)], args=["dk", device_key])
        )
        if int(status) == -1:
            raise NotFound(f"key holder {holder_id} does not exist")
        return bytes(previous) if previous else None

    async def holder_credential_digest(self, holder_id: str, field: str = "cred") -> bytes | None:
        raw = await self._call(self._r.hget(holder_key(holder_id), field))
        return bytes(raw) if raw else None

    async def set_holder_status(self, holder_id: str, status: HolderStatus) -> KeyHolder:
        for _ in range(CAS_ATTEMPTS):
            raw = await self._call(self._r.hget(holder_key(holder_id), "st"))
            if not raw:
                raise NotFound(f"key holder {holder_id} does not exist")
            updated = replace(codec.decode_holder(raw), status=status)
            if await self._cas(holder_id, "st", raw, codec.encode_holder(updated)):
                return updated
        raise Conflict(f"key holder {holder_id} is being changed concurrently; retry")

    # -- grants ------------------------------------------------------------------------------

    async def add_grant(self, grant: Grant) -> None:
        field = grant.target.key
        # The index is written first: a crash in between leaves a dangling index entry (harmless:
        # revoke-by-id then answers NOT_FOUND) but never a live grant that cannot be found.
        index = json.dumps({"h": grant.key_holder_id, "f": field}).encode()
        ttl = (
            max(int(grant.valid_until.timestamp() - datetime.now(UTC).timestamp()), 0) + 86_400 * 30
        )
        await self._call(self._r.set(grant_index_key(grant.grant_id), index, ex=ttl))
        site_id = await self._index_site(grant)
        pipe = self._r.pipeline(transaction=False)
        pipe.sadd(organisation_holders_key(grant.organisation_id), grant.key_holder_id)
        if site_id is not None:
            pipe.sadd(site_holders_key(site_id), grant.key_holder_id)
        await self._call(pipe.execute())
        # Appending is one atomic script (no read-modify-write race, however many concurrent
        # issuers); pruning long-expired grants happens on the compare-and-set paths.
        result = await self._call(
            self._grant_append(
                keys=[holder_key(grant.key_holder_id)],
                args=[field, codec.encode_grant(grant), f'"id":"{grant.grant_id}"'],
            )
        )
        if int(result) == -1:
            raise NotFound(f"key holder {grant.key_holder_id} does not exist")

    async def _index_site(self, grant: Grant) -> str | None:
        """The site a grant reaches (a door's site read from the directory)."""
        if grant.target.site_id is not None:
            return grant.target.site_id
        door = await self.get_door(grant.target.door_id or "")
        return door.site_id if door else None

    # -- bulk: fleets ------------------------------------------------------------------------

    async def _bulk_round_trip(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Pipelined commands on the bulk connection (a cluster: redis-py's cluster pipeline).
        Scripts run by EVALSHA; if Redis lost them (restart, SCRIPT FLUSH) they are loaded and
        the commands that failed are sent again. Only those: another connection may load the
        scripts while this batch runs, so part of it may have run, and a script run twice
        answers differently (an issuance: "already created" instead of "created")."""
        replies = await self._bulk_send(commands)
        for attempt in range(2):
            failed = [i for i, r in enumerate(replies) if isinstance(r, redis_errors.ResponseError)]
            if not failed:
                return replies
            lost = (
                isinstance(e, redis_errors.NoScriptError) or str(e).startswith("NOSCRIPT")
                for e in (replies[i] for i in failed)
            )
            if attempt == 0 and any(lost):
                for script in self._bulk_scripts.values():
                    await self._call(self._r.script_load(script.script))
                again = await self._bulk_send([commands[i] for i in failed])
                for i, reply in zip(failed, again, strict=True):
                    replies[i] = reply
                continue
            raise Unavailable(f"the grant store refused a bulk write: {replies[failed[0]]}")
        raise AssertionError("unreachable")  # pragma: no cover

    async def _bulk_send(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        with unavailable_on_failure(STORE):
            if self._bulk is not None:
                return await self._bulk.execute(commands)
            pipe = self._r.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            return list(await pipe.execute(raise_on_error=False))

    async def bulk_round_trip(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """``round_trip`` on the bulk connection: for bulk issuance's event appends, so that
        its pipelines never queue in front of the unlock path's reads and event writes."""
        return await self._bulk_round_trip(list(commands))

    def _evalsha(self, name: str, keys: list[str], args: list[Any]) -> tuple[Any, ...]:
        return ("EVALSHA", self._bulk_scripts[name].sha, len(keys), *keys, *args)

    async def issue_grants_once(
        self, organisation_id: str, items: Sequence[IdempotentGrant]
    ) -> list[IssueOutcome]:
        if not items:
            return []
        org_marker = f'"org":"{organisation_id}"'
        commands: list[tuple[Any, ...]] = []
        # The indexes first (a superset is harmless): a grant must never exist that a bulk
        # revocation by organisation or site cannot find.
        commands.append(
            (
                "SADD",
                organisation_holders_key(organisation_id),
                *{i.grant.key_holder_id for i in items},
            )
        )
        by_site: dict[str, set[str]] = {}
        for item in items:
            by_site.setdefault(item.site_id, set()).add(item.grant.key_holder_id)
        commands += [("SADD", site_holders_key(s), *hs) for s, hs in by_site.items()]
        now = int(datetime.now(UTC).timestamp())
        for item in items:
            g = item.grant
            ttl = max(int(g.valid_until.timestamp()) - now, 0) + 86_400 * 30
            index = f'{{"h":"{g.key_holder_id}","f":"{g.target.key}"}}'
            commands.append(("SET", grant_index_key(g.grant_id), index, "EX", ttl, "NX"))
        first_script = len(commands)
        for item in items:
            g = item.grant
            commands.append(
                self._evalsha(
                    "GRANT_ISSUE_ONCE",
                    [holder_key(g.key_holder_id), idempotency_key(g.key_holder_id, item.slot)],
                    [
                        g.target.key,
                        codec.encode_grant(g),
                        f'"id":"{g.grant_id}"',
                        org_marker,
                        item.fingerprint,
                        IDEMPOTENCY_TTL_SECONDS,
                    ],
                )
            )
        replies = await self._bulk_round_trip(commands)
        return [_ISSUE_OUTCOMES[int(r)] for r in replies[first_script:]]

    async def revoke_holders_grants(
        self,
        holder_ids: Sequence[str],
        *,
        at: datetime,
        organisation_id: str | None,
        fields: Sequence[str] | None,
    ) -> list[Grant]:
        revoked: list[Grant] = []
        args = [int(at.timestamp()), organisation_id or "", *(fields or ())]
        for start in range(0, len(holder_ids), BULK_BATCH):
            batch = holder_ids[start : start + BULK_BATCH]
            replies = await self._bulk_round_trip(
                [self._evalsha("GRANTS_REVOKE", [holder_key(h)], args) for h in batch]
            )
            for reply in replies:
                if reply:
                    revoked += codec.decode_grant_list(b"[" + b",".join(reply) + b"]")
        return revoked

    async def _members(self, key: str) -> list[str]:
        members = await self._call(self._r.smembers(key))
        return sorted(_text(m) for m in members)

    async def holders_of_organisation(self, organisation_id: str) -> list[str]:
        return await self._members(organisation_holders_key(organisation_id))

    async def holders_with_grants_at(self, site_id: str) -> list[str]:
        return await self._members(site_holders_key(site_id))

    async def replace_holder_grants(
        self,
        holder_id: str,
        organisation_id: str,
        desired: Sequence[tuple[Grant, bool]],
        *,
        at: datetime,
        site_ids: Sequence[str] = (),
    ) -> RosterChange:
        commands: list[tuple[Any, ...]] = [
            ("SADD", organisation_holders_key(organisation_id), holder_id),
            *(("SADD", site_holders_key(s), holder_id) for s in sorted(set(site_ids))),
        ]
        now = int(at.timestamp())
        for g, _ in desired:
            ttl = max(int(g.valid_until.timestamp()) - now, 0) + 86_400 * 30
            index = f'{{"h":"{g.key_holder_id}","f":"{g.target.key}"}}'
            commands.append(("SET", grant_index_key(g.grant_id), index, "EX", ttl))
        args: list[Any] = [now, f'"org":"{organisation_id}"', organisation_id, len(desired)]
        for g, from_given in desired:
            args += [
                g.target.key,
                roster_signature(g),
                int(g.valid_from.timestamp()) if from_given else 0,
                codec.encode_grant(g),
            ]
        commands.append(self._evalsha("GRANTS_REPLACE", [holder_key(holder_id)], args))
        reply = (await self._bulk_round_trip(commands))[-1]
        if int(reply[0]) == -1:
            raise NotFound(f"key holder {holder_id} does not exist")
        if int(reply[0]) == -2:
            raise FailedPrecondition(
                f"key holder {holder_id} belongs to another organisation than {organisation_id}"
            )
        _, kept, revoked, created = reply
        return RosterChange(
            created=[desired[int(i) - 1][0] for i in created],
            kept=[_text(k) for k in kept],
            revoked=codec.decode_grant_list(b"[" + b",".join(revoked) + b"]") if revoked else [],
        )

    async def grants_of_holders(self, holder_ids: Sequence[str]) -> list[Grant]:
        grants: list[Grant] = []
        for start in range(0, len(holder_ids), BULK_BATCH):
            batch = holder_ids[start : start + BULK_BATCH]
            replies = await self._bulk_round_trip([("HGETALL", holder_key(h)) for h in batch])
            for reply in replies:
                pairs = (
                    zip(reply[::2], reply[1::2], strict=True)
                    if isinstance(reply, list)
                    else reply.items()
                )
                for name, raw in pairs:
                    if name.startswith((b"d:", b"s:")):
                        grants += codec.decode_grant_list(raw)
        return grants

    async def _locate_grant(self, grant_id: str) -> tuple[str, str] | None:
        raw = await self._call(self._r.get(grant_index_key(grant_id)))
        if not raw:
            return None
        loc = json.loads(raw)
        return str(loc["h"]), str(loc["f"])

    async def get_grant(self, grant_id: str) -> Grant | None:
        loc = await self._locate_grant(grant_id)
        if loc is None:
            return None
        raw = await self._call(self._r.hget(holder_key(loc[0]), loc[1]))
        return next((g for g in codec.decode_grant_list(raw) if g.grant_id == grant_id), None)

    async def revoke_grant(self, grant_id: str, *, at: datetime) -> Grant:
        loc = await self._locate_grant(grant_id)
        if loc is None:
            raise NotFound(f"grant {grant_id} does not exist")
        holder_id, field = loc
        for _ in range(CAS_ATTEMPTS):
            raw = await self._call(self._r.hget(holder_key(holder_id), field))
            grants = codec.decode_grant_list(raw)
            target = next((g for g in grants if g.grant_id == grant_id), None)
            if target is None:
                raise NotFound(f"grant {grant_id} does not exist")
            if target.revoked_at is not None:
                return target
            revoked = replace(target, revoked_at=at)
            new = _live([revoked if g.grant_id == grant_id else g for g in grants], at)
            if await self._cas(holder_id, field, raw or b"", codec.encode_grant_list(new)):
                return revoked
            await asyncio.sleep(random.random() * 0.002)  # noqa: S311 - jitter, not security
        raise Conflict(f"grants of {holder_id} are being changed concurrently; retry")

    async def list_grants(self, holder_id: str) -> list[Grant]:
        fields: dict[bytes, bytes] = await self._call(self._r.hgetall(holder_key(holder_id)))
        grants: list[Grant] = []
        for name, raw in fields.items():
            if name.startswith((b"d:", b"s:")):
                grants.extend(codec.decode_grant_list(raw))
        return sorted(grants, key=lambda g: g.grant_id)

    # -- credentials -------------------------------------------------------------------------

    async def put_credential(self, credential_id: str, digest: bytes, principal: str) -> None:
        await self._call(
            self._r.hset(credential_key(credential_id), mapping={"d": digest, "p": principal})
        )

    async def get_credential(self, credential_id: str) -> tuple[bytes, str] | None:
        raw = await self._call(self._r.hmget(credential_key(credential_id), "d", "p"))
        if not raw or raw[0] is None:
            return None
        return bytes(raw[0]), raw[1].decode()

    # -- plumbing ----------------------------------------------------------------------------

    async def _cas(self, holder_id: str, field: str, expected: bytes, new: bytes) -> bool:
        result = int(
            await self._call(
                self._field_cas(keys=[holder_key(holder_id)], args=[field, expected, new])
            )
        )
        if result == -1:
            raise NotFound(f"key holder {holder_id} does not exist")
        return result == 1

    @staticmethod
    async def _call(awaitable: Any) -> Any:
        """Translate redis-py errors into the product's hierarchy where they enter."""
        with command_errors_translated(STORE):
            return await awaitable


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _pairs_values(flat: Sequence[Any]) -> list[Any]:
    """HGETALL inside Lua returns [k1, v1, k2, v2, …]; we want the values."""
    return list(flat[1::2])


def _live(grants: list[Grant], now: datetime) -> list[Grant]:
    """Drop grants that ended more than 30 days ago so a holder's fields stay small (the revoked
    one itself is always kept: it ends later than that or is the grant being revoked)."""
    horizon = now.timestamp() - 30 * 86_400
    return [g for g in grants if g.valid_until.timestamp() > horizon or g.revoked_at == now]
