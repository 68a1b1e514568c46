"""What a serving process is for. ``serve()`` takes one of these; each difference between the
roles is a property here, so the lifecycle code asks a question instead of comparing tuples."""

from __future__ import annotations

import enum


class ProcessRole(enum.Enum):
    SINGLE = "single"
    """One process doing everything its settings ask (``--workers 0``, in-process tests, and a
    process of role 'bulk' or with shipping 'off'/'only'): its own port, its own server.json."""

    WORKER = "worker"
    """One of the supervisor's workers: unlock and administration traffic on the listen port it
    shares with the other workers (SO_REUSEPORT); ships nothing, sweeps nothing."""

    LOG = "log"
    """The supervisor's log process (shipping 'only'): owns the embedded chDB, migrates it,
    ships the event buffer, runs the privacy sweep; listens on a private loopback port only."""

    @property
    def supervised(self) -> bool:
        """Started by a supervisor, which writes server.json and aggregates health."""
        return self is not ProcessRole.SINGLE

    @property
    def shares_port(self) -> bool:
        return self is ProcessRole.WORKER

    @property
    def may_sweep(self) -> bool:
        """Whether the privacy sweep may run here (it also needs the access log at hand)."""
        return self is not ProcessRole.WORKER
