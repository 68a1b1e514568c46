"""Locust load test of the unlock path (RequestUnlock over gRPC), with a fixture set-up step.

1. Start a server (any data directory; the embedded redis-server comes with it)::

       .venv/bin/authority serve --data-dir /tmp/authority-locust --listen 127.0.0.1:50051 &

2. Run locust headless against it, naming the data directory (for ``server.json`` and the
   ``admin.credential`` file) in ``AUTHORITY_BENCH_DATA_DIR``::

       AUTHORITY_BENCH_DATA_DIR=/tmp/authority-locust .venv/bin/locust -f bench/locustfile.py \\
           --headless -u 50 -r 10 -t 30s --host 127.0.0.1:50051

   On start-up (locust's ``init`` event) the fixture is loaded from
   ``<data dir>/locust-fixture.json`` or, if absent or no longer valid, created through the API
   with the admin credential: one approved organisation, ``--bench-doors`` doors and
   ``--bench-holders`` key holders with grants (see ``bench/fixture.py``), then saved there.
   To create it ahead of time (e.g. before a distributed run with ``--processes``)::

       .venv/bin/python bench/locustfile.py --setup --data-dir /tmp/authority-locust

Each simulated user is a phone app: its own channel, one key holder's credential, unlocking the
doors that holder may open with a fresh 16-byte relay challenge per request. A request counts as
a failure unless the answer is ALLOW (gRPC errors and DENY decisions both fail). Response times
are client-observed milliseconds, as always with locust.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import grpc.experimental.gevent as grpc_gevent
from locust import User, constant, events, task
from locust.runners import MasterRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `fixture` next to this file

from fixture import UNLOCK_METHOD, Fixture, UnlockPair, build_fixture

from authority.client.authority import AuthorityClient
from authority.v1 import authority_pb2 as pb

grpc_gevent.init_gevent()  # grpc calls must yield to other greenlets, not block the process

ENV_DATA_DIR = "AUTHORITY_BENCH_DATA_DIR"
FIXTURE_FILE = "locust-fixture.json"
FIXTURE: Fixture | None = None


def _server_target(data_dir: Path) -> str:
    info = json.loads((data_dir / "server.json").read_text())
    return str(info["target"])


def _still_valid(fixture: Fixture, target: str) -> bool:
    """The saved fixture belongs to this server's data (one unlock answers ALLOW)."""
    if not fixture.pairs:
        return False
    pair = fixture.pairs[0]
    client = AuthorityClient(target, credential=pair.credential, timeout=5)
    try:
        resp = client.request_unlock(pair.door_id, os.urandom(16))
    except grpc.RpcError:
        return False
    finally:
        client.close()
    return bool(resp.decision == pb.DECISION_ALLOW)


def prepare(data_dir: Path, target: str | None, *, holders: int, doors: int) -> Fixture:
    """Load ``<data_dir>/locust-fixture.json`` if it still works, else build and save one."""
    target = target or _server_target(data_dir)
    path = data_dir / FIXTURE_FILE
    if path.exists():
        fixture = Fixture.load(path)
        if _still_valid(fixture, target):
            return fixture
    admin = (data_dir / "admin.credential").read_text().strip()
    fixture = build_fixture(target, admin, holders=holders, doors=doors, sites=max(1, doors // 10))
    fixture.save(path)
    return fixture


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--bench-data-dir",
        env_var=ENV_DATA_DIR,
        default="",
        help="the server's data directory (server.json, admin.credential)",
    )
    parser.add_argument("--bench-holders", type=int, default=200, help="key holders to create")
    parser.add_argument("--bench-doors", type=int, default=50, help="doors to create")


@events.init.add_listener
def _on_init(environment: Any, **_kwargs: Any) -> None:
    global FIXTURE  # noqa: PLW0603 - one fixture per locust process
    if isinstance(environment.runner, MasterRunner):
        return  # a distributed run's master sends no requests
    opts = environment.parsed_options
    if opts is None or not opts.bench_data_dir:
        raise SystemExit(f"set {ENV_DATA_DIR} (or --bench-data-dir) to the server's data directory")
    started = time.perf_counter()
    FIXTURE = prepare(
        Path(opts.bench_data_dir),
        environment.host or None,
        holders=opts.bench_holders,
        doors=opts.bench_doors,
    )
    print(
        f"unlock fixture: {len(FIXTURE.pairs)} (holder, door) pairs, "
        f"{FIXTURE.holders} holders, {FIXTURE.doors} doors ({time.perf_counter() - started:.1f}s)",
        file=sys.stderr,
    )


class UnlockUser(User):
    """A phone app: one holder credential, unlocking the doors its holder may open."""

    wait_time = constant(0)

    def on_start(self) -> None:
        assert FIXTURE is not None
        target = self.host or FIXTURE.target
        self.channel = grpc.insecure_channel(target)
        self.call = self.channel.unary_unary(
            UNLOCK_METHOD,
            request_serializer=pb.RequestUnlockRequest.SerializeToString,
            response_deserializer=pb.RequestUnlockResponse.FromString,
        )
        first = random.choice(FIXTURE.pairs)
        self.pairs: list[UnlockPair] = [
            p for p in FIXTURE.pairs if p.credential == first.credential
        ]
        self.metadata = (("authorization", f"Bearer {first.credential}"),)

    def on_stop(self) -> None:
        self.channel.close()

    @task
    def request_unlock(self) -> None:
        pair = random.choice(self.pairs)
        request = pb.RequestUnlockRequest(door_id=pair.door_id, relay_challenge=os.urandom(16))
        exception: Exception | None = None
        length = 0
        start = time.perf_counter()
        try:
            response = self.call(request, metadata=self.metadata, timeout=10)
            length = response.ByteSize()
            if response.decision != pb.DECISION_ALLOW:
                exception = RuntimeError(f"DENY {pb.DecisionReason.Name(response.reason)}")
        except grpc.RpcError as exc:
            exception = exc
        self.environment.events.request.fire(
            request_type="grpc",
            name="RequestUnlock",
            response_time=(time.perf_counter() - start) * 1000,
            response_length=length,
            exception=exception,
            context={},
        )


def main() -> int:
    ap = argparse.ArgumentParser(description="Create (or check) the locust unlock fixture.")
    ap.add_argument("--setup", action="store_true", required=True)
    ap.add_argument("--data-dir", type=Path, default=os.environ.get(ENV_DATA_DIR))
    ap.add_argument("--host", help="host:port (default: from <data dir>/server.json)")
    ap.add_argument("--holders", type=int, default=200)
    ap.add_argument("--doors", type=int, default=50)
    ns = ap.parse_args()
    if ns.data_dir is None:
        ap.error(f"--data-dir (or {ENV_DATA_DIR}) is required")
    fixture = prepare(ns.data_dir, ns.host, holders=ns.holders, doors=ns.doors)
    print(
        f"{ns.data_dir / FIXTURE_FILE}: {len(fixture.pairs)} pairs, "
        f"{fixture.holders} holders, {fixture.doors} doors"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
