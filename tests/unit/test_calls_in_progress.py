"""The unlock path's linger gate: calls in progress as the coalescer's saturation."""

from __future__ import annotations

from authority.wrappers.coalescing import CallsInProgress


def test_calls_in_progress_say_when_calls_queue() -> None:
    calls = CallsInProgress(queued_from=3)
    calls.enter()
    calls.enter()
    assert not calls.saturated()
    calls.enter()
    assert calls.saturated()
    calls.leave()
    assert not calls.saturated()
    assert calls.count == 2
