"""Bulk issuance waits for the unlock path's coalescers to go idle (``Quiet``), never longer
than its bound."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from authority.wrappers.coalescing import BatchCoalescer, Quiet


def test_quiet_waits_until_every_coalescer_is_idle() -> None:
    async def main() -> list[str]:
        order: list[str] = []
        gates = {"lookups": asyncio.Event(), "events": asyncio.Event()}

        def batcher(name: str) -> BatchCoalescer[int, int]:
            async def run(batch: Sequence[int]) -> list[int]:
                await gates[name].wait()
                order.append(f"{name} done")
                return list(batch)

            return BatchCoalescer(run, linger=0)

        lookups, events = batcher("lookups"), batcher("events")
        calls = [asyncio.create_task(lookups.submit(1)), asyncio.create_task(events.submit(2))]
        await asyncio.sleep(0)
        assert lookups.busy
        assert events.busy

        async def background() -> None:
            await Quiet(lookups, events).quiet(max_wait=60)
            order.append("background")

        waiting = asyncio.create_task(background())
        for name in ("lookups", "events"):
            await asyncio.sleep(0.01)
            assert not waiting.done()
            gates[name].set()
        await asyncio.wait_for(waiting, 10)
        assert await asyncio.gather(*calls) == [1, 2]
        assert not lookups.busy
        assert not events.busy
        return order

    assert asyncio.run(main()) == ["lookups done", "events done", "background"]


def test_quiet_gives_up_after_its_bound_and_returns_at_once_when_idle() -> None:
    async def main() -> None:
        stuck = asyncio.Event()

        async def run(batch: Sequence[int]) -> list[int]:
            await stuck.wait()
            return list(batch)

        coalescer: BatchCoalescer[int, int] = BatchCoalescer(run, linger=0)
        quiet = Quiet(coalescer)
        await asyncio.wait_for(quiet.quiet(max_wait=60), 1)  # idle: no wait at all
        call = asyncio.create_task(coalescer.submit(1))
        await asyncio.sleep(0)
        await asyncio.wait_for(quiet.quiet(max_wait=0.01), 10)  # busy throughout: gives up
        assert coalescer.busy
        assert not call.done()
        stuck.set()
        assert await call == 1
        await asyncio.wait_for(coalescer.idle(), 10)

    asyncio.run(main())


def test_linger_waits_only_after_a_large_batch() -> None:
    """Adaptive linger: a lone request at low load goes out at once even with a long linger;
    after a batch of ``linger_from`` or more, the next batch waits and gathers what arrives."""

    async def main() -> list[list[int]]:
        batches: list[list[int]] = []

        async def run(batch: Sequence[int]) -> list[int]:
            batches.append(list(batch))
            return list(batch)

        coalescer: BatchCoalescer[int, int] = BatchCoalescer(run, linger=3600, linger_from=3)
        # Low load: with an hour's linger, a lone request is still answered straight away.
        assert await asyncio.wait_for(coalescer.submit(1), 30) == 1
        assert await asyncio.wait_for(coalescer.submit(2), 30) == 2
        # A burst: one large batch ...
        assert await asyncio.gather(*(coalescer.submit(n) for n in (10, 11, 12))) == [10, 11, 12]
        # ... so the next batch lingers: what arrives meanwhile goes out with it.
        lingering = [asyncio.create_task(coalescer.submit(n)) for n in (20, 21)]
        await asyncio.sleep(0.05)
        assert batches == [[1], [2], [10, 11, 12]]
        assert not any(task.done() for task in lingering)
        for task in lingering:
            task.cancel()
        return batches

    assert asyncio.run(main())[-1] == [10, 11, 12]


def test_lingering_batch_leaves_once_the_linger_has_passed() -> None:
    """After a large batch, the lingering batch leaves once the linger has passed."""

    async def main() -> list[list[int]]:
        batches: list[list[int]] = []

        async def run(batch: Sequence[int]) -> list[int]:
            batches.append(list(batch))
            return list(batch)

        coalescer: BatchCoalescer[int, int] = BatchCoalescer(run, linger=0.01, linger_from=2)
        await asyncio.gather(*(coalescer.submit(n) for n in (1, 2)))
        assert await asyncio.wait_for(asyncio.gather(coalescer.submit(3), coalescer.submit(4)), 30)
        return batches

    assert asyncio.run(main()) == [[1, 2], [3, 4]]
