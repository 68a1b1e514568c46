"""Logins against a real server and Redis: activation, TOTP (RFC 6238), lockout after N failed
logins (per-customer policy), unlock by an admin or after the lockout time, app sessions used
by the unlock path (renew, rotation, reuse detection, logout, revoke all), scoped API
credentials (create, list, rotate, revoke) and their events in the access log."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pyotp
import pytest
import redis

from authority.cli.main import main
from authority.domain.login import login_key
from authority.testing import FixedClock
from authority.v1 import authority_pb2 as pb
from authority.v1 import identity_pb2 as ipb
from authority.v1 import identity_pb2_grpc as ipb_grpc
from tests.conftest import ServerHandle
from tests.security.conftest import buffered_events, serve_module
from tests.support.world import build_world

PASSWORD = "correct horse battery staple"


@dataclass
class Served:
    handle: ServerHandle
    clock: FixedClock
    identity: ipb_grpc.IdentityServiceStub

    def call(self, method: str, request: Any, credential: str | None = None) -> Any:
        meta = (("authorization", f"Bearer {credential}"),) if credential else ()
        return getattr(self.identity, method)(request, metadata=meta, timeout=30)

    def admin(self, method: str, request: Any) -> Any:
        return self.call(method, request, self.handle.admin_credential)

    def refused(self, method: str, request: Any, credential: str | None = None) -> tuple[Any, str]:
        with pytest.raises(grpc.RpcError) as info:
            self.call(method, request, credential)
        return info.value.code(), info.value.details() or ""  # type: ignore[attr-defined]

    def events(self, action: str) -> list[dict[str, Any]]:
        return [e for e in buffered_events(self.handle) if e["action"] == action]

    def all_events_text(self) -> str:
        return json.dumps(buffered_events(self.handle))


@pytest.fixture(scope="module")
def served(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    for h in serve_module(redis_server, tmp_path_factory, clock=clock):
        channel = grpc.insecure_channel(h.target)
        yield Served(h, clock, ipb_grpc.IdentityServiceStub(channel))
        channel.close()


def _totp_now(uri: str, clock: FixedClock) -> str:
    totp = pyotp.parse_uri(uri)
    assert isinstance(totp, pyotp.TOTP)
    return totp.at(clock.now())


def _login_name() -> str:
    return f"staff-{secrets.token_hex(4)}"


def test_operator_login_needs_totp_locks_after_three_failures_and_unlocks(served: Served) -> None:
    name = _login_name()
    created = served.admin(
        "CreateAccount", ipb.CreateAccountRequest(login=name, role=ipb.ACCOUNT_ROLE_PLATFORM_ADMIN)
    )
    assert created.totp_required  # on by default for the operator's staff
    activated = served.call(
        "Activate", ipb.ActivateRequest(activation_code=created.activation_code, password=PASSWORD)
    )
    assert activated.totp_uri.startswith("otpauth://totp/")
    # Redis keeps the TOTP secret sealed (under a key outside Redis), never as it is.
    stored = redis.Redis.from_url(served.handle.running.process.settings.redis_url or "").hgetall(
        f"login:{{{login_key(name)}}}"
    )
    secret = pyotp.parse_uri(activated.totp_uri).secret
    assert stored[b"totp"]
    assert secret.encode() not in b"".join(stored.values())
    assert name.encode() not in b"".join([*stored.keys(), *stored.values()])
    code, details = served.refused(
        "Activate", ipb.ActivateRequest(activation_code=created.activation_code, password=PASSWORD)
    )
    assert code is grpc.StatusCode.UNAUTHENTICATED  # one-time

    # Without the TOTP code, then with it.
    code, details = served.refused("Login", ipb.LoginRequest(login=name, password=PASSWORD))
    assert code is grpc.StatusCode.UNAUTHENTICATED
    assert PASSWORD not in details
    totp = _totp_now(activated.totp_uri, served.clock)
    session = served.call(
        "Login", ipb.LoginRequest(login=name.upper(), password=PASSWORD, totp_code=totp)
    )
    assert (session.role, session.subject) == ("admin", created.account_id)
    site = served.handle.admin.with_credential(session.access_credential).create_site(
        address="Vej 1", owner_id="owner-login"
    )
    assert site.site_id
    # The same code twice is refused (no replay), and counts as a failure.
    code, _ = served.refused(
        "Login", ipb.LoginRequest(login=name, password=PASSWORD, totp_code=totp)
    )
    assert code is grpc.StatusCode.UNAUTHENTICATED
    # The success reset the count; replayed TOTP and two wrong passwords lock (default 3).
    served.refused("Login", ipb.LoginRequest(login=name, password="wrong password!"))
    served.refused("Login", ipb.LoginRequest(login=name, password="wrong password!"))
    served.clock.advance(timedelta(seconds=30))
    code, details = served.refused(
        "Login",
        ipb.LoginRequest(
            login=name, password=PASSWORD, totp_code=_totp_now(activated.totp_uri, served.clock)
        ),
    )
    assert code is grpc.StatusCode.UNAUTHENTICATED
    assert "locked" in details
    lockouts = [e for e in served.events("auth.lockout") if e["actor_id"] == created.account_id]
    assert len(lockouts) == 1
    refusals = [e for e in served.events("auth.login") if e["actor_id"] == created.account_id]
    assert [e["reason"] for e in refusals if e["outcome"] == "refused"] == [
        "bad_totp", "bad_totp", "bad_password", "bad_password", "locked",
    ]  # fmt: skip

    # An admin lifts the lockout.
    assert served.admin("UnlockLogin", ipb.UnlockLoginRequest(login=name)).was_locked
    served.clock.advance(timedelta(seconds=30))
    served.call(
        "Login",
        ipb.LoginRequest(
            login=name, password=PASSWORD, totp_code=_totp_now(activated.totp_uri, served.clock)
        ),
    )
    assert served.events("login.unlock")

    # Locked again; the lockout ends by itself after the policy's time (default 900 s).
    for _ in range(3):
        served.refused("Login", ipb.LoginRequest(login=name, password="wrong password!"))
    served.clock.advance(timedelta(seconds=899))
    code, details = served.refused(
        "Login",
        ipb.LoginRequest(
            login=name, password=PASSWORD, totp_code=_totp_now(activated.totp_uri, served.clock)
        ),
    )
    assert "locked" in details
    served.clock.advance(timedelta(seconds=2))
    served.call(
        "Login",
        ipb.LoginRequest(
            login=name, password=PASSWORD, totp_code=_totp_now(activated.totp_uri, served.clock)
        ),
    )
    text = served.all_events_text()
    assert PASSWORD not in text
    assert name not in text


def test_a_login_that_does_not_exist_locks_exactly_like_one_that_does(served: Served) -> None:
    answers = [
        served.refused("Login", ipb.LoginRequest(login="nobody-at-all", password="whatever1234"))
        for _ in range(4)
    ]
    assert [c for c, _ in answers] == [grpc.StatusCode.UNAUTHENTICATED] * 4
    assert answers[0][1] == answers[2][1]
    assert "locked" not in answers[2][1]
    assert "locked" in answers[3][1]


def test_an_organisation_sets_its_own_policy_and_its_admins_log_in(served: Served) -> None:
    w = build_world(served.handle.admin, door_id=f"door-{secrets.token_hex(3)}")
    policy = ipb.LoginPolicy(max_failed_logins=5, lockout_seconds=120, totp_required=False)
    org_credential = w.org._metadata[0][1].removeprefix("Bearer ")  # type: ignore[attr-defined]
    set_to = served.call(
        "SetLoginPolicy",
        ipb.SetLoginPolicyRequest(target=ipb.GetLoginPolicyRequest(), policy=policy),
        org_credential,
    )
    assert set_to == policy
    code, details = served.refused(
        "SetLoginPolicy",
        ipb.SetLoginPolicyRequest(
            target=ipb.GetLoginPolicyRequest(),
            policy=ipb.LoginPolicy(max_failed_logins=0, lockout_seconds=120),
        ),
        org_credential,
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert "max_failed_logins" in details
    name = _login_name()
    created = served.call(
        "CreateAccount",
        ipb.CreateAccountRequest(login=name, role=ipb.ACCOUNT_ROLE_ORGANISATION_ADMIN),
        org_credential,
    )
    assert not created.totp_required
    code, _ = served.refused(
        "CreateAccount",
        ipb.CreateAccountRequest(login=name, role=ipb.ACCOUNT_ROLE_ANALYST),
        org_credential,
    )
    assert code is grpc.StatusCode.ALREADY_EXISTS
    code, _ = served.refused(
        "CreateAccount",
        ipb.CreateAccountRequest(login=_login_name(), role=ipb.ACCOUNT_ROLE_PLATFORM_ADMIN),
        org_credential,
    )
    assert code is grpc.StatusCode.PERMISSION_DENIED
    activated = served.call(
        "Activate", ipb.ActivateRequest(activation_code=created.activation_code, password=PASSWORD)
    )
    assert activated.totp_uri  # enrolled now, so the organisation can switch two-factor on later
    for _ in range(4):  # the organisation allows five
        served.refused("Login", ipb.LoginRequest(login=name, password="not it at all"))
    session = served.call("Login", ipb.LoginRequest(login=name, password=PASSWORD))
    assert session.role == "organisation"
    # The organisation admin acts within its organisation.
    org_admin = served.handle.admin.with_credential(session.access_credential)
    assert org_admin.create_key_holder().key_holder.organisation_id == w.org_id
    # The organisation switches two-factor login on: its admin now needs the TOTP code too.
    served.call(
        "SetLoginPolicy",
        ipb.SetLoginPolicyRequest(
            target=ipb.GetLoginPolicyRequest(),
            policy=ipb.LoginPolicy(max_failed_logins=5, lockout_seconds=120, totp_required=True),
        ),
        org_credential,
    )
    code, _ = served.refused("Login", ipb.LoginRequest(login=name, password=PASSWORD))
    assert code is grpc.StatusCode.UNAUTHENTICATED
    served.clock.advance(timedelta(seconds=30))
    with_totp = served.call(
        "Login",
        ipb.LoginRequest(
            login=name, password=PASSWORD, totp_code=_totp_now(activated.totp_uri, served.clock)
        ),
    )
    assert with_totp.role == "organisation"
    # Logout ends the session.
    served.call("Logout", ipb.LogoutRequest(), session.access_credential)
    with pytest.raises(grpc.RpcError) as info:
        org_admin.create_key_holder()
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_app_sessions_unlock_renew_rotate_and_revoke(served: Served) -> None:
    w = build_world(served.handle.admin, door_id=f"door-{secrets.token_hex(3)}")
    org_credential = w.org._metadata[0][1].removeprefix("Bearer ")  # type: ignore[attr-defined]
    issued = served.call(
        "IssueHolderActivation",
        ipb.IssueHolderActivationRequest(key_holder_id=w.holder_id),
        org_credential,
    )
    activated = served.call(
        "Activate", ipb.ActivateRequest(activation_code=issued.activation_code, password=PASSWORD)
    )
    assert activated.login == w.holder_id
    assert not activated.totp_uri
    session = served.call("Login", ipb.LoginRequest(login=w.holder_id, password=PASSWORD))
    assert session.role == "key_holder"
    assert session.access_credential.startswith(w.holder_id)
    app = served.handle.admin.with_credential(session.access_credential)
    assert app.request_unlock(w.door_id, b"c" * 16).decision == pb.DECISION_ALLOW
    assert [g.grant_id for g in app.list_grants(w.holder_id).grants] == [w.grant_id]

    # The access credential expires; the refresh credential renews it (and rotates).
    served.clock.advance(timedelta(seconds=901))
    with pytest.raises(grpc.RpcError) as info:
        app.request_unlock(w.door_id, b"c" * 16)
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    renewed = served.call(
        "RefreshSession", ipb.RefreshSessionRequest(refresh_credential=session.refresh_credential)
    )
    assert renewed.session_id == session.session_id
    assert renewed.refresh_credential != session.refresh_credential
    app = served.handle.admin.with_credential(renewed.access_credential)
    assert app.request_unlock(w.door_id, b"c" * 16).decision == pb.DECISION_ALLOW
    # The old refresh credential again: a copy is in use; the session ends for both.
    code, _ = served.refused(
        "RefreshSession", ipb.RefreshSessionRequest(refresh_credential=session.refresh_credential)
    )
    assert code is grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as info:
        app.request_unlock(w.door_id, b"c" * 16)
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert served.events("auth.refresh_reuse")

    # "This phone is lost": the organisation ends every session of the holder.
    phones = [
        served.call("Login", ipb.LoginRequest(login=w.holder_id, password=PASSWORD))
        for _ in range(2)
    ]
    ended = served.call(
        "RevokeSessions", ipb.RevokeSessionsRequest(key_holder_id=w.holder_id), org_credential
    )
    assert ended.revoked == 2
    for phone in phones:
        with pytest.raises(grpc.RpcError) as info:
            served.handle.admin.with_credential(phone.access_credential).request_unlock(
                w.door_id, b"c" * 16
            )
        assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
        code, _ = served.refused(
            "RefreshSession", ipb.RefreshSessionRequest(refresh_credential=phone.refresh_credential)
        )
        assert code is grpc.StatusCode.UNAUTHENTICATED
    # A new activation code (a new phone) ends the old password too.
    served.call(
        "IssueHolderActivation",
        ipb.IssueHolderActivationRequest(key_holder_id=w.holder_id),
        org_credential,
    )
    code, _ = served.refused("Login", ipb.LoginRequest(login=w.holder_id, password=PASSWORD))
    assert code is grpc.StatusCode.UNAUTHENTICATED


def test_scoped_api_credentials_rotate_and_revoke(served: Served) -> None:
    w = build_world(served.handle.admin, door_id=f"door-{secrets.token_hex(3)}")
    org_credential = w.org._metadata[0][1].removeprefix("Bearer ")  # type: ignore[attr-defined]
    made = served.call(
        "CreateApiCredential",
        ipb.CreateApiCredentialRequest(scopes=["grants:read"], label="roster sync"),
        org_credential,
    )
    reader = served.handle.admin.with_credential(made.secret_credential)
    assert [g.grant_id for g in reader.list_grants(w.holder_id).grants] == [w.grant_id]
    with pytest.raises(grpc.RpcError) as info:
        reader.revoke_grant(w.grant_id)
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "grants:write" in (info.value.details() or "")  # type: ignore[attr-defined]
    listed = served.call("ListApiCredentials", ipb.ListApiCredentialsRequest(), org_credential)
    assert [(c.credential_id, list(c.scopes), c.label) for c in listed.credentials] == [
        (made.credential.credential_id, ["grants:read"], "roster sync")
    ]
    assert made.secret_credential.split(".")[1] not in str(listed)
    code, _ = served.refused(
        "CreateApiCredential", ipb.CreateApiCredentialRequest(scopes=["doors:open"]), org_credential
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT

    rotated = served.call(
        "RotateApiCredential",
        ipb.RotateApiCredentialRequest(credential_id=made.credential.credential_id),
        org_credential,
    )
    assert list(rotated.credential.scopes) == ["grants:read"]
    with pytest.raises(grpc.RpcError) as info:
        reader.list_grants(w.holder_id)
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED  # no overlap asked: at once
    fresh = served.handle.admin.with_credential(rotated.secret_credential)
    assert fresh.list_grants(w.holder_id).grants
    overlapped = served.call(
        "RotateApiCredential",
        ipb.RotateApiCredentialRequest(
            credential_id=rotated.credential.credential_id, overlap_seconds=600
        ),
        org_credential,
    )
    assert fresh.list_grants(w.holder_id).grants  # still works during the overlap
    revoked = served.call(
        "RevokeApiCredential",
        ipb.RevokeApiCredentialRequest(credential_id=rotated.credential.credential_id),
        org_credential,
    )
    assert revoked.revoked
    with pytest.raises(grpc.RpcError) as info:
        fresh.list_grants(w.holder_id)
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    listed = served.call("ListApiCredentials", ipb.ListApiCredentialsRequest(), org_credential)
    states = {c.credential_id: c.revoked for c in listed.credentials}
    assert states == {
        made.credential.credential_id: True,
        rotated.credential.credential_id: True,
        overlapped.credential.credential_id: False,
    }


def test_the_identity_cli(
    served: Served, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io  # noqa: PLC0415

    target = ["--target", served.handle.target]
    admin = [*target, "--credential", served.handle.admin_credential]

    def run(*argv: str, stdin: str = "") -> dict[str, Any]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))  # the password, as a script pipes it
        assert main([*argv, "--json"]) == 0
        return dict(json.loads(capsys.readouterr().out))

    name = _login_name()
    created = run("account", "create", "--login", name, "--role", "site_owner",
                  "--owner", "owner-cli", *admin)  # fmt: skip
    assert created["account_id"].startswith("acc_")
    activated = run("account", "activate", "--code", created["activation_code"],
                    "--password-stdin", *target, stdin=PASSWORD + "\n")  # fmt: skip
    assert activated["totp_uri"].startswith("otpauth://")
    session = run("login", "--login", name, "--password-stdin", *target, stdin=PASSWORD + "\n")
    assert session["role"] == "site_owner"
    renewed = run("session", "refresh", session["refresh_credential"], *target)
    assert renewed["session_id"] == session["session_id"]
    assert run("logout", *target, "--credential", renewed["access_credential"])["session_id"]
    w = build_world(served.handle.admin, door_id=f"door-{secrets.token_hex(3)}")
    made = run("credential", "create", "--organisation", w.org_id, "--scope", "logs:read",
               "--label", "siem", *admin)  # fmt: skip
    listed = run("credential", "list", "--organisation", w.org_id, *admin)
    assert [c["credential_id"] for c in listed["credentials"]] == [
        made["credential"]["credential_id"]
    ]
    assert made["secret_credential"] not in json.dumps(listed)
    revoked = run("credential", "revoke", made["credential"]["credential_id"], *admin)
    assert revoked["revoked"]
    policy = run("login-policy", "set", "--organisation", w.org_id, "--max-failed", "4", *admin)
    assert policy["max_failed_logins"] == 4
    bridge = run("credential", "bridge", "--name", "cli-bridge", *admin)
    assert bridge["credential_id"].startswith("brg_")
    # Wrong password: exit 1 with the status, nothing echoed.
    monkeypatch.setattr("sys.stdin", io.StringIO("not the password\n"))
    assert main(["login", "--login", name, "--password-stdin", *target]) == 1
    out = capsys.readouterr().out
    assert "UNAUTHENTICATED" in out
    assert "not the password" not in out


def test_a_disabled_account_loses_its_sessions_and_cannot_log_in(served: Served) -> None:
    name = _login_name()
    created = served.admin(
        "CreateAccount",
        ipb.CreateAccountRequest(login=name, role=ipb.ACCOUNT_ROLE_SITE_OWNER, owner_id="o-9"),
    )
    served.call(
        "Activate", ipb.ActivateRequest(activation_code=created.activation_code, password=PASSWORD)
    )
    session = served.call("Login", ipb.LoginRequest(login=name, password=PASSWORD))
    owner = served.handle.admin.with_credential(session.access_credential)
    owner.access_policy()  # works while enabled
    disabled = served.admin(
        "SetAccountEnabled",
        ipb.SetAccountEnabledRequest(account_id=created.account_id, enabled=False),
    )
    assert disabled.sessions_ended == 1
    with pytest.raises(grpc.RpcError) as info:
        owner.access_policy()
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    for method, request in (
        ("Login", ipb.LoginRequest(login=name, password=PASSWORD)),
        (
            "RefreshSession",
            ipb.RefreshSessionRequest(refresh_credential=session.refresh_credential),
        ),
    ):
        code, _ = served.refused(method, request)
        assert code is grpc.StatusCode.UNAUTHENTICATED
    served.admin(
        "SetAccountEnabled",
        ipb.SetAccountEnabledRequest(account_id=created.account_id, enabled=True),
    )
    assert served.call("Login", ipb.LoginRequest(login=name, password=PASSWORD)).role == (
        "site_owner"
    )
    assert [e for e in served.events("account.disable") if created.account_id in e["detail"]]


def test_a_scoped_api_credential_cannot_raise_its_privileges(served: Served) -> None:
    w = build_world(served.handle.admin, door_id=f"door-{secrets.token_hex(3)}")
    org_credential = w.org._metadata[0][1].removeprefix("Bearer ")  # type: ignore[attr-defined]
    scoped = served.call(
        "CreateApiCredential",
        ipb.CreateApiCredentialRequest(scopes=["directory:write"]),
        org_credential,
    ).secret_credential
    for method, request in (
        (
            "CreateAccount",
            ipb.CreateAccountRequest(login=_login_name(), role=ipb.ACCOUNT_ROLE_ORGANISATION_ADMIN),
        ),
        ("CreateApiCredential", ipb.CreateApiCredentialRequest(scopes=["grants:write"])),
        (
            "SetLoginPolicy",
            ipb.SetLoginPolicyRequest(
                target=ipb.GetLoginPolicyRequest(),
                policy=ipb.LoginPolicy(max_failed_logins=20, lockout_seconds=60),
            ),
        ),
    ):
        code, details = served.refused(method, request, scoped)
        assert code is grpc.StatusCode.PERMISSION_DENIED, (method, details)
