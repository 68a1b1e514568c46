"""Key files at rest: 0600 (others' access refused), sealed with a passphrase on request
(`authority keys wrap|unwrap`), a wrong or missing passphrase a clear error at start-up, audit
verification without the passphrase."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from authority.adapters.clickhouse.audit import load_audit_public_keys, load_or_create_audit_key
from authority.adapters.crypto.keyring import Keyring, b64url
from authority.adapters.crypto.sealing import KeySealer
from authority.cli.main import main as authority_main
from authority.domain.errors import FailedPrecondition

PASSPHRASE = "correct horse battery staple"


def _files(keys: Path) -> list[Path]:
    return sorted([*keys.glob("signing-*.json"), *keys.glob("audit-*.json")])


def test_wrap_and_unwrap_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = tmp_path / "keys"
    ring = Keyring.load_or_create(keys, publish_retired_for=60)
    audit = load_or_create_audit_key(keys)
    seeds = {b64url(bytes(ring.active.private)), b64url(bytes(audit.signing_key.private))}
    assert all(json.loads(p.read_text()).get("seed") in seeds for p in _files(keys))

    monkeypatch.setenv("AUTHORITY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AUTHORITY_KEY_PASSPHRASE", PASSPHRASE)
    assert authority_main(["keys", "wrap"]) == 0
    for path in _files(keys):
        text = path.read_text()
        assert 'seed"' not in text.replace("sealed_seed", "")
        assert not any(seed in text for seed in seeds)
        assert (path.stat().st_mode & 0o777) == 0o600
    # Sealed keys open with the passphrase and are the same keys.
    sealer = KeySealer.for_directory(keys, PASSPHRASE)
    again = Keyring.load_or_create(keys, publish_retired_for=60, sealer=sealer)
    assert again.active.kid == ring.active.kid
    assert load_or_create_audit_key(keys, sealer).kid == audit.kid
    # Verifying the audit chain needs only the public keys: no passphrase.
    assert list(load_audit_public_keys(keys)) == [audit.kid]
    # Rotation under a sealer writes sealed files.
    again.rotate(now=2_000_000_000)
    assert all("sealed_seed" in json.loads(p.read_text()) for p in _files(keys))

    assert authority_main(["keys", "unwrap"]) == 0
    assert all("seed" in json.loads(p.read_text()) for p in _files(keys))
    assert Keyring.load_or_create(keys, publish_retired_for=60).active.kid == again.active.kid


def test_missing_or_wrong_passphrase_is_a_clear_error(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    sealer = KeySealer.for_directory(keys, PASSPHRASE)
    Keyring.load_or_create(keys, publish_retired_for=60, sealer=sealer)
    with pytest.raises(FailedPrecondition, match="AUTHORITY_KEY_PASSPHRASE"):
        Keyring.load_or_create(keys, publish_retired_for=60)
    with pytest.raises(FailedPrecondition, match="wrong key passphrase"):
        KeySealer.for_directory(keys, "not it")


def test_server_refuses_to_start_with_a_wrong_passphrase(tmp_path: Path) -> None:
    keys = tmp_path / "data" / "keys"
    Keyring.load_or_create(
        keys, publish_retired_for=60, sealer=KeySealer.for_directory(keys, PASSPHRASE)
    )
    env = {**os.environ, "AUTHORITY_KEY_PASSPHRASE": "guess", "PYTHONPATH": os.getcwd()}
    env.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "authority", "serve", "--data-dir", str(tmp_path / "data"),
         "--listen", "127.0.0.1:0"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "wrong key passphrase" in done.stderr
    assert "guess" not in done.stdout + done.stderr


def test_key_files_readable_by_others_are_refused(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    Keyring.load_or_create(keys, publish_retired_for=60)
    (path,) = keys.glob("signing-*.json")
    path.chmod(0o644)
    with pytest.raises(FailedPrecondition, match="chmod 600"):
        Keyring.load_or_create(keys, publish_retired_for=60)
    path.chmod(0o600)
    assert Keyring.load_or_create(keys, publish_retired_for=60).active is not None


def test_the_passphrase_is_never_shown_by_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTHORITY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AUTHORITY_KEY_PASSPHRASE", PASSPHRASE)
    for argv in (["config", "--json"], ["config"]):
        assert authority_main(argv) == 0
        out = capsys.readouterr().out
        assert PASSPHRASE not in out
        assert "staple" not in out
    assert authority_main(["config", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["key_passphrase"] == "***"
