"""Coalesce the snapshot reads of concurrent decisions into one Redis pipeline.

A wrapper around a batch reader, not a flag inside the store. Requests that arrive while a batch
is in flight wait for the next one, so under load batches grow by themselves (group commit) and
at low load a request goes out on the next event-loop turn, with no timer adding latency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from authority.domain.ports import HolderSnapshot

SnapshotRequest = tuple[str, str, str | None]


class SnapshotBatchReader(Protocol):
    async def read_snapshots(
        self, requests: Sequence[SnapshotRequest]
    ) -> list[HolderSnapshot | None]: ...


class CoalescingSnapshotReader:
    """Implements ``HolderSnapshotReader`` by batching into ``SnapshotBatchReader`` calls."""

    def __init__(
        self, inner: SnapshotBatchReader, *, max_batch: int = 512, max_in_flight: int = 2
    ) -> None:
        self._inner = inner
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._pending: list[tuple[SnapshotRequest, asyncio.Future[HolderSnapshot | None]]] = []
        self._in_flight = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0
        self.requests = 0

    async def read_snapshot(
        self, holder_id: str, door_id: str, site_id: str | None
    ) -> HolderSnapshot | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[HolderSnapshot | None] = loop.create_future()
        self._pending.append(((holder_id, door_id, site_id), future))
        if not self._scheduled and self._in_flight < self._max_in_flight:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        while self._pending and self._in_flight < self._max_in_flight:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(
        self, batch: list[tuple[SnapshotRequest, asyncio.Future[HolderSnapshot | None]]]
    ) -> None:
        try:
            results = await self._inner.read_snapshots([req for req, _ in batch])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():  # the caller may have been cancelled meanwhile
                    future.set_result(result)
            self.batches += 1
            self.requests += len(batch)
        finally:
            self._in_flight -= 1
            if self._pending and not self._scheduled:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._flush)
