"""``authority grants …``: fleet operations from CSV files (import, replace, export, revoke).

The roster CSV has a header row; columns (others are ignored, so an export can be re-imported):

=================  ========================================================================
idempotency_key    optional; default: derived from the row's content (a re-run of the same
                   file creates nothing twice)
key_holder_id      the holder's pseudonym (``kh_…``)
door_id / site_id  exactly one
valid_from         optional, ISO 8601 (default: now)
valid_until        ISO 8601
windows            optional, ``;``-separated, e.g. ``Mon-Fri 06:00-09:00;Sat 07:00-09:00``
organisation_cvr   optional guard: the issuing organisation's CVR number
=================  ========================================================================

Rows are read one physical line at a time (no multi-line quoted fields), so a row that is not
UTF-8, or has a field longer than ``MAX_FIELD`` characters, is rejected with its row number
before anything is sent, and never reaches the gRPC message limit. Row numbers count lines from
1 (the header is row 1).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import grpc
from rich.table import Table

from authority.cli.iso_time import parse_iso_time
from authority.cli.output import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    message_dict,
    new_table,
    print_json,
    progress_bar,
    show,
    show_message,
)
from authority.cli.rpc import add_authority_command
from authority.client.authority import AuthorityClient, chunk_items, grant_item
from authority.domain.errors import InvalidArgument
from authority.domain.schedule import WeeklyWindow, parse_window
from authority.v1 import authority_pb2 as pb

MAX_FIELD = 256
MAX_LINE = 16 * MAX_FIELD
RESULT_COLUMNS = ("row", "idempotency_key", "status", "grant_id", "code", "rule", "reason")
EXPORT_COLUMNS = (
    "key_holder_id",
    "door_id",
    "site_id",
    "valid_from",
    "valid_until",
    "windows",
    "grant_id",
    "organisation_id",
    "revoked_at",
)


@dataclass
class RosterRow:
    row: int
    item: pb.GrantItem | None = None
    error: str = ""


@dataclass
class ImportSummary:
    rows: int = 0
    created: int = 0
    already_created: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


def _time(text: str, column: str) -> datetime:
    return parse_iso_time(text, error=f"{column} {text[:40]!r} is not an ISO 8601 time")


def _windows(text: str) -> list[WeeklyWindow]:
    return [parse_window(part) for part in text.split(";") if part.strip()]


def read_roster(stream: IO[bytes]) -> Iterator[RosterRow]:
    """Parse a roster CSV one line at a time; a bad row is yielded with its error."""
    header: list[str] | None = None
    for number, raw in enumerate(stream, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            if header is None:
                raise InvalidArgument(f"row 1 (the header) is not UTF-8: {exc}") from exc
            yield RosterRow(number, error=f"row {number} is not UTF-8 text (byte {exc.start})")
            continue
        if not line.strip():
            continue
        if header is not None and len(line) > MAX_LINE:
            yield RosterRow(
                number,
                error=f"row {number} is {len(line)} characters long: fields are at most "
                f"{MAX_FIELD} characters",
            )
            continue
        try:
            fields = next(csv.reader([line]))
        except csv.Error as exc:
            yield RosterRow(number, error=f"row {number} is not valid CSV: {exc}")
            continue
        if header is None:
            header = [f.strip().lower() for f in fields]
            if "key_holder_id" not in header or "valid_until" not in header:
                raise InvalidArgument(
                    "the CSV header must name key_holder_id, valid_until and door_id or site_id"
                )
            continue
        long = next((i for i, f in enumerate(fields) if len(f) > MAX_FIELD), None)
        if long is not None:
            name = header[long] if long < len(header) else f"column {long + 1}"
            yield RosterRow(
                number,
                error=f"{name} is {len(fields[long])} characters; fields are at most {MAX_FIELD}",
            )
            continue
        values = dict(zip(header, (f.strip() for f in fields), strict=False))
        try:
            key = (
                values.get("idempotency_key")
                or "row:" + hashlib.sha256("\x1f".join(fields).encode()).hexdigest()[:32]
            )
            item = grant_item(
                idempotency_key=key,
                key_holder_id=values.get("key_holder_id", ""),
                door_id=values.get("door_id", ""),
                site_id=values.get("site_id", ""),
                valid_from=_time(values["valid_from"], "valid_from")
                if values.get("valid_from")
                else None,
                valid_until=_time(values.get("valid_until", ""), "valid_until"),
                windows=_windows(values.get("windows", "")),
                organisation_cvr=values.get("organisation_cvr", ""),
                row=number,
            )
        except InvalidArgument as exc:
            yield RosterRow(number, error=str(exc))
            continue
        yield RosterRow(number, item=item)


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))


def grants_import(c: AuthorityClient, ns: argparse.Namespace) -> int:
    path: Path = ns.file
    results_path: Path = ns.results or path.with_name(path.stem + ".results.csv")
    total = max(_count_lines(path) - 1, 0)
    summary = ImportSummary()
    started = time.monotonic()
    lock = threading.Lock()
    local_rejects: list[RosterRow] = []

    def items(stream: IO[bytes]) -> Iterator[pb.GrantItem]:
        # Runs on gRPC's sending thread: rows are read as the stream needs them.
        for parsed in read_roster(stream):
            if parsed.item is not None:
                yield parsed.item
            else:
                with lock:
                    local_rejects.append(parsed)

    with (
        path.open("rb") as stream,
        results_path.open("w", newline="") as out,
        progress_bar() as bar,
    ):
        writer = csv.writer(out)
        writer.writerow(RESULT_COLUMNS)
        task = bar.add_task(f"import {path.name}", total=total, rate=0.0)

        def flush_local() -> None:
            with lock:
                pending, local_rejects[:] = list(local_rejects), []
            for r in pending:
                writer.writerow((r.row, "", "rejected", "", "INVALID_ARGUMENT", "", r.error))
                summary.rejected += 1
                summary.rows += 1
                summary.reasons["INVALID_ARGUMENT (in the file)"] += 1

        requests = chunk_items(
            items(stream), organisation_id=ns.organisation or "", max_items=ns.chunk
        )
        for response in c.issue_grants(requests):
            flush_local()
            for r in response.results:
                status = pb.GrantItemStatus.Name(r.status).removeprefix("GRANT_ITEM_STATUS_")
                writer.writerow(
                    (r.row, r.idempotency_key, status.lower(), r.grant_id, r.code, r.rule, r.reason)
                )
                summary.rows += 1
                if r.status == pb.GRANT_ITEM_STATUS_CREATED:
                    summary.created += 1
                elif r.status == pb.GRANT_ITEM_STATUS_ALREADY_CREATED:
                    summary.already_created += 1
                else:
                    summary.rejected += 1
                    summary.reasons[f"{r.code} {r.rule}".strip()] += 1
            elapsed = max(time.monotonic() - started, 1e-6)
            bar.update(task, completed=summary.rows, rate=summary.rows / elapsed)
        flush_local()
        bar.update(task, completed=summary.rows)
    elapsed = time.monotonic() - started
    _print_summary(ns, summary, elapsed, results_path)
    return EXIT_OK if summary.rejected == 0 else EXIT_REFUSED


def _print_summary(
    ns: argparse.Namespace, summary: ImportSummary, elapsed: float, results: Path
) -> None:
    facts = {
        "rows": summary.rows,
        "created": summary.created,
        "already_created": summary.already_created,
        "rejected": summary.rejected,
        "seconds": round(elapsed, 2),
        "rows_per_second": round(summary.rows / elapsed) if elapsed > 0 else 0,
        "results_file": str(results),
        "rejections_by_reason": dict(summary.reasons.most_common()),
    }
    if ns.json:
        print_json(facts)
        return
    table = Table(title="import summary")
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    for key in ("rows", "created", "already_created", "rejected", "seconds", "rows_per_second"):
        table.add_row(key.replace("_", " "), str(facts[key]))
    show(table)
    if summary.reasons:
        reasons = Table(title="rejections (details per row in the results file)")
        reasons.add_column("code / rule")
        reasons.add_column("rows", justify="right")
        for reason, n in summary.reasons.most_common(10):
            reasons.add_row(reason, str(n))
        show(reasons)
    show(f"per-row results: {results}")


def grants_replace(c: AuthorityClient, ns: argparse.Namespace) -> int:
    """Roster change: the file is the full set for each holder in it (one atomic call each)."""
    by_holder: dict[str, list[pb.GrantItem]] = {}
    bad: list[RosterRow] = []
    with ns.file.open("rb") as stream:
        for parsed in read_roster(stream):
            if parsed.item is None:
                bad.append(parsed)
            else:
                by_holder.setdefault(parsed.item.key_holder_id, []).append(parsed.item)
    if bad:
        for r in bad[:20]:
            show(f"[red]row {r.row}[/]: {r.error}")
        show("[red]nothing changed:[/] fix the rows above (a roster is all or nothing)")
        return EXIT_USAGE
    totals = Counter[str]()
    failures: list[str] = []
    with progress_bar() as bar:
        task = bar.add_task(f"replace {ns.file.name}", total=len(by_holder), rate=0.0)
        started = time.monotonic()
        for done, (holder, grants) in enumerate(sorted(by_holder.items()), start=1):
            try:
                resp = c.replace_holder_grants(holder, grants, ns.organisation or "")
            except grpc.RpcError as exc:  # one holder's refusal is reported, the rest proceed
                failures.append(f"{holder}: {exc.code().name}: {exc.details()}")
            else:
                totals["created"] += len(resp.created)
                totals["kept"] += len(resp.kept_grant_ids)
                totals["revoked"] += len(resp.revoked)
            elapsed = max(time.monotonic() - started, 1e-6)
            bar.update(task, completed=done, rate=done / elapsed)
    facts = {"holders": len(by_holder), **totals, "failed_holders": len(failures)}
    if ns.json:
        print_json(facts)
    else:
        show(facts)  # rich pretty-prints a dict
    for f in failures[:20]:
        show(f"[red]{f}[/]")
    return EXIT_OK if not failures else EXIT_REFUSED


def grants_export(c: AuthorityClient, ns: argparse.Namespace) -> int:
    out: IO[str]
    out = ns.output.open("w", newline="") if ns.output else open(os.dup(1), "w", newline="")  # noqa: SIM115
    count = 0
    with out:
        writer = csv.writer(out)
        writer.writerow(EXPORT_COLUMNS)
        for g in c.export_grants(ns.organisation or "", include_inactive=ns.all):
            writer.writerow(_export_row(g))
            count += 1
    if ns.output:
        show(f"{count} grants written to {ns.output}")
    return EXIT_OK


def _export_row(g: pb.Grant) -> tuple[str, ...]:
    def iso(ts: Any) -> str:
        return ts.ToDatetime(tzinfo=UTC).isoformat() if ts.seconds else ""

    windows = ";".join(
        WeeklyWindow(frozenset(int(d) for d in w.days), w.start_minute, w.end_minute).describe()
        for w in g.windows
    )
    return (
        g.key_holder_id,
        g.door_id,
        g.site_id,
        iso(g.valid_from),
        iso(g.valid_until),
        windows,
        g.grant_id,
        g.organisation_id,
        iso(g.revoked_at) if g.HasField("revoked_at") else "",
    )


def grants_revoke(c: AuthorityClient, ns: argparse.Namespace) -> int:
    if ns.lost_phone:
        holder = c.set_key_holder_status(ns.lost_phone, pb.KEY_HOLDER_STATUS_SUSPENDED)
        show_message(holder, "phone lost: key holder suspended, every key stopped", as_json=ns.json)
        return EXIT_OK
    resp = c.revoke_grants(
        key_holder_id=ns.holder or "",
        organisation_id=ns.organisation or "",
        site_id=ns.site or "",
        door_id=ns.door or "",
    )
    show_message(resp, "grants revoked", as_json=ns.json)
    return EXIT_OK


def policy_show(c: AuthorityClient, ns: argparse.Namespace) -> int:
    policy = c.access_policy()
    if ns.json:
        print_json(message_dict(policy))
        return EXIT_OK
    table = new_table(
        f"access policy in force ({policy.source})",
        ("purpose", "longest validity", "targets", "windows (site local time)"),
    )
    for rule in policy.rules:
        allowed = (("site", rule.site_grants_allowed), ("door", rule.door_grants_allowed))
        targets = [name for name, ok in allowed if ok]
        windows = ", ".join(
            WeeklyWindow(frozenset(int(d) for d in w.days), w.start_minute, w.end_minute).describe()
            for w in rule.windows
        )
        table.add_row(
            pb.Purpose.Name(rule.purpose).removeprefix("PURPOSE_").lower(),
            f"{rule.max_validity_days} days",
            ", ".join(targets),
            windows or "any time",
        )
    show(table)
    return EXIT_OK


def _grants_commands(parent: argparse.ArgumentParser) -> None:
    grants = parent.add_subparsers(dest="grants", required=True)
    p = add_authority_command(
        grants,
        "import",
        "stream a roster CSV of any size (exit 0: all created, 3: some rows rejected)",
        grants_import,
    )
    p.add_argument("file", type=Path, help="roster CSV (see `authority grants import --help`)")
    p.add_argument("--results", type=Path, help="per-row results CSV (default <file>.results.csv)")
    p.add_argument("--organisation", help="issuing organisation (admins; default: the caller)")
    p.add_argument("--chunk", type=int, default=1000, help="items per stream message")
    p = add_authority_command(
        grants,
        "replace",
        "roster change: the file is each listed holder's full set of grants (atomic per holder)",
        grants_replace,
    )
    p.add_argument("file", type=Path)
    p.add_argument("--organisation")
    p = add_authority_command(
        grants, "export", "write the organisation's grants as CSV", grants_export
    )
    p.add_argument("--organisation")
    p.add_argument("--output", type=Path, help="file (default: standard output)")
    p.add_argument("--all", action="store_true", help="include revoked and ended grants")
    p = add_authority_command(
        grants, "revoke", "revoke grants in bulk, or cut off a lost phone", grants_revoke
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--holder", help="every grant of this key holder")
    which.add_argument("--organisation", help="every grant of this organisation")
    which.add_argument("--site", help="every grant for this site and its doors")
    which.add_argument("--door", help="every grant for this door")
    which.add_argument(
        "--lost-phone", metavar="HOLDER", help="suspend the holder: every key stops at once"
    )


def _policy_commands(parent: argparse.ArgumentParser) -> None:
    policy = parent.add_subparsers(dest="policy", required=True)
    add_authority_command(policy, "show", "show the access policy in force", policy_show)


COMMANDS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "grants": _grants_commands,
    "policy": _policy_commands,
}
"""Each command's options and handler, on the parser ``authority.cli.main`` made for it."""
