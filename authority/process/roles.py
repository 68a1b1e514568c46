"""What a serving process is for, decided once at start-up: ``Duties.of(settings, process)``.

Each difference between processes is a field of ``Duties`` (or a property of ``ProcessRole``),
so the wiring and the lifecycle ask a question instead of comparing settings or tuples."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from authority.api.surface import ApiSurface
from authority.process.config import Settings


class ProcessRole(enum.Enum):
    """How the process was started."""

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


@dataclass(frozen=True, kw_only=True)
class Duties:
    """What one serving process does: which API it serves and which jobs it runs."""

    process: ProcessRole
    api: ApiSurface
    """The gRPC services it serves (and reports in health)."""
    holds_access_log: bool
    """It opens the access log's store (the embedded chDB or CLICKHOUSE_URL) and migrates it."""
    ships: bool
    """It drains the event buffer into ClickHouse."""
    serves_log_socket: bool
    """It answers the log reads of the processes that cannot open its chDB (``log_socket``)."""
    sweeps_privacy: bool
    """It runs the privacy job (due erasures, the one-year rule)."""
    lowers_priority: bool
    """A bulk process: it takes the CPU the unlock processes leave (``bulk_nice``)."""

    @classmethod
    def of(cls, settings: Settings, process: ProcessRole = ProcessRole.SINGLE) -> Duties:
        holds = holds_access_log(settings)
        return cls(
            process=process,
            api=api_surface(settings),
            holds_access_log=holds,
            ships=settings.ship_events != "off",
            serves_log_socket=holds and settings.log_socket_path is not None,
            sweeps_privacy=holds and _sweeps_privacy(settings, process),
            lowers_priority=settings.role == "bulk",
        )


def holds_access_log(settings: Settings) -> bool:
    """Whether this process opens the access log's store (and serves log queries from it).
    A ClickHouse server takes any number of clients; the embedded chDB directory admits one
    process, which must be the one that ships into it."""
    return bool(settings.clickhouse_url) or settings.ship_events != "off"


def api_surface(settings: Settings) -> ApiSurface:
    """The gRPC services of this process: every one; for a process that only ships
    (``ship_events=only``), the access log's (queries and owner requests); for a bulk process
    (``role=bulk``), the grant service. Health and reflection always."""
    if settings.role == "bulk":
        return ApiSurface.GRANTS
    return ApiSurface.ACCESS_LOG if settings.ship_events == "only" else ApiSurface.EVERY


def _sweeps_privacy(settings: Settings, process: ProcessRole) -> bool:
    """The privacy job runs where the access log is at hand (it reads who used a door): in a
    supervisor's log process, or in a single process that serves every service (not a bulk
    process, not one that only ships beside processes that serve). Never in a worker."""
    if settings.privacy_sweep_interval_seconds <= 0:
        return False
    if process is ProcessRole.LOG:
        return True
    return process.may_sweep and settings.role == "all" and settings.ship_events != "only"
