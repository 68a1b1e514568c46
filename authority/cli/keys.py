"""``authority keys …`` (the token signing keys in the data directory) and ``authority
dev-certs`` (a development CA and certificates): key material, no server needed."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from authority.adapters.crypto.keyring import Keyring, read_key_file, write_key_file
from authority.adapters.crypto.sealing import SEALING_FILE
from authority.cli.local_settings import add_data_dir_option, load_settings
from authority.cli.output import EXIT_OK, add_json_option, new_table, print_json, show
from authority.client.authority import DEV_CERTS_DIR
from authority.domain.errors import AuthorityError
from authority.process.tls import create_dev_certificates
from authority.usecases.peer import CertificateIdentity


def _keyring(ns: argparse.Namespace) -> Keyring:
    # The process wiring imports every adapter (Redis, ClickHouse): only when a key command runs.
    from authority.process.wiring import _load_keyring, key_sealer  # noqa: PLC0415

    settings = load_settings(ns)
    return _load_keyring(settings, key_sealer(settings))


def cmd_keys_export(ns: argparse.Namespace) -> int:
    ring = _keyring(ns)
    now = int(time.time())
    if ns.format == "cose":
        sys.stdout.buffer.write(ring.cose_key_set(now=now))
    elif ns.format == "cose-hex":
        print(ring.cose_key_set(now=now).hex())
    else:
        print_json(ring.jwks(now=now))
    return EXIT_OK


def cmd_keys_rotate(ns: argparse.Namespace) -> int:
    ring = _keyring(ns)
    new = ring.rotate(now=int(time.time()))
    print_json(
        {
            "active_kid": new.kid.hex(),
            "published": [k.kid.hex() for k in ring.published(now=int(time.time()))],
        },
        indent=None,
    )
    show(
        "[yellow]Running servers keep signing with the old key until restarted; "
        "relays must fetch the new key set (`authority keys export`).[/]",
        stderr=True,
    )
    return EXIT_OK


def cmd_keys_wrap(ns: argparse.Namespace) -> int:
    """Seal (``wrap``) or open (``unwrap``) every signing and audit key file in place."""
    # The wiring and the person store import the Redis client: only when this command runs.
    from authority.adapters.redis.person_store import PersonKeys  # noqa: PLC0415
    from authority.process.wiring import key_sealer  # noqa: PLC0415

    settings = load_settings(ns)
    keys_dir = settings.data_dir / "keys"
    sealer = key_sealer(settings)
    if sealer is None:
        raise AuthorityError(
            "set AUTHORITY_KEY_PASSPHRASE or AUTHORITY_KEY_PASSPHRASE_FILE (the passphrase to "
            f"{ns.keys} the key files with)"
        )
    files = sorted([*keys_dir.glob("signing-*.json"), *keys_dir.glob("audit-*.json")])
    for path in files:
        key = read_key_file(path, sealer)
        write_key_file(path, key, sealer if ns.keys == "wrap" else None, overwrite=True)
    # The person store's master key too: unsealed without it, every profile would be lost.
    if PersonKeys.reseal(keys_dir, sealer, seal=ns.keys == "wrap"):
        files.append(keys_dir / "person-master.key")
    if ns.keys == "unwrap":
        (keys_dir / SEALING_FILE).unlink(missing_ok=True)
    print_json({"files": len(files), "sealed": ns.keys == "wrap"}, indent=None)
    return EXIT_OK


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
        print_json(rows)
        return EXIT_OK
    table = new_table("signing keys", list(rows[0]))
    for r in rows:
        table.add_row(*(str(v) for v in r.values()))
    show(table)
    return EXIT_OK


def cmd_dev_certs(ns: argparse.Namespace) -> int:
    data_dir = ns.data_dir or load_settings(ns).data_dir
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
        print_json(files)
        return EXIT_OK
    print(f"development CA and certificates in {out} (keys 0600; not for production)")
    print(
        f"  server: AUTHORITY_TLS_CERT_FILE={made.server_cert} "
        f"AUTHORITY_TLS_KEY_FILE={made.server_key}"
    )
    print(f"  mTLS:   AUTHORITY_TLS_CLIENT_CA_FILE={made.ca}")
    print(f"  clients: --ca-file {made.ca}")
    for c in made.clients:
        print(f"  {c.uri}: --client-cert {made.client_cert(c)} --client-key {made.client_key(c)}")
    return EXIT_OK


def _keys_commands(parent: argparse.ArgumentParser) -> None:
    keys = parent.add_subparsers(dest="keys", required=True)
    p = keys.add_parser("export", help="print the public keys (JWK Set, or COSE_KeySet)")
    add_data_dir_option(p)
    p.add_argument("--format", choices=["jwks", "cose", "cose-hex"], default="jwks")
    p.set_defaults(func=cmd_keys_export)
    p = keys.add_parser("rotate", help="make a new active key; old ones stay published a while")
    add_data_dir_option(p)
    p.set_defaults(func=cmd_keys_rotate)
    for verb, what in (("wrap", "seal"), ("unwrap", "unseal")):
        p = keys.add_parser(
            verb,
            help=f"{what} the signing and audit key files with the key passphrase "
            "(AUTHORITY_KEY_PASSPHRASE or AUTHORITY_KEY_PASSPHRASE_FILE); stop the server first",
        )
        add_data_dir_option(p)
        p.set_defaults(func=cmd_keys_wrap)
    p = keys.add_parser("list", help="list signing keys (no key material)")
    add_data_dir_option(p)
    add_json_option(p, help_=None)
    p.set_defaults(func=cmd_keys_list)


def _dev_certs_options(p: argparse.ArgumentParser) -> None:
    add_data_dir_option(p)
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
    add_json_option(p, help_="machine-readable output (file paths)")
    p.set_defaults(func=cmd_dev_certs)


COMMANDS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "keys": _keys_commands,
    "dev-certs": _dev_certs_options,
}
"""Each command's options and handler, on the parser ``authority.cli.main`` made for it."""
