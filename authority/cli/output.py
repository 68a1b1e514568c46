"""What every ``authority`` command prints, and how it exits: the one place for the rich console,
JSON output, tables, progress bars, error lines and exit codes.

Consoles are made when something is printed, not at import: rich reads the terminal width
(``COLUMNS``) when a console is created, and a command should fold its table to the terminal it
prints on.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

EXIT_OK = 0
EXIT_FAILED = 1
"""The server refused the call, a check found something broken, a door did not open."""
EXIT_USAGE = 2
"""A product error (bad input, a failed precondition): fix the command line or the state."""
EXIT_REFUSED = 3
"""The call worked and the answer is no: an unlock denied, roster rows rejected."""
EXIT_INTERRUPTED = 130
"""Ctrl-C, as a shell reports a process ended by SIGINT."""


def show(renderable: object, *, stderr: bool = False, highlight: bool | None = None) -> None:
    """Print rich markup, a renderable (a table) or a value (pretty-printed) on standard output,
    or on standard error."""
    Console(stderr=stderr).print(renderable, highlight=highlight)


def print_json(data: Any, *, indent: int | None = 2, ensure_ascii: bool = True) -> None:
    """Machine-readable output (``--json``): one JSON document on standard output."""
    print(json.dumps(data, indent=indent, ensure_ascii=ensure_ascii))


def add_json_option(
    p: argparse.ArgumentParser, help_: str | None = "machine-readable output"
) -> None:
    p.add_argument("--json", action="store_true", help=help_)


def message_dict(message: Message) -> dict[str, Any]:
    """A protobuf message as the JSON the API documents (proto field names)."""
    return MessageToDict(message, preserving_proto_field_name=True)


def show_message(
    message: Message, title: str, *, as_json: bool, indent: int | None = 2,
    ensure_ascii: bool = True,
) -> None:  # fmt: skip
    """A reply as JSON, or as a two-column table of its fields."""
    data = message_dict(message)
    if as_json:
        print_json(data, indent=indent, ensure_ascii=ensure_ascii)
        return
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in data.items():
        table.add_row(key, value if isinstance(value, str) else json.dumps(value))
    show(table)


def new_table(title: str, columns: tuple[str, ...] | list[str], *, overflow: bool = False) -> Table:
    """A titled table with these column headers (``overflow``: long cells fold, not cut)."""
    table = Table(title=title)
    for col in columns:
        if overflow:
            table.add_column(col, overflow="fold")
        else:
            table.add_column(col)
    return table


def progress_bar() -> Progress:
    """A bar with done/total and a rate (``rate=`` field of the task, rows per second)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8.0f} rows/s"),
        TimeElapsedColumn(),
    )


def count_on_stderr(rows: Iterator[dict[str, Any]], label: str) -> Iterator[dict[str, Any]]:
    """Count rows on standard error while they arrive (a table, or a file being written); on a
    pipe or a file, nothing is shown."""
    err = Console(stderr=True)
    if not err.is_terminal:
        yield from rows
        return
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=err, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task(label, total=None)
        for i, row in enumerate(rows, 1):
            if i % 100 == 0:
                progress.update(task, description=f"{label}: {i} events")
            yield row


def print_error(exc: BaseException) -> None:
    """A product error, on standard error, without a traceback."""
    show(f"[red]error:[/] {exc}", stderr=True)


def print_rpc_error(exc: grpc.RpcError, *, stderr: bool) -> None:
    """The server's refusal: its status code and message."""
    code = exc.code().name if hasattr(exc, "code") else "ERROR"
    detail = exc.details() if hasattr(exc, "details") else str(exc)
    show(f"[red]{code}[/]: {detail}", stderr=stderr)
