"""Benchmark fixture: populate a running authority with holders, doors and grants.

Shared by ``bench_unlock.py`` and ``locustfile.py``. Everything goes through the public API with
the typed client (``authority.client.authority.AuthorityClient``), exactly as an operator and a
partner organisation would do it:

* the platform admin registers one organisation (CVR 25680839, purpose POSTAL) and approves it,
  registers ``sites`` sites and ``doors`` doors spread evenly over them;
* the organisation (with its own API credential) registers ``holders`` key holders and issues
  each one grant: three in four get a whole-site grant, one in four a single-door grant;
* each holder's app is enrolled as a phone is: the organisation issues a one-time activation
  code, the app sets a password with it and logs in (``AuthorityClient.app_login``); the pairs
  carry the session's 15-minute access credential and its refresh credential. Only the first
  ``logins`` holders log in (argon2id makes a login cost ~50 ms of server CPU); the others hold
  grants but no session, like phones that are not in use;
* every (access credential, door) pair returned is one the holder may open now (an ALLOW).

Ids carry a random tag so a fixture can be built several times against the same server.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cbor2
from nacl.signing import VerifyKey

from authority.client.authority import AuthorityClient
from authority.v1 import authority_pb2 as pb
from doorkey_wire.cwt import verify_token

UNLOCK_METHOD = "/authority.v1.UnlockService/RequestUnlock"
BENCH_CVR = "25680839"


@dataclass(frozen=True, slots=True)
class UnlockPair:
    """A holder's access credential and a door it may open (and that door's relay, the token
    audience); the session's refresh credential renews the access credential
    (``refresh_pair``)."""

    credential: str
    door_id: str
    relay_id: str
    key_holder_id: str = ""
    refresh_credential: str = ""


@dataclass(frozen=True)
class Fixture:
    target: str
    organisation_id: str
    holders: int
    doors: int
    sites: int
    pairs: list[UnlockPair]
    seconds: float

    def to_json(self) -> dict[str, object]:
        return {
            "target": self.target,
            "organisation_id": self.organisation_id,
            "holders": self.holders,
            "doors": self.doors,
            "sites": self.sites,
            "seconds": self.seconds,
            "pairs": [
                [p.credential, p.door_id, p.relay_id, p.key_holder_id, p.refresh_credential]
                for p in self.pairs
            ],
        }

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> Fixture:
        pairs = [UnlockPair(*p) for p in raw["pairs"]]  # type: ignore[attr-defined]
        return cls(
            target=str(raw["target"]),
            organisation_id=str(raw["organisation_id"]),
            holders=int(raw["holders"]),  # type: ignore[call-overload]
            doors=int(raw["doors"]),  # type: ignore[call-overload]
            sites=int(raw["sites"]),  # type: ignore[call-overload]
            pairs=pairs,
            seconds=float(raw["seconds"]),  # type: ignore[arg-type]
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json()))

    @classmethod
    def load(cls, path: Path) -> Fixture:
        return cls.from_json(json.loads(path.read_text()))


def build_fixture(
    target: str,
    admin_credential: str,
    *,
    holders: int = 2000,
    doors: int = 200,
    sites: int = 20,
    logins: int | None = None,
    threads: int = 16,
    seed: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> Fixture:
    """Create the fixture through the API; return the ALLOW pairs of the holders that logged in
    (the first ``logins``; None: all of them). See the module docstring."""
    started = time.perf_counter()
    rng = random.Random(seed)
    tag = secrets.token_hex(3)
    sites = max(1, min(sites, doors))
    admin = AuthorityClient(target, credential=admin_credential, timeout=30.0)
    try:
        org = admin.create_organisation(
            name=f"Bench Post {tag}", cvr=BENCH_CVR, purpose=pb.PURPOSE_POSTAL
        )
        org_id = org.organisation.organisation_id
        admin.set_organisation_status(org_id, pb.ORGANISATION_STATUS_APPROVED)
        site_ids = [
            admin.create_site(
                address=f"Benchvej {i + 1}, 2100 København Ø", owner_id=f"owner-{tag}"
            ).site_id
            for i in range(sites)
        ]
        # door i belongs to site i % sites; relay ids are distinct per door
        door_site: list[tuple[str, str, str]] = []
        for i in range(doors):
            door_id, relay_id = f"bd-{tag}-{i:05d}", f"relay-{tag}-{i:05d}"
            admin.create_door(
                door_id=door_id, site_id=site_ids[i % sites], relay_id=relay_id, label=f"Door {i}"
            )
            door_site.append((door_id, relay_id, site_ids[i % sites]))
        doors_of_site: dict[str, list[tuple[str, str]]] = {s: [] for s in site_ids}
        for door_id, relay_id, site_id in door_site:
            doors_of_site[site_id].append((door_id, relay_id))

        partner = admin.with_credential(org.api_credential)
        valid_until = datetime.now(UTC) + timedelta(days=30)
        plans = []
        for i in range(holders):
            if i % 4 == 3:  # a single-door grant
                door_id, relay_id, _ = door_site[rng.randrange(doors)]
                plans.append(("door", door_id, [(door_id, relay_id)]))
            else:  # a whole-site grant: two of its doors are used for requests
                site_id = site_ids[i % sites]
                choices = doors_of_site[site_id]
                picked = rng.sample(choices, k=min(2, len(choices)))
                plans.append(("site", site_id, picked))

        done = 0
        logging_in = holders if logins is None else max(0, min(logins, holders))

        def make_holder(
            numbered: tuple[int, tuple[str, str, list[tuple[str, str]]]],
        ) -> list[UnlockPair]:
            i, (kind, target_id, usable) = numbered
            created = partner.create_key_holder()
            holder_id = created.key_holder.key_holder_id
            if kind == "door":
                partner.issue_grant(
                    key_holder_id=holder_id, door_id=target_id, valid_until=valid_until
                )
            else:
                partner.issue_grant(
                    key_holder_id=holder_id, site_id=target_id, valid_until=valid_until
                )
            if i >= logging_in:
                return []
            session = partner.app_login(holder_id, f"bench app password {tag} {i}")
            return [
                UnlockPair(session.access_credential, d, r, holder_id, session.refresh_credential)
                for d, r in usable
            ]

        pairs: list[UnlockPair] = []
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for made in pool.map(make_holder, enumerate(plans)):
                pairs.extend(made)
                done += 1
                if progress is not None and (done % 100 == 0 or done == holders):
                    progress(done, holders)
    finally:
        admin.close()
    rng.shuffle(pairs)
    return Fixture(
        target=target,
        organisation_id=org_id,
        holders=holders,
        doors=doors,
        sites=sites,
        pairs=pairs,
        seconds=time.perf_counter() - started,
    )


def refresh_pair(target: str, pair: UnlockPair) -> UnlockPair:
    """The pair with a new access credential (the session renewed with its refresh credential,
    which is single-use: the returned pair carries the next one)."""
    client = AuthorityClient(target)
    try:
        session = client.refresh_session(pair.refresh_credential)
    finally:
        client.close()
    return UnlockPair(
        session.access_credential,
        pair.door_id,
        pair.relay_id,
        pair.key_holder_id,
        session.refresh_credential,
    )


def verify_sample(target: str, pairs: list[UnlockPair], *, sample: int = 20) -> int:
    """Unlock ``sample`` pairs with the typed client and verify each token with the published
    keys (signature, audience, nonce). Returns the token size in bytes; raises on any problem."""
    client = AuthorityClient(target)
    try:
        # the COSE_KeySet carries each kid exactly as the tokens' protected header does
        cose_keys = cbor2.loads(client.verification_keys().cose_key_set)
        keys = {bytes(k[2]): VerifyKey(bytes(k[-2])) for k in cose_keys}
        size = 0
        for pair in pairs[:sample]:
            challenge = secrets.token_bytes(16)
            resp = client.with_credential(pair.credential).request_unlock(pair.door_id, challenge)
            if resp.decision != pb.DECISION_ALLOW:
                raise RuntimeError(
                    f"fixture pair {pair.door_id} answered {pb.DecisionReason.Name(resp.reason)}"
                )
            verify_token(
                resp.token,
                keys=keys,
                audience=pair.relay_id,
                now=int(time.time()),
                nonce=challenge,
            )
            size = len(resp.SerializeToString())
        return size
    finally:
        client.close()
