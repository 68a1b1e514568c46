"""Site-owner and analyst principals (staff accounts' sessions carry them): the retired long-lived
credential kinds, stored form, and where they are refused."""

from __future__ import annotations

import pytest

from authority.domain.credentials import (
    READER_LOGIN_REQUIRED,
    Principal,
    Role,
    new_credential,
    parse_bearer,
)
from authority.domain.errors import PermissionDenied, Unauthenticated
from authority.domain.model import new_id
from authority.usecases.auth import acting_organisation, may_see_organisation_data, require_admin

SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"


@pytest.mark.parametrize("kind", ["own", "ana"])
def test_retired_reader_credentials_are_refused_as_presented(kind: str) -> None:
    """A site-owner or analyst credential as the old server issued it, or as a session."""
    cid = new_id(kind)
    credential, _ = new_credential(cid)
    for presented in (credential, f"{cid}~s_1.{credential.partition('.')[2]}"):
        with pytest.raises(Unauthenticated) as info:
            parse_bearer(f"Bearer {presented}")
        assert str(info.value) == READER_LOGIN_REQUIRED
    assert "IdentityService.Login" in READER_LOGIN_REQUIRED


@pytest.mark.parametrize(
    "principal",
    [
        Principal(role=Role.SITE_OWNER, credential_id="acc_x", owner_id="andelsforeningen-nbg12"),
        Principal(role=Role.ANALYST, credential_id="acc_y", organisation_id="org_y"),
        Principal(role=Role.ANALYST, credential_id="acc_z"),
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
        Principal(role=Role.SITE_OWNER, credential_id="acc_x", owner_id="o"),
        Principal(role=Role.ANALYST, credential_id="acc_y", organisation_id="org_y"),
        Principal(role=Role.ANALYST, credential_id="acc_z"),
    ],
)
def test_readers_cannot_act(principal: Principal) -> None:
    """Site owners and analysts read; the administrative use cases refuse them."""
    with pytest.raises(PermissionDenied):
        require_admin(principal)
    with pytest.raises(PermissionDenied):
        acting_organisation(principal, "org_y")
    assert not may_see_organisation_data(principal, "org_y")
