"""The rate limiter as the use cases see it, and the counters all processes share."""

from __future__ import annotations

from typing import Protocol


class CallLimiter(Protocol):
    """What the use cases need of the rate limiter (``RateLimiter``, or ``NO_LIMITS``)."""

    def admit(self, caller: str, organisation: str | None) -> None: ...

    def blocked(self, caller: str) -> int: ...


class RateLimitStore(Protocol):
    async def exchange(
        self, increments: dict[str, int], *, window: int, window_ms: int
    ) -> dict[str, tuple[int, int]]:
        """Add each key's increment to its counter of window number ``window`` and return, for
        every key, (previous window's total, this window's total)."""
        ...
