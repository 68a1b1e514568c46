"""Cerbos as a baseline for ``bench_unlock.py``: the same decision made by a policy engine.

A key holder may unlock a door when the door is on their list of doors, their access has not
expired and the hour in Copenhagen is within their daily window: the checks the authority makes
for a grant, written as a Cerbos resource policy (``POLICY``). The benchmark starts
``cerbos server`` on that policy and drives ``/cerbos.svc.v1.CerbosService/CheckResources``
with h2load exactly as it drives the unlock server, so the two CPU-per-call figures compare a
Python decision service with a Go one on the same machine, in the same run.

Cerbos's protos are not on PyPI: ``cerbos_check.proto`` restates the few messages needed, and
``compile_messages`` compiles it with grpc_tools.protoc into a temporary directory.
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import grpc
from google.protobuf import struct_pb2

CHECK_METHOD = "/cerbos.svc.v1.CerbosService/CheckResources"
NPM_PACKAGE = "@cerbos/cerbos-linux-x64"
NPM_BINARY = f"node_modules/{NPM_PACKAGE}/cerbos-linux-x64"
HOLDER_DOORS = 20  # the length of the principal's door list

POLICY = """\
# A key holder may unlock a door that is on their list, until their access expires, within
# their daily window of hours in Copenhagen time (the authority's grant check, in Cerbos terms).
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  version: default
  resource: door
  rules:
    - name: holder-unlocks-listed-door-in-window
      actions: ["unlock"]
      effect: EFFECT_ALLOW
      roles: ["key_holder"]
      condition:
        match:
          all:
            of:
              - expr: request.resource.id in request.principal.attr.doors
              - expr: now() < timestamp(request.principal.attr.valid_until)
              - expr: >-
                  now().getHours("Europe/Copenhagen")
                  >= int(request.principal.attr.window_start_hour)
              - expr: >-
                  now().getHours("Europe/Copenhagen")
                  < int(request.principal.attr.window_end_hour)
"""

CONFIG = """\
server:
  httpListenAddr: "127.0.0.1:{http_port}"
  grpcListenAddr: "127.0.0.1:{grpc_port}"
storage:
  driver: disk
  disk:
    directory: "{policy_dir}"
    watchForChanges: false
audit:
  enabled: false
telemetry:
  disabled: true
"""


def find_binary(root: Path) -> str | None:
    """``$CERBOS_BIN``, the npm package under the repository, under /opt/cerbos, or under
    ``npm root -g``; None when there is none."""
    candidates: list[Path] = []
    if os.environ.get("CERBOS_BIN"):
        candidates.append(Path(os.environ["CERBOS_BIN"]))
    candidates += [root / NPM_BINARY, Path("/opt/cerbos") / NPM_BINARY]
    npm = shutil.which("npm")
    if npm:
        try:
            global_root = subprocess.run(
                [npm, "root", "-g"], check=False, capture_output=True, text=True, timeout=20
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            global_root = ""
        if global_root:
            candidates.append(Path(global_root) / NPM_PACKAGE / "cerbos-linux-x64")
    return next((str(c) for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)


def version(binary: str) -> str:
    try:
        out = subprocess.run(
            [binary, "--version"], check=False, capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"cerbos {out.split()[0]}" if out.split() else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class CerbosSetup:
    argv: list[str]
    config: Path
    target: str  # gRPC host:port


def write_setup(binary: str, work: Path, name: str) -> CerbosSetup:
    """The policy directory (shared) and this server's config, on two free ports."""
    policies = work / "cerbos-policies"
    policies.mkdir(exist_ok=True)
    (policies / "door.yaml").write_text(POLICY)
    grpc_port, http_port = free_port(), free_port()
    config = work / f"{name}.yaml"
    config.write_text(CONFIG.format(grpc_port=grpc_port, http_port=http_port, policy_dir=policies))
    argv = [binary, "server", f"--config={config}", "--log-level=warn"]
    return CerbosSetup(argv=argv, config=config, target=f"127.0.0.1:{grpc_port}")


def compile_messages(out_dir: Path) -> ModuleType:
    """Compile ``cerbos_check.proto`` into ``out_dir`` and import it."""
    import grpc_tools  # noqa: PLC0415 - a dev dependency, needed only here
    from grpc_tools import protoc  # noqa: PLC0415

    here = Path(__file__).resolve().parent
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    rc = protoc.main(
        [
            "protoc",
            f"-I{here}",
            f"-I{well_known}",
            f"--python_out={out_dir}",
            str(here / "cerbos_check.proto"),
        ]
    )
    if rc != 0:
        raise RuntimeError(f"protoc failed on cerbos_check.proto ({rc})")
    if str(out_dir) not in sys.path:
        sys.path.insert(0, str(out_dir))
    return importlib.import_module("cerbos_check_pb2")


@dataclass(frozen=True)
class CheckCall:
    """One serialized CheckResources request and how to read its answer."""

    messages: ModuleType
    payload: bytes

    def effect(self, target: str, payload: bytes | None = None, timeout: float = 5.0) -> str:
        """Send the request (or ``payload``) once; the effect Cerbos answered for "unlock"."""
        with grpc.insecure_channel(target) as channel:
            raw = channel.unary_unary(CHECK_METHOD)(payload or self.payload, timeout=timeout)
        resp = self.messages.CheckResourcesResponse.FromString(raw)
        if len(resp.results) != 1:
            return "NO_RESULT"
        return str(self.messages.Effect.Name(resp.results[0].actions.get("unlock", 0)))

    def response_size(self, target: str) -> int:
        with grpc.insecure_channel(target) as channel:
            raw = channel.unary_unary(CHECK_METHOD)(self.payload, timeout=5.0)
        return len(raw)


def check_request(
    messages: ModuleType, *, holder: str, doors: list[str], door: str, valid_until: str
) -> bytes:
    """A holder with ``doors`` on their list asks to unlock ``door`` (window: all day)."""
    req = messages.CheckResourcesRequest(request_id=f"bench-{holder}")
    req.principal.id = holder
    req.principal.roles.append("key_holder")
    req.principal.attr["doors"].list_value.values.extend(
        struct_pb2.Value(string_value=d) for d in doors
    )
    req.principal.attr["valid_until"].string_value = valid_until
    req.principal.attr["window_start_hour"].number_value = 0
    req.principal.attr["window_end_hour"].number_value = 24
    entry = req.resources.add()
    entry.actions.append("unlock")
    entry.resource.kind = "door"
    entry.resource.id = door
    entry.resource.attr["site"].string_value = "site-0001"
    return bytes(req.SerializeToString())
