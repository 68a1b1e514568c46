"""The gRPC edge of the access log's read side (``protos/authority/v1/accesslog.proto``).

Thin like every servicer: authenticate, convert, call a use case, convert back. Protobuf
messages stop in this module's converters; errors go through the one table in
``authority.api.errors``. Streaming calls do all their fallible work (validation, tenancy, the
query, the lookup event) in one ``grpc_errors``-wrapped coroutine before the first message,
then only convert and send.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from authority.api.authenticated import AuthenticatedServicer
from authority.api.convert import optional_timestamp, timestamp
from authority.api.errors import grpc_errors
from authority.domain.accesslog import (
    AggregateKind,
    DoorCount,
    EventFilter,
    EventPage,
    OrganisationDayCount,
    ReasonCount,
)
from authority.domain.errors import FailedPrecondition, InvalidArgument
from authority.domain.events import AccessEvent, EventKind
from authority.domain.owner_requests import OwnerLogRequest, OwnerLogRequestStatus
from authority.usecases.accesslog_queries import AccessLogQueries
from authority.usecases.owner_requests import OwnerLogRequests, SiteOrganisation, StairwellEntry
from authority.v1 import accesslog_pb2 as lpb
from authority.v1 import accesslog_pb2_grpc as lpb_grpc

Context = grpc.aio.ServicerContext[Any, Any]
M = TypeVar("M", bound=Message)

CHUNK_BYTES = 128 * 1024
"""Stream messages stay well under the server's 256 KiB message limit."""

ACCESSLOG_SERVICE_NAMES = tuple(s.full_name for s in lpb.DESCRIPTOR.services_by_name.values())
"""For health and reflection next to ``server.SERVICE_NAMES``."""

KIND_TO_PB = {
    EventKind.UNLOCK: lpb.EVENT_KIND_UNLOCK,
    EventKind.RELAY: lpb.EVENT_KIND_RELAY,
    EventKind.ADMIN: lpb.EVENT_KIND_ADMIN,
    EventKind.LOOKUP: lpb.EVENT_KIND_LOOKUP,
}
KIND_FROM_PB = {v: k for k, v in KIND_TO_PB.items()}
AGGREGATE_FROM_PB = {
    lpb.AGGREGATE_KIND_ORGANISATION_DAY: AggregateKind.ORGANISATION_DAY,
    lpb.AGGREGATE_KIND_BUSIEST_DOORS: AggregateKind.BUSIEST_DOORS,
    lpb.AGGREGATE_KIND_DENIAL_REASONS: AggregateKind.DENIAL_REASONS,
}
STATUS_TO_PB = {
    OwnerLogRequestStatus.FILED: lpb.OWNER_LOG_REQUEST_STATUS_FILED,
    OwnerLogRequestStatus.DELIVERED: lpb.OWNER_LOG_REQUEST_STATUS_DELIVERED,
    OwnerLogRequestStatus.REFUSED: lpb.OWNER_LOG_REQUEST_STATUS_REFUSED,
}


# -- conversion ------------------------------------------------------------------------------


def _time(message: Message, field: str, label: str) -> datetime | None:
    try:
        return optional_timestamp(message, field)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{label} is not a valid timestamp") from exc


def filter_from_pb(f: lpb.EventFilter) -> EventFilter:
    start = _time(f, "from_time", "filter.from_time")
    end = _time(f, "to_time", "filter.to_time")
    if start is None or end is None:
        raise InvalidArgument("filter.from_time and filter.to_time are required: the period")
    kind: EventKind | None = None
    if f.kind != lpb.EVENT_KIND_UNSPECIFIED:
        if f.kind not in KIND_FROM_PB:
            raise InvalidArgument(f"filter.kind has an unknown value {f.kind}")
        kind = KIND_FROM_PB[f.kind]
    return EventFilter(
        start=start,
        end=end,
        organisation_id=f.organisation_id,
        site_id=f.site_id,
        door_id=f.door_id,
        holder_id=f.key_holder_id,
        kind=kind,
        outcome=f.outcome,
        reason=f.reason,
    )


def _ms_timestamp(ms: int) -> Timestamp:
    ts = Timestamp()
    ts.FromMilliseconds(ms)
    return ts


def event_to_pb(e: AccessEvent) -> lpb.AccessEvent:
    return lpb.AccessEvent(
        event_id=e.event_id,
        time=_ms_timestamp(e.ts_ms),
        kind=KIND_TO_PB[e.kind],
        action=e.action,
        outcome=e.outcome,
        reason=e.reason,
        actor_role=e.actor_role,
        actor_id=e.actor_id,
        organisation_id=e.organisation_id,
        site_id=e.site_id,
        door_id=e.door_id,
        key_holder_id=e.holder_id,
        grant_id=e.grant_id,
        token_id=e.token_id,
        relay_id=e.relay_id,
        detail_json=e.detail,
    )


def request_to_pb(r: OwnerLogRequest) -> lpb.OwnerLogRequest:
    out = lpb.OwnerLogRequest(
        request_id=r.request_id,
        owner_id=r.owner_id,
        site_id=r.site_id,
        from_time=timestamp(r.period_start),
        to_time=timestamp(r.period_end),
        purpose=r.purpose,
        suspected_crime=r.suspected_crime,
        filed_at=timestamp(r.filed_at),
        year=r.year,
        sequence_in_year=r.sequence_in_year,
        fee_net_ore=r.fee.net_ore,
        fee_vat_ore=r.fee.vat_ore,
        fee_total_ore=r.fee.total_ore,
        status=STATUS_TO_PB[r.status],
        refusal_reason=r.refusal_reason,
        delivered_entries=r.delivered_entries,
    )
    if r.paid_at is not None:
        out.paid_at.CopyFrom(timestamp(r.paid_at))
    if r.decided_at is not None:
        out.decided_at.CopyFrom(timestamp(r.decided_at))
    return out


def site_organisation_to_pb(s: SiteOrganisation) -> lpb.SiteOrganisation:
    a, org = s.access, s.organisation
    return lpb.SiteOrganisation(
        organisation_id=a.organisation_id,
        name=org.name if org else "",
        purpose=org.purpose.value if org else "",
        status=org.status.value if org else "",
        blocked_by_site_owner=s.blocked_by_site_owner,
        grants=a.grants,
        key_holders=a.key_holders,
        whole_site=a.whole_site,
        door_ids=sorted(a.doors),
        valid_until=timestamp(a.valid_until),
    )


def entry_to_pb(e: StairwellEntry) -> lpb.StairwellEntry:
    return lpb.StairwellEntry(
        time=_ms_timestamp(e.ts_ms),
        door_id=e.door_id,
        organisation_id=e.organisation_id,
        organisation_name=e.organisation_name,
    )


def chunked(messages: Iterable[M], limit: int = CHUNK_BYTES) -> Iterator[list[M]]:
    """Group messages so each group's encoded size stays under ``limit`` (at least one each)."""
    chunk: list[M] = []
    size = 0
    for m in messages:
        n = m.ByteSize() + 8
        if chunk and size + n > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(m)
        size += n
    if chunk:
        yield chunk


READER_CREDENTIALS_RETIRED = (
    "long-lived site-owner and analyst credentials are no longer issued: create a staff account "
    "(IdentityService.CreateAccount, role ACCOUNT_ROLE_SITE_OWNER or ACCOUNT_ROLE_ANALYST), "
    "which activates and logs in (IdentityService.Login)"
)


# -- servicers -------------------------------------------------------------------------------


class AccessLogServicer(AuthenticatedServicer, lpb_grpc.AccessLogServiceServicer):
    def __init__(self, queries: AccessLogQueries) -> None:
        self._queries = queries

    async def QueryEvents(
        self, request: lpb.QueryEventsRequest, context: Context
    ) -> AsyncIterator[lpb.QueryEventsResponse]:
        page = await self._page(request, context)
        chunks = list(chunked(event_to_pb(e) for e in page.events)) or [[]]
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            yield lpb.QueryEventsResponse(
                events=chunk, next_cursor=page.next_cursor if last else ""
            )

    @grpc_errors
    async def _page(self, request: lpb.QueryEventsRequest, context: Context) -> EventPage:
        return await self._queries.query_events(
            await self.principal(context),
            filter_from_pb(request.filter),
            cursor=request.cursor,
            limit=request.limit,
        )

    @grpc_errors
    async def AggregateEvents(
        self, request: lpb.AggregateEventsRequest, context: Context
    ) -> lpb.AggregateEventsResponse:
        principal = await self.principal(context)
        rows = await self._queries.aggregate(
            principal,
            filter_from_pb(request.filter),
            AGGREGATE_FROM_PB.get(request.kind),
            top=request.top,
            time_zone=request.time_zone,
        )
        out = lpb.AggregateEventsResponse()
        for row in rows:
            if isinstance(row, OrganisationDayCount):
                out.organisation_days.append(
                    lpb.OrganisationDayCount(
                        organisation_id=row.organisation_id,
                        day=row.day.isoformat(),
                        events=row.events,
                        allowed=row.allowed,
                        denied=row.denied,
                    )
                )
            elif isinstance(row, DoorCount):
                out.doors.append(
                    lpb.DoorCount(site_id=row.site_id, door_id=row.door_id, events=row.events)
                )
            elif isinstance(row, ReasonCount):
                out.reasons.append(lpb.ReasonCount(reason=row.reason, events=row.events))
        return out

    @grpc_errors
    async def CreateSiteOwnerCredential(
        self, request: lpb.CreateSiteOwnerCredentialRequest, context: Context
    ) -> lpb.CreateReaderCredentialResponse:
        await self.principal(context)  # callers are authenticated (and authorised) first
        raise FailedPrecondition(READER_CREDENTIALS_RETIRED)

    @grpc_errors
    async def CreateAnalystCredential(
        self, request: lpb.CreateAnalystCredentialRequest, context: Context
    ) -> lpb.CreateReaderCredentialResponse:
        await self.principal(context)  # callers are authenticated (and authorised) first
        raise FailedPrecondition(READER_CREDENTIALS_RETIRED)


class SiteOwnerServicer(AuthenticatedServicer, lpb_grpc.SiteOwnerServiceServicer):
    def __init__(self, requests: OwnerLogRequests) -> None:
        self._requests = requests

    @grpc_errors
    async def ListSiteOrganisations(
        self, request: lpb.ListSiteOrganisationsRequest, context: Context
    ) -> lpb.ListSiteOrganisationsResponse:
        site, organisations = await self._requests.site_organisations(
            await self.principal(context), request.site_id
        )
        return lpb.ListSiteOrganisationsResponse(
            site_id=site.site_id,
            organisations=[site_organisation_to_pb(s) for s in organisations],
        )

    @grpc_errors
    async def FileOwnerLogRequest(
        self, request: lpb.FileOwnerLogRequestRequest, context: Context
    ) -> lpb.OwnerLogRequest:
        filed = await self._requests.file(
            await self.principal(context),
            site_id=request.site_id,
            period_start=_time(request, "from_time", "from_time"),
            period_end=_time(request, "to_time", "to_time"),
            purpose=request.purpose,
            suspected_crime=request.suspected_crime,
        )
        return request_to_pb(filed)

    @grpc_errors
    async def GetOwnerLogRequest(
        self, request: lpb.GetOwnerLogRequestRequest, context: Context
    ) -> lpb.OwnerLogRequest:
        return request_to_pb(
            await self._requests.get(await self.principal(context), request.request_id)
        )

    @grpc_errors
    async def ListOwnerLogRequests(
        self, request: lpb.ListOwnerLogRequestsRequest, context: Context
    ) -> lpb.ListOwnerLogRequestsResponse:
        found = await self._requests.list_requests(
            await self.principal(context), owner_id=request.owner_id, year=request.year
        )
        return lpb.ListOwnerLogRequestsResponse(requests=[request_to_pb(r) for r in found])

    @grpc_errors
    async def RecordOwnerLogRequestPayment(
        self, request: lpb.RecordOwnerLogRequestPaymentRequest, context: Context
    ) -> lpb.OwnerLogRequest:
        return request_to_pb(
            await self._requests.record_payment(await self.principal(context), request.request_id)
        )

    @grpc_errors
    async def RefuseOwnerLogRequest(
        self, request: lpb.RefuseOwnerLogRequestRequest, context: Context
    ) -> lpb.OwnerLogRequest:
        return request_to_pb(
            await self._requests.refuse(
                await self.principal(context), request.request_id, request.reason
            )
        )

    async def DeliverOwnerLogRequest(
        self, request: lpb.DeliverOwnerLogRequestRequest, context: Context
    ) -> AsyncIterator[lpb.DeliverOwnerLogRequestResponse]:
        delivered, entries = await self._deliver(request, context)
        first = True
        for chunk in chunked(entry_to_pb(e) for e in entries):
            yield lpb.DeliverOwnerLogRequestResponse(
                request=request_to_pb(delivered) if first else None, entries=chunk
            )
            first = False
        if first:
            yield lpb.DeliverOwnerLogRequestResponse(request=request_to_pb(delivered))

    @grpc_errors
    async def _deliver(
        self, request: lpb.DeliverOwnerLogRequestRequest, context: Context
    ) -> tuple[OwnerLogRequest, Sequence[StairwellEntry]]:
        return await self._requests.deliver(await self.principal(context), request.request_id)


def register_accesslog_services(
    server: grpc.aio.Server,
    *,
    queries: AccessLogQueries,
    owner_requests: OwnerLogRequests,
) -> None:
    """Add AccessLogService and SiteOwnerService to a server (before it starts)."""
    lpb_grpc.add_AccessLogServiceServicer_to_server(AccessLogServicer(queries), server)
    lpb_grpc.add_SiteOwnerServiceServicer_to_server(SiteOwnerServicer(owner_requests), server)
