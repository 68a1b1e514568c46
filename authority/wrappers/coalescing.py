"""Coalesce the round trips of concurrent requests into one.

``BatchCoalescer`` is a wrapper around a batch function, not a flag inside a store. One batch is
in flight at a time; requests arriving meanwhile wait for the next one, so batches grow with the
load by themselves. The linger is adaptive: a batch waits (at most ``linger`` seconds after the
previous one left) only while the previous batch was not alone (``linger_from`` requests or
more: other calls arrived during its round trip, so the wait will fill this one); at low load
every request goes out on the next event-loop turn, so the linger never sets the latency there.
Measured (bench/README.md): waiting from 2 rather than 16 cuts ~10 % of an unlock's CPU at
128 in flight, where batches were ~2.5 requests and each round trip costs ~100 µs of CPU.
Measured on these machines a round trip costs ~80-300 us of CPU whatever its size and each
extra command ~25 us, so the batch size is what the unlock path's cost hinges on
(bench/README.md).

``SharedRoundTrip`` does the same for several kinds of request in one pipeline: in a server,
the unlock path's read (``SharedSnapshotReader``) and the access log's event buffer
(``authority.adapters.redis.event_buffer``), whose write every decision waits for, so a decision
costs one round trip. ``CoalescingSnapshotReader`` batches reads alone, over any store (the fake).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from authority.adapters.redis.round_trip import Command, PipelinePart, RawRoundTrip
from authority.domain.errors import AuthorityError
from authority.domain.ports.unlock import HolderSnapshot

log = logging.getLogger(__name__)
Req = TypeVar("Req")
Res = TypeVar("Res")
SnapshotRequest = tuple[str, str, str | None, str]


class IdleSignal:
    """The callers waiting for a coalescer to have nothing waiting and nothing in flight."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    async def wait(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class BatchCoalescer(Generic[Req, Res]):
    def __init__(
        self,
        run_batch: Callable[[Sequence[Req]], Awaitable[Sequence[Res]]],
        *,
        max_batch: int = 512,
        linger: float = 0.002,
        linger_from: int = 2,
        max_in_flight: int = 1,
    ) -> None:
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._linger = linger
        self._linger_from = linger_from
        self._last_size = 0
        self._max_in_flight = max_in_flight
        self._pending: list[tuple[Req, asyncio.Future[Res]]] = []
        self._in_flight = 0
        self._scheduled = False
        self._last_flush = float("-inf")
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = IdleSignal()
        self.batches = 0
        self.requests = 0

    @property
    def busy(self) -> bool:
        """Requests are waiting or a batch is in flight."""
        return bool(self._pending) or self._in_flight > 0

    async def idle(self) -> None:
        """Return once nothing is waiting and no batch is in flight."""
        if self.busy:
            await self._idle.wait()

    async def submit(self, request: Req) -> Res:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Res] = loop.create_future()
        self._pending.append((request, future))
        self._schedule(loop)
        return await future

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._scheduled or not self._pending or self._in_flight >= self._max_in_flight:
            return
        self._scheduled = True
        if self._last_size < self._linger_from or len(self._pending) >= self._max_batch:
            loop.call_soon(self._flush)
            return
        wait = self._last_flush + self._linger - loop.time()
        if wait <= 0:
            loop.call_soon(self._flush)
        else:
            loop.call_later(wait, self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        loop = asyncio.get_running_loop()
        while self._pending and self._in_flight < self._max_in_flight:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            self._last_size = len(batch)
            self._in_flight += 1
            self._last_flush = loop.time()
            task = loop.create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[Req, asyncio.Future[Res]]]) -> None:
        try:
            results = await self._run_batch([req for req, _ in batch])
        except Exception as exc:  # every waiter gets the (already translated) error
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # the caller may have been cancelled meanwhile
                    continue
                if isinstance(result, BaseException):  # this request's own failure
                    future.set_exception(result)
                else:
                    future.set_result(result)
            self.batches += 1
            self.requests += len(batch)
        finally:
            self._in_flight -= 1
            self._schedule(asyncio.get_running_loop())
            if not self.busy:
                self._idle.notify()


class Coalescing(Protocol):
    @property
    def busy(self) -> bool: ...

    async def idle(self) -> None: ...


class Quiet:
    """Implements ``authority.usecases.fleet.Foreground`` over the unlock path's coalescers: the
    unlock path is at work while one of them has requests waiting or a batch in flight (an
    unlock submits its lookup before its first suspension, and its events right after the
    decision), so background work waiting for them to go idle lets unlocks go first."""

    def __init__(self, *coalescers: Coalescing) -> None:
        self._coalescers = coalescers

    async def quiet(self, max_wait: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        while (busy := next((c for c in self._coalescers if c.busy), None)) is not None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                async with asyncio.timeout(remaining):
                    await busy.idle()
            except TimeoutError:
                return


class Saturation(Protocol):
    def saturated(self) -> bool:
        """Whether calls are queueing here now (so a batch that waits costs them little)."""
        ...


class CallsInProgress:
    """The unlock calls in progress on this process, counted by the edge (``enter``/``leave``),
    as the coalescer's ``Saturation``: from ``queued_from`` calls at once, they are queueing.

    Lingering trades latency for CPU: a batch that waits ``linger`` for more calls costs each of
    its calls that wait, and saves a round trip's system calls and wake-ups per call it gathers.
    By Little's law the calls in progress are the arrival rate times each call's time here:
    many at once means each already waits longer than the linger, while at a moderate load the
    count stays low and batches leave at once. The count understates the queue (under h2load's
    128 calls in flight most of them wait inside grpc, and a worker held 4-50 at a time), hence
    the low default (12). Measured in one run each (bench/README.md): at saturation a 2 ms
    linger from 12 calls cut the worker's CPU per call by 7-12 % and Redis's by 8-15 %; open loop
    at 1,000/s the p50 and p99 stayed as without it (3.8 against 4.0 ms, 11.6 against 11.3 ms),
    at 1,500/s the p99 fell (17.9 against 27.3 ms); from 6 calls it already added 1.1 ms to the
    p50 at 1,000/s. Unlike the loop thread's share of a core (which stayed under 0.85 even at
    saturation: grpc's poller thread holds the GIL part of the time), the count does not depend
    on what else the machine runs."""

    __slots__ = ("_queued_from", "count")

    def __init__(self, *, queued_from: int) -> None:
        self._queued_from = queued_from
        self.count = 0

    def enter(self) -> None:
        self.count += 1

    def leave(self) -> None:
        self.count -= 1

    def saturated(self) -> bool:
        return self.count >= self._queued_from


_Planned = tuple[PipelinePart[Any, Any], list[Any], list[tuple[Any, asyncio.Future[Any]]], int]
"""One part of a batch: the part, its requests, their callers, how many commands it sent."""


class _Always:
    def saturated(self) -> bool:
        return True


_ALWAYS = _Always()
"""Without a ``load``, the previous batch's size alone decides (as in ``BatchCoalescer``)."""


class SharedRoundTrip:
    """One coalesced Redis round trip per batch for several kinds of request.

    The unlock path has two: the holder snapshot read that starts a decision and the access-log
    append that must be durable before its answer. Sent through one coalescer, a batch carries
    the reads of new calls *and* the event appends of the calls decided from the previous
    batch, so a decision costs one round trip of CPU instead of two (each round trip costs
    ~80-300 µs whatever its size: bench/README.md), and nothing is answered before its event
    is in Redis. The wrapper knows nothing of what the parts are.

    Batching follows ``BatchCoalescer`` (one batch in flight, adaptive linger), and lingers only
    while calls queue (``load``, in a server ``CallsInProgress``): below that, waiting saves
    little CPU and costs every call latency. A batch is not a task: it is written to the connection
    and its replies are handed out from the connection's callback
    (``RawRoundTrip.send_replies``), which saves the task, the coroutines and the future of
    each batch (the hottest code after the signature). Where the store has no such connection
    (a cluster, or while it reconnects) a task awaits ``round_trip_replies`` instead."""

    def __init__(
        self,
        redis: RawRoundTrip,
        *,
        max_batch: int = 512,
        linger: float = 0.002,
        linger_from: int = 2,
        load: Saturation | None = None,
    ) -> None:
        self._redis = redis
        self._max_batch = max_batch
        self._linger = linger
        self._linger_from = linger_from
        self._load: Saturation = load or _ALWAYS
        self._pending: list[tuple[PipelinePart[Any, Any], Any, asyncio.Future[Any]]] = []
        self._in_flight = False
        self._scheduled = False
        self._last_flush = float("-inf")
        self._last_size = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = IdleSignal()
        self.batches = 0
        self.requests = 0

    @property
    def busy(self) -> bool:
        """Requests are waiting or a batch is in flight."""
        return bool(self._pending) or self._in_flight

    async def idle(self) -> None:
        """Return once nothing is waiting and no batch is in flight."""
        if self.busy:
            await self._idle.wait()

    async def submit(self, part: PipelinePart[Req, Res], request: Req) -> Res:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Res] = loop.create_future()
        self._pending.append((part, request, future))
        if not self._scheduled and not self._in_flight:
            self._schedule(loop)
        return await future

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = True
        if (
            self._last_size >= self._linger_from
            and len(self._pending) < self._max_batch
            and self._load.saturated()
        ):
            wait = self._last_flush + self._linger - loop.time()
            if wait > 0:
                loop.call_later(wait, self._flush)
                return
        loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        if self._in_flight or not self._pending:
            return
        batch = self._pending[: self._max_batch]
        del self._pending[: self._max_batch]
        loop = asyncio.get_running_loop()
        self._last_flush = loop.time()
        self._last_size = len(batch)
        groups: dict[PipelinePart[Any, Any], list[tuple[Any, asyncio.Future[Any]]]] = {}
        for part, request, future in batch:
            # Sent even if its caller went away meanwhile (a cancelled call): a decision that
            # was made is logged, answered or not.
            groups.setdefault(part, []).append((request, future))
        commands: list[Command] = []
        plan: list[_Planned] = []
        for part, calls in groups.items():
            requests = [request for request, _ in calls]
            try:
                own = part.commands(requests)
            except AuthorityError as exc:
                _fail(calls, exc)
                continue
            plan.append((part, requests, calls, len(own)))
            commands += own
        if not commands:
            self._finished(loop)
            return
        self._in_flight = True
        self.batches += 1
        self.requests += len(batch)

        def done(outcome: list[Any] | Exception) -> None:
            try:
                self._deliver(plan, outcome)
            except Exception as exc:  # a bug in a part: its callers hear of it, batching goes on
                log.exception("shared round trip: delivering replies failed")
                for _, _, calls, _ in plan:
                    _fail(calls, exc)
            finally:
                self._in_flight = False
                self._finished(loop)

        if not self._redis.send_replies(commands, done):
            task = loop.create_task(self._round_trip(commands, done))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _round_trip(
        self, commands: list[Command], done: Callable[[list[Any] | Exception], None]
    ) -> None:
        try:
            replies = await self._redis.round_trip_replies(commands)
        except Exception as exc:  # translated errors, and bugs: the callers hear either
            done(exc)
        else:
            done(replies)

    @staticmethod
    def _deliver(plan: list[_Planned], outcome: list[Any] | Exception) -> None:
        if isinstance(outcome, Exception):  # the round trip failed: every caller hears it
            for _, _, calls, _ in plan:
                _fail(calls, outcome)
            return
        start = 0
        for part, requests, calls, count in plan:
            replies = outcome[start : start + count]
            start += count
            try:
                results: Sequence[Any] = part.results(requests, replies)
            except AuthorityError as exc:
                _fail(calls, exc)
                continue
            for (_, future), result in zip(calls, results, strict=True):
                if future.done():  # the caller was cancelled meanwhile
                    continue
                if isinstance(result, BaseException):  # this request's own failure
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _finished(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._pending:
            if not self._scheduled:
                self._schedule(loop)
        elif not self._in_flight:
            self._idle.notify()


def _fail(calls: Sequence[tuple[Any, asyncio.Future[Any]]], exc: BaseException) -> None:
    for _, future in calls:
        if not future.done():
            future.set_exception(exc)


class SnapshotBatchReader(Protocol):
    async def read_snapshots(
        self, requests: Sequence[SnapshotRequest]
    ) -> list[HolderSnapshot | None]: ...


class SnapshotCommands(Protocol):
    """A snapshot reader whose read can travel in a shared round trip (``RedisStore``)."""

    def snapshot_commands(self, requests: Sequence[SnapshotRequest]) -> list[Command]: ...

    def snapshots_from(
        self, requests: Sequence[SnapshotRequest], replies: Sequence[Any]
    ) -> list[HolderSnapshot | None]: ...


class CoalescingSnapshotReader:
    """Implements ``HolderSnapshotReader`` by batching into ``SnapshotBatchReader`` calls (any
    store, the fake included; a server uses ``SharedSnapshotReader``)."""

    def __init__(
        self, inner: SnapshotBatchReader, *, max_batch: int = 512, linger: float = 0.002
    ) -> None:
        self._coalescer: BatchCoalescer[SnapshotRequest, HolderSnapshot | None] = BatchCoalescer(
            inner.read_snapshots, max_batch=max_batch, linger=linger
        )

    @property
    def coalescer(self) -> BatchCoalescer[SnapshotRequest, HolderSnapshot | None]:
        return self._coalescer

    @property
    def batches(self) -> int:
        return self._coalescer.batches

    @property
    def requests(self) -> int:
        return self._coalescer.requests

    async def read_snapshot(
        self, holder_id: str, door_id: str, site_id: str | None, credential_field: str
    ) -> HolderSnapshot | None:
        return await self._coalescer.submit((holder_id, door_id, site_id, credential_field))


class SharedSnapshotReader:
    """Implements ``HolderSnapshotReader`` by sending each read in ``shared``, the round trip it
    shares with the decisions' event appends (the store gives the commands and reads the
    replies: ``SnapshotCommands``)."""

    def __init__(self, store: SnapshotCommands, shared: SharedRoundTrip) -> None:
        self._shared = shared
        self._part: PipelinePart[SnapshotRequest, HolderSnapshot | None] = _SnapshotPart(store)
        self.requests = 0

    @property
    def batches(self) -> int:
        return self._shared.batches

    async def read_snapshot(
        self, holder_id: str, door_id: str, site_id: str | None, credential_field: str
    ) -> HolderSnapshot | None:
        self.requests += 1
        return await self._shared.submit(
            self._part, (holder_id, door_id, site_id, credential_field)
        )


class _SnapshotPart:
    """``PipelinePart`` adapter of a ``SnapshotCommands``."""

    def __init__(self, inner: SnapshotCommands) -> None:
        self.commands = inner.snapshot_commands
        self.results = inner.snapshots_from
