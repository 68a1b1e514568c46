import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_KIND_UNSPECIFIED: _ClassVar[EventKind]
    EVENT_KIND_UNLOCK: _ClassVar[EventKind]
    EVENT_KIND_RELAY: _ClassVar[EventKind]
    EVENT_KIND_ADMIN: _ClassVar[EventKind]
    EVENT_KIND_LOOKUP: _ClassVar[EventKind]

class AggregateKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGGREGATE_KIND_UNSPECIFIED: _ClassVar[AggregateKind]
    AGGREGATE_KIND_ORGANISATION_DAY: _ClassVar[AggregateKind]
    AGGREGATE_KIND_BUSIEST_DOORS: _ClassVar[AggregateKind]
    AGGREGATE_KIND_DENIAL_REASONS: _ClassVar[AggregateKind]

class OwnerLogRequestStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OWNER_LOG_REQUEST_STATUS_UNSPECIFIED: _ClassVar[OwnerLogRequestStatus]
    OWNER_LOG_REQUEST_STATUS_FILED: _ClassVar[OwnerLogRequestStatus]
    OWNER_LOG_REQUEST_STATUS_DELIVERED: _ClassVar[OwnerLogRequestStatus]
    OWNER_LOG_REQUEST_STATUS_REFUSED: _ClassVar[OwnerLogRequestStatus]
EVENT_KIND_UNSPECIFIED: EventKind
EVENT_KIND_UNLOCK: EventKind
EVENT_KIND_RELAY: EventKind
EVENT_KIND_ADMIN: EventKind
EVENT_KIND_LOOKUP: EventKind
AGGREGATE_KIND_UNSPECIFIED: AggregateKind
AGGREGATE_KIND_ORGANISATION_DAY: AggregateKind
AGGREGATE_KIND_BUSIEST_DOORS: AggregateKind
AGGREGATE_KIND_DENIAL_REASONS: AggregateKind
OWNER_LOG_REQUEST_STATUS_UNSPECIFIED: OwnerLogRequestStatus
OWNER_LOG_REQUEST_STATUS_FILED: OwnerLogRequestStatus
OWNER_LOG_REQUEST_STATUS_DELIVERED: OwnerLogRequestStatus
OWNER_LOG_REQUEST_STATUS_REFUSED: OwnerLogRequestStatus

class EventFilter(_message.Message):
    __slots__ = ("from_time", "to_time", "organisation_id", "site_id", "door_id", "key_holder_id", "kind", "outcome", "reason")
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    DOOR_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    from_time: _timestamp_pb2.Timestamp
    to_time: _timestamp_pb2.Timestamp
    organisation_id: str
    site_id: str
    door_id: str
    key_holder_id: str
    kind: EventKind
    outcome: str
    reason: str
    def __init__(self, from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., to_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., organisation_id: _Optional[str] = ..., site_id: _Optional[str] = ..., door_id: _Optional[str] = ..., key_holder_id: _Optional[str] = ..., kind: _Optional[_Union[EventKind, str]] = ..., outcome: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class QueryEventsRequest(_message.Message):
    __slots__ = ("filter", "cursor", "limit")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    filter: EventFilter
    cursor: str
    limit: int
    def __init__(self, filter: _Optional[_Union[EventFilter, _Mapping]] = ..., cursor: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class AccessEvent(_message.Message):
    __slots__ = ("event_id", "time", "kind", "action", "outcome", "reason", "actor_role", "actor_id", "organisation_id", "site_id", "door_id", "key_holder_id", "grant_id", "token_id", "relay_id", "detail_json")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ROLE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    DOOR_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    RELAY_ID_FIELD_NUMBER: _ClassVar[int]
    DETAIL_JSON_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    time: _timestamp_pb2.Timestamp
    kind: EventKind
    action: str
    outcome: str
    reason: str
    actor_role: str
    actor_id: str
    organisation_id: str
    site_id: str
    door_id: str
    key_holder_id: str
    grant_id: str
    token_id: str
    relay_id: str
    detail_json: str
    def __init__(self, event_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., kind: _Optional[_Union[EventKind, str]] = ..., action: _Optional[str] = ..., outcome: _Optional[str] = ..., reason: _Optional[str] = ..., actor_role: _Optional[str] = ..., actor_id: _Optional[str] = ..., organisation_id: _Optional[str] = ..., site_id: _Optional[str] = ..., door_id: _Optional[str] = ..., key_holder_id: _Optional[str] = ..., grant_id: _Optional[str] = ..., token_id: _Optional[str] = ..., relay_id: _Optional[str] = ..., detail_json: _Optional[str] = ...) -> None: ...

class QueryEventsResponse(_message.Message):
    __slots__ = ("events", "next_cursor")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AccessEvent]
    next_cursor: str
    def __init__(self, events: _Optional[_Iterable[_Union[AccessEvent, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class AggregateEventsRequest(_message.Message):
    __slots__ = ("filter", "kind", "top", "time_zone")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    filter: EventFilter
    kind: AggregateKind
    top: int
    time_zone: str
    def __init__(self, filter: _Optional[_Union[EventFilter, _Mapping]] = ..., kind: _Optional[_Union[AggregateKind, str]] = ..., top: _Optional[int] = ..., time_zone: _Optional[str] = ...) -> None: ...

class OrganisationDayCount(_message.Message):
    __slots__ = ("organisation_id", "day", "events", "allowed", "denied")
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    DENIED_FIELD_NUMBER: _ClassVar[int]
    organisation_id: str
    day: str
    events: int
    allowed: int
    denied: int
    def __init__(self, organisation_id: _Optional[str] = ..., day: _Optional[str] = ..., events: _Optional[int] = ..., allowed: _Optional[int] = ..., denied: _Optional[int] = ...) -> None: ...

class DoorCount(_message.Message):
    __slots__ = ("site_id", "door_id", "events")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    DOOR_ID_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    door_id: str
    events: int
    def __init__(self, site_id: _Optional[str] = ..., door_id: _Optional[str] = ..., events: _Optional[int] = ...) -> None: ...

class ReasonCount(_message.Message):
    __slots__ = ("reason", "events")
    REASON_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    reason: str
    events: int
    def __init__(self, reason: _Optional[str] = ..., events: _Optional[int] = ...) -> None: ...

class AggregateEventsResponse(_message.Message):
    __slots__ = ("organisation_days", "doors", "reasons")
    ORGANISATION_DAYS_FIELD_NUMBER: _ClassVar[int]
    DOORS_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    organisation_days: _containers.RepeatedCompositeFieldContainer[OrganisationDayCount]
    doors: _containers.RepeatedCompositeFieldContainer[DoorCount]
    reasons: _containers.RepeatedCompositeFieldContainer[ReasonCount]
    def __init__(self, organisation_days: _Optional[_Iterable[_Union[OrganisationDayCount, _Mapping]]] = ..., doors: _Optional[_Iterable[_Union[DoorCount, _Mapping]]] = ..., reasons: _Optional[_Iterable[_Union[ReasonCount, _Mapping]]] = ...) -> None: ...

class CreateSiteOwnerCredentialRequest(_message.Message):
    __slots__ = ("owner_id",)
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    def __init__(self, owner_id: _Optional[str] = ...) -> None: ...

class CreateAnalystCredentialRequest(_message.Message):
    __slots__ = ("organisation_id", "all_organisations")
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    ALL_ORGANISATIONS_FIELD_NUMBER: _ClassVar[int]
    organisation_id: str
    all_organisations: bool
    def __init__(self, organisation_id: _Optional[str] = ..., all_organisations: _Optional[bool] = ...) -> None: ...

class CreateReaderCredentialResponse(_message.Message):
    __slots__ = ("credential_id", "credential")
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    credential: str
    def __init__(self, credential_id: _Optional[str] = ..., credential: _Optional[str] = ...) -> None: ...

class ListSiteOrganisationsRequest(_message.Message):
    __slots__ = ("site_id",)
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    def __init__(self, site_id: _Optional[str] = ...) -> None: ...

class SiteOrganisation(_message.Message):
    __slots__ = ("organisation_id", "name", "purpose", "status", "blocked_by_site_owner", "grants", "key_holders", "whole_site", "door_ids", "valid_until")
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_BY_SITE_OWNER_FIELD_NUMBER: _ClassVar[int]
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    KEY_HOLDERS_FIELD_NUMBER: _ClassVar[int]
    WHOLE_SITE_FIELD_NUMBER: _ClassVar[int]
    DOOR_IDS_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    organisation_id: str
    name: str
    purpose: str
    status: str
    blocked_by_site_owner: bool
    grants: int
    key_holders: int
    whole_site: bool
    door_ids: _containers.RepeatedScalarFieldContainer[str]
    valid_until: _timestamp_pb2.Timestamp
    def __init__(self, organisation_id: _Optional[str] = ..., name: _Optional[str] = ..., purpose: _Optional[str] = ..., status: _Optional[str] = ..., blocked_by_site_owner: _Optional[bool] = ..., grants: _Optional[int] = ..., key_holders: _Optional[int] = ..., whole_site: _Optional[bool] = ..., door_ids: _Optional[_Iterable[str]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListSiteOrganisationsResponse(_message.Message):
    __slots__ = ("site_id", "organisations")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANISATIONS_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    organisations: _containers.RepeatedCompositeFieldContainer[SiteOrganisation]
    def __init__(self, site_id: _Optional[str] = ..., organisations: _Optional[_Iterable[_Union[SiteOrganisation, _Mapping]]] = ...) -> None: ...

class FileOwnerLogRequestRequest(_message.Message):
    __slots__ = ("site_id", "from_time", "to_time", "purpose", "suspected_crime")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    SUSPECTED_CRIME_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    from_time: _timestamp_pb2.Timestamp
    to_time: _timestamp_pb2.Timestamp
    purpose: str
    suspected_crime: bool
    def __init__(self, site_id: _Optional[str] = ..., from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., to_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., purpose: _Optional[str] = ..., suspected_crime: _Optional[bool] = ...) -> None: ...

class OwnerLogRequest(_message.Message):
    __slots__ = ("request_id", "owner_id", "site_id", "from_time", "to_time", "purpose", "suspected_crime", "filed_at", "year", "sequence_in_year", "fee_net_ore", "fee_vat_ore", "fee_total_ore", "status", "paid_at", "decided_at", "refusal_reason", "delivered_entries")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    SUSPECTED_CRIME_FIELD_NUMBER: _ClassVar[int]
    FILED_AT_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_IN_YEAR_FIELD_NUMBER: _ClassVar[int]
    FEE_NET_ORE_FIELD_NUMBER: _ClassVar[int]
    FEE_VAT_ORE_FIELD_NUMBER: _ClassVar[int]
    FEE_TOTAL_ORE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAID_AT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_REASON_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    owner_id: str
    site_id: str
    from_time: _timestamp_pb2.Timestamp
    to_time: _timestamp_pb2.Timestamp
    purpose: str
    suspected_crime: bool
    filed_at: _timestamp_pb2.Timestamp
    year: int
    sequence_in_year: int
    fee_net_ore: int
    fee_vat_ore: int
    fee_total_ore: int
    status: OwnerLogRequestStatus
    paid_at: _timestamp_pb2.Timestamp
    decided_at: _timestamp_pb2.Timestamp
    refusal_reason: str
    delivered_entries: int
    def __init__(self, request_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., site_id: _Optional[str] = ..., from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., to_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., purpose: _Optional[str] = ..., suspected_crime: _Optional[bool] = ..., filed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., year: _Optional[int] = ..., sequence_in_year: _Optional[int] = ..., fee_net_ore: _Optional[int] = ..., fee_vat_ore: _Optional[int] = ..., fee_total_ore: _Optional[int] = ..., status: _Optional[_Union[OwnerLogRequestStatus, str]] = ..., paid_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., refusal_reason: _Optional[str] = ..., delivered_entries: _Optional[int] = ...) -> None: ...

class GetOwnerLogRequestRequest(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class ListOwnerLogRequestsRequest(_message.Message):
    __slots__ = ("owner_id", "year")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    year: int
    def __init__(self, owner_id: _Optional[str] = ..., year: _Optional[int] = ...) -> None: ...

class ListOwnerLogRequestsResponse(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[OwnerLogRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[OwnerLogRequest, _Mapping]]] = ...) -> None: ...

class RecordOwnerLogRequestPaymentRequest(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class RefuseOwnerLogRequestRequest(_message.Message):
    __slots__ = ("request_id", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DeliverOwnerLogRequestRequest(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class StairwellEntry(_message.Message):
    __slots__ = ("time", "door_id", "organisation_id", "organisation_name")
    TIME_FIELD_NUMBER: _ClassVar[int]
    DOOR_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_NAME_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    door_id: str
    organisation_id: str
    organisation_name: str
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., door_id: _Optional[str] = ..., organisation_id: _Optional[str] = ..., organisation_name: _Optional[str] = ...) -> None: ...

class DeliverOwnerLogRequestResponse(_message.Message):
    __slots__ = ("request", "entries")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    request: OwnerLogRequest
    entries: _containers.RepeatedCompositeFieldContainer[StairwellEntry]
    def __init__(self, request: _Optional[_Union[OwnerLogRequest, _Mapping]] = ..., entries: _Optional[_Iterable[_Union[StairwellEntry, _Mapping]]] = ...) -> None: ...
