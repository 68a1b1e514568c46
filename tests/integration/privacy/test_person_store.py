"""The person store on a real Redis and a real 3-node Redis Cluster (every script stays in one
slot), and the privacy rules of the pure domain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from authority.adapters.crypto.sealing import KeySealer
from authority.adapters.redis.person_store import (
    MASTER_KEY_FILE,
    PersonKeys,
    RedisHolderRecords,
    RedisPersonStore,
    person_key,
)
from authority.adapters.redis.redis_store import RedisStore
from authority.cli.main import main
from authority.domain.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from authority.domain.model import HolderStatus, KeyHolder, new_id
from authority.domain.privacy import (
    Consent,
    PersonProfile,
    inactive,
    new_profile,
    normalise_phone,
    refuse_while_administering,
)

NOW = datetime(2027, 6, 1, tzinfo=UTC)


@pytest.fixture(params=["single", "cluster"])
async def stores(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[RedisStore, RedisPersonStore]]:
    url = request.getfixturevalue("redis_url" if request.param == "single" else "cluster_url")
    store = RedisStore.from_url(url)
    yield store, RedisPersonStore(store.client, PersonKeys(b"m" * 32))
    await store.close()


async def new_holder(store: RedisStore) -> str:
    holder_id = new_id("kh")
    holder = KeyHolder(
        key_holder_id=holder_id, organisation_id="org_x", status=HolderStatus.ACTIVE, created_at=NOW
    )
    await store.create_holder(holder, b"\1" * 32)
    return holder_id


async def test_profiles_consents_lookup_and_erasure(
    stores: tuple[RedisStore, RedisPersonStore],
) -> None:
    store, persons = stores
    holder_id = await new_holder(store)
    profile = new_profile(name="Sophus Claussen", phone="+4588776655", cpr="010203-1234")
    await persons.put_profile(holder_id, profile)
    assert await persons.get_profile(holder_id) == profile
    raw = await store.client.hgetall(person_key(holder_id))
    assert b"Sophus" not in b"".join(raw.values())
    consent = Consent(purpose="phone_lookup", text_version="v1", given_at=NOW)
    await persons.put_consent(holder_id, consent)
    assert await persons.get_consents(holder_id) == [consent]
    await persons.set_phone_lookup(holder_id, profile.phone)
    assert await persons.find_by_phone("88 77 66 55") == holder_id
    await persons.add_door_unit(holder_id, "site-a")
    assert await persons.erase(holder_id) == ["site-a"]  # refused: administers a unit
    assert await persons.get_profile(holder_id) == profile
    census = await persons.census(NOW)
    assert (census.profiles, census.consents_in_force, census.door_unit_administrators) == (
        1,
        1,
        1,
    )
    assert await persons.remove_door_unit(holder_id, "site-a")
    assert await persons.erase(holder_id) == []
    assert await persons.get_profile(holder_id) is None
    assert await persons.get_consents(holder_id) == []
    assert await persons.find_by_phone(profile.phone) is None
    assert await store.get_holder(holder_id) is None
    assert await persons.is_erased(holder_id)
    census = await persons.census(NOW)
    assert (census.profiles, census.erased) == (0, 1)
    # an erased (or unknown) holder gets no new data key
    with pytest.raises(NotFound):
        await persons.put_profile(holder_id, profile)


async def test_a_profile_does_not_open_under_another_master_key_or_pseudonym(
    stores: tuple[RedisStore, RedisPersonStore],
) -> None:
    store, persons = stores
    a, b = await new_holder(store), await new_holder(store)
    await persons.put_profile(a, PersonProfile(name="A"))
    await persons.put_profile(b, PersonProfile(name="B"))
    wrong = RedisPersonStore(store.client, PersonKeys(b"x" * 32))
    with pytest.raises(Unavailable, match="master key"):
        await wrong.get_profile(a)
    # a's sealed profile copied into b's record does not open there (bound to the pseudonym)
    sealed = await store.client.hget(person_key(a), "pr")
    await store.client.hset(person_key(b), "pr", sealed)
    with pytest.raises(Unavailable, match="does not decrypt"):
        await persons.get_profile(b)


async def test_every_holder_is_listed_for_the_sweep(
    stores: tuple[RedisStore, RedisPersonStore],
) -> None:
    store, _ = stores
    made = {await new_holder(store) for _ in range(3)}
    listed = {h.key_holder_id async for h in RedisHolderRecords(store).all_holders()}
    assert made <= listed


def test_profile_validation_never_repeats_the_value() -> None:
    assert normalise_phone("0045 12 34 56 78") == "+4512345678"
    assert normalise_phone("12345678") == "+4512345678"
    assert new_profile(cpr="0102031234").cpr == "010203-1234"
    for field, value in (
        ("phone", "not-a-number-555"),
        ("email", "someone-at-nowhere"),
        ("cpr", "12-34"),
        ("bluetooth_id", "has spaces in it"),
    ):
        with pytest.raises(InvalidArgument) as info:
            new_profile(**{field: value})
        assert field in str(info.value)
        assert value not in str(info.value)
    assert new_profile(name=" Ib ", email="ib@example.dk").categories == ["name", "email"]


def test_consent_counts_from_its_moment_and_stops_at_withdrawal() -> None:
    c = Consent(purpose="p", text_version="1", given_at=NOW, withdrawn_at=NOW + timedelta(days=2))
    assert not c.in_force(NOW - timedelta(seconds=1))
    assert c.in_force(NOW + timedelta(days=1))
    assert not c.in_force(NOW + timedelta(days=2))


def test_the_one_year_boundary() -> None:
    assert not inactive(NOW, NOW + timedelta(days=365) - timedelta(microseconds=1))
    assert inactive(NOW, NOW + timedelta(days=365))


def test_administering_a_door_unit_refuses_erasure_naming_it() -> None:
    refuse_while_administering("kh_x", [])
    with pytest.raises(FailedPrecondition, match="site-b, site-c"):
        refuse_while_administering("kh_x", ["site-c", "site-b"])


def test_the_master_key_file_is_private_and_sealed_under_a_key_passphrase(tmp_path: Path) -> None:
    plain_dir, sealed_dir = tmp_path / "plain", tmp_path / "sealed"
    first = PersonKeys.load_or_create(plain_dir)
    assert PersonKeys.load_or_create(plain_dir).raw == first.raw  # made once, then read
    assert (plain_dir / MASTER_KEY_FILE).stat().st_mode & 0o077 == 0
    (plain_dir / MASTER_KEY_FILE).chmod(0o644)
    with pytest.raises(FailedPrecondition, match="chmod 600"):
        PersonKeys.load_or_create(plain_dir)
    sealer = KeySealer.for_directory(sealed_dir, "correct horse battery staple")
    sealed = PersonKeys.load_or_create(sealed_dir, sealer)
    assert sealed.raw not in (sealed_dir / MASTER_KEY_FILE).read_bytes()
    assert PersonKeys.load_or_create(sealed_dir, sealer).raw == sealed.raw
    with pytest.raises(FailedPrecondition, match="passphrase"):
        PersonKeys.load_or_create(sealed_dir)


def test_keys_wrap_and_unwrap_take_the_master_key_along(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = tmp_path / "keys"
    master = PersonKeys.load_or_create(keys).raw
    monkeypatch.setenv("AUTHORITY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AUTHORITY_KEY_PASSPHRASE", "correct horse battery staple")
    assert main(["keys", "wrap"]) == 0
    assert master not in (keys / MASTER_KEY_FILE).read_bytes()
    sealer = KeySealer.for_directory(keys, "correct horse battery staple")
    assert PersonKeys.load_or_create(keys, sealer).raw == master
    assert main(["keys", "unwrap"]) == 0  # the sealing file goes: the key must be open again
    assert PersonKeys.load_or_create(keys).raw == master
