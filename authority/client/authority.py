"""A small typed Python client for the authority's API (used by the CLI, the demo and tests).

client = AuthorityClient("127.0.0.1:50051", credential="adm_….…")
org = client.create_organisation(name="PostNord", cvr="…", purpose=pb.PURPOSE_POSTAL)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from authority.client.timestamps import timestamp
from authority.client.tls import ClientTls
from authority.domain.schedule import WeeklyWindow
from authority.v1 import authority_pb2 as pb
from authority.v1 import authority_pb2_grpc as pb_grpc
from authority.v1 import identity_pb2 as ipb
from authority.v1 import identity_pb2_grpc as ipb_grpc
from authority.v1 import privacy_pb2_grpc as ppb_grpc

Req = TypeVar("Req")
Resp = TypeVar("Resp")
CHUNK_ITEMS = 1000
CHUNK_BYTES = 192 * 1024
"""Bulk request messages stay under the server's default 256 KiB message limit."""


def chunk_items(
    items: Iterable[pb.GrantItem],
    *,
    organisation_id: str = "",
    max_items: int = CHUNK_ITEMS,
    max_bytes: int = CHUNK_BYTES,
) -> Iterator[pb.IssueGrantsRequest]:
    """Bulk items as request messages of at most ``max_items`` items and ``max_bytes`` bytes.
    (An item bigger than ``max_bytes`` on its own is sent alone; keep items small: the CLI
    rejects oversized fields before they are sent.)"""
    batch: list[pb.GrantItem] = []
    size = 0
    for item in items:
        item_size = item.ByteSize() + 4
        if batch and (len(batch) >= max_items or size + item_size > max_bytes):
            yield pb.IssueGrantsRequest(organisation_id=organisation_id, items=batch)
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield pb.IssueGrantsRequest(organisation_id=organisation_id, items=batch)


def grant_item(
    *,
    idempotency_key: str,
    key_holder_id: str,
    valid_until: datetime,
    door_id: str = "",
    site_id: str = "",
    valid_from: datetime | None = None,
    windows: Iterable[WeeklyWindow] = (),
    organisation_cvr: str = "",
    row: int = 0,
) -> pb.GrantItem:
    item = pb.GrantItem(
        idempotency_key=idempotency_key,
        key_holder_id=key_holder_id,
        door_id=door_id,
        site_id=site_id,
        valid_until=timestamp(valid_until),
        windows=windows_pb(windows),
        organisation_cvr=organisation_cvr,
        row=row,
    )
    if valid_from is not None:
        item.valid_from.CopyFrom(timestamp(valid_from))
    return item


def windows_pb(windows: Iterable[WeeklyWindow]) -> list[pb.ScheduleWindow]:
    return [
        pb.ScheduleWindow(
            days=[pb.Weekday.Name(d) for d in sorted(w.days)],
            start_minute=w.start_minute,
            end_minute=w.end_minute,
        )
        for w in windows
    ]


@dataclass(frozen=True)
class ServerInfo:
    """What a running server writes to ``<data_dir>/server.json`` for local tools."""

    target: str
    pid: int
    """The single process, or the supervisor of the workers."""
    tls: bool = False
    workers: tuple[int, ...] = ()
    """The workers' pids (``serve --workers N``); empty for a single process."""
    log_pid: int | None = None
    """The log process's pid (``serve --workers N``)."""

    @classmethod
    def read(cls, data_dir: Path) -> ServerInfo | None:
        try:
            raw = json.loads((data_dir / "server.json").read_text())
        except (OSError, ValueError):
            return None
        log_pid = raw.get("log_pid")
        return cls(
            target=str(raw["target"]),
            pid=int(raw["pid"]),
            tls=bool(raw.get("tls")),
            workers=tuple(int(p) for p in raw.get("workers", ())),
            log_pid=None if log_pid is None else int(log_pid),
        )


DEV_CERTS_DIR = "tls"
"""Where ``authority dev-certs`` writes by default, inside the data directory."""


@dataclass(frozen=True)
class Connection:
    """Where a command-line tool connects, as whom, and how (found without configuration on the
    server's own machine)."""

    target: str
    credential: str | None
    tls: ClientTls | None

    @classmethod
    def resolve(
        cls,
        data_dir: Path,
        *,
        target: str | None = None,
        credential: str | None = None,
        ca_file: Path | None = None,
        client_cert: Path | None = None,
        client_key: Path | None = None,
    ) -> Connection:
        """``target``, else the local server's ``server.json``; ``credential``, else the admin
        credential in ``data_dir``; TLS with ``ca_file``, or, when the local server speaks TLS,
        with the development CA in ``data_dir/tls`` (``authority dev-certs``)."""
        info = ServerInfo.read(data_dir)
        if not target:
            target = info.target if info else "127.0.0.1:50051"
        if not credential:
            path = data_dir / "admin.credential"
            if path.exists():
                credential = path.read_text().strip()
        if ca_file is None and info is not None and info.tls:
            dev_ca = data_dir / DEV_CERTS_DIR / "ca.pem"
            ca_file = dev_ca if dev_ca.exists() else None
        tls = ClientTls.from_files(ca_file, client_cert, client_key) if ca_file else None
        return cls(target, credential, tls)

    @classmethod
    def from_args(cls, ns: Any, environ: Mapping[str, str]) -> Connection:
        """From the flags ``add_connection_arguments`` adds (and their environment variables)."""

        def path(flag: str, env: str) -> Path | None:
            value = getattr(ns, flag, None) or environ.get(env)
            return Path(value) if value else None

        return cls.resolve(
            path("data_dir", "AUTHORITY_DATA_DIR") or Path(".authority"),
            target=ns.target,
            credential=ns.credential or environ.get("AUTHORITY_CREDENTIAL"),
            ca_file=path("ca_file", "AUTHORITY_CA_FILE"),
            client_cert=path("client_cert", "AUTHORITY_CLIENT_CERT_FILE"),
            client_key=path("client_key", "AUTHORITY_CLIENT_KEY_FILE"),
        )


def add_connection_arguments(p: Any) -> None:
    """``--target``, ``--credential``, ``--data-dir`` and the TLS flags of every client command."""
    p.add_argument("--target", help="server host:port (default: from <data-dir>/server.json)")
    p.add_argument(
        "--credential",
        help="caller credential (default: AUTHORITY_CREDENTIAL, else the admin credential file)",
    )
    p.add_argument("--data-dir", type=Path, help="data directory of the local server")
    p.add_argument(
        "--ca-file",
        type=Path,
        help="CA certificate to verify the server (AUTHORITY_CA_FILE; default: <data-dir>/tls/"
        "ca.pem when the local server speaks TLS)",
    )
    p.add_argument(
        "--client-cert", type=Path, help="client certificate for mTLS (AUTHORITY_CLIENT_CERT_FILE)"
    )
    p.add_argument("--client-key", type=Path, help="its private key (AUTHORITY_CLIENT_KEY_FILE)")


def open_channel(
    target: str, tls: ClientTls | None = None, *, own_connection: bool = False
) -> grpc.Channel:
    """A channel to the authority: TLS (mTLS with a client certificate) when ``tls`` is given,
    else plaintext (which the server accepts on loopback only).

    ``own_connection``: a TCP connection of this channel's own. grpc shares one connection among
    a process's channels to the same target; the kernel spreads *connections* over the workers
    of ``serve --workers N``, so a client that wants to reach several workers needs several."""
    options = [("grpc.use_local_subchannel_pool", 1)] if own_connection else []
    if tls is not None:
        return grpc.secure_channel(target, tls.channel_credentials(), options=options)
    return grpc.insecure_channel(target, options=options)


def bearer_metadata(credential: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {credential}"),) if credential else ()


class AuthorityClient:
    def __init__(
        self,
        target: str,
        *,
        credential: str | None = None,
        tls: ClientTls | None = None,
        timeout: float = 10.0,
        own_connection: bool = False,
    ) -> None:
        self.channel = open_channel(target, tls, own_connection=own_connection)
        self._metadata = bearer_metadata(credential)
        self._timeout = timeout
        self.unlock_stub = pb_grpc.UnlockServiceStub(self.channel)
        self.directory = pb_grpc.DirectoryServiceStub(self.channel)
        self.grants = pb_grpc.GrantServiceStub(self.channel)
        self.keys = pb_grpc.KeyServiceStub(self.channel)
        self.relays = pb_grpc.RelayServiceStub(self.channel)
        self.privacy = ppb_grpc.PrivacyServiceStub(self.channel)
        self.identity = ipb_grpc.IdentityServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def with_credential(self, credential: str) -> AuthorityClient:
        other = object.__new__(AuthorityClient)
        other.__dict__.update(self.__dict__)
        other._metadata = bearer_metadata(credential)
        return other

    def close(self) -> None:
        self.channel.close()

    # -- identity: logins and sessions -------------------------------------------------------

    def issue_holder_activation(self, key_holder_id: str) -> str:
        """A one-time activation code for a key holder's app (organisation or admin)."""
        return self._call(
            self.identity.IssueHolderActivation,
            ipb.IssueHolderActivationRequest(key_holder_id=key_holder_id),
        ).activation_code

    def activate(self, activation_code: str, password: str) -> ipb.ActivateResponse:
        return self._call(
            self.identity.Activate,
            ipb.ActivateRequest(activation_code=activation_code, password=password),
        )

    def login(self, login: str, password: str, totp_code: str = "") -> ipb.Session:
        return self._call(
            self.identity.Login,
            ipb.LoginRequest(login=login, password=password, totp_code=totp_code),
        )

    def refresh_session(self, refresh_credential: str) -> ipb.Session:
        return self._call(
            self.identity.RefreshSession,
            ipb.RefreshSessionRequest(refresh_credential=refresh_credential),
        )

    def app_login(self, key_holder_id: str, password: str) -> ipb.Session:
        """Enrol a key holder's app and log it in: this (organisation's) client issues the
        one-time activation code, the app sets its password with it and logs in (what the phone
        does after enrolment). The app's new session."""
        self.activate(self.issue_holder_activation(key_holder_id), password)
        return self.login(key_holder_id, password)

    def _call(self, method: grpc.UnaryUnaryMultiCallable[Req, Resp], request: Req) -> Resp:
        return method(request, metadata=self._metadata, timeout=self._timeout)

    def call(self, method: grpc.UnaryUnaryMultiCallable[Req, Resp], request: Req) -> Resp:
        """Any unary call with this client's credential, e.g.
        ``client.call(client.privacy.GetPersonProfile, ppb.GetPersonProfileRequest(…))``."""
        return self._call(method, request)

    def stream(
        self, method: grpc.UnaryStreamMultiCallable[Req, Resp], request: Req
    ) -> Iterator[Resp]:
        """Any server-streaming call with this client's credential."""
        return iter(method(request, metadata=self._metadata, timeout=self._timeout * 6))

    # -- convenience wrappers ----------------------------------------------------------------

    def check_health(self, service: str = "") -> int:
        return int(
            self.health.Check(
                health_pb2.HealthCheckRequest(service=service), timeout=self._timeout
            ).status
        )

    def create_organisation(self, **fields: Any) -> pb.CreateOrganisationResponse:
        return self._call(self.directory.CreateOrganisation, pb.CreateOrganisationRequest(**fields))

    def set_organisation_status(
        self, organisation_id: str, status: pb.OrganisationStatus, reason: str = ""
    ) -> pb.Organisation:
        return self._call(
            self.directory.SetOrganisationStatus,
            pb.SetOrganisationStatusRequest(
                organisation_id=organisation_id,
                status=status,
                reason=reason,
            ),
        )

    def create_site(self, **fields: Any) -> pb.Site:
        return self._call(self.directory.CreateSite, pb.CreateSiteRequest(**fields))

    def get_site(self, site_id: str) -> pb.Site:
        return self._call(self.directory.GetSite, pb.GetSiteRequest(site_id=site_id))

    def create_door(self, **fields: Any) -> pb.Door:
        return self._call(self.directory.CreateDoor, pb.CreateDoorRequest(**fields))

    def get_door(self, door_id: str) -> pb.Door:
        return self._call(self.directory.GetDoor, pb.GetDoorRequest(door_id=door_id))

    def set_door_relay_key(
        self, door_id: str, relay_public_key: bytes, relay_id: str = ""
    ) -> pb.Door:
        return self._call(
            self.directory.SetDoorRelayKey,
            pb.SetDoorRelayKeyRequest(
                door_id=door_id, relay_public_key=relay_public_key, relay_id=relay_id
            ),
        )

    def create_key_holder(self, organisation_id: str = "") -> pb.CreateKeyHolderResponse:
        return self._call(
            self.directory.CreateKeyHolder,
            pb.CreateKeyHolderRequest(organisation_id=organisation_id),
        )

    def set_key_holder_status(self, key_holder_id: str, status: pb.KeyHolderStatus) -> pb.KeyHolder:
        return self._call(
            self.directory.SetKeyHolderStatus,
            pb.SetKeyHolderStatusRequest(key_holder_id=key_holder_id, status=status),
        )

    def issue_grant(
        self,
        *,
        key_holder_id: str,
        valid_until: datetime,
        door_id: str = "",
        site_id: str = "",
        organisation_id: str = "",
        valid_from: datetime | None = None,
        windows: list[WeeklyWindow] | None = None,
    ) -> pb.Grant:
        req = pb.IssueGrantRequest(
            key_holder_id=key_holder_id,
            door_id=door_id,
            site_id=site_id,
            organisation_id=organisation_id,
            valid_until=timestamp(valid_until),
            windows=windows_pb(windows or []),
        )
        if valid_from is not None:
            req.valid_from.CopyFrom(timestamp(valid_from))
        return self._call(self.grants.IssueGrant, req)

    def revoke_grant(self, grant_id: str) -> pb.Grant:
        return self._call(self.grants.RevokeGrant, pb.RevokeGrantRequest(grant_id=grant_id))

    def list_grants(self, key_holder_id: str) -> pb.ListGrantsResponse:
        return self._call(self.grants.ListGrants, pb.ListGrantsRequest(key_holder_id=key_holder_id))

    def issue_grants(
        self, requests: Iterable[pb.IssueGrantsRequest], *, timeout: float | None = None
    ) -> Iterator[pb.IssueGrantsResponse]:
        """The bulk stream: one response (the items' results) per request message, in order.
        No deadline by default (an import of any size)."""
        responses: Iterator[pb.IssueGrantsResponse] = self.grants.IssueGrants(
            iter(requests), metadata=self._metadata, timeout=timeout
        )
        return responses

    def revoke_grants(
        self,
        *,
        key_holder_id: str = "",
        organisation_id: str = "",
        site_id: str = "",
        door_id: str = "",
    ) -> pb.RevokeGrantsResponse:
        request = pb.RevokeGrantsRequest()
        for name, value in (
            ("key_holder_id", key_holder_id),
            ("organisation_id", organisation_id),
            ("site_id", site_id),
            ("door_id", door_id),
        ):
            if value:
                setattr(request, name, value)
        return self._call(self.grants.RevokeGrants, request)

    def replace_holder_grants(
        self, key_holder_id: str, grants: Iterable[pb.GrantItem], organisation_id: str = ""
    ) -> pb.ReplaceHolderGrantsResponse:
        return self._call(
            self.grants.ReplaceHolderGrants,
            pb.ReplaceHolderGrantsRequest(
                key_holder_id=key_holder_id, organisation_id=organisation_id, grants=list(grants)
            ),
        )

    def export_grants(
        self, organisation_id: str = "", *, include_inactive: bool = False
    ) -> Iterator[pb.Grant]:
        responses: Iterator[pb.ExportGrantsResponse] = self.grants.ExportGrants(
            pb.ExportGrantsRequest(
                organisation_id=organisation_id, include_inactive=include_inactive
            ),
            metadata=self._metadata,
        )
        for response in responses:
            yield from response.grants

    def access_policy(self) -> pb.AccessPolicy:
        return self._call(self.grants.GetAccessPolicy, pb.GetAccessPolicyRequest())

    def set_site_organisation_blocked(
        self, site_id: str, organisation_id: str, *, blocked: bool
    ) -> pb.Site:
        return self._call(
            self.directory.SetSiteOrganisationBlocked,
            pb.SetSiteOrganisationBlockedRequest(
                site_id=site_id, organisation_id=organisation_id, blocked=blocked
            ),
        )

    def request_unlock(
        self, door_id: str, challenge: bytes = b"", *, offline: bool = False
    ) -> pb.RequestUnlockResponse:
        return self._call(
            self.unlock_stub.RequestUnlock,
            pb.RequestUnlockRequest(door_id=door_id, relay_challenge=challenge, offline=offline),
        )

    def register_device_key(self, device_public_key: bytes) -> pb.RegisterDeviceKeyResponse:
        return self._call(
            self.unlock_stub.RegisterDeviceKey,
            pb.RegisterDeviceKeyRequest(device_public_key=device_public_key),
        )

    def report_relay_outcome(
        self, door_id: str, signed_result: bytes
    ) -> pb.ReportRelayOutcomeResponse:
        return self._call(
            self.relays.ReportRelayOutcome,
            pb.ReportRelayOutcomeRequest(door_id=door_id, signed_result=signed_result),
        )

    def revocation_notice(self, door_id: str) -> pb.GetRevocationNoticeResponse:
        return self._call(
            self.relays.GetRevocationNotice, pb.GetRevocationNoticeRequest(door_id=door_id)
        )

    def verification_keys(self) -> pb.GetVerificationKeysResponse:
        return self._call(self.keys.GetVerificationKeys, pb.GetVerificationKeysRequest())
