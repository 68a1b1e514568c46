"""A lean pipelined Redis connection for the unlock path's one read per batch.

Measured on these machines (bench/README.md), a round trip through redis-py's asyncio
connection costs ~160-210 us of CPU (pool checkout, a timeout around every reply read, reply
post-processing), against ~80 us for the same bytes through an ``asyncio.Protocol`` and
``hiredis.Reader``. On an unlock that is more than the whole decision and signature together,
so this one read goes through this class; everything else uses redis-py. The RESP encoding and
parsing are hiredis's (``pack_command``, ``Reader``); this class only matches replies to requests
in order on one connection.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, cast

import hiredis
from redis.asyncio.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Command = tuple[str, ...]
OnReplies = Callable[[list[Any] | Exception], None]
"""Called once with a batch's replies in order, or with the exception that lost them."""


class _Waiter:
    __slots__ = ("done", "expected", "replies", "sent_at")

    def __init__(self, done: OnReplies, expected: int, sent_at: float) -> None:
        self.done = done
        self.expected = expected
        self.replies: list[Any] = []
        self.sent_at = sent_at


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader(replyError=ResponseError)
        self.waiters: deque[_Waiter] = deque()
        self.transport: asyncio.WriteTransport | None = None
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.WriteTransport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        waiters = self.waiters
        gets = self.reader.gets
        while waiters:
            reply = gets()
            if reply is False:
                return
            waiter = waiters[0]
            replies = waiter.replies
            replies.append(reply)
            if len(replies) == waiter.expected:
                waiters.popleft()
                waiter.done(replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}")
        while self.waiters:
            self.waiters.popleft().done(self.lost)


class PipelinedConnection:
    """One connection to a single Redis server; ``execute`` sends commands and returns replies
    (error replies as ``ResponseError`` values), reconnecting after a lost connection."""

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        self._options = parse_url(url)
        self._ssl = url.startswith("rediss://")
        self._timeout = timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        opts = self._options
        if "path" in opts:
            _, protocol = await loop.create_unix_connection(_Protocol, opts["path"])
        else:
            _, protocol = await loop.create_connection(
                _Protocol,
                opts.get("host", "localhost"),
                int(opts.get("port", 6379)),
                ssl=ssl.create_default_context() if self._ssl else None,
            )
        setup: list[Command] = []
        if opts.get("password"):
            user = opts.get("username")
            setup.append(("AUTH", user, opts["password"]) if user else ("AUTH", opts["password"]))
        if opts.get("db"):
            setup.append(("SELECT", str(opts["db"])))
        if setup:
            for reply in await self._request(protocol, setup):
                if isinstance(reply, ResponseError):
                    protocol.transport.close() if protocol.transport else None
                    raise RedisConnectionError(f"Redis refused the connection setup: {reply}")
        return protocol

    async def _ready(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and protocol.lost is None:
            return protocol
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._protocol is None or self._protocol.lost is not None:
                try:
                    async with asyncio.timeout(self._timeout):
                        self._protocol = await self._connect()
                except (OSError, TimeoutError) as exc:
                    raise RedisConnectionError(f"cannot connect to Redis: {exc}") from exc
            return self._protocol

    def _send(self, protocol: _Protocol, commands: Sequence[Command], done: OnReplies) -> None:
        if protocol.transport is None:
            raise RedisConnectionError("connection to Redis is not open")
        loop = asyncio.get_running_loop()
        protocol.waiters.append(_Waiter(done, len(commands), loop.time()))
        protocol.transport.write(b"".join([hiredis.pack_command(cast(Any, c)) for c in commands]))
        if self._watchdog is None:
            self._watchdog = loop.call_later(self._timeout, self._check, protocol)

    def _check(self, protocol: _Protocol) -> None:
        """One timer per connection, not per batch: if the oldest batch waits longer than the
        timeout, the stream is out of step (a reply that never came): start afresh."""
        self._watchdog = None
        if not protocol.waiters:
            return
        waited = asyncio.get_running_loop().time() - protocol.waiters[0].sent_at
        if waited >= self._timeout:
            expired = RedisTimeoutError("Redis did not answer in time")
            while protocol.waiters:
                protocol.waiters.popleft().done(expired)
            if self._protocol is protocol:
                self.close()
            return
        self._watchdog = asyncio.get_running_loop().call_later(
            self._timeout - waited, self._check, protocol
        )

    def send(self, commands: Sequence[Command], done: OnReplies) -> bool:
        """Send without waiting: ``done`` gets the replies (or the exception that lost them) on
        the event loop. ``False`` (nothing sent) while the connection is not open: use
        ``execute``, which opens it."""
        protocol = self._protocol
        if protocol is None or protocol.lost is not None or protocol.transport is None:
            return False
        self._send(protocol, commands, done)
        return True

    async def execute(self, commands: Sequence[Command]) -> list[Any]:
        return await self._request(await self._ready(), commands)

    def _request(
        self, protocol: _Protocol, commands: Sequence[Command]
    ) -> asyncio.Future[list[Any]]:
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()

        def done(outcome: list[Any] | Exception) -> None:
            if future.done():
                return
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

        self._send(protocol, commands, done)
        return future

    def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
