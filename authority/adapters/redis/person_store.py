"""The person store on Redis: personal data apart from pseudonyms, encrypted per person.

Key layout (the braces put one person's keys in one cluster slot, with their holder hash):

==========================  ======  ======================================================
key                         type    contents
==========================  ======  ======================================================
``p:{<holder>}``            hash    ``wk`` the person's data key wrapped by the master key,
                                    ``pr`` the profile, ``c:<purpose>`` consents (both
                                    XChaCha20-Poly1305 under the data key, bound to the
                                    pseudonym and field), ``ph`` the phone-index entry
``pa:{<holder>}``           set     door units (site ids) the person administers
``pidx:{<hmac>}``           string  phone lookup: keyed hash of the number -> pseudonym (only
                                    while the ``phone_lookup`` consent is in force)
``{privacy}:persons``       set     pseudonyms with a data key (for the report)
``{privacy}:erased``        set     pseudonyms erased (mirror of the ledger; re-applied)
``{privacy}:pending``       zset    pseudonym -> when its requested erasure is due (ms)
``{privacy}:lastuse``       zset    pseudonym -> latest known use or registration (ms)
``{privacy}:admins``        set     pseudonyms administering a door unit (for the report)
==========================  ======  ======================================================

Crypto-shredding: erasing a person deletes ``wk`` (and everything else of theirs) in one script.
A backup or AOF copy taken earlier still holds ciphertext and the *wrapped* key; restoring it
re-applies the erasure ledger before anything is served (``authority.usecases.privacy``), and backup
archives carry the master key only encrypted under a backup key kept apart
(``authority.adapters.files.backup``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.secret
import nacl.utils
import redis.exceptions as redis_errors

from authority.adapters.crypto.sealing import (
    SEALED_NEEDS_PASSPHRASE,
    KeySealer,
    require_private,
    write_private,
)
from authority.adapters.redis import codec
from authority.adapters.redis.errors import unavailable_on_failure
from authority.adapters.redis.identity_store import login_state_key
from authority.adapters.redis.redis_store import RedisClient, RedisStore, holder_key
from authority.domain.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from authority.domain.model import Grant, HolderStatus, KeyHolder
from authority.domain.ports.persons import PersonCensus
from authority.domain.privacy import Consent, PersonProfile, normalise_phone

MASTER_KEY_FILE = "person-master.key"
SEALED_PREFIX = b"sealed:"
PERSONS, ERASED, PENDING = "{privacy}:persons", "{privacy}:erased", "{privacy}:pending"
LAST_USE, ADMINS = "{privacy}:lastuse", "{privacy}:admins"
SWEEP_LEASE = "{privacy}:sweep-lease"
LAST_USE_MARK = "{privacy}:lastuse-read"
"""Up to when the sweep has read uses from the access log (ms)."""
ERASED_MARK = "{privacy}:ledger-applied"
"""How many ledger records this Redis has applied (restore and start-up compare it)."""


def person_key(holder_id: str) -> str:
    return f"p:{{{holder_id}}}"


def units_key(holder_id: str) -> str:
    return f"pa:{{{holder_id}}}"


def phone_index_key(digest: str) -> str:
    return f"pidx:{{{digest}}}"


# KEYS: person hash, units set, holder hash (record, grants, credential, device key, sessions),
# the holder's login (password hash). ARGV: force ('1'/'0').
# Returns {0, units…} when refused, {1, phone index entry or '', 1 if anything existed else 0}.
ERASE_PERSON = """
local units = redis.call('SMEMBERS', KEYS[2])
if #units > 0 and ARGV[1] ~= '1' then
  local out = {0}
  for _, u in ipairs(units) do out[#out + 1] = u end
  return out
end
local ph = redis.call('HGET', KEYS[1], 'ph') or ''
local existed = redis.call('EXISTS', KEYS[1], KEYS[3], KEYS[2], KEYS[4])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return {1, ph, existed}
"""

# KEYS: person hash, holder hash. ARGV: wrapped data key. Makes the data key once; the holder
# must exist. Returns the wrapped key in force, or false if there is no such holder.
ENSURE_DATA_KEY = """
if redis.call('HEXISTS', KEYS[2], 'st') == 0 then return false end
redis.call('HSETNX', KEYS[1], 'wk', ARGV[1])
return redis.call('HGET', KEYS[1], 'wk')
"""


class PersonKeys:
    """The person store's master key (wraps every data key) and the phone index's HMAC key
    derived from it. Kept in ``<data_dir>/keys`` (0600), never in Redis."""

    def __init__(self, master: bytes) -> None:
        if len(master) != nacl.secret.Aead.KEY_SIZE:
            raise InvalidArgument("the person-store master key must be 32 bytes")
        self._master = nacl.secret.Aead(master)
        self._raw = master
        self.index_key = hashlib.blake2b(master, person=b"phone-index", digest_size=32).digest()

    @classmethod
    def load_or_create(cls, directory: Path, sealer: KeySealer | None = None) -> PersonKeys:
        """The directory's master key (made on first use). With a key passphrase (``sealer``)
        a new key is written sealed, like the other key files; a file others may read is
        refused."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / MASTER_KEY_FILE
        if not path.exists():
            key = nacl.utils.random(nacl.secret.Aead.KEY_SIZE)
            body = SEALED_PREFIX + sealer.seal(key).encode() if sealer is not None else key
            with _open_new(path) as f:
                f.write(body)
        require_private(path)
        raw = path.read_bytes()
        if raw.startswith(SEALED_PREFIX):
            if sealer is None:
                raise FailedPrecondition(SEALED_NEEDS_PASSPHRASE.format(dir=directory))
            return cls(sealer.open(raw[len(SEALED_PREFIX) :].decode(), MASTER_KEY_FILE))
        return cls(raw)

    @staticmethod
    def reseal(directory: Path, sealer: KeySealer, *, seal: bool) -> bool:
        """Seal (or open) the directory's master key file in place, like ``authority keys
        wrap|unwrap`` does the other key files; whether there was one."""
        path = directory / MASTER_KEY_FILE
        if not path.exists():
            return False
        key = PersonKeys.load_or_create(directory, sealer).raw
        write_private(path, SEALED_PREFIX + sealer.seal(key).encode() if seal else key)
        return True

    @property
    def raw(self) -> bytes:
        """The key itself: for the backup archive, which encrypts it (never logged)."""
        return self._raw

    def wrap(self, data_key: bytes, holder_id: str) -> bytes:
        return bytes(self._master.encrypt(data_key, holder_id.encode()))

    def unwrap(self, wrapped: bytes, holder_id: str) -> bytes:
        try:
            return bytes(self._master.decrypt(wrapped, holder_id.encode()))
        except nacl.exceptions.CryptoError as exc:
            raise Unavailable(
                f"a person's data key does not open with this master key (wrong {MASTER_KEY_FILE}?)"
            ) from exc

    def phone_digest(self, phone: str) -> str:
        return hmac.new(self.index_key, normalise_phone(phone).encode(), "sha256").hexdigest()


def _open_new(path: Path) -> Any:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _dt(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class RedisPersonStore:
    """Implements ``PersonStore`` on Redis with ``PersonKeys``."""

    def __init__(self, client: RedisClient, keys: PersonKeys) -> None:
        self._r = client
        self._keys = keys
        self._erase = client.register_script(ERASE_PERSON)
        self._ensure_key = client.register_script(ENSURE_DATA_KEY)

    async def _call(self, awaitable: Any) -> Any:
        with unavailable_on_failure("the person store"):
            return await awaitable

    async def _data_key(self, holder_id: str, *, create: bool) -> nacl.secret.Aead | None:
        wrapped = await self._call(self._r.hget(person_key(holder_id), "wk"))
        if wrapped is None and create:
            fresh = self._keys.wrap(nacl.utils.random(nacl.secret.Aead.KEY_SIZE), holder_id)
            wrapped = await self._call(
                self._ensure_key(keys=[person_key(holder_id), holder_key(holder_id)], args=[fresh])
            )
            if wrapped is None:
                raise NotFound(f"key holder {holder_id} does not exist")
            await self._call(self._r.sadd(PERSONS, holder_id))
        if wrapped is None:
            return None
        return nacl.secret.Aead(self._keys.unwrap(bytes(wrapped), holder_id))

    def _aad(self, holder_id: str, field: str) -> bytes:
        return f"{holder_id}\x00{field}".encode()

    async def _put_sealed(self, holder_id: str, field: str, value: dict[str, Any]) -> None:
        box = await self._data_key(holder_id, create=True)
        assert box is not None
        sealed = box.encrypt(json.dumps(value).encode(), self._aad(holder_id, field))
        await self._call(self._r.hset(person_key(holder_id), field, bytes(sealed)))

    def _open(self, box: nacl.secret.Aead, holder_id: str, field: str, raw: bytes) -> Any:
        try:
            return json.loads(box.decrypt(bytes(raw), self._aad(holder_id, field)))
        except nacl.exceptions.CryptoError as exc:
            raise Unavailable(f"person record {field} of {holder_id} does not decrypt") from exc

    async def put_profile(self, holder_id: str, profile: PersonProfile) -> None:
        await self._put_sealed(holder_id, "pr", profile.as_dict())

    async def get_profile(self, holder_id: str) -> PersonProfile | None:
        box = await self._data_key(holder_id, create=False)
        raw = await self._call(self._r.hget(person_key(holder_id), "pr"))
        if box is None or raw is None:
            return None
        return PersonProfile(**self._open(box, holder_id, "pr", raw))

    async def put_consent(self, holder_id: str, consent: Consent) -> None:
        await self._put_sealed(
            holder_id,
            f"c:{consent.purpose}",
            {
                "p": consent.purpose,
                "v": consent.text_version,
                "g": _ms(consent.given_at),
                "w": _ms(consent.withdrawn_at) if consent.withdrawn_at else None,
            },
        )

    async def get_consents(self, holder_id: str) -> list[Consent]:
        box = await self._data_key(holder_id, create=False)
        if box is None:
            return []
        fields = await self._call(self._r.hgetall(person_key(holder_id)))
        out = []
        for name, raw in fields.items():
            field = name.decode() if isinstance(name, bytes) else str(name)
            if not field.startswith("c:"):
                continue
            d = self._open(box, holder_id, field, raw)
            out.append(
                Consent(
                    purpose=d["p"],
                    text_version=d["v"],
                    given_at=_dt(d["g"]),
                    withdrawn_at=_dt(d["w"]) if d["w"] is not None else None,
                )
            )
        return sorted(out, key=lambda c: c.purpose)

    async def set_phone_lookup(self, holder_id: str, phone: str | None) -> None:
        key = person_key(holder_id)
        old = await self._call(self._r.hget(key, "ph"))
        new = self._keys.phone_digest(phone) if phone else ""
        old_text = old.decode() if isinstance(old, bytes) else (old or "")
        if old_text and old_text != new:
            await self._call(self._r.delete(phone_index_key(old_text)))
        if new:
            await self._call(self._r.set(phone_index_key(new), holder_id))
            await self._call(self._r.hset(key, "ph", new))
        elif old_text:
            await self._call(self._r.hdel(key, "ph"))

    async def find_by_phone(self, phone: str) -> str | None:
        raw = await self._call(self._r.get(phone_index_key(self._keys.phone_digest(phone))))
        return raw.decode() if isinstance(raw, bytes) else raw

    async def add_door_unit(self, holder_id: str, site_id: str) -> None:
        await self._call(self._r.sadd(units_key(holder_id), site_id))
        await self._call(self._r.sadd(ADMINS, holder_id))

    async def remove_door_unit(self, holder_id: str, site_id: str) -> bool:
        removed = bool(await self._call(self._r.srem(units_key(holder_id), site_id)))
        if not await self._call(self._r.scard(units_key(holder_id))):
            await self._call(self._r.srem(ADMINS, holder_id))
        return removed

    async def door_units(self, holder_id: str) -> list[str]:
        members = await self._call(self._r.smembers(units_key(holder_id)))
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)

    async def erase(self, holder_id: str, *, force: bool = False) -> list[str]:
        reply = await self._call(
            self._erase(
                keys=[
                    person_key(holder_id),
                    units_key(holder_id),
                    holder_key(holder_id),
                    login_state_key(holder_id),  # a holder's login key is its pseudonym
                ],
                args=["1" if force else "0"],
            )
        )
        if int(reply[0]) == 0:
            return [u.decode() if isinstance(u, bytes) else str(u) for u in reply[1:]]
        entry = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
        if entry:
            index = phone_index_key(entry)
            if await self._call(self._r.get(index)) in (holder_id.encode(), holder_id):
                await self._call(self._r.delete(index))
        pipe = self._r.pipeline(transaction=False)
        pipe.sadd(ERASED, holder_id)
        pipe.srem(PERSONS, holder_id)
        pipe.srem(ADMINS, holder_id)
        pipe.zrem(PENDING, holder_id)
        pipe.zrem(LAST_USE, holder_id)
        await self._call(pipe.execute())
        return []

    async def is_erased(self, holder_id: str) -> bool:
        return bool(await self._call(self._r.sismember(ERASED, holder_id)))

    async def schedule_erasure(self, holder_id: str, due: datetime) -> None:
        await self._call(self._r.zadd(PENDING, {holder_id: _ms(due)}, nx=True))

    async def pending_erasure(self, holder_id: str) -> datetime | None:
        score = await self._call(self._r.zscore(PENDING, holder_id))
        return _dt(score) if score is not None else None

    async def due_erasures(self, now: datetime) -> list[str]:
        ids = await self._call(self._r.zrangebyscore(PENDING, "-inf", _ms(now)))
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]

    async def note_uses(self, uses: Mapping[str, datetime]) -> None:
        if uses:
            mapping = {h: _ms(t) for h, t in uses.items()}
            await self._call(self._r.zadd(LAST_USE, mapping, gt=True))

    async def note_registration(self, holder_id: str, at: datetime) -> None:
        await self._call(self._r.zadd(LAST_USE, {holder_id: _ms(at)}, nx=True))

    async def unused_since(self, before: datetime) -> list[str]:
        ids = await self._call(self._r.zrangebyscore(LAST_USE, "-inf", _ms(before)))
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]

    async def last_use_watermark(self) -> datetime | None:
        raw = await self._call(self._r.get(LAST_USE_MARK))
        return _dt(int(raw)) if raw else None

    async def set_last_use_watermark(self, at: datetime) -> None:
        await self._call(self._r.set(LAST_USE_MARK, _ms(at)))

    async def take_sweep_lease(self, owner: str, *, seconds: float) -> bool:
        """Whether ``owner`` runs the privacy job this interval (one process at a time)."""
        ttl = max(int(seconds * 900), 1000)  # 90 %: the next interval's run is never blocked
        return bool(await self._call(self._r.set(SWEEP_LEASE, owner, nx=True, px=ttl)))

    async def applied_ledger_records(self) -> int:
        return int(await self._call(self._r.get(ERASED_MARK)) or 0)

    async def mark_ledger_applied(self, count: int) -> None:
        await self._call(self._r.set(ERASED_MARK, count))

    async def census(self, now: datetime) -> PersonCensus:
        in_force = withdrawn = 0
        persons = await self._call(self._r.smembers(PERSONS))
        for member in persons:
            holder_id = member.decode() if isinstance(member, bytes) else str(member)
            for consent in await self.get_consents(holder_id):
                if consent.in_force(now):
                    in_force += 1
                else:
                    withdrawn += 1
        pipe = self._r.pipeline(transaction=False)
        pipe.scard(ADMINS)
        pipe.zcard(PENDING)
        pipe.scard(ERASED)
        bounds = [
            ("<30d", now - timedelta(days=30), now + timedelta(days=1)),
            ("30d-6m", now - timedelta(days=182), now - timedelta(days=30)),
            ("6m-12m", now - timedelta(days=365), now - timedelta(days=182)),
            (">=12m", datetime(1970, 1, 1, tzinfo=UTC), now - timedelta(days=365)),
        ]
        for _, lo, hi in bounds:
            pipe.zcount(LAST_USE, _ms(lo), f"({_ms(hi)}")
        admins, pending, erased, *ages = await self._call(pipe.execute())
        return PersonCensus(
            profiles=len(persons),
            consents_in_force=in_force,
            consents_withdrawn=withdrawn,
            door_unit_administrators=int(admins),
            pending_erasures=int(pending),
            erased=int(erased),
            last_use_ages={name: int(n) for (name, _, _), n in zip(bounds, ages, strict=True)},
        )


class RedisHolderRecords:
    """The holder side the privacy use cases need: the grant store's holder and grant calls,
    plus every holder record (a SCAN: the sweep registers holders it has not seen yet)."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store

    async def get_holder(self, holder_id: str) -> KeyHolder | None:
        return await self._store.get_holder(holder_id)

    async def set_holder_status(self, holder_id: str, status: HolderStatus) -> KeyHolder:
        return await self._store.set_holder_status(holder_id, status)

    async def list_grants(self, holder_id: str) -> list[Grant]:
        return await self._store.list_grants(holder_id)

    async def all_holders(self) -> AsyncIterator[KeyHolder]:
        client = self._store.client
        try:
            keys = [k async for k in client.scan_iter(match="h:{*}", count=1000)]
            for start in range(0, len(keys), 500):
                pipe = client.pipeline(transaction=False)
                for key in keys[start : start + 500]:
                    pipe.hget(key, "st")
                for raw in await pipe.execute():
                    if raw:
                        yield codec.decode_holder(raw)
        except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
            raise Unavailable("the grant store is unreachable") from exc
