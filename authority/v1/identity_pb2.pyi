import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AccountRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCOUNT_ROLE_UNSPECIFIED: _ClassVar[AccountRole]
    ACCOUNT_ROLE_PLATFORM_ADMIN: _ClassVar[AccountRole]
    ACCOUNT_ROLE_ORGANISATION_ADMIN: _ClassVar[AccountRole]
    ACCOUNT_ROLE_ANALYST: _ClassVar[AccountRole]
    ACCOUNT_ROLE_SITE_OWNER: _ClassVar[AccountRole]
ACCOUNT_ROLE_UNSPECIFIED: AccountRole
ACCOUNT_ROLE_PLATFORM_ADMIN: AccountRole
ACCOUNT_ROLE_ORGANISATION_ADMIN: AccountRole
ACCOUNT_ROLE_ANALYST: AccountRole
ACCOUNT_ROLE_SITE_OWNER: AccountRole

class CreateAccountRequest(_message.Message):
    __slots__ = ("login", "role", "organisation_id", "owner_id")
    LOGIN_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    login: str
    role: AccountRole
    organisation_id: str
    owner_id: str
    def __init__(self, login: _Optional[str] = ..., role: _Optional[_Union[AccountRole, str]] = ..., organisation_id: _Optional[str] = ..., owner_id: _Optional[str] = ...) -> None: ...

class CreateAccountResponse(_message.Message):
    __slots__ = ("account_id", "activation_code", "totp_required")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_CODE_FIELD_NUMBER: _ClassVar[int]
    TOTP_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    activation_code: str
    totp_required: bool
    def __init__(self, account_id: _Optional[str] = ..., activation_code: _Optional[str] = ..., totp_required: _Optional[bool] = ...) -> None: ...

class SetAccountEnabledRequest(_message.Message):
    __slots__ = ("account_id", "enabled")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    enabled: bool
    def __init__(self, account_id: _Optional[str] = ..., enabled: _Optional[bool] = ...) -> None: ...

class SetAccountEnabledResponse(_message.Message):
    __slots__ = ("account_id", "enabled", "sessions_ended")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_ENDED_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    enabled: bool
    sessions_ended: int
    def __init__(self, account_id: _Optional[str] = ..., enabled: _Optional[bool] = ..., sessions_ended: _Optional[int] = ...) -> None: ...

class IssueHolderActivationRequest(_message.Message):
    __slots__ = ("key_holder_id",)
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    key_holder_id: str
    def __init__(self, key_holder_id: _Optional[str] = ...) -> None: ...

class IssueHolderActivationResponse(_message.Message):
    __slots__ = ("key_holder_id", "activation_code")
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_CODE_FIELD_NUMBER: _ClassVar[int]
    key_holder_id: str
    activation_code: str
    def __init__(self, key_holder_id: _Optional[str] = ..., activation_code: _Optional[str] = ...) -> None: ...

class ActivateRequest(_message.Message):
    __slots__ = ("activation_code", "password")
    ACTIVATION_CODE_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    activation_code: str
    password: str
    def __init__(self, activation_code: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class ActivateResponse(_message.Message):
    __slots__ = ("login", "totp_uri")
    LOGIN_FIELD_NUMBER: _ClassVar[int]
    TOTP_URI_FIELD_NUMBER: _ClassVar[int]
    login: str
    totp_uri: str
    def __init__(self, login: _Optional[str] = ..., totp_uri: _Optional[str] = ...) -> None: ...

class LoginRequest(_message.Message):
    __slots__ = ("login", "password", "totp_code")
    LOGIN_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    TOTP_CODE_FIELD_NUMBER: _ClassVar[int]
    login: str
    password: str
    totp_code: str
    def __init__(self, login: _Optional[str] = ..., password: _Optional[str] = ..., totp_code: _Optional[str] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("access_credential", "access_expires_at", "refresh_credential", "refresh_expires_at", "session_id", "subject", "role")
    ACCESS_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    ACCESS_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REFRESH_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    REFRESH_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    access_credential: str
    access_expires_at: _timestamp_pb2.Timestamp
    refresh_credential: str
    refresh_expires_at: _timestamp_pb2.Timestamp
    session_id: str
    subject: str
    role: str
    def __init__(self, access_credential: _Optional[str] = ..., access_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., refresh_credential: _Optional[str] = ..., refresh_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., session_id: _Optional[str] = ..., subject: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class RefreshSessionRequest(_message.Message):
    __slots__ = ("refresh_credential",)
    REFRESH_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    refresh_credential: str
    def __init__(self, refresh_credential: _Optional[str] = ...) -> None: ...

class LogoutRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LogoutResponse(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class RevokeSessionsRequest(_message.Message):
    __slots__ = ("key_holder_id", "account_id")
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    key_holder_id: str
    account_id: str
    def __init__(self, key_holder_id: _Optional[str] = ..., account_id: _Optional[str] = ...) -> None: ...

class RevokeSessionsResponse(_message.Message):
    __slots__ = ("revoked",)
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    revoked: int
    def __init__(self, revoked: _Optional[int] = ...) -> None: ...

class UnlockLoginRequest(_message.Message):
    __slots__ = ("login",)
    LOGIN_FIELD_NUMBER: _ClassVar[int]
    login: str
    def __init__(self, login: _Optional[str] = ...) -> None: ...

class UnlockLoginResponse(_message.Message):
    __slots__ = ("was_locked",)
    WAS_LOCKED_FIELD_NUMBER: _ClassVar[int]
    was_locked: bool
    def __init__(self, was_locked: _Optional[bool] = ...) -> None: ...

class GetLoginPolicyRequest(_message.Message):
    __slots__ = ("organisation_id", "operator", "owner_id")
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    organisation_id: str
    operator: bool
    owner_id: str
    def __init__(self, organisation_id: _Optional[str] = ..., operator: _Optional[bool] = ..., owner_id: _Optional[str] = ...) -> None: ...

class LoginPolicy(_message.Message):
    __slots__ = ("max_failed_logins", "lockout_seconds", "totp_required")
    MAX_FAILED_LOGINS_FIELD_NUMBER: _ClassVar[int]
    LOCKOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TOTP_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    max_failed_logins: int
    lockout_seconds: int
    totp_required: bool
    def __init__(self, max_failed_logins: _Optional[int] = ..., lockout_seconds: _Optional[int] = ..., totp_required: _Optional[bool] = ...) -> None: ...

class SetLoginPolicyRequest(_message.Message):
    __slots__ = ("target", "policy")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    target: GetLoginPolicyRequest
    policy: LoginPolicy
    def __init__(self, target: _Optional[_Union[GetLoginPolicyRequest, _Mapping]] = ..., policy: _Optional[_Union[LoginPolicy, _Mapping]] = ...) -> None: ...

class CreateApiCredentialRequest(_message.Message):
    __slots__ = ("organisation_id", "scopes", "label")
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    organisation_id: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    label: str
    def __init__(self, organisation_id: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., label: _Optional[str] = ...) -> None: ...

class ApiCredential(_message.Message):
    __slots__ = ("credential_id", "organisation_id", "scopes", "label", "created_at", "rotated_at", "revoked")
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ROTATED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    organisation_id: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    label: str
    created_at: _timestamp_pb2.Timestamp
    rotated_at: _timestamp_pb2.Timestamp
    revoked: bool
    def __init__(self, credential_id: _Optional[str] = ..., organisation_id: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., label: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rotated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked: _Optional[bool] = ...) -> None: ...

class ApiCredentialSecret(_message.Message):
    __slots__ = ("credential", "secret_credential")
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    SECRET_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    credential: ApiCredential
    secret_credential: str
    def __init__(self, credential: _Optional[_Union[ApiCredential, _Mapping]] = ..., secret_credential: _Optional[str] = ...) -> None: ...

class ListApiCredentialsRequest(_message.Message):
    __slots__ = ("organisation_id",)
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    organisation_id: str
    def __init__(self, organisation_id: _Optional[str] = ...) -> None: ...

class ListApiCredentialsResponse(_message.Message):
    __slots__ = ("credentials",)
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    credentials: _containers.RepeatedCompositeFieldContainer[ApiCredential]
    def __init__(self, credentials: _Optional[_Iterable[_Union[ApiCredential, _Mapping]]] = ...) -> None: ...

class RotateApiCredentialRequest(_message.Message):
    __slots__ = ("credential_id", "overlap_seconds")
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_SECONDS_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    overlap_seconds: int
    def __init__(self, credential_id: _Optional[str] = ..., overlap_seconds: _Optional[int] = ...) -> None: ...

class RevokeApiCredentialRequest(_message.Message):
    __slots__ = ("credential_id",)
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    def __init__(self, credential_id: _Optional[str] = ...) -> None: ...

class CreateBridgeCredentialRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class CreateBridgeCredentialResponse(_message.Message):
    __slots__ = ("credential_id", "credential")
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    credential: str
    def __init__(self, credential_id: _Optional[str] = ..., credential: _Optional[str] = ...) -> None: ...
