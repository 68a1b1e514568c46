"""``relay-bridge`` commands against a real authority, with emulated relays in-process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from authority.v1 import authority_pb2 as pb
from relay_bridge.cli import main
from tests.conftest import ServerHandle


def world(server: ServerHandle, tmp_path: Path, *, door_id: str, relay_id: str) -> tuple[str, Path]:
    """An approved organisation, a site with one door, a holder with a site grant; returns the
    holder's credential and the authority's JWK Set written to a file."""
    admin = server.admin
    created = admin.create_organisation(name="Bring", cvr="25680839", purpose=pb.PURPOSE_POSTAL)
    admin.set_organisation_status(
        created.organisation.organisation_id, pb.ORGANISATION_STATUS_APPROVED
    )
    org = admin.with_credential(created.api_credential)
    site = admin.create_site(address="Vesterbrogade 9", owner_id="owner-9")
    admin.create_door(door_id=door_id, site_id=site.site_id, relay_id=relay_id)
    holder = org.create_key_holder()
    org.issue_grant(
        key_holder_id=holder.key_holder.key_holder_id,
        site_id=site.site_id,
        valid_until=datetime.now(UTC) + timedelta(days=1),
    )
    keys = tmp_path / "jwks.json"
    keys.write_text(admin.verification_keys().jwks_json)
    app = org.app_login(holder.key_holder.key_holder_id, "the holder's app password")
    return app.access_credential, keys


def test_emulate_register_open_scan(
    server: ServerHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = server.admin
    holder_credential, keys = world(server, tmp_path, door_id="d-1", relay_id="r-1")
    state = tmp_path / "relays.json"

    assert main(["emulate", "--keys", str(keys), "--relay", "r-1=d-1", "--state", str(state),
                 "--seconds", "0"]) == 0  # fmt: skip
    assert state.stat().st_mode & 0o077 == 0  # private keys: owner only
    assert main(["emulate", "--keys", str(keys), "--relay", "r-1=d-1", "--state", str(state),
                 "--seconds", "0"]) == 2  # fmt: skip
    capsys.readouterr()
    assert main(["registry", "--state", str(state), "--json"]) == 0
    registry = json.loads(capsys.readouterr().out)
    assert [(e["door_id"], e["relay_id"]) for e in registry] == [("d-1", "r-1")]

    assert main(["register", "--state", str(state), "--authority", server.target,
                 "--credential", server.admin_credential]) == 0  # fmt: skip
    door = admin._call(admin.directory.GetDoor, pb.GetDoorRequest(door_id="d-1"))
    assert door.relay_public_key.hex() == registry[0]["public_key"]
    capsys.readouterr()

    argv = ["open", "--authority", server.target, "--credential", holder_credential,
            "--door", "d-1", "--emulated", str(state), "--keys", str(keys), "--json"]  # fmt: skip
    assert main(argv) == 0
    [outcome] = json.loads(capsys.readouterr().out)
    assert (outcome["status"], outcome["reported"]) == ("opened", True)

    argv[argv.index("d-1")] = "d-unknown"
    assert main(argv) == 1
    assert json.loads(capsys.readouterr().out)[0]["status"] == "unknown_door"

    assert main(["scan", "--emulated", str(state), "--keys", str(keys), "--json",
                 "--seconds", "0.2"]) == 0  # fmt: skip
    assert [d["name"] for d in json.loads(capsys.readouterr().out)] == ["SmartRelay-r-1"]

    # an operator mistake is a clear error, not a traceback
    assert main(["register", "--state", str(state), "--authority", server.target,
                 "--credential", holder_credential]) == 1  # fmt: skip
    assert "PERMISSION_DENIED" in capsys.readouterr().err
    assert main(["registry", "--state", str(tmp_path / "missing.json")]) == 2
    many = tmp_path / "many.json"
    assert main(["emulate", "--keys", str(keys), "--relay-id", "a", "--relay-id", "b=door-b",
                 "--state", str(many), "--seconds", "0"]) == 0  # fmt: skip
    assert main(["emulate", "--keys", str(keys), "--relay", "=x", "--state", str(many),
                 "--force", "--seconds", "0"]) == 2  # fmt: skip
    capsys.readouterr()
    assert main(["registry", "--state", str(many), "--json"]) == 0
    pairs = [(e["relay_id"], e["door_id"]) for e in json.loads(capsys.readouterr().out)]
    assert pairs == [("a", "a"), ("b", "door-b")]


def test_bridge_in_another_process_than_the_relays(
    server: ServerHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`relay-bridge emulate --centrals 1` in one process (the building's relays on a virtual
    air), `relay-bridge open --central …` in another (the bridge), over HCI on TCP."""
    holder_credential, keys = world(server, tmp_path, door_id="d-2", relay_id="r-2")
    state, centrals = tmp_path / "relays.json", tmp_path / "centrals.json"
    relays = subprocess.Popen(
        [sys.executable, "-m", "relay_bridge.cli", "emulate", "--keys", str(keys),
         "--relay", "r-2=d-2", "--state", str(state), "--centrals", "1",
         "--centrals-file", str(centrals)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not centrals.exists():
            assert relays.poll() is None, relays.stdout.read() if relays.stdout else ""
            assert time.monotonic() < deadline, "emulate did not publish its central"
            time.sleep(0.05)
        [central] = json.loads(centrals.read_text())
        assert main(["register", "--state", str(state), "--authority", server.target,
                     "--credential", server.admin_credential]) == 0  # fmt: skip
        registry = tmp_path / "registry.json"
        capsys.readouterr()
        assert main(["registry", "--state", str(state), "--json"]) == 0
        registry.write_text(capsys.readouterr().out)
        argv = ["open", "--authority", server.target, "--credential", holder_credential,
                "--door", "d-2", "--registry", str(registry), "--central", central,
                "--json"]  # fmt: skip
        assert main(argv) == 0
        [outcome] = json.loads(capsys.readouterr().out)
        assert (outcome["status"], outcome["reported"]) == ("opened", True)
    finally:
        relays.send_signal(signal.SIGTERM)
        out, _ = relays.communicate(timeout=30)
    assert relays.returncode == 0, out
    assert "r-2: door opened 1x" in out
