"""``authority demo``: a scripted morning round of a postal carrier, against a real server, then
the same morning as the access log shows it (a log query, a site owner's log request).

A real grpc.aio server with the embedded defaults (a private redis-server with AOF in a temporary
data directory, Ed25519 keys generated on first run) is started in this process; the demo talks to
it over gRPC like any partner would, and checks every token like a relay would, with only the
exported public keys. The server's clock is a *simulated* one that the demo moves, so the
weekday-morning schedule can be shown at any hour of the real day.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import grpc
import pyotp
from rich.console import Console

from authority.adapters.crypto.keyring import verification_keys_from_jwks
from authority.cli.output import new_table
from authority.client.accesslog import AccessLogClient, EventQuery
from authority.client.authority import DEV_CERTS_DIR, AuthorityClient, chunk_items, grant_item
from authority.client.tls import ClientTls
from authority.domain.errors import TokenError
from authority.domain.schedule import parse_window
from authority.process.config import Settings
from authority.process.observability import configure_logging
from authority.process.serve import RunningServer, serve
from authority.process.tls import DevCertificates, create_dev_certificates
from authority.testing import FixedClock
from authority.usecases.peer import CertificateIdentity
from authority.v1 import authority_pb2 as pb
from authority.v1 import identity_pb2 as ipb
from doorkey_wire.cwt import verify_token
from relay_bridge.demo import run_relay_demo

CPH = ZoneInfo("Europe/Copenhagen")
DEMO_BRIDGE = CertificateIdentity.parse("bridge:demo-bridge")
console = Console()


@dataclass
class Step:
    when: str
    action: str
    expected: str
    got: str

    @property
    def ok(self) -> bool:
        return self.expected == self.got


def _next_monday(now: datetime) -> datetime:
    local = now.astimezone(CPH)
    days = (7 - local.weekday()) % 7 or 7
    return (local + timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)


class _ServerThread:
    def __init__(self, settings: Settings, clock: FixedClock) -> None:
        self._settings, self._clock = settings, clock
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.running: RunningServer | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="authority-server", daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self._stop, self._loop = asyncio.Event(), asyncio.get_running_loop()
            await serve(self._settings, on_ready=self._on_ready, stop=self._stop,
                        install_signal_handlers=False, clock=self._clock)  # fmt: skip

        try:
            asyncio.run(main())
        except BaseException as exc:
            self.error = exc
            self._ready.set()

    def _on_ready(self, running: RunningServer) -> None:
        self.running = running
        self._ready.set()

    def start(self) -> RunningServer:
        self._thread.start()
        self._ready.wait(60)
        if self.running is None:
            raise RuntimeError(f"the server did not start: {self.error!r}")
        return self.running

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


APP_PASSWORD = "the carrier's app password"  # noqa: S105 (a demo's made-up password)


class AppSession:
    """The phone: enrolled with a one-time activation code, logged in once, and renewing its
    15-minute access credential with the rotating refresh credential whenever it has run out
    (nothing long-lived is kept on the phone)."""

    def __init__(
        self, organisation: AuthorityClient, anonymous: AuthorityClient, holder_id: str,
        clock: FixedClock,
    ) -> None:  # fmt: skip
        self._anonymous = anonymous
        self._clock = clock
        self._session = organisation.app_login(holder_id, APP_PASSWORD)
        self.renewals = 0

    def client(self) -> AuthorityClient:
        if self._clock.now().timestamp() >= self._session.access_expires_at.seconds - 30:
            self._session = self._anonymous.refresh_session(self._session.refresh_credential)
            self.renewals += 1
        return self._anonymous.with_credential(self._session.access_credential)


def run_demo(*, data_dir: Path | None = None, verbose: bool = False) -> int:
    configure_logging(fmt="console", level="INFO" if verbose else "WARNING")
    with tempfile.TemporaryDirectory(prefix="authority-demo-") as tmp:
        directory = data_dir or Path(tmp) / "data"
        monday = _next_monday(datetime.now(UTC))
        clock = FixedClock(monday.replace(hour=7, minute=30).astimezone(UTC))
        # Everything over TLS with development certificates (the bridge over mTLS, on the
        # listener that requires client certificates).
        certs = create_dev_certificates(directory / DEV_CERTS_DIR, clients=[DEMO_BRIDGE])
        # Apps only log in: no long-lived app credential is handed out or accepted.
        settings = Settings.load(
            {},
            data_dir=directory,
            listen="127.0.0.1:0",
            tls_cert_file=certs.server_cert,
            tls_key_file=certs.server_key,
            tls_client_ca_file=certs.ca,
            mtls_listen="127.0.0.1:0",
            log_format="console",
        )
        server = _ServerThread(settings, clock)
        running = server.start()
        try:
            return _scenario(running, settings, clock, monday, certs)
        finally:
            server.stop()
            logging.getLogger(__name__).debug("demo server stopped")


def _scenario(
    running: RunningServer,
    settings: Settings,
    clock: FixedClock,
    monday: datetime,
    certs: DevCertificates,
) -> int:
    target = f"127.0.0.1:{running.port}"
    tls = certs.client_tls()
    admin_credential = (settings.data_dir / "admin.credential").read_text().strip()
    admin = AuthorityClient(target, credential=admin_credential, tls=tls)
    console.rule("[bold]Access authority demo: a postal carrier's morning round")
    console.print(f"server {target} (TLS; mTLS for bridges on port {running.mtls_port}) · "
                  f"embedded redis-server (AOF) in {settings.data_dir} · "
                  f"signing key {running.process.core.keyring.active.kid.hex()}")  # fmt: skip

    created = admin.create_organisation(
        name="Nordic Post A/S", cvr="25680839", purpose=pb.PURPOSE_POSTAL
    )
    org_id = created.organisation.organisation_id
    admin.set_organisation_status(org_id, pb.ORGANISATION_STATUS_APPROVED)
    org = admin.with_credential(created.api_credential)
    console.print(
        f"1. organisation [bold]{org_id}[/] (CVR 25680839, postal) registered and approved"
    )
    site = admin.create_site(
        address="Nørrebrogade 12, 2200 København N", owner_id="andelsforeningen-nbg12"
    )
    doors = {"nbg12-front": "relay-nbg12-a", "nbg12-yard": "relay-nbg12-b"}
    for door_id, relay_id in doors.items():
        admin.create_door(door_id=door_id, site_id=site.site_id, relay_id=relay_id, label=door_id)
    console.print(
        f"2. site [bold]{site.site_id}[/] with doors {', '.join(doors)} (Europe/Copenhagen)"
    )
    carrier = org.create_key_holder()
    holder_id = carrier.key_holder.key_holder_id
    anonymous = AuthorityClient(target, tls=tls)
    app = AppSession(org, anonymous, holder_id, clock)
    grant = org.issue_grant(
        key_holder_id=holder_id, site_id=site.site_id,
        valid_from=monday.astimezone(UTC) - timedelta(days=1),
        valid_until=monday.astimezone(UTC) + timedelta(days=90),
        windows=[parse_window("Mon-Fri 06:00-09:00")],
    )  # fmt: skip
    console.print(f"3. carrier [bold]{holder_id}[/] (a pseudonym) gets grant {grant.grant_id}: "
                  "whole site, Mon-Fri 06:00-09:00 local time, 90 days")  # fmt: skip
    jwks = json.loads(admin.verification_keys().jwks_json)
    relay_keys = verification_keys_from_jwks(jwks)
    console.print(f"4. relays are provisioned with the public JWK Set ({len(jwks['keys'])} key, "
                  f"kid {jwks['keys'][0]['kid']})")  # fmt: skip

    steps: list[Step] = []

    def attempt(
        local: datetime, door_id: str, expected: str, note: str = ""
    ) -> pb.RequestUnlockResponse:
        clock.set(local.astimezone(UTC))
        challenge = os.urandom(16)  # what the door's relay hands the app over Bluetooth
        resp = app.client().request_unlock(door_id, challenge)
        got = pb.DecisionReason.Name(resp.reason).removeprefix("DECISION_REASON_")
        if resp.decision == pb.DECISION_ALLOW:
            try:  # the relay's offline check, with only the public keys
                claims = verify_token(
                    resp.token,
                    keys=relay_keys,
                    audience=doors[door_id],
                    now=int(clock.now().timestamp()),
                    nonce=challenge,
                )
                got += f" · token {len(resp.token)} B verified by {claims.audience}"
                expected_full = (
                    expected + f" · token {len(resp.token)} B verified by {doors[door_id]}"
                )
            except TokenError as exc:
                got += f" · relay REJECTED token: {exc}"
                expected_full = expected + " · token verified"
        else:
            expected_full = expected
        steps.append(Step(local.strftime("%a %H:%M"), f"open {door_id}{note}", expected_full, got))
        return resp

    first = attempt(monday.replace(hour=7, minute=30), "nbg12-front", "GRANTED")
    try:
        verify_token(first.token, keys=relay_keys, audience=doors["nbg12-yard"],
                     now=int(clock.now().timestamp()), nonce=None)  # fmt: skip
        misuse = "ACCEPTED"
    except TokenError as exc:
        misuse = f"REJECTED ({type(exc).__name__})"
    steps.append(
        Step("Mon 07:30", "replay that token at the yard relay", "REJECTED (WrongAudience)", misuse)
    )
    attempt(monday.replace(hour=10, minute=15), "nbg12-front", "OUTSIDE_SCHEDULE")
    attempt(
        (monday + timedelta(days=5)).replace(hour=7, minute=30),
        "nbg12-front",
        "OUTSIDE_SCHEDULE",
        " (Saturday)",
    )
    attempt((monday + timedelta(days=1)).replace(hour=6, minute=5), "nbg12-yard", "GRANTED")
    attempt((monday + timedelta(days=1)).replace(hour=6, minute=10), "nbg12-cellar", "DOOR_UNKNOWN")
    org.revoke_grant(grant.grant_id)
    attempt(
        (monday + timedelta(days=1)).replace(hour=6, minute=11),
        "nbg12-front",
        "REVOKED",
        " after revocation",
    )

    console.print(f"the app renewed its session {app.renewals} times over the week")
    steps += _login_part(admin=admin, anonymous=anonymous, clock=clock, when=monday)

    steps += _access_log_part(
        target=target,
        tls=tls,
        admin_credential=admin_credential,
        clock=clock,
        monday=monday,
        site_id=site.site_id,
        org_id=org_id,
    )

    steps += _relay_part(
        target=target,
        tls=tls,
        bridge_target=f"127.0.0.1:{running.mtls_port}",
        bridge_tls=certs.client_tls(DEMO_BRIDGE),
        admin_credential=admin_credential,
        site_id=site.site_id,
        organisation_credential=created.api_credential,
        clock=clock,
        when=(monday + timedelta(days=1)).replace(hour=12, minute=30),
    )

    steps += _fleet_part(
        anonymous=anonymous,
        organisation=org,
        site_id=site.site_id,
        clock=clock,
        when=(monday + timedelta(days=1)).replace(hour=13, minute=0),
    )

    table = new_table(
        "What happened (simulated site-local time)",
        ("when", "action", "expected", "outcome", ""),
        overflow=True,
    )
    for s in steps:
        table.add_row(
            s.when,
            s.action,
            s.expected.split(" · ")[0],
            s.got,
            "[green]✓[/]" if s.ok else "[red]✗[/]",
        )
    console.print(table)
    admin.close()
    if all(s.ok for s in steps):
        console.print(
            "[bold green]demo passed:[/] every decision and every relay check came out as expected"
        )
        return 0
    console.print("[bold red]demo failed:[/] some outcomes differ from what was expected")
    return 1


def _relay_part(
    *,
    target: str,
    tls: ClientTls,
    bridge_target: str,
    bridge_tls: ClientTls,
    admin_credential: str,
    site_id: str,
    organisation_credential: str,
    clock: FixedClock,
    when: datetime,
) -> list[Step]:
    """At the door: the unlock travels app → authority → bridge → emulated relay over virtual
    Bluetooth (``relay_bridge.demo``), then the attacks the relay refuses."""
    clock.set(when.astimezone(UTC))
    relay_steps = run_relay_demo(
        target=target,
        tls=tls,
        bridge_target=bridge_target,
        bridge_tls=bridge_tls,
        admin_credential=admin_credential,
        site_id=site_id,
        organisation_credential=organisation_credential,
        clock=lambda: clock.now().timestamp(),
        console=console,
    )
    return [Step(when.strftime("%a %H:%M"), s.action, s.expected, s.got) for s in relay_steps]


def _access_log_part(
    *,
    target: str,
    tls: ClientTls,
    admin_credential: str,
    clock: FixedClock,
    monday: datetime,
    site_id: str,
    org_id: str,
) -> list[Step]:
    """The same morning as the access log shows it: an analyst's query, then the site owner's
    written log request (one stairwell, at most a week), delivered by the operator."""
    console.rule("[bold]The access log")
    admin_log = AccessLogClient(target, credential=admin_credential, tls=tls)
    week = EventQuery(
        start=monday.astimezone(UTC) - timedelta(days=1),
        end=monday.astimezone(UTC) + timedelta(days=7),
        site_id=site_id,
        kind="unlock",
    )
    deadline = time.monotonic() + 30
    events = list(admin_log.iter_events(week))
    while len(events) < 5 and time.monotonic() < deadline:  # the shipper runs every second
        time.sleep(0.3)
        events = list(admin_log.iter_events(week))
    table = new_table(
        f"logs query: unlocks at {site_id} (as ClickHouse has them)",
        ("time (UTC)", "door", "outcome", "reason", "holder (pseudonym)", "token"),
    )
    for e in events:
        ts = e.time.ToDatetime(tzinfo=UTC).strftime("%a %H:%M:%S")
        table.add_row(ts, e.door_id, e.outcome, e.reason, e.key_holder_id, e.token_id[:12])
    console.print(table)
    steps = [Step("-", "query the log: unlocks at the site", "5 events", f"{len(events)} events")]

    owner_id = "andelsforeningen-nbg12"
    clock.set((monday + timedelta(days=1)).replace(hour=12).astimezone(UTC))
    # The site owner is a staff account: the operator creates it, the owner activates it with
    # the one-time code and logs in (no two-factor by default outside the operator's staff).
    staff_admin = AuthorityClient(target, credential=admin_credential, tls=tls)
    created = staff_admin.call(
        staff_admin.identity.CreateAccount,
        ipb.CreateAccountRequest(
            login="nbg12.board", role=ipb.ACCOUNT_ROLE_SITE_OWNER, owner_id=owner_id
        ),
    )
    staff_admin.close()
    owner_password = "the board's long password"  # noqa: S105 (made up for the demo)
    owner_app = AuthorityClient(target, tls=tls)
    owner_app.activate(created.activation_code, owner_password)
    owner_session = owner_app.login("nbg12.board", owner_password)
    owner_app.close()
    owner = AccessLogClient(target, credential=owner_session.access_credential, tls=tls)
    request = owner.file_request(
        site_id=site_id,
        start=monday.astimezone(UTC),
        end=(monday + timedelta(days=1)).replace(hour=12).astimezone(UTC),
        purpose="Residents report the front door left open on Monday morning",
        suspected_crime=False,
    )
    fee = "free" if request.fee_total_ore == 0 else f"{request.fee_total_ore / 100:.2f} DKK"
    console.print(
        f"owner log request {request.request_id}: 1 stairwell, 36 hours, "
        f"request {request.sequence_in_year} of {request.year}: {fee}"
    )
    steps.append(Step("Tue 12:00", "site owner files a log request", "free", fee))
    delivered, entries = admin_log.deliver_request(request.request_id)
    table = new_table(
        "delivered to the site owner: who entered the stairwell, and when",
        ("time (UTC)", "door", "organisation"),
    )
    for entry in entries:
        when = entry.time.ToDatetime(tzinfo=UTC).strftime("%a %H:%M:%S")
        table.add_row(when, entry.door_id, f"{entry.organisation_name} ({entry.organisation_id})")
    console.print(table)
    orgs = {entry.organisation_id for entry in entries}
    steps.append(
        Step(
            "Tue 12:00",
            "operator delivers it (organisations only)",
            f"2 entries by {org_id}",
            f"{len(entries)} entries by {', '.join(sorted(orgs)) or 'nobody'}",
        )
    )
    _ = delivered
    admin_log.close()
    owner.close()
    return steps


def _fleet_part(
    *,
    anonymous: AuthorityClient,
    organisation: AuthorityClient,
    site_id: str,
    clock: FixedClock,
    when: datetime,
) -> list[Step]:
    """A small fleet: five carriers' keys streamed in one bulk import (one bad row rejected, the
    rest proceed), a lost phone cut off, then every key of the organisation revoked at once."""
    console.rule("[bold]A partner fleet")
    clock.set(when.astimezone(UTC))
    stamp = when.strftime("%a %H:%M")
    carriers = [organisation.create_key_holder() for _ in range(5)]
    until = when.astimezone(UTC) + timedelta(days=30)
    items = [
        grant_item(idempotency_key=f"roster-1:{row}", key_holder_id=c.key_holder.key_holder_id,
                   site_id=site_id, valid_until=until, row=row)
        for row, c in enumerate(carriers, start=2)
    ]  # fmt: skip
    items.append(
        grant_item(idempotency_key="roster-1:7", key_holder_id=carriers[0].key_holder.key_holder_id,
                   door_id="nbg12-attic", valid_until=until, row=7)
    )  # fmt: skip
    results = [r for resp in organisation.issue_grants(chunk_items(items)) for r in resp.results]
    created = sum(r.status == pb.GRANT_ITEM_STATUS_CREATED for r in results)
    rejected = [r for r in results if r.status == pb.GRANT_ITEM_STATUS_REJECTED]
    for r in rejected:
        console.print(f"row {r.row} rejected ({r.code}): {r.reason}")
    got = f"{created} created, {len(rejected)} rejected" + (
        f" (row {rejected[0].row})" if rejected else ""
    )
    expected = "5 created, 1 rejected (row 7)"
    steps = [Step(stamp, "bulk import: 6 roster rows, one naming no door", expected, got)]
    lost = carriers[1]
    phones = {
        c.key_holder.key_holder_id: AppSession(
            organisation, anonymous, c.key_holder.key_holder_id, clock
        )
        for c in carriers
    }
    app = phones[lost.key_holder.key_holder_id].client()
    before = app.request_unlock("nbg12-front").reason
    organisation.set_key_holder_status(
        lost.key_holder.key_holder_id, pb.KEY_HOLDER_STATUS_SUSPENDED
    )
    after = app.request_unlock("nbg12-front").reason
    steps.append(
        Step(stamp, "carrier opens, loses the phone, tries again", "GRANTED then HOLDER_SUSPENDED",
             f"{_reason(before)} then {_reason(after)}")
    )  # fmt: skip
    revoked = organisation.revoke_grants(organisation_id=lost.key_holder.organisation_id)
    console.print(f"the organisation revoked all its live grants at once: {revoked.revoked}")
    reasons = {
        _reason(phones[c.key_holder.key_holder_id].client().request_unlock("nbg12-front").reason)
        for c in carriers
        if c is not lost
    }
    steps.append(
        Step(stamp, "the organisation revokes all its keys at once", "REVOKED",
             ", ".join(sorted(reasons)))
    )  # fmt: skip
    return steps


def _login_part(
    *, admin: AuthorityClient, anonymous: AuthorityClient, clock: FixedClock, when: datetime
) -> list[Step]:
    """Staff log in: an operator administrator's account (password + TOTP, required for the
    operator's staff), and the lockout after three wrong passwords that an admin lifts."""
    console.rule("[bold]Staff logins: two-factor, lockout")
    clock.set(when.replace(hour=9, minute=0).astimezone(UTC))
    stamp = when.replace(hour=9, minute=0).strftime("%a %H:%M")
    created = admin.call(
        admin.identity.CreateAccount,
        ipb.CreateAccountRequest(login="ops.admin", role=ipb.ACCOUNT_ROLE_PLATFORM_ADMIN),
    )
    password = "operator's long password"  # noqa: S105 (made up for the demo)
    totp = pyotp.parse_uri(anonymous.activate(created.activation_code, password).totp_uri)
    assert isinstance(totp, pyotp.TOTP)
    session = anonymous.login("ops.admin", password, totp.at(clock.now()))
    staff = anonymous.with_credential(session.access_credential)
    policy = staff.call(staff.identity.GetLoginPolicy, ipb.GetLoginPolicyRequest(operator=True))
    console.print(
        f"operator admin {created.account_id} logged in with password + TOTP: session "
        f"{session.session_id}, role {session.role}; the operator's policy: lockout after "
        f"{policy.max_failed_logins} failures for {policy.lockout_seconds} s, TOTP required"
    )
    steps = [Step(stamp, "operator admin logs in: password + TOTP code", "session (admin)",
                  f"session ({session.role})")]  # fmt: skip
    outcomes = []
    for _ in range(4):
        try:
            anonymous.login("ops.admin", "not the password", "000000")
            outcomes.append("ok")
        except grpc.RpcError as exc:
            outcomes.append("locked" if "locked" in (exc.details() or "") else "refused")
    steps.append(Step(stamp, "four wrong passwords", "refused, refused, refused, locked",
                      ", ".join(outcomes)))  # fmt: skip
    admin.call(admin.identity.UnlockLogin, ipb.UnlockLoginRequest(login="ops.admin"))
    clock.set(clock.now() + timedelta(seconds=30))
    again = anonymous.login("ops.admin", password, totp.at(clock.now()))
    steps.append(Step(stamp, "an admin lifts the lockout; log in again", "session (admin)",
                      f"session ({again.role})"))  # fmt: skip
    return steps


def _reason(reason: int) -> str:
    return pb.DecisionReason.Name(reason).removeprefix("DECISION_REASON_")


def cmd_demo(ns: argparse.Namespace) -> int:
    return run_demo(data_dir=ns.data_dir, verbose=ns.verbose)


def _demo_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, help="keep the demo's data here (default: temporary)")
    p.add_argument("--verbose", action="store_true", help="show server logs")
    p.set_defaults(func=cmd_demo)


COMMANDS: dict[str, Callable[[argparse.ArgumentParser], None]] = {"demo": _demo_options}
"""Each command's options and handler, on the parser ``authority.cli.main`` made for it."""
