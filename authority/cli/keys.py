"""``authority keys …``: the token signing keys in the data directory (export, rotate, seal,
list); no server needed, stop it before sealing."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from authority.adapters.crypto.keyring import Keyring, read_key_file, write_key_file
from authority.adapters.crypto.sealing import SEALING_FILE
from authority.adapters.redis.person_store import PersonKeys
from authority.cli.local_settings import add_data_dir_option, load_settings
from authority.cli.output import EXIT_OK, add_json_option, new_table, print_json, show
from authority.domain.errors import AuthorityError
from authority.process.wiring import _load_keyring, key_sealer


def _keyring(ns: argparse.Namespace) -> Keyring:
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


COMMANDS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "keys": _keys_commands,
}
"""Each command's options and handler, on the parser ``authority.cli.main`` made for it."""
