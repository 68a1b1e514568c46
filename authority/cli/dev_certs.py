"""``authority dev-certs``: a development CA, a server certificate and mTLS client
certificates (keys 0600; not for production)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from authority.cli.local_settings import add_data_dir_option, load_settings
from authority.cli.output import EXIT_OK, add_json_option, print_json
from authority.client.authority import DEV_CERTS_DIR
from authority.process.tls import create_dev_certificates
from authority.usecases.peer import CertificateIdentity


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
    "dev-certs": _dev_certs_options,
}
"""Each command's options and handler, on the parser ``authority.cli.main`` made for it."""
