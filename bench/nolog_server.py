"""The spine's unlock path *without* access-log recording, as the baseline of
bench_event_overhead.py. The product has no such switch: this script replaces the event buffer's
``record`` with a no-op in its own process before starting the ordinary server (which the
benchmark starts with ``--ship-events off``: nothing to ship, and no chDB of its own)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from authority.adapters.redis.event_buffer import RedisEventBuffer
from authority.cli.main import main
from authority.domain.events import AccessEvent


async def _discard(self: RedisEventBuffer, events: Sequence[AccessEvent]) -> None:
    return None


RedisEventBuffer.record = _discard  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
