"""Datetimes as protobuf ``Timestamp`` fields of the client's requests."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp


def timestamp(dt: datetime) -> Timestamp:
    """``dt`` (an aware datetime) as a ``Timestamp``, in UTC."""
    ts = Timestamp()
    ts.FromDatetime(dt.astimezone(UTC))
    return ts
