"""The embedded redis-server as `make serve` starts it: from the default, relative data dir."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from authority.adapters.redis.embedded import EmbeddedRedis


def test_starts_from_a_relative_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-server changes into its --dir before it opens its log and pid files: a relative
    data directory (the default ``.authority``) must still put them inside it."""
    monkeypatch.chdir(tmp_path)
    embedded = EmbeddedRedis(Path(".authority"))
    url = embedded.start()
    try:
        client = redis.Redis.from_url(url)
        assert client.ping()
        client.close()
        assert (tmp_path / ".authority" / "redis" / "redis.log").exists()
        assert (tmp_path / ".authority" / "redis" / "redis.pid").exists()
    finally:
        embedded.stop()
