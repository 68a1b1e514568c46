"""A serving process's lifecycle: build what its duties need, serve, report NOT_SERVING and
drain on SIGTERM, stop, close in reverse order.

``serve`` is what ``authority serve`` (a single process) and a supervisor's children run; the
gRPC server itself is assembled by ``authority.api.server`` from the API the wiring built.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import grpc
from grpc_health.v1 import health_pb2
from grpc_health.v1._async import HealthServicer

from authority.api.server import build_server
from authority.domain.errors import AuthorityError
from authority.domain.ports.clock import Clock
from authority.process.config import Settings
from authority.process.log_socket import LogReadListener
from authority.process.roles import Duties, ProcessRole
from authority.process.server_info import local_target, write_server_info
from authority.process.tls import server_credentials
from authority.process.wiring import ServingProcess, open_process

log = logging.getLogger("authority.server")
HEALTH_INTERVAL = 1.0
ACCESS_LOG_HEALTH = "authority.v1.AccessLogShipping"
"""Health entry that is NOT_SERVING while events cannot reach ClickHouse (buffer growing)."""


class HealthGate(Protocol):
    """A condition beyond this process's own dependencies that health must also meet (a
    supervisor's worker: the supervisor's verdict on the whole, see ``process.cluster_health``).
    Asked every ``HEALTH_INTERVAL``, on the event loop: it must be quick."""

    def why_not_serving(self) -> str | None: ...


@dataclass
class RunningServer:
    server: grpc.aio.Server
    health: HealthServicer
    port: int
    process: ServingProcess
    services: tuple[str, ...]
    """The services served (and reported in health)."""
    mtls_port: int | None = None
    """The port of the listener that requires client certificates (``mtls_listen``)."""


async def start_server(process: ServingProcess) -> RunningServer:
    """The gRPC server of ``process``, started. A supervisor's worker shares the listen ports
    with the other workers (SO_REUSEPORT); elsewhere a port taken is an error."""
    settings = process.settings
    edge = build_server(
        process.api,
        authenticator=process.core.authenticator,
        events=process.core.events,
        peer_certificates=settings.mtls_enabled,
        max_message_bytes=settings.max_message_bytes,
        reuse_port=process.duties.process.shares_port,
    )
    port, mtls_port = _add_ports(edge.registry, settings)
    await edge.registry.start()
    await _set_health(edge.health, edge.services, serving=await process.core.store.ping())
    return RunningServer(
        server=edge.server,
        health=edge.health,
        port=port,
        process=process,
        services=edge.services,
        mtls_port=mtls_port,
    )


def _add_ports(server: grpc.aio.Server, settings: Settings) -> tuple[int, int | None]:
    """The listen address (plaintext on loopback only, else TLS; mTLS when a client CA is set and
    there is no separate mTLS listener) and the optional mTLS listener."""
    if not settings.tls_enabled:
        return server.add_insecure_port(settings.listen), None
    assert settings.tls_cert_file is not None
    assert settings.tls_key_file is not None

    def creds(client_ca: Path | None) -> grpc.ServerCredentials:
        assert settings.tls_cert_file is not None
        assert settings.tls_key_file is not None
        return server_credentials(
            cert_file=settings.tls_cert_file,
            key_file=settings.tls_key_file,
            client_ca_file=client_ca,
        )

    if settings.mtls_listen:
        port = server.add_secure_port(settings.listen, creds(None))
        return port, server.add_secure_port(
            settings.mtls_listen, creds(settings.tls_client_ca_file)
        )
    return server.add_secure_port(settings.listen, creds(settings.tls_client_ca_file)), None


def _status(serving: bool) -> health_pb2.HealthCheckResponse.ServingStatus.ValueType:
    return (
        health_pb2.HealthCheckResponse.SERVING
        if serving
        else health_pb2.HealthCheckResponse.NOT_SERVING
    )


async def _set_health(health: HealthServicer, services: tuple[str, ...], *, serving: bool) -> None:
    for name in ("", *services):
        await health.set(name, _status(serving))


async def _watch_health(running: RunningServer, gate: HealthGate | None) -> None:
    """SERVING only while Redis answers, the access-log buffer has room and the ``gate`` (if
    any) agrees; flips back as soon as all hold again."""
    serving: bool | None = None
    shipping_serving: bool | None = None
    core = running.process.core
    held = running.process.access_log
    shipper = held.shipper if held is not None else None
    while True:
        ok = await core.store.ping()
        why = "" if ok else "redis unreachable"
        if ok:
            try:
                backlog = await core.events.measure_backlog()
            except AuthorityError:
                ok, why = False, "access-log buffer unreadable"
            else:
                if core.events.full:
                    ok, why = False, f"access-log buffer full ({backlog} events unshipped)"
        if ok and gate is not None and (gate_why := gate.why_not_serving()) is not None:
            ok, why = False, gate_why
        # Only a process that ships reports the shipping health entry (a process with shipping
        # off knows nothing about it: the entry is absent there, NOT_FOUND to a health check).
        shipping_ok = shipper.healthy() if shipper is not None else None
        if shipping_ok is not None and shipping_ok != shipping_serving:
            # A clear signal that ClickHouse is not keeping up, while unlocks still work (until
            # the buffer is full): the access-log service's own health entry.
            await running.health.set(ACCESS_LOG_HEALTH, _status(shipping_ok))
            if not shipping_ok:
                log.error("access-log shipping failing", extra={"backlog": core.events.backlog})
            shipping_serving = shipping_ok
        if ok != serving:
            await _set_health(running.health, running.services, serving=ok)
            if ok:
                log.info("health SERVING")
            else:
                log.error("health NOT_SERVING", extra={"why": why})
            serving = ok
        await asyncio.sleep(HEALTH_INTERVAL)


def _report_shipper_exit(task: asyncio.Task[None]) -> None:
    """The shipper only returns when told to stop; anything else is a bug worth a loud log
    (its health entry then stays failing, as nothing ships)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("access-log shipper stopped unexpectedly", exc_info=task.exception())


async def _run_privacy_sweeps(process: ServingProcess, stop: asyncio.Event) -> None:
    """The privacy job (due erasures, the one-year rule) every ``privacy_sweep_interval_seconds``,
    by one process at a time: whoever takes the Redis lease for this interval runs it."""
    interval = process.settings.privacy_sweep_interval_seconds
    owner = f"{os.getpid()}-{id(process)}"
    while not stop.is_set():
        try:
            if await process.core.persons.take_sweep_lease(owner, seconds=interval):
                report = await process.privacy.sweep()
                log.info(
                    "privacy sweep",
                    extra={
                        "erased_on_request": len(report.erased_on_request),
                        "erased_inactive": len(report.erased_inactive),
                        "kept_administering": len(report.kept_administering),
                    },
                )
        except AuthorityError as exc:  # Redis or ClickHouse away: try again next interval
            log.warning("privacy sweep failed", extra={"error": str(exc)})
        except Exception:  # a bug: loud, but the server (and the next interval) carries on
            log.exception("privacy sweep crashed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def serve(
    settings: Settings,
    *,
    on_ready: Callable[[RunningServer], None] | None = None,
    stop: asyncio.Event | None = None,
    install_signal_handlers: bool = True,
    clock: Clock | None = None,
    process: ProcessRole = ProcessRole.SINGLE,
    health_gate: HealthGate | None = None,
) -> None:
    """Run until SIGTERM/SIGINT (or ``stop`` is set), then drain gracefully and close.

    ``process``: how this process was started (a single one by default; a supervisor starts its
    workers and log process with theirs): with ``settings`` it decides the process's ``Duties``;
    ``health_gate``: what else health must wait for."""
    stop = stop or asyncio.Event()
    duties = Duties.of(settings, process)
    if duties.lowers_priority:
        # Imports take the CPU the unlock processes leave (measured: bench/README.md, "Fleet
        # bulk issuance"). nice(2) applies to this thread; every thread started later (gRPC's,
        # the executor's) inherits it.
        os.nice(settings.bulk_nice)
    built = await open_process(settings, duties, clock=clock)
    core, held = built.core, built.access_log
    log_reads: LogReadListener | None = None
    try:
        if held is not None and held.socket_source is not None:
            assert settings.log_socket_path is not None  # serves_log_socket
            # Log reads of the processes that cannot open this process's chDB.
            log_reads = await LogReadListener.start(settings.log_socket_path, held.socket_source)
        running = await start_server(built)
        watcher = asyncio.create_task(_watch_health(running, health_gate))
        stop_limiter = asyncio.Event()
        limiting = asyncio.create_task(core.limiter.run(stop_limiter))
        stop_shipping = asyncio.Event()
        shipping: asyncio.Task[None] | None = None
        if held is not None and held.shipper is not None:
            shipping = asyncio.create_task(held.shipper.run(stop_shipping))
            shipping.add_done_callback(_report_shipper_exit)
        sweeping: asyncio.Task[None] | None = None
        if duties.sweeps_privacy:
            sweeping = asyncio.create_task(_run_privacy_sweeps(built, stop_shipping))
        if install_signal_handlers:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
        log.info(
            "authority serving",
            extra={
                "port": running.port,
                "tls": settings.tls_enabled,
                "redis": "embedded" if core.embedded else "external",
                "ship_events": settings.ship_events,
                "process_role": process.value,
                "directory_version": core.directory.version,
                "signing_kid": core.keyring.active.kid.hex(),
            },
        )
        # Everything built so far lives as long as the process: keep it out of the collector's
        # scans, so a full collection on the unlock path walks only per-call garbage.
        gc.collect()
        gc.freeze()
        # Local tools find a single process through server.json; a supervisor writes its own.
        info_file = None
        if not process.supervised:
            info_file = write_server_info(
                settings.data_dir,
                target=local_target(settings.listen_host_port[0], running.port),
                tls=settings.tls_enabled,
            )
        if on_ready is not None:
            on_ready(running)
        await stop.wait()
        if info_file is not None:
            info_file.unlink(missing_ok=True)
        log.info("draining", extra={"grace_seconds": settings.grace_seconds})
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await running.health.enter_graceful_shutdown()  # NOT_SERVING, and it stays so
        await running.server.stop(settings.grace_seconds)
        stop_limiter.set()  # after the drain: its last report of refusals reaches the log
        await limiting
        stop_shipping.set()  # after the drain: the last calls' events are shipped if possible
        if sweeping is not None:
            await sweeping
        if shipping is not None:
            await shipping
        log.info("stopped")
    finally:
        if log_reads is not None:  # after the shipper: other processes read until the end
            await log_reads.stop(settings.grace_seconds)
        await built.close()
