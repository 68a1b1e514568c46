"""Access-log reads over a local unix socket, for processes that cannot open the embedded chDB.

chDB admits one process per directory: the one that ships (``ship_events`` on / only). With
``log_socket`` set, that process also serves ``authority.internal.v1.LogReaderService`` on the
socket (``LogReadListener``), and a process with shipping off gives its log readers a
``SocketLogClient`` instead of a refusal. ``SocketLogClient`` is the ``LogClient`` part of
clickhouse-connect's client, so ``ClickHouseEventLog``, ``ClickHouseHolderHistory``, owner log
requests and the privacy export run their own SQL, unchanged, through ``query_rows`` on either.

The serving side runs each statement on a client of its own, opened read-only (``readonly=2``
on its session: no writes, no DDL, ``readonly`` fixed), after ``require_read_only`` has refused
anything but one SELECT / WITH statement (chDB's readonly still lets ``INTO OUTFILE`` and
``INSERT INTO FUNCTION file(...)`` write files). ClickHouse errors are classified there
(``classify_error``) and come back as a status code and a detail; the client raises them as a
``RemoteClickHouseError``, which ``query_rows`` translates with the reader's own context, so the
caller gets the same error, word for word, as from a direct client. A log process that does not
answer is ``Unavailable``, saying which socket.

Values travel as CBOR. cbor2 carries int, float, str, bytes, None, lists, maps, UUID, Decimal,
date, timezone-aware datetimes and IP addresses as standard tags; two private tags keep what it
cannot tell apart: naive datetimes (chDB returns ``DateTime64(3, 'UTC')`` columns naive) and
tuples (ClickHouse ``Tuple`` values; a row itself is a tuple on both sides).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import secrets
import stat
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import cbor2
import grpc

from authority.adapters.clickhouse.connect import (
    SEND_RECEIVE_TIMEOUT_SECONDS,
    LogClient,
    RemoteClickHouseError,
    classify_error,
)
from authority.api.errors import STATUS_CODES, status_for
from authority.domain.errors import (
    AuthorityError,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    Unavailable,
)
from authority.internal.v1 import log_reader_pb2 as lrpb
from authority.internal.v1 import log_reader_pb2_grpc as lrpb_grpc

log = logging.getLogger("authority.log_reader")

BLOCK_ROWS = 1000
"""Rows per streamed block (a page of events is at most 10,000 rows of ~300 bytes)."""
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""Largest block either side accepts: a local socket, and a block is at most BLOCK_ROWS rows."""
SERVED_MARK = ("authority-log-reader", "1")
"""Trailing metadata of an error the log process answered (not the transport's own)."""
_TAG_NAIVE_DATETIME = 1_768_843_264  # private CBOR tags, meaningful between our processes only
_TAG_TUPLE = 1_768_843_265
_AS_IS = frozenset({str, int, float, bool, bytes, type(None), UUID, date, Decimal})
_KIND_OF_CODE = {
    code: kind for kind, code in reversed(STATUS_CODES) if issubclass(kind, AuthorityError)
}
"""Status code -> the product error it stands for (first row of the one table per code; token
errors are never an answer of the log reader)."""


# -- the values on the wire --------------------------------------------------------------------


def _wire(value: Any) -> Any:
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is list:
        return [_wire(v) for v in value]
    if kind is tuple:
        return cbor2.CBORTag(_TAG_TUPLE, [_wire(v) for v in value])
    if kind is dict:
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, datetime) and value.tzinfo is None:
        return cbor2.CBORTag(_TAG_NAIVE_DATETIME, value.isoformat())
    return value


def _tag_hook(_decoder: Any, tag: cbor2.CBORTag) -> Any:
    if tag.tag == _TAG_TUPLE:
        return tuple(tag.value)
    if tag.tag == _TAG_NAIVE_DATETIME:
        return datetime.fromisoformat(tag.value)
    return tag


def encode_map(values: Mapping[str, Any] | None) -> bytes:
    return cbor2.dumps({k: _wire(v) for k, v in values.items()}) if values else b""


def decode_map(data: bytes, what: str) -> dict[str, Any]:
    if not data:
        return {}
    try:
        values = cbor2.loads(data, tag_hook=_tag_hook)
    except (cbor2.CBORDecodeError, ValueError) as exc:
        raise InvalidArgument(f"log read: {what} are not CBOR") from exc
    if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
        raise InvalidArgument(f"log read: {what} must be a CBOR map with text keys")
    return values


def encode_blocks(rows: Sequence[Sequence[Any]]) -> list[bytes]:
    return [
        cbor2.dumps([[_wire(v) for v in row] for row in rows[i : i + BLOCK_ROWS]])
        for i in range(0, len(rows), BLOCK_ROWS)
    ]


def decode_block(data: bytes) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in cbor2.loads(data, tag_hook=_tag_hook)]


# -- what the socket runs ----------------------------------------------------------------------

_NOT_CODE = re.compile(
    r"--[^\n]*|#[ !][^\n]*|/\*.*?\*/|'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"|`(?:[^`\\]|\\.)*`",
    re.DOTALL,
)
"""Comments, string literals and quoted identifiers: text that is not a keyword. Whatever this
does not recognise stays in and is checked (a refusal too many, never a write let through)."""
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|;")


def require_read_only(sql: str) -> None:
    """Raise ``PermissionDenied`` unless ``sql`` is one SELECT (or WITH … SELECT) statement that
    writes nothing (``INTO OUTFILE`` writes a file, even under ClickHouse's readonly)."""
    words = [w.upper() for w in _WORD.findall(_NOT_CODE.sub(" ", sql))]
    refused = (
        not words
        or words[0] not in ("SELECT", "WITH")
        or ";" in words[:-1]
        or any(a == "INTO" and b == "OUTFILE" for a, b in itertools.pairwise(words))
    )
    if refused:
        raise PermissionDenied(
            "the log socket runs one read-only statement (SELECT or WITH … SELECT) per call"
        )


class LogReaderServicer(lrpb_grpc.LogReaderServiceServicer):
    """``LogReaderService`` on the log process's read-only client."""

    def __init__(self, client: LogClient) -> None:
        self._client = client

    async def Query(
        self, request: lrpb.QueryRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[lrpb.RowBlock]:
        try:
            require_read_only(request.sql)
            parameters = decode_map(request.parameters, "parameters")
            settings = decode_map(request.settings, "settings")
            # chDB works in a thread (it releases the GIL); the result is read whole: a
            # streamed chDB result would hold the client, and every other read, until drained.
            blocks = await asyncio.to_thread(self._run, request.sql, parameters, settings)
        except AuthorityError as exc:
            await context.abort(status_for(exc), str(exc), trailing_metadata=(SERVED_MARK,))
        except Exception:  # a bug on this side: logged here, never its text to the caller
            error_id = secrets.token_hex(6)
            log.exception("log read failed", extra={"error_id": error_id})
            await context.abort(
                grpc.StatusCode.INTERNAL,
                f"internal error in the log process (id {error_id})",
                trailing_metadata=(SERVED_MARK,),
            )
        for block in blocks:
            yield lrpb.RowBlock(rows=block)

    def _run(self, sql: str, parameters: dict[str, Any], settings: dict[str, Any]) -> list[bytes]:
        try:
            rows = self._client.query(sql, parameters=parameters or None, settings=settings or None)
            return encode_blocks(rows.result_rows)
        except Exception as exc:
            classified = classify_error(exc)
            if classified is None:
                raise
            kind, detail = classified
            raise kind(detail) from exc


# -- the log process's listener ----------------------------------------------------------------


@dataclass
class LogReadListener:
    """``LogReaderService`` on a unix socket (mode 0600), removed when stopped."""

    server: grpc.aio.Server
    path: Path

    @classmethod
    async def start(cls, path: Path, client: LogClient) -> LogReadListener:
        _remove_stale_socket(path)
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ]
        )
        lrpb_grpc.add_LogReaderServiceServicer_to_server(LogReaderServicer(client), server)
        # No credential: the socket file's mode (0600, in the 0700 data_dir by default) admits
        # only the authority's own user, who can read the chDB directory anyway.
        server.add_insecure_port(f"unix:{path}")
        os.chmod(path, 0o600)  # bound, not yet serving
        await server.start()
        return cls(server=server, path=path)

    async def stop(self, grace: float) -> None:
        await self.server.stop(grace)
        self.path.unlink(missing_ok=True)


def _remove_stale_socket(path: Path) -> None:
    """A socket left by a process that died (only one process can hold the chDB directory, so
    no live listener is behind it); anything else at that path is refused."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise FailedPrecondition(
            f"AUTHORITY_LOG_SOCKET {path} exists and is not a socket: choose another path"
        )
    path.unlink()


# -- the reading side --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SocketRows:
    """A result read through the socket (``LogRows``)."""

    result_rows: list[tuple[Any, ...]]


class SocketLogClient:
    """A ``LogClient`` whose queries the log process runs (see the module docstring).

    Synchronous like clickhouse-connect's client (the readers call it in a worker thread); one
    gRPC channel, shared by threads. Reconnects quickly after the log process restarts."""

    def __init__(self, path: Path, *, timeout: float = SEND_RECEIVE_TIMEOUT_SECONDS) -> None:
        self._path = path
        self._timeout = timeout
        self._channel = grpc.insecure_channel(
            f"unix:{path}",
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                # A call fails at once while the log process is away (no wait for ready), and
                # the channel tries again within a second, not grpc's default of up to 2 min.
                ("grpc.initial_reconnect_backoff_ms", 100),
                ("grpc.min_reconnect_backoff_ms", 100),
                ("grpc.max_reconnect_backoff_ms", 1000),
            ],
        )
        self._stub = lrpb_grpc.LogReaderServiceStub(self._channel)

    def query(
        self,
        query: str | None = None,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> SocketRows:
        with self.query_row_block_stream(query, parameters, settings) as blocks:
            return SocketRows([row for block in blocks for row in block])

    @contextlib.contextmanager
    def query_row_block_stream(
        self,
        query: str | None = None,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Iterator[Iterable[list[tuple[Any, ...]]]]:
        request = lrpb.QueryRequest(
            sql=query or "", parameters=encode_map(parameters), settings=encode_map(settings)
        )
        call = self._stub.Query(request, timeout=self._timeout)
        try:
            yield self._blocks(call)
        finally:
            call.cancel()  # a no-op once the stream has ended

    def _blocks(self, call: Iterator[lrpb.RowBlock]) -> Iterator[list[tuple[Any, ...]]]:
        try:
            for block in call:
                yield decode_block(block.rows)
        except grpc.RpcError as exc:
            raise self._error(exc) from None
        except (cbor2.CBORDecodeError, TypeError, ValueError) as exc:
            raise RemoteClickHouseError(
                Unavailable, f"the log process at {self._path} sent an unreadable block"
            ) from exc

    def _error(self, exc: grpc.RpcError) -> RemoteClickHouseError:
        code = exc.code()
        details = exc.details() or ""
        served = any(m.key == SERVED_MARK[0] for m in exc.trailing_metadata() or ())
        kind = _KIND_OF_CODE.get(code)
        if served and kind is not None:
            return RemoteClickHouseError(kind, details)
        if code == grpc.StatusCode.UNAVAILABLE:
            return RemoteClickHouseError(
                Unavailable,
                f"the process that holds the access log does not answer on {self._path} (is "
                "the process with AUTHORITY_SHIP_EVENTS=on or only running, with the same "
                "AUTHORITY_LOG_SOCKET?)",
            )
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return RemoteClickHouseError(
                Unavailable, f"the log process did not answer within {self._timeout:g} s"
            )
        return RemoteClickHouseError(
            Unavailable, f"the log process at {self._path} failed ({code.name}): {details[:200]}"
        )

    def close(self) -> None:
        self._channel.close()
