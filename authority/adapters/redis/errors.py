"""redis-py's errors translated into the product's where they enter, once for every Redis
adapter (``what`` names the store in the message a caller sees)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis import exceptions as redis_errors

from authority.domain.errors import FailedPrecondition, Unavailable


@contextmanager
def unavailable_on_failure(what: str) -> Iterator[None]:
    """A connection that fails, or any other redis-py error: ``Unavailable`` naming ``what``
    (for pipelines, whose commands' own errors come back as replies)."""
    try:
        yield
    except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
        raise Unavailable(f"{what} is unreachable") from exc
    except redis_errors.RedisError as exc:
        raise Unavailable(f"{what} failed: {type(exc).__name__}") from exc


@contextmanager
def command_errors_translated(what: str) -> Iterator[None]:
    """One command: as ``unavailable_on_failure``, and a replica that is read-only (a failover
    in progress) is ``Unavailable``, a command Redis refused ``FailedPrecondition``."""
    with unavailable_on_failure(what):
        try:
            yield
        except redis_errors.ReadOnlyError as exc:
            raise Unavailable(f"{what} is read-only (failover in progress)") from exc
        except redis_errors.ResponseError as exc:
            raise FailedPrecondition(f"{what} refused the operation: {exc}") from exc
