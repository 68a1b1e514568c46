"""Fixtures for the access log's write side: a real chDB per test module (chDB admits one
engine directory per process at a time, so each module opens its own and closes it at the end;
tests get a database each), a real Redis (``redis_url`` from tests/conftest.py) and an audit
key."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from authority.adapters.clickhouse.chain import AuditKey
from authority.adapters.clickhouse.connect import open_clickhouse
from authority.adapters.clickhouse.schema import migrate
from authority.adapters.clickhouse.shipper import ClickHouseSink
from authority.adapters.redis.connect import connect
from authority.adapters.redis.redis_store import RedisStore

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster


@pytest.fixture(scope="module")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The module's chDB directory; one client holds the engine open for the module."""
    path = tmp_path_factory.mktemp("chdb")
    root = open_clickhouse(url=None, path=path)
    yield path
    root.close()


@pytest.fixture
def database() -> str:
    return f"t_{uuid.uuid4().hex[:16]}"


@pytest.fixture
def opener(chdb_path: Path, database: str) -> Callable[[], Client]:
    """Opens a client on this test's database (what the runtime hands a ``ClickHouseSink``)."""
    return partial(open_clickhouse, url=None, path=chdb_path, database=database)


@pytest.fixture
def clickhouse(opener: Callable[[], Client], database: str) -> Iterator[Client]:
    client = opener()
    migrate(client)
    yield client
    client.command(f"DROP DATABASE IF EXISTS {database}")
    client.close()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis | RedisCluster]:
    client = connect(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RedisStore]:
    """What the shipper talks to Redis through (``round_trip``: raw commands, raw replies)."""
    s = RedisStore.from_url(redis_url)
    yield s
    await s.close()


@pytest.fixture
def audit_key() -> AuditKey:
    return AuditKey.generate(now=0)


@pytest.fixture
def make_sink(opener: Callable[[], Client]) -> Iterator[Callable[..., ClickHouseSink]]:
    """``ClickHouseSink``s on this test's database, closed at the end (an open client would
    keep this module's chDB engine alive into the next module)."""
    sinks: list[ClickHouseSink] = []

    def make(custom_opener: Callable[[], Client] | None = None) -> ClickHouseSink:
        sinks.append(ClickHouseSink(custom_opener or opener))
        return sinks[-1]

    yield make
    for sink in sinks:
        sink.close()
