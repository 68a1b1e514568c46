"""`authority demo` runs the whole scenario against a real server and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
    output = result.stdout + result.stderr
    admin_secret = (data / "admin.credential").read_text().strip().split(".", 1)[1]
    assert admin_secret not in output
    for key_file in (data / "keys").glob("*.json"):
        seed = key_file.read_text().split('"seed": "')[1].split('"')[0]
        assert seed not in output
