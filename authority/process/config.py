"""One typed, frozen settings object, read once at start-up from the environment and the CLI.

Every field has a docstring; ``authority config`` prints them with secrets redacted. Nothing else
in the code base reads ``os.environ``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

from authority.domain.errors import InvalidArgument
from authority.domain.privacy import MAX_ERASURE_DELAY_DAYS


class Secret:
    """A value that must never be printed or logged."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


LogFormat = Literal["auto", "json", "console"]
FsyncPolicy = Literal["always", "everysec", "no"]
ShipEvents = Literal["on", "off", "only"]
ServeRole = Literal["all", "bulk"]
MAX_UNIX_SOCKET_PATH = 107
"""sun_path holds 108 bytes, one of them the terminating NUL."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    data_dir: Path = field(default=Path(".authority"), metadata={"env": "AUTHORITY_DATA_DIR"})
    """Where the authority keeps its signing keys, admin credential and embedded redis-server."""

    listen: str = field(default="127.0.0.1:50051", metadata={"env": "AUTHORITY_LISTEN"})
    """host:port of the gRPC server. Plaintext is refused on non-loopback addresses."""

    redis_url: str | None = field(default=None, metadata={"env": "REDIS_URL"})
    """External Redis (redis://, rediss://, unix://, redis+cluster://). Empty: embedded server."""

    redis_server: str = field(default="redis-server", metadata={"env": "AUTHORITY_REDIS_SERVER"})
    """The redis-server binary for the embedded default."""

    redis_appendfsync: FsyncPolicy = field(
        default="always", metadata={"env": "AUTHORITY_REDIS_APPENDFSYNC"}
    )
    """AOF fsync policy of the embedded redis-server ('always': acked writes survive a crash)."""

    issuer: str = field(default="authority", metadata={"env": "AUTHORITY_ISSUER"})
    """The ``iss`` claim of unlock tokens; relays may pin it."""

    token_ttl_seconds: int = field(default=60, metadata={"env": "AUTHORITY_TOKEN_TTL_SECONDS"})
    """Lifetime of an unlock token (``exp - iat``), 5-300 seconds."""

    offline_token_ttl_seconds: int = field(
        default=12 * 3600, metadata={"env": "AUTHORITY_OFFLINE_TOKEN_TTL_SECONDS"}
    )
    """Longest lifetime of an offline token (offline sites only), 300-604800 seconds; never past
    the grant's end or its schedule window. Revocation reaches a relay nobody visits within it."""

    session_ttl_seconds: int = field(default=900, metadata={"env": "AUTHORITY_SESSION_TTL_SECONDS"})
    """Lifetime of a login session's access credential (apps and staff), 60-3600 seconds;
    renewed with the session's refresh credential."""

    holder_session_days: int = field(default=30, metadata={"env": "AUTHORITY_HOLDER_SESSION_DAYS"})
    """An app's login session ends after this many days without renewal (1-365)."""

    staff_session_hours: int = field(default=12, metadata={"env": "AUTHORITY_STAFF_SESSION_HOURS"})
    """A staff login session ends after this many hours without renewal (1-168)."""

    signing_key: Secret | None = field(default=None, metadata={"env": "AUTHORITY_SIGNING_KEY"})
    """Base64url Ed25519 seed shared by several hosts; empty: keys generated in data_dir/keys."""

    admin_credential: Secret | None = field(
        default=None, metadata={"env": "AUTHORITY_ADMIN_CREDENTIAL"}
    )
    """A platform-admin credential to accept (adm_….secret); empty: one is created in data_dir."""

    key_passphrase: Secret | None = field(
        default=None, metadata={"env": "AUTHORITY_KEY_PASSPHRASE"}
    )
    """Seals the signing and audit key files in data_dir/keys (Argon2id + SecretBox); needed at
    every start once they are sealed (`authority keys wrap`). Empty: key files are plain 0600."""

    key_passphrase_file: Path | None = field(
        default=None, metadata={"env": "AUTHORITY_KEY_PASSPHRASE_FILE"}
    )
    """A file holding the key passphrase (first line), e.g. a secrets mount; key_passphrase wins
    when both are set."""

    tls_cert_file: Path | None = field(default=None, metadata={"env": "AUTHORITY_TLS_CERT_FILE"})
    """PEM server certificate (chain). With tls_key_file, the server speaks TLS only."""

    tls_key_file: Path | None = field(default=None, metadata={"env": "AUTHORITY_TLS_KEY_FILE"})
    """PEM private key of the server certificate."""

    tls_client_ca_file: Path | None = field(
        default=None, metadata={"env": "AUTHORITY_TLS_CLIENT_CA_FILE"}
    )
    """PEM CA of client certificates (mTLS for partners and bridges). Without mtls_listen the
    main listener requires a client certificate; with it, only that listener does."""

    mtls_listen: str | None = field(default=None, metadata={"env": "AUTHORITY_MTLS_LISTEN"})
    """host:port of a second listener that requires client certificates (partners, bridges),
    while phones use the TLS-only listen address. Empty: none."""

    allow_insecure: bool = field(default=False, metadata={"env": "AUTHORITY_ALLOW_INSECURE"})
    """Force plaintext on a non-loopback address (never in production)."""

    grace_seconds: float = field(default=10.0, metadata={"env": "AUTHORITY_GRACE_SECONDS"})
    """On SIGTERM: how long in-flight calls may finish after health turns NOT_SERVING."""

    max_message_bytes: int = field(
        default=256 * 1024, metadata={"env": "AUTHORITY_MAX_MESSAGE_BYTES"}
    )
    """Largest gRPC message accepted or sent."""

    access_policy_file: Path | None = field(
        default=None, metadata={"env": "AUTHORITY_ACCESS_POLICY_FILE"}
    )
    """The operator's access policy, TOML: per purpose the targets, longest validity and weekly
    windows grants may have (config/access-policy.toml). Empty: built in (validity, targets)."""

    rate_limit_caller: int = field(default=3000, metadata={"env": "AUTHORITY_RATE_LIMIT_CALLER"})
    """Calls one caller credential may make per rate-limit window, across all processes (0: no
    limit); more are RESOURCE_EXHAUSTED with trailing metadata retry-after-ms."""

    rate_limit_organisation: int = field(
        default=100_000, metadata={"env": "AUTHORITY_RATE_LIMIT_ORGANISATION"}
    )
    """Calls all callers of one organisation may make per window together (0: no limit). Calls
    refused by a caller's own limit do not count, so one client cannot starve the others."""

    rate_limit_window_seconds: int = field(
        default=10, metadata={"env": "AUTHORITY_RATE_LIMIT_WINDOW_SECONDS"}
    )
    """The sliding window of the rate limits, 1-3600 seconds."""

    rate_limit_sync_ms: int = field(default=100, metadata={"env": "AUTHORITY_RATE_LIMIT_SYNC_MS"})
    """How often a process exchanges its counts with Redis (one round trip for all callers),
    10-5000 ms; processes may together overshoot a limit by what they admit in this time."""

    coalesce_max_batch: int = field(default=512, metadata={"env": "AUTHORITY_COALESCE_MAX_BATCH"})
    """Most unlock lookups and event appends coalesced into one Redis pipeline."""

    coalesce_linger_ms: float = field(default=2.0, metadata={"env": "AUTHORITY_COALESCE_LINGER_MS"})
    """Most time an unlock batch waits for more calls after the previous batch left, 0-20 ms;
    it waits only while calls queue (coalesce_linger_calls, coalesce_linger_from), never at low
    load."""

    coalesce_linger_from: int = field(default=2, metadata={"env": "AUTHORITY_COALESCE_LINGER_FROM"})
    """Batch size from which the next unlock batch lingers (1-coalesce_max_batch; 2: whenever
    calls arrived during the previous round trip, a sign of load)."""

    coalesce_linger_calls: int = field(
        default=12, metadata={"env": "AUTHORITY_COALESCE_LINGER_CALLS"}
    )
    """Unlock calls in progress on a worker from which its batches linger, 0-100000 (0:
    whenever coalesce_linger_from says so): that many at once means calls are queueing (most
    of a worker's queue waits inside grpc, uncounted), and each waits longer than the linger."""

    clickhouse_url: str | None = field(default=None, metadata={"env": "CLICKHOUSE_URL"})
    """ClickHouse server for the access log (http(s)://…). Empty: embedded chDB in data_dir."""

    event_shards: int = field(default=4, metadata={"env": "AUTHORITY_EVENT_SHARDS"})
    """Access-log buffer streams (each one hash chain); all processes must agree."""

    event_shard: int | None = field(default=None, metadata={"env": "AUTHORITY_EVENT_SHARD"})
    """The buffer stream this process appends to; empty: process id modulo event_shards."""

    event_max_backlog: int = field(
        default=5_000_000, metadata={"env": "AUTHORITY_EVENT_MAX_BACKLOG"}
    )
    """Unshipped events per stream before the authority refuses to act (fails closed)."""

    ship_events: ShipEvents = field(default="on", metadata={"env": "AUTHORITY_SHIP_EVENTS"})
    """'on': serve and ship the access log; 'off': serve, leave shipping to another process (with
    the embedded chDB, which that process owns, log queries are answered there, not here);
    'only': ship and serve log queries, no unlocks (needs REDIS_URL)."""

    log_socket: Path | None = field(default=None, metadata={"env": "AUTHORITY_LOG_SOCKET"})
    """A unix socket for access-log reads between processes on one host, with the embedded chDB
    (relative: inside data_dir). The process that holds the log (ship_events 'on' or 'only')
    also serves log reads on it (mode 0600, removed on stop); a process with ship_events 'off'
    reads the log through it instead of refusing. Empty: none. Not with CLICKHOUSE_URL (every
    process then reads the server itself)."""

    person_master_key: Secret | None = field(
        default=None, metadata={"env": "AUTHORITY_PERSON_MASTER_KEY"}
    )
    """Base64url 32-byte key wrapping every person's data key, shared by hosts on one Redis;
    empty: generated in data_dir/keys/person-master.key (0600)."""

    backup_key: Secret | None = field(default=None, metadata={"env": "AUTHORITY_BACKUP_KEY"})
    """Base64url 32-byte key encrypting the keys inside backup archives (to restore on another
    host); empty: data_dir/backup.key (0600), made on the first backup. Never in an archive."""

    privacy_erasure_delay_days: int = field(
        default=0, metadata={"env": "AUTHORITY_PRIVACY_ERASURE_DELAY_DAYS"}
    )
    """Days between an erasure request and the erasure, 0-30 (0: at once)."""

    privacy_sweep_interval_seconds: float = field(
        default=3600.0, metadata={"env": "AUTHORITY_PRIVACY_SWEEP_INTERVAL_SECONDS"}
    )
    """How often the server runs the privacy job (due erasures, the one-year rule); 0: never
    (run ``authority privacy sweep`` from a scheduler instead). One process at a time (a lease)."""

    role: ServeRole = field(default="all", metadata={"env": "AUTHORITY_ROLE"})
    """'all': every service; 'bulk': only the grant service (bulk issuance and the other fleet
    calls) at a lower CPU priority (``bulk_nice``), so that imports sent here never hold up the
    unlock decisions of the 'all' processes on the same Redis (needs REDIS_URL)."""

    bulk_nice: int = field(default=10, metadata={"env": "AUTHORITY_BULK_NICE"})
    """With role 'bulk': how far the process lowers its CPU priority (nice increment, 0-19)."""

    workers: int | None = field(default=None, metadata={"env": "AUTHORITY_WORKERS"})
    """Worker processes ``authority serve`` runs behind a supervisor, all on the listen port
    (SO_REUSEPORT), beside one log process that ships the access log; empty: one per CPU (with
    role 'all' and ship_events 'on'; otherwise 0); 0: one process doing everything."""

    log_down_seconds: float = field(default=30.0, metadata={"env": "AUTHORITY_LOG_DOWN_SECONDS"})
    """With workers: how long the log process may be down (crashed, restarting) before every
    worker reports NOT_SERVING; unlocks keep working meanwhile, their events wait in Redis."""

    log_format: LogFormat = field(default="auto", metadata={"env": "AUTHORITY_LOG_FORMAT"})
    """'json' (one object per line), 'console', or 'auto' (console on a terminal, else json)."""

    log_level: str = field(default="INFO", metadata={"env": "AUTHORITY_LOG_LEVEL"})
    """DEBUG, INFO, WARNING or ERROR."""

    def __post_init__(self) -> None:
        if not 5 <= self.token_ttl_seconds <= 300:
            raise InvalidArgument("token_ttl_seconds must be 5-300")
        if not 300 <= self.offline_token_ttl_seconds <= 7 * 86400:
            raise InvalidArgument("offline_token_ttl_seconds must be 300-604800 (7 days)")
        if not 60 <= self.session_ttl_seconds <= 3600:
            raise InvalidArgument("session_ttl_seconds must be 60-3600")
        if not 1 <= self.holder_session_days <= 365:
            raise InvalidArgument("holder_session_days must be 1-365")
        if not 1 <= self.staff_session_hours <= 168:
            raise InvalidArgument("staff_session_hours must be 1-168")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise InvalidArgument("log_level must be DEBUG, INFO, WARNING or ERROR")
        if not 1 <= self.event_shards <= 256:
            raise InvalidArgument("event_shards must be 1-256")
        if self.event_shard is not None and not 0 <= self.event_shard < self.event_shards:
            raise InvalidArgument("event_shard must be 0 .. event_shards-1")
        if self.event_max_backlog < 1:
            raise InvalidArgument("event_max_backlog must be at least 1")
        if self.ship_events == "only" and not self.redis_url:
            raise InvalidArgument(
                "AUTHORITY_SHIP_EVENTS=only ships the events other processes append to their "
                "Redis: set REDIS_URL to it (e.g. unix://<their data_dir>/redis/redis.sock)"
            )
        if self.log_socket is not None:
            if self.clickhouse_url:
                raise InvalidArgument(
                    "AUTHORITY_LOG_SOCKET carries the embedded chDB's log reads to processes "
                    "that cannot open it; with CLICKHOUSE_URL every process reads the server "
                    "itself: unset one of them"
                )
            socket_path = self.data_dir / self.log_socket
            if len(os.fsencode(socket_path)) > MAX_UNIX_SOCKET_PATH:
                raise InvalidArgument(
                    f"AUTHORITY_LOG_SOCKET {socket_path} is longer than a unix socket "
                    f"path may be ({MAX_UNIX_SOCKET_PATH} bytes): choose a shorter path"
                )
        if not 0 <= self.privacy_erasure_delay_days <= MAX_ERASURE_DELAY_DAYS:
            raise InvalidArgument(
                f"privacy_erasure_delay_days must be 0-{MAX_ERASURE_DELAY_DAYS}: an erasure "
                "request completes within a month"
            )
        if self.privacy_sweep_interval_seconds < 0:
            raise InvalidArgument("privacy_sweep_interval_seconds must be 0 or more")
        if self.role == "bulk" and (not self.redis_url or self.ship_events != "off"):
            raise InvalidArgument(
                "AUTHORITY_ROLE=bulk serves imports beside the unlock processes: set REDIS_URL "
                "to their Redis (e.g. unix://<their data_dir>/redis/redis.sock) and "
                "AUTHORITY_SHIP_EVENTS=off (their shipper ships this process's events too)"
            )
        if not 0 <= self.bulk_nice <= 19:
            raise InvalidArgument("bulk_nice must be 0-19")
        if self.workers is not None and not 0 <= self.workers <= 256:
            raise InvalidArgument("workers must be 0-256 (0: one process doing everything)")
        if self.workers and (self.role != "all" or self.ship_events != "on"):
            raise InvalidArgument(
                "AUTHORITY_WORKERS runs the whole authority (role 'all', ship_events 'on') as "
                "workers and a log process; a process of another role or shipping setting is "
                "one process: set AUTHORITY_WORKERS=0"
            )
        if self.log_down_seconds <= 0:
            raise InvalidArgument("log_down_seconds must be positive")
        if self.rate_limit_caller < 0 or self.rate_limit_organisation < 0:
            raise InvalidArgument("rate limits must be 0 (none) or positive")
        if not 1 <= self.rate_limit_window_seconds <= 3600:
            raise InvalidArgument("rate_limit_window_seconds must be 1-3600")
        if not 10 <= self.rate_limit_sync_ms <= 5000:
            raise InvalidArgument("rate_limit_sync_ms must be 10-5000")
        if not 0 <= self.coalesce_linger_ms <= 20:
            raise InvalidArgument("coalesce_linger_ms must be 0-20")
        if not 0 <= self.coalesce_linger_calls <= 100_000:
            raise InvalidArgument("coalesce_linger_calls must be 0-100000")
        if not 1 <= self.coalesce_linger_from <= self.coalesce_max_batch:
            raise InvalidArgument("coalesce_linger_from must be 1 .. coalesce_max_batch")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise InvalidArgument("give both tls_cert_file and tls_key_file, or neither")
        if self.tls_client_ca_file is not None and not self.tls_enabled:
            raise InvalidArgument("tls_client_ca_file (mTLS) needs tls_cert_file and tls_key_file")
        if self.mtls_listen and self.tls_client_ca_file is None:
            raise InvalidArgument(
                "mtls_listen needs tls_client_ca_file (the client certificates' CA)"
            )
        host, port = self.listen_host_port
        if not 0 <= port <= 65535:
            raise InvalidArgument(f"listen port {port} is out of range")
        if not self.tls_enabled and not self.allow_insecure and not _is_loopback(host):
            raise InvalidArgument(
                f"refusing plaintext gRPC on non-loopback address {host}: configure "
                "AUTHORITY_TLS_CERT_FILE/KEY_FILE, or set AUTHORITY_ALLOW_INSECURE=1 to force"
            )

    @property
    def tls_enabled(self) -> bool:
        return self.tls_cert_file is not None

    @property
    def log_socket_path(self) -> Path | None:
        """``log_socket`` as the path to bind or connect (relative ones inside data_dir)."""
        if self.log_socket is None:
            return None
        return self.data_dir / self.log_socket  # an absolute log_socket stays as it is

    @property
    def mtls_enabled(self) -> bool:
        """Whether some listener asks callers for client certificates."""
        return self.tls_client_ca_file is not None

    @property
    def listen_host_port(self) -> tuple[str, int]:
        host, sep, port = self.listen.rpartition(":")
        if not sep or not port.isdigit():
            raise InvalidArgument(f"listen must be host:port; got {self.listen!r}")
        return host.strip("[]"), int(port)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Environment first, then explicit overrides (the CLI's flags); validated."""
        env = os.environ if environ is None else environ
        for name, why in RETIRED_ENVIRONMENT.items():
            if env.get(name, "").lower() in ("1", "true", "yes", "on"):
                raise InvalidArgument(f"{name} is retired: {why}")
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"])
            if raw is not None and raw != "":
                values[f.name] = _parse(f, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        for f in fields(cls):
            if f.name in values and isinstance(values[f.name], str):
                values[f.name] = _parse(f, values[f.name])
        return cls(**values)

    def environment(self) -> dict[str, str]:
        """The inverse of ``load``: every field that is set, as its environment variable (secrets
        revealed: for handing these settings to a child process, never for printing)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, Secret):
                out[f.metadata["env"]] = value.reveal()
            elif isinstance(value, bool):
                out[f.metadata["env"]] = "true" if value else "false"
            else:
                out[f.metadata["env"]] = str(value)
        return out

    def redacted(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Secret):
                value = "***"
            elif isinstance(value, str) and "://" in value:
                value = redact_url(value)
            elif isinstance(value, Path):
                value = str(value)
            out[f.name] = value
        return out

    @staticmethod
    def describe() -> list[tuple[str, str, str, str]]:
        """(field, environment variable, default, help) for docs and ``authority config``."""
        docs = _field_docs()
        rows = []
        for f in fields(Settings):
            default = f.default if f.default is not dataclasses.MISSING else ""
            rows.append(
                (
                    f.name,
                    f.metadata["env"],
                    "" if default is None else str(default),
                    docs.get(f.name, ""),
                )
            )
        return rows


def redact_url(url: str) -> str:
    """``rediss://user:pw@host/0`` -> ``rediss://user:***@host/0`` (URLs carry Redis AUTH)."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    if not sep or not at:
        return url
    user, colon, _ = userinfo.partition(":")
    return (
        f"{scheme}://{user}{':***' if colon else ''}@{hostpart}"
        if colon
        else f"{scheme}://***@{hostpart}"
    )


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


RETIRED_ENVIRONMENT = {
    "AUTHORITY_HOLDER_APP_CREDENTIALS": (
        "long-lived app credentials are no longer issued or accepted; apps log in "
        "(IdentityService.Login) for short-lived sessions"
    ),
}
"""Settings that are gone. Turned on, they stop the server: what they asked for no longer
exists, and starting without it would fail every call of the integrations that relied on it."""


def _parse(f: dataclasses.Field[Any], raw: str) -> Any:
    kind = str(f.type)
    try:
        if "Secret" in kind:
            return Secret(raw)
        if "Path" in kind:
            return Path(raw)
        if kind == "bool":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind in ("int", "int | None"):
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind in ("LogFormat", "FsyncPolicy", "ShipEvents"):
            allowed = get_args(
                {"LogFormat": LogFormat, "FsyncPolicy": FsyncPolicy, "ShipEvents": ShipEvents}[kind]
            )
            if raw not in allowed:
                raise ValueError(raw)
            return raw
    except ValueError as exc:
        raise InvalidArgument(f"{f.metadata['env']}={raw[:40]!r} is not a valid {kind}") from exc
    return raw


def _field_docs() -> dict[str, str]:
    """Field docstrings, read from this module's source (kept next to the fields they explain)."""
    import ast  # noqa: PLC0415 - only for `authority config --help`-style output
    import inspect  # noqa: PLC0415

    tree = ast.parse(inspect.getsource(Settings))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for prev, node in itertools.pairwise(body):
        if (
            isinstance(prev, ast.AnnAssign)
            and isinstance(prev.target, ast.Name)
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
        ):
            docs[prev.target.id] = " ".join(str(node.value.value).split())
    return docs
