"""The gRPC edge of relays (``RelayService``): a relay's signed outcome of an opening (a hot
method, like the unlock) and the revocation notice a relay fetches."""

from __future__ import annotations

from authority.api import convert
from authority.api.authenticated import AuthenticatedServicer, Context
from authority.api.errors import grpc_errors
from authority.usecases.relay import RelayReports
from authority.v1 import authority_pb2 as pb
from authority.v1 import authority_pb2_grpc as pb_grpc


class RelayServicer(AuthenticatedServicer, pb_grpc.RelayServiceServicer):
    def __init__(self, reports: RelayReports) -> None:
        self._reports = reports

    @grpc_errors
    async def ReportRelayOutcome(
        self, request: pb.ReportRelayOutcomeRequest, context: Context
    ) -> pb.ReportRelayOutcomeResponse:
        report = await self._reports.report_outcome(
            await self.principal(context), request.door_id, request.signed_result
        )
        result = report.result
        return pb.ReportRelayOutcomeResponse(
            outcome=convert.RELAY_OUTCOME_TO_PB[result.outcome],
            reason=result.reason,
            relay_id=result.relay_id,
            token_id=result.token_id.hex(),
            key_holder_id=result.subject,
            relay_epoch=max(result.epoch, 0),
            site_epoch=report.site_epoch,
            event_id=report.event_id,
            already_reported=not report.first_report,
        )

    @grpc_errors
    async def GetRevocationNotice(
        self, request: pb.GetRevocationNoticeRequest, context: Context
    ) -> pb.GetRevocationNoticeResponse:
        notice = await self._reports.revocation_notice(
            await self.principal(context), request.door_id
        )
        response = pb.GetRevocationNoticeResponse(
            notice=notice.notice, relay_id=notice.door.relay_id, epoch=notice.epoch
        )
        response.issued_at.seconds = notice.issued_at
        return response
