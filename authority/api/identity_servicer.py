"""The gRPC edge of identity (``protos/authority/v1/identity.proto``): thin, like every servicer."""

from __future__ import annotations

from typing import Any

import grpc

from authority.api.authenticated import AuthenticatedServicer
from authority.api.errors import grpc_errors
from authority.domain.login import LoginPolicy
from authority.usecases.accounts import AccountKind, Accounts
from authority.usecases.api_credentials import ApiCredentialInfo, ApiCredentials
from authority.usecases.login_policies import LoginPolicies, PolicyTarget
from authority.usecases.sessions import IssuedSession, Sessions
from authority.v1 import identity_pb2 as ipb
from authority.v1 import identity_pb2_grpc as ipb_grpc

Context = grpc.aio.ServicerContext[Any, Any]
IDENTITY_SERVICE_NAMES = tuple(s.full_name for s in ipb.DESCRIPTOR.services_by_name.values())

KIND_FROM_PB = {
    ipb.ACCOUNT_ROLE_PLATFORM_ADMIN: AccountKind.PLATFORM_ADMIN,
    ipb.ACCOUNT_ROLE_ORGANISATION_ADMIN: AccountKind.ORGANISATION_ADMIN,
    ipb.ACCOUNT_ROLE_ANALYST: AccountKind.ANALYST,
    ipb.ACCOUNT_ROLE_SITE_OWNER: AccountKind.SITE_OWNER,
}


def session_to_pb(s: IssuedSession) -> ipb.Session:
    out = ipb.Session(
        access_credential=s.access_credential,
        refresh_credential=s.refresh_credential,
        session_id=s.session_id,
        subject=s.subject,
        role=s.role.value,
    )
    out.access_expires_at.seconds = s.access_expires_at
    out.refresh_expires_at.seconds = s.refresh_expires_at
    return out


def api_credential_to_pb(info: ApiCredentialInfo, now: int | None = None) -> ipb.ApiCredential:
    out = ipb.ApiCredential(
        credential_id=info.credential_id,
        organisation_id=info.organisation_id,
        scopes=list(info.scopes),
        label=info.label,
        revoked=info.revoked(now) if now is not None else bool(info.revoked_at),
    )
    if info.created_at:
        out.created_at.seconds = info.created_at
    if info.rotated_at:
        out.rotated_at.seconds = info.rotated_at
    return out


def target_from_pb(t: ipb.GetLoginPolicyRequest) -> PolicyTarget:
    return PolicyTarget(organisation_id=t.organisation_id, operator=t.operator, owner_id=t.owner_id)


def policy_to_pb(p: LoginPolicy) -> ipb.LoginPolicy:
    return ipb.LoginPolicy(
        max_failed_logins=p.max_failed_logins,
        lockout_seconds=p.lockout_seconds,
        totp_required=p.totp_required,
    )


class IdentityServicer(AuthenticatedServicer, ipb_grpc.IdentityServiceServicer):
    def __init__(
        self,
        *,
        accounts: Accounts,
        sessions: Sessions,
        login_policies: LoginPolicies,
        api_credentials: ApiCredentials,
    ) -> None:
        self._accounts = accounts
        self._sessions = sessions
        self._policies = login_policies
        self._api_credentials = api_credentials

    @grpc_errors
    async def CreateAccount(
        self, request: ipb.CreateAccountRequest, context: Context
    ) -> ipb.CreateAccountResponse:
        account_id, code, totp = await self._accounts.create_account(
            await self.principal(context),
            login=request.login,
            kind=KIND_FROM_PB.get(request.role),
            organisation_id=request.organisation_id,
            owner_id=request.owner_id,
        )
        return ipb.CreateAccountResponse(
            account_id=account_id, activation_code=code, totp_required=totp
        )

    @grpc_errors
    async def SetAccountEnabled(
        self, request: ipb.SetAccountEnabledRequest, context: Context
    ) -> ipb.SetAccountEnabledResponse:
        ended = await self._accounts.set_account_enabled(
            await self.principal(context), request.account_id, request.enabled
        )
        return ipb.SetAccountEnabledResponse(
            account_id=request.account_id, enabled=request.enabled, sessions_ended=ended
        )

    @grpc_errors
    async def IssueHolderActivation(
        self, request: ipb.IssueHolderActivationRequest, context: Context
    ) -> ipb.IssueHolderActivationResponse:
        code = await self._accounts.issue_holder_activation(
            await self.principal(context), request.key_holder_id
        )
        return ipb.IssueHolderActivationResponse(
            key_holder_id=request.key_holder_id, activation_code=code
        )

    @grpc_errors
    async def Activate(
        self, request: ipb.ActivateRequest, context: Context
    ) -> ipb.ActivateResponse:
        login, uri = await self._accounts.activate(request.activation_code, request.password)
        return ipb.ActivateResponse(login=login, totp_uri=uri)

    @grpc_errors
    async def Login(self, request: ipb.LoginRequest, context: Context) -> ipb.Session:
        return session_to_pb(
            await self._sessions.login(request.login, request.password, request.totp_code)
        )

    @grpc_errors
    async def RefreshSession(
        self, request: ipb.RefreshSessionRequest, context: Context
    ) -> ipb.Session:
        return session_to_pb(await self._sessions.refresh(request.refresh_credential))

    @grpc_errors
    async def Logout(self, request: ipb.LogoutRequest, context: Context) -> ipb.LogoutResponse:
        return ipb.LogoutResponse(
            session_id=await self._sessions.logout(await self.principal(context))
        )

    @grpc_errors
    async def RevokeSessions(
        self, request: ipb.RevokeSessionsRequest, context: Context
    ) -> ipb.RevokeSessionsResponse:
        ended = await self._sessions.revoke_sessions(
            await self.principal(context),
            holder_id=request.key_holder_id,
            account_id=request.account_id,
        )
        return ipb.RevokeSessionsResponse(revoked=ended)

    @grpc_errors
    async def UnlockLogin(
        self, request: ipb.UnlockLoginRequest, context: Context
    ) -> ipb.UnlockLoginResponse:
        was = await self._sessions.unlock_login(await self.principal(context), request.login)
        return ipb.UnlockLoginResponse(was_locked=was)

    @grpc_errors
    async def GetLoginPolicy(
        self, request: ipb.GetLoginPolicyRequest, context: Context
    ) -> ipb.LoginPolicy:
        policy = await self._policies.get_policy(
            await self.principal(context), target_from_pb(request)
        )
        return policy_to_pb(policy)

    @grpc_errors
    async def SetLoginPolicy(
        self, request: ipb.SetLoginPolicyRequest, context: Context
    ) -> ipb.LoginPolicy:
        p = request.policy
        policy = await self._policies.set_policy(
            await self.principal(context),
            target_from_pb(request.target),
            LoginPolicy(
                max_failed_logins=p.max_failed_logins,
                lockout_seconds=p.lockout_seconds,
                totp_required=p.totp_required,
            ),
        )
        return policy_to_pb(policy)

    @grpc_errors
    async def CreateApiCredential(
        self, request: ipb.CreateApiCredentialRequest, context: Context
    ) -> ipb.ApiCredentialSecret:
        info, secret = await self._api_credentials.create_api_credential(
            await self.principal(context),
            organisation_id=request.organisation_id,
            scopes=list(request.scopes),
            label=request.label,
        )
        return ipb.ApiCredentialSecret(
            credential=api_credential_to_pb(info), secret_credential=secret
        )

    @grpc_errors
    async def ListApiCredentials(
        self, request: ipb.ListApiCredentialsRequest, context: Context
    ) -> ipb.ListApiCredentialsResponse:
        infos = await self._api_credentials.list_api_credentials(
            await self.principal(context), request.organisation_id
        )
        now = self._api_credentials.now()
        return ipb.ListApiCredentialsResponse(
            credentials=[api_credential_to_pb(i, now) for i in infos]
        )

    @grpc_errors
    async def RotateApiCredential(
        self, request: ipb.RotateApiCredentialRequest, context: Context
    ) -> ipb.ApiCredentialSecret:
        info, secret = await self._api_credentials.rotate_api_credential(
            await self.principal(context), request.credential_id, request.overlap_seconds
        )
        return ipb.ApiCredentialSecret(
            credential=api_credential_to_pb(info), secret_credential=secret
        )

    @grpc_errors
    async def RevokeApiCredential(
        self, request: ipb.RevokeApiCredentialRequest, context: Context
    ) -> ipb.ApiCredential:
        info = await self._api_credentials.revoke_api_credential(
            await self.principal(context), request.credential_id
        )
        return api_credential_to_pb(info)

    @grpc_errors
    async def CreateBridgeCredential(
        self, request: ipb.CreateBridgeCredentialRequest, context: Context
    ) -> ipb.CreateBridgeCredentialResponse:
        cid, credential = await self._api_credentials.create_bridge_credential(
            await self.principal(context), request.name
        )
        return ipb.CreateBridgeCredentialResponse(credential_id=cid, credential=credential)
