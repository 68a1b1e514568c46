"""Identity subcommands: staff accounts, logins and sessions, API and bridge credentials, login
policies (``protos/authority/v1/identity.proto``).

Passwords are read without echo from the terminal, or from the first line of stdin with
``--password-stdin`` (scripts); they are never taken from the command line, where ``ps`` and the
shell history would see them. Credentials and codes are printed once, like the API returns them.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message
from rich.table import Table

from authority.cli.client import _output as output
from authority.cli.client import console
from authority.client.authority import AuthorityClient
from authority.v1 import identity_pb2 as ipb

ROLES = {
    "platform_admin": ipb.ACCOUNT_ROLE_PLATFORM_ADMIN,
    "organisation_admin": ipb.ACCOUNT_ROLE_ORGANISATION_ADMIN,
    "analyst": ipb.ACCOUNT_ROLE_ANALYST,
    "site_owner": ipb.ACCOUNT_ROLE_SITE_OWNER,
}
ClientParser = Callable[..., argparse.ArgumentParser]


def _password(ns: argparse.Namespace, prompt: str = "password: ") -> str:
    if ns.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return getpass.getpass(prompt)


def _show(ns: argparse.Namespace, message: Message, title: str) -> int:
    output(ns, message, title)
    return 0


def _account_create(c: AuthorityClient, ns: argparse.Namespace) -> int:
    req = ipb.CreateAccountRequest(
        login=ns.login,
        role=ROLES[ns.role],
        organisation_id=ns.organisation or "",
        owner_id=ns.owner or "",
    )
    return _show(ns, c.call(c.identity.CreateAccount, req), "account (code shown once)")


def _activate(c: AuthorityClient, ns: argparse.Namespace) -> int:
    resp = c.activate(ns.code, _password(ns, "new password: "))
    return _show(ns, resp, "activated (TOTP secret shown once)")


def _login(c: AuthorityClient, ns: argparse.Namespace) -> int:
    session = c.login(ns.login, _password(ns), ns.totp or "")
    return _show(ns, session, "session (credentials shown once)")


def _refresh(c: AuthorityClient, ns: argparse.Namespace) -> int:
    return _show(ns, c.refresh_session(ns.refresh_credential), "renewed session")


def _logout(c: AuthorityClient, ns: argparse.Namespace) -> int:
    return _show(ns, c.call(c.identity.Logout, ipb.LogoutRequest()), "logged out")


def _sessions_revoke(c: AuthorityClient, ns: argparse.Namespace) -> int:
    req = ipb.RevokeSessionsRequest(key_holder_id=ns.holder or "", account_id=ns.account or "")
    return _show(ns, c.call(c.identity.RevokeSessions, req), "sessions ended")


def _account_enabled(c: AuthorityClient, ns: argparse.Namespace) -> int:
    req = ipb.SetAccountEnabledRequest(account_id=ns.account_id, enabled=ns.enabled)
    return _show(ns, c.call(c.identity.SetAccountEnabled, req), "account")


def _unlock_login(c: AuthorityClient, ns: argparse.Namespace) -> int:
    req = ipb.UnlockLoginRequest(login=ns.login)
    return _show(ns, c.call(c.identity.UnlockLogin, req), "login unlocked")


def _holder_activation(c: AuthorityClient, ns: argparse.Namespace) -> int:
    req = ipb.IssueHolderActivationRequest(key_holder_id=ns.key_holder_id)
    resp = c.call(c.identity.IssueHolderActivation, req)
    return _show(ns, resp, "app activation code (shown once)")


def _target(ns: argparse.Namespace) -> ipb.GetLoginPolicyRequest:
    return ipb.GetLoginPolicyRequest(
        organisation_id=ns.organisation or "", operator=ns.operator, owner_id=ns.owner or ""
    )


def _policy_show(c: AuthorityClient, ns: argparse.Namespace) -> int:
    return _show(ns, c.call(c.identity.GetLoginPolicy, _target(ns)), "login policy")


def _policy_set(c: AuthorityClient, ns: argparse.Namespace) -> int:
    current = c.call(c.identity.GetLoginPolicy, _target(ns))
    policy = ipb.LoginPolicy(
        max_failed_logins=ns.max_failed or current.max_failed_logins,
        lockout_seconds=ns.lockout_seconds or current.lockout_seconds,
        totp_required=current.totp_required if ns.totp is None else ns.totp == "on",
    )
    req = ipb.SetLoginPolicyRequest(target=_target(ns), policy=policy)
    return _show(ns, c.call(c.identity.SetLoginPolicy, req), "login policy")


def _credential_create(c: AuthorityClient, ns: argparse.Namespace) -> int:
    req = ipb.CreateApiCredentialRequest(
        organisation_id=ns.organisation or "", scopes=ns.scope, label=ns.label or ""
    )
    return _show(ns, c.call(c.identity.CreateApiCredential, req), "API credential (shown once)")


def _credential_list(c: AuthorityClient, ns: argparse.Namespace) -> int:
    req = ipb.ListApiCredentialsRequest(organisation_id=ns.organisation or "")
    resp = c.call(c.identity.ListApiCredentials, req)
    if ns.json:
        return _show(ns, resp, "")
    table = Table(title="API credentials")
    for col in ("id", "scopes", "label", "created", "rotated", "state"):
        table.add_column(col)
    for cred in resp.credentials:
        table.add_row(
            cred.credential_id,
            ", ".join(cred.scopes) or "(all)",
            cred.label,
            cred.created_at.ToJsonString() if cred.HasField("created_at") else "",
            cred.rotated_at.ToJsonString() if cred.HasField("rotated_at") else "",
            "revoked" if cred.revoked else "active",
        )
    console.print(table)
    return 0


def _credential_rotate(c: AuthorityClient, ns: argparse.Namespace) -> int:
    req = ipb.RotateApiCredentialRequest(
        credential_id=ns.credential_id, overlap_seconds=ns.overlap or 0
    )
    resp = c.call(c.identity.RotateApiCredential, req)
    return _show(ns, resp, "new API credential (shown once)")


def _credential_revoke(c: AuthorityClient, ns: argparse.Namespace) -> int:
    req = ipb.RevokeApiCredentialRequest(credential_id=ns.credential_id)
    return _show(ns, c.call(c.identity.RevokeApiCredential, req), "revoked")


def _credential_bridge(c: AuthorityClient, ns: argparse.Namespace) -> int:
    req = ipb.CreateBridgeCredentialRequest(name=ns.name)
    resp = c.call(c.identity.CreateBridgeCredential, req)
    return _show(ns, resp, "bridge credential (shown once)")


def _authz_table(ns: argparse.Namespace) -> int:
    """Print the authorization table (no server needed: it is code)."""
    from authority.api.authz import AUTHORIZATION  # noqa: PLC0415

    rows = {
        method: {
            "roles": {role.value: reach.value for role, reach in rule.reach.items()},
            "api_scope": rule.api_scope.value if rule.api_scope else "",
        }
        for method, rule in AUTHORIZATION.items()
        if ns.rpc is None or ns.rpc.lower() in method.lower()
    }
    if ns.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title="who may call what (authority/api/authz.py)")
    for col in ("RPC", "roles: reach", "API scope"):
        table.add_column(col, overflow="fold")
    for method, row in rows.items():
        roles = row["roles"]
        assert isinstance(roles, dict)
        public = len(roles) > 1 and set(roles.values()) == {"public"}
        shown = "anyone (public)" if public else ", ".join(f"{r}: {v}" for r, v in roles.items())
        table.add_row(method, shown, str(row["api_scope"]))
    console.print(table)
    return 0


def add_identity_commands(sub: Any, client_parser: ClientParser) -> None:
    p = sub.add_parser("authz", help="print the authorization table (who may call which RPC)")
    p.add_argument("--rpc", help="only RPCs whose name contains this")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_authz_table)

    def with_password(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
        return p

    account = sub.add_parser("account", help="staff accounts").add_subparsers(
        dest="account", required=True
    )
    p = client_parser(account, "create", "create a staff account (prints its activation code)",
                      _account_create)  # fmt: skip
    p.add_argument("--login", required=True, help="login name (stored only as a digest)")
    p.add_argument("--role", choices=sorted(ROLES), required=True)
    p.add_argument("--organisation", help="organisation admins and analysts")
    p.add_argument("--owner", help="site owners: their owner id")
    with_password(client_parser(account, "activate", "set the password with an activation code",
                                _activate)).add_argument("--code", required=True)  # fmt: skip
    for verb, enabled in (("disable", False), ("enable", True)):
        p = client_parser(
            account,
            verb,
            f"{verb} a staff account" + (" (every session ends)" if not enabled else ""),
            _account_enabled,
        )
        p.add_argument("account_id")
        p.set_defaults(enabled=enabled)
    p = client_parser(account, "unlock", "lift a login's lockout (admin)", _unlock_login)
    p.add_argument("login", help="login name, or a key holder's pseudonym")

    p = with_password(client_parser(sub, "login", "log in (prints a session credential)", _login))
    p.add_argument("--login", required=True)
    p.add_argument("--totp", help="the current TOTP code, when two-factor login is on")
    client_parser(sub, "logout", "end the session of --credential", _logout)

    session = sub.add_parser("session", help="login sessions").add_subparsers(
        dest="session", required=True
    )
    p = client_parser(session, "refresh", "renew a session (the refresh credential rotates)",
                      _refresh)  # fmt: skip
    p.add_argument("refresh_credential")
    p = client_parser(session, "revoke", "end every session of a key holder or an account",
                      _sessions_revoke)  # fmt: skip
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--holder")
    who.add_argument("--account")

    p = client_parser(sub, "activation", "a one-time activation code for a key holder's app",
                      _holder_activation)  # fmt: skip
    p.add_argument("key_holder_id")

    policy = sub.add_parser("login-policy", help="lockout and two-factor rules").add_subparsers(
        dest="login_policy", required=True
    )
    for verb, fn in (("show", _policy_show), ("set", _policy_set)):
        p = client_parser(policy, verb, f"{verb} a login policy", fn)
        which = p.add_mutually_exclusive_group()
        which.add_argument("--organisation")
        which.add_argument("--operator", action="store_true", help="the operator's own staff")
        which.add_argument("--owner", help="a site owner")
        if verb == "set":
            p.add_argument("--max-failed", type=int, help="failed logins that lock (1-20)")
            p.add_argument("--lockout-seconds", type=int, help="lockout length (60-86400)")
            p.add_argument("--totp", choices=("on", "off"), help="two-factor login for staff")

    credential = sub.add_parser("credential", help="API and bridge credentials").add_subparsers(
        dest="credential", required=True
    )
    p = client_parser(credential, "create", "a scoped API credential (shown once)",
                      _credential_create)  # fmt: skip
    p.add_argument("--organisation")
    p.add_argument(
        "--scope",
        action="append",
        required=True,
        help="grants:read, grants:write, directory:read, directory:write, logs:read",
    )
    p.add_argument("--label")
    p = client_parser(credential, "list", "an organisation's API credentials (no secrets)",
                      _credential_list)  # fmt: skip
    p.add_argument("--organisation")
    p = client_parser(credential, "rotate", "replace an API credential (new id, same scopes)",
                      _credential_rotate)  # fmt: skip
    p.add_argument("credential_id")
    p.add_argument("--overlap", type=int, help="seconds the old one keeps working (0-86400)")
    p = client_parser(credential, "revoke", "revoke an API credential at once", _credential_revoke)
    p.add_argument("credential_id")
    p = client_parser(credential, "bridge", "a relay bridge credential (admin)", _credential_bridge)
    p.add_argument("--name", required=True)
