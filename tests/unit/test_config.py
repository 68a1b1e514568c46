"""``Settings``: environment parsing, the plaintext guard, redaction and documentation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from authority.domain.errors import InvalidArgument
from authority.process.config import Secret, Settings

SECRET_SEED = "q83vEjRWeJC8ZNAK8a1nQkHbnRxVbTU5ALWrGtm5Kxk"
SECRET_ADMIN = "adm_abcdefghijkmnpqr.Zm9vYmFyYmF6cXV4cXV1eHF1dXpxdXV6eA"


def test_defaults() -> None:
    s = Settings.load({})
    assert s == Settings()
    assert s.data_dir == Path(".authority")
    assert s.listen_host_port == ("127.0.0.1", 50051)
    assert s.redis_url is None
    assert s.signing_key is None
    assert s.allow_insecure is False
    assert s.tls_enabled is False
    assert s.token_ttl_seconds == 60


def test_environment_is_parsed_by_field_type() -> None:
    s = Settings.load(
        {
            "AUTHORITY_DATA_DIR": "/var/lib/authority",
            "AUTHORITY_LISTEN": "[::1]:6000",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "AUTHORITY_REDIS_APPENDFSYNC": "everysec",
            "AUTHORITY_ISSUER": "authority-test",
            "AUTHORITY_TOKEN_TTL_SECONDS": "120",
            "AUTHORITY_SIGNING_KEY": SECRET_SEED,
            "AUTHORITY_ADMIN_CREDENTIAL": SECRET_ADMIN,
            "AUTHORITY_TLS_CERT_FILE": "/etc/authority/cert.pem",
            "AUTHORITY_TLS_KEY_FILE": "/etc/authority/key.pem",
            "AUTHORITY_ALLOW_INSECURE": "no",
            "AUTHORITY_GRACE_SECONDS": "2.5",
            "AUTHORITY_MAX_MESSAGE_BYTES": "1048576",
            "AUTHORITY_COALESCE_MAX_BATCH": "64",
            "AUTHORITY_LOG_FORMAT": "json",
            "AUTHORITY_LOG_LEVEL": "DEBUG",
            "UNRELATED": "ignored",
        }
    )
    assert s.data_dir == Path("/var/lib/authority")
    assert s.listen_host_port == ("::1", 6000)
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.redis_appendfsync == "everysec"
    assert s.issuer == "authority-test"
    assert s.token_ttl_seconds == 120
    assert isinstance(s.signing_key, Secret)
    assert s.signing_key.reveal() == SECRET_SEED
    assert isinstance(s.admin_credential, Secret)
    assert s.admin_credential.reveal() == SECRET_ADMIN
    assert s.tls_cert_file == Path("/etc/authority/cert.pem")
    assert s.tls_key_file == Path("/etc/authority/key.pem")
    assert s.tls_enabled
    assert s.allow_insecure is False
    assert s.grace_seconds == 2.5
    assert s.max_message_bytes == 1048576
    assert s.coalesce_max_batch == 64
    assert s.log_format == "json"
    assert s.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("raw", "value"),
    [("1", True), ("true", True), ("YES", True), ("On", True),
     ("0", False), ("false", False), ("No", False), ("OFF", False)],
)  # fmt: skip
def test_booleans(raw: str, value: bool) -> None:
    assert Settings.load({"AUTHORITY_ALLOW_INSECURE": raw}).allow_insecure is value


def test_empty_environment_value_means_default() -> None:
    s = Settings.load(
        {"AUTHORITY_TOKEN_TTL_SECONDS": "", "REDIS_URL": "", "AUTHORITY_SIGNING_KEY": ""}
    )
    assert s.token_ttl_seconds == 60
    assert s.redis_url is None
    assert s.signing_key is None


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("AUTHORITY_ALLOW_INSECURE", "maybe"),
        ("AUTHORITY_ALLOW_INSECURE", "2"),
        ("AUTHORITY_TOKEN_TTL_SECONDS", "sixty"),
        ("AUTHORITY_TOKEN_TTL_SECONDS", "60.5"),
        ("AUTHORITY_GRACE_SECONDS", "soon"),
        ("AUTHORITY_MAX_MESSAGE_BYTES", "1MB"),
        ("AUTHORITY_LOG_FORMAT", "xml"),
        ("AUTHORITY_REDIS_APPENDFSYNC", "sometimes"),
    ],
)
def test_unparseable_values_name_the_variable(env: str, value: str) -> None:
    with pytest.raises(InvalidArgument, match=env):
        Settings.load({env: value})


@pytest.mark.parametrize(
    "env",
    [
        {"AUTHORITY_TOKEN_TTL_SECONDS": "4"},
        {"AUTHORITY_TOKEN_TTL_SECONDS": "301"},
        {"AUTHORITY_LOG_LEVEL": "TRACE"},
        {"AUTHORITY_TLS_CERT_FILE": "/c.pem"},
        {"AUTHORITY_TLS_KEY_FILE": "/k.pem"},
        {"AUTHORITY_LISTEN": "127.0.0.1"},
        {"AUTHORITY_LISTEN": "127.0.0.1:"},
        {"AUTHORITY_LISTEN": "127.0.0.1:http"},
        {"AUTHORITY_LISTEN": "127.0.0.1:65536"},
    ],
)
def test_invalid_settings(env: dict[str, str]) -> None:
    with pytest.raises(InvalidArgument):
        Settings.load(env)


def test_ttl_bounds_inclusive() -> None:
    assert Settings.load({"AUTHORITY_TOKEN_TTL_SECONDS": "5"}).token_ttl_seconds == 5
    assert Settings.load({"AUTHORITY_TOKEN_TTL_SECONDS": "300"}).token_ttl_seconds == 300


def test_offline_token_lifetime_is_bounded() -> None:
    assert Settings.load({}).offline_token_ttl_seconds == 12 * 3600
    env = "AUTHORITY_OFFLINE_TOKEN_TTL_SECONDS"
    assert Settings.load({env: "300"}).offline_token_ttl_seconds == 300
    assert Settings.load({env: "604800"}).offline_token_ttl_seconds == 604800
    for bad in ("299", "604801", "0"):
        with pytest.raises(InvalidArgument, match="offline_token_ttl_seconds"):
            Settings.load({env: bad})


def test_overrides_win_over_environment_and_strings_are_parsed() -> None:
    s = Settings.load(
        {"AUTHORITY_TOKEN_TTL_SECONDS": "120", "AUTHORITY_LOG_LEVEL": "DEBUG"},
        token_ttl_seconds="30",
        data_dir="/srv/x",
        allow_insecure="yes",
        listen="0.0.0.0:1",
        log_level=None,  # None means "not given on the command line"
    )
    assert s.token_ttl_seconds == 30
    assert s.data_dir == Path("/srv/x")
    assert s.allow_insecure is True
    assert s.log_level == "DEBUG"
    with pytest.raises(InvalidArgument, match="AUTHORITY_TOKEN_TTL_SECONDS"):
        Settings.load({}, token_ttl_seconds="many")


@pytest.mark.parametrize(
    "listen", ["127.0.0.1:50051", "127.8.9.10:1", "localhost:50051", "[::1]:50051", "::1:50051"]
)
def test_plaintext_allowed_on_loopback(listen: str) -> None:
    assert Settings.load({"AUTHORITY_LISTEN": listen}).tls_enabled is False


@pytest.mark.parametrize(
    "listen",
    ["0.0.0.0:50051", ":50051", "[::]:50051", "10.0.0.5:50051", "authority.example:443",
     "localhost.example.com:1", "127.0.0.1.nip.io:1"],
)  # fmt: skip
def test_plaintext_refused_on_non_loopback(listen: str) -> None:
    with pytest.raises(InvalidArgument, match="refusing plaintext"):
        Settings.load({"AUTHORITY_LISTEN": listen})
    forced = Settings.load({"AUTHORITY_LISTEN": listen, "AUTHORITY_ALLOW_INSECURE": "1"})
    assert forced.allow_insecure
    tls = Settings.load(
        {
            "AUTHORITY_LISTEN": listen,
            "AUTHORITY_TLS_CERT_FILE": "/etc/authority/cert.pem",
            "AUTHORITY_TLS_KEY_FILE": "/etc/authority/key.pem",
        }
    )
    assert tls.tls_enabled


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.listen = "0.0.0.0:1"  # type: ignore[misc]


# -- secrets -------------------------------------------------------------------------------------


def test_secret_never_prints_its_value() -> None:
    secret = Secret(SECRET_SEED)
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", repr([secret])):
        assert SECRET_SEED not in shown
    assert secret.reveal() == SECRET_SEED
    assert secret == Secret(SECRET_SEED)
    assert secret != Secret("other")
    assert secret != SECRET_SEED
    assert hash(secret) == hash(Secret(SECRET_SEED))


def test_redacted_hides_secrets() -> None:
    s = Settings.load(
        {"AUTHORITY_SIGNING_KEY": SECRET_SEED, "AUTHORITY_ADMIN_CREDENTIAL": SECRET_ADMIN}
    )
    out = s.redacted()
    assert set(out) == {f.name for f in dataclasses.fields(Settings)}
    assert out["signing_key"] == "***"
    assert out["admin_credential"] == "***"
    assert out["data_dir"] == ".authority"
    assert out["token_ttl_seconds"] == 60
    for text in (repr(out), str(out), repr(s), str(s)):
        assert SECRET_SEED not in text
        assert SECRET_ADMIN not in text
        assert "Zm9vYmFyYmF6" not in text


def test_redacted_without_secrets_shows_none() -> None:
    out = Settings().redacted()
    assert out["signing_key"] is None
    assert out["admin_credential"] is None


def test_a_bulk_process_needs_the_unlock_processes_redis_and_leaves_shipping_to_them() -> None:
    with pytest.raises(InvalidArgument, match="REDIS_URL"):
        Settings.load({"AUTHORITY_ROLE": "bulk", "AUTHORITY_SHIP_EVENTS": "off"})
    with pytest.raises(InvalidArgument, match="AUTHORITY_SHIP_EVENTS=off"):
        Settings.load({"AUTHORITY_ROLE": "bulk", "REDIS_URL": "redis://r:6379/0"})
    with pytest.raises(InvalidArgument, match="bulk_nice"):
        Settings.load({"AUTHORITY_BULK_NICE": "20"})
    s = Settings.load(
        {"AUTHORITY_ROLE": "bulk", "AUTHORITY_SHIP_EVENTS": "off", "REDIS_URL": "redis://r:6379/0"}
    )
    assert (s.role, s.bulk_nice) == ("bulk", 10)


def test_redacted_hides_a_password_in_the_redis_url() -> None:
    s = Settings.load({"REDIS_URL": "rediss://default:hunter2-redis-pass@redis.internal:6380/0"})
    assert "hunter2-redis-pass" not in repr(s.redacted())


# -- documentation -------------------------------------------------------------------------------


def test_describe_documents_every_field() -> None:
    rows = Settings.describe()
    names = [f.name for f in dataclasses.fields(Settings)]
    assert [r[0] for r in rows] == names
    for name, env, _default, doc in rows:
        assert env, name
        assert doc.strip(), f"{name} has no docstring"
        assert "\n" not in doc
    envs = [r[1] for r in rows]
    assert len(set(envs)) == len(envs)
    by_name = {r[0]: r for r in rows}
    assert by_name["listen"][1:3] == ("AUTHORITY_LISTEN", "127.0.0.1:50051")
    assert by_name["redis_url"][1:3] == ("REDIS_URL", "")
    assert by_name["token_ttl_seconds"][2] == "60"
    assert "Plaintext is refused" in by_name["listen"][3]


def test_every_field_can_be_set_from_its_variable() -> None:
    # Each documented variable really reaches its field.
    samples = {
        "data_dir": "/srv/a",
        "listen": "127.0.0.1:7000",
        "redis_url": "unix:///run/redis.sock",
        "redis_server": "/usr/local/bin/redis-server",
        "redis_appendfsync": "no",
        "issuer": "iss-x",
        "token_ttl_seconds": "77",
        "offline_token_ttl_seconds": "3600",
        "session_ttl_seconds": "600",
        "holder_session_days": "14",
        "staff_session_hours": "8",
        "signing_key": "seed-x",
        "admin_credential": "adm_x.y",
        "tls_cert_file": "/c.pem",
        "tls_key_file": "/k.pem",
        "tls_client_ca_file": "/ca.pem",
        "key_passphrase": "a passphrase",
        "key_passphrase_file": "/run/secrets/keys",
        "mtls_listen": "0.0.0.0:7001",
        "rate_limit_caller": "50",
        "rate_limit_organisation": "500",
        "rate_limit_window_seconds": "60",
        "rate_limit_sync_ms": "250",
        "allow_insecure": "true",
        "grace_seconds": "3.25",
        "max_message_bytes": "4096",
        "access_policy_file": "/etc/authority/access-policy.toml",
        "coalesce_max_batch": "8",
        "coalesce_linger_ms": "2.5",
        "coalesce_linger_from": "4",
        "coalesce_linger_calls": "16",
        "clickhouse_url": "https://ch.internal:8443",
        "event_shards": "8",
        "event_shard": "3",
        "event_max_backlog": "20000",
        "ship_events": "only",
        "person_master_key": "master-x",
        "backup_key": "backup-x",
        "privacy_erasure_delay_days": "30",
        "privacy_sweep_interval_seconds": "86400.5",
        "role": "all",
        "bulk_nice": "5",
        "workers": "0",
        "log_down_seconds": "12.5",
        "log_format": "console",
        "log_level": "ERROR",
    }
    # log_socket is for the embedded chDB, refused beside CLICKHOUSE_URL: set on its own.
    apart = {"log_socket": "/run/authority/log.sock"}
    rows = Settings.describe()
    assert {r[0] for r in rows} == set(samples) | set(apart)
    s = Settings.load({env: samples[name] for name, env, _, _ in rows if name in samples})
    for name, raw in samples.items():
        value = getattr(s, name)
        shown = value.reveal() if isinstance(value, Secret) else value
        assert str(shown).lower() == raw.lower(), name
    envs = {name: env for name, env, _, _ in rows}
    for name, raw in apart.items():
        assert str(getattr(Settings.load({envs[name]: raw}), name)) == raw, name


def test_a_retired_setting_turned_on_stops_the_load() -> None:
    with pytest.raises(InvalidArgument, match="retired"):
        Settings.load({"AUTHORITY_HOLDER_APP_CREDENTIALS": "true"})
    assert Settings.load({"AUTHORITY_HOLDER_APP_CREDENTIALS": "false"}) == Settings()
