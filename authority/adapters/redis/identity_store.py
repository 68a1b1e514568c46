"""The Redis adapter of identity: staff accounts, login state, activation codes, login sessions,
login policies and the index of organisations' API credentials.

=========================  ======  ======================================================
key                        type    contents
=========================  ======  ======================================================
``acct:{<account>}``       hash    ``p`` principal (JSON), ``login`` login key, ``off``
                                   disabled, ``a:<session>`` / ``r:<session>`` login sessions
``login:{<login key>}``    hash    ``sub`` account or holder, ``pw`` password hash (argon2id),
                                   ``totp`` TOTP secret, ``totp_step`` last step used,
                                   ``fails``, ``locked_until``, ``act`` current activation
``act:{<code digest>}``    string the account or holder a one-time activation code is for
``lp:{<scope>}``           hash    a login policy (``operator``, ``org:<id>``, ``owner:<id>``)
``akx:{<org>}``            hash    API credential id -> description (JSON; never the secret)
=========================  ======  ======================================================

A key holder's sessions live in its own hash (``h:{<holder>}``, ``a:<session>`` /
``r:<session>``), where the unlock path reads them in its single round trip. Every operation
touches one key (one cluster slot); multi-step changes are scripts over that key.
"""

from __future__ import annotations

import json
from typing import Any

from authority.adapters.redis.redis_store import RedisStore, credential_key, holder_key
from authority.domain.credentials import HOLDER_PREFIX, access_field, refresh_field
from authority.domain.login import AccountRecord, LoginPolicy, LoginState

# Delete the sessions (a:/r: fields) of one subject's hash whose refresh entry expired before
# ARGV[1] (POSIX seconds; a huge value ends every session). Returns how many sessions ended.
SESSIONS_END = """
local n = 0
local cursor = '0'
local cutoff = tonumber(ARGV[1])
local gone = {}
repeat
  local res = redis.call('HSCAN', KEYS[1], cursor, 'MATCH', 'r:*', 'COUNT', 200)
  cursor = res[1]
  local kv = res[2]
  for i = 1, #kv, 2 do
    local v = kv[i + 1]
    local e = 0
    if #v == 40 then
      for j = 1, 8 do e = e * 256 + string.byte(v, j) end
    end
    if e <= cutoff then
      table.insert(gone, kv[i])
    end
  end
until cursor == '0'
for _, f in ipairs(gone) do
  redis.call('HDEL', KEYS[1], f, 'a:' .. string.sub(f, 3))
  n = n + 1
end
return n
"""

# Rotate a session's secrets if its refresh entry is still ARGV[2] (compare-and-set): 1 done,
# 0 the refresh entry differs (a used or unknown refresh credential), -1 no such subject.
SESSION_ROTATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local cur = redis.call('HGET', KEYS[1], 'r:' .. ARGV[1])
if not cur or cur ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'a:' .. ARGV[1], ARGV[3], 'r:' .. ARGV[1], ARGV[4])
return 1
"""

# Put a new session into an existing subject's hash (holders and accounts exist first).
SESSION_PUT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'a:' .. ARGV[1], ARGV[2], 'r:' .. ARGV[1], ARGV[3])
return 1
"""

# Record a TOTP step as used unless it (or a later one) was: 1 accepted, 0 replayed.
TOTP_STEP = """
local last = tonumber(redis.call('HGET', KEYS[1], 'totp_step') or '-1')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('HSET', KEYS[1], 'totp_step', ARGV[1])
return 1
"""


def account_key(account_id: str) -> str:
    return f"acct:{{{account_id}}}"


def login_state_key(key: str) -> str:
    return f"login:{{{key}}}"


def activation_key(code_digest: str) -> str:
    return f"act:{{{code_digest}}}"


def policy_key(scope: str) -> str:
    return f"lp:{{{scope}}}"


def api_index_key(organisation_id: str) -> str:
    return f"akx:{{{organisation_id}}}"


def subject_key(subject: str) -> str:
    """The hash that keeps a subject's sessions: the holder's own, or the account's."""
    return holder_key(subject) if subject.startswith(HOLDER_PREFIX) else account_key(subject)


class RedisIdentityStore:
    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._r = store.client
        self._end = self._r.register_script(SESSIONS_END)
        self._rotate = self._r.register_script(SESSION_ROTATE)
        self._put_session = self._r.register_script(SESSION_PUT)
        self._totp = self._r.register_script(TOTP_STEP)

    async def _call(self, awaitable: Any) -> Any:
        return await RedisStore._call(awaitable)  # the one translation of Redis errors

    # -- accounts ----------------------------------------------------------------------------

    async def create_account(self, account_id: str, login: str, principal: str) -> bool:
        """Reserve ``login`` for a new account; False if the login is taken."""
        taken = not await self._call(self._r.hsetnx(login_state_key(login), "sub", account_id))
        if taken:
            return False
        await self._call(
            self._r.hset(account_key(account_id), mapping={"p": principal, "login": login})
        )
        return True

    async def get_account(self, account_id: str) -> AccountRecord | None:
        raw = await self._call(self._r.hmget(account_key(account_id), "p", "login", "off"))
        if not raw or raw[0] is None:
            return None
        return AccountRecord(raw[0].decode(), raw[1].decode(), disabled=raw[2] == b"1")

    async def set_account_disabled(self, account_id: str, disabled: bool) -> None:
        await self._call(self._r.hset(account_key(account_id), "off", int(disabled)))

    async def account_session(self, account_id: str, session_id: str) -> tuple[str, bytes] | None:
        raw = await self._call(
            self._r.hmget(account_key(account_id), "p", access_field(session_id))
        )
        if not raw or raw[0] is None or raw[1] is None:
            return None
        return raw[0].decode(), bytes(raw[1])

    # -- login state -------------------------------------------------------------------------

    async def get_login(self, key: str) -> dict[str, bytes]:
        raw = await self._call(self._r.hgetall(login_state_key(key)))
        return {k.decode(): bytes(v) for k, v in raw.items()}

    async def put_login_state(self, key: str, state: LoginState, *, forget_after: int) -> None:
        """Store failures and lockout; a login without an owner (``sub``) is forgotten after
        ``forget_after`` seconds (they are only counted so lockouts look the same)."""
        k = login_state_key(key)
        pipe = self._r.pipeline(transaction=False)
        pipe.hset(k, mapping={"fails": state.failures, "locked_until": state.locked_until})
        pipe.hexists(k, "sub")
        _, owned = await self._call(pipe.execute())
        if not owned:
            await self._call(self._r.expire(k, forget_after))

    async def set_password(
        self, key: str, subject: str, password_hash: str, totp_secret: str
    ) -> None:
        await self._call(
            self._r.hset(
                login_state_key(key),
                mapping={
                    "sub": subject,
                    "pw": password_hash,
                    "totp": totp_secret,
                    "totp_step": -1,
                    "fails": 0,
                    "locked_until": 0,
                },
            )
        )
        await self._call(self._r.persist(login_state_key(key)))

    async def use_totp_step(self, key: str, step: int) -> bool:
        return bool(await self._call(self._totp(keys=[login_state_key(key)], args=[step])))

    # -- activation codes --------------------------------------------------------------------

    async def put_activation(
        self, code_digest: str, subject: str, login: str, ttl_seconds: int
    ) -> None:
        """A new one-time code for ``subject``; the subject's previous code stops working."""
        previous = await self._call(self._r.hget(login_state_key(login), "act"))
        if previous:
            await self._call(self._r.delete(activation_key(previous.decode())))
        await self._call(
            self._r.set(
                activation_key(code_digest),
                json.dumps({"sub": subject, "login": login}),
                ex=ttl_seconds,
            )
        )
        await self._call(self._r.hset(login_state_key(login), "act", code_digest))

    async def take_activation(self, code_digest: str) -> tuple[str, str] | None:
        """The (subject, login key) of a code, which is used up by this call."""
        raw = await self._call(self._r.getdel(activation_key(code_digest)))
        if raw is None:
            return None
        d = json.loads(raw)
        return str(d["sub"]), str(d["login"])

    # -- sessions ----------------------------------------------------------------------------

    async def put_session(
        self, subject: str, session_id: str, access_entry: bytes, refresh_entry: bytes
    ) -> bool:
        return bool(
            await self._call(
                self._put_session(
                    keys=[subject_key(subject)], args=[session_id, access_entry, refresh_entry]
                )
            )
        )

    async def refresh_entry(self, subject: str, session_id: str) -> bytes | None:
        raw = await self._call(self._r.hget(subject_key(subject), refresh_field(session_id)))
        return bytes(raw) if raw else None

    async def rotate_session(
        self,
        subject: str,
        session_id: str,
        *,
        expected_refresh: bytes,
        access_entry: bytes,
        refresh_entry: bytes,
    ) -> bool:
        done = await self._call(
            self._rotate(
                keys=[subject_key(subject)],
                args=[session_id, expected_refresh, access_entry, refresh_entry],
            )
        )
        return int(done) == 1

    async def end_session(self, subject: str, session_id: str) -> bool:
        removed = await self._call(
            self._r.hdel(subject_key(subject), access_field(session_id), refresh_field(session_id))
        )
        return int(removed) > 0

    async def end_sessions(self, subject: str, *, expired_before: int) -> int:
        """End the subject's sessions whose refresh entry expires before ``expired_before``
        (a far-future value ends them all). How many ended."""
        return int(await self._call(self._end(keys=[subject_key(subject)], args=[expired_before])))

    # -- login policies ----------------------------------------------------------------------

    async def get_policy(self, scope: str) -> LoginPolicy | None:
        raw = await self._call(self._r.hgetall(policy_key(scope)))
        if not raw:
            return None
        d = {k.decode(): v.decode() for k, v in raw.items()}
        return LoginPolicy(
            max_failed_logins=int(d["max_failed"]),
            lockout_seconds=int(d["lockout"]),
            totp_required=d["totp"] == "1",
        )

    async def put_policy(self, scope: str, policy: LoginPolicy) -> None:
        await self._call(
            self._r.hset(
                policy_key(scope),
                mapping={
                    "max_failed": policy.max_failed_logins,
                    "lockout": policy.lockout_seconds,
                    "totp": int(policy.totp_required),
                },
            )
        )

    # -- API credentials ---------------------------------------------------------------------

    async def index_api_credential(
        self, organisation_id: str, credential_id: str, meta: str
    ) -> None:
        await self._call(self._r.hset(api_index_key(organisation_id), credential_id, meta))

    async def api_credentials(self, organisation_id: str) -> dict[str, str]:
        raw = await self._call(self._r.hgetall(api_index_key(organisation_id)))
        return {k.decode(): v.decode() for k, v in raw.items()}

    async def retire_credential(self, credential_id: str, after_seconds: int) -> None:
        """The credential stops working now (0) or after ``after_seconds``."""
        if after_seconds <= 0:
            await self._call(self._r.delete(credential_key(credential_id)))
        else:
            await self._call(self._r.expire(credential_key(credential_id), after_seconds))
