"""Protobuf <-> domain conversion. Protobuf messages stop here; the domain never sees them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from authority.api.errors import status_for
from authority.domain.bulk import ItemResult, ItemStatus
from authority.domain.decision import DecisionReason
from authority.domain.errors import AuthorityError, InvalidArgument
from authority.domain.model import (
    Door,
    Grant,
    HolderStatus,
    KeyHolder,
    Organisation,
    OrganisationStatus,
    Purpose,
    Site,
)
from authority.domain.policy import AccessPolicy, TargetKind
from authority.domain.relay import RelayOutcome
from authority.domain.schedule import WeeklyWindow
from authority.usecases.fleet import GrantItemRequest
from authority.v1 import authority_pb2 as pb

PURPOSE_TO_PB = {
    Purpose.POSTAL: pb.PURPOSE_POSTAL,
    Purpose.DELIVERY: pb.PURPOSE_DELIVERY,
    Purpose.PUBLIC_SERVICE: pb.PURPOSE_PUBLIC_SERVICE,
    Purpose.PRIVATE: pb.PURPOSE_PRIVATE,
}
PURPOSE_FROM_PB = {v: k for k, v in PURPOSE_TO_PB.items()}
ORG_STATUS_TO_PB = {
    OrganisationStatus.PENDING: pb.ORGANISATION_STATUS_PENDING,
    OrganisationStatus.APPROVED: pb.ORGANISATION_STATUS_APPROVED,
    OrganisationStatus.REJECTED: pb.ORGANISATION_STATUS_REJECTED,
    OrganisationStatus.SUSPENDED: pb.ORGANISATION_STATUS_SUSPENDED,
}
ORG_STATUS_FROM_PB = {v: k for k, v in ORG_STATUS_TO_PB.items()}
HOLDER_STATUS_TO_PB = {
    HolderStatus.ACTIVE: pb.KEY_HOLDER_STATUS_ACTIVE,
    HolderStatus.SUSPENDED: pb.KEY_HOLDER_STATUS_SUSPENDED,
    HolderStatus.RESTRICTED: pb.KEY_HOLDER_STATUS_RESTRICTED,
}
HOLDER_STATUS_FROM_PB = {  # RESTRICTED is set and lifted through PrivacyService only
    pb.KEY_HOLDER_STATUS_ACTIVE: HolderStatus.ACTIVE,
    pb.KEY_HOLDER_STATUS_SUSPENDED: HolderStatus.SUSPENDED,
}
REASON_TO_PB = {
    DecisionReason.GRANTED: pb.DECISION_REASON_GRANTED,
    DecisionReason.NO_GRANT: pb.DECISION_REASON_NO_GRANT,
    DecisionReason.NOT_YET_VALID: pb.DECISION_REASON_NOT_YET_VALID,
    DecisionReason.EXPIRED: pb.DECISION_REASON_EXPIRED,
    DecisionReason.OUTSIDE_SCHEDULE: pb.DECISION_REASON_OUTSIDE_SCHEDULE,
    DecisionReason.REVOKED: pb.DECISION_REASON_REVOKED,
    DecisionReason.ORGANISATION_NOT_APPROVED: pb.DECISION_REASON_ORGANISATION_NOT_APPROVED,
    DecisionReason.ORGANISATION_SUSPENDED: pb.DECISION_REASON_ORGANISATION_SUSPENDED,
    DecisionReason.ORGANISATION_BLOCKED_BY_SITE_OWNER: (
        pb.DECISION_REASON_ORGANISATION_BLOCKED_BY_SITE_OWNER
    ),
    DecisionReason.DOOR_UNKNOWN: pb.DECISION_REASON_DOOR_UNKNOWN,
    DecisionReason.HOLDER_SUSPENDED: pb.DECISION_REASON_HOLDER_SUSPENDED,
    DecisionReason.OFFLINE_NOT_ALLOWED: pb.DECISION_REASON_OFFLINE_NOT_ALLOWED,
    DecisionReason.OUTSIDE_POLICY: pb.DECISION_REASON_OUTSIDE_POLICY,
    DecisionReason.HOLDER_RESTRICTED: pb.DECISION_REASON_HOLDER_RESTRICTED,
}
ITEM_STATUS_TO_PB = {
    ItemStatus.CREATED: pb.GRANT_ITEM_STATUS_CREATED,
    ItemStatus.ALREADY_CREATED: pb.GRANT_ITEM_STATUS_ALREADY_CREATED,
    ItemStatus.REJECTED: pb.GRANT_ITEM_STATUS_REJECTED,
}
RELAY_OUTCOME_TO_PB = {
    RelayOutcome.OPENED: pb.RELAY_OUTCOME_OPENED,
    RelayOutcome.REJECTED: pb.RELAY_OUTCOME_REJECTED,
}


def timestamp(dt: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(dt.astimezone(UTC))
    return ts


def from_timestamp(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def optional_timestamp(message: object, field: str) -> datetime | None:
    if not message.HasField(field):  # type: ignore[attr-defined]
        return None
    value: Timestamp = getattr(message, field)
    if not -62135596800 <= value.seconds <= 253402300799 or not 0 <= value.nanos < 10**9:
        raise InvalidArgument(f"{field} is not a valid timestamp")
    return from_timestamp(value)


def enum_value(mapping: dict[int, object], value: int, field: str) -> object:
    if value not in mapping:
        raise InvalidArgument(f"{field} has an unknown or unspecified value {value}")
    return mapping[value]


def windows_from_pb(windows: Iterable[pb.ScheduleWindow]) -> list[WeeklyWindow]:
    out = []
    for i, w in enumerate(windows):
        days = set()
        for d in w.days:
            if not 1 <= d <= 7:
                raise InvalidArgument(f"windows[{i}].days: {d} is not a weekday (1-7)")
            days.add(int(d))
        try:
            out.append(WeeklyWindow(frozenset(days), int(w.start_minute), int(w.end_minute)))
        except InvalidArgument as exc:
            raise InvalidArgument(f"windows[{i}]: {exc}") from exc
    return out


def organisation_to_pb(o: Organisation) -> pb.Organisation:
    return pb.Organisation(
        organisation_id=o.organisation_id,
        name=o.name,
        cvr=o.cvr or "",
        se=o.se or "",
        public_body=o.public_body,
        purpose=PURPOSE_TO_PB[o.purpose],
        status=ORG_STATUS_TO_PB[o.status],
        status_reason=o.status_reason,
        created_at=timestamp(o.created_at),
    )


def site_to_pb(s: Site) -> pb.Site:
    return pb.Site(
        site_id=s.site_id,
        address=s.address,
        owner_id=s.owner_id,
        time_zone=s.time_zone,
        offline_allowed=s.offline_allowed,
        blocked_organisation_ids=sorted(s.blocked_organisations),
        revocation_epoch=s.revocation_epoch,
    )


def door_to_pb(d: Door) -> pb.Door:
    return pb.Door(
        door_id=d.door_id,
        site_id=d.site_id,
        relay_id=d.relay_id,
        label=d.label,
        relay_public_key=d.relay_public_key or b"",
    )


def holder_to_pb(h: KeyHolder) -> pb.KeyHolder:
    return pb.KeyHolder(
        key_holder_id=h.key_holder_id,
        organisation_id=h.organisation_id,
        status=HOLDER_STATUS_TO_PB[h.status],
        created_at=timestamp(h.created_at),
    )


def windows_to_pb(windows: Iterable[WeeklyWindow]) -> list[pb.ScheduleWindow]:
    return [
        pb.ScheduleWindow(
            days=sorted(w.days),  # type: ignore[arg-type]
            start_minute=w.start_minute,
            end_minute=w.end_minute,
        )
        for w in windows
    ]


def grant_item_from_pb(item: pb.GrantItem, index: int) -> GrantItemRequest:
    """One bulk item; a malformed timestamp or window becomes the item's own error (the item is
    rejected, the stream goes on)."""
    try:
        return GrantItemRequest(
            index=index,
            row=item.row,
            idempotency_key=item.idempotency_key,
            key_holder_id=item.key_holder_id,
            door_id=item.door_id,
            site_id=item.site_id,
            valid_from=optional_timestamp(item, "valid_from"),
            valid_until=optional_timestamp(item, "valid_until"),
            windows=tuple(windows_from_pb(item.windows)),
            organisation_cvr=item.organisation_cvr,
        )
    except AuthorityError as exc:
        return GrantItemRequest(
            index=index, row=item.row, idempotency_key=item.idempotency_key, error=exc
        )


def item_result_to_pb(r: ItemResult) -> pb.GrantItemResult:
    return pb.GrantItemResult(
        index=r.index,
        row=r.row,
        idempotency_key=r.idempotency_key,
        status=ITEM_STATUS_TO_PB[r.status],
        grant_id=r.grant_id,
        code=status_for(r.error).name if r.error is not None else "",
        rule=r.rule,
        reason=str(r.error) if r.error is not None else "",
    )


def policy_to_pb(policy: AccessPolicy) -> pb.AccessPolicy:
    return pb.AccessPolicy(
        source=policy.source,
        rules=[
            pb.PurposeRule(
                purpose=PURPOSE_TO_PB[purpose],
                max_validity_days=rule.max_validity.days,
                site_grants_allowed=TargetKind.SITE in rule.targets,
                door_grants_allowed=TargetKind.DOOR in rule.targets,
                windows=windows_to_pb(rule.windows),
            )
            for purpose, rule in policy.rules.items()
        ],
    )


def grant_to_pb(g: Grant) -> pb.Grant:
    msg = pb.Grant(
        grant_id=g.grant_id,
        key_holder_id=g.key_holder_id,
        door_id=g.target.door_id or "",
        site_id=g.target.site_id or "",
        organisation_id=g.organisation_id,
        purpose=PURPOSE_TO_PB[g.purpose],
        valid_from=timestamp(g.valid_from),
        valid_until=timestamp(g.valid_until),
        windows=windows_to_pb(g.windows),
    )
    if g.revoked_at is not None:
        msg.revoked_at.CopyFrom(timestamp(g.revoked_at))
    return msg
