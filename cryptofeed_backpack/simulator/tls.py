"""Loopback TLS for the simulator: a throw-away CA and a server certificate made at start.

cryptofeed's WSAsyncConn refuses anything but wss://, so the simulator must speak TLS; the CA
PEM is written to a temporary directory so any client (aiohttp, websockets, requests, ccxt)
can trust it by file path. The certificates are made with ``cryptography`` (a runtime
dependency already, for ED25519 signing), so an installed package needs nothing extra.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ORGANIZATION = "cryptofeed-backpack simulator"
SERVER_NAMES = ("127.0.0.1", "localhost", "::1")
VALIDITY = dt.timedelta(days=2)


@dataclass
class LoopbackTLS:
    server_context: ssl.SSLContext
    ca_file: Path
    directory: tempfile.TemporaryDirectory

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        ctx.load_verify_locations(cafile=str(self.ca_file))
        return ctx

    def cleanup(self) -> None:
        self.directory.cleanup()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _san(names: tuple[str, ...]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def make_certificates(names: tuple[str, ...] = SERVER_NAMES) -> tuple[bytes, bytes, bytes]:
    """A fresh CA and a leaf certificate for ``names``: (ca_pem, leaf_cert_pem, leaf_key_pem)."""
    now = dt.datetime.now(dt.timezone.utc)
    not_before, not_after = now - dt.timedelta(hours=1), now + VALIDITY
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("cryptofeed-backpack simulator CA")
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = (
        x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca_name)
        .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_san(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ca_cert.public_bytes(pem), leaf_cert.public_bytes(pem), key_pem


def make_loopback_tls() -> LoopbackTLS:
    ca_pem, cert_pem, key_pem = make_certificates()
    directory = tempfile.TemporaryDirectory(prefix="backpack-sim-")
    folder = Path(directory.name)
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca_pem)
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(key_pem)
    key_file.chmod(0o600)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(certfile=str(cert_file), keyfile=str(key_file))
    return LoopbackTLS(server_context=server_ctx, ca_file=ca_file, directory=directory)
