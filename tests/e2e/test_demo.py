"""`authority demo` runs the whole scenario against a real server and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from authority.cli.demo import APP_PASSWORD
from tests.security.leaks import find_leaks, secrets_of_data_dir

pytestmark = pytest.mark.slow


def test_demo_passes_and_leaks_no_secrets(tmp_path: Path) -> None:
    data = tmp_path / "demo-data"
    result = subprocess.run(
        [sys.executable, "-m", "authority", "demo", "--data-dir", str(data), "--verbose"],
        capture_output=True, text=True, timeout=120, check=False,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo passed" in result.stdout
    # 10 decisions and log steps, 3 staff logins, 10 at the door, 3 fleet
    assert result.stdout.count("✓") == 26
    assert "delivered to the site owner" in result.stdout
    for seen in ("impostor relay", "replayed", "wrong_audience", "what the relays reported"):
        assert seen in result.stdout
    # Everything printed (the demo's output and the server's logs at INFO) is searched for
    # every secret of the run: key seeds in every encoding, the person-data master key, the TLS
    # private keys, the admin credential, the demo's passwords, and anything credential-shaped
    # (the organisation's API key, the app's session and refresh credentials, ...). The demo
    # shows nothing to its owner on purpose: the allow-list is empty.
    output = result.stdout + result.stderr
    secrets = secrets_of_data_dir(data)
    assert {"admin.credential", "person-master.key"} <= set(secrets)
    assert sum(name.startswith(("signing-", "audit-")) for name in secrets) >= 2
    assert any(name.startswith("tls/") for name in secrets)  # the demo runs over TLS
    secrets["passwords"] = {APP_PASSWORD, "operator's long password", "app password at the door"}
    assert find_leaks(output, secrets, allowed=()) == []
    assert "otpauth://" not in output
