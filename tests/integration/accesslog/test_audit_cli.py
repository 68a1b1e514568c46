"""``authority audit verify`` / ``audit checkpoint`` on a data directory's embedded chDB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from authority.adapters.clickhouse.audit import load_or_create_audit_key
from authority.adapters.clickhouse.connect import open_clickhouse
from authority.adapters.clickhouse.schema import migrate
from authority.adapters.clickhouse.shipper import ClickHouseSink, Shipper, ShipperConfig
from authority.adapters.crypto.keyring import b64url
from authority.adapters.redis.event_buffer import stream_key
from authority.adapters.redis.redis_store import RedisStore
from authority.cli.audit import CHDB_DIRECTORY
from authority.cli.main import build_parser
from authority.domain.errors import FailedPrecondition

from .workload import make_event, produce

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client
    from redis.asyncio import Redis

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data directory whose chDB the CLI opens (this module's engine, held open here)."""
    path = tmp_path_factory.mktemp("cli") / "data"
    root = open_clickhouse(url=None, path=path / CHDB_DIRECTORY)
    migrate(root)
    yield path
    root.close()


@pytest.fixture(autouse=True)
def _no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLICKHOUSE_URL", raising=False)
    monkeypatch.delenv("AUTHORITY_DATA_DIR", raising=False)


def run(*argv: str) -> int:
    args = ["audit", *argv]
    ns = build_parser(args).parse_args(args)
    return int(ns.func(ns))


@pytest.fixture
def client(data_dir: Path) -> Iterator[Client]:
    c = open_clickhouse(url=None, path=data_dir / CHDB_DIRECTORY)
    for table in ("access_events", "access_checkpoints"):
        c.command(f"TRUNCATE TABLE {table}")
    yield c
    c.close()


async def test_verify_exits_0_when_intact_and_1_naming_the_break(
    data_dir: Path,
    client: Client,
    redis_url: str,
    redis_client: Redis,
    store: RedisStore,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = load_or_create_audit_key(data_dir / "keys")  # what the server's shipper signs with
    await produce(redis_url, 0, [make_event() for _ in range(30)])
    opener = partial(open_clickhouse, url=None, path=data_dir / CHDB_DIRECTORY)
    sink = ClickHouseSink(opener)
    shipper = Shipper(
        redis=store,
        sink=sink,
        audit_key=key,
        config=ShipperConfig(shards=1, batch_max=10, checkpoint_events=10),
    )
    while await redis_client.xlen(stream_key(0)):
        await shipper.ship_once()
    sink.close()
    capsys.readouterr()

    assert run("verify", "--data-dir", str(data_dir), "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["intact"] is True
    assert report["shards"][0]["rows"] == 30

    assert run("verify", "--data-dir", str(data_dir)) == 0
    assert "intact" in capsys.readouterr().out

    assert run("checkpoint", "--data-dir", str(data_dir), "--json") == 0
    (latest,) = json.loads(capsys.readouterr().out)
    assert (latest["shard"], latest["seq"], latest["verified"]) == (0, 30, True)
    assert latest["kid"] == key.kid

    client.command(
        "ALTER TABLE access_events UPDATE reason = 'x' WHERE seq = 7",
        settings={"mutations_sync": 2},
    )
    assert run("verify", "--data-dir", str(data_dir), "--json") == 1
    (shard,) = json.loads(capsys.readouterr().out)["shards"]
    assert shard["chain_break"]["seq"] == 7
    assert shard["chain_break"]["kind"] == "altered"
    assert shard["chain_break"]["meaning"] == "alteration"

    assert run("verify", "--data-dir", str(data_dir)) == 1
    out = capsys.readouterr().out
    assert "altered" in out
    assert "BROKEN" in out


def test_verify_needs_a_trusted_key(tmp_path: Path, data_dir: Path, client: Client) -> None:
    empty = tmp_path / "other"
    empty.mkdir()
    (empty / CHDB_DIRECTORY).symlink_to(data_dir / CHDB_DIRECTORY, target_is_directory=True)
    with pytest.raises(FailedPrecondition, match="no audit public keys"):
        run("verify", "--data-dir", str(empty))
    key = load_or_create_audit_key(tmp_path / "elsewhere")
    # "=" form: a base64url key may start with "-", which argparse would take for an option.
    assert run("verify", "--data-dir", str(empty), f"--public-key={b64url(bytes(key.public))}") == 0


def test_a_directory_held_by_another_process_is_unavailable(tmp_path: Path) -> None:
    """chDB admits one process per directory: the CLI says so (in a process of its own, since
    this one already runs an engine on another directory)."""
    directory = tmp_path / CHDB_DIRECTORY
    with subprocess.Popen(
        [sys.executable, "-c",
         "import sys, clickhouse_connect;"
         f"c = clickhouse_connect.get_client(dsn='chdb://{directory}'); c.query('SELECT 1');"
         "print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    ) as holder:  # fmt: skip
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == b"ready"
            cli = subprocess.run(
                [sys.executable, "-c", CLI, "audit", "verify", "--data-dir", str(tmp_path)],
                capture_output=True, text=True, timeout=60, check=False,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])},
            )  # fmt: skip
        finally:
            holder.kill()
    assert cli.returncode == 2, cli.stderr
    assert "in use by another process" in cli.stdout


CLI = """
import sys
from authority.cli.main import build_parser
from authority.domain.errors import PRODUCT_ERRORS
ns = build_parser(sys.argv[1:]).parse_args(sys.argv[1:])
try:
    sys.exit(ns.func(ns))
except PRODUCT_ERRORS as exc:
    print(exc)
    sys.exit(2)
"""
