"""Pure login rules and session credentials: lockout counting, login keys, credential parsing,
session entries (expiry + digest), and the authorization table's decisions."""

from __future__ import annotations

import pytest

from authority.api.authz import AUTHORIZATION, RPC_ACTIONS, authorize, missing_methods
from authority.cli.main import main
from authority.domain.credentials import (
    Principal,
    Role,
    digest,
    new_session_secrets,
    parse_bearer,
    parse_refresh,
    session_entry,
)
from authority.domain.errors import InvalidArgument, PermissionDenied, Unauthenticated
from authority.domain.login import (
    LoginPolicy,
    LoginState,
    after_failure,
    login_key,
    validate_login_name,
    validate_password,
)
from authority.domain.permissions import PERMISSIONS, Action, ApiScope, Reach


def test_three_failures_lock_for_the_policys_time_then_counting_starts_again() -> None:
    policy = LoginPolicy()  # 3, 900 s
    state = LoginState()
    state = after_failure(state, policy, 1000)
    state = after_failure(state, policy, 1001)
    assert not state.locked(1001)
    assert state.failures == 2
    state = after_failure(state, policy, 1002)
    assert state.locked(1002)
    assert state.locked(1002 + 899)
    assert not state.locked(1002 + 900)
    assert state.failures == 0


def test_policies_are_validated() -> None:
    with pytest.raises(InvalidArgument):
        LoginPolicy(max_failed_logins=0)
    with pytest.raises(InvalidArgument):
        LoginPolicy(lockout_seconds=59)
    assert LoginPolicy(max_failed_logins=1).max_failed_logins == 1


def test_login_keys_hide_names_and_keep_holder_pseudonyms() -> None:
    assert login_key("kh_abc") == "kh_abc"
    key = login_key("Ops.Anna")
    assert key == login_key("ops.anna ")
    assert "anna" not in key
    assert validate_login_name(" Ops.Anna ") == "ops.anna"
    for bad in ("ab", "kh_someone", "has space", "x" * 65):
        with pytest.raises(InvalidArgument):
            validate_login_name(bad)
    with pytest.raises(InvalidArgument):
        validate_password("short")


def test_session_credentials_parse_and_check_expiry_and_digest() -> None:
    issued = new_session_secrets("kh_abc")
    presented = parse_bearer(f"Bearer {issued.access_credential}")
    assert (presented.credential_id, presented.session_id) == ("kh_abc", issued.session_id)
    assert presented.stored_field == f"a:{issued.session_id}"
    entry = session_entry(2000, issued.access_digest)
    assert presented.matches(entry, 1999)
    assert not presented.matches(entry, 2000)  # expired
    assert not presented.matches(session_entry(2000, digest("other secret")), 1000)
    assert not presented.matches(issued.access_digest, 1000)  # not an entry
    refresh = parse_refresh(issued.refresh_credential)
    assert (refresh.subject, refresh.session_id) == ("kh_abc", issued.session_id)
    assert refresh.digest == issued.refresh_digest
    legacy = parse_bearer("Bearer kh_abc." + "A" * 43)
    assert legacy.session_id is None
    assert legacy.stored_field == "cred"
    for bad in (
        "Bearer acc_x." + "A" * 43,  # an account only has sessions
        "Bearer ak_x~s1." + "A" * 43,  # API credentials have no sessions
        "Bearer kh_x~." + "A" * 43,
        "Bearer kh_x.short",
    ):
        with pytest.raises(Unauthenticated):
            parse_bearer(bad)
    with pytest.raises(Unauthenticated):
        parse_refresh(issued.access_credential)


def test_the_table_refuses_unknown_rpcs_roles_and_missing_scopes() -> None:
    holder = Principal(role=Role.KEY_HOLDER, credential_id="kh_a", key_holder_id="kh_a")
    with pytest.raises(PermissionDenied):
        authorize("/authority.v1.Nothing/Here", holder)
    with pytest.raises(PermissionDenied):
        authorize("/authority.v1.DirectoryService/CreateSite", holder)
    assert authorize("/authority.v1.GrantService/ListGrants", holder) is Reach.OWN_HOLDER
    reader = Principal(
        role=Role.ORGANISATION,
        credential_id="ak_r",
        organisation_id="org_a",
        scopes=frozenset({ApiScope.GRANTS_READ.value}),
    )
    assert authorize("/authority.v1.GrantService/ExportGrants", reader) is Reach.OWN_ORGANISATION
    with pytest.raises(PermissionDenied, match="grants:write"):
        authorize("/authority.v1.GrantService/IssueGrant", reader)
    assert missing_methods(["/authority.v1.GrantService/IssueGrant", "/x.Y/Z"]) == ["/x.Y/Z"]
    # every row names at least one role, and public rows name them all
    for method, rule in AUTHORIZATION.items():
        assert rule.reach, method
        if rule.public:
            assert set(rule.reach) == set(Role), method


def test_the_cli_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    import json  # noqa: PLC0415

    assert main(["authz", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == set(AUTHORIZATION)
    assert printed["/authority.v1.GrantService/IssueGrant"] == {
        "roles": {"admin": "everything", "organisation": "own_organisation"},
        "api_scope": "grants:write",
    }


def test_every_action_has_a_row_and_an_rpc_that_asks_for_it() -> None:
    assert set(PERMISSIONS) == set(Action)
    assert set(RPC_ACTIONS.values()) == set(Action)
