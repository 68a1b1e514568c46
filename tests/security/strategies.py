"""Hypothesis strategies for any protobuf request, generated from its descriptor.

Every field may be set or left out; scalars reach their edges (int64 extremes, NaN, unknown enum
numbers), strings include control characters, right-to-left marks, path tricks, ids that exist
on the server under test and very long values (one beyond the server's message limit), nested
messages go three levels deep, repeated and map fields get a few entries, oneofs get any member
(or, by setting members in turn, the last one set wins, as on the wire).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

F = FieldDescriptor
MAX_DEPTH = 3
WEIRD_TEXT = (
    "", " ", "\x00", "\t\n", "../../etc/passwd", "%s%n%x", "'; DROP TABLE grants; --", "{}",
    "\u202egnp.exe", "ä" * 70, "🔑" * 40, "x" * 101, "x" * 300, "x" * 5000,
    "2027-03-01T06:00:00+01:00", "-1", "9" * 40, "Mon-Fri 06:00-09:00", "urn:authority:org:x",
    "Bearer x", "kh_x.y", "adm_.", "\ud7ff", "\U0010ffff",
)  # fmt: skip
HUGE = ("x" * 70_000, "x" * 300_000)
"""Under and over the server's default message limit (256 KiB)."""

_INT_EDGES = {
    32: (0, 1, -1, 2**31 - 1, -(2**31)),
    64: (0, 1, -1, 2**63 - 1, -(2**63), 2**53 + 1, 10**12, -(10**12)),
}


def _signed(bits: int) -> st.SearchStrategy[int]:
    edge = st.sampled_from(_INT_EDGES[bits])
    return st.one_of(edge, st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1))


def _unsigned(bits: int) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from((0, 1, 2**bits - 1)), st.integers(0, 2**bits - 1))


def text_values(known: Sequence[str]) -> st.SearchStrategy[str]:
    pools: list[st.SearchStrategy[str]] = [st.text(max_size=40), st.sampled_from(WEIRD_TEXT)]
    if known:
        pools.append(st.sampled_from(tuple(known)))
    return st.one_of(*pools, st.sampled_from(HUGE))


def _scalar(field: FieldDescriptor, known: Sequence[str]) -> st.SearchStrategy[Any]:
    t = field.type
    if t in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32):
        return _signed(32)
    if t in (F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64):
        return _signed(64)
    if t in (F.TYPE_UINT32, F.TYPE_FIXED32):
        return _unsigned(32)
    if t in (F.TYPE_UINT64, F.TYPE_FIXED64):
        return _unsigned(64)
    if t == F.TYPE_BOOL:
        return st.booleans()
    if t == F.TYPE_FLOAT:
        return st.floats(width=32)
    if t == F.TYPE_DOUBLE:
        return st.floats()
    if t == F.TYPE_STRING:
        return text_values(known)
    if t == F.TYPE_BYTES:
        return st.one_of(
            st.binary(max_size=80), st.sampled_from((b"", b"\x00" * 32, b"\xff" * 300_000))
        )
    if t == F.TYPE_ENUM:
        numbers = tuple(v.number for v in field.enum_type.values)
        return st.one_of(st.sampled_from(numbers), st.integers(-3, 10_000))
    raise AssertionError(f"unhandled field type {t} of {field.full_name}")


def messages(
    descriptor: Descriptor, *, known: Sequence[str] = (), depth: int = 0
) -> st.SearchStrategy[Message]:
    """Any message of this type (see module docstring)."""
    cls = message_factory.GetMessageClass(descriptor)
    if depth >= MAX_DEPTH:
        return st.just(cls())
    fields = list(descriptor.fields)

    def value(field: FieldDescriptor) -> st.SearchStrategy[Any]:
        if field.type == F.TYPE_MESSAGE:
            return st.deferred(lambda: messages(field.message_type, known=known, depth=depth + 1))
        return _scalar(field, known)

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        msg = cls()
        chosen = draw(st.lists(st.sampled_from(fields), unique=True)) if fields else []
        for field in chosen:
            target = getattr(msg, field.name)
            if field.type == F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
                key_f, value_f = field.message_type.fields
                for _ in range(draw(st.integers(0, 3))):
                    k = draw(_scalar(key_f, known))
                    if value_f.type == F.TYPE_MESSAGE:
                        target[k].CopyFrom(draw(value(value_f)))
                    else:
                        target[k] = draw(_scalar(value_f, known))
            elif field.is_repeated:
                items = draw(st.lists(value(field), max_size=4))
                if field.type == F.TYPE_MESSAGE:
                    for item in items:
                        target.add().CopyFrom(item)
                else:
                    target.extend(items)
            elif field.type == F.TYPE_MESSAGE:
                target.CopyFrom(draw(value(field)))
            else:
                setattr(msg, field.name, draw(value(field)))
        return msg

    return build()
