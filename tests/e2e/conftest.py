"""Fixtures for whole-process tests: everything on this shelf is marked ``slow``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.support.processes import ServerProcess

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[type[ServerProcess]]:
    started: list[ServerProcess] = []

    class Tracked(ServerProcess):
        def __init__(
            self, data_dir: Path, *, redis_url: str | None = None, args: Sequence[str] = ()
        ) -> None:
            super().__init__(data_dir, redis_url=redis_url, args=args)
            started.append(self)

    yield Tracked
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()
