"""The gRPC server of one process, assembled from the use cases it serves.

grpc.aio was chosen over the thread-pool server by measurement (bench/README.md): the sync
server's bare echo is cheaper, but an unlock needs a Redis round trip, and only on one event
loop can the lookups of concurrent calls be coalesced into a single pipeline; the aio server also
gives streaming calls (bulk issuance) and cancellation without a thread per call.

What a process serves is one of three API values (``EveryApi``, ``AccessLogApi``, ``GrantApi``),
each holding exactly the use cases its servicers call; the process wiring
(``authority.process.wiring``) builds the one its role needs, and ``authority.process.serve``
runs the server (ports, health, drain).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from authority.api.accesslog_servicer import (
    ACCESSLOG_SERVICE_NAMES,
    register_accesslog_services,
)
from authority.api.authz import UNLOCK_METHOD, AuthorizationInterceptor
from authority.api.directory_servicer import DirectoryServicer
from authority.api.grant_servicer import GrantServicer
from authority.api.identity_servicer import IDENTITY_SERVICE_NAMES, IdentityServicer
from authority.api.key_servicer import KeyServicer, VerificationKeys
from authority.api.peer_interceptor import PeerIdentityInterceptor
from authority.api.privacy_servicer import PRIVACY_SERVICE_NAMES, register_privacy_service
from authority.api.relay_servicer import RelayServicer
from authority.api.request_guard import GuardedRegistry
from authority.api.surface import ApiSurface
from authority.api.unlock_servicer import CallGauge, UnlockServicer
from authority.domain.ports.accesslog import EventRecorder
from authority.usecases.accesslog_queries import AccessLogQueries
from authority.usecases.accounts import Accounts
from authority.usecases.api_credentials import ApiCredentials
from authority.usecases.auth import Authenticator
from authority.usecases.directory import DirectoryCommands
from authority.usecases.fleet import FleetCommands
from authority.usecases.grants import GrantCommands
from authority.usecases.login_policies import LoginPolicies
from authority.usecases.owner_requests import OwnerLogRequests
from authority.usecases.privacy import PrivacyCommands
from authority.usecases.relay import RelayReports
from authority.usecases.sessions import Sessions
from authority.usecases.unlock import UnlockService
from authority.v1 import authority_pb2 as pb
from authority.v1 import authority_pb2_grpc as pb_grpc
from authority.v1 import identity_pb2_grpc as ipb_grpc

SERVICE_NAMES = (
    *(s.full_name for s in pb.DESCRIPTOR.services_by_name.values()),
    *IDENTITY_SERVICE_NAMES,
    *ACCESSLOG_SERVICE_NAMES,
    *PRIVACY_SERVICE_NAMES,
)
GRANT_SERVICE = pb.DESCRIPTOR.services_by_name["GrantService"].full_name
SERVICES_OF: Mapping[ApiSurface, tuple[str, ...]] = {
    ApiSurface.EVERY: SERVICE_NAMES,
    ApiSurface.ACCESS_LOG: ACCESSLOG_SERVICE_NAMES,
    ApiSurface.GRANTS: (GRANT_SERVICE,),
}
"""The gRPC services of each API surface (reported in health and reflection)."""
HOT_METHODS = frozenset({UNLOCK_METHOD, "/authority.v1.RelayService/ReportRelayOutcome"})
"""Served through grpc.aio's registered-method path (a decision, and the relay's outcome of
each opening); everything else through generic handlers."""


@dataclass(frozen=True, kw_only=True)
class GrantApi:
    """The grant service: single grants and the fleet's bulk calls (a bulk process serves it
    alone)."""

    grants: GrantCommands
    fleet: FleetCommands

    @property
    def surface(self) -> ApiSurface:
        return ApiSurface.GRANTS


@dataclass(frozen=True, kw_only=True)
class AccessLogApi:
    """The access log's services: queries and owner log requests (a process that only ships
    serves them alone)."""

    queries: AccessLogQueries
    owner_requests: OwnerLogRequests

    @property
    def surface(self) -> ApiSurface:
        return ApiSurface.ACCESS_LOG


@dataclass(frozen=True, kw_only=True)
class IdentityApi:
    """The identity service: staff accounts, logins and sessions, login policies, API
    credentials."""

    accounts: Accounts
    sessions: Sessions
    login_policies: LoginPolicies
    api_credentials: ApiCredentials


@dataclass(frozen=True, kw_only=True)
class EveryApi:
    """Every service: what a worker (or a single process serving everything) answers."""

    unlock: UnlockService
    unlock_calls: CallGauge
    """Counts the unlock calls in progress (the unlock path's round trip lingers on it)."""
    directory: DirectoryCommands
    relays: RelayReports
    keys: VerificationKeys
    identity: IdentityApi
    privacy: PrivacyCommands
    grants: GrantApi
    access_log: AccessLogApi

    @property
    def surface(self) -> ApiSurface:
        return ApiSurface.EVERY


ServedApi = EveryApi | AccessLogApi | GrantApi


@dataclass(frozen=True, kw_only=True)
class EdgeServer:
    """A built, not yet started, gRPC server."""

    server: grpc.aio.Server
    """The grpc.aio server itself (to stop it)."""
    registry: grpc.aio.Server
    """The server as services and ports are added to it: through the request guard."""
    health: HealthServicer
    services: tuple[str, ...]
    """The services served (and reported in health)."""


def build_server(
    api: ServedApi,
    *,
    authenticator: Authenticator,
    events: EventRecorder,
    peer_certificates: bool,
    max_message_bytes: int,
    reuse_port: bool,
) -> EdgeServer:
    """The server for ``api``, every call authenticated and authorized by ``authenticator``
    (denials recorded in ``events``). ``peer_certificates``: mTLS is configured, so the client
    certificate's identity is read first. ``reuse_port``: share the listen ports with the other
    workers of a supervisor (SO_REUSEPORT; the kernel spreads new connections over them)."""
    grpc_server = grpc.aio.server(
        # mTLS: the client certificate's identity first (when configured), for the
        # authorization interceptor that authenticates and authorizes every call after it.
        interceptors=[
            *([PeerIdentityInterceptor()] if peer_certificates else []),
            AuthorizationInterceptor(authenticator, events),
        ],
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 1 if reuse_port else 0),
            # No window growth by bandwidth probing: a sender may push only the 64 KiB window
            # before a too-large message is refused, so 16 MiB requests cost no memory
            # (measured: with probing, 40 of them left ~120 MiB behind in the allocator).
            ("grpc.http2.bdp_probe", 0),
        ],
    )
    # Services are added through the guard: an undecodable request is INVALID_ARGUMENT.
    server = cast(grpc.aio.Server, GuardedRegistry(grpc_server, hot=HOT_METHODS))
    _register(server, api)
    services = SERVICES_OF[api.surface]
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
    return EdgeServer(server=grpc_server, registry=server, health=health, services=services)


def _register(server: grpc.aio.Server, api: ServedApi) -> None:
    match api:
        case GrantApi():
            _register_grants(server, api)
        case AccessLogApi():
            _register_access_log(server, api)
        case EveryApi():
            _register_grants(server, api.grants)
            pb_grpc.add_UnlockServiceServicer_to_server(
                UnlockServicer(api.unlock, api.directory, calls=api.unlock_calls), server
            )
            pb_grpc.add_RelayServiceServicer_to_server(RelayServicer(api.relays), server)
            pb_grpc.add_DirectoryServiceServicer_to_server(DirectoryServicer(api.directory), server)
            pb_grpc.add_KeyServiceServicer_to_server(KeyServicer(api.keys), server)
            register_privacy_service(server, privacy=api.privacy)
            identity = IdentityServicer(
                accounts=api.identity.accounts,
                sessions=api.identity.sessions,
                login_policies=api.identity.login_policies,
                api_credentials=api.identity.api_credentials,
            )
            ipb_grpc.add_IdentityServiceServicer_to_server(identity, server)
            _register_access_log(server, api.access_log)


def _register_grants(server: grpc.aio.Server, api: GrantApi) -> None:
    pb_grpc.add_GrantServiceServicer_to_server(GrantServicer(api.grants, api.fleet), server)


def _register_access_log(server: grpc.aio.Server, api: AccessLogApi) -> None:
    register_accesslog_services(server, queries=api.queries, owner_requests=api.owner_requests)
