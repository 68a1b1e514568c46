"""Sink wrappers that fail the way ClickHouse and processes fail (real wrappers, no mocks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from authority.adapters.clickhouse.chain import ChainHead, Checkpoint
from authority.adapters.clickhouse.connect import clickhouse_errors
from authority.adapters.clickhouse.shipper import INSERT_COLUMNS, EventSink

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client


class SimulatedCrash(BaseException):
    """The process dies at this point: a BaseException, so no handler for the product's errors
    catches it, and nothing after it (the acknowledgement) runs."""


class Recording:
    """Delegates to a sink and records the dedup token of every event insert it forwards."""

    def __init__(self, inner: EventSink) -> None:
        self.inner = inner
        self.tokens: list[str] = []

    def prepare(self) -> None:
        self.inner.prepare()

    def insert_events(self, body: bytes, *, dedup_token: str) -> None:
        self.tokens.append(dedup_token)
        self.inner.insert_events(body, dedup_token=dedup_token)

    def insert_checkpoint(self, checkpoint: Checkpoint) -> None:
        self.inner.insert_checkpoint(checkpoint)

    def chain_head(self, shard: int) -> ChainHead | None:
        return self.inner.chain_head(shard)


class Failing(Recording):
    """Event inserts fail while ``failing`` (or for the next ``failures`` inserts): they go
    through a *closed* clickhouse-connect client, so the error is the real one, translated at
    the edge like any other."""

    def __init__(self, inner: EventSink, closed: Client, *, failures: int = 0) -> None:
        super().__init__(inner)
        self.closed = closed
        self.failures = failures
        self.failing = False
        self.failed = 0

    def insert_events(self, body: bytes, *, dedup_token: str) -> None:
        if self.failing or self.failures > 0:
            self.failures = max(0, self.failures - 1)
            self.failed += 1
            with clickhouse_errors("inserting access events"):
                self.closed.raw_insert("access_events", INSERT_COLUMNS, body, fmt="JSONEachRow")
            raise AssertionError("a closed client accepted an insert")
        super().insert_events(body, dedup_token=dedup_token)


class Crashing(Recording):
    """The process dies at the ``at``-th event insert: just before it (``after_insert=False``)
    or just after it committed, before the shipper could acknowledge the batch."""

    def __init__(self, inner: EventSink, *, at: int, after_insert: bool) -> None:
        super().__init__(inner)
        self.at = at
        self.after_insert = after_insert
        self.calls = 0

    def insert_events(self, body: bytes, *, dedup_token: str) -> None:
        self.calls += 1
        if self.calls == self.at and not self.after_insert:
            raise SimulatedCrash
        super().insert_events(body, dedup_token=dedup_token)
        if self.calls == self.at:
            raise SimulatedCrash
