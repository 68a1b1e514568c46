"""The privacy job on a fake clock, over a real Redis and a real chDB: the one-year rule's
day-365 boundary, door-unit administrators and restricted holders kept, uses that reached the log
late, and erasure requests with a delay."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from authority.adapters.clickhouse.connect import open_clickhouse
from authority.adapters.clickhouse.holder_history import ClickHouseHolderHistory
from authority.adapters.clickhouse.schema import migrate
from authority.adapters.files.erasure_ledger import FileErasureLedger
from authority.adapters.redis.person_store import PersonKeys, RedisHolderRecords, RedisPersonStore
from authority.adapters.redis.redis_store import RedisStore
from authority.domain.credentials import Principal, Role
from authority.domain.errors import FailedPrecondition
from authority.domain.model import HolderStatus, KeyHolder, new_id
from authority.domain.privacy import PersonProfile
from authority.usecases.epochs import EpochBumps
from authority.usecases.privacy import PrivacyCommands
from tests.integration.accesslog_query.conftest import ListRecorder, ev, insert_events

T0 = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
ADMIN = Principal(role=Role.ADMIN, credential_id="adm_test")


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now_value = now

    def now(self) -> datetime:
        return self.now_value


@pytest.fixture(scope="module")
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    client = open_clickhouse(url=None, path=tmp_path_factory.mktemp("chdb"))
    migrate(client)
    yield client
    client.close()


@dataclass
class Job:
    privacy: PrivacyCommands
    store: RedisStore
    persons: RedisPersonStore
    clock: FakeClock
    recorder: ListRecorder
    ledger: FileErasureLedger

    async def holder(self, *, created: datetime, used: datetime | None = None) -> str:
        holder_id = new_id("kh")
        await self.store.create_holder(
            KeyHolder(
                key_holder_id=holder_id,
                organisation_id="org_x",
                status=HolderStatus.ACTIVE,
                created_at=created,
            ),
            b"\0" * 32,
        )
        await self.persons.put_profile(holder_id, PersonProfile(name="Tove Ditlevsen"))
        return holder_id

    async def exists(self, holder_id: str) -> bool:
        return (
            await self.store.get_holder(holder_id) is not None
            and await self.persons.get_profile(holder_id) is not None
        )

    def erasures(self) -> list[tuple[str, str, int]]:
        return [
            (e.holder_id, e.reason, e.ts_ms)
            for e in self.recorder.events
            if e.action == "person.erase"
        ]


@pytest.fixture
async def job(redis_url: str, clickhouse: Any, tmp_path: Path) -> AsyncIterator[Job]:
    clickhouse.command("TRUNCATE TABLE access_events")
    store = RedisStore.from_url(redis_url)
    persons = RedisPersonStore(store.client, PersonKeys(b"k" * 32))
    clock = FakeClock(T0)
    recorder = ListRecorder()
    ledger = FileErasureLedger(tmp_path / "ledger.jsonl")

    def make(delay: timedelta) -> PrivacyCommands:
        return PrivacyCommands(
            holders=RedisHolderRecords(store),
            persons=persons,
            ledger=ledger,
            history=ClickHouseHolderHistory(clickhouse),
            sites=store,
            clock=clock,
            events=recorder,
            epoch_bumps=EpochBumps(directory=store, epochs=store),
            erasure_delay=delay,
        )

    j = Job(make(timedelta(0)), store, persons, clock, recorder, ledger)
    j.make = make  # type: ignore[attr-defined]
    yield j
    await store.close()


def used(clickhouse: Any, holder_id: str, at: datetime) -> None:
    insert_events(clickhouse, [ev(at, holder_id=holder_id, door_id="door-1", site_id="site-1")])


async def test_the_one_year_rule_keeps_day_364_and_erases_day_365(
    job: Job, clickhouse: Any
) -> None:
    active = await job.holder(created=T0 - timedelta(days=30))
    used(clickhouse, active, T0)
    never_used = await job.holder(created=T0)
    administering = await job.holder(created=T0 - timedelta(days=30))
    used(clickhouse, administering, T0)
    await job.persons.add_door_unit(administering, "site-home")
    restricted = await job.holder(created=T0 - timedelta(days=30))
    await job.store.set_holder_status(restricted, HolderStatus.RESTRICTED)

    job.clock.now_value = T0 + timedelta(days=364, hours=23, minutes=59)
    report = await job.privacy.sweep(ADMIN)
    assert report.erased_inactive == []
    assert all([await job.exists(h) for h in (active, never_used, administering, restricted)])

    job.clock.now_value = T0 + timedelta(days=365)
    report = await job.privacy.sweep(ADMIN)
    assert sorted(report.erased_inactive) == sorted([active, never_used])
    assert report.kept_administering == [administering]
    assert not await job.exists(active)
    assert not await job.exists(never_used)
    assert await job.exists(administering)
    assert await job.exists(restricted)  # restriction keeps the data instead of erasing it
    # each erasure is logged (at the fake clock's time) and in the ledger
    at = int(job.clock.now_value.timestamp() * 1000)
    assert sorted(job.erasures()) == sorted(
        [(active, "inactivity", at), (never_used, "inactivity", at)]
    )
    assert sorted(r.holder_id for r in job.ledger.records()) == sorted([active, never_used])
    # once they dismount, the next run erases them
    await job.persons.remove_door_unit(administering, "site-home")
    assert (await job.privacy.sweep(ADMIN)).erased_inactive == [administering]


async def test_a_use_that_reached_the_log_late_still_counts(job: Job, clickhouse: Any) -> None:
    late = await job.holder(created=T0)
    job.clock.now_value = T0 + timedelta(days=200)
    await job.privacy.sweep(ADMIN)  # reads the log up to day 200: nothing for `late`
    used(clickhouse, late, T0 + timedelta(days=100))  # shipped after a long ClickHouse outage
    job.clock.now_value = T0 + timedelta(days=366)
    assert (await job.privacy.sweep(ADMIN)).erased_inactive == []
    assert await job.exists(late)
    job.clock.now_value = T0 + timedelta(days=465)
    assert (await job.privacy.sweep(ADMIN)).erased_inactive == [late]


async def test_a_requested_erasure_waits_for_its_delay(job: Job) -> None:
    delayed = job.make(timedelta(days=30))  # type: ignore[attr-defined]
    holder_id = await job.holder(created=T0)
    person = Principal(role=Role.KEY_HOLDER, credential_id=holder_id, key_holder_id=holder_id)
    outcome = await delayed.request_erasure(person, holder_id)
    assert not outcome.erased
    assert outcome.due_at == T0 + timedelta(days=30)
    job.clock.now_value = T0 + timedelta(days=29)
    assert (await delayed.sweep(ADMIN)).erased_on_request == []
    assert await job.exists(holder_id)
    # a door unit cannot be attached meanwhile
    with pytest.raises(FailedPrecondition, match="asked to be erased"):
        await delayed.mount_door_unit(ADMIN, holder_id, "site-none")
    job.clock.now_value = T0 + timedelta(days=30)
    assert (await delayed.sweep(ADMIN)).erased_on_request == [holder_id]
    assert not await job.exists(holder_id)
    assert [(h, r) for h, r, _ in job.erasures()] == [(holder_id, "request")]
