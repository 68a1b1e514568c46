"""What each kind of serving process does (``Duties.of``): the API it serves and its jobs."""

from __future__ import annotations

import pytest

from authority.api.surface import ApiSurface
from authority.process.config import Settings
from authority.process.roles import Duties, ProcessRole

REDIS = {"REDIS_URL": "redis://127.0.0.1:1"}


def duties(
    process: ProcessRole,
    api: ApiSurface,
    *,
    holds: bool = False,
    ships: bool = False,
    socket: bool = False,
    sweeps: bool = False,
    bulk: bool = False,
) -> Duties:
    return Duties(
        process=process,
        api=api,
        holds_access_log=holds,
        ships=ships,
        serves_log_socket=socket,
        sweeps_privacy=sweeps,
        lowers_priority=bulk,
    )


def test_a_single_process_serves_everything_and_runs_every_job() -> None:
    assert Duties.of(Settings.load({})) == duties(
        ProcessRole.SINGLE, ApiSurface.EVERY, holds=True, ships=True, sweeps=True
    )


def test_a_worker_holds_no_log_and_sweeps_nothing() -> None:
    settings = Settings.load({**REDIS, "AUTHORITY_SHIP_EVENTS": "off"})
    assert Duties.of(settings, ProcessRole.WORKER) == duties(ProcessRole.WORKER, ApiSurface.EVERY)


def test_the_log_process_ships_sweeps_and_serves_the_log_socket() -> None:
    settings = Settings.load(
        {**REDIS, "AUTHORITY_SHIP_EVENTS": "only", "AUTHORITY_LOG_SOCKET": "log.sock"}
    )
    assert Duties.of(settings, ProcessRole.LOG) == duties(
        ProcessRole.LOG, ApiSurface.ACCESS_LOG, holds=True, ships=True, socket=True, sweeps=True
    )


def test_a_single_process_that_only_ships_leaves_the_sweep_to_processes_that_serve() -> None:
    settings = Settings.load({**REDIS, "AUTHORITY_SHIP_EVENTS": "only"})
    assert Duties.of(settings) == duties(
        ProcessRole.SINGLE, ApiSurface.ACCESS_LOG, holds=True, ships=True
    )


def test_a_bulk_process_serves_grants_alone_at_lower_priority() -> None:
    settings = Settings.load({**REDIS, "AUTHORITY_ROLE": "bulk", "AUTHORITY_SHIP_EVENTS": "off"})
    assert Duties.of(settings) == duties(ProcessRole.SINGLE, ApiSurface.GRANTS, bulk=True)


@pytest.mark.parametrize("process", [ProcessRole.SINGLE, ProcessRole.LOG])
def test_no_sweep_when_its_interval_is_zero(process: ProcessRole) -> None:
    settings = Settings.load({"AUTHORITY_PRIVACY_SWEEP_INTERVAL_SECONDS": "0"})
    assert not Duties.of(settings, process).sweeps_privacy
