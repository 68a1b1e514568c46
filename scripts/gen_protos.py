"""Generate the Python gRPC code (with .pyi stubs) from protos/ into authority/v1/ (the public
API) and authority/internal/v1/ (between the authority's own processes).

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
PACKAGE_DIRS = (Path("authority") / "v1", Path("authority") / "internal" / "v1")


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
    files = []
    for package in PACKAGE_DIRS:
        pkg = out_root / package
        (pkg / "__init__.py").write_text(
            f'"""Generated from protos/{package.as_posix()} by scripts/gen_protos.py; '
            'do not edit."""\n'
        )
        files.extend(sorted(p for p in pkg.iterdir() if p.is_file()))
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if generated code is stale")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = generate(Path(tmp))
        generated = {f.relative_to(tmp): f for f in files}
        if ns.check:
            stale = [
                str(name)
                for name, f in generated.items()
                if not (ROOT / name).exists() or not filecmp.cmp(f, ROOT / name, shallow=False)
            ]
            extra = {
                str(p.relative_to(ROOT))
                for package in PACKAGE_DIRS
                for p in (ROOT / package).glob("*_pb2*")
            } - {str(name) for name in generated}
            if stale or extra:
                print(
                    f"generated code is stale: {sorted(stale) + sorted(extra)}; run `make protos`"
                )
                return 1
            print("generated code is up to date")
            return 0
        for package in PACKAGE_DIRS:
            (ROOT / package).mkdir(parents=True, exist_ok=True)
            for old in (ROOT / package).glob("*_pb2*"):
                old.unlink()
        for name, f in generated.items():
            shutil.copy2(f, ROOT / name)
        print(f"generated {len(files)} files into {', '.join(map(str, PACKAGE_DIRS))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
