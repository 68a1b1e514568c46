"""``authority logs …`` and ``authority owner-requests …``: the access log's read side from a
terminal.

The server and the credential are found as by the other client commands: ``--target`` or
``<data-dir>/server.json``; ``--credential``, ``AUTHORITY_CREDENTIAL`` or the local admin
credential file. ``logs query`` follows cursors until ``--limit`` events are printed; output is a
table on a terminal, or ``--format json`` (one object per line) / ``--format csv`` for scripts,
with a progress counter on stderr while pages arrive.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message

from authority.cli.iso_time import parse_iso_time
from authority.cli.output import EXIT_OK, count_on_stderr, new_table, show, show_message
from authority.cli.rpc import AccessLogCommand, access_log_client, calling
from authority.client.accesslog import AGGREGATES, KINDS, AccessLogClient, EventQuery
from authority.client.authority import add_connection_arguments
from authority.domain.errors import InvalidArgument
from authority.domain.owner_requests import format_dkk
from authority.v1 import accesslog_pb2 as lpb

EVENT_COLUMNS = (
    "time", "kind", "action", "outcome", "reason", "organisation_id", "site_id", "door_id",
    "key_holder_id", "actor_role", "actor_id", "event_id",
)  # fmt: skip
TABLE_COLUMNS = EVENT_COLUMNS[:9]
STATUS = {
    lpb.OWNER_LOG_REQUEST_STATUS_FILED: "filed",
    lpb.OWNER_LOG_REQUEST_STATUS_DELIVERED: "delivered",
    lpb.OWNER_LOG_REQUEST_STATUS_REFUSED: "refused",
}
KIND_NAMES = {v: k for k, v in KINDS.items()}


def _time(text: str) -> datetime:
    return parse_iso_time(
        text,
        error=f"{text!r} is not an ISO 8601 time, e.g. 2027-03-01 or 2027-03-01T06:00:00+01:00",
    )


# -- rendering -------------------------------------------------------------------------------


def _iso_ms(ts: Any) -> str:
    return str(ts.ToDatetime(tzinfo=UTC).isoformat(timespec="milliseconds"))


def event_row(e: lpb.AccessEvent) -> dict[str, str]:
    return {
        "time": _iso_ms(e.time),
        "kind": KIND_NAMES.get(e.kind, ""),
        "action": e.action,
        "outcome": e.outcome,
        "reason": e.reason,
        "organisation_id": e.organisation_id,
        "site_id": e.site_id,
        "door_id": e.door_id,
        "key_holder_id": e.key_holder_id,
        "actor_role": e.actor_role,
        "actor_id": e.actor_id,
        "event_id": e.event_id,
    }


def _emit(
    rows: Iterable[dict[str, Any]],
    *,
    fmt: str,
    columns: tuple[str, ...],
    title: str,
    table_columns: tuple[str, ...] | None = None,
) -> int:
    """Print rows as a table, JSON lines or CSV; return how many."""
    n = 0
    if fmt == "json":
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
        return n
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            n += 1
        return n
    shown = table_columns or columns
    table = new_table(title, shown, overflow=True)
    for row in rows:
        table.add_row(*(str(row.get(c, "")) for c in shown))
        n += 1
    show(table)
    return n


def request_row(r: lpb.OwnerLogRequest) -> dict[str, Any]:
    return {
        "request_id": r.request_id,
        "owner_id": r.owner_id,
        "site_id": r.site_id,
        "from": _iso_ms(r.from_time),
        "to": _iso_ms(r.to_time),
        "status": STATUS.get(r.status, ""),
        "year": r.year,
        "sequence_in_year": r.sequence_in_year,
        "fee_dkk_incl_vat": format_dkk(r.fee_total_ore),
        "paid": r.HasField("paid_at") or r.fee_total_ore == 0,
        "suspected_crime": r.suspected_crime,
        "purpose": r.purpose,
    }


REQUEST_COLUMNS = (
    "request_id", "owner_id", "site_id", "from", "to", "status", "year", "sequence_in_year",
    "fee_dkk_incl_vat", "paid", "suspected_crime", "purpose",
)  # fmt: skip


# -- logs ------------------------------------------------------------------------------------


def _query_of(ns: argparse.Namespace) -> EventQuery:
    return EventQuery(
        start=_time(ns.from_time),
        end=_time(ns.to_time),
        organisation_id=ns.organisation or "",
        site_id=ns.site or "",
        door_id=ns.door or "",
        key_holder_id=ns.holder or "",
        kind=ns.kind or "",
        outcome=ns.outcome or "",
        reason=ns.reason or "",
    )


def _logs_query(c: AccessLogClient, ns: argparse.Namespace) -> int:
    if ns.limit < 1:
        raise InvalidArgument("--limit must be at least 1")
    events = c.iter_events(_query_of(ns), page_size=ns.page_size, max_events=ns.limit)
    rows = count_on_stderr((event_row(e) for e in events), "reading the access log")
    n = _emit(
        rows, fmt=ns.format, columns=EVENT_COLUMNS, title="access log",
        table_columns=TABLE_COLUMNS,
    )  # fmt: skip
    if n == ns.limit and ns.format == "table":
        show(f"[yellow]stopped at --limit {ns.limit}; raise it for more[/]", stderr=True)
    return EXIT_OK


def _logs_aggregate(c: AccessLogClient, ns: argparse.Namespace) -> int:
    reply = c.aggregate(_query_of(ns), ns.by, top=ns.top, time_zone=ns.time_zone or "")
    if ns.by == "organisation-day":
        columns: tuple[str, ...] = ("day", "organisation_id", "events", "allowed", "denied")
        rows = [
            {"day": r.day, "organisation_id": r.organisation_id, "events": r.events,
             "allowed": r.allowed, "denied": r.denied}
            for r in reply.organisation_days
        ]  # fmt: skip
    elif ns.by == "busiest-doors":
        columns = ("site_id", "door_id", "events")
        rows = [
            {"site_id": r.site_id, "door_id": r.door_id, "events": r.events} for r in reply.doors
        ]
    else:
        columns = ("reason", "events")
        rows = [{"reason": r.reason, "events": r.events} for r in reply.reasons]
    _emit(rows, fmt=ns.format, columns=columns, title=ns.by)
    return EXIT_OK


def _logs_site_organisations(c: AccessLogClient, ns: argparse.Namespace) -> int:
    reply = c.site_organisations(ns.site_id)
    rows = [
        {"organisation_id": o.organisation_id, "name": o.name, "purpose": o.purpose,
         "status": o.status, "blocked": o.blocked_by_site_owner, "grants": o.grants,
         "key_holders": o.key_holders, "whole_site": o.whole_site,
         "doors": " ".join(o.door_ids), "valid_until": _iso_ms(o.valid_until)}
        for o in reply.organisations
    ]  # fmt: skip
    columns = tuple(rows[0]) if rows else ("organisation_id", "name")
    _emit(rows, fmt=ns.format, columns=columns, title=f"organisations with keys to {ns.site_id}")
    return EXIT_OK


# -- owner requests --------------------------------------------------------------------------


def _requests_file(c: AccessLogClient, ns: argparse.Namespace) -> int:
    r = c.file_request(
        site_id=ns.site,
        start=_time(ns.from_time),
        end=_time(ns.to_time),
        purpose=ns.purpose,
        suspected_crime=ns.suspected_crime,
    )
    _emit([request_row(r)], fmt=ns.format, columns=REQUEST_COLUMNS, title="request filed")
    if r.fee_total_ore and ns.format == "table":
        show(
            f"[yellow]request {r.sequence_in_year} of {r.year}: a fee of "
            f"{format_dkk(r.fee_total_ore)} DKK incl. VAT is payable before delivery[/]",
            stderr=True,
        )
    return EXIT_OK


def _requests_list(c: AccessLogClient, ns: argparse.Namespace) -> int:
    found = c.list_requests(owner_id=ns.owner or "", year=ns.year or 0)
    _emit(
        [request_row(r) for r in found], fmt=ns.format, columns=REQUEST_COLUMNS,
        title="owner log requests",
    )  # fmt: skip
    return EXIT_OK


def _requests_get(c: AccessLogClient, ns: argparse.Namespace) -> int:
    _show_message(ns, c.get_request(ns.request_id), "owner log request")
    return EXIT_OK


def _requests_pay(c: AccessLogClient, ns: argparse.Namespace) -> int:
    _show_message(ns, c.record_payment(ns.request_id), "payment recorded")
    return EXIT_OK


def _requests_refuse(c: AccessLogClient, ns: argparse.Namespace) -> int:
    _show_message(ns, c.refuse_request(ns.request_id, ns.reason), "request refused")
    return EXIT_OK


def _requests_deliver(c: AccessLogClient, ns: argparse.Namespace) -> int:
    request, entries = c.deliver_request(ns.request_id)
    rows = [
        {"time": _iso_ms(e.time), "door_id": e.door_id, "organisation_id": e.organisation_id,
         "organisation": e.organisation_name}
        for e in entries
    ]  # fmt: skip
    _emit(
        rows, fmt=ns.format, columns=("time", "door_id", "organisation_id", "organisation"),
        title=f"request {request.request_id}: who entered {request.site_id}",
    )  # fmt: skip
    return EXIT_OK


# -- the parser ------------------------------------------------------------------------------


def _show_message(ns: argparse.Namespace, message: Message, title: str) -> None:
    """One reply: a field table, or with ``--format json`` one JSON line."""
    json_line = ns.format == "json"
    show_message(message, title, as_json=json_line, indent=None, ensure_ascii=False)


def _command(parent: Any, name: str, help_: str, fn: AccessLogCommand) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = parent.add_parser(name, help=help_, description=help_)
    add_connection_arguments(p)
    p.add_argument(
        "--format",
        choices=["table", "json", "csv"],
        default="table",
        help="table (terminal), json (one object per line) or csv",
    )
    p.set_defaults(func=calling(access_log_client, fn, errors_to_stderr=True))
    return p


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="from_time", required=True, help="start (ISO 8601, inclusive)")
    p.add_argument("--to", dest="to_time", required=True, help="end (ISO 8601, exclusive)")
    p.add_argument("--organisation", help="organisation id")
    p.add_argument("--site", help="site id")
    p.add_argument("--door", help="door id")
    p.add_argument("--holder", help="key holder pseudonym (kh_…)")
    p.add_argument("--kind", choices=sorted(KINDS))
    p.add_argument("--outcome", help="allow, deny, opened, rejected, ok, refused")
    p.add_argument("--reason", help="e.g. no_grant, outside_schedule")


def _logs_commands(parent: argparse.ArgumentParser) -> None:
    logs_sub = parent.add_subparsers(dest="logs", required=True)

    p = _command(logs_sub, "query", "events matching a filter (follows cursors)", _logs_query)
    _filters(p)
    p.add_argument("--limit", type=int, default=1000, help="print at most this many (1000)")
    p.add_argument("--page-size", type=int, default=1000, help="events per call (max 10000)")

    p = _command(logs_sub, "aggregate", "counts over the events matching a filter", _logs_aggregate)
    _filters(p)
    p.add_argument("--by", choices=sorted(AGGREGATES), required=True)
    p.add_argument("--top", type=int, default=0, help="busiest-doors: how many (10)")
    p.add_argument("--time-zone", help="organisation-day: whose days (Europe/Copenhagen)")

    p = _command(
        logs_sub, "site-organisations", "organisations with keys to a site now",
        _logs_site_organisations,
    )  # fmt: skip
    p.add_argument("site_id")


def _owner_requests_commands(parent: argparse.ArgumentParser) -> None:
    req_sub = parent.add_subparsers(dest="owner_requests", required=True)
    p = _command(
        req_sub, "file", "file a request for one stairwell, at most one week (site owner)",
        _requests_file,
    )  # fmt: skip
    p.add_argument("--site", required=True, help="the stairwell (site id)")
    p.add_argument("--from", dest="from_time", required=True, help="start (ISO 8601)")
    p.add_argument("--to", dest="to_time", required=True, help="end (ISO 8601), ≤ 7 days later")
    p.add_argument("--purpose", required=True, help="why the log is needed")
    p.add_argument(
        "--suspected-crime", action="store_true", help="a criminal act by a user is suspected"
    )
    p = _command(req_sub, "list", "list requests (newest first)", _requests_list)
    p.add_argument("--owner", help="admin: whose requests (default: every open request)")
    p.add_argument("--year", type=int, help="only this calendar year")
    p = _command(req_sub, "get", "show one request", _requests_get)
    p.add_argument("request_id")
    p = _command(req_sub, "pay", "record that a request's fee was paid (admin)", _requests_pay)
    p.add_argument("request_id")
    p = _command(req_sub, "refuse", "refuse a request (admin)", _requests_refuse)
    p.add_argument("request_id")
    p.add_argument("--reason", required=True, help="why; shown to the owner")
    p = _command(
        req_sub, "deliver", "produce the extract and mark the request delivered (admin)",
        _requests_deliver,
    )  # fmt: skip
    p.add_argument("request_id")


COMMANDS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "logs": _logs_commands,
    "owner-requests": _owner_requests_commands,
}
"""Each command's options and handler, on the parser ``authority.cli.main`` made for it."""
