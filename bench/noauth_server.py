"""The unlock path *without* authentication and authorization, as the baseline of
bench_auth.py. The product has no such switch: this script, in its own process, before starting
the ordinary server,

* builds the gRPC server without interceptors (no authorization interceptor on any call),
* replaces the unlock's credential parsing with a plain split that keeps only the holder id
  (no SHA-256 of the secret, no format checks), and
* makes every stored credential match (no expiry check, no constant-time comparison).

The unlock still reads the holder's hash in its one round trip (the same HMGET, the field of
the session's access entry, whose expiry and digest go unchecked), decides, signs and logs as
the product does.
"""

from __future__ import annotations

import sys
from typing import Any

import grpc

import authority.api.unlock_servicer as unlock_servicer
from authority.cli.main import main
from authority.domain.credentials import PresentedCredential

_server = grpc.aio.server


def _without_interceptors(*args: Any, **kw: Any) -> Any:
    kw.pop("interceptors", None)
    return _server(*args, **kw)


def _holder_only(header: str | None) -> PresentedCredential:
    """``kh_…~<session>.<secret>``: the holder and its session, split, nothing checked."""
    token = (header or "")[7:]
    holder, _, rest = token.partition(".")[0].partition("~")
    return PresentedCredential(holder, b"", session_id=rest or None)


def _always(self: PresentedCredential, stored: bytes, now: int = 0) -> bool:
    return True


grpc.aio.server = _without_interceptors
unlock_servicer.parse_bearer = _holder_only  # type: ignore[assignment]
PresentedCredential.matches = _always  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
