"""The ClickHouse edge: open a client, and translate its errors where they enter.

``open_clickhouse`` returns a clickhouse-connect ``Client``: a ClickHouse server over HTTP(S)
when ``CLICKHOUSE_URL`` is set, else chDB (ClickHouse embedded in this process) on a directory.
Both speak the same client API, so the schema, the shipper and the audit do not care which;
the log readers ask only for its small `LogClient` part, which a process without the log gets
through the log socket (`authority.process.log_socket`).

Every call goes through ``run_command`` / ``query_rows`` / ``stream_rows`` (or the
``clickhouse_errors`` context), which turn clickhouse-connect and chDB exceptions into the
product's hierarchy: a query ClickHouse cannot parse or type is ``InvalidArgument``, a missing
table or database is ``FailedPrecondition``, everything else (unreachable, timeouts, memory
limits, a closed client, a chDB directory held by another process) is ``Unavailable``.

All calls are synchronous; callers on an event loop run them with ``asyncio.to_thread``.
chDB releases the GIL while it works, so that is real parallelism.

chDB: one engine per process, on one directory. Clients on the same directory share it; a
client on another directory fails while any client is open; another *process* cannot open a
directory in use. clickhouse-connect is imported lazily: it costs ~0.3 s (chDB ~350 MB more).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from authority.domain.errors import (
    AuthorityError,
    FailedPrecondition,
    InvalidArgument,
    Unavailable,
)

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client


class LogRows(Protocol):
    """A query's result, as the log readers use it."""

    @property
    def result_rows(self) -> Sequence[Sequence[Any]]: ...


class LogClient(Protocol):
    """The part of clickhouse-connect's ``Client`` the log readers use (``query_rows``,
    ``stream_rows``): a ``Client`` itself, or ``authority.process.log_socket.SocketLogClient`` in a
    process that reads the embedded chDB of another process through its log socket."""

    def query(
        self,
        query: str | None = None,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> LogRows: ...

    def query_row_block_stream(
        self,
        query: str | None = None,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> AbstractContextManager[Iterable[Sequence[Sequence[Any]]]]: ...

    def close(self) -> None: ...


class RemoteClickHouseError(Exception):
    """A ClickHouse error another process (the one holding the embedded chDB) met and classified
    (``classify_error``); ``translate_error`` turns it into ``kind`` with the caller's context,
    exactly as it would have translated the original error here."""

    def __init__(self, kind: type[AuthorityError], detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


CONNECT_TIMEOUT_SECONDS = 5
SEND_RECEIVE_TIMEOUT_SECONDS = 120

BAD_QUERY_CODES = frozenset(
    {
        6,  # CANNOT_PARSE_TEXT
        16,  # NO_SUCH_COLUMN_IN_TABLE
        26,  # CANNOT_PARSE_QUOTED_STRING
        27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
        36,  # BAD_ARGUMENTS
        41,  # CANNOT_PARSE_DATETIME
        42,  # NUMBER_OF_ARGUMENTS_DOESNT_MATCH
        43,  # ILLEGAL_TYPE_OF_ARGUMENT
        46,  # UNKNOWN_FUNCTION
        47,  # UNKNOWN_IDENTIFIER
        53,  # TYPE_MISMATCH
        62,  # SYNTAX_ERROR
        70,  # CANNOT_CONVERT_TYPE
        115,  # UNKNOWN_SETTING
        117,  # INCORRECT_DATA
        131,  # TOO_LARGE_STRING_SIZE
        344,  # SUPPORT_IS_DISABLED
        376,  # CANNOT_PARSE_UUID
        457,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    }
)
"""ClickHouse error codes that mean the query or its data is wrong (retrying will not help)."""
MISSING_SCHEMA_CODES = frozenset({60, 81})  # UNKNOWN_TABLE, UNKNOWN_DATABASE
_DIRECTORY_LOCKED = "Another server instance in same directory is already running"
_OTHER_ENGINE = "EmbeddedServer already initialized with path"
_DATABASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def translate_error(exc: BaseException, what: str) -> AuthorityError | None:
    """The product error for a clickhouse-connect / chDB exception (``None``: not one of theirs,
    e.g. a bug in our code, which must propagate as it is)."""
    if isinstance(exc, AuthorityError):
        return exc
    classified = classify_error(exc)
    if classified is None:
        return None
    kind, detail = classified
    return kind(f"{what}: {detail}")


def classify_error(exc: BaseException) -> tuple[type[AuthorityError], str] | None:
    """``translate_error`` without the caller's context: the product error class and what to
    say after the context (``None``: not a clickhouse-connect / chDB exception)."""
    from clickhouse_connect.driver import exceptions as ch  # noqa: PLC0415 - heavy import

    if isinstance(exc, RemoteClickHouseError):
        return exc.kind, exc.detail
    message = str(exc)
    if _DIRECTORY_LOCKED in message:
        return Unavailable, _in_use(None)
    if _OTHER_ENGINE in message:
        return FailedPrecondition, (
            "this process already has the embedded ClickHouse open on another "
            "directory (chDB runs one per process)"
        )
    if isinstance(exc, ch.OperationalError | OSError | TimeoutError):
        return Unavailable, f"ClickHouse is unreachable ({type(exc).__name__})"
    if isinstance(exc, ch.Error):
        code, name = exc.code, exc.name or (f"code {exc.code}" if exc.code else "")
        if code in BAD_QUERY_CODES:
            return InvalidArgument, f"ClickHouse refused the query: {message[:300]}"
        if code in MISSING_SCHEMA_CODES:
            return FailedPrecondition, (
                f"the access-log schema is missing ({name}); run the migrations"
            )
        return Unavailable, f"ClickHouse failed ({name or type(exc).__name__})"
    if isinstance(exc, ch.ClickHouseError | RuntimeError):  # chDB raises RuntimeError itself
        return Unavailable, f"ClickHouse failed ({type(exc).__name__})"
    return None


def _in_use(path: Path | None) -> str:
    where = f" {path}" if path else ""
    return (
        f"the embedded ClickHouse directory{where} is in use by another process (a running "
        "`authority serve`?); stop it, or point CLICKHOUSE_URL at a ClickHouse server"
    )


def _held_by_another_process(path: Path) -> bool:
    """Whether a ClickHouse process holds ``path`` (it keeps an exclusive flock on ``status``)."""
    try:
        fd = os.open(path / "status", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


@contextlib.contextmanager
def clickhouse_errors(what: str) -> Iterator[None]:
    """Translate clickhouse-connect / chDB exceptions raised inside into the product's errors."""
    try:
        yield
    except AuthorityError:
        raise
    except Exception as exc:
        translated = translate_error(exc, what)
        if translated is None:
            raise
        raise translated from exc


def open_clickhouse(
    *, url: str | None, path: Path, database: str | None = None, read_only: bool = False
) -> Client:
    """A client for ``url`` (``http(s)://user:password@host:8123/database``) or, without one,
    for chDB on ``path`` (created, mode 0700). ``database``: use (and on chDB create) this
    database instead of the URL's or the default one. ``read_only`` (chDB only): the client's
    session refuses writes, DDL and changing ``readonly`` (ClickHouse ``readonly=2``; other
    settings may still be given per query)."""
    import clickhouse_connect  # noqa: PLC0415 - heavy import, only where the log is used

    if database is not None and not _DATABASE_NAME.fullmatch(database):
        raise InvalidArgument("a ClickHouse database name is letters, digits and '_'")
    with clickhouse_errors("connecting to ClickHouse"):
        if url:
            if not url.startswith(("http://", "https://")):
                raise InvalidArgument("CLICKHOUSE_URL must start with http:// or https://")
            return clickhouse_connect.get_client(
                dsn=url,
                database=database,
                # One client is shared by threads: no HTTP session, whose queries would have to
                # be serialised by the server.
                autogenerate_session_id=False,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                send_receive_timeout=SEND_RECEIVE_TIMEOUT_SECONDS,
            )
        if read_only and database is not None:
            raise InvalidArgument("a read-only chDB client cannot create its database")
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            # A session setting, never a per-query one: chDB applies a write's per-query
            # settings with SET and cannot undo readonly, so a refused write would leave the
            # client (and whoever shares it) read-only.
            client = clickhouse_connect.get_client(
                dsn=f"chdb://{path.resolve()}", settings={"readonly": 2} if read_only else None
            )
        except Exception as exc:
            # chDB's message for this case varies; the lock on its status file does not.
            if _held_by_another_process(path):
                raise Unavailable(_in_use(path)) from exc
            raise
        if database is not None:
            try:
                client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
                client.database = database
            except BaseException:
                client.close()
                raise
        return client


def run_command(
    client: Client,
    sql: str,
    *,
    what: str,
    parameters: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> None:
    with clickhouse_errors(what):
        client.command(
            sql,
            parameters=dict(parameters) if parameters else None,
            settings=dict(settings) if settings else None,
        )


def query_rows(
    client: LogClient,
    sql: str,
    *,
    what: str,
    parameters: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> list[Sequence[Any]]:
    with clickhouse_errors(what):
        result = client.query(
            sql,
            parameters=dict(parameters) if parameters else None,
            settings=dict(settings) if settings else None,
        )
        return list(result.result_rows)


def stream_rows(
    client: LogClient,
    sql: str,
    *,
    what: str,
    parameters: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Generator[Sequence[Any], None, None]:
    """Rows of a query, read block by block (memory stays bounded whatever the result size).
    The stream is closed when the iterator is exhausted or closed. While it is open, the same
    chDB client cannot run another query."""
    with (
        clickhouse_errors(what),
        client.query_row_block_stream(
            sql,
            parameters=dict(parameters) if parameters else None,
            settings=dict(settings) if settings else None,
        ) as blocks,
    ):
        for block in blocks:
            yield from block
