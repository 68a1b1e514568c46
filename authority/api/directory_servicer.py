"""The gRPC edge of the directory (``DirectoryService``): organisations, sites, doors and key
holders. Thin: authenticate, convert, call a use case, convert back."""

from __future__ import annotations

from authority.api import convert
from authority.api.authenticated import AuthenticatedServicer, Context
from authority.api.errors import grpc_errors
from authority.domain.model import HolderStatus, OrganisationStatus
from authority.usecases.directory import DirectoryCommands
from authority.v1 import authority_pb2 as pb
from authority.v1 import authority_pb2_grpc as pb_grpc


class DirectoryServicer(AuthenticatedServicer, pb_grpc.DirectoryServiceServicer):
    def __init__(self, commands: DirectoryCommands) -> None:
        self._cmd = commands

    @grpc_errors
    async def CreateOrganisation(
        self, request: pb.CreateOrganisationRequest, context: Context
    ) -> pb.CreateOrganisationResponse:
        principal = await self.principal(context)
        purpose = convert.PURPOSE_FROM_PB.get(request.purpose)
        org, credential = await self._cmd.create_organisation(
            principal,
            name=request.name,
            cvr=request.cvr,
            se=request.se,
            public_body=request.public_body,
            purpose=purpose,
        )
        return pb.CreateOrganisationResponse(
            organisation=convert.organisation_to_pb(org), api_credential=credential
        )

    @grpc_errors
    async def GetOrganisation(
        self, request: pb.GetOrganisationRequest, context: Context
    ) -> pb.Organisation:
        org = await self._cmd.get_organisation(
            await self.principal(context), request.organisation_id
        )
        return convert.organisation_to_pb(org)

    @grpc_errors
    async def SetOrganisationStatus(
        self, request: pb.SetOrganisationStatusRequest, context: Context
    ) -> pb.Organisation:
        principal = await self.principal(context)
        status: OrganisationStatus | None = convert.ORG_STATUS_FROM_PB.get(request.status)
        org = await self._cmd.set_organisation_status(
            principal, request.organisation_id, status, request.reason
        )
        return convert.organisation_to_pb(org)

    @grpc_errors
    async def CreateSite(self, request: pb.CreateSiteRequest, context: Context) -> pb.Site:
        site = await self._cmd.create_site(
            await self.principal(context),
            address=request.address,
            owner_id=request.owner_id,
            time_zone=request.time_zone,
            offline_allowed=request.offline_allowed,
        )
        return convert.site_to_pb(site)

    @grpc_errors
    async def GetSite(self, request: pb.GetSiteRequest, context: Context) -> pb.Site:
        return convert.site_to_pb(
            await self._cmd.get_site(await self.principal(context), request.site_id)
        )

    @grpc_errors
    async def CreateDoor(self, request: pb.CreateDoorRequest, context: Context) -> pb.Door:
        door = await self._cmd.create_door(
            await self.principal(context),
            door_id=request.door_id,
            site_id=request.site_id,
            relay_id=request.relay_id,
            label=request.label,
            relay_public_key=request.relay_public_key,
        )
        return convert.door_to_pb(door)

    @grpc_errors
    async def SetDoorRelayKey(
        self, request: pb.SetDoorRelayKeyRequest, context: Context
    ) -> pb.Door:
        door = await self._cmd.set_door_relay_key(
            await self.principal(context),
            door_id=request.door_id,
            relay_public_key=request.relay_public_key,
            relay_id=request.relay_id,
        )
        return convert.door_to_pb(door)

    @grpc_errors
    async def GetDoor(self, request: pb.GetDoorRequest, context: Context) -> pb.Door:
        return convert.door_to_pb(
            await self._cmd.get_door(await self.principal(context), request.door_id)
        )

    @grpc_errors
    async def CreateKeyHolder(
        self, request: pb.CreateKeyHolderRequest, context: Context
    ) -> pb.CreateKeyHolderResponse:
        holder = await self._cmd.create_key_holder(
            await self.principal(context), request.organisation_id
        )
        return pb.CreateKeyHolderResponse(key_holder=convert.holder_to_pb(holder))

    @grpc_errors
    async def GetKeyHolder(self, request: pb.GetKeyHolderRequest, context: Context) -> pb.KeyHolder:
        holder = await self._cmd.get_key_holder(
            await self.principal(context), request.key_holder_id
        )
        return convert.holder_to_pb(holder)

    @grpc_errors
    async def SetKeyHolderStatus(
        self, request: pb.SetKeyHolderStatusRequest, context: Context
    ) -> pb.KeyHolder:
        status: HolderStatus | None = convert.HOLDER_STATUS_FROM_PB.get(request.status)
        holder = await self._cmd.set_key_holder_status(
            await self.principal(context), request.key_holder_id, status
        )
        return convert.holder_to_pb(holder)

    @grpc_errors
    async def SetSiteOrganisationBlocked(
        self, request: pb.SetSiteOrganisationBlockedRequest, context: Context
    ) -> pb.Site:
        site = await self._cmd.set_site_organisation_blocked(
            await self.principal(context),
            site_id=request.site_id,
            organisation_id=request.organisation_id,
            blocked=request.blocked,
        )
        return convert.site_to_pb(site)
