"""Identity subcommands: staff accounts, logins and sessions, API and bridge credentials, login
policies (``protos/authority/v1/identity.proto``).

Passwords are read without echo from the terminal, or from the first line of stdin with
``--password-stdin`` (scripts); they are never taken from the command line, where ``ps`` and the
shell history would see them. Credentials and codes are printed once, like the API returns them.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable

from google.protobuf.message import Message

from authority.api.authz import AUTHORIZATION
from authority.cli.output import (
    EXIT_OK,
    add_json_option,
    new_table,
    print_json,
    show,
    show_message,
)
from authority.cli.rpc import add_authority_command, calls_authority
from authority.client.authority import AuthorityClient
from authority.v1 import identity_pb2 as ipb

ROLES = {
    "platform_admin": ipb.ACCOUNT_ROLE_PLATFORM_ADMIN,
    "organisation_admin": ipb.ACCOUNT_ROLE_ORGANISATION_ADMIN,
    "analyst": ipb.ACCOUNT_ROLE_ANALYST,
    "site_owner": ipb.ACCOUNT_ROLE_SITE_OWNER,
}


def _password(ns: argparse.Namespace, prompt: str = "password: ") -> str:
    if ns.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return getpass.getpass(prompt)


def _show(ns: argparse.Namespace, message: Message, title: str) -> int:
    show_message(message, title, as_json=ns.json)
    return EXIT_OK


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
    table = new_table("API credentials", ("id", "scopes", "label", "created", "rotated", "state"))
    for cred in resp.credentials:
        table.add_row(
            cred.credential_id,
            ", ".join(cred.scopes) or "(all)",
            cred.label,
            cred.created_at.ToJsonString() if cred.HasField("created_at") else "",
            cred.rotated_at.ToJsonString() if cred.HasField("rotated_at") else "",
            "revoked" if cred.revoked else "active",
        )
    show(table)
    return EXIT_OK


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
    rows = {
        method: {
            "roles": {role.value: reach.value for role, reach in rule.reach.items()},
            "api_scope": rule.api_scope.value if rule.api_scope else "",
        }
        for method, rule in AUTHORIZATION.items()
        if ns.rpc is None or ns.rpc.lower() in method.lower()
    }
    if ns.json:
        print_json(rows)
        return EXIT_OK
    table = new_table(
        "who may call what (authority/api/authz.py)",
        ("RPC", "roles: reach", "API scope"),
        overflow=True,
    )
    for method, row in rows.items():
        roles = row["roles"]
        assert isinstance(roles, dict)
        public = len(roles) > 1 and set(roles.values()) == {"public"}
        shown = "anyone (public)" if public else ", ".join(f"{r}: {v}" for r, v in roles.items())
        table.add_row(method, shown, str(row["api_scope"]))
    show(table)
    return EXIT_OK


def _with_password(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    return p


def _authz_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rpc", help="only RPCs whose name contains this")
    add_json_option(p)
    p.set_defaults(func=_authz_table)


def _account_commands(parent: argparse.ArgumentParser) -> None:
    account = parent.add_subparsers(dest="account", required=True)
    p = add_authority_command(
        account, "create", "create a staff account (prints its activation code)", _account_create
    )
    p.add_argument("--login", required=True, help="login name (stored only as a digest)")
    p.add_argument("--role", choices=sorted(ROLES), required=True)
    p.add_argument("--organisation", help="organisation admins and analysts")
    p.add_argument("--owner", help="site owners: their owner id")
    _with_password(
        add_authority_command(
            account, "activate", "set the password with an activation code", _activate
        )
    ).add_argument("--code", required=True)
    for verb, enabled in (("disable", False), ("enable", True)):
        p = add_authority_command(
            account,
            verb,
            f"{verb} a staff account" + (" (every session ends)" if not enabled else ""),
            _account_enabled,
        )
        p.add_argument("account_id")
        p.set_defaults(enabled=enabled)
    p = add_authority_command(account, "unlock", "lift a login's lockout (admin)", _unlock_login)
    p.add_argument("login", help="login name, or a key holder's pseudonym")


def _login_options(p: argparse.ArgumentParser) -> None:
    _with_password(calls_authority(p, _login))
    p.add_argument("--login", required=True)
    p.add_argument("--totp", help="the current TOTP code, when two-factor login is on")


def _logout_options(p: argparse.ArgumentParser) -> None:
    calls_authority(p, _logout)


def _session_commands(parent: argparse.ArgumentParser) -> None:
    session = parent.add_subparsers(dest="session", required=True)
    p = add_authority_command(
        session, "refresh", "renew a session (the refresh credential rotates)", _refresh
    )
    p.add_argument("refresh_credential")
    p = add_authority_command(
        session, "revoke", "end every session of a key holder or an account", _sessions_revoke
    )
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--holder")
    who.add_argument("--account")


def _activation_options(p: argparse.ArgumentParser) -> None:
    calls_authority(p, _holder_activation)
    p.add_argument("key_holder_id")


def _login_policy_commands(parent: argparse.ArgumentParser) -> None:
    policy = parent.add_subparsers(dest="login_policy", required=True)
    for verb, fn in (("show", _policy_show), ("set", _policy_set)):
        p = add_authority_command(policy, verb, f"{verb} a login policy", fn)
        which = p.add_mutually_exclusive_group()
        which.add_argument("--organisation")
        which.add_argument("--operator", action="store_true", help="the operator's own staff")
        which.add_argument("--owner", help="a site owner")
        if verb == "set":
            p.add_argument("--max-failed", type=int, help="failed logins that lock (1-20)")
            p.add_argument("--lockout-seconds", type=int, help="lockout length (60-86400)")
            p.add_argument("--totp", choices=("on", "off"), help="two-factor login for staff")


def _credential_commands(parent: argparse.ArgumentParser) -> None:
    credential = parent.add_subparsers(dest="credential", required=True)
    p = add_authority_command(
        credential, "create", "a scoped API credential (shown once)", _credential_create
    )
    p.add_argument("--organisation")
    p.add_argument(
        "--scope",
        action="append",
        required=True,
        help="grants:read, grants:write, directory:read, directory:write, logs:read",
    )
    p.add_argument("--label")
    p = add_authority_command(
        credential, "list", "an organisation's API credentials (no secrets)", _credential_list
    )
    p.add_argument("--organisation")
    p = add_authority_command(
        credential, "rotate", "replace an API credential (new id, same scopes)", _credential_rotate
    )
    p.add_argument("credential_id")
    p.add_argument("--overlap", type=int, help="seconds the old one keeps working (0-86400)")
    p = add_authority_command(
        credential, "revoke", "revoke an API credential at once", _credential_revoke
    )
    p.add_argument("credential_id")
    p = add_authority_command(
        credential, "bridge", "a relay bridge credential (admin)", _credential_bridge
    )
    p.add_argument("--name", required=True)


COMMANDS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "authz": _authz_options,
    "account": _account_commands,
    "login": _login_options,
    "logout": _logout_options,
    "session": _session_commands,
    "activation": _activation_options,
    "login-policy": _login_policy_commands,
    "credential": _credential_commands,
}
"""Each command's options and handler, on the parser ``authority.cli.main`` made for it."""
