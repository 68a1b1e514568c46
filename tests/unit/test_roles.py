"""Site-owner and analyst principals: credential kinds, stored form, and where they are refused."""

from __future__ import annotations

import pytest

from authority.domain.errors import PermissionDenied
from authority.usecases.auth import acting_organisation, may_see_organisation_data, require_admin
from authority.usecases.credentials import (
    Principal,
    Role,
    new_analyst_key,
    new_site_owner_key,
    parse_bearer,
)

SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"


@pytest.mark.parametrize(
    ("factory", "prefix"), [(new_site_owner_key, "own_"), (new_analyst_key, "ana_")]
)
def test_new_credentials_parse_as_presented(factory: object, prefix: str) -> None:
    cid, credential, digest = factory()  # type: ignore[operator]
    assert cid.startswith(prefix)
    presented = parse_bearer(f"Bearer {credential}")
    assert presented.credential_id == cid
    assert presented.matches(digest)
    assert not presented.is_holder


@pytest.mark.parametrize(
    "principal",
    [
        Principal(role=Role.SITE_OWNER, credential_id="own_x", owner_id="andelsforeningen-nbg12"),
        Principal(role=Role.ANALYST, credential_id="ana_x", organisation_id="org_y"),
        Principal(role=Role.ANALYST, credential_id="ana_z"),
    ],
)
def test_principals_survive_storage(principal: Principal) -> None:
    assert Principal.from_json(principal.credential_id, principal.to_json()) == principal


def test_stored_form_of_existing_roles_is_unchanged() -> None:
    org = Principal(role=Role.ORGANISATION, credential_id="ak_x", organisation_id="org_y")
    assert org.to_json() == '{"role": "organisation", "org": "org_y"}'
    assert Principal.from_json("adm_x", '{"role": "admin", "org": null}').owner_id is None


@pytest.mark.parametrize(
    "principal",
    [
        Principal(role=Role.SITE_OWNER, credential_id="own_x", owner_id="o"),
        Principal(role=Role.ANALYST, credential_id="ana_x", organisation_id="org_y"),
        Principal(role=Role.ANALYST, credential_id="ana_z"),
    ],
)
def test_readers_cannot_act(principal: Principal) -> None:
    """Site owners and analysts read; the administrative use cases refuse them."""
    with pytest.raises(PermissionDenied):
        require_admin(principal)
    with pytest.raises(PermissionDenied):
        acting_organisation(principal, "org_y")
    assert not may_see_organisation_data(principal, "org_y")
