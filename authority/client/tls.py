"""What a client of the authority needs to speak TLS (and mTLS) to it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from authority.domain.errors import InvalidArgument


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientTls:
    """What a client needs to speak TLS to the authority: the CA that signed the server's
    certificate, and for mTLS its own certificate and key."""

    root_certificates: bytes
    certificate_chain: bytes | None = None
    private_key: bytes | None = None

    @classmethod
    def from_files(
        cls, ca_file: Path, cert_file: Path | None = None, key_file: Path | None = None
    ) -> ClientTls:
        if (cert_file is None) != (key_file is None):
            raise InvalidArgument("give both a client certificate and its key, or neither")
        try:
            return cls(
                root_certificates=ca_file.read_bytes(),
                certificate_chain=cert_file.read_bytes() if cert_file else None,
                private_key=key_file.read_bytes() if key_file else None,
            )
        except OSError as exc:
            raise InvalidArgument(f"cannot read TLS file: {exc.filename}: {exc.strerror}") from exc

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.root_certificates,
            private_key=self.private_key,
            certificate_chain=self.certificate_chain,
        )
