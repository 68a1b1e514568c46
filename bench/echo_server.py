"""A bare gRPC server for comparison: the authority's RequestUnlock signature, a trivial handler.

It serves ``authority.v1.UnlockService/RequestUnlock`` with the generated servicer base class
(so requests are parsed and responses serialized by the same protobuf code as the real server)
and answers every call with one pre-built ``RequestUnlockResponse``: no metadata lookup, no
Redis, no decision, no signature. ``--response-file`` makes that response byte-for-byte the size
of a real ALLOW (the benchmark passes one it just received), so the wire cost is the same.

    python bench/echo_server.py --mode aio  --listen 127.0.0.1:0 --info /tmp/echo-aio.json
    python bench/echo_server.py --mode sync --listen 127.0.0.1:0 --info /tmp/echo-sync.json

``aio`` is a ``grpc.aio`` server on uvloop, configured like ``authority serve``; ``sync`` is the
classic ``grpc.server`` with a thread pool (``--workers`` threads). When serving, the actual
``{"target", "pid", "mode"}`` is written to ``--info``. SIGTERM/SIGINT stop it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc

from authority.v1 import authority_pb2 as pb
from authority.v1 import authority_pb2_grpc as pb_grpc

OPTIONS = [
    ("grpc.max_receive_message_length", 256 * 1024),
    ("grpc.max_send_message_length", 256 * 1024),
    ("grpc.so_reuseport", 0),
]


def default_response() -> pb.RequestUnlockResponse:
    """About the size of a real ALLOW (~280 bytes serialized)."""
    resp = pb.RequestUnlockResponse(
        decision=pb.DECISION_ALLOW,
        reason=pb.DECISION_REASON_GRANTED,
        token=secrets.token_bytes(194),
        token_id=secrets.token_hex(16),
        relay_id="relay-000000-00000",
        grant_id="gr_" + "x" * 16,
    )
    resp.expires_at.seconds = 1_800_000_000
    return resp


class AioEcho(pb_grpc.UnlockServiceServicer):  # type: ignore[misc]
    def __init__(self, response: pb.RequestUnlockResponse) -> None:
        self._response = response

    async def RequestUnlock(self, request, context):  # type: ignore[no-untyped-def]
        return self._response


class SyncEcho(pb_grpc.UnlockServiceServicer):  # type: ignore[misc]
    def __init__(self, response: pb.RequestUnlockResponse) -> None:
        self._response = response

    def RequestUnlock(self, request, context):  # type: ignore[no-untyped-def]
        return self._response


def _write_info(path: Path, port: int, host: str, mode: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"target": f"{host}:{port}", "pid": os.getpid(), "mode": mode}))
    tmp.replace(path)


async def serve_aio(listen: str, info: Path, response: pb.RequestUnlockResponse) -> None:
    server = grpc.aio.server(options=OPTIONS)
    pb_grpc.add_UnlockServiceServicer_to_server(AioEcho(response), server)
    port = server.add_insecure_port(listen)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    _write_info(info, port, listen.rpartition(":")[0], "aio")
    await stop.wait()
    await server.stop(0)


def serve_sync(listen: str, info: Path, response: pb.RequestUnlockResponse, workers: int) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers), options=OPTIONS)
    pb_grpc.add_UnlockServiceServicer_to_server(SyncEcho(response), server)
    port = server.add_insecure_port(listen)
    server.start()
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()
        server.stop(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    _write_info(info, port, listen.rpartition(":")[0], "sync")
    while not stopping.is_set():
        server.wait_for_termination(timeout=0.5)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=["aio", "sync"], required=True)
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--info", type=Path, required=True, help="write {target, pid} here when up")
    ap.add_argument("--workers", type=int, default=16, help="sync mode: thread-pool size")
    ap.add_argument("--response-file", type=Path, help="a serialized RequestUnlockResponse")
    ns = ap.parse_args(argv)
    response = (
        pb.RequestUnlockResponse.FromString(ns.response_file.read_bytes())
        if ns.response_file
        else default_response()
    )
    if ns.mode == "aio":
        import uvloop  # noqa: PLC0415 - same event loop as `authority serve`

        uvloop.run(serve_aio(ns.listen, ns.info, response))
    else:
        serve_sync(ns.listen, ns.info, response, ns.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
