"""The event loop a process runs its coroutine on: uvloop when available (measured: a little
cheaper per call), else asyncio's own."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from types import ModuleType
from typing import Any, TypeVar

uvloop: ModuleType | None
try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
    uvloop = None

T = TypeVar("T")


def run_event_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a new event loop and return its result."""
    if uvloop is None:  # pragma: no cover
        return asyncio.run(coro)
    result: T = uvloop.run(coro)
    return result
