"""The leak checker used on the demo's output finds what it should (so its silence means
something)."""

from __future__ import annotations

import json
from pathlib import Path

from authority.adapters.crypto.keyring import Keyring, b64url
from tests.security.leaks import find_leaks, secrets_of_data_dir


def test_every_form_of_a_key_and_any_credential_is_found(tmp_path: Path) -> None:
    ring = Keyring.load_or_create(tmp_path / "keys", publish_retired_for=60)
    (tmp_path / "admin.credential").write_text("adm_abc.QUJDREVGR0hJSktMTU5PUFFSU1RVVldY\n")
    secrets = secrets_of_data_dir(tmp_path)
    seed = bytes(ring.active.private)
    assert find_leaks("all quiet", secrets) == []
    for leaked in (b64url(seed), seed.hex(), (seed + bytes(ring.active.public)).hex()):
        assert find_leaks(f"log line {json.dumps({'x': leaked})}", secrets)
    assert find_leaks("token kh_Zk3x9.c2VjcmV0c2VjcmV0c2VjcmV0", secrets)
    assert find_leaks("refresh rfs_kh_Zk3x9~s1.c2VjcmV0c2VjcmV0c2VjcmV0", secrets)
    shown = "ak_org1.c2VjcmV0c2VjcmV0c2VjcmV0"
    assert find_leaks(f"your API key: {shown}", secrets, allowed={shown}) == []
    assert find_leaks("admin QUJDREVGR0hJSktMTU5PUFFSU1RVVldY", secrets)
