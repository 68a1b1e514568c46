"""``authority`` command line: run the server and every operator task.

Subcommands talk to a running server over gRPC (admin credential from the data directory or
``--credential``) except ``serve``, ``config`` and ``keys``, which work on the local data directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from authority.domain.errors import PRODUCT_ERRORS, AuthorityError
from authority.process.config import Settings

console = Console(stderr=False)
err_console = Console(stderr=True)


def _settings(ns: argparse.Namespace) -> Settings:
    return Settings.load(
        data_dir=getattr(ns, "data_dir", None),
        listen=getattr(ns, "listen", None),
        redis_url=getattr(ns, "redis_url", None),
        log_format=getattr(ns, "log_format", None),
        log_level=getattr(ns, "log_level", None),
        ship_events=getattr(ns, "ship_events", None),
        role=getattr(ns, "role", None),
        workers=getattr(ns, "workers", None),
    )


def cmd_serve(ns: argparse.Namespace) -> int:
    """A supervisor of workers and a log process (the default: one worker per CPU), or with
    ``--workers 0`` (and for a bulk or shipping-split process) one process doing everything."""
    from authority.process.observability import configure_logging  # noqa: PLC0415 - keep --help fast
    from authority.process.supervisor import Supervisor, worker_count  # noqa: PLC0415

    settings = _settings(ns)
    workers = worker_count(settings)
    if workers:
        configure_logging(
            fmt=settings.log_format,
            level=settings.log_level,
            fields={"proc": "supervisor", "pid": os.getpid()},
        )
        # The standard loop: the supervisor serves no calls, and its children are spawned and
        # reaped through asyncio's subprocess support.
        return asyncio.run(Supervisor(settings, workers=workers).run())
    from authority.process.serve import serve  # noqa: PLC0415

    configure_logging(fmt=settings.log_format, level=settings.log_level)
    run(serve(settings))
    return 0


def run(coro: object) -> object:
    """Run a coroutine on uvloop when available (measured: a little cheaper per call)."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(coro)  # type: ignore[arg-type]
    return uvloop.run(coro)  # type: ignore[arg-type]


def cmd_config(ns: argparse.Namespace) -> int:
    settings = _settings(ns)
    values = settings.redacted()
    if ns.json:
        print(json.dumps(values, indent=2))
        return 0
    table = Table(title="authority configuration (secrets redacted)")
    for col in ("setting", "environment", "value", "meaning"):
        table.add_column(col, overflow="fold")
    for name, env, _default, doc in Settings.describe():
        table.add_row(name, env, str(values[name]), doc)
    console.print(table)
    return 0


def _keyring(ns: argparse.Namespace):  # type: ignore[no-untyped-def]
    from authority.process.wiring import _load_keyring, key_sealer  # noqa: PLC0415

    settings = _settings(ns)
    return _load_keyring(settings, key_sealer(settings))


def cmd_keys_export(ns: argparse.Namespace) -> int:
    ring = _keyring(ns)
    now = int(time.time())
    if ns.format == "cose":
        sys.stdout.buffer.write(ring.cose_key_set(now=now))
    elif ns.format == "cose-hex":
        print(ring.cose_key_set(now=now).hex())
    else:
        print(json.dumps(ring.jwks(now=now), indent=2))
    return 0


def cmd_keys_rotate(ns: argparse.Namespace) -> int:
    ring = _keyring(ns)
    new = ring.rotate(now=int(time.time()))
    print(
        json.dumps(
            {
                "active_kid": new.kid.hex(),
                "published": [k.kid.hex() for k in ring.published(now=int(time.time()))],
            }
        )
    )
    err_console.print(
        "[yellow]Running servers keep signing with the old key until restarted; "
        "relays must fetch the new key set (`authority keys export`).[/]"
    )
    return 0


def cmd_keys_wrap(ns: argparse.Namespace) -> int:
    """Seal (``wrap``) or open (``unwrap``) every signing and audit key file in place."""
    from authority.adapters.crypto.keyring import read_key_file, write_key_file  # noqa: PLC0415
    from authority.adapters.crypto.sealing import SEALING_FILE  # noqa: PLC0415
    from authority.process.wiring import key_sealer  # noqa: PLC0415

    settings = _settings(ns)
    keys_dir = settings.data_dir / "keys"
    sealer = key_sealer(settings)
    if sealer is None:
        raise AuthorityError(
            "set AUTHORITY_KEY_PASSPHRASE or AUTHORITY_KEY_PASSPHRASE_FILE (the passphrase to "
            f"{ns.keys} the key files with)"
        )
    from authority.adapters.redis.person_store import PersonKeys  # noqa: PLC0415

    files = sorted([*keys_dir.glob("signing-*.json"), *keys_dir.glob("audit-*.json")])
    for path in files:
        key = read_key_file(path, sealer)
        write_key_file(path, key, sealer if ns.keys == "wrap" else None, overwrite=True)
    # The person store's master key too: unsealed without it, every profile would be lost.
    if PersonKeys.reseal(keys_dir, sealer, seal=ns.keys == "wrap"):
        files.append(keys_dir / "person-master.key")
    if ns.keys == "unwrap":
        (keys_dir / SEALING_FILE).unlink(missing_ok=True)
    print(json.dumps({"files": len(files), "sealed": ns.keys == "wrap"}))
    return 0


def cmd_keys_list(ns: argparse.Namespace) -> int:
    ring = _keyring(ns)
    now = int(time.time())
    published = {k.kid for k in ring.published(now=now)}
    rows = [
        {
            "kid": k.kid.hex(),
            "active": k is ring.active,
            "created_at": k.created_at,
            "retired_at": k.retired_at,
            "published": k.kid in published,
        }
        for k in ring.keys
    ]
    if ns.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title="signing keys")
    for col in rows[0]:
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(v) for v in r.values()))
    console.print(table)
    return 0


def cmd_dev_certs(ns: argparse.Namespace) -> int:
    from authority.client.authority import DEV_CERTS_DIR  # noqa: PLC0415
    from authority.process.tls import create_dev_certificates  # noqa: PLC0415
    from authority.usecases.peer import CertificateIdentity  # noqa: PLC0415

    data_dir = ns.data_dir or _settings(ns).data_dir
    out = ns.out or data_dir / DEV_CERTS_DIR
    made = create_dev_certificates(
        out,
        hosts=ns.hosts or (),
        clients=[CertificateIdentity.parse(c) for c in ns.client or ()],
        days=ns.days,
    )
    files = {
        "ca": str(made.ca),
        "server_cert": str(made.server_cert),
        "server_key": str(made.server_key),
        "clients": {
            c.uri: {"cert": str(made.client_cert(c)), "key": str(made.client_key(c))}
            for c in made.clients
        },
    }
    if ns.json:
        print(json.dumps(files, indent=2))
        return 0
    print(f"development CA and certificates in {out} (keys 0600; not for production)")
    print(
        f"  server: AUTHORITY_TLS_CERT_FILE={made.server_cert} "
        f"AUTHORITY_TLS_KEY_FILE={made.server_key}"
    )
    print(f"  mTLS:   AUTHORITY_TLS_CLIENT_CA_FILE={made.ca}")
    print(f"  clients: --ca-file {made.ca}")
    for c in made.clients:
        print(f"  {c.uri}: --client-cert {made.client_cert(c)} --client-key {made.client_key(c)}")
    return 0


def cmd_demo(ns: argparse.Namespace) -> int:
    from authority.cli.demo import run_demo  # noqa: PLC0415

    return run_demo(data_dir=ns.data_dir, verbose=ns.verbose)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="authority", description="Access authority for digital door keys."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", type=Path, help="data directory (AUTHORITY_DATA_DIR)")

    p = sub.add_parser("serve", help="run the gRPC server (embedded Redis unless REDIS_URL)")
    common(p)
    p.add_argument("--listen", help="host:port (AUTHORITY_LISTEN), default 127.0.0.1:50051")
    p.add_argument("--redis-url", help="external Redis (REDIS_URL)")
    p.add_argument("--log-format", choices=["auto", "json", "console"])
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument(
        "--ship-events",
        choices=["on", "off", "only"],
        help="access-log shipping (AUTHORITY_SHIP_EVENTS): on (default) serve and ship; off "
        "serve, another process ships; only ship and serve log queries (needs REDIS_URL)",
    )
    p.add_argument(
        "--role",
        choices=["all", "bulk"],
        help="(AUTHORITY_ROLE) all (default) every service; bulk only the grant service, at a "
        "lower CPU priority, for imports beside the unlock processes (needs REDIS_URL)",
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="(AUTHORITY_WORKERS) worker processes on the listen port behind a supervisor, "
        "beside one log process; default one per CPU; 0: one process doing everything",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("config", help="print the effective configuration, secrets redacted")
    common(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_config)

    keys = sub.add_parser("keys", help="token signing keys").add_subparsers(
        dest="keys", required=True
    )
    p = keys.add_parser("export", help="print the public keys (JWK Set, or COSE_KeySet)")
    common(p)
    p.add_argument("--format", choices=["jwks", "cose", "cose-hex"], default="jwks")
    p.set_defaults(func=cmd_keys_export)
    p = keys.add_parser("rotate", help="make a new active key; old ones stay published a while")
    common(p)
    p.set_defaults(func=cmd_keys_rotate)
    for verb, what in (("wrap", "seal"), ("unwrap", "unseal")):
        p = keys.add_parser(
            verb,
            help=f"{what} the signing and audit key files with the key passphrase "
            "(AUTHORITY_KEY_PASSPHRASE or AUTHORITY_KEY_PASSPHRASE_FILE); stop the server first",
        )
        common(p)
        p.set_defaults(func=cmd_keys_wrap)
    p = keys.add_parser("list", help="list signing keys (no key material)")
    common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_keys_list)

    p = sub.add_parser(
        "dev-certs",
        help="create a local CA, a server certificate and mTLS client certificates (development)",
    )
    common(p)
    p.add_argument("--out", type=Path, help="directory (default: <data-dir>/tls)")
    p.add_argument(
        "--hosts",
        nargs="*",
        help="more server names or addresses (localhost, 127.0.0.1, ::1 always)",
    )
    p.add_argument(
        "--client",
        action="append",
        metavar="KIND:ID",
        help="a client certificate: org:<organisation id>, bridge:<name> or operator:<name> "
        "(repeatable)",
    )
    p.add_argument("--days", type=int, default=30, help="validity of the certificates")
    p.add_argument("--json", action="store_true", help="machine-readable output (file paths)")
    p.set_defaults(func=cmd_dev_certs)

    p = sub.add_parser("demo", help="run a scripted scenario against a real server")
    p.add_argument("--data-dir", type=Path, help="keep the demo's data here (default: temporary)")
    p.add_argument("--verbose", action="store_true", help="show server logs")
    p.set_defaults(func=cmd_demo)

    from authority.cli.client import add_client_commands  # noqa: PLC0415

    add_client_commands(sub)
    from authority.cli.logs import add_logs_commands  # noqa: PLC0415

    add_logs_commands(sub)
    from authority.cli.audit import add_audit_commands  # noqa: PLC0415

    add_audit_commands(sub)
    from authority.cli.privacy import add_backup_commands, add_privacy_commands  # noqa: PLC0415

    add_privacy_commands(sub)
    add_backup_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    try:
        return int(ns.func(ns))
    except PRODUCT_ERRORS as exc:
        err_console.print(f"[red]error:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
