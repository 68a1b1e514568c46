"""What a Redis round trip looks like to its users: the commands, the connection's two ways of
sending them, and the parts that share one round trip.

These are the types both sides of a shared round trip speak: the Redis adapters that supply
commands (the event buffer's appends, the store's snapshot reads) and the wrapper that batches
them (``authority.wrappers.coalescing.SharedRoundTrip``). They live here, with the adapters, so
the arrow points one way: the wrapper imports them, no adapter imports the wrapper.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

Command = tuple[str, ...]
Req = TypeVar("Req")
Res = TypeVar("Res")
Req_contra = TypeVar("Req_contra", contravariant=True)
Res_co = TypeVar("Res_co", covariant=True)


class RawRoundTrip(Protocol):
    async def round_trip_replies(self, commands: Sequence[Command]) -> list[Any]:
        """Replies in order, a command's error reply in its place; ``Unavailable`` when the
        connection fails."""
        ...

    def send_replies(
        self, commands: Sequence[Command], done: Callable[[list[Any] | Exception], None]
    ) -> bool:
        """``round_trip_replies`` without a coroutine: send now and call ``done`` with the
        replies (or an ``AuthorityError``); ``False`` when it cannot send this way."""
        ...


class RoundTrip(RawRoundTrip, Protocol):
    async def round_trip(self, commands: list[Command]) -> list[Any]:
        """Replies in order; a command's error reply raised (translated)."""
        ...


class PipelinePart(Protocol[Req_contra, Res_co]):
    """One kind of request that shares a batch's round trip with other kinds."""

    def commands(self, requests: Sequence[Req_contra]) -> list[Command]:
        """The commands for ``requests`` (an ``AuthorityError`` fails these requests only)."""
        ...

    def results(self, requests: Sequence[Req_contra], replies: Sequence[Any]) -> Sequence[Res_co]:
        """The result of each request from the replies to ``commands(requests)``; an
        ``AuthorityError`` raised fails these requests only."""
        ...


class SharedPipeline(Protocol):
    """A round trip shared by several parts (``SharedRoundTrip``): ``submit`` sends ``request``
    with whatever else is waiting and returns its result."""

    async def submit(self, part: PipelinePart[Req, Res], request: Req) -> Res: ...
