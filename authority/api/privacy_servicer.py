"""The gRPC edge of the data subject's rights (``protos/authority/v1/privacy.proto``).

Thin: authenticate, convert, call ``PrivacyCommands``, convert back. The export stream does its
fallible work (tenancy, the lookup event, the first chunk of events) before its first message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from authority.api import convert
from authority.api.accesslog_servicer import event_to_pb
from authority.api.authenticated import AuthenticatedServicer
from authority.api.errors import grpc_errors, grpc_stream_errors
from authority.domain.events import AccessEvent
from authority.domain.privacy import Consent, PersonProfile, new_profile
from authority.usecases.privacy import PrivacyCommands
from authority.v1 import authority_pb2 as pb
from authority.v1 import privacy_pb2 as ppb
from authority.v1 import privacy_pb2_grpc as ppb_grpc

Context = grpc.aio.ServicerContext[Any, Any]
PRIVACY_SERVICE_NAMES = tuple(s.full_name for s in ppb.DESCRIPTOR.services_by_name.values())
EVENTS_PER_MESSAGE = 500
"""~300 bytes an event: messages stay well under the 256 KiB limit."""


def profile_to_pb(p: PersonProfile) -> ppb.PersonProfile:
    return ppb.PersonProfile(**p.as_dict())


def consent_to_pb(c: Consent) -> ppb.Consent:
    out = ppb.Consent(
        purpose=c.purpose, text_version=c.text_version, given_at=convert.timestamp(c.given_at)
    )
    if c.withdrawn_at is not None:
        out.withdrawn_at.CopyFrom(convert.timestamp(c.withdrawn_at))
    return out


class PrivacyServicer(AuthenticatedServicer, ppb_grpc.PrivacyServiceServicer):
    def __init__(self, privacy: PrivacyCommands) -> None:
        self._privacy = privacy

    @grpc_errors
    async def SetPersonProfile(
        self, request: ppb.SetPersonProfileRequest, context: Context
    ) -> ppb.PersonProfile:
        principal = await self.principal(context)
        p = request.profile
        profile = new_profile(
            name=p.name, phone=p.phone, email=p.email, cpr=p.cpr, bluetooth_id=p.bluetooth_id
        )
        stored = await self._privacy.set_profile(principal, request.key_holder_id, profile)
        return profile_to_pb(stored)

    @grpc_errors
    async def GetPersonProfile(
        self, request: ppb.GetPersonProfileRequest, context: Context
    ) -> ppb.PersonProfile:
        profile = await self._privacy.get_profile(
            await self.principal(context), request.key_holder_id
        )
        return profile_to_pb(profile)

    @grpc_stream_errors
    async def ExportPersonData(
        self, request: ppb.ExportPersonDataRequest, context: Context
    ) -> AsyncIterator[ppb.ExportPersonDataResponse]:
        export = await self._privacy.export(await self.principal(context), request.key_holder_id)
        chunks = aiter(export.events)
        first_events: list[AccessEvent] | None = await anext(chunks, None)
        head = ppb.ExportPersonDataResponse(
            key_holder=convert.holder_to_pb(export.holder),
            consents=[consent_to_pb(c) for c in export.consents],
            grants=[convert.grant_to_pb(g) for g in export.grants],
            door_units=export.door_units,
        )
        if export.profile is not None:
            head.profile.CopyFrom(profile_to_pb(export.profile))
        if export.pending_erasure is not None:
            head.erasure_due_at.CopyFrom(convert.timestamp(export.pending_erasure))
        yield head
        events = first_events
        while events is not None:
            for start in range(0, len(events), EVENTS_PER_MESSAGE):
                yield ppb.ExportPersonDataResponse(
                    events=[event_to_pb(e) for e in events[start : start + EVENTS_PER_MESSAGE]]
                )
            events = await anext(chunks, None)

    @grpc_errors
    async def RequestErasure(
        self, request: ppb.RequestErasureRequest, context: Context
    ) -> ppb.RequestErasureResponse:
        outcome = await self._privacy.request_erasure(
            await self.principal(context), request.key_holder_id
        )
        return ppb.RequestErasureResponse(
            erased=outcome.erased, due_at=convert.timestamp(outcome.due_at)
        )

    @grpc_errors
    async def RestrictProcessing(
        self, request: ppb.RestrictProcessingRequest, context: Context
    ) -> pb.KeyHolder:
        holder = await self._privacy.restrict(await self.principal(context), request.key_holder_id)
        return convert.holder_to_pb(holder)

    @grpc_errors
    async def LiftRestriction(
        self, request: ppb.LiftRestrictionRequest, context: Context
    ) -> pb.KeyHolder:
        holder = await self._privacy.lift_restriction(
            await self.principal(context), request.key_holder_id
        )
        return convert.holder_to_pb(holder)

    @grpc_errors
    async def GiveConsent(self, request: ppb.GiveConsentRequest, context: Context) -> ppb.Consent:
        consent = await self._privacy.give_consent(
            await self.principal(context),
            request.key_holder_id,
            request.purpose,
            request.text_version,
        )
        return consent_to_pb(consent)

    @grpc_errors
    async def WithdrawConsent(
        self, request: ppb.WithdrawConsentRequest, context: Context
    ) -> ppb.Consent:
        consent = await self._privacy.withdraw_consent(
            await self.principal(context), request.key_holder_id, request.purpose
        )
        return consent_to_pb(consent)

    @grpc_errors
    async def ListConsents(
        self, request: ppb.ListConsentsRequest, context: Context
    ) -> ppb.ListConsentsResponse:
        consents = await self._privacy.list_consents(
            await self.principal(context), request.key_holder_id
        )
        return ppb.ListConsentsResponse(consents=[consent_to_pb(c) for c in consents])

    @grpc_errors
    async def FindKeyHolderByPhone(
        self, request: ppb.FindKeyHolderByPhoneRequest, context: Context
    ) -> pb.KeyHolder:
        holder = await self._privacy.find_by_phone(await self.principal(context), request.phone)
        return convert.holder_to_pb(holder)

    @grpc_errors
    async def MountDoorUnit(
        self, request: ppb.DoorUnitRequest, context: Context
    ) -> ppb.DoorUnitsResponse:
        principal = await self.principal(context)
        await self._privacy.mount_door_unit(principal, request.key_holder_id, request.site_id)
        units = await self._privacy.door_units(principal, request.key_holder_id)
        return ppb.DoorUnitsResponse(site_ids=units)

    @grpc_errors
    async def DismountDoorUnit(
        self, request: ppb.DoorUnitRequest, context: Context
    ) -> ppb.DoorUnitsResponse:
        principal = await self.principal(context)
        await self._privacy.dismount_door_unit(principal, request.key_holder_id, request.site_id)
        units = await self._privacy.door_units(principal, request.key_holder_id)
        return ppb.DoorUnitsResponse(site_ids=units)

    @grpc_errors
    async def RunPrivacySweep(
        self, request: ppb.RunPrivacySweepRequest, context: Context
    ) -> ppb.RunPrivacySweepResponse:
        report = await self._privacy.sweep(await self.principal(context))
        return ppb.RunPrivacySweepResponse(
            erased_on_request=report.erased_on_request,
            erased_inactive=report.erased_inactive,
            kept_administering=report.kept_administering,
        )

    @grpc_errors
    async def GetPrivacyReport(
        self, request: ppb.GetPrivacyReportRequest, context: Context
    ) -> ppb.PrivacyReport:
        report = await self._privacy.report(await self.principal(context))
        c = report.census

        def counts(items: dict[str, int]) -> list[ppb.LabelledCount]:
            return [ppb.LabelledCount(label=k, count=v) for k, v in items.items()]

        return ppb.PrivacyReport(
            categories=counts(
                {
                    "key_holders": report.holders,
                    "profiles": c.profiles,
                    "consents_in_force": c.consents_in_force,
                    "consents_withdrawn": c.consents_withdrawn,
                    "door_unit_administrators": c.door_unit_administrators,
                    "pending_erasures": c.pending_erasures,
                    "erased_persons": report.ledger_records,
                }
            ),
            last_use_ages=counts(dict(c.last_use_ages)),
            log_event_ages=counts(report.log_events_by_age),
        )


def register_privacy_service(server: grpc.aio.Server, *, privacy: PrivacyCommands) -> None:
    ppb_grpc.add_PrivacyServiceServicer_to_server(PrivacyServicer(privacy), server)
