"""Explicit lifecycle: build every adapter from ``Settings``, hand out the use cases, close.

``Runtime.open`` is the only place where clients are created (nothing at import time) and the
embedded redis-server is started and stopped by the same object that uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
from authority.api.log_reader import SocketLogClient
from authority.domain.errors import InvalidArgument
from authority.domain.policy import BUILT_IN_POLICY, AccessPolicy
from authority.domain.ports.accesslog import HolderHistory
from authority.domain.ports.accesslog_reader import EventLogReader
from authority.domain.ports.clock import Clock
from authority.process.config import Settings
from authority.usecases.accesslog_queries import AccessLogQueries
from authority.usecases.accounts import Accounts
from authority.usecases.api_credentials import ApiCredentials
from authority.usecases.auth import Authenticator
from authority.usecases.commands import DirectoryCommands, GrantCommands
from authority.usecases.credentials import Principal, Role, digest, new_admin_key
from authority.usecases.epochs import EpochBumps
from authority.usecases.fleet import FleetCommands
from authority.usecases.login_policies import LoginPolicies
from authority.usecases.login_subjects import LoginSubjects
from authority.usecases.owner_requests import OwnerLogRequests
from authority.usecases.privacy import PrivacyCommands
from authority.usecases.ratelimit import RateLimiter, RateLimits
from authority.usecases.relay import RelayReports
from authority.usecases.sessions import Sessions, SessionSettings
from authority.usecases.unlock import UnlockService
from authority.wrappers.coalescing import (
    LoopLoad,
    Quiet,
    SharedRoundTrip,
    SharedSnapshotReader,
)
from authority.wrappers.owner_directory import OwnerIndexedDirectory

log = logging.getLogger(__name__)
ADMIN_CREDENTIAL_FILE = "admin.credential"


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(kw_only=True)
class Runtime:
    settings: Settings
    store: RedisStore
    directory: OwnerIndexedDirectory
    log_client: Any
    """The ClickHouse client (chDB in data_dir/clickhouse, or CLICKHOUSE_URL); ``None`` where
    this process does not hold the log (embedded chDB, shipping off: see ``holds_access_log``)."""
    log_reads: LogClient | None
    """What the log readers query: ``log_client``, or in a process that does not hold the log
    the log process's socket (``log_socket``); ``None``: log reads are refused here."""
    log_socket_source: Any
    """The read-only chDB client that the log socket's queries run on, in the process that holds
    the log with ``log_socket`` set (served by ``server.serve``); else ``None``."""
    shipper: Shipper | None
    """Drains the event buffer into ClickHouse (run by the server's lifecycle); ``None`` with
    ``ship_events`` off."""
    shipper_redis: RedisStore | None
    shipper_sink: ClickHouseSink | None
    access_log_queries: AccessLogQueries
    owner_log_requests: OwnerLogRequests
    keyring: Keyring
    snapshots: SharedSnapshotReader
    unlock: UnlockService
    directory_commands: DirectoryCommands
    grant_commands: GrantCommands
    fleet_commands: FleetCommands
    relay_reports: RelayReports
    authenticator: Authenticator
    limiter: RateLimiter
    """Per caller and organisation; its exchange with Redis runs with the server."""
    accounts: Accounts
    sessions: Sessions
    login_policies: LoginPolicies
    api_credentials: ApiCredentials
    events: RedisEventBuffer
    admin_credential_file: Path | None
    persons: RedisPersonStore
    privacy: PrivacyCommands
    embedded: EmbeddedRedis | None = None

    @classmethod
    async def open(cls, settings: Settings, *, clock: Clock | None = None) -> Runtime:
        """Start or connect every adapter. ``clock`` is for demos and tests (default: system)."""
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
        log_client: Any = None
        log_socket_source: Any = None
        try:
            store = RedisStore.from_url(url)
            directory = OwnerIndexedDirectory(store)
            await directory.load()
            sealer = await asyncio.to_thread(key_sealer, settings)  # Argon2id: ~0.1 s, once
            keyring = _load_keyring(settings, sealer)
            admin_file = await _ensure_admin_credential(settings, store)
            # The access log: this process owns the chDB directory (or talks to CLICKHOUSE_URL),
            # migrates the schema, and serves the log queries, unless it leaves shipping, and
            # with it the embedded chDB, to another process.
            if holds_access_log(settings):
                log_client = await asyncio.to_thread(
                    open_clickhouse, url=settings.clickhouse_url, path=data_dir / "clickhouse"
                )
                await asyncio.to_thread(migrate, log_client)
                if settings.log_socket is not None:  # never with CLICKHOUSE_URL (Settings)
                    log_socket_source = await asyncio.to_thread(
                        open_clickhouse, url=None, path=data_dir / "clickhouse", read_only=True
                    )
            ships = settings.ship_events != "off"
            audit_key = (
                await asyncio.to_thread(load_or_create_audit_key, data_dir / "keys", sealer)
                if ships
                else None
            )
        except BaseException:
            if log_socket_source is not None:
                await asyncio.to_thread(log_socket_source.close)
            if log_client is not None:
                await asyncio.to_thread(log_client.close)
            if embedded is not None:
                await asyncio.to_thread(embedded.stop)
            raise
        clock = clock or SystemClock()
        policy = load_access_policy(settings.access_policy_file)
        person_keys = load_person_keys(settings, sealer)
        persons = RedisPersonStore(store.client, person_keys)
        shard = settings.event_shard
        # The unlock path's one round trip per batch: snapshot reads and event appends together.
        round_trips = SharedRoundTrip(
            store,
            max_batch=settings.coalesce_max_batch,
            linger=settings.coalesce_linger_ms / 1000,
            linger_from=settings.coalesce_linger_from,
            load=LoopLoad(busy=settings.coalesce_linger_busy),
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
        snapshots = SharedSnapshotReader(store, round_trips)
        log_reads: LogClient | None = log_client
        if log_reads is None and settings.log_socket_path is not None:
            log_reads = SocketLogClient(settings.log_socket_path)
        event_log: EventLogReader = (
            ClickHouseEventLog(log_reads) if log_reads is not None else AccessLogNotHere(NOT_HERE)
        )
        epoch_bumps = EpochBumps(directory=store, epochs=store)
        relay_messages = RelayMessages(keyring)
        identity_store = RedisIdentityStore(store)
        login_subjects = LoginSubjects(holders=store, accounts=identity_store)
        login_policies = LoginPolicies(store=identity_store, organisations=store, events=events)
        passwords = Argon2Passwords(totp_key=totp_key(person_keys))
        clickhouse_path = data_dir / "clickhouse"
        history: HolderHistory = (
            ClickHouseHolderHistory(log_reads)
            if log_reads is not None
            else HolderHistoryNotHere(NOT_HERE)
        )
        privacy = PrivacyCommands(
            holders=RedisHolderRecords(store),
            persons=persons,
            ledger=FileErasureLedger.in_data_dir(data_dir),
            history=history,
            sites=store,
            clock=clock,
            events=events,
            epoch_bumps=epoch_bumps,
            erasure_delay=timedelta(days=settings.privacy_erasure_delay_days),
        )
        # A Redis restored from an older copy (or lost) has applied fewer erasures than the
        # ledger holds: erased persons must not come back, so re-apply before serving.
        reapplied = await privacy.reapply_ledger()
        if reapplied:
            log.warning("erasure ledger re-applied", extra={"records": reapplied})
        shipper_redis = shipper_sink = shipper = None
        if audit_key is not None:
            shipper_redis = RedisStore.from_url(url)  # its own connections: 50,000-entry batches
            shipper_sink = ClickHouseSink(
                lambda: open_clickhouse(url=settings.clickhouse_url, path=clickhouse_path)
            )
            shipper = Shipper(
                redis=shipper_redis,
                sink=shipper_sink,
                audit_key=audit_key,
                config=ShipperConfig(shards=settings.event_shards),
            )
        return cls(
            settings=settings,
            store=store,
            log_client=log_client,
            log_reads=log_reads,
            log_socket_source=log_socket_source,
            shipper=shipper,
            shipper_redis=shipper_redis,
            shipper_sink=shipper_sink,
            access_log_queries=AccessLogQueries(
                log=event_log, directory=directory, holders=store, recorder=events, clock=clock
            ),
            owner_log_requests=OwnerLogRequests(
                store=RedisOwnerRequestStore(store.client),
                directory=directory,
                grants=RedisSiteGrants(store.client),
                log=event_log,
                recorder=events,
                clock=clock,
            ),
            directory=directory,
            keyring=keyring,
            snapshots=snapshots,
            unlock=UnlockService(
                directory=directory,
                snapshots=snapshots,
                signer=keyring,
                clock=clock,
                events=events,
                issuer=settings.issuer,
                token_ttl=settings.token_ttl_seconds,
                offline_token_ttl=settings.offline_token_ttl_seconds,
                policy=policy,
                limiter=limiter,
                call_name=UNLOCK_METHOD,
            ),
            directory_commands=DirectoryCommands(
                directory=store,
                holders=store,
                credentials=store,
                clock=clock,
                events=events,
                grants=store,
                device_keys=store,
                epoch_bumps=epoch_bumps,
            ),
            grant_commands=GrantCommands(
                directory=store,
                holders=store,
                grants=store,
                clock=clock,
                events=events,
                epoch_bumps=epoch_bumps,
                policy=policy,
            ),
            fleet_commands=FleetCommands(
                directory=directory,
                versions=store,
                site_doors=directory,
                holders=store,
                store=store,
                clock=clock,
                events=events,
                bulk_events=events.direct(store.bulk_round_trip),
                foreground=Quiet(round_trips),
                epoch_bumps=epoch_bumps,
                policy=policy,
            ),
            relay_reports=RelayReports(
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
            events=events,
            authenticator=Authenticator(
                store,
                store,
                identity_store,
                clock,
                limiter=limiter,
            ),
            limiter=limiter,
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
            admin_credential_file=admin_file,
            persons=persons,
            privacy=privacy,
            embedded=embedded,
        )

    async def close(self) -> None:
        if self.shipper_sink is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.shipper_sink.close)
        if self.shipper_redis is not None:
            with contextlib.suppress(Exception):
                await self.shipper_redis.close()
        if self.log_reads is not None and self.log_reads is not self.log_client:
            with contextlib.suppress(Exception):
                self.log_reads.close()
        if self.log_socket_source is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.log_socket_source.close)
        if self.log_client is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.log_client.close)
        with contextlib.suppress(Exception):
            await self.store.close()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)


NOT_HERE = (
    "this authority process does not serve the access log: it runs with "
    "AUTHORITY_SHIP_EVENTS=off and the embedded chDB, which only the process that ships can "
    "open; ask that process (AUTHORITY_SHIP_EVENTS=on or only), set AUTHORITY_LOG_SOCKET on "
    "both to read it through that process, or set CLICKHOUSE_URL"
)


def holds_access_log(settings: Settings) -> bool:
    """Whether this process opens the access log's store (and serves log queries from it).
    A ClickHouse server takes any number of clients; the embedded chDB directory admits one
    process, which must be the one that ships into it."""
    return bool(settings.clickhouse_url) or settings.ship_events != "off"


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
