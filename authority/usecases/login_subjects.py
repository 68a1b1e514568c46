"""Whose logins and sessions the identity use cases handle: key holders (``kh_…``) and staff
accounts (``acc_…``), as a caller may see them, and the principal each logs in as.

A subject in another tenant answers exactly like one that does not exist (NOT_FOUND).
"""

from __future__ import annotations

from authority.domain.credentials import ACCOUNT_PREFIX, HOLDER_PREFIX, Principal, Role
from authority.domain.errors import NotFound
from authority.domain.model import KeyHolder, validate_id
from authority.domain.ports.grants import HolderReader
from authority.domain.ports.identity import AccountStore
from authority.usecases.auth import may_see_organisation_data


class LoginSubjects:
    def __init__(self, *, holders: HolderReader, accounts: AccountStore) -> None:
        self._holders = holders
        self._accounts = accounts

    async def visible_holder(
        self, principal: Principal, holder_id: str, *, not_found: str = ""
    ) -> KeyHolder:
        holder = await self._holders.get_holder(validate_id(holder_id, field_name="key_holder_id"))
        visible = holder is not None and (
            may_see_organisation_data(principal, holder.organisation_id)
            or principal.key_holder_id == holder_id
        )
        if holder is None or not visible:
            raise NotFound(not_found or f"key holder {holder_id} does not exist")
        return holder

    async def visible_account(
        self, principal: Principal, account_id: str, *, not_found: str = ""
    ) -> Principal:
        missing = NotFound(not_found or f"account {account_id} does not exist")
        if not account_id.startswith(ACCOUNT_PREFIX):
            raise missing
        found = await self._accounts.get_account(validate_id(account_id, field_name="account_id"))
        if found is None:
            raise missing
        account = Principal.from_json(account_id, found.principal)
        own = principal.credential_id == account_id
        in_org = account.organisation_id is not None and may_see_organisation_data(
            principal, account.organisation_id
        )
        if not (own or principal.role is Role.ADMIN or in_org):
            raise missing
        return account

    async def principal_of(self, subject: str) -> Principal | None:
        """Who ``subject`` logs in as; None when it is gone or a disabled account."""
        if subject.startswith(HOLDER_PREFIX):
            holder = await self._holders.get_holder(subject)
            if holder is None:
                return None
            return Principal(
                role=Role.KEY_HOLDER,
                credential_id=subject,
                key_holder_id=subject,
                organisation_id=holder.organisation_id,
            )
        found = await self._accounts.get_account(subject)
        if found is None or found.disabled:  # a disabled account logs in and renews nothing
            return None
        return Principal.from_json(subject, found.principal)
