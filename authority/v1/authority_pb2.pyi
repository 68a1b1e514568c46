import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_UNSPECIFIED: _ClassVar[Decision]
    DECISION_ALLOW: _ClassVar[Decision]
    DECISION_DENY: _ClassVar[Decision]

class DecisionReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_REASON_UNSPECIFIED: _ClassVar[DecisionReason]
    DECISION_REASON_GRANTED: _ClassVar[DecisionReason]
    DECISION_REASON_NO_GRANT: _ClassVar[DecisionReason]
    DECISION_REASON_NOT_YET_VALID: _ClassVar[DecisionReason]
    DECISION_REASON_EXPIRED: _ClassVar[DecisionReason]
    DECISION_REASON_OUTSIDE_SCHEDULE: _ClassVar[DecisionReason]
    DECISION_REASON_REVOKED: _ClassVar[DecisionReason]
    DECISION_REASON_ORGANISATION_NOT_APPROVED: _ClassVar[DecisionReason]
    DECISION_REASON_ORGANISATION_SUSPENDED: _ClassVar[DecisionReason]
    DECISION_REASON_ORGANISATION_BLOCKED_BY_SITE_OWNER: _ClassVar[DecisionReason]
    DECISION_REASON_DOOR_UNKNOWN: _ClassVar[DecisionReason]
    DECISION_REASON_HOLDER_SUSPENDED: _ClassVar[DecisionReason]
    DECISION_REASON_OFFLINE_NOT_ALLOWED: _ClassVar[DecisionReason]
    DECISION_REASON_OUTSIDE_POLICY: _ClassVar[DecisionReason]
    DECISION_REASON_HOLDER_RESTRICTED: _ClassVar[DecisionReason]

class RelayOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RELAY_OUTCOME_UNSPECIFIED: _ClassVar[RelayOutcome]
    RELAY_OUTCOME_OPENED: _ClassVar[RelayOutcome]
    RELAY_OUTCOME_REJECTED: _ClassVar[RelayOutcome]

class Purpose(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PURPOSE_UNSPECIFIED: _ClassVar[Purpose]
    PURPOSE_POSTAL: _ClassVar[Purpose]
    PURPOSE_DELIVERY: _ClassVar[Purpose]
    PURPOSE_PUBLIC_SERVICE: _ClassVar[Purpose]
    PURPOSE_PRIVATE: _ClassVar[Purpose]

class OrganisationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORGANISATION_STATUS_UNSPECIFIED: _ClassVar[OrganisationStatus]
    ORGANISATION_STATUS_PENDING: _ClassVar[OrganisationStatus]
    ORGANISATION_STATUS_APPROVED: _ClassVar[OrganisationStatus]
    ORGANISATION_STATUS_REJECTED: _ClassVar[OrganisationStatus]
    ORGANISATION_STATUS_SUSPENDED: _ClassVar[OrganisationStatus]

class KeyHolderStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KEY_HOLDER_STATUS_UNSPECIFIED: _ClassVar[KeyHolderStatus]
    KEY_HOLDER_STATUS_ACTIVE: _ClassVar[KeyHolderStatus]
    KEY_HOLDER_STATUS_SUSPENDED: _ClassVar[KeyHolderStatus]
    KEY_HOLDER_STATUS_RESTRICTED: _ClassVar[KeyHolderStatus]

class Weekday(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WEEKDAY_UNSPECIFIED: _ClassVar[Weekday]
    WEEKDAY_MONDAY: _ClassVar[Weekday]
    WEEKDAY_TUESDAY: _ClassVar[Weekday]
    WEEKDAY_WEDNESDAY: _ClassVar[Weekday]
    WEEKDAY_THURSDAY: _ClassVar[Weekday]
    WEEKDAY_FRIDAY: _ClassVar[Weekday]
    WEEKDAY_SATURDAY: _ClassVar[Weekday]
    WEEKDAY_SUNDAY: _ClassVar[Weekday]

class GrantItemStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRANT_ITEM_STATUS_UNSPECIFIED: _ClassVar[GrantItemStatus]
    GRANT_ITEM_STATUS_CREATED: _ClassVar[GrantItemStatus]
    GRANT_ITEM_STATUS_ALREADY_CREATED: _ClassVar[GrantItemStatus]
    GRANT_ITEM_STATUS_REJECTED: _ClassVar[GrantItemStatus]
DECISION_UNSPECIFIED: Decision
DECISION_ALLOW: Decision
DECISION_DENY: Decision
DECISION_REASON_UNSPECIFIED: DecisionReason
DECISION_REASON_GRANTED: DecisionReason
DECISION_REASON_NO_GRANT: DecisionReason
DECISION_REASON_NOT_YET_VALID: DecisionReason
DECISION_REASON_EXPIRED: DecisionReason
DECISION_REASON_OUTSIDE_SCHEDULE: DecisionReason
DECISION_REASON_REVOKED: DecisionReason
DECISION_REASON_ORGANISATION_NOT_APPROVED: DecisionReason
DECISION_REASON_ORGANISATION_SUSPENDED: DecisionReason
DECISION_REASON_ORGANISATION_BLOCKED_BY_SITE_OWNER: DecisionReason
DECISION_REASON_DOOR_UNKNOWN: DecisionReason
DECISION_REASON_HOLDER_SUSPENDED: DecisionReason
DECISION_REASON_OFFLINE_NOT_ALLOWED: DecisionReason
DECISION_REASON_OUTSIDE_POLICY: DecisionReason
DECISION_REASON_HOLDER_RESTRICTED: DecisionReason
RELAY_OUTCOME_UNSPECIFIED: RelayOutcome
RELAY_OUTCOME_OPENED: RelayOutcome
RELAY_OUTCOME_REJECTED: RelayOutcome
PURPOSE_UNSPECIFIED: Purpose
PURPOSE_POSTAL: Purpose
PURPOSE_DELIVERY: Purpose
PURPOSE_PUBLIC_SERVICE: Purpose
PURPOSE_PRIVATE: Purpose
ORGANISATION_STATUS_UNSPECIFIED: OrganisationStatus
ORGANISATION_STATUS_PENDING: OrganisationStatus
ORGANISATION_STATUS_APPROVED: OrganisationStatus
ORGANISATION_STATUS_REJECTED: OrganisationStatus
ORGANISATION_STATUS_SUSPENDED: OrganisationStatus
KEY_HOLDER_STATUS_UNSPECIFIED: KeyHolderStatus
KEY_HOLDER_STATUS_ACTIVE: KeyHolderStatus
KEY_HOLDER_STATUS_SUSPENDED: KeyHolderStatus
KEY_HOLDER_STATUS_RESTRICTED: KeyHolderStatus
WEEKDAY_UNSPECIFIED: Weekday
WEEKDAY_MONDAY: Weekday
WEEKDAY_TUESDAY: Weekday
WEEKDAY_WEDNESDAY: Weekday
WEEKDAY_THURSDAY: Weekday
WEEKDAY_FRIDAY: Weekday
WEEKDAY_SATURDAY: Weekday
WEEKDAY_SUNDAY: Weekday
GRANT_ITEM_STATUS_UNSPECIFIED: GrantItemStatus
GRANT_ITEM_STATUS_CREATED: GrantItemStatus
GRANT_ITEM_STATUS_ALREADY_CREATED: GrantItemStatus
GRANT_ITEM_STATUS_REJECTED: GrantItemStatus

class RequestUnlockRequest(_message.Message):
    __slots__ = ("door_id", "relay_challenge", "offline")
    DOOR_ID_FIELD_NUMBER: _ClassVar[int]
    RELAY_CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_FIELD_NUMBER: _ClassVar[int]
    door_id: str
    relay_challenge: bytes
    offline: bool
    def __init__(self, door_id: _Optional[str] = ..., relay_challenge: _Optional[bytes] = ..., offline: _Optional[bool] = ...) -> None: ...

class RequestUnlockResponse(_message.Message):
    __slots__ = ("decision", "reason", "token", "expires_at", "token_id", "relay_id", "grant_id", "revocation_epoch")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    RELAY_ID_FIELD_NUMBER: _ClassVar[int]
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    REVOCATION_EPOCH_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    reason: DecisionReason
    token: bytes
    expires_at: _timestamp_pb2.Timestamp
    token_id: str
    relay_id: str
    grant_id: str
    revocation_epoch: int
    def __init__(self, decision: _Optional[_Union[Decision, str]] = ..., reason: _Optional[_Union[DecisionReason, str]] = ..., token: _Optional[bytes] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., token_id: _Optional[str] = ..., relay_id: _Optional[str] = ..., grant_id: _Optional[str] = ..., revocation_epoch: _Optional[int] = ...) -> None: ...

class RegisterDeviceKeyRequest(_message.Message):
    __slots__ = ("device_public_key",)
    DEVICE_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    device_public_key: bytes
    def __init__(self, device_public_key: _Optional[bytes] = ...) -> None: ...

class RegisterDeviceKeyResponse(_message.Message):
    __slots__ = ("key_holder_id", "replaced")
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    REPLACED_FIELD_NUMBER: _ClassVar[int]
    key_holder_id: str
    replaced: bool
    def __init__(self, key_holder_id: _Optional[str] = ..., replaced: _Optional[bool] = ...) -> None: ...

class ReportRelayOutcomeRequest(_message.Message):
    __slots__ = ("door_id", "signed_result")
    DOOR_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNED_RESULT_FIELD_NUMBER: _ClassVar[int]
    door_id: str
    signed_result: bytes
    def __init__(self, door_id: _Optional[str] = ..., signed_result: _Optional[bytes] = ...) -> None: ...

class ReportRelayOutcomeResponse(_message.Message):
    __slots__ = ("outcome", "reason", "relay_id", "token_id", "key_holder_id", "relay_epoch", "site_epoch", "event_id", "already_reported")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RELAY_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    RELAY_EPOCH_FIELD_NUMBER: _ClassVar[int]
    SITE_EPOCH_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ALREADY_REPORTED_FIELD_NUMBER: _ClassVar[int]
    outcome: RelayOutcome
    reason: str
    relay_id: str
    token_id: str
    key_holder_id: str
    relay_epoch: int
    site_epoch: int
    event_id: str
    already_reported: bool
    def __init__(self, outcome: _Optional[_Union[RelayOutcome, str]] = ..., reason: _Optional[str] = ..., relay_id: _Optional[str] = ..., token_id: _Optional[str] = ..., key_holder_id: _Optional[str] = ..., relay_epoch: _Optional[int] = ..., site_epoch: _Optional[int] = ..., event_id: _Optional[str] = ..., already_reported: _Optional[bool] = ...) -> None: ...

class GetRevocationNoticeRequest(_message.Message):
    __slots__ = ("door_id",)
    DOOR_ID_FIELD_NUMBER: _ClassVar[int]
    door_id: str
    def __init__(self, door_id: _Optional[str] = ...) -> None: ...

class GetRevocationNoticeResponse(_message.Message):
    __slots__ = ("notice", "relay_id", "epoch", "issued_at")
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    RELAY_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    notice: bytes
    relay_id: str
    epoch: int
    issued_at: _timestamp_pb2.Timestamp
    def __init__(self, notice: _Optional[bytes] = ..., relay_id: _Optional[str] = ..., epoch: _Optional[int] = ..., issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SetSiteOrganisationBlockedRequest(_message.Message):
    __slots__ = ("site_id", "organisation_id", "blocked")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    organisation_id: str
    blocked: bool
    def __init__(self, site_id: _Optional[str] = ..., organisation_id: _Optional[str] = ..., blocked: _Optional[bool] = ...) -> None: ...

class Organisation(_message.Message):
    __slots__ = ("organisation_id", "name", "cvr", "se", "public_body", "purpose", "status", "status_reason", "created_at")
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CVR_FIELD_NUMBER: _ClassVar[int]
    SE_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_BODY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    organisation_id: str
    name: str
    cvr: str
    se: str
    public_body: bool
    purpose: Purpose
    status: OrganisationStatus
    status_reason: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, organisation_id: _Optional[str] = ..., name: _Optional[str] = ..., cvr: _Optional[str] = ..., se: _Optional[str] = ..., public_body: _Optional[bool] = ..., purpose: _Optional[_Union[Purpose, str]] = ..., status: _Optional[_Union[OrganisationStatus, str]] = ..., status_reason: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateOrganisationRequest(_message.Message):
    __slots__ = ("name", "cvr", "se", "public_body", "purpose")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CVR_FIELD_NUMBER: _ClassVar[int]
    SE_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_BODY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    name: str
    cvr: str
    se: str
    public_body: bool
    purpose: Purpose
    def __init__(self, name: _Optional[str] = ..., cvr: _Optional[str] = ..., se: _Optional[str] = ..., public_body: _Optional[bool] = ..., purpose: _Optional[_Union[Purpose, str]] = ...) -> None: ...

class CreateOrganisationResponse(_message.Message):
    __slots__ = ("organisation", "api_credential")
    ORGANISATION_FIELD_NUMBER: _ClassVar[int]
    API_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    organisation: Organisation
    api_credential: str
    def __init__(self, organisation: _Optional[_Union[Organisation, _Mapping]] = ..., api_credential: _Optional[str] = ...) -> None: ...

class GetOrganisationRequest(_message.Message):
    __slots__ = ("organisation_id",)
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    organisation_id: str
    def __init__(self, organisation_id: _Optional[str] = ...) -> None: ...

class SetOrganisationStatusRequest(_message.Message):
    __slots__ = ("organisation_id", "status", "reason")
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    organisation_id: str
    status: OrganisationStatus
    reason: str
    def __init__(self, organisation_id: _Optional[str] = ..., status: _Optional[_Union[OrganisationStatus, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class Site(_message.Message):
    __slots__ = ("site_id", "address", "owner_id", "time_zone", "offline_allowed", "blocked_organisation_ids", "revocation_epoch")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_ALLOWED_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_ORGANISATION_IDS_FIELD_NUMBER: _ClassVar[int]
    REVOCATION_EPOCH_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    address: str
    owner_id: str
    time_zone: str
    offline_allowed: bool
    blocked_organisation_ids: _containers.RepeatedScalarFieldContainer[str]
    revocation_epoch: int
    def __init__(self, site_id: _Optional[str] = ..., address: _Optional[str] = ..., owner_id: _Optional[str] = ..., time_zone: _Optional[str] = ..., offline_allowed: _Optional[bool] = ..., blocked_organisation_ids: _Optional[_Iterable[str]] = ..., revocation_epoch: _Optional[int] = ...) -> None: ...

class CreateSiteRequest(_message.Message):
    __slots__ = ("address", "owner_id", "time_zone", "offline_allowed")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_ALLOWED_FIELD_NUMBER: _ClassVar[int]
    address: str
    owner_id: str
    time_zone: str
    offline_allowed: bool
    def __init__(self, address: _Optional[str] = ..., owner_id: _Optional[str] = ..., time_zone: _Optional[str] = ..., offline_allowed: _Optional[bool] = ...) -> None: ...

class GetSiteRequest(_message.Message):
    __slots__ = ("site_id",)
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    def __init__(self, site_id: _Optional[str] = ...) -> None: ...

class Door(_message.Message):
    __slots__ = ("door_id", "site_id", "relay_id", "label", "relay_public_key")
    DOOR_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    RELAY_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    RELAY_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    door_id: str
    site_id: str
    relay_id: str
    label: str
    relay_public_key: bytes
    def __init__(self, door_id: _Optional[str] = ..., site_id: _Optional[str] = ..., relay_id: _Optional[str] = ..., label: _Optional[str] = ..., relay_public_key: _Optional[bytes] = ...) -> None: ...

class CreateDoorRequest(_message.Message):
    __slots__ = ("door_id", "site_id", "relay_id", "label", "relay_public_key")
    DOOR_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    RELAY_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    RELAY_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    door_id: str
    site_id: str
    relay_id: str
    label: str
    relay_public_key: bytes
    def __init__(self, door_id: _Optional[str] = ..., site_id: _Optional[str] = ..., relay_id: _Optional[str] = ..., label: _Optional[str] = ..., relay_public_key: _Optional[bytes] = ...) -> None: ...

class SetDoorRelayKeyRequest(_message.Message):
    __slots__ = ("door_id", "relay_public_key", "relay_id")
    DOOR_ID_FIELD_NUMBER: _ClassVar[int]
    RELAY_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    RELAY_ID_FIELD_NUMBER: _ClassVar[int]
    door_id: str
    relay_public_key: bytes
    relay_id: str
    def __init__(self, door_id: _Optional[str] = ..., relay_public_key: _Optional[bytes] = ..., relay_id: _Optional[str] = ...) -> None: ...

class GetDoorRequest(_message.Message):
    __slots__ = ("door_id",)
    DOOR_ID_FIELD_NUMBER: _ClassVar[int]
    door_id: str
    def __init__(self, door_id: _Optional[str] = ...) -> None: ...

class KeyHolder(_message.Message):
    __slots__ = ("key_holder_id", "organisation_id", "status", "created_at")
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    key_holder_id: str
    organisation_id: str
    status: KeyHolderStatus
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, key_holder_id: _Optional[str] = ..., organisation_id: _Optional[str] = ..., status: _Optional[_Union[KeyHolderStatus, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateKeyHolderRequest(_message.Message):
    __slots__ = ("organisation_id",)
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    organisation_id: str
    def __init__(self, organisation_id: _Optional[str] = ...) -> None: ...

class CreateKeyHolderResponse(_message.Message):
    __slots__ = ("key_holder", "holder_credential")
    KEY_HOLDER_FIELD_NUMBER: _ClassVar[int]
    HOLDER_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    key_holder: KeyHolder
    holder_credential: str
    def __init__(self, key_holder: _Optional[_Union[KeyHolder, _Mapping]] = ..., holder_credential: _Optional[str] = ...) -> None: ...

class GetKeyHolderRequest(_message.Message):
    __slots__ = ("key_holder_id",)
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    key_holder_id: str
    def __init__(self, key_holder_id: _Optional[str] = ...) -> None: ...

class SetKeyHolderStatusRequest(_message.Message):
    __slots__ = ("key_holder_id", "status")
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    key_holder_id: str
    status: KeyHolderStatus
    def __init__(self, key_holder_id: _Optional[str] = ..., status: _Optional[_Union[KeyHolderStatus, str]] = ...) -> None: ...

class ScheduleWindow(_message.Message):
    __slots__ = ("days", "start_minute", "end_minute")
    DAYS_FIELD_NUMBER: _ClassVar[int]
    START_MINUTE_FIELD_NUMBER: _ClassVar[int]
    END_MINUTE_FIELD_NUMBER: _ClassVar[int]
    days: _containers.RepeatedScalarFieldContainer[Weekday]
    start_minute: int
    end_minute: int
    def __init__(self, days: _Optional[_Iterable[_Union[Weekday, str]]] = ..., start_minute: _Optional[int] = ..., end_minute: _Optional[int] = ...) -> None: ...

class Grant(_message.Message):
    __slots__ = ("grant_id", "key_holder_id", "door_id", "site_id", "organisation_id", "purpose", "valid_from", "valid_until", "windows", "revoked_at")
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    DOOR_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    key_holder_id: str
    door_id: str
    site_id: str
    organisation_id: str
    purpose: Purpose
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    windows: _containers.RepeatedCompositeFieldContainer[ScheduleWindow]
    revoked_at: _timestamp_pb2.Timestamp
    def __init__(self, grant_id: _Optional[str] = ..., key_holder_id: _Optional[str] = ..., door_id: _Optional[str] = ..., site_id: _Optional[str] = ..., organisation_id: _Optional[str] = ..., purpose: _Optional[_Union[Purpose, str]] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., windows: _Optional[_Iterable[_Union[ScheduleWindow, _Mapping]]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class IssueGrantRequest(_message.Message):
    __slots__ = ("key_holder_id", "door_id", "site_id", "organisation_id", "valid_from", "valid_until", "windows")
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    DOOR_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    key_holder_id: str
    door_id: str
    site_id: str
    organisation_id: str
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    windows: _containers.RepeatedCompositeFieldContainer[ScheduleWindow]
    def __init__(self, key_holder_id: _Optional[str] = ..., door_id: _Optional[str] = ..., site_id: _Optional[str] = ..., organisation_id: _Optional[str] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., windows: _Optional[_Iterable[_Union[ScheduleWindow, _Mapping]]] = ...) -> None: ...

class RevokeGrantRequest(_message.Message):
    __slots__ = ("grant_id",)
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    def __init__(self, grant_id: _Optional[str] = ...) -> None: ...

class ListGrantsRequest(_message.Message):
    __slots__ = ("key_holder_id",)
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    key_holder_id: str
    def __init__(self, key_holder_id: _Optional[str] = ...) -> None: ...

class ListGrantsResponse(_message.Message):
    __slots__ = ("grants",)
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    grants: _containers.RepeatedCompositeFieldContainer[Grant]
    def __init__(self, grants: _Optional[_Iterable[_Union[Grant, _Mapping]]] = ...) -> None: ...

class GrantItem(_message.Message):
    __slots__ = ("idempotency_key", "key_holder_id", "door_id", "site_id", "valid_from", "valid_until", "windows", "organisation_cvr", "row")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    DOOR_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_CVR_FIELD_NUMBER: _ClassVar[int]
    ROW_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    key_holder_id: str
    door_id: str
    site_id: str
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    windows: _containers.RepeatedCompositeFieldContainer[ScheduleWindow]
    organisation_cvr: str
    row: int
    def __init__(self, idempotency_key: _Optional[str] = ..., key_holder_id: _Optional[str] = ..., door_id: _Optional[str] = ..., site_id: _Optional[str] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., windows: _Optional[_Iterable[_Union[ScheduleWindow, _Mapping]]] = ..., organisation_cvr: _Optional[str] = ..., row: _Optional[int] = ...) -> None: ...

class IssueGrantsRequest(_message.Message):
    __slots__ = ("organisation_id", "items")
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    organisation_id: str
    items: _containers.RepeatedCompositeFieldContainer[GrantItem]
    def __init__(self, organisation_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[GrantItem, _Mapping]]] = ...) -> None: ...

class GrantItemResult(_message.Message):
    __slots__ = ("index", "row", "idempotency_key", "status", "grant_id", "code", "rule", "reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ROW_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    row: int
    idempotency_key: str
    status: GrantItemStatus
    grant_id: str
    code: str
    rule: str
    reason: str
    def __init__(self, index: _Optional[int] = ..., row: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., status: _Optional[_Union[GrantItemStatus, str]] = ..., grant_id: _Optional[str] = ..., code: _Optional[str] = ..., rule: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class IssueGrantsResponse(_message.Message):
    __slots__ = ("results", "created_total", "already_created_total", "rejected_total")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ALREADY_CREATED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    REJECTED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[GrantItemResult]
    created_total: int
    already_created_total: int
    rejected_total: int
    def __init__(self, results: _Optional[_Iterable[_Union[GrantItemResult, _Mapping]]] = ..., created_total: _Optional[int] = ..., already_created_total: _Optional[int] = ..., rejected_total: _Optional[int] = ...) -> None: ...

class RevokeGrantsRequest(_message.Message):
    __slots__ = ("key_holder_id", "organisation_id", "site_id", "door_id")
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    DOOR_ID_FIELD_NUMBER: _ClassVar[int]
    key_holder_id: str
    organisation_id: str
    site_id: str
    door_id: str
    def __init__(self, key_holder_id: _Optional[str] = ..., organisation_id: _Optional[str] = ..., site_id: _Optional[str] = ..., door_id: _Optional[str] = ...) -> None: ...

class RevokeGrantsResponse(_message.Message):
    __slots__ = ("revoked", "key_holders", "revocation_epochs")
    class RevocationEpochsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    KEY_HOLDERS_FIELD_NUMBER: _ClassVar[int]
    REVOCATION_EPOCHS_FIELD_NUMBER: _ClassVar[int]
    revoked: int
    key_holders: int
    revocation_epochs: _containers.ScalarMap[str, int]
    def __init__(self, revoked: _Optional[int] = ..., key_holders: _Optional[int] = ..., revocation_epochs: _Optional[_Mapping[str, int]] = ...) -> None: ...

class ReplaceHolderGrantsRequest(_message.Message):
    __slots__ = ("key_holder_id", "organisation_id", "grants")
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    key_holder_id: str
    organisation_id: str
    grants: _containers.RepeatedCompositeFieldContainer[GrantItem]
    def __init__(self, key_holder_id: _Optional[str] = ..., organisation_id: _Optional[str] = ..., grants: _Optional[_Iterable[_Union[GrantItem, _Mapping]]] = ...) -> None: ...

class ReplaceHolderGrantsResponse(_message.Message):
    __slots__ = ("created", "kept_grant_ids", "revoked")
    CREATED_FIELD_NUMBER: _ClassVar[int]
    KEPT_GRANT_IDS_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    created: _containers.RepeatedCompositeFieldContainer[Grant]
    kept_grant_ids: _containers.RepeatedScalarFieldContainer[str]
    revoked: _containers.RepeatedCompositeFieldContainer[Grant]
    def __init__(self, created: _Optional[_Iterable[_Union[Grant, _Mapping]]] = ..., kept_grant_ids: _Optional[_Iterable[str]] = ..., revoked: _Optional[_Iterable[_Union[Grant, _Mapping]]] = ...) -> None: ...

class ExportGrantsRequest(_message.Message):
    __slots__ = ("organisation_id", "include_inactive")
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    organisation_id: str
    include_inactive: bool
    def __init__(self, organisation_id: _Optional[str] = ..., include_inactive: _Optional[bool] = ...) -> None: ...

class ExportGrantsResponse(_message.Message):
    __slots__ = ("grants",)
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    grants: _containers.RepeatedCompositeFieldContainer[Grant]
    def __init__(self, grants: _Optional[_Iterable[_Union[Grant, _Mapping]]] = ...) -> None: ...

class GetAccessPolicyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PurposeRule(_message.Message):
    __slots__ = ("purpose", "max_validity_days", "site_grants_allowed", "door_grants_allowed", "windows")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    MAX_VALIDITY_DAYS_FIELD_NUMBER: _ClassVar[int]
    SITE_GRANTS_ALLOWED_FIELD_NUMBER: _ClassVar[int]
    DOOR_GRANTS_ALLOWED_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    purpose: Purpose
    max_validity_days: int
    site_grants_allowed: bool
    door_grants_allowed: bool
    windows: _containers.RepeatedCompositeFieldContainer[ScheduleWindow]
    def __init__(self, purpose: _Optional[_Union[Purpose, str]] = ..., max_validity_days: _Optional[int] = ..., site_grants_allowed: _Optional[bool] = ..., door_grants_allowed: _Optional[bool] = ..., windows: _Optional[_Iterable[_Union[ScheduleWindow, _Mapping]]] = ...) -> None: ...

class AccessPolicy(_message.Message):
    __slots__ = ("source", "rules")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    source: str
    rules: _containers.RepeatedCompositeFieldContainer[PurposeRule]
    def __init__(self, source: _Optional[str] = ..., rules: _Optional[_Iterable[_Union[PurposeRule, _Mapping]]] = ...) -> None: ...

class GetVerificationKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetVerificationKeysResponse(_message.Message):
    __slots__ = ("jwks_json", "cose_key_set")
    JWKS_JSON_FIELD_NUMBER: _ClassVar[int]
    COSE_KEY_SET_FIELD_NUMBER: _ClassVar[int]
    jwks_json: str
    cose_key_set: bytes
    def __init__(self, jwks_json: _Optional[str] = ..., cose_key_set: _Optional[bytes] = ...) -> None: ...
