"""The gRPC server's lifecycle: build, serve, drain on SIGTERM, stop, close adapters.

grpc.aio was chosen over the thread-pool server by measurement (bench/README.md): the sync
server's bare echo is cheaper, but an unlock needs a Redis round trip, and only on one event
loop can the lookups of concurrent calls be coalesced into a single pipeline; the aio server also
gives streaming calls (bulk issuance) and cancellation without a thread per call.
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
from typing import Protocol, cast

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from authority.api.accesslog_servicer import (
    ACCESSLOG_SERVICE_NAMES,
    register_accesslog_services,
)
from authority.api.authz import AuthorizationInterceptor
from authority.api.directory_servicer import DirectoryServicer
from authority.api.grant_servicer import GrantServicer
from authority.api.identity_servicer import IDENTITY_SERVICE_NAMES, IdentityServicer
from authority.api.key_servicer import KeyServicer
from authority.api.log_reader import LogReadListener
from authority.api.peer_interceptor import PeerIdentityInterceptor
from authority.api.privacy_servicer import PRIVACY_SERVICE_NAMES, register_privacy_service
from authority.api.relay_servicer import RelayServicer
from authority.api.request_guard import GuardedRegistry
from authority.api.unlock_servicer import UnlockServicer
from authority.domain.errors import AuthorityError
from authority.domain.ports.clock import Clock
from authority.process.config import Settings
from authority.process.roles import ProcessRole
from authority.process.server_info import local_target, write_server_info
from authority.process.tls import server_credentials
from authority.process.wiring import Runtime
from authority.usecases.unlock import UNLOCK_METHOD
from authority.v1 import authority_pb2 as pb
from authority.v1 import authority_pb2_grpc as pb_grpc
from authority.v1 import identity_pb2_grpc as ipb_grpc

log = logging.getLogger("authority.server")
SERVICE_NAMES = (
    *(s.full_name for s in pb.DESCRIPTOR.services_by_name.values()),
    *IDENTITY_SERVICE_NAMES,
    *ACCESSLOG_SERVICE_NAMES,
    *PRIVACY_SERVICE_NAMES,
)
GRANT_SERVICE = pb.DESCRIPTOR.services_by_name["GrantService"].full_name
BULK_SERVICE_NAMES = (GRANT_SERVICE,)
"""A bulk process (``role=bulk``): imports and the other fleet calls, nothing else."""
HEALTH_INTERVAL = 1.0
HOT_METHODS = frozenset({UNLOCK_METHOD, "/authority.v1.RelayService/ReportRelayOutcome"})
"""Served through grpc.aio's registered-method path (a decision, and the relay's outcome of
each opening); everything else through generic handlers."""


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
    runtime: Runtime
    services: tuple[str, ...] = SERVICE_NAMES
    """The services served (and reported in health)."""
    mtls_port: int | None = None
    """The port of the listener that requires client certificates (``mtls_listen``)."""


async def start_server(runtime: Runtime, *, reuse_port: bool = False) -> RunningServer:
    """``reuse_port``: share the listen ports with the other workers of a supervisor
    (SO_REUSEPORT; the kernel spreads new connections over them). Off, a port taken is an error."""
    settings = runtime.settings
    limit = settings.max_message_bytes
    grpc_server = grpc.aio.server(
        # mTLS: the client certificate's identity first (when configured), for the
        # authorization interceptor that authenticates and authorizes every call after it.
        interceptors=[
            *([PeerIdentityInterceptor()] if settings.mtls_enabled else []),
            AuthorizationInterceptor(runtime.authenticator, runtime.events),
        ],
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
            ("grpc.so_reuseport", 1 if reuse_port else 0),
            # No window growth by bandwidth probing: a sender may push only the 64 KiB window
            # before a too-large message is refused, so 16 MiB requests cost no memory
            # (measured: with probing, 40 of them left ~120 MiB behind in the allocator).
            ("grpc.http2.bdp_probe", 0),
        ],
    )
    # Services are added through the guard: an undecodable request is INVALID_ARGUMENT.
    server = cast(grpc.aio.Server, GuardedRegistry(grpc_server, hot=HOT_METHODS))
    services = served_services(settings)
    if GRANT_SERVICE in services:
        pb_grpc.add_GrantServiceServicer_to_server(
            GrantServicer(runtime.grant_commands, runtime.fleet_commands), server
        )
    if services is SERVICE_NAMES:  # not a process that only ships (ship_events=only)
        pb_grpc.add_UnlockServiceServicer_to_server(
            UnlockServicer(runtime.unlock, runtime.directory_commands), server
        )
        pb_grpc.add_RelayServiceServicer_to_server(RelayServicer(runtime.relay_reports), server)
        pb_grpc.add_DirectoryServiceServicer_to_server(
            DirectoryServicer(runtime.directory_commands), server
        )
        pb_grpc.add_KeyServiceServicer_to_server(KeyServicer(runtime.keyring), server)
        register_privacy_service(server, privacy=runtime.privacy)
        ipb_grpc.add_IdentityServiceServicer_to_server(IdentityServicer(runtime.identity), server)
    if services is not BULK_SERVICE_NAMES:
        register_accesslog_services(
            server,
            queries=runtime.access_log_queries,
            owner_requests=runtime.owner_log_requests,
        )
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        (
            *services,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    port, mtls_port = _add_ports(server, settings)
    await server.start()
    await _set_health(health, services, serving=await runtime.store.ping())
    return RunningServer(
        server=grpc_server,
        health=health,
        port=port,
        runtime=runtime,
        services=services,
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


def served_services(settings: Settings) -> tuple[str, ...]:
    """The gRPC services of this process: every one; for a process that only ships
    (``ship_events=only``), the access log's (queries and owner requests); for a bulk process
    (``role=bulk``), the grant service. Health and reflection always."""
    if settings.role == "bulk":
        return BULK_SERVICE_NAMES
    return ACCESSLOG_SERVICE_NAMES if settings.ship_events == "only" else SERVICE_NAMES


ACCESS_LOG_HEALTH = "authority.v1.AccessLogShipping"
"""Health entry that is NOT_SERVING while events cannot reach ClickHouse (buffer growing)."""


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
    runtime = running.runtime
    while True:
        ok = await runtime.store.ping()
        why = "" if ok else "redis unreachable"
        if ok:
            try:
                backlog = await runtime.events.measure_backlog()
            except AuthorityError:
                ok, why = False, "access-log buffer unreadable"
            else:
                if runtime.events.full:
                    ok, why = False, f"access-log buffer full ({backlog} events unshipped)"
        if ok and gate is not None and (gate_why := gate.why_not_serving()) is not None:
            ok, why = False, gate_why
        # Only a process that ships reports the shipping health entry (a process with shipping
        # off knows nothing about it: the entry is absent there, NOT_FOUND to a health check).
        shipping_ok = runtime.shipper.healthy() if runtime.shipper is not None else None
        if shipping_ok is not None and shipping_ok != shipping_serving:
            # A clear signal that ClickHouse is not keeping up, while unlocks still work (until
            # the buffer is full): the access-log service's own health entry.
            await running.health.set(ACCESS_LOG_HEALTH, _status(shipping_ok))
            if not shipping_ok:
                log.error("access-log shipping failing", extra={"backlog": runtime.events.backlog})
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


async def _run_privacy_sweeps(runtime: Runtime, stop: asyncio.Event) -> None:
    """The privacy job (due erasures, the one-year rule) every ``privacy_sweep_interval_seconds``,
    by one process at a time: whoever takes the Redis lease for this interval runs it."""
    interval = runtime.settings.privacy_sweep_interval_seconds
    owner = f"{os.getpid()}-{id(runtime)}"
    while not stop.is_set():
        try:
            if await runtime.persons.take_sweep_lease(owner, seconds=interval):
                report = await runtime.privacy.sweep()
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


def _runs_privacy_sweep(settings: Settings, process: ProcessRole, runtime: Runtime) -> bool:
    """The privacy job runs where the access log is at hand (it reads who used a door): in a
    supervisor's log process, or in a single process that serves every service (not a bulk
    process, not one that only ships beside processes that serve). Never in a worker."""
    if settings.privacy_sweep_interval_seconds <= 0 or runtime.log_client is None:
        return False
    if process is ProcessRole.LOG:
        return True
    return process.may_sweep and settings.role == "all" and settings.ship_events != "only"


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

    ``process``: what this process is for (a single one by default; a supervisor starts its
    workers and log process with theirs); ``health_gate``: what else health must wait for."""
    stop = stop or asyncio.Event()
    if settings.role == "bulk":
        # Imports take the CPU the unlock processes leave (measured: bench/README.md, "Fleet
        # bulk issuance"). nice(2) applies to this thread; every thread started later (gRPC's,
        # the executor's) inherits it.
        os.nice(settings.bulk_nice)
    runtime = await Runtime.open(settings, clock=clock)
    log_reads: LogReadListener | None = None
    try:
        if runtime.log_socket_source is not None and settings.log_socket_path is not None:
            # Log reads of the processes that cannot open this process's chDB.
            log_reads = await LogReadListener.start(
                settings.log_socket_path, runtime.log_socket_source
            )
        running = await start_server(runtime, reuse_port=process.shares_port)
        watcher = asyncio.create_task(_watch_health(running, health_gate))
        stop_limiter = asyncio.Event()
        limiting = asyncio.create_task(runtime.limiter.run(stop_limiter))
        stop_shipping = asyncio.Event()
        shipping: asyncio.Task[None] | None = None
        if runtime.shipper is not None:
            shipping = asyncio.create_task(runtime.shipper.run(stop_shipping))
            shipping.add_done_callback(_report_shipper_exit)
        sweeping: asyncio.Task[None] | None = None
        if _runs_privacy_sweep(settings, process, runtime):
            sweeping = asyncio.create_task(_run_privacy_sweeps(runtime, stop_shipping))
        if install_signal_handlers:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
        log.info(
            "authority serving",
            extra={
                "port": running.port,
                "tls": settings.tls_enabled,
                "redis": "embedded" if runtime.embedded else "external",
                "ship_events": settings.ship_events,
                "process_role": process.value,
                "directory_version": runtime.directory.version,
                "signing_kid": runtime.keyring.active.kid.hex(),
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
        await runtime.close()
