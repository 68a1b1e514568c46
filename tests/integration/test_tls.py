"""TLS and mTLS on the gRPC server, with real handshakes and certificates from `dev-certs`.

TLS: a client trusting the dev CA works; plaintext and a client trusting another CA are refused.
mTLS: no client certificate is refused at the handshake; an organisation's certificate carries
only that organisation's credentials; a bridge's certificate carries holders' credentials; with
a separate mTLS listener, phones keep using the TLS-only one.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from authority.cli.main import main as authority_main
from authority.client.authority import AuthorityClient
from authority.client.tls import ClientTls
from authority.process.config import Settings
from authority.process.tls import DevCertificates, create_dev_certificates
from authority.usecases.peer import CertificateIdentity
from authority.v1 import authority_pb2 as pb
from tests.conftest import ServerHandle, run_server_in_thread
from tests.support.world import CVR, World, build_world

BRIDGE = CertificateIdentity.parse("bridge:nbg-bridge-1")
OPERATOR = CertificateIdentity.parse("operator:ops-console")


def _settings(tmp_path: Path, redis_url: str, certs: DevCertificates, **extra: object) -> Settings:
    return Settings.load(
        {}, data_dir=tmp_path / "data", listen="127.0.0.1:0",
        redis_url=redis_url,
        tls_cert_file=certs.server_cert, tls_key_file=certs.server_key,
        grace_seconds=1.0, log_level="ERROR", **extra,
    )  # fmt: skip


def _code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    return info.value.code()  # type: ignore[no-any-return]


def test_dev_certs_command_writes_private_keys_0600(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    argv = ["dev-certs", "--out", str(out), "--hosts", "authority.test", "10.1.2.3",
            "--client", "org:org_abc", "--client", "bridge:b1", "--json"]  # fmt: skip
    assert authority_main(argv) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    keys = sorted(p.name for p in out.glob("*.key"))
    assert keys == ["ca.key", "client-bridge-b1.key", "client-org-org_abc.key", "server.key"]
    for key in out.glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    from cryptography import x509  # noqa: PLC0415

    cert = x509.load_pem_x509_certificate((out / "server.pem").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "authority.test" in sans.get_values_for_type(x509.DNSName)
    assert {str(a) for a in sans.get_values_for_type(x509.IPAddress)} >= {
        "127.0.0.1", "::1", "10.1.2.3",
    }  # fmt: skip
    # Run again: the CA is kept (clients keep trusting it), leaf certificates are renewed.
    ca_before = (out / "ca.pem").read_bytes()
    assert authority_main(["dev-certs", "--out", str(out)]) == 0
    assert (out / "ca.pem").read_bytes() == ca_before
    with pytest.raises(SystemExit):  # argparse: an unknown kind is a usage error
        authority_main(["dev-certs", "--out", str(out), "--client"])
    assert authority_main(["dev-certs", "--out", str(out), "--client", "admin:x"]) == 2


@pytest.fixture
def tls_server(tmp_path: Path, redis_url: str) -> Iterator[ServerHandle]:
    certs = create_dev_certificates(tmp_path / "certs")
    settings = _settings(tmp_path, redis_url, certs)
    yield from run_server_in_thread(settings, tls=certs.client_tls())


def test_tls_works_and_plaintext_or_another_ca_is_refused(
    tls_server: ServerHandle, tmp_path: Path
) -> None:
    handle = tls_server
    assert handle.admin.check_health() == 1
    w = build_world(handle.admin)
    assert w.holder.request_unlock(w.door_id).decision == pb.DECISION_ALLOW
    info = json.loads((handle.running.process.settings.data_dir / "server.json").read_text())
    assert info["tls"] is True

    plaintext = AuthorityClient(handle.target, credential=handle.admin_credential)
    assert _code(plaintext.check_health) == grpc.StatusCode.UNAVAILABLE
    plaintext.close()

    other = create_dev_certificates(tmp_path / "other-ca")
    stranger = AuthorityClient(
        handle.target, credential=handle.admin_credential, tls=other.client_tls()
    )
    assert _code(stranger.check_health) == grpc.StatusCode.UNAVAILABLE
    stranger.close()


def _org_world(handle: ServerHandle) -> tuple[World, str]:
    """A world, and the API credential of a second organisation."""
    w = build_world(handle.admin)
    other = handle.admin.create_organisation(name="Other A/S", cvr=CVR, purpose=pb.PURPOSE_POSTAL)
    return w, other.api_credential


def test_mtls_required_certificate_must_agree_with_the_credential(
    tmp_path: Path, redis_url: str
) -> None:
    certs = create_dev_certificates(tmp_path / "certs", clients=[BRIDGE, OPERATOR])
    settings = _settings(
        tmp_path, redis_url, certs, tls_client_ca_file=certs.ca, mtls_listen="127.0.0.1:0"
    )
    gen = run_server_in_thread(settings, tls=certs.client_tls())
    handle = next(gen)
    try:
        w, other_org_credential = _org_world(handle)  # set up over the TLS-only listener
        assert handle.running.mtls_port is not None
        mtls_target = f"127.0.0.1:{handle.running.mtls_port}"
        org_cert = CertificateIdentity.parse(f"org:{w.org_id}")
        certs = create_dev_certificates(certs.directory, clients=[org_cert])
        org_credential = w.org._metadata[0][1].removeprefix("Bearer ")
        holder_credential = w.holder._metadata[0][1].removeprefix("Bearer ")

        def over(identity: CertificateIdentity | None, credential: str) -> AuthorityClient:
            tls = certs.client_tls(identity)
            return AuthorityClient(mtls_target, credential=credential, tls=tls)

        # No client certificate: refused during the handshake.
        anonymous = over(None, handle.admin_credential)
        assert _code(anonymous.check_health) == grpc.StatusCode.UNAVAILABLE
        # Each certificate with the credentials its kind of client carries: works.
        operator = over(OPERATOR, handle.admin_credential)
        assert operator.list_grants(w.holder_id).grants
        org = over(org_cert, org_credential)
        assert org.list_grants(w.holder_id).grants
        bridge = over(BRIDGE, holder_credential)
        assert bridge.request_unlock(w.door_id).decision == pb.DECISION_ALLOW
        # Any other combination: refused, whatever the credential may do on its own.
        refused = [
            (org_cert, other_org_credential, lambda c: c.list_grants(w.holder_id)),
            (org_cert, handle.admin_credential, lambda c: c.list_grants(w.holder_id)),
            (org_cert, holder_credential, lambda c: c.request_unlock(w.door_id)),
            (BRIDGE, handle.admin_credential, lambda c: c.list_grants(w.holder_id)),
            (BRIDGE, org_credential, lambda c: c.list_grants(w.holder_id)),
            (OPERATOR, holder_credential, lambda c: c.request_unlock(w.door_id)),
            (OPERATOR, org_credential, lambda c: c.list_grants(w.holder_id)),
        ]
        for identity, credential, call in refused:
            client = over(identity, credential)
            code = _code(lambda c=client, f=call: f(c))  # type: ignore[misc]
            assert code == grpc.StatusCode.PERMISSION_DENIED, (identity, credential[:4])
            client.close()
        for c in (anonymous, operator, org, bridge):
            c.close()
    finally:
        for _ in gen:
            pass


def test_separate_mtls_listener_phones_keep_tls_only(tmp_path: Path, redis_url: str) -> None:
    certs = create_dev_certificates(tmp_path / "certs", clients=[BRIDGE])
    settings = _settings(
        tmp_path, redis_url, certs, tls_client_ca_file=certs.ca, mtls_listen="127.0.0.1:0"
    )
    gen = run_server_in_thread(settings, tls=certs.client_tls())
    handle = next(gen)
    try:
        w = build_world(handle.admin)  # the main listener: TLS, no client certificate
        assert w.holder.request_unlock(w.door_id).decision == pb.DECISION_ALLOW
        assert handle.running.mtls_port is not None
        mtls_target = f"127.0.0.1:{handle.running.mtls_port}"
        holder_credential = w.holder._metadata[0][1].removeprefix("Bearer ")
        no_cert = AuthorityClient(mtls_target, credential=holder_credential, tls=certs.client_tls())
        assert _code(lambda: no_cert.request_unlock(w.door_id)) == grpc.StatusCode.UNAVAILABLE
        bridge = AuthorityClient(
            mtls_target, credential=holder_credential, tls=certs.client_tls(BRIDGE)
        )
        assert bridge.request_unlock(w.door_id).decision == pb.DECISION_ALLOW
        no_cert.close()
        bridge.close()
    finally:
        for _ in gen:
            pass


def test_client_tls_settings_are_checked(tmp_path: Path) -> None:
    certs = create_dev_certificates(tmp_path / "certs")
    with pytest.raises(Exception, match="tls_cert_file"):
        Settings.load({}, tls_client_ca_file=certs.ca)
    with pytest.raises(Exception, match="mtls_listen needs"):
        Settings.load(
            {}, tls_cert_file=certs.server_cert, tls_key_file=certs.server_key,
            mtls_listen="127.0.0.1:0",
        )  # fmt: skip
    with pytest.raises(Exception, match="both a client certificate and its key"):
        ClientTls.from_files(certs.ca, certs.server_cert)
    with pytest.raises(Exception, match="cannot read TLS file"):
        ClientTls.from_files(tmp_path / "missing.pem")


def test_local_cli_finds_the_dev_ca_without_configuration(
    tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`authority dev-certs` writes to <data_dir>/tls; the server records that it speaks TLS in
    server.json; the CLI on the same machine then connects over TLS with no flags."""
    data = tmp_path / "data"
    assert authority_main(["dev-certs", "--data-dir", str(data)]) == 0
    certs = DevCertificates(data / "tls")
    settings = Settings.load(
        {}, data_dir=data, listen="127.0.0.1:0", redis_url=redis_url,
        tls_cert_file=certs.server_cert, tls_key_file=certs.server_key,
        grace_seconds=1.0, log_level="ERROR",
    )  # fmt: skip
    for _handle in run_server_in_thread(settings, tls=certs.client_tls()):
        capsys.readouterr()
        assert authority_main(["health", "--data-dir", str(data), "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == {"status": "SERVING"}


def test_mtls_on_the_main_listener_when_there_is_no_separate_one(
    tmp_path: Path, redis_url: str
) -> None:
    certs = create_dev_certificates(tmp_path / "certs", clients=[OPERATOR])
    settings = _settings(tmp_path, redis_url, certs, tls_client_ca_file=certs.ca)
    for handle in run_server_in_thread(settings, tls=certs.client_tls(OPERATOR)):
        assert handle.running.mtls_port is None
        assert handle.admin.check_health() == 1
        # The operator's certificate carries the admin's calls (and only the operator's).
        assert handle.admin.create_site(address="Nørrebrogade 1", owner_id="o1").site_id
        no_cert = AuthorityClient(
            handle.target, credential=handle.admin_credential, tls=certs.client_tls()
        )
        assert _code(no_cert.check_health) == grpc.StatusCode.UNAVAILABLE
        no_cert.close()


def test_relay_bridge_cli_over_tls_and_mtls(
    tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`relay-bridge register` over TLS (the operator's admin credential, TLS-only listener) and
    `relay-bridge open` over mTLS (the bridge's certificate, the holder's credential)."""
    from relay_bridge.cli import main as bridge_main  # noqa: PLC0415
    from tests.e2e.test_relay_bridge_cli import world  # noqa: PLC0415

    certs = create_dev_certificates(tmp_path / "certs", clients=[BRIDGE])
    settings = _settings(
        tmp_path, redis_url, certs, tls_client_ca_file=certs.ca, mtls_listen="127.0.0.1:0"
    )
    for handle in run_server_in_thread(settings, tls=certs.client_tls()):
        holder_credential, keys = world(handle, tmp_path, door_id="d-1", relay_id="r-1")
        state = tmp_path / "relays.json"
        assert bridge_main(["emulate", "--keys", str(keys), "--relay", "r-1=d-1",
                            "--state", str(state), "--seconds", "0"]) == 0  # fmt: skip
        tls_args = ["--ca-file", str(certs.ca)]
        register = ["register", "--state", str(state), "--authority", handle.target,
                    "--credential", handle.admin_credential]  # fmt: skip
        assert bridge_main([*register, *tls_args]) == 0
        mtls_target = f"127.0.0.1:{handle.running.mtls_port}"
        bridge_cert = ["--client-cert", str(certs.client_cert(BRIDGE)),
                       "--client-key", str(certs.client_key(BRIDGE))]  # fmt: skip
        capsys.readouterr()
        argv = ["open", "--authority", mtls_target, "--credential", holder_credential,
                "--door", "d-1", "--emulated", str(state), "--keys", str(keys), "--json",
                *tls_args, *bridge_cert]  # fmt: skip
        assert bridge_main(argv) == 0
        [outcome] = json.loads(capsys.readouterr().out)
        assert (outcome["status"], outcome["reported"]) == ("opened", True)
