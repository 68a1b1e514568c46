"""Fakes shipped with the package: an in-memory store with the same behaviour as ``RedisStore``
and a settable clock. The store contract (``authority.testing.store_contract``, run by
tests/contract/test_store_contract.py) holds this fake, a real Redis and a 3-node Redis Cluster to
the same checks, so the fake cannot drift.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from authority.adapters.redis import codec
from authority.domain.bulk import IdempotentGrant, IssueOutcome, RosterChange, roster_signature
from authority.domain.credentials import access_field, new_session_secrets, session_entry
from authority.domain.errors import AlreadyExists, Conflict, FailedPrecondition, NotFound
from authority.domain.events import AccessEvent
from authority.domain.model import Door, Grant, HolderStatus, KeyHolder, Organisation, Site
from authority.domain.ports.unlock import HolderSnapshot

SnapshotRequest = tuple[str, str, str | None, str]


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, now: datetime | None = None) -> None:
        self._now = now or datetime(2027, 1, 4, 7, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, now: datetime) -> None:
        self._now = now

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class MemoryEventRecorder:
    """An ``EventRecorder`` that keeps events in a list (tests, demos without a log)."""

    def __init__(self) -> None:
        self.events: list[AccessEvent] = []

    async def record(self, events: Sequence[AccessEvent]) -> None:
        self.events.extend(events)

    async def record_once(self, event: AccessEvent) -> bool:
        """``OnceEventRecorder``: remembers every id (the real one forgets after hours)."""
        if any(e.event_id == event.event_id for e in self.events):
            return False
        self.events.append(event)
        return True


class InMemoryRateLimitStore:
    """``RateLimitStore`` in a dict: several ``RateLimiter``s sharing one behave like processes
    sharing one Redis (the contract test runs the same checks on Redis and a cluster)."""

    def __init__(self) -> None:
        self.counters: dict[tuple[str, int], int] = {}

    async def exchange(
        self, increments: dict[str, int], *, window: int, window_ms: int
    ) -> dict[str, tuple[int, int]]:
        out = {}
        for key, n in increments.items():
            current = self.counters[key, window] = self.counters.get((key, window), 0) + n
            out[key] = (self.counters.get((key, window - 1), 0), current)
        return out


class InMemoryStore:
    """Implements the same ports as ``authority.adapters.redis.redis_store.RedisStore``."""

    def __init__(self) -> None:
        self._orgs: dict[str, bytes] = {}
        self._sites: dict[str, bytes] = {}
        self._doors: dict[str, bytes] = {}
        self._epochs: dict[str, int] = {}
        self._log: list[tuple[bytes, int, str, bytes]] = []
        self._holders: dict[str, dict[str, bytes]] = {}
        self._grant_index: dict[str, tuple[str, str]] = {}
        self._credentials: dict[str, tuple[bytes, str]] = {}
        self._idempotency: dict[tuple[str, str], str] = {}
        self._org_holders: dict[str, set[str]] = {}
        self._site_holders: dict[str, set[str]] = {}
        self.calls = 0

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None

    # -- hot path ----------------------------------------------------------------------------

    async def read_snapshots(
        self, requests: Sequence[SnapshotRequest]
    ) -> list[HolderSnapshot | None]:
        self.calls += 1
        await asyncio.sleep(0)
        out: list[HolderSnapshot | None] = []
        for holder_id, door_id, site_id, credential_field in requests:
            fields = self._holders.get(holder_id)
            if fields is None:
                out.append(None)
                continue
            grants = codec.decode_grant_list(fields.get("d:" + door_id))
            if site_id is not None:
                grants += codec.decode_grant_list(fields.get("s:" + site_id))
            out.append(
                HolderSnapshot(
                    status=codec.decode_holder(fields["st"]).status,
                    credential_digest=fields.get(credential_field, b""),
                    grants=grants,
                    directory_version=len(self._log),
                    device_key=fields.get("dk"),
                )
            )
        return out

    async def read_snapshot(
        self, holder_id: str, door_id: str, site_id: str | None, credential_field: str
    ) -> HolderSnapshot | None:
        return (await self.read_snapshots([(holder_id, door_id, site_id, credential_field)]))[0]

    # -- directory ---------------------------------------------------------------------------

    async def directory_version(self) -> int:
        return len(self._log)

    async def directory_snapshot(
        self,
    ) -> tuple[int, dict[str, Organisation], dict[str, Site], dict[str, Door], bytes]:
        return (
            len(self._log),
            {k: codec.decode_organisation(v) for k, v in self._orgs.items()},
            {k: codec.decode_site(v, self._epochs.get(k, 0)) for k, v in self._sites.items()},
            {k: codec.decode_door(v) for k, v in self._doors.items()},
            self._log[-1][0] if self._log else b"0-0",
        )

    async def directory_changes(
        self, after_id: bytes, count: int = 1000
    ) -> list[tuple[bytes, int, str, bytes]]:
        start = 0 if after_id == b"0-0" else int(after_id.split(b"-")[0])
        return self._log[start : start + count]

    def _record(self, kind: str, record: bytes) -> None:
        version = len(self._log) + 1
        self._log.append((f"{version}-0".encode(), version, kind, record))

    async def put_organisation(
        self, org: Organisation, *, expected: Organisation | None, create: bool
    ) -> None:
        self._put(
            table=self._orgs,
            kind="organisation",
            key=org.organisation_id,
            record=codec.encode_organisation(org),
            expected=codec.encode_organisation(expected) if expected else None,
            create=create,
        )

    async def put_site(self, site: Site, *, expected: Site | None, create: bool) -> None:
        self._put(
            table=self._sites,
            kind="site",
            key=site.site_id,
            record=codec.encode_site(site),
            expected=codec.encode_site(expected) if expected else None,
            create=create,
        )

    async def put_door(self, door: Door, *, expected: Door | None = None) -> None:
        if door.site_id not in self._sites:
            raise NotFound(f"site {door.site_id} does not exist")
        self._put(
            table=self._doors,
            kind="door",
            key=door.door_id,
            record=codec.encode_door(door),
            expected=codec.encode_door(expected) if expected else None,
            create=expected is None,
        )

    async def bump_revocation_epochs(self, site_ids: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for site_id in site_ids:
            if site_id in self._sites:
                epoch = self._epochs[site_id] = self._epochs.get(site_id, 0) + 1
                self._record("epoch", codec.encode_epoch_change(site_id, epoch))
                out[site_id] = epoch
        return out

    def _put(
        self,
        *,
        table: dict[str, bytes],
        kind: str,
        key: str,
        record: bytes,
        expected: bytes | None,
        create: bool,
    ) -> None:
        current = table.get(key)
        if create and current is not None:
            raise AlreadyExists(f"{kind} {key} already exists")
        if not create:
            if current is None:
                raise NotFound(f"{kind} {key} does not exist")
            if current != expected:
                raise Conflict(f"{kind} {key} was changed concurrently; retry")
        table[key] = record
        self._record(kind, record)

    async def get_organisation(self, organisation_id: str) -> Organisation | None:
        raw = self._orgs.get(organisation_id)
        return codec.decode_organisation(raw) if raw else None

    async def get_site(self, site_id: str) -> Site | None:
        raw = self._sites.get(site_id)
        return codec.decode_site(raw, self._epochs.get(site_id, 0)) if raw else None

    async def get_door(self, door_id: str) -> Door | None:
        raw = self._doors.get(door_id)
        return codec.decode_door(raw) if raw else None

    async def get_sites(self, site_ids: Sequence[str]) -> dict[str, Site]:
        return {s: site for s in site_ids if (site := await self.get_site(s)) is not None}

    async def get_doors(self, door_ids: Sequence[str]) -> dict[str, Door]:
        return {d: door for d in door_ids if (door := await self.get_door(d)) is not None}

    # -- holders and grants ------------------------------------------------------------------

    async def create_holder(self, holder: KeyHolder, credential_digest: bytes) -> None:
        if holder.key_holder_id in self._holders:
            raise AlreadyExists(f"key holder {holder.key_holder_id} already exists")
        self._holders[holder.key_holder_id] = {
            "st": codec.encode_holder(holder),
            "cred": credential_digest,
        }

    async def get_holder(self, holder_id: str) -> KeyHolder | None:
        fields = self._holders.get(holder_id)
        return codec.decode_holder(fields["st"]) if fields else None

    async def set_device_key(self, holder_id: str, device_key: bytes) -> bytes | None:
        fields = self._holders.get(holder_id)
        if fields is None:
            raise NotFound(f"key holder {holder_id} does not exist")
        previous = fields.get("dk")
        fields["dk"] = bytes(device_key)
        return previous

    async def holder_credential_digest(self, holder_id: str, field: str = "cred") -> bytes | None:
        fields = self._holders.get(holder_id)
        return fields.get(field) if fields else None

    def open_app_session(self, holder_id: str, expires_at: datetime) -> str:
        """What an app login leaves in the holder's hash: a session's access entry until
        ``expires_at``. The session's access credential (the only kind of holder credential the
        authority accepts), without the argon2 login of ``authority.usecases.sessions``."""
        issued = new_session_secrets(holder_id)
        fields = self._holders[holder_id]
        fields[access_field(issued.session_id)] = session_entry(
            int(expires_at.timestamp()), issued.access_digest
        )
        return issued.access_credential

    async def set_holder_status(self, holder_id: str, status: HolderStatus) -> KeyHolder:
        fields = self._holders.get(holder_id)
        if fields is None:
            raise NotFound(f"key holder {holder_id} does not exist")
        updated = replace(codec.decode_holder(fields["st"]), status=status)
        fields["st"] = codec.encode_holder(updated)
        return updated

    async def add_grant(self, grant: Grant) -> None:
        fields = self._holders.get(grant.key_holder_id)
        if fields is None:
            raise NotFound(f"key holder {grant.key_holder_id} does not exist")
        site_id = grant.target.site_id
        if site_id is None and (door := await self.get_door(grant.target.door_id or "")):
            site_id = door.site_id
        self._index(grant.organisation_id, site_id, grant.key_holder_id)
        key = grant.target.key
        grants = codec.decode_grant_list(fields.get(key))
        if any(g.grant_id == grant.grant_id for g in grants):
            return
        self._grant_index[grant.grant_id] = (grant.key_holder_id, key)
        fields[key] = codec.encode_grant_list([*grants, grant])

    async def get_grant(self, grant_id: str) -> Grant | None:
        loc = self._grant_index.get(grant_id)
        if loc is None:
            return None
        grants = codec.decode_grant_list(self._holders[loc[0]].get(loc[1]))
        return next((g for g in grants if g.grant_id == grant_id), None)

    async def revoke_grant(self, grant_id: str, *, at: datetime) -> Grant:
        loc = self._grant_index.get(grant_id)
        if loc is None:
            raise NotFound(f"grant {grant_id} does not exist")
        fields = self._holders[loc[0]]
        grants = codec.decode_grant_list(fields.get(loc[1]))
        target = next(g for g in grants if g.grant_id == grant_id)
        if target.revoked_at is not None:
            return target
        revoked = replace(target, revoked_at=at)
        fields[loc[1]] = codec.encode_grant_list(
            [revoked if g.grant_id == grant_id else g for g in grants]
        )
        return revoked

    async def list_grants(self, holder_id: str) -> list[Grant]:
        fields = self._holders.get(holder_id, {})
        grants = [
            g
            for k, v in fields.items()
            if k.startswith(("d:", "s:"))
            for g in codec.decode_grant_list(v)
        ]
        return sorted(grants, key=lambda g: g.grant_id)

    # -- bulk: fleets ------------------------------------------------------------------------

    def _index(self, organisation_id: str, site_id: str | None, holder_id: str) -> None:
        self._org_holders.setdefault(organisation_id, set()).add(holder_id)
        if site_id is not None:
            self._site_holders.setdefault(site_id, set()).add(holder_id)

    async def issue_grants_once(
        self, organisation_id: str, items: Sequence[IdempotentGrant]
    ) -> list[IssueOutcome]:
        await asyncio.sleep(0)
        out: list[IssueOutcome] = []
        for item in items:
            g = item.grant
            self._index(organisation_id, item.site_id, g.key_holder_id)
            fields = self._holders.get(g.key_holder_id)
            if fields is None:
                out.append(IssueOutcome.HOLDER_MISSING)
                continue
            if codec.decode_holder(fields["st"]).organisation_id != organisation_id:
                out.append(IssueOutcome.HOLDER_OF_ANOTHER_ORGANISATION)
                continue
            if codec.decode_holder(fields["st"]).status is HolderStatus.RESTRICTED:
                out.append(IssueOutcome.HOLDER_RESTRICTED)
                continue
            remembered = self._idempotency.get((g.key_holder_id, item.slot))
            if remembered is not None:
                out.append(
                    IssueOutcome.ALREADY_CREATED
                    if remembered == item.fingerprint
                    else IssueOutcome.KEY_REUSED
                )
                continue
            grants = codec.decode_grant_list(fields.get(g.target.key))
            if not any(x.grant_id == g.grant_id for x in grants):
                fields[g.target.key] = codec.encode_grant_list([*grants, g])
            self._grant_index.setdefault(g.grant_id, (g.key_holder_id, g.target.key))
            self._idempotency[(g.key_holder_id, item.slot)] = item.fingerprint
            out.append(IssueOutcome.CREATED)
        return out

    async def revoke_holders_grants(
        self,
        holder_ids: Sequence[str],
        *,
        at: datetime,
        organisation_id: str | None,
        fields: Sequence[str] | None,
    ) -> list[Grant]:
        revoked: list[Grant] = []
        for holder_id in holder_ids:
            stored = self._holders.get(holder_id)
            if stored is None:
                continue
            names = list(fields) if fields else [k for k in stored if k.startswith(("d:", "s:"))]
            for name in names:
                grants = codec.decode_grant_list(stored.get(name))
                changed = False
                for i, g in enumerate(grants):
                    live = g.revoked_at is None and g.valid_until > at
                    if live and organisation_id in (None, g.organisation_id):
                        grants[i] = replace(g, revoked_at=_whole_seconds(at))
                        revoked.append(grants[i])
                        changed = True
                if changed:
                    stored[name] = codec.encode_grant_list(grants)
        return revoked

    async def holders_of_organisation(self, organisation_id: str) -> list[str]:
        return sorted(self._org_holders.get(organisation_id, ()))

    async def holders_with_grants_at(self, site_id: str) -> list[str]:
        return sorted(self._site_holders.get(site_id, ()))

    async def replace_holder_grants(
        self,
        holder_id: str,
        organisation_id: str,
        desired: Sequence[tuple[Grant, bool]],
        *,
        at: datetime,
        site_ids: Sequence[str] = (),
    ) -> RosterChange:
        stored = self._holders.get(holder_id)
        if stored is None:
            raise NotFound(f"key holder {holder_id} does not exist")
        if codec.decode_holder(stored["st"]).organisation_id != organisation_id:
            raise FailedPrecondition(
                f"key holder {holder_id} belongs to another organisation than {organisation_id}"
            )
        self._org_holders.setdefault(organisation_id, set()).add(holder_id)
        for site_id in site_ids:
            self._site_holders.setdefault(site_id, set()).add(holder_id)
        used = [False] * len(desired)
        kept: list[str] = []
        revoked: list[Grant] = []
        for name in sorted(k for k in stored if k.startswith(("d:", "s:"))):
            grants = codec.decode_grant_list(stored[name])
            changed = False
            for i, g in enumerate(grants):
                if g.organisation_id != organisation_id or g.revoked_at or g.valid_until <= at:
                    continue
                match = next(
                    (
                        j
                        for j, (d, from_given) in enumerate(desired)
                        if not used[j]
                        and d.target.key == name
                        and roster_signature(d) == roster_signature(g)
                        and (
                            not from_given
                            or int(d.valid_from.timestamp()) == int(g.valid_from.timestamp())
                        )
                    ),
                    None,
                )
                if match is not None:
                    used[match] = True
                    kept.append(g.grant_id)
                else:
                    grants[i] = replace(g, revoked_at=_whole_seconds(at))
                    revoked.append(grants[i])
                    changed = True
            if changed:
                stored[name] = codec.encode_grant_list(grants)
        created: list[Grant] = []
        for j, (d, _) in enumerate(desired):
            if not used[j]:
                stored[d.target.key] = codec.encode_grant_list(
                    [*codec.decode_grant_list(stored.get(d.target.key)), d]
                )
                self._grant_index[d.grant_id] = (holder_id, d.target.key)
                created.append(d)
        return RosterChange(created=created, kept=kept, revoked=revoked)

    async def grants_of_holders(self, holder_ids: Sequence[str]) -> list[Grant]:
        return [g for h in holder_ids for g in await self.list_grants(h)]

    async def put_credential(self, credential_id: str, digest: bytes, principal: str) -> None:
        self._credentials[credential_id] = (digest, principal)

    async def get_credential(self, credential_id: str) -> tuple[bytes, str] | None:
        return self._credentials.get(credential_id)


def _whole_seconds(at: datetime) -> datetime:
    """Stored timestamps have whole seconds (as in Redis)."""
    return at.replace(microsecond=0)
