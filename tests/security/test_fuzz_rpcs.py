"""Hostile input against a running server: every RPC of every served service, found through
server reflection (so services added later are covered without touching this file), gets
generated request messages and raw garbage, as the operator, an organisation, a key holder and
nobody. Never INTERNAL / UNKNOWN (nor a hang or a dead server); a refused call writes nothing.

Budget: the hypothesis profile (``tests/conftest.py``): small in ``make test``,
``HYPOTHESIS_PROFILE=fuzz`` for a long run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
import redis
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import MethodDescriptor
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authority.process.config import Settings
from authority.v1 import authority_pb2 as pb
from tests.conftest import ServerHandle, run_server_in_thread
from tests.security.strategies import messages
from tests.support.world import CVR, bearer_of, holder_app

NEVER = {
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.UNAVAILABLE,
}
"""A caller's input must never produce these (a bug, a hang or a dead server)."""

REFUSALS_THAT_WRITE_NOTHING = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
}
"""After these, the store must be exactly as before (no half-written state). Authentication
refusals may legitimately count failures (lockout), hence not listed."""

UNTRACKED_PREFIXES = (
    b"{log:",
    b"{rl:",
    b"{privacy}:sweep-lease",
    b"{privacy}:lastuse",
)
"""Keys written regardless of the call under test: the access log's buffer (refusals are
events), the rate limiter's counters, and the privacy job's lease and last-use bookkeeping (a
background task of the server)."""

STREAM_RESPONSES_READ = 20
CALL_TIMEOUT = 30.0


@dataclass
class Target:
    handle: ServerHandle
    redis: redis.Redis
    credentials: dict[str, str | None]
    known_ids: list[str]
    methods: list[MethodDescriptor]


def _served_methods(channel: grpc.Channel) -> list[MethodDescriptor]:
    """Every method of every service of ours the server lists through reflection, looked up in
    the descriptor pool the server registered them from. grpc's own services (health,
    reflection) are the library's: health's List, which grpcio-health-checking's asyncio
    servicer leaves unimplemented, answers UNKNOWN; nothing of ours runs there."""
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = [s.name for answer in answers for s in answer.list_services_response.service]
    pool = descriptor_pool.Default()
    return [
        method
        for name in sorted(names)
        if not name.startswith("grpc.")
        for method in pool.FindServiceByName(name).methods
    ]


@pytest.fixture(scope="module")
def target(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    data_dir: Path = tmp_path_factory.mktemp("fuzz") / "data"
    settings = Settings.load(
        {}, data_dir=data_dir, listen="127.0.0.1:0", redis_url=redis_server,
        grace_seconds=1.0, log_format="json", log_level="ERROR",
    )  # fmt: skip
    for handle in run_server_in_thread(settings):
        admin = handle.admin
        created = admin.create_organisation(name="Fuzz A/S", cvr=CVR, purpose=pb.PURPOSE_POSTAL)
        org_id = created.organisation.organisation_id
        admin.set_organisation_status(org_id, pb.ORGANISATION_STATUS_APPROVED)
        org = admin.with_credential(created.api_credential)
        site = admin.create_site(address="Fuzzvej 1", owner_id="owner-fuzz")
        admin.create_door(door_id="fuzz-door", site_id=site.site_id, relay_id="relay-fuzz")
        holder = org.create_key_holder()
        holder_id = holder.key_holder.key_holder_id
        grant = org.issue_grant(
            key_holder_id=holder_id, site_id=site.site_id,
            valid_until=datetime.now(UTC) + timedelta(days=30),
        )  # fmt: skip
        methods = _served_methods(admin.channel)
        assert any(m.full_name == "authority.v1.UnlockService.RequestUnlock" for m in methods)
        yield Target(
            handle=handle,
            redis=client,
            credentials={
                "admin": handle.admin_credential,
                "organisation": created.api_credential,
                "holder": bearer_of(holder_app(org, holder_id)),
                "nobody": None,
            },
            known_ids=[
                org_id,
                site.site_id,
                "fuzz-door",
                "relay-fuzz",
                holder_id,
                grant.grant_id,
                "owner-fuzz",
            ],
            methods=methods,
        )


def _snapshot(client: redis.Redis) -> dict[bytes, object]:
    """Every tracked key's content: a hash's fields, else its DUMP. (A hash's DUMP can differ
    while its fields do not: seen for a holder's hash with a login session, around a refused
    call; the same fields and values are the same state.)"""
    keys = [k for k in client.scan_iter(count=1000) if not k.startswith(UNTRACKED_PREFIXES)]
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.type(key)
    kinds = pipe.execute()
    pipe = client.pipeline(transaction=False)
    for key, kind in zip(keys, kinds, strict=True):
        if kind in (b"hash", "hash"):
            pipe.hgetall(key)
        else:
            pipe.dump(key)
    return dict(zip(keys, pipe.execute(), strict=True))


def _call(
    channel: grpc.Channel, method: MethodDescriptor, payloads: list[bytes], credential: str | None
) -> grpc.StatusCode:
    """Send raw request bytes; read (a bounded number of) responses; the status code."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    metadata = (("authorization", f"Bearer {credential}"),) if credential else ()
    try:
        if method.client_streaming:
            responses = channel.stream_stream(path)(
                iter(payloads), metadata=metadata, timeout=CALL_TIMEOUT
            )
            for n, _ in enumerate(responses):
                if n >= STREAM_RESPONSES_READ:
                    responses.cancel()
                    break
        elif method.server_streaming:
            responses = channel.unary_stream(path)(
                payloads[0], metadata=metadata, timeout=CALL_TIMEOUT
            )
            for n, _ in enumerate(responses):
                if n >= STREAM_RESPONSES_READ:
                    responses.cancel()
                    break
        else:
            channel.unary_unary(path)(payloads[0], metadata=metadata, timeout=CALL_TIMEOUT)
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details() or ""
    else:
        return grpc.StatusCode.OK
    assert code not in NEVER, f"{path}: {code} {details}"
    assert "Traceback" not in details
    return code  # type: ignore[no-any-return]


def _check(
    t: Target, method: MethodDescriptor, payloads: list[bytes], credential: str | None
) -> None:
    before = _snapshot(t.redis)
    code = _call(t.handle.admin.channel, method, payloads, credential)
    if code in REFUSALS_THAT_WRITE_NOTHING and not method.client_streaming:
        after = _snapshot(t.redis)
        changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        assert not changed, f"{method.full_name} refused {code} but wrote {sorted(changed)[:5]}"


def _method_and_caller(t: Target) -> st.SearchStrategy[tuple[MethodDescriptor, str | None]]:
    return st.tuples(st.sampled_from(t.methods), st.sampled_from(list(t.credentials.values())))


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_generated_requests_never_fail_internally(target: Target, data: st.DataObject) -> None:
    method, credential = data.draw(_method_and_caller(target), label="method, caller")
    request_type = method.input_type
    count = data.draw(st.integers(1, 3)) if method.client_streaming else 1
    requests = [
        data.draw(messages(request_type, known=target.known_ids), label=request_type.name)
        for _ in range(count)
    ]
    _check(target, method, [r.SerializeToString() for r in requests], credential)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_garbage_bytes_are_invalid_argument(target: Target, data: st.DataObject) -> None:
    method, credential = data.draw(_method_and_caller(target), label="method, caller")
    garbage = data.draw(
        st.one_of(
            st.binary(min_size=1, max_size=300),
            # a valid-looking field 1 (length-delimited) that is not UTF-8
            st.binary(min_size=1, max_size=20).map(
                lambda b: b"\x0a" + bytes([len(b) + 1]) + b"\xff" + b
            ),
        )
    )
    _check(target, method, [garbage], credential)


def test_every_method_is_covered_and_the_server_survives(target: Target) -> None:
    """Each served method, once per caller, with an empty and a corrupt request (the random
    tests above may not draw every method with a small budget); the server is SERVING after."""
    for method in target.methods:
        for credential in target.credentials.values():
            empty = message_factory.GetMessageClass(method.input_type)().SerializeToString()
            _check(target, method, [empty], credential)
            _check(target, method, [b"\x0a\x03\xff\xfe\xfd"], credential)
    health = target.handle.admin.check_health()
    assert health == health_pb2.HealthCheckResponse.SERVING
