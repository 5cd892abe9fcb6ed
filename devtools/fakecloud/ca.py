"""A throw-away certificate authority, so clients talk real TLS to the fake cloud.

At start the fake cloud makes a CA and one server certificate (SANs 127.0.0.1 and localhost) and
writes a CA bundle: the machine's CAs plus the test CA. Clients trust the fake through the
standard variables (SSL_CERT_FILE for httpx and aiohttp, REQUESTS_CA_BUNDLE for requests/MSAL),
so no client code needs a test-only switch. Keys are EC P-256: generating them is instant.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
_VALIDITY = datetime.timedelta(days=2)


@dataclass(frozen=True)
class TlsFiles:
    """Where the generated PEM files live (all inside the work dir)."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    ca_bundle: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.server_cert, self.server_key)
        return context


@dataclass(frozen=True)
class CertificatePair:
    """A self-signed RSA certificate and its key, PEM-encoded (e.g. an app credential)."""

    cert_pem: str
    key_pem: str

    @property
    def combined_pem(self) -> str:
        """Key and certificate in one PEM, the form azure-identity's CertificateCredential reads."""
        return self.key_pem + self.cert_pem


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _builder(
    subject: str, issuer: str, public_key: CertificatePublicKeyTypes
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
    )


def _make_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    cert = (
        _builder("xtenant fakecloud test CA", "xtenant fakecloud test CA", public)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _make_server_cert(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.DNSName("localhost"),
    ]
    cert = (
        _builder("127.0.0.1", "xtenant fakecloud test CA", key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def system_ca_pem() -> str:
    """The machine's trusted CAs, from the first bundle file that exists."""
    candidates = [_SYSTEM_BUNDLE]
    try:
        import certifi

        candidates.append(Path(certifi.where()))
    except ImportError:  # pragma: no cover - certifi ships with requests
        pass
    default_file = ssl.get_default_verify_paths().cafile
    if default_file:
        candidates.append(Path(default_file))
    for path in candidates:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return ""


def create_tls_files(workdir: Path) -> TlsFiles:
    """Generate the CA, the server certificate and the CA bundle under `workdir`.

    Files already there are reused, so a fake cloud restarted with the same work dir keeps the
    CA that running clients already trust.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(
        ca_cert=workdir / "fakecloud-ca.pem",
        server_cert=workdir / "fakecloud-server.pem",
        server_key=workdir / "fakecloud-server.key",
        ca_bundle=workdir / "ca-bundle.pem",
    )
    if all(path.is_file() for path in (files.ca_cert, files.server_cert, files.server_key)):
        if not files.ca_bundle.is_file():
            _write_bundle(files)
        return files
    ca_key, ca_cert = _make_ca()
    server_key, server_cert = _make_server_cert(ca_key, ca_cert)
    files.ca_cert.write_bytes(_cert_pem(ca_cert))
    files.server_cert.write_bytes(_cert_pem(server_cert))
    files.server_key.touch(mode=0o600)
    files.server_key.write_bytes(_key_pem(server_key))
    _write_bundle(files)
    return files


def _write_bundle(files: TlsFiles) -> None:
    system = system_ca_pem()
    separator = "" if not system or system.endswith("\n") else "\n"
    test_ca = files.ca_cert.read_text(encoding="utf-8")
    files.ca_bundle.write_text(system + separator + test_ca, encoding="utf-8")


def make_self_signed_certificate(common_name: str = "xtenant-app") -> CertificatePair:
    """An RSA self-signed certificate for certificate-based app authentication in tests."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = _builder(common_name, common_name, key.public_key()).sign(key, hashes.SHA256())
    return CertificatePair(cert_pem=_cert_pem(cert).decode(), key_pem=_key_pem(key).decode())


def trust_in_this_process(ca_cert: Path) -> None:
    """Make aiohttp clients already loaded in this process trust the test CA.

    aiohttp builds its default client SSL context once, when it is first imported, from
    SSL_CERT_FILE as it was then (aiohttp/connector.py, `_SSL_CONTEXT_VERIFIED`). A process that
    imported aiohttp before it set `app_env()` (a test session, the demo) would otherwise reject
    the fake's certificate. This adds the test CA to that context; verification stays on.
    """
    connector = sys.modules.get("aiohttp.connector")
    context = getattr(connector, "_SSL_CONTEXT_VERIFIED", None)
    if isinstance(context, ssl.SSLContext):
        context.load_verify_locations(cafile=str(ca_cert))
