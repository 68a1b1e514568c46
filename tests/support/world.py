"""Scenario builders for API tests (a real server, real clients)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from authority.client import AuthorityClient
from authority.domain.schedule import WeeklyWindow
from authority.v1 import authority_pb2 as pb

CVR = "25680839"


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
    holder = admin.with_credential(h.holder_credential)
    grant_id = ""
    if approve:
        grant_id = org.issue_grant(
            key_holder_id=h.key_holder.key_holder_id,
            site_id=site.site_id,
            valid_until=datetime.now(UTC) + timedelta(days=30),
            windows=windows,
        ).grant_id
    return World(
        org_id, org, site.site_id, door_id, relay_id, h.key_holder.key_holder_id, holder, grant_id
    )
