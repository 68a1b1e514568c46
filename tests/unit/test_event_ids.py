"""Event ids are canonical UUIDv7 text, ordered by their millisecond, with 74 random bits."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from authority.domain.events import new_event_id


@given(st.integers(0, 2**48 - 1))
def test_event_id_is_a_canonical_uuid7_of_its_millisecond(ms: int) -> None:
    text = new_event_id(ms)
    parsed = uuid.UUID(text)
    assert str(parsed) == text  # canonical: lowercase, hyphenated
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert parsed.int >> 80 == ms


def test_event_ids_are_random_beyond_the_millisecond() -> None:
    ids = {new_event_id(1_700_000_000_000) for _ in range(2000)}
    assert len(ids) == 2000
    # every random bit position varies: 12 bits after the version, 62 after the variant
    ints = [uuid.UUID(i).int for i in ids]
    random_mask = (0xFFF << 64) | (2**62 - 1)
    varied = 0
    for value in ints:
        varied |= value ^ ints[0]
    assert varied & random_mask == random_mask
    assert varied & ~random_mask == 0


def test_event_ids_sort_by_time() -> None:
    earlier, later = new_event_id(1_000), new_event_id(1_001)
    assert earlier < later
