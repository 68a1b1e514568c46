"""Partner fleets end to end: bulk issuance (streamed, idempotent, per-item rejections), bulk
revocation, roster replacement, export, the access policy and site owners' blocks, over a real
grpc.aio server and a real Redis."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from authority.cli.main import main
from authority.client.authority import AuthorityClient, chunk_items, grant_item
from authority.domain.schedule import parse_window
from authority.process.config import Settings
from authority.v1 import authority_pb2 as pb
from authority.v1 import identity_pb2 as ipb
from tests.conftest import ServerHandle, run_server_in_thread
from tests.support.world import CVR, World, build_world, holder_app, staff_login

UNTIL = datetime.now(UTC) + timedelta(days=30)
EXAMPLE_POLICY = Path(__file__).resolve().parents[2] / "config" / "access-policy.toml"


def _holders(world: World, n: int) -> list[tuple[str, AuthorityClient]]:
    out = []
    for _ in range(n):
        h = world.org.create_key_holder()
        out.append((h.key_holder.key_holder_id, holder_app(world.org, h.key_holder.key_holder_id)))
    return out


def _results(responses: object) -> list[pb.GrantItemResult]:
    return [r for resp in responses for r in resp.results]  # type: ignore[attr-defined]


def test_bulk_issue_streams_results_per_item_and_rejects_bad_items(server: ServerHandle) -> None:
    w = build_world(server.admin)
    holders = _holders(w, 3)
    items = [
        grant_item(idempotency_key=f"r{i}", key_holder_id=h, site_id=w.site_id, valid_until=UNTIL,
                   row=i + 2)
        for i, (h, _) in enumerate(holders)
    ]  # fmt: skip
    items += [
        grant_item(idempotency_key="bad-door", key_holder_id=holders[0][0], door_id="nope",
                   valid_until=UNTIL, row=10),
        grant_item(idempotency_key="bad-cvr", key_holder_id=holders[0][0], site_id=w.site_id,
                   valid_until=UNTIL, organisation_cvr="12345678", row=11),
        grant_item(idempotency_key="end-before-start", key_holder_id=holders[0][0],
                   site_id=w.site_id, valid_from=UNTIL, valid_until=UNTIL - timedelta(days=1),
                   row=12),
        grant_item(idempotency_key="no-holder", key_holder_id="kh_missing", site_id=w.site_id,
                   valid_until=UNTIL, row=13),
        grant_item(idempotency_key="", key_holder_id=holders[0][0], site_id=w.site_id,
                   valid_until=UNTIL, row=14),
        grant_item(idempotency_key="too-long", key_holder_id=holders[0][0], site_id=w.site_id,
                   valid_until=datetime.now(UTC) + timedelta(days=400), row=15),
    ]  # fmt: skip
    results = _results(w.org.issue_grants(chunk_items(items, max_items=4)))
    assert [r.index for r in results] == list(range(9))
    statuses = [
        pb.GrantItemStatus.Name(r.status).removeprefix("GRANT_ITEM_STATUS_") for r in results
    ]
    assert statuses == ["CREATED"] * 3 + ["REJECTED"] * 6
    by_row = {r.row: r for r in results}
    assert by_row[10].code == "NOT_FOUND"
    assert "door nope" in by_row[10].reason
    assert by_row[11].code == "INVALID_ARGUMENT"
    assert "modulus-11" in by_row[11].reason
    assert by_row[12].code == "INVALID_ARGUMENT"
    assert "after valid_from" in by_row[12].reason
    assert by_row[13].code == "NOT_FOUND"
    assert by_row[14].code == "INVALID_ARGUMENT"
    assert "idempotency_key" in by_row[14].reason
    assert by_row[15].code == "FAILED_PRECONDITION"
    assert by_row[15].rule == "postal.max_validity"
    for (_, app), r in zip(holders, results, strict=False):
        resp = app.request_unlock(w.door_id)
        assert (resp.decision, resp.grant_id) == (pb.DECISION_ALLOW, r.grant_id)
    # Nothing partial for a rejected item: holder 0 has the one grant created for row 2.
    assert len(w.org.list_grants(holders[0][0]).grants) == 1


def test_a_retried_stream_creates_nothing_twice(server: ServerHandle) -> None:
    w = build_world(server.admin)
    (h, _), = _holders(w, 1)  # fmt: skip
    items = [
        grant_item(idempotency_key=f"k{i}", key_holder_id=h, door_id=w.door_id, valid_until=UNTIL)
        for i in range(5)
    ]
    first = _results(w.org.issue_grants(chunk_items(items)))
    again = _results(w.org.issue_grants(chunk_items(items)))
    assert {r.status for r in first} == {pb.GRANT_ITEM_STATUS_CREATED}
    assert {r.status for r in again} == {pb.GRANT_ITEM_STATUS_ALREADY_CREATED}
    assert [r.grant_id for r in first] == [r.grant_id for r in again]
    assert len(w.org.list_grants(h).grants) == 5
    changed = grant_item(idempotency_key="k0", key_holder_id=h, site_id=w.site_id,
                         valid_until=UNTIL)  # fmt: skip
    (reused,) = _results(w.org.issue_grants(chunk_items([changed])))
    assert (reused.status, reused.code) == (pb.GRANT_ITEM_STATUS_REJECTED, "ALREADY_EXISTS")
    assert len(w.org.list_grants(h).grants) == 5


def test_bulk_issue_refuses_another_tenant_and_unapproved_organisations(
    server: ServerHandle,
) -> None:
    w = build_world(server.admin)
    other = build_world(server.admin, door_id="door-2")
    item = grant_item(idempotency_key="x", key_holder_id=other.holder_id, site_id=w.site_id,
                      valid_until=UNTIL)  # fmt: skip
    (r,) = _results(w.org.issue_grants(chunk_items([item])))
    assert (r.status, r.code) == (pb.GRANT_ITEM_STATUS_REJECTED, "NOT_FOUND")
    server.admin.set_organisation_status(
        w.org_id, pb.ORGANISATION_STATUS_SUSPENDED, "unpaid invoice"
    )
    with pytest.raises(grpc.RpcError) as info:
        _results(w.org.issue_grants(chunk_items([item])))
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as info:  # admins must name the organisation
        _results(server.admin.issue_grants(chunk_items([item])))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_bulk_revocations_by_holder_organisation_site_and_door(server: ServerHandle) -> None:
    w = build_world(server.admin)
    holders = _holders(w, 4)
    items = [
        grant_item(idempotency_key=f"s{i}", key_holder_id=h, site_id=w.site_id, valid_until=UNTIL)
        for i, (h, _) in enumerate(holders)
    ]
    _results(w.org.issue_grants(chunk_items(items)))
    assert w.org.revoke_grants(key_holder_id=holders[0][0]).revoked == 1
    assert holders[0][1].request_unlock(w.door_id).reason == pb.DECISION_REASON_REVOKED
    assert holders[1][1].request_unlock(w.door_id).decision == pb.DECISION_ALLOW
    by_door = w.org.revoke_grants(door_id=w.door_id)
    assert by_door.revoked == 0  # the grants name the site, not the door
    by_site = w.org.revoke_grants(site_id=w.site_id)
    assert (by_site.revoked, by_site.key_holders) == (4, 4)  # 3 bulk + the world's own grant
    for _, app in holders:
        assert app.request_unlock(w.door_id).reason == pb.DECISION_REASON_REVOKED
    again = w.org.revoke_grants(organisation_id=w.org_id)
    assert again.revoked == 0
    other = build_world(server.admin, door_id="door-3")
    with pytest.raises(grpc.RpcError) as info:
        w.org.revoke_grants(organisation_id=other.org_id)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert other.holder.request_unlock("door-3").decision == pb.DECISION_ALLOW
    assert server.admin.revoke_grants(organisation_id=other.org_id).revoked == 1
    assert other.holder.request_unlock("door-3").reason == pb.DECISION_REASON_REVOKED


def test_lost_phone_stops_every_key_at_once(server: ServerHandle) -> None:
    w = build_world(server.admin)
    w.org.issue_grants(
        chunk_items([grant_item(idempotency_key="d", key_holder_id=w.holder_id,
                                door_id=w.door_id, valid_until=UNTIL)])
    )  # fmt: skip
    w.org.set_key_holder_status(w.holder_id, pb.KEY_HOLDER_STATUS_SUSPENDED)
    resp = w.holder.request_unlock(w.door_id)
    assert (resp.decision, resp.reason) == (pb.DECISION_DENY, pb.DECISION_REASON_HOLDER_SUSPENDED)


def test_roster_replace_keeps_matches_revokes_the_rest_and_adds_the_new(
    server: ServerHandle,
) -> None:
    w = build_world(server.admin)
    server.admin.create_door(door_id="door-b", site_id=w.site_id, relay_id="relay-b")
    window = [parse_window("Mon-Sun 00:00-24:00")]
    keep = grant_item(idempotency_key="", key_holder_id=w.holder_id, door_id="door-b",
                      valid_until=UNTIL, windows=window)  # fmt: skip
    first = w.org.replace_holder_grants(w.holder_id, [keep])
    assert len(first.created) == 1
    assert [g.grant_id for g in first.revoked] == [w.grant_id]  # the site grant is gone
    assert w.holder.request_unlock(w.door_id).reason == pb.DECISION_REASON_REVOKED
    assert w.holder.request_unlock("door-b").decision == pb.DECISION_ALLOW
    new = grant_item(idempotency_key="", key_holder_id=w.holder_id, door_id=w.door_id,
                     valid_until=UNTIL)  # fmt: skip
    second = w.org.replace_holder_grants(w.holder_id, [keep, new])
    assert second.kept_grant_ids == [first.created[0].grant_id]
    assert (len(second.created), len(second.revoked)) == (1, 0)
    assert w.holder.request_unlock(w.door_id).decision == pb.DECISION_ALLOW
    with pytest.raises(grpc.RpcError) as info:  # one bad item refuses the whole call
        w.org.replace_holder_grants(
            w.holder_id,
            [grant_item(idempotency_key="", key_holder_id=w.holder_id, door_id="nope",
                        valid_until=UNTIL)],
        )  # fmt: skip
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "grants[0]" in str(info.value.details())
    assert w.holder.request_unlock(w.door_id).decision == pb.DECISION_ALLOW
    emptied = w.org.replace_holder_grants(w.holder_id, [])
    assert len(emptied.revoked) == 2
    assert w.holder.request_unlock("door-b").reason == pb.DECISION_REASON_REVOKED


def test_export_streams_the_organisations_live_grants(server: ServerHandle) -> None:
    w = build_world(server.admin)
    holders = _holders(w, 3)
    _results(
        w.org.issue_grants(
            chunk_items(
                grant_item(idempotency_key="e", key_holder_id=h, door_id=w.door_id,
                           valid_until=UNTIL)
                for h, _ in holders
            )
        )
    )  # fmt: skip
    w.org.revoke_grants(key_holder_id=holders[0][0])
    live = list(w.org.export_grants())
    assert {g.key_holder_id for g in live} == {w.holder_id, holders[1][0], holders[2][0]}
    everything = list(w.org.export_grants(include_inactive=True))
    assert len(everything) == 4
    other = build_world(server.admin, door_id="door-x")
    assert {g.organisation_id for g in other.org.export_grants()} == {other.org_id}


def test_site_owner_blocks_and_unblocks_an_organisation(server: ServerHandle) -> None:
    w = build_world(server.admin)
    owner_credential = staff_login(
        server.admin, "owner-one", ipb.ACCOUNT_ROLE_SITE_OWNER, owner_id="owner-1"
    )
    stranger_credential = staff_login(
        server.admin, "owner-two", ipb.ACCOUNT_ROLE_SITE_OWNER, owner_id="owner-2"
    )
    owner = server.admin.with_credential(owner_credential)
    site = owner.set_site_organisation_blocked(w.site_id, w.org_id, blocked=True)
    assert list(site.blocked_organisation_ids) == [w.org_id]
    resp = w.holder.request_unlock(w.door_id)
    assert resp.reason == pb.DECISION_REASON_ORGANISATION_BLOCKED_BY_SITE_OWNER
    stranger = server.admin.with_credential(stranger_credential)
    with pytest.raises(grpc.RpcError) as info:
        stranger.set_site_organisation_blocked(w.site_id, w.org_id, blocked=False)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as info:
        w.org.set_site_organisation_blocked(w.site_id, w.org_id, blocked=False)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    owner.set_site_organisation_blocked(w.site_id, w.org_id, blocked=False)
    assert w.holder.request_unlock(w.door_id).decision == pb.DECISION_ALLOW


def test_access_policy_is_published_and_checked_at_issuance(server: ServerHandle) -> None:
    w = build_world(server.admin)
    policy = w.org.access_policy()
    assert policy.source == "built-in"
    rules = {pb.Purpose.Name(r.purpose): r for r in policy.rules}
    assert rules["PURPOSE_POSTAL"].max_validity_days == 366
    assert not rules["PURPOSE_PRIVATE"].site_grants_allowed
    with pytest.raises(grpc.RpcError) as info:
        w.org.issue_grant(key_holder_id=w.holder_id, site_id=w.site_id,
                          valid_until=datetime.now(UTC) + timedelta(days=500))  # fmt: skip
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "postal.max_validity" in str(info.value.details())


def test_cvr_guard_accepts_the_right_organisation(server: ServerHandle) -> None:
    w = build_world(server.admin)
    item = grant_item(idempotency_key="c", key_holder_id=w.holder_id, door_id=w.door_id,
                      valid_until=UNTIL, organisation_cvr=CVR)  # fmt: skip
    (r,) = _results(w.org.issue_grants(chunk_items([item])))
    assert r.status == pb.GRANT_ITEM_STATUS_CREATED


# -- the CLI ---------------------------------------------------------------------------------


@pytest.fixture
def policy_server(redis_url: str, tmp_path: Path) -> Iterator[ServerHandle]:
    """A server with the example operator policy (postal: weekday and Saturday mornings)."""
    settings = Settings.load(
        {},
        data_dir=tmp_path / "data",
        listen="127.0.0.1:0",
        redis_url=redis_url,
        access_policy_file=str(EXAMPLE_POLICY),
        grace_seconds=2.0,
        log_format="console",
        log_level="WARNING",
    )
    yield from run_server_in_thread(settings)


def test_cli_import_reports_each_bad_row_and_imports_the_rest(
    policy_server: ServerHandle, tmp_path: Path
) -> None:
    server = policy_server
    created = server.admin.create_organisation(name="Post", cvr=CVR, purpose=pb.PURPOSE_POSTAL)
    org_id = created.organisation.organisation_id
    server.admin.set_organisation_status(org_id, pb.ORGANISATION_STATUS_APPROVED)
    site = server.admin.create_site(address="Nørrebrogade 2", owner_id="owner-1")
    server.admin.create_door(door_id="cli-door", site_id=site.site_id, relay_id="relay-cli")
    w = World(org_id, server.admin.with_credential(created.api_credential), site.site_id,
              "cli-door", "relay-cli", "", server.admin, "")  # fmt: skip
    holders = _holders(w, 2)
    until = UNTIL.isoformat()
    rows = [
        b"idempotency_key,key_holder_id,door_id,site_id,valid_until,windows,organisation_cvr",
        f"a,{holders[0][0]},,{w.site_id},{until},Mon-Fri 06:00-09:00,{CVR}".encode(),
        f"b,{holders[1][0]},{w.door_id},,{until},Mon-Fri 06:00-09:00;Sat 07:00-09:00,".encode(),
        f"c,{holders[0][0]},,{w.site_id},{until},Mon-Fri 06:00-09:00,12345678".encode(),  # CVR
        f"d,{holders[0][0]},no-such-door,,{until},Mon-Fri 06:00-09:00,".encode(),
        f"e,{holders[0][0]},,{w.site_id},{until},Mon-Fri 04:00-09:00,".encode(),  # policy
        f"f,{holders[0][0]},,{w.site_id},2020-01-01T00:00:00+00:00,Mon 06:00-07:00,".encode(),
        b"g," + holders[0][0].encode() + b",,\xff\xfe," + until.encode() + b",,",  # not UTF-8
        f"h,{holders[0][0]},,{'x' * 10_000_000},{until},,".encode(),  # a 10 MB field
        f"i,{holders[1][0]},,{w.site_id},{until},Mon-Fri 06:00-09:00,".encode(),
    ]
    roster = tmp_path / "roster.csv"
    roster.write_bytes(b"\n".join(rows) + b"\n")
    results = tmp_path / "results.csv"
    common = ["--target", server.target, "--credential", created.api_credential]
    code = main(["grants", "import", str(roster), "--results", str(results), "--json", *common])
    assert code == 3  # some rows rejected
    with results.open() as f:
        by_row = {int(r["row"]): r for r in csv.DictReader(f)}
    assert {n: by_row[n]["status"] for n in by_row} == {
        2: "created", 3: "created", 4: "rejected", 5: "rejected", 6: "rejected",
        7: "rejected", 8: "rejected", 9: "rejected", 10: "created",
    }  # fmt: skip
    assert "modulus-11" in by_row[4]["reason"]
    assert by_row[5]["code"] == "NOT_FOUND"
    assert by_row[6]["rule"] == "postal.windows"
    assert "must be after valid_from" in by_row[7]["reason"]  # end before start
    assert "not UTF-8" in by_row[8]["reason"]
    assert "at most 256" in by_row[9]["reason"]
    # Re-running the same file creates nothing twice.
    assert main(["grants", "import", str(roster), "--results", str(results), *common]) == 3
    with results.open() as f:
        statuses = Counter(r["status"] for r in csv.DictReader(f))
    assert statuses == {"already_created": 3, "rejected": 6}
    exported = tmp_path / "export.csv"
    assert main(["grants", "export", "--output", str(exported), *common]) == 0
    with exported.open() as f:
        assert len(list(csv.DictReader(f))) == 3
    assert main(["grants", "revoke", "--lost-phone", holders[1][0], "--json", *common]) == 0
    assert holders[1][1].request_unlock(w.door_id).reason == pb.DECISION_REASON_HOLDER_SUSPENDED
    assert main(["grants", "revoke", "--organisation", w.org_id, "--json", *common]) == 0
    assert main(["policy", "show", *common]) == 0
