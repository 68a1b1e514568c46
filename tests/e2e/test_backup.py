"""Backups cannot resurrect the erased: create, back up, erase, restore -> the person is still
gone, their log rows are still pseudonymous and the log's tamper evidence still verifies; everyone
else comes back whole. Real server, real Redis, embedded chDB, the real CLI."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest
import redis

from authority.cli.main import main
from authority.process.config import Settings
from authority.v1 import authority_pb2 as pb
from authority.v1 import privacy_pb2 as ppb
from tests.conftest import run_server_in_thread
from tests.integration.privacy.test_privacy_api import (
    NAME,
    code_of,
    erase,
    get_profile,
    logged,
    set_profile,
)
from tests.support.world import build_world

pytestmark = pytest.mark.slow


def test_a_restore_does_not_bring_an_erased_person_back(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    settings = Settings.load(
        {},
        data_dir=data,
        listen="127.0.0.1:0",
        redis_url=redis_url,
        grace_seconds=2.0,
        log_format="console",
        log_level="WARNING",
    )
    archive = tmp_path / "backup.tar.gz"
    local = ["--data-dir", str(data), "--redis-url", redis_url, "--json"]

    server = run_server_in_thread(settings)
    h = next(server)
    gone = build_world(h.admin, door_id="door-gone")
    kept = build_world(h.admin, door_id="door-kept")
    set_profile(gone.org, gone.holder_id, name=NAME, phone="+4511112222")
    set_profile(kept.org, kept.holder_id, name="Herman Bang")
    assert gone.holder.request_unlock(gone.door_id).decision == pb.DECISION_ALLOW
    assert logged(h, "unlock", gone.holder_id)
    capsys.readouterr()
    assert main(["backup", "--out", str(archive), *local]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["redis_keys"] > 0
    assert made["key_files"] >= 2  # signing key, person-store master key (audit key too)
    assert archive.stat().st_mode & 0o077 == 0
    assert NAME.encode() not in gzip.decompress(archive.read_bytes())  # ciphertext only
    assert erase(gone.holder, gone.holder_id).erased
    assert logged(h, "person.erase", gone.holder_id)  # shipped before the server stops
    server.close()  # stop the server (and its chDB)

    assert main(["restore", str(archive), *local]) == 2  # without --yes: refused
    capsys.readouterr()
    assert main(["restore", str(archive), "--yes", *local]) == 0
    restored = json.loads(capsys.readouterr().out)
    assert restored["redis_keys"] == made["redis_keys"]
    assert restored["erasures_reapplied"] == 1
    r = redis.Redis.from_url(redis_url)
    assert not r.exists(f"p:{{{gone.holder_id}}}", f"h:{{{gone.holder_id}}}")  # key destroyed
    assert r.hexists(f"p:{{{kept.holder_id}}}", "wk")
    # the access log's chains and checkpoints still verify
    capsys.readouterr()
    assert main(["audit", "verify", "--data-dir", str(data), "--json"]) == 0

    server = run_server_in_thread(settings)
    h = next(server)
    gone_app = h.client(gone.holder._metadata[0][1].removeprefix("Bearer "))
    kept_app = h.client(kept.holder._metadata[0][1].removeprefix("Bearer "))
    try:
        assert code_of(lambda: get_profile(h.admin, gone.holder_id))[0] == (
            grpc.StatusCode.NOT_FOUND
        )
        assert code_of(lambda: gone_app.request_unlock(gone.door_id))[0] == (
            grpc.StatusCode.UNAUTHENTICATED
        )
        assert get_profile(h.admin, kept.holder_id).name == "Herman Bang"  # the rest is back
        assert kept_app.request_unlock(kept.door_id).decision == pb.DECISION_ALLOW
        # the erased person's log rows are still there, under the pseudonym only
        rows = logged(h, "unlock", gone.holder_id)
        assert rows
        assert all(NAME not in str(row) for row in rows)
        report = h.admin.call(h.admin.privacy.GetPrivacyReport, ppb.GetPrivacyReportRequest())
        categories = {c.label: c.count for c in report.categories}
        assert categories["erased_persons"] == 1
        assert categories["profiles"] == 1
    finally:
        gone_app.close()
        kept_app.close()
        server.close()
    # the restored server shipped on: the chains still verify
    capsys.readouterr()
    assert main(["audit", "verify", "--data-dir", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["intact"] is True


def test_backup_and_restore_with_the_embedded_redis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default deployment: the server's own redis-server. The backup reads it while the
    server runs; the restore (server stopped) starts it itself; a copy of the erasure ledger
    lost with the host is rebuilt from the access log's person.erase events."""
    from tests.support.processes import ServerProcess  # noqa: PLC0415

    data = tmp_path / "d"
    archive = tmp_path / "b.tar.gz"
    local = ["--data-dir", str(data), "--json"]
    server = ServerProcess(data)
    try:
        w = build_world(server.admin)
        set_profile(w.org, w.holder_id, name=NAME)
        capsys.readouterr()
        assert main(["backup", "--out", str(archive), *local]) == 0
        assert erase(server.admin, w.holder_id).erased
        shim = SimpleNamespace(
            target=server.target, admin_credential=(data / "admin.credential").read_text().strip()
        )
        assert logged(shim, "person.erase", w.holder_id)  # type: ignore[arg-type]
        assert server.stop() == 0
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
    (data / "privacy" / "erasure-ledger.jsonl").unlink()  # the ledger copy is lost
    capsys.readouterr()
    assert main(["restore", str(archive), "--yes", *local]) == 0
    assert json.loads(capsys.readouterr().out)["erasures_reapplied"] == 1
    again = ServerProcess(data)
    try:
        assert code_of(lambda: get_profile(again.admin, w.holder_id))[0] == (
            grpc.StatusCode.NOT_FOUND
        )
        org = again.admin.call(
            again.admin.directory.GetOrganisation,
            pb.GetOrganisationRequest(organisation_id=w.org_id),
        )
        assert org.organisation_id == w.org_id  # the rest is back
        assert again.stop() == 0
    finally:
        if again.proc.poll() is None:
            again.proc.kill()
