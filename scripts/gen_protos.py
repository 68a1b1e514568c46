"""Generate the Python gRPC code (with .pyi stubs) from protos/ into authority/v1/.

Run with `make protos`. `python scripts/gen_protos.py --check` regenerates into a temporary
directory and exits 1 if the checked-in code differs (the test suite runs this).
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
PACKAGE_DIR = Path("authority") / "v1"


def generate(out_root: Path) -> list[Path]:
    protos = sorted(PROTO_ROOT.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        # typed stubs for the generated gRPC module (mypy-protobuf's plugin, pinned in dev deps)
        f"--plugin=protoc-gen-mypy_grpc={Path(sys.executable).parent / 'protoc-gen-mypy_grpc'}",
        f"--mypy_grpc_out={out_root}",
        *(str(p) for p in protos),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    pkg = out_root / PACKAGE_DIR
    (pkg / "__init__.py").write_text(
        '"""Generated from protos/authority/v1 by scripts/gen_protos.py; do not edit."""\n'
    )
    return sorted(p for p in pkg.iterdir() if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if generated code is stale")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = generate(Path(tmp))
        target = ROOT / PACKAGE_DIR
        if ns.check:
            stale = [
                f.name
                for f in files
                if not (target / f.name).exists()
                or not filecmp.cmp(f, target / f.name, shallow=False)
            ]
            extra = {p.name for p in target.glob("*_pb2*")} - {f.name for f in files}
            if stale or extra:
                print(
                    f"generated code is stale: {sorted(stale) + sorted(extra)}; run `make protos`"
                )
                return 1
            print("generated code is up to date")
            return 0
        target.mkdir(parents=True, exist_ok=True)
        for old in target.glob("*_pb2*"):
            old.unlink()
        for f in files:
            shutil.copy2(f, target / f.name)
        print(f"generated {len(files)} files into {PACKAGE_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
