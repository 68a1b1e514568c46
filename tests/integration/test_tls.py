"""TLS on the gRPC server: a TLS client works, a plaintext client is refused."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from authority.client import AuthorityClient
from authority.config import Settings
from authority.v1 import authority_pb2 as pb
from tests.conftest import run_server_in_thread
from tests.integration.helpers import build_world


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_server(tmp_path: Path, redis_url: str) -> None:
    cert, key = self_signed(tmp_path)
    settings = Settings.load(
        {}, data_dir=tmp_path / "data", listen="127.0.0.1:0", redis_url=redis_url,
        tls_cert_file=cert, tls_key_file=key, grace_seconds=1.0, log_level="ERROR",
    )  # fmt: skip
    gen = run_server_in_thread(settings)
    handle = next(gen)  # its own admin client is plaintext: it must be refused
    try:
        with pytest.raises(grpc.RpcError) as info:
            handle.admin.check_health()
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        admin = AuthorityClient(
            handle.target, credential=handle.admin_credential, root_certificates=cert.read_bytes()
        )
        assert admin.check_health() == 1
        w = build_world(admin)
        assert w.holder.request_unlock(w.door_id).decision == pb.DECISION_ALLOW
        admin.close()
    finally:
        for _ in gen:
            pass
