import datetime

from authority.v1 import accesslog_pb2 as _accesslog_pb2
from authority.v1 import authority_pb2 as _authority_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PersonProfile(_message.Message):
    __slots__ = ("name", "phone", "email", "cpr", "bluetooth_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    CPR_FIELD_NUMBER: _ClassVar[int]
    BLUETOOTH_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    phone: str
    email: str
    cpr: str
    bluetooth_id: str
    def __init__(self, name: _Optional[str] = ..., phone: _Optional[str] = ..., email: _Optional[str] = ..., cpr: _Optional[str] = ..., bluetooth_id: _Optional[str] = ...) -> None: ...

class SetPersonProfileRequest(_message.Message):
    __slots__ = ("key_holder_id", "profile")
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    key_holder_id: str
    profile: PersonProfile
    def __init__(self, key_holder_id: _Optional[str] = ..., profile: _Optional[_Union[PersonProfile, _Mapping]] = ...) -> None: ...

class GetPersonProfileRequest(_message.Message):
    __slots__ = ("key_holder_id",)
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    key_holder_id: str
    def __init__(self, key_holder_id: _Optional[str] = ...) -> None: ...

class ExportPersonDataRequest(_message.Message):
    __slots__ = ("key_holder_id",)
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    key_holder_id: str
    def __init__(self, key_holder_id: _Optional[str] = ...) -> None: ...

class Consent(_message.Message):
    __slots__ = ("purpose", "text_version", "given_at", "withdrawn_at")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    TEXT_VERSION_FIELD_NUMBER: _ClassVar[int]
    GIVEN_AT_FIELD_NUMBER: _ClassVar[int]
    WITHDRAWN_AT_FIELD_NUMBER: _ClassVar[int]
    purpose: str
    text_version: str
    given_at: _timestamp_pb2.Timestamp
    withdrawn_at: _timestamp_pb2.Timestamp
    def __init__(self, purpose: _Optional[str] = ..., text_version: _Optional[str] = ..., given_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., withdrawn_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ExportPersonDataResponse(_message.Message):
    __slots__ = ("key_holder", "profile", "consents", "grants", "door_units", "erasure_due_at", "events")
    KEY_HOLDER_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    CONSENTS_FIELD_NUMBER: _ClassVar[int]
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    DOOR_UNITS_FIELD_NUMBER: _ClassVar[int]
    ERASURE_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    key_holder: _authority_pb2.KeyHolder
    profile: PersonProfile
    consents: _containers.RepeatedCompositeFieldContainer[Consent]
    grants: _containers.RepeatedCompositeFieldContainer[_authority_pb2.Grant]
    door_units: _containers.RepeatedScalarFieldContainer[str]
    erasure_due_at: _timestamp_pb2.Timestamp
    events: _containers.RepeatedCompositeFieldContainer[_accesslog_pb2.AccessEvent]
    def __init__(self, key_holder: _Optional[_Union[_authority_pb2.KeyHolder, _Mapping]] = ..., profile: _Optional[_Union[PersonProfile, _Mapping]] = ..., consents: _Optional[_Iterable[_Union[Consent, _Mapping]]] = ..., grants: _Optional[_Iterable[_Union[_authority_pb2.Grant, _Mapping]]] = ..., door_units: _Optional[_Iterable[str]] = ..., erasure_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., events: _Optional[_Iterable[_Union[_accesslog_pb2.AccessEvent, _Mapping]]] = ...) -> None: ...

class RequestErasureRequest(_message.Message):
    __slots__ = ("key_holder_id",)
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    key_holder_id: str
    def __init__(self, key_holder_id: _Optional[str] = ...) -> None: ...

class RequestErasureResponse(_message.Message):
    __slots__ = ("erased", "due_at")
    ERASED_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    erased: bool
    due_at: _timestamp_pb2.Timestamp
    def __init__(self, erased: _Optional[bool] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RestrictProcessingRequest(_message.Message):
    __slots__ = ("key_holder_id",)
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    key_holder_id: str
    def __init__(self, key_holder_id: _Optional[str] = ...) -> None: ...

class LiftRestrictionRequest(_message.Message):
    __slots__ = ("key_holder_id",)
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    key_holder_id: str
    def __init__(self, key_holder_id: _Optional[str] = ...) -> None: ...

class GiveConsentRequest(_message.Message):
    __slots__ = ("key_holder_id", "purpose", "text_version")
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    TEXT_VERSION_FIELD_NUMBER: _ClassVar[int]
    key_holder_id: str
    purpose: str
    text_version: str
    def __init__(self, key_holder_id: _Optional[str] = ..., purpose: _Optional[str] = ..., text_version: _Optional[str] = ...) -> None: ...

class WithdrawConsentRequest(_message.Message):
    __slots__ = ("key_holder_id", "purpose")
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    key_holder_id: str
    purpose: str
    def __init__(self, key_holder_id: _Optional[str] = ..., purpose: _Optional[str] = ...) -> None: ...

class ListConsentsRequest(_message.Message):
    __slots__ = ("key_holder_id",)
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    key_holder_id: str
    def __init__(self, key_holder_id: _Optional[str] = ...) -> None: ...

class ListConsentsResponse(_message.Message):
    __slots__ = ("consents",)
    CONSENTS_FIELD_NUMBER: _ClassVar[int]
    consents: _containers.RepeatedCompositeFieldContainer[Consent]
    def __init__(self, consents: _Optional[_Iterable[_Union[Consent, _Mapping]]] = ...) -> None: ...

class FindKeyHolderByPhoneRequest(_message.Message):
    __slots__ = ("phone",)
    PHONE_FIELD_NUMBER: _ClassVar[int]
    phone: str
    def __init__(self, phone: _Optional[str] = ...) -> None: ...

class DoorUnitRequest(_message.Message):
    __slots__ = ("key_holder_id", "site_id")
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    key_holder_id: str
    site_id: str
    def __init__(self, key_holder_id: _Optional[str] = ..., site_id: _Optional[str] = ...) -> None: ...

class DoorUnitsResponse(_message.Message):
    __slots__ = ("site_ids",)
    SITE_IDS_FIELD_NUMBER: _ClassVar[int]
    site_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, site_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class RunPrivacySweepRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RunPrivacySweepResponse(_message.Message):
    __slots__ = ("erased_on_request", "erased_inactive", "kept_administering")
    ERASED_ON_REQUEST_FIELD_NUMBER: _ClassVar[int]
    ERASED_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    KEPT_ADMINISTERING_FIELD_NUMBER: _ClassVar[int]
    erased_on_request: _containers.RepeatedScalarFieldContainer[str]
    erased_inactive: _containers.RepeatedScalarFieldContainer[str]
    kept_administering: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, erased_on_request: _Optional[_Iterable[str]] = ..., erased_inactive: _Optional[_Iterable[str]] = ..., kept_administering: _Optional[_Iterable[str]] = ...) -> None: ...

class GetPrivacyReportRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LabelledCount(_message.Message):
    __slots__ = ("label", "count")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    label: str
    count: int
    def __init__(self, label: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class PrivacyReport(_message.Message):
    __slots__ = ("categories", "last_use_ages", "log_event_ages")
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    LAST_USE_AGES_FIELD_NUMBER: _ClassVar[int]
    LOG_EVENT_AGES_FIELD_NUMBER: _ClassVar[int]
    categories: _containers.RepeatedCompositeFieldContainer[LabelledCount]
    last_use_ages: _containers.RepeatedCompositeFieldContainer[LabelledCount]
    log_event_ages: _containers.RepeatedCompositeFieldContainer[LabelledCount]
    def __init__(self, categories: _Optional[_Iterable[_Union[LabelledCount, _Mapping]]] = ..., last_use_ages: _Optional[_Iterable[_Union[LabelledCount, _Mapping]]] = ..., log_event_ages: _Optional[_Iterable[_Union[LabelledCount, _Mapping]]] = ...) -> None: ...
