"""Explicit wiring: each serving process builds what its role uses, from ``Settings``, and
closes it in reverse order.

``open_process`` is the only place where clients are created (nothing at import time), and the
embedded redis-server is started and stopped by the same code path that uses it. What is built
follows from the process's ``Duties`` (``authority.process.roles``):

* every serving process: the ``ProcessCore`` (Redis, the directory replica, the keys, the admin
  credential, the event buffer, the rate limiter, the authenticator) and the privacy commands
  (the erasure ledger is re-applied before anything is served);
* a process that holds the access log (the log process, a single process that ships, any with
  CLICKHOUSE_URL): the ``HeldAccessLog`` (the ClickHouse client, migrated; the log socket's
  read-only client; the shipper);
* the API of its surface, one builder each: ``build_every_api`` (a worker, or a single process
  serving everything), ``build_access_log_api`` (the log process, or ``ship_events=only``),
  ``build_grant_api`` (a bulk process).

The CLI's one-off operator commands need no process: they use the key-material loaders at the
end of this module (``key_sealer``, ``load_person_keys``, ``_load_keyring``) on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from authority.adapters.clickhouse.audit import load_or_create_audit_key
from authority.adapters.clickhouse.connect import LogClient, open_clickhouse
from authority.adapters.clickhouse.event_reader import AccessLogNotHere, ClickHouseEventLog
from authority.adapters.clickhouse.holder_history import (
    ClickHouseHolderHistory,
    HolderHistoryNotHere,
)
from authority.adapters.clickhouse.schema import migrate
from authority.adapters.clickhouse.shipper import ClickHouseSink, Shipper, ShipperConfig
from authority.adapters.crypto.keyring import Keyring, b64url_decode
from authority.adapters.crypto.passwords import Argon2Passwords
from authority.adapters.crypto.relay_messages import RelayMessages
from authority.adapters.crypto.sealing import KeySealer
from authority.adapters.files.erasure_ledger import FileErasureLedger
from authority.adapters.redis.embedded import EmbeddedRedis
from authority.adapters.redis.event_buffer import RedisEventBuffer
from authority.adapters.redis.identity_store import RedisIdentityStore
from authority.adapters.redis.once_events import RedisOnceEventRecorder
from authority.adapters.redis.owner_request_store import RedisOwnerRequestStore
from authority.adapters.redis.person_store import PersonKeys, RedisHolderRecords, RedisPersonStore
from authority.adapters.redis.ratelimit import RedisRateLimitStore
from authority.adapters.redis.redis_store import RedisStore
from authority.adapters.redis.site_grants import RedisSiteGrants
from authority.api.authz import UNLOCK_METHOD
from authority.api.server import AccessLogApi, EveryApi, GrantApi, IdentityApi, ServedApi
from authority.api.surface import ApiSurface
from authority.domain.credentials import Principal, Role, digest, new_admin_key
from authority.domain.errors import InvalidArgument
from authority.domain.policy import BUILT_IN_POLICY, AccessPolicy
from authority.domain.ports.accesslog import HolderHistory
from authority.domain.ports.accesslog_reader import EventLogReader
from authority.domain.ports.clock import Clock
from authority.process.config import Settings
from authority.process.log_socket import SocketLogClient
from authority.process.roles import Duties
from authority.usecases.accesslog_queries import AccessLogQueries
from authority.usecases.accounts import Accounts
from authority.usecases.api_credentials import ApiCredentials
from authority.usecases.auth import Authenticator
from authority.usecases.directory import DirectoryCommands
from authority.usecases.epochs import EpochBumps
from authority.usecases.fleet import FleetCommands
from authority.usecases.grants import GrantCommands
from authority.usecases.login_policies import LoginPolicies
from authority.usecases.login_subjects import LoginSubjects
from authority.usecases.owner_requests import OwnerLogRequests
from authority.usecases.privacy import PrivacyCommands
from authority.usecases.ratelimit import RateLimiter, RateLimits
from authority.usecases.relay import RelayReports
from authority.usecases.sessions import Sessions, SessionSettings
from authority.usecases.unlock import UnlockService
from authority.wrappers.coalescing import (
    CallsInProgress,
    Quiet,
    SharedRoundTrip,
    SharedSnapshotReader,
)
from authority.wrappers.owner_directory import OwnerIndexedDirectory

log = logging.getLogger(__name__)
ADMIN_CREDENTIAL_FILE = "admin.credential"
NOT_HERE = (
    "this authority process does not serve the access log: it runs with "
    "AUTHORITY_SHIP_EVENTS=off and the embedded chDB, which only the process that ships can "
    "open; ask that process (AUTHORITY_SHIP_EVENTS=on or only), set AUTHORITY_LOG_SOCKET on "
    "both to read it through that process, or set CLICKHOUSE_URL"
)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class ProcessCore:
    """What every serving process opens: Redis (the embedded redis-server when there is no
    REDIS_URL), the directory replica, the key material, and the parts every call goes
    through (the event buffer, the rate limiter, the authenticator)."""

    settings: Settings
    clock: Clock
    embedded: EmbeddedRedis | None
    redis_url: str
    store: RedisStore
    directory: OwnerIndexedDirectory
    sealer: KeySealer | None
    keyring: Keyring
    person_keys: PersonKeys
    persons: RedisPersonStore
    identity_store: RedisIdentityStore
    round_trips: SharedRoundTrip
    """The unlock path's one round trip per batch: snapshot reads and event appends together."""
    unlock_calls: CallsInProgress
    """The unlock calls in progress (counted by the edge): the round trip lingers on it."""
    events: RedisEventBuffer
    limiter: RateLimiter
    """Per caller and organisation; its exchange with Redis runs with the server."""
    authenticator: Authenticator
    epoch_bumps: EpochBumps

    @classmethod
    async def open(
        cls, settings: Settings, closing: contextlib.AsyncExitStack, *, clock: Clock
    ) -> ProcessCore:
        data_dir = settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        embedded: EmbeddedRedis | None = None
        url = settings.redis_url
        if not url:
            embedded = EmbeddedRedis(
                data_dir, binary=settings.redis_server, appendfsync=settings.redis_appendfsync
            )
            # On this (the loop's) thread, not a worker's: PR_SET_PDEATHSIG fires when the
            # *thread* that started the child exits, and a pool thread may exit before we do.
            url = embedded.start()  # blocks the loop ~50 ms, once, before anything is served
            closing.push_async_callback(asyncio.to_thread, embedded.stop)
        store = RedisStore.from_url(url)
        _close_quietly(closing, store.close)
        directory = OwnerIndexedDirectory(store)
        await directory.load()
        sealer = await asyncio.to_thread(key_sealer, settings)  # Argon2id: ~0.1 s, once
        keyring = _load_keyring(settings, sealer)
        await _ensure_admin_credential(settings, store)
        person_keys = load_person_keys(settings, sealer)
        shard = settings.event_shard
        unlock_calls = CallsInProgress(queued_from=settings.coalesce_linger_calls)
        round_trips = SharedRoundTrip(
            store,
            max_batch=settings.coalesce_max_batch,
            linger=settings.coalesce_linger_ms / 1000,
            linger_from=settings.coalesce_linger_from,
            load=unlock_calls,
        )
        events = RedisEventBuffer(
            store,
            shard=os.getpid() % settings.event_shards if shard is None else shard,
            max_backlog=settings.event_max_backlog,
            shared=round_trips,
        )
        limiter = RateLimiter(
            RateLimits(
                caller=settings.rate_limit_caller,
                organisation=settings.rate_limit_organisation,
                window_ms=settings.rate_limit_window_seconds * 1000,
                sync_ms=settings.rate_limit_sync_ms,
            ),
            RedisRateLimitStore(store.client),
            events,
        )
        identity_store = RedisIdentityStore(store)
        return cls(
            settings=settings,
            clock=clock,
            embedded=embedded,
            redis_url=url,
            store=store,
            directory=directory,
            sealer=sealer,
            keyring=keyring,
            person_keys=person_keys,
            persons=RedisPersonStore(store.client, person_keys),
            identity_store=identity_store,
            round_trips=round_trips,
            unlock_calls=unlock_calls,
            events=events,
            limiter=limiter,
            authenticator=Authenticator(store, store, identity_store, clock, limiter=limiter),
            epoch_bumps=EpochBumps(directory=store, epochs=store),
        )


@dataclass(frozen=True, kw_only=True)
class HeldAccessLog:
    """The access log's store, held by this process: the ClickHouse client (chDB in
    data_dir/clickhouse, or CLICKHOUSE_URL) with its schema migrated, and what serves from it."""

    client: LogClient
    socket_source: LogClient | None
    """The read-only chDB client that the log socket's queries run on (``serves_log_socket``;
    served by ``process.serve``); else ``None``."""
    shipper: Shipper | None
    """Drains the event buffer into ClickHouse (run by the server's lifecycle); ``None`` with
    ``ship_events`` off."""

    @classmethod
    async def open(
        cls, core: ProcessCore, duties: Duties, closing: contextlib.AsyncExitStack
    ) -> HeldAccessLog:
        settings = core.settings
        clickhouse_path = settings.data_dir / "clickhouse"
        client = await asyncio.to_thread(
            open_clickhouse, url=settings.clickhouse_url, path=clickhouse_path
        )
        _close_quietly(closing, lambda: asyncio.to_thread(client.close))
        await asyncio.to_thread(migrate, client)
        socket_source = None
        if duties.serves_log_socket:  # never with CLICKHOUSE_URL (Settings)
            socket_source = await asyncio.to_thread(
                open_clickhouse, url=None, path=clickhouse_path, read_only=True
            )
            _close_quietly(closing, lambda: asyncio.to_thread(socket_source.close))
        shipper = None
        if duties.ships:
            audit_key = await asyncio.to_thread(
                load_or_create_audit_key, settings.data_dir / "keys", core.sealer
            )
            shipper_redis = RedisStore.from_url(core.redis_url)  # its own: 50,000-entry batches
            _close_quietly(closing, shipper_redis.close)
            shipper_sink = ClickHouseSink(
                lambda: open_clickhouse(url=settings.clickhouse_url, path=clickhouse_path)
            )
            _close_quietly(closing, lambda: asyncio.to_thread(shipper_sink.close))
            shipper = Shipper(
                redis=shipper_redis,
                sink=shipper_sink,
                audit_key=audit_key,
                config=ShipperConfig(shards=settings.event_shards),
            )
        return cls(client=client, socket_source=socket_source, shipper=shipper)


@dataclass(frozen=True, kw_only=True)
class ServingProcess:
    """What one serving process built for its duties; ``close`` closes it in reverse order."""

    settings: Settings
    duties: Duties
    core: ProcessCore
    access_log: HeldAccessLog | None
    """``None`` where this process does not hold the log (embedded chDB, shipping off)."""
    privacy: PrivacyCommands
    api: ServedApi
    closing: contextlib.AsyncExitStack

    async def close(self) -> None:
        await self.closing.aclose()


async def open_process(
    settings: Settings, duties: Duties, *, clock: Clock | None = None
) -> ServingProcess:
    """Start or connect what ``duties`` need. ``clock`` is for demos and tests (default:
    system)."""
    closing = contextlib.AsyncExitStack()
    try:
        core = await ProcessCore.open(settings, closing, clock=clock or SystemClock())
        held = await HeldAccessLog.open(core, duties, closing) if duties.holds_access_log else None
        log_reads = _log_reads(settings, held, closing)
        privacy = _privacy_commands(core, log_reads)
        # A Redis restored from an older copy (or lost) has applied fewer erasures than the
        # ledger holds: erased persons must not come back, so re-apply before serving.
        reapplied = await privacy.reapply_ledger()
        if reapplied:
            log.warning("erasure ledger re-applied", extra={"records": reapplied})
        api: ServedApi
        match duties.api:
            case ApiSurface.EVERY:
                api = build_every_api(core, privacy, log_reads)
            case ApiSurface.ACCESS_LOG:
                api = build_access_log_api(core, log_reads)
            case ApiSurface.GRANTS:
                api = build_grant_api(core)
    except BaseException:  # what was opened is closed again, in reverse order
        await closing.aclose()
        raise
    return ServingProcess(
        settings=settings,
        duties=duties,
        core=core,
        access_log=held,
        privacy=privacy,
        api=api,
        closing=closing,
    )


def build_every_api(
    core: ProcessCore, privacy: PrivacyCommands, log_reads: LogClient | None
) -> EveryApi:
    """A worker's API (or a single process's that serves everything)."""
    settings, store, clock, events = core.settings, core.store, core.clock, core.events
    policy = load_access_policy(settings.access_policy_file)
    relay_messages = RelayMessages(core.keyring)
    directory_commands = DirectoryCommands(
        directory=store,
        holders=store,
        credentials=store,
        clock=clock,
        events=events,
        grants=store,
        device_keys=store,
        epoch_bumps=core.epoch_bumps,
    )
    return EveryApi(
        unlock_calls=core.unlock_calls,
        unlock=UnlockService(
            directory=core.directory,
            snapshots=SharedSnapshotReader(store, core.round_trips),
            signer=core.keyring,
            clock=clock,
            events=events,
            issuer=settings.issuer,
            token_ttl=settings.token_ttl_seconds,
            offline_token_ttl=settings.offline_token_ttl_seconds,
            policy=policy,
            limiter=core.limiter,
            call_name=UNLOCK_METHOD,
        ),
        directory=directory_commands,
        relays=RelayReports(
            directory=store,
            holders=store,
            verifier=relay_messages,
            notices=relay_messages,
            events=events,
            once=RedisOnceEventRecorder(
                store.client,
                shards=settings.event_shards,
                max_backlog=settings.event_max_backlog,
            ),
            clock=clock,
        ),
        keys=core.keyring,
        identity=_identity_api(core),
        privacy=privacy,
        grants=_grant_api(core, policy),
        access_log=build_access_log_api(core, log_reads),
    )


def _identity_api(core: ProcessCore) -> IdentityApi:
    settings, store, clock, events = core.settings, core.store, core.clock, core.events
    identity_store = core.identity_store
    login_subjects = LoginSubjects(holders=store, accounts=identity_store)
    login_policies = LoginPolicies(store=identity_store, organisations=store, events=events)
    passwords = Argon2Passwords(totp_key=totp_key(core.person_keys))
    return IdentityApi(
        accounts=Accounts(
            accounts=identity_store,
            logins=identity_store,
            sessions=identity_store,
            subjects=login_subjects,
            policies=login_policies,
            organisations=store,
            passwords=passwords,
            events=events,
        ),
        sessions=Sessions(
            logins=identity_store,
            sessions=identity_store,
            subjects=login_subjects,
            policies=login_policies,
            passwords=passwords,
            clock=clock,
            events=events,
            settings=SessionSettings(
                access_ttl=settings.session_ttl_seconds,
                holder_refresh_ttl=settings.holder_session_days * 86400,
                staff_refresh_ttl=settings.staff_session_hours * 3600,
            ),
        ),
        login_policies=login_policies,
        api_credentials=ApiCredentials(
            index=identity_store,
            credentials=store,
            organisations=store,
            clock=clock,
            events=events,
        ),
    )


def build_access_log_api(core: ProcessCore, log_reads: LogClient | None) -> AccessLogApi:
    """The log process's API (or a process's that only ships): queries and owner requests."""
    event_log: EventLogReader = (
        ClickHouseEventLog(log_reads) if log_reads is not None else AccessLogNotHere(NOT_HERE)
    )
    store, directory, clock, events = core.store, core.directory, core.clock, core.events
    return AccessLogApi(
        queries=AccessLogQueries(
            log=event_log, directory=directory, holders=store, recorder=events, clock=clock
        ),
        owner_requests=OwnerLogRequests(
            store=RedisOwnerRequestStore(store.client),
            directory=directory,
            grants=RedisSiteGrants(store.client),
            log=event_log,
            recorder=events,
            clock=clock,
        ),
    )


def build_grant_api(core: ProcessCore) -> GrantApi:
    """A bulk process's API: the grant service alone."""
    return _grant_api(core, load_access_policy(core.settings.access_policy_file))


def _grant_api(core: ProcessCore, policy: AccessPolicy) -> GrantApi:
    store, clock, events = core.store, core.clock, core.events
    return GrantApi(
        grants=GrantCommands(
            directory=store,
            holders=store,
            grants=store,
            clock=clock,
            events=events,
            epoch_bumps=core.epoch_bumps,
            policy=policy,
        ),
        fleet=FleetCommands(
            directory=core.directory,
            versions=store,
            site_doors=core.directory,
            holders=store,
            store=store,
            clock=clock,
            events=events,
            bulk_events=events.direct(store.bulk_round_trip),
            foreground=Quiet(core.round_trips),
            epoch_bumps=core.epoch_bumps,
            policy=policy,
        ),
    )


def _log_reads(
    settings: Settings, held: HeldAccessLog | None, closing: contextlib.AsyncExitStack
) -> LogClient | None:
    """What the log readers query: the held log's client, or in a process that does not hold
    the log the log process's socket (``log_socket``); ``None``: log reads are refused here."""
    if held is not None:
        return held.client
    if settings.log_socket_path is None:
        return None
    client = SocketLogClient(settings.log_socket_path)
    _close_quietly(closing, client.close)
    return client


def _privacy_commands(core: ProcessCore, log_reads: LogClient | None) -> PrivacyCommands:
    history: HolderHistory = (
        ClickHouseHolderHistory(log_reads)
        if log_reads is not None
        else HolderHistoryNotHere(NOT_HERE)
    )
    settings = core.settings
    return PrivacyCommands(
        holders=RedisHolderRecords(core.store),
        persons=core.persons,
        ledger=FileErasureLedger.in_data_dir(settings.data_dir),
        history=history,
        sites=core.store,
        clock=core.clock,
        events=core.events,
        epoch_bumps=core.epoch_bumps,
        erasure_delay=timedelta(days=settings.privacy_erasure_delay_days),
    )


def _close_quietly(closing: contextlib.AsyncExitStack, close: Callable[[], object]) -> None:
    """Close on the way out, after whatever was opened later (``close`` may return an
    awaitable); a close that fails (the peer is gone already) keeps no other from closing."""

    async def quietly() -> None:
        with contextlib.suppress(Exception):
            result = close()
            if inspect.isawaitable(result):
                await result

    closing.push_async_callback(quietly)


def load_access_policy(path: Path | None) -> AccessPolicy:
    """The access policy in force: the operator's file, or the built-in one."""
    if path is None:
        return BUILT_IN_POLICY
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"AUTHORITY_ACCESS_POLICY_FILE {path}: cannot read: {exc}") from exc
    return AccessPolicy.from_toml(text, source=str(path))


def totp_key(keys: PersonKeys) -> bytes:
    """The key that seals staff TOTP secrets in Redis: derived from the person store's master
    key (outside Redis), for this one purpose."""
    return hashlib.blake2b(keys.raw, person=b"totp-secrets", digest_size=32).digest()


def load_person_keys(settings: Settings, sealer: KeySealer | None = None) -> PersonKeys:
    """The person store's master key: from configuration (hosts sharing one Redis), else
    ``<data_dir>/keys/person-master.key`` (sealed with the key passphrase, if one is set)."""
    if settings.person_master_key is not None:
        try:
            return PersonKeys(b64url_decode(settings.person_master_key.reveal()))
        except ValueError as exc:
            raise InvalidArgument("AUTHORITY_PERSON_MASTER_KEY is not base64url") from exc
    return PersonKeys.load_or_create(settings.data_dir / "keys", sealer)


def key_sealer(settings: Settings) -> KeySealer | None:
    """The sealer of data_dir/keys when a key passphrase is configured (derived once)."""
    passphrase: str | None = None
    if settings.key_passphrase is not None:
        passphrase = settings.key_passphrase.reveal()
    elif settings.key_passphrase_file is not None:
        try:
            passphrase = settings.key_passphrase_file.read_text().splitlines()[0]
        except (OSError, IndexError, UnicodeDecodeError) as exc:
            raise InvalidArgument(
                f"AUTHORITY_KEY_PASSPHRASE_FILE {settings.key_passphrase_file}: cannot read a "
                "passphrase from it"
            ) from exc
    if passphrase is None:
        return None
    return KeySealer.for_directory(settings.data_dir / "keys", passphrase)


def _load_keyring(settings: Settings, sealer: KeySealer | None = None) -> Keyring:
    # A retired key stays published for the longest token lifetime plus clock drift.
    grace = max(settings.token_ttl_seconds, settings.offline_token_ttl_seconds) + 300
    if settings.signing_key is not None:
        try:
            seed = b64url_decode(settings.signing_key.reveal())
        except ValueError as exc:
            raise InvalidArgument("AUTHORITY_SIGNING_KEY is not base64url") from exc
        return Keyring.from_seed(seed, publish_retired_for=grace)
    return Keyring.load_or_create(
        settings.data_dir / "keys", publish_retired_for=grace, sealer=sealer
    )


async def _ensure_admin_credential(settings: Settings, store: RedisStore) -> Path | None:
    """Make sure a platform-admin credential exists; return the file that holds it (0600)."""
    if settings.admin_credential is not None:
        credential = settings.admin_credential.reveal()
        path = None
    else:
        path = settings.data_dir / ADMIN_CREDENTIAL_FILE
        if path.exists():
            credential = path.read_text().strip()
        else:
            _, credential, _ = new_admin_key()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(credential + "\n")
    cid, dot, secret = credential.partition(".")
    if not dot or not cid.startswith("adm_"):
        raise InvalidArgument("the admin credential must look like adm_<id>.<secret>")
    principal = Principal(role=Role.ADMIN, credential_id=cid).to_json()
    await store.put_credential(cid, digest(secret), principal)  # idempotent; survives a new Redis
    return path
