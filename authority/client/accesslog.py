"""A small typed client for AccessLogService and SiteOwnerService (the CLI, scripts and tests).

session = AuthorityClient("127.0.0.1:50051").login("nbg12.board", password)  # a staff account
client = AccessLogClient("127.0.0.1:50051", credential=session.access_credential)
for event in client.iter_events(EventQuery(start=…, end=…, site_id="site_…")):
    ...
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from authority.client.authority import bearer_metadata, open_channel
from authority.client.tls import ClientTls
from authority.v1 import accesslog_pb2 as lpb
from authority.v1 import accesslog_pb2_grpc as lpb_grpc

KINDS = {
    "unlock": lpb.EVENT_KIND_UNLOCK,
    "relay": lpb.EVENT_KIND_RELAY,
    "admin": lpb.EVENT_KIND_ADMIN,
    "lookup": lpb.EVENT_KIND_LOOKUP,
}
AGGREGATES = {
    "organisation-day": lpb.AGGREGATE_KIND_ORGANISATION_DAY,
    "busiest-doors": lpb.AGGREGATE_KIND_BUSIEST_DOORS,
    "denial-reasons": lpb.AGGREGATE_KIND_DENIAL_REASONS,
}


def timestamp(dt: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(dt)
    return ts


@dataclass(frozen=True, kw_only=True)
class EventQuery:
    """What to read: the period [start, end) and optional filters (empty: any)."""

    start: datetime
    end: datetime
    organisation_id: str = ""
    site_id: str = ""
    door_id: str = ""
    key_holder_id: str = ""
    kind: str = ""
    """``unlock``, ``relay``, ``admin`` or ``lookup``; empty: every kind."""
    outcome: str = ""
    reason: str = ""

    def to_pb(self) -> lpb.EventFilter:
        return lpb.EventFilter(
            from_time=timestamp(self.start),
            to_time=timestamp(self.end),
            organisation_id=self.organisation_id,
            site_id=self.site_id,
            door_id=self.door_id,
            key_holder_id=self.key_holder_id,
            kind=KINDS[self.kind] if self.kind else lpb.EVENT_KIND_UNSPECIFIED,
            outcome=self.outcome,
            reason=self.reason,
        )


class AccessLogClient:
    def __init__(
        self,
        target: str,
        *,
        credential: str | None = None,
        tls: ClientTls | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.channel = open_channel(target, tls)
        self._metadata = bearer_metadata(credential)
        self._timeout = timeout
        self.logs = lpb_grpc.AccessLogServiceStub(self.channel)
        self.owners = lpb_grpc.SiteOwnerServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    # -- the log -----------------------------------------------------------------------------

    def query_page(
        self, query: EventQuery, *, cursor: str = "", limit: int = 0
    ) -> tuple[list[lpb.AccessEvent], str]:
        """One page: its events and the cursor of the next page ("" when there is none)."""
        events: list[lpb.AccessEvent] = []
        next_cursor = ""
        for reply in self.logs.QueryEvents(
            lpb.QueryEventsRequest(filter=query.to_pb(), cursor=cursor, limit=limit),
            metadata=self._metadata,
            timeout=self._timeout,
        ):
            events.extend(reply.events)
            next_cursor = reply.next_cursor or next_cursor
        return events, next_cursor

    def iter_events(
        self, query: EventQuery, *, page_size: int = 1000, max_events: int | None = None
    ) -> Iterator[lpb.AccessEvent]:
        """Every matching event, following cursors, at most ``max_events``."""
        cursor = ""
        served = 0
        while True:
            want = page_size if max_events is None else min(page_size, max_events - served)
            if want <= 0:
                return
            events, cursor = self.query_page(query, cursor=cursor, limit=want)
            yield from events
            served += len(events)
            if not cursor:
                return

    def aggregate(
        self, query: EventQuery, kind: str, *, top: int = 0, time_zone: str = ""
    ) -> lpb.AggregateEventsResponse:
        return self.logs.AggregateEvents(
            lpb.AggregateEventsRequest(
                filter=query.to_pb(), kind=AGGREGATES[kind], top=top, time_zone=time_zone
            ),
            metadata=self._metadata,
            timeout=self._timeout,
        )

    # -- site owners -------------------------------------------------------------------------

    def site_organisations(self, site_id: str) -> lpb.ListSiteOrganisationsResponse:
        return self.owners.ListSiteOrganisations(
            lpb.ListSiteOrganisationsRequest(site_id=site_id),
            metadata=self._metadata,
            timeout=self._timeout,
        )

    def file_request(
        self,
        *,
        site_id: str,
        start: datetime,
        end: datetime,
        purpose: str,
        suspected_crime: bool,
    ) -> lpb.OwnerLogRequest:
        return self.owners.FileOwnerLogRequest(
            lpb.FileOwnerLogRequestRequest(
                site_id=site_id,
                from_time=timestamp(start),
                to_time=timestamp(end),
                purpose=purpose,
                suspected_crime=suspected_crime,
            ),
            metadata=self._metadata,
            timeout=self._timeout,
        )

    def get_request(self, request_id: str) -> lpb.OwnerLogRequest:
        return self.owners.GetOwnerLogRequest(
            lpb.GetOwnerLogRequestRequest(request_id=request_id),
            metadata=self._metadata,
            timeout=self._timeout,
        )

    def list_requests(self, *, owner_id: str = "", year: int = 0) -> list[lpb.OwnerLogRequest]:
        reply = self.owners.ListOwnerLogRequests(
            lpb.ListOwnerLogRequestsRequest(owner_id=owner_id, year=year),
            metadata=self._metadata,
            timeout=self._timeout,
        )
        return list(reply.requests)

    def record_payment(self, request_id: str) -> lpb.OwnerLogRequest:
        return self.owners.RecordOwnerLogRequestPayment(
            lpb.RecordOwnerLogRequestPaymentRequest(request_id=request_id),
            metadata=self._metadata,
            timeout=self._timeout,
        )

    def refuse_request(self, request_id: str, reason: str) -> lpb.OwnerLogRequest:
        return self.owners.RefuseOwnerLogRequest(
            lpb.RefuseOwnerLogRequestRequest(request_id=request_id, reason=reason),
            metadata=self._metadata,
            timeout=self._timeout,
        )

    def deliver_request(
        self, request_id: str
    ) -> tuple[lpb.OwnerLogRequest, list[lpb.StairwellEntry]]:
        request = lpb.OwnerLogRequest()
        entries: list[lpb.StairwellEntry] = []
        for reply in self.owners.DeliverOwnerLogRequest(
            lpb.DeliverOwnerLogRequestRequest(request_id=request_id),
            metadata=self._metadata,
            timeout=self._timeout,
        ):
            if reply.HasField("request"):
                request = reply.request
            entries.extend(reply.entries)
        return request, entries
