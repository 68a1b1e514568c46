"""Bounded memory for huge inputs: the server's message limit (``max_message_bytes``, 256 KiB by
default) refuses a bigger request with RESOURCE_EXHAUSTED before it is parsed, and a series of
such requests (30 x 16 MiB) does not make the server process grow."""

from __future__ import annotations

from pathlib import Path

import grpc
import psutil
import pytest

from authority.v1 import authority_pb2 as pb
from tests.support.processes import ServerProcess

HUGE = 16 * 1024 * 1024

pytestmark = pytest.mark.slow  # a real server process, 30 x 16 MiB sent


def test_oversized_requests_are_refused_without_growing_the_server(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    try:
        process = psutil.Process(server.proc.pid)
        channel = server.admin.channel
        create_site = channel.unary_unary(
            "/authority.v1.DirectoryService/CreateSite",
            request_serializer=pb.CreateSiteRequest.SerializeToString,
            response_deserializer=pb.Site.FromString,
        )
        metadata = server.admin._metadata
        huge = pb.CreateSiteRequest(address="x" * HUGE, owner_id="owner-1")

        def refused() -> grpc.StatusCode:
            try:
                create_site(huge, metadata=metadata, timeout=30)
            except grpc.RpcError as exc:
                return exc.code()  # type: ignore[no-any-return]
            return grpc.StatusCode.OK

        for _ in range(5):  # warm-up: grpc's buffers and the allocator's arenas
            assert refused() == grpc.StatusCode.RESOURCE_EXHAUSTED
        before = process.memory_info().rss
        peak = before
        for _ in range(30):  # 480 MiB offered in all
            assert refused() == grpc.StatusCode.RESOURCE_EXHAUSTED
            peak = max(peak, process.memory_info().rss)
        grown = process.memory_info().rss - before
        # The sender may push one flow-control window (64 KiB; no bandwidth probing) before the
        # refusal: a few MiB of slack for the allocator, far below one message.
        assert grown < HUGE // 4, f"the server grew by {grown} bytes"
        assert peak - before < HUGE // 2, f"the server peaked {peak - before} bytes higher"
        # A request within the limit still works, and nothing was written by the refusals.
        site = create_site(pb.CreateSiteRequest(address="Fuzzvej 1", owner_id="o"),
                           metadata=metadata, timeout=30)  # fmt: skip
        assert site.site_id
        assert server.admin.check_health() == 1
    finally:
        assert server.stop() == 0
