"""What every servicer of authenticated calls shares: the caller the interceptor admitted."""

from __future__ import annotations

from typing import Any

import grpc

from authority.api.authz import current_principal
from authority.domain.credentials import Principal

Context = grpc.aio.ServicerContext[Any, Any]


class AuthenticatedServicer:
    """Servicers of authenticated calls: the caller was admitted by the authorization
    interceptor (``authority.api.authz``) before the method runs."""

    async def principal(self, context: Context) -> Principal:
        del context
        return current_principal()
