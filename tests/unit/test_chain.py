"""The hash chain, canonical encodings and checkpoint signatures (pure, no engines)."""

from __future__ import annotations

import hashlib
import json
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authority.adapters.clickhouse.audit import load_audit_public_keys, load_or_create_audit_key
from authority.adapters.clickhouse.chain import (
    GENESIS,
    AuditKey,
    ChainHead,
    canonical_event,
    canonical_from_entry,
    checkpoint_message,
    extend,
    link,
    verify_checkpoint,
)
from authority.adapters.crypto.keyring import Keyring
from authority.adapters.redis.event_buffer import entry_bytes
from authority.domain.errors import BadSignature, InvalidArgument, UnknownKey
from authority.domain.events import (
    CANONICAL_FIELDS,
    EVENT_FIELDS,
    AccessEvent,
    EventKind,
    encode_canonical,
    new_event_id,
)

T0 = 1_795_000_000_000


def make(i: int = 0, **fields: str) -> AccessEvent:
    return AccessEvent(
        event_id=new_event_id(T0 + i),
        ts_ms=T0 + i,
        kind=EventKind.UNLOCK,
        action="unlock",
        outcome="allow",
        site_id="site-1",
        door_id=f"door-{i}",
        **fields,
    )


def buffer_entry(e: AccessEvent) -> bytes:
    """What ``RedisEventBuffer`` wrote before it sorted keys (compact JSON in the dataclass's
    field order): entries like this may still wait in a stream after an upgrade."""
    return json.dumps(e.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()


# -- the chain ---------------------------------------------------------------------------------


def test_genesis_is_zero_and_each_link_hashes_the_previous_hash_then_the_event() -> None:
    assert ChainHead(0, bytes(32)) == GENESIS
    events = [make(i) for i in range(3)]
    heads = extend(GENESIS, [e.canonical_bytes() for e in events])
    expected = bytes(32)
    for seq, (e, head) in enumerate(zip(events, heads, strict=True), 1):
        expected = hashlib.sha256(expected + e.canonical_bytes()).digest()
        assert head == ChainHead(seq, expected)
    assert link(heads[1].hash, events[2].canonical_bytes()) == heads[2].hash


def test_extending_in_two_steps_equals_one_step() -> None:
    canon = [make(i).canonical_bytes() for i in range(5)]
    whole = extend(GENESIS, canon)
    first = extend(GENESIS, canon[:2])
    assert first + extend(first[-1], canon[2:]) == whole


def test_changing_any_event_changes_every_later_hash() -> None:
    canon = [make(i).canonical_bytes() for i in range(4)]
    changed = [*canon[:1], make(1, reason="x").canonical_bytes(), *canon[2:]]
    a, b = extend(GENESIS, canon), extend(GENESIS, changed)
    assert a[0] == b[0]
    assert all(x.hash != y.hash for x, y in zip(a[1:], b[1:], strict=True))


def test_a_head_must_be_32_bytes() -> None:
    with pytest.raises(InvalidArgument):
        ChainHead(1, b"short")


# -- canonical bytes ---------------------------------------------------------------------------

nasty_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)),  # lone surrogates are not UTF-8
    max_size=12,
)


@st.composite
def events(draw: st.DrawFn) -> AccessEvent:
    optional = {
        name: draw(nasty_text)
        for name in EVENT_FIELDS
        if name not in ("event_id", "ts_ms", "kind", "action", "outcome")
    }
    return AccessEvent(
        event_id=new_event_id(draw(st.integers(0, 2**42))),
        ts_ms=draw(st.integers(0, 9_999_999_999_999)),
        kind=draw(st.sampled_from(list(EventKind))),
        action=draw(nasty_text),
        outcome=draw(nasty_text),
        **optional,
    )


@settings(max_examples=300, deadline=None)
@given(events())
def test_every_encoder_equals_canonical_bytes(e: AccessEvent) -> None:
    expected = e.canonical_bytes()
    d = e.to_dict()
    assert encode_canonical([d[name] for name in CANONICAL_FIELDS]) == expected
    assert canonical_event(d) == expected
    assert canonical_from_entry(buffer_entry(e)) == expected  # the buffer's field order
    assert entry_bytes(e) == expected  # what the buffer writes now
    assert canonical_from_entry(expected) == expected  # already canonical
    spaced = json.dumps(d, indent=1, ensure_ascii=True).encode()  # any other valid JSON
    assert canonical_from_entry(spaced) == expected


def test_control_characters_quotes_and_non_ascii_take_the_fast_path_exactly() -> None:
    text = "".join(chr(c) for c in range(0x20)) + '"\\/\x7fæøå\u2028😀'
    e = make(0, detail=text, reason='{"a":[1,"b"]}')
    assert canonical_from_entry(buffer_entry(e)) == e.canonical_bytes()


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        (b"not json", "not JSON"),
        (b"[1,2]", "not a JSON object"),
        (b"\xff\xfe", "not UTF-8"),
        (json.dumps({**make().to_dict(), "extra": "x"}).encode(), "unknown event field"),
        (json.dumps({"event_id": new_event_id(T0), "ts_ms": T0}).encode(), "missing"),
        (json.dumps({**make().to_dict(), "ts_ms": "1"}).encode(), "ts_ms"),
        (json.dumps({**make().to_dict(), "ts_ms": True}).encode(), "ts_ms"),
        (json.dumps({**make().to_dict(), "ts_ms": -1}).encode(), "ts_ms"),
        (json.dumps({**make().to_dict(), "ts_ms": 10**13}).encode(), "ts_ms"),
        (json.dumps({**make().to_dict(), "site_id": 7}).encode(), "site_id must be a string"),
        (json.dumps({**make().to_dict(), "kind": "open"}).encode(), "kind must be one of"),
        (
            json.dumps({**make().to_dict(), "event_id": new_event_id(T0).upper()}).encode(),
            "event_id",
        ),
        (json.dumps({**make().to_dict(), "event_id": "x"}).encode(), "event_id"),
        (json.dumps({**make().to_dict(), "detail": "\ud800"}).encode(), "lone surrogate"),
    ],
)
def test_invalid_entries_are_refused_with_the_rule(raw: bytes, rule: str) -> None:
    with pytest.raises(InvalidArgument, match=rule):
        canonical_from_entry(raw)


def test_an_entry_with_optional_fields_left_out_gets_their_defaults() -> None:
    e = make(0)
    short = {k: v for k, v in e.to_dict().items() if v != ""}
    assert canonical_from_entry(json.dumps(short).encode()) == e.canonical_bytes()


# -- checkpoints -------------------------------------------------------------------------------

SEED = bytes(range(32))


def test_checkpoint_message_is_a_fixed_layout() -> None:
    message = checkpoint_message(3, 258, b"\xab" * 32, 1_700_000_000_123)
    assert message == (
        b"door-authority/access-log/checkpoint/v1\x00"
        + bytes.fromhex("0003")
        + bytes.fromhex("0000000000000102")
        + b"\xab" * 32
        + (1_700_000_000_123).to_bytes(8, "big")
    )
    with pytest.raises(InvalidArgument):
        checkpoint_message(70_000, 1, bytes(32), 0)  # shard is a u16
    with pytest.raises(InvalidArgument):
        checkpoint_message(1, 1, bytes(31), 0)


def test_a_checkpoint_verifies_under_its_key_and_not_when_any_field_changes() -> None:
    key = AuditKey.from_seed(SEED)
    head = extend(GENESIS, [make(0).canonical_bytes()])[0]
    cp = key.sign(2, head, T0)
    keys = {key.kid: key.public}
    verify_checkpoint(cp, keys)
    assert (cp.shard, cp.seq, cp.hash, cp.ts_ms, cp.kid) == (2, 1, head.hash, T0, key.kid)
    for changed in (
        replace(cp, shard=3),
        replace(cp, seq=2),
        replace(cp, hash=bytes(32)),
        replace(cp, ts_ms=T0 + 1),
        replace(cp, signature=bytes(64)),
        replace(cp, signature=cp.signature[:10]),
    ):
        with pytest.raises(BadSignature):
            verify_checkpoint(changed, keys)
    other = AuditKey.generate(now=0)
    with pytest.raises(UnknownKey):
        verify_checkpoint(cp, {other.kid: other.public})
    with pytest.raises(BadSignature):  # a known kid with another key's signature
        verify_checkpoint(replace(cp, kid=other.kid), {other.kid: other.public})


def test_audit_key_repr_shows_no_key_material() -> None:
    key = AuditKey.from_seed(SEED)
    assert repr(key) == f"AuditKey(kid={key.kid})"
    assert SEED.hex() not in repr(key)


def test_audit_key_file_is_private_separate_from_token_keys_and_reloaded(tmp_path: Path) -> None:
    keys_dir = tmp_path / "data" / "keys"
    ring = Keyring.load_or_create(keys_dir, publish_retired_for=60)
    key = load_or_create_audit_key(keys_dir)
    (path,) = keys_dir.glob("audit-*.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    assert key.kid not in {k.kid.decode() for k in ring.keys}
    assert load_or_create_audit_key(keys_dir).kid == key.kid  # loaded, not regenerated
    reloaded = Keyring.load_or_create(keys_dir, publish_retired_for=60)
    assert [k.kid for k in reloaded.keys] == [k.kid for k in ring.keys]  # never a token key
    assert set(load_audit_public_keys(keys_dir)) == {key.kid}
    cp = key.sign(0, ChainHead(1, bytes(32)), T0)
    verify_checkpoint(cp, load_audit_public_keys(keys_dir))


def test_buffer_entries_without_escapes_are_not_parsed_as_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shipper's hot path: the buffer's entries are checked by pattern, not json.loads."""

    def refuse(*_: object, **__: object) -> object:
        raise AssertionError("json.loads was called")

    entries = [buffer_entry(make(i, detail='{"n":1}\n')) for i in range(3)]
    expected = [make(i, detail='{"n":1}\n').canonical_bytes() for i in range(3)]
    monkeypatch.setattr(json, "loads", refuse)
    for entry, canonical in zip(entries, expected, strict=False):
        assert canonical_from_entry(entry)[:20] == canonical[:20]
        assert canonical_from_entry(entry.replace(b"unlock", b"relay", 1)) != canonical
