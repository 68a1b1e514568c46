"""Commands that call a running server over gRPC: the client each one opens, and the server's
refusal printed as ``CODE: message`` with exit code 1.

The server is found through ``<data_dir>/server.json`` (written by ``authority serve``) unless
``--target`` is given; the admin credential is read from ``<data_dir>/admin.credential`` unless
``--credential`` (or ``AUTHORITY_CREDENTIAL``) is given.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import grpc

from authority.cli.output import EXIT_FAILED, add_json_option, print_rpc_error
from authority.client.accesslog import AccessLogClient
from authority.client.authority import AuthorityClient, Connection, add_connection_arguments


class _Closable(Protocol):
    def close(self) -> None: ...


ClientT = TypeVar("ClientT", bound=_Closable)
AuthorityCommand = Callable[[AuthorityClient, argparse.Namespace], int]
AccessLogCommand = Callable[[AccessLogClient, argparse.Namespace], int]
Handler = Callable[[argparse.Namespace], int]


def authority_client(ns: argparse.Namespace) -> AuthorityClient:
    conn = Connection.from_args(ns, os.environ)
    return AuthorityClient(conn.target, credential=conn.credential, tls=conn.tls)


def access_log_client(ns: argparse.Namespace) -> AccessLogClient:
    conn = Connection.from_args(ns, os.environ)
    return AccessLogClient(conn.target, credential=conn.credential, tls=conn.tls)


def calling(
    open_client: Callable[[argparse.Namespace], ClientT],
    fn: Callable[[ClientT, argparse.Namespace], int],
    *,
    errors_to_stderr: bool = False,
) -> Handler:
    """A handler that opens the client, runs ``fn`` and closes it; the server's refusal is
    printed (on standard output unless ``errors_to_stderr``) and exits 1."""

    def run(ns: argparse.Namespace) -> int:
        client = open_client(ns)
        try:
            return fn(client, ns)
        except grpc.RpcError as exc:
            print_rpc_error(exc, stderr=errors_to_stderr)
            return EXIT_FAILED
        finally:
            client.close()

    return run


def calls_authority(p: argparse.ArgumentParser, fn: AuthorityCommand) -> argparse.ArgumentParser:
    """Make ``p`` a command with the connection options and ``--json`` that runs ``fn`` on a
    client."""
    add_connection_arguments(p)
    add_json_option(p)
    p.set_defaults(func=calling(authority_client, fn))
    return p


def add_authority_command(
    parent: Any, name: str, help_: str, fn: AuthorityCommand
) -> argparse.ArgumentParser:
    """A subcommand of ``parent`` that calls the server (``calls_authority``)."""
    return calls_authority(parent.add_parser(name, help=help_), fn)
