"""Scenario builders for API tests (a real server, real clients)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp

from authority.client.authority import AuthorityClient
from authority.domain.schedule import WeeklyWindow
from authority.v1 import authority_pb2 as pb
from authority.v1 import identity_pb2 as ipb

CVR = "25680839"
APP_PASSWORD = "the fixture app's password"


def holder_app(
    issuer: AuthorityClient, key_holder_id: str, *, via: AuthorityClient | None = None
) -> AuthorityClient:
    """The key holder's app, enrolled and logged in as a phone is: ``issuer`` (its
    organisation, or an admin) issues the activation code, the app sets its password and logs
    in. A client on ``via``'s channel (default: ``issuer``'s) with the session's access
    credential. One argon2 login costs ~50 ms of server CPU: log in once per holder per test."""
    session = issuer.app_login(key_holder_id, APP_PASSWORD)
    return (via or issuer).with_credential(session.access_credential)


def staff_login(
    admin: AuthorityClient,
    login: str,
    role: ipb.AccountRole.ValueType,
    *,
    organisation_id: str = "",
    owner_id: str = "",
) -> str:
    """A staff account (site owner, analyst, …) created by ``admin``, activated and logged in
    (with its TOTP code where its login policy asks for one, as for the operator's staff): the
    session's access credential. One argon2 login: log in once per account per test."""
    created = admin.call(
        admin.identity.CreateAccount,
        ipb.CreateAccountRequest(
            login=login, role=role, organisation_id=organisation_id, owner_id=owner_id
        ),
    )
    activated = admin.activate(created.activation_code, APP_PASSWORD)
    totp = pyotp.parse_uri(activated.totp_uri).now() if created.totp_required else ""
    return admin.login(login, APP_PASSWORD, totp).access_credential


def bearer_of(client: AuthorityClient) -> str:
    """The credential a client sends (e.g. a holder's session, for a CLI's ``--credential``)."""
    return client._metadata[0][1].removeprefix("Bearer ")


@dataclass
class World:
    org_id: str
    org: AuthorityClient
    site_id: str
    door_id: str
    relay_id: str
    holder_id: str
    holder: AuthorityClient
    grant_id: str


def build_world(
    admin: AuthorityClient,
    *,
    door_id: str = "door-1",
    windows: list[WeeklyWindow] | None = None,
    approve: bool = True,
) -> World:
    created = admin.create_organisation(name="PostNord", cvr=CVR, purpose=pb.PURPOSE_POSTAL)
    org_id = created.organisation.organisation_id
    if approve:
        admin.set_organisation_status(org_id, pb.ORGANISATION_STATUS_APPROVED)
    org = admin.with_credential(created.api_credential)
    site = admin.create_site(address="Nørrebrogade 1", owner_id="owner-1")
    relay_id = f"relay-{door_id}"
    admin.create_door(door_id=door_id, site_id=site.site_id, relay_id=relay_id)
    h = org.create_key_holder()
    grant_id = ""
    if approve:
        grant_id = org.issue_grant(
            key_holder_id=h.key_holder.key_holder_id,
            site_id=site.site_id,
            valid_until=datetime.now(UTC) + timedelta(days=30),
            windows=windows,
        ).grant_id
    holder = holder_app(admin, h.key_holder.key_holder_id)  # the phone enrols, logs in
    return World(
        org_id, org, site.site_id, door_id, relay_id, h.key_holder.key_holder_id, holder, grant_id
    )
