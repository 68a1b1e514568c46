"""Transport security: the server's TLS credentials (the clients' are ``authority.client.tls``;
the identity a verified client certificate carries is read by ``authority.api.peer_interceptor``)
and a development certificate authority.

A client certificate names its holder in a SAN URI (CN as fallback), see
``authority.usecases.peer``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc

from authority.client.tls import ClientTls
from authority.domain.errors import InvalidArgument
from authority.usecases.peer import CertificateIdentity


def server_credentials(
    *, cert_file: Path, key_file: Path, client_ca_file: Path | None
) -> grpc.ServerCredentials:
    """TLS credentials for a listener; with ``client_ca_file`` it requires a client certificate
    signed by that CA (grpc offers require-and-verify or none, nothing in between)."""
    try:
        pair = (key_file.read_bytes(), cert_file.read_bytes())
        client_ca = client_ca_file.read_bytes() if client_ca_file else None
    except OSError as exc:
        raise InvalidArgument(f"cannot read TLS file: {exc.filename}: {exc.strerror}") from exc
    return grpc.ssl_server_credentials(
        [pair], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


# -- development certificates ----------------------------------------------------------------

DEV_CA = "ca.pem"
CA_KEY_USAGE = dict.fromkeys(
    ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
     "key_agreement", "encipher_only", "decipher_only"),
    False,
) | {"key_cert_sign": True, "crl_sign": True}  # fmt: skip
DEV_SERVER_CERT, DEV_SERVER_KEY = "server.pem", "server.key"


@dataclass(frozen=True, slots=True)
class DevCertificates:
    directory: Path
    clients: tuple[CertificateIdentity, ...] = ()

    @property
    def ca(self) -> Path:
        return self.directory / DEV_CA

    @property
    def server_cert(self) -> Path:
        return self.directory / DEV_SERVER_CERT

    @property
    def server_key(self) -> Path:
        return self.directory / DEV_SERVER_KEY

    def client_cert(self, identity: CertificateIdentity) -> Path:
        return self.directory / f"client-{identity.kind.value}-{identity.name}.pem"

    def client_key(self, identity: CertificateIdentity) -> Path:
        return self.directory / f"client-{identity.kind.value}-{identity.name}.key"

    def client_tls(self, identity: CertificateIdentity | None = None) -> ClientTls:
        if identity is None:
            return ClientTls.from_files(self.ca)
        return ClientTls.from_files(self.ca, self.client_cert(identity), self.client_key(identity))


def create_dev_certificates(
    directory: Path,
    *,
    hosts: Iterable[str] = (),
    clients: Iterable[CertificateIdentity] = (),
    days: int = 30,
) -> DevCertificates:
    """A local CA (reused when ``directory`` already has one), a server certificate for
    localhost, 127.0.0.1, ::1 and ``hosts``, and one client certificate per identity. Keys are
    written 0600 in a 0700 directory. For development and tests only."""
    from cryptography import x509  # noqa: PLC0415 - only the dev-certs command needs it
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: PLC0415

    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    now = datetime.now(UTC)
    ca_key_path = directory / "ca.key"

    def write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
        data = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)

    def name(cn: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "authority development"),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]
        )

    ca_path = directory / DEV_CA
    if ca_path.exists() and ca_key_path.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
        loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise InvalidArgument(f"{ca_key_path} is not an EC key made by dev-certs")
        ca_key = loaded
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name("authority development CA"))
            .issuer_name(name("authority development CA"))
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=max(days, 365)))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(**CA_KEY_USAGE),
                critical=True,
            )
            .sign(ca_key, hashes.SHA256())
        )
        write_key(ca_key_path, ca_key)
        ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    def issue(
        cn: str, sans: list[x509.GeneralName], usage: x509.ObjectIdentifier, stem: str
    ) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        write_key(directory / f"{stem}.key", key)
        (directory / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    dns: list[str] = ["localhost"]
    ips: list[str] = ["127.0.0.1", "::1"]
    for host in hosts:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            dns.append(host)
        else:
            ips.append(host)
    issue(
        "localhost",
        [*(x509.DNSName(d) for d in dict.fromkeys(dns)),
         *(x509.IPAddress(ipaddress.ip_address(i)) for i in dict.fromkeys(ips))],
        ExtendedKeyUsageOID.SERVER_AUTH,
        DEV_SERVER_CERT.removesuffix(".pem"),
    )  # fmt: skip
    made = DevCertificates(directory, tuple(clients))
    for identity in made.clients:
        issue(
            identity.uri,
            [x509.UniformResourceIdentifier(identity.uri)],
            ExtendedKeyUsageOID.CLIENT_AUTH,
            made.client_cert(identity).name.removesuffix(".pem"),
        )
    return made
